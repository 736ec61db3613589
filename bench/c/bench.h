/* Helpers shared by the bench's C programs (bench/c/). Each program defines BENCH_PROGRAM, its
 * name for messages, before including this file. */
#ifndef QMGR_BENCH_H
#define QMGR_BENCH_H

#include <stdio.h>
#include <time.h>

#include "qmgr.h"

/* Seconds on the monotonic clock. */
static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints what failed with its HRESULT and the library's last-error message; returns exit status 2. */
static inline int fail(const char *what, qmgr_hresult hr) {
    char *msg = NULL;
    qmgr_get_last_error_message(&msg);
    fprintf(stderr, "%s: %s failed: HRESULT 0x%08X: %s\n", BENCH_PROGRAM, what, (unsigned)hr, msg ? msg : "");
    qmgr_string_free(msg);
    return 2;
}

#endif
