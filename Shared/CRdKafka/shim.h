// Debian's librdkafka (librdkafka-dev), including the mock cluster used by novacron-devbroker.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

// Names the calling thread (Linux: at most 15 characters), for NovaBus's poll threads.
static inline int novacron_name_thread(const char *name) {
#if defined(__linux__)
    return pthread_setname_np(pthread_self(), name);
#else
    return pthread_setname_np(name);
#endif
}
