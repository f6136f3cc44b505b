// Debian's librdkafka (librdkafka-dev), including the mock cluster used by novacron-devbroker.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
