// Debian's librdkafka (librdkafka-dev), including the mock cluster used by novacron-devbroker.
#include <pthread.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#if defined(__linux__)
// glibc declares this only under _GNU_SOURCE, which must not be defined here: it changes system
// struct definitions and clashes with other modules' view of them.
extern int pthread_setname_np(pthread_t thread, const char *name);
#endif

// Names the calling thread (Linux: at most 15 characters), for NovaBus's poll threads.
static inline int novacron_name_thread(const char *name) {
#if defined(__linux__)
    return pthread_setname_np(pthread_self(), name);
#else
    return pthread_setname_np(name);
#endif
}
