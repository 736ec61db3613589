/*
 * check.h — a tiny assertion framework for the C conformance suite of qmgr (tests/c/).
 *
 * Header-only (every function is static inline), usable from C11 and C++17. Include it first:
 * it selects the POSIX feature level before any system header.
 *
 *   CHECK(cond)                     a boolean check; prints the expression on failure
 *   CHECK_HR(expr, expected)        an HRESULT check; on failure prints file:line, the
 *                                   expression, got/expected (name, hex, library description)
 *                                   and this thread's last-error message
 *   CHECK_ERR(expr, expected, arg)  CHECK_HR for a failing call, plus: the call set a fresh
 *                                   last-error message (DECISIONS D8) that contains `arg`
 *                                   (the argument's name; NULL = any non-empty message)
 *   CHECK_EQ(a, b), CHECK_STR(a, b) value checks printing both sides
 *   CHECK_WAIT(cond, ms)            polls `cond` every 5 ms until it holds (or fails after ms)
 *
 * check_begin(name) starts a program (line-buffered output, a watchdog alarm), check_section()
 * names the part being checked, check_done() prints the summary and returns the exit status:
 * 0 when every check passed, 1 otherwise. check_done() also requires a description
 * (qmgr_get_error_description) for every HRESULT any CHECK_HR/CHECK_ERR saw (DECISIONS D8).
 *
 * Checks may run on any thread (callbacks included): counters and output are locked.
 */
#ifndef QMGR_TESTS_CHECK_H
#define QMGR_TESTS_CHECK_H

#ifndef __cplusplus
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qmgr.h"

/* Generous deadline for anything that waits on the library (valgrind is slow). */
#define CHECK_DEADLINE_MS 30000

typedef struct check_state {
    pthread_mutex_t lock;
    int total;
    int failed;
    const char *program;
    const char *section;
    qmgr_hresult seen[128];
    int nseen;
    char primed[1024];
} check_state;

/* One state per program (each program is one translation unit that includes this header). */
static check_state check_g = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "", "", {0}, 0, {0}};

static inline const char *check_hr_name(qmgr_hresult hr) {
    switch (hr) {
    case QMGR_S_OK: return "QMGR_S_OK";
    case QMGR_S_FALSE: return "QMGR_S_FALSE";
    case QMGR_E_NOTIMPL: return "QMGR_E_NOTIMPL";
    case QMGR_E_NOINTERFACE: return "QMGR_E_NOINTERFACE";
    case QMGR_E_POINTER: return "QMGR_E_POINTER";
    case QMGR_E_ABORT: return "QMGR_E_ABORT";
    case QMGR_E_FAIL: return "QMGR_E_FAIL";
    case QMGR_E_UNEXPECTED: return "QMGR_E_UNEXPECTED";
    case QMGR_E_ACCESSDENIED: return "QMGR_E_ACCESSDENIED";
    case QMGR_E_HANDLE: return "QMGR_E_HANDLE";
    case QMGR_E_OUTOFMEMORY: return "QMGR_E_OUTOFMEMORY";
    case QMGR_E_INVALIDARG: return "QMGR_E_INVALIDARG";
    case QM_E_INVALID_STATE: return "QM_E_INVALID_STATE";
    case QM_E_SERVICE_UNAVAILABLE: return "QM_E_SERVICE_UNAVAILABLE";
    case QM_E_DOWNLOADER_UNAVAILABLE: return "QM_E_DOWNLOADER_UNAVAILABLE";
    case QM_E_ITEM_NOT_FOUND: return "QM_E_ITEM_NOT_FOUND";
    case BG_E_EMPTY: return "BG_E_EMPTY";
    case BG_E_NETWORK_DISCONNECTED: return "BG_E_NETWORK_DISCONNECTED";
    case BG_E_INVALID_SERVER_RESPONSE: return "BG_E_INVALID_SERVER_RESPONSE";
    case BG_E_NO_PROGRESS: return "BG_E_NO_PROGRESS";
    case BG_E_CONNECT_FAILURE: return "BG_E_CONNECT_FAILURE";
    case BG_E_CONNECTION_CLOSED: return "BG_E_CONNECTION_CLOSED";
    case BG_E_REMOTE_FILE_CHANGED: return "BG_E_REMOTE_FILE_CHANGED";
    case QMGR_E_BAD_DIGEST: return "QMGR_E_BAD_DIGEST";
    default: return "(unnamed)";
    }
}

static inline int64_t check_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void check_sleep_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Prints the head of a failure report; the caller holds the lock. */
static inline void check_fail_head(const char *file, int line) {
    check_g.failed++;
    fprintf(stdout, "FAIL %s:%d [%s/%s]: ", file, line, check_g.program, check_g.section);
}

static inline void check_count(void) {
    pthread_mutex_lock(&check_g.lock);
    check_g.total++;
    pthread_mutex_unlock(&check_g.lock);
}

static inline void check_note_hr(qmgr_hresult hr) {
    int i;
    pthread_mutex_lock(&check_g.lock);
    for (i = 0; i < check_g.nseen; i++) {
        if (check_g.seen[i] == hr) {
            break;
        }
    }
    if (i == check_g.nseen && check_g.nseen < (int)(sizeof check_g.seen / sizeof check_g.seen[0])) {
        check_g.seen[check_g.nseen++] = hr;
    }
    pthread_mutex_unlock(&check_g.lock);
}

/* "NAME 0xXXXXXXXX (description)" into buf; reads the description after the caller has
   read the last-error message (describing an unknown code would replace it). */
static inline void check_describe(qmgr_hresult hr, char *buf, size_t size) {
    char *desc = NULL;
    if (qmgr_get_error_description(hr, &desc) != QMGR_S_OK) {
        desc = NULL;
    }
    snprintf(buf, size, "%s 0x%08" PRIX32 " (%s)", check_hr_name(hr), (uint32_t)hr, desc ? desc : "no description");
    qmgr_string_free(desc);
}

static inline int check_hr_(const char *file, int line, const char *expr, qmgr_hresult got,
                            qmgr_hresult expected) {
    check_count();
    check_note_hr(got);
    if (got == expected) {
        return 1;
    }
    char *msg = NULL;
    if (qmgr_get_last_error_message(&msg) != QMGR_S_OK) {
        msg = NULL;
    }
    char g[512], e[512];
    check_describe(got, g, sizeof g);
    check_describe(expected, e, sizeof e);
    pthread_mutex_lock(&check_g.lock);
    check_fail_head(file, line);
    fprintf(stdout, "%s\n    got      %s\n    expected %s\n    last error: %s\n", expr, g, e,
            msg ? msg : "(none)");
    pthread_mutex_unlock(&check_g.lock);
    qmgr_string_free(msg);
    return 0;
}

static inline int check_true_(const char *file, int line, const char *expr, int cond) {
    check_count();
    if (cond) {
        return 1;
    }
    pthread_mutex_lock(&check_g.lock);
    check_fail_head(file, line);
    fprintf(stdout, "%s is false\n", expr);
    pthread_mutex_unlock(&check_g.lock);
    return 0;
}

static inline int check_eq_(const char *file, int line, const char *ea, const char *eb, uint64_t a, uint64_t b) {
    check_count();
    if (a == b) {
        return 1;
    }
    pthread_mutex_lock(&check_g.lock);
    check_fail_head(file, line);
    fprintf(stdout, "%s == %s\n    left  %" PRIu64 " (0x%" PRIX64 ")\n    right %" PRIu64 " (0x%" PRIX64 ")\n", ea,
            eb, a, a, b, b);
    pthread_mutex_unlock(&check_g.lock);
    return 0;
}

static inline int check_str_(const char *file, int line, const char *ea, const char *eb, const char *a,
                             const char *b) {
    check_count();
    if ((a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0)) {
        return 1;
    }
    pthread_mutex_lock(&check_g.lock);
    check_fail_head(file, line);
    fprintf(stdout, "%s == %s\n    left  %s%s%s\n    right %s%s%s\n", ea, eb, a ? "\"" : "", a ? a : "NULL",
            a ? "\"" : "", b ? "\"" : "", b ? b : "NULL", b ? "\"" : "");
    pthread_mutex_unlock(&check_g.lock);
    return 0;
}

/* Makes the library record a known last-error message, so that CHECK_ERR can tell that the
   call under test replaced it. */
static inline void check_prime(void) {
    qmgr_guid g;
    char *msg = NULL;
    qmgr_guid_from_string("check.h: priming the last-error message", &g);
    if (qmgr_get_last_error_message(&msg) == QMGR_S_OK && msg) {
        snprintf(check_g.primed, sizeof check_g.primed, "%s", msg);
    } else {
        check_g.primed[0] = '\0';
    }
    qmgr_string_free(msg);
}

/* The call under test must have set a new, non-empty last-error message containing `needle`. */
static inline int check_msg_(const char *file, int line, const char *expr, const char *needle) {
    char *msg = NULL;
    qmgr_hresult hr = qmgr_get_last_error_message(&msg);
    int ok = hr == QMGR_S_OK && msg != NULL && msg[0] != '\0' && strcmp(msg, check_g.primed) != 0 &&
             (needle == NULL || strstr(msg, needle) != NULL);
    check_count();
    if (!ok) {
        pthread_mutex_lock(&check_g.lock);
        check_fail_head(file, line);
        fprintf(stdout, "%s: last-error message %s\"%s\" should be new, non-empty%s%s%s\n", expr,
                msg && strcmp(msg, check_g.primed) == 0 ? "(stale) " : "", msg ? msg : "(none)",
                needle ? " and name \"" : "", needle ? needle : "", needle ? "\"" : "");
        pthread_mutex_unlock(&check_g.lock);
    }
    qmgr_string_free(msg);
    return ok;
}

#define CHECK(cond) check_true_(__FILE__, __LINE__, #cond, (cond) ? 1 : 0)
#define CHECK_HR(expr, expected) check_hr_(__FILE__, __LINE__, #expr, (expr), (expected))
#define CHECK_EQ(a, b) check_eq_(__FILE__, __LINE__, #a, #b, (uint64_t)(a), (uint64_t)(b))
#define CHECK_STR(a, b) check_str_(__FILE__, __LINE__, #a, #b, (a), (b))
#define CHECK_ERR(expr, expected, needle)                                                          \
    do {                                                                                           \
        check_prime();                                                                             \
        qmgr_hresult check_hr_got_ = (expr);                                                       \
        check_hr_(__FILE__, __LINE__, #expr, check_hr_got_, (expected));                           \
        check_msg_(__FILE__, __LINE__, #expr, (needle));                                           \
    } while (0)

/* Polls until `cond` holds; evaluates to nothing, records a check. */
#define CHECK_WAIT(cond, timeout_ms)                                                               \
    do {                                                                                           \
        int64_t check_dl_ = check_now_ms() + (timeout_ms);                                         \
        int check_ok_ = 0;                                                                         \
        for (;;) {                                                                                 \
            if (cond) {                                                                            \
                check_ok_ = 1;                                                                     \
                break;                                                                             \
            }                                                                                      \
            if (check_now_ms() > check_dl_) {                                                      \
                break;                                                                             \
            }                                                                                      \
            check_sleep_ms(5);                                                                     \
        }                                                                                          \
        check_true_(__FILE__, __LINE__, "within " #timeout_ms " ms: " #cond, check_ok_);          \
    } while (0)

/* Same wait without recording a check; `okvar` receives 1 when `cond` held in time. */
#define WAIT_FOR(cond, timeout_ms, okvar)                                                          \
    do {                                                                                           \
        int64_t wait_dl_ = check_now_ms() + (timeout_ms);                                          \
        (okvar) = 0;                                                                               \
        for (;;) {                                                                                 \
            if (cond) {                                                                            \
                (okvar) = 1;                                                                       \
                break;                                                                             \
            }                                                                                      \
            if (check_now_ms() > wait_dl_) {                                                       \
                break;                                                                             \
            }                                                                                      \
            check_sleep_ms(5);                                                                     \
        }                                                                                          \
    } while (0)

static inline void check_section(const char *name) {
    pthread_mutex_lock(&check_g.lock);
    check_g.section = name;
    pthread_mutex_unlock(&check_g.lock);
    fprintf(stdout, "-- %s\n", name);
}

static inline void check_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&check_g.lock);
    fprintf(stdout, "   note: ");
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    pthread_mutex_unlock(&check_g.lock);
    va_end(ap);
}

static inline void check_begin(const char *program) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_g.program = program;
    /* Watchdog: a deadlock must end the program, never hang the suite. */
    alarm(900);
    fprintf(stdout, "== %s (libqmgr %s)\n", program, qmgr_version());
}

/* Prints the summary; returns the exit status. */
static inline int check_done(void) {
    int i;
    check_section("every HRESULT seen has a description (D8)");
    for (i = 0; i < check_g.nseen; i++) {
        char *text = NULL;
        qmgr_hresult hr = qmgr_get_error_description(check_g.seen[i], &text);
        check_count();
        if (hr != QMGR_S_OK || text == NULL || text[0] == '\0') {
            pthread_mutex_lock(&check_g.lock);
            check_fail_head(__FILE__, __LINE__);
            fprintf(stdout, "qmgr_get_error_description(0x%08" PRIX32 " %s) returned 0x%08" PRIX32 "\n",
                    (uint32_t)check_g.seen[i], check_hr_name(check_g.seen[i]), (uint32_t)hr);
            pthread_mutex_unlock(&check_g.lock);
        }
        qmgr_string_free(text);
    }
    pthread_mutex_lock(&check_g.lock);
    fprintf(stdout, "== %s: %d checks, %d failed\n", check_g.program, check_g.total, check_g.failed);
    int failed = check_g.failed;
    pthread_mutex_unlock(&check_g.lock);
    return failed ? 1 : 0;
}

/* ---- files and directories ------------------------------------------------------------- */

/* snprintf that fails the program when the text does not fit (paths, URLs). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline void check_fmt(char *out, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stdout, "FATAL: \"%s\" does not fit %zu bytes\n", fmt, size);
        exit(2);
    }
}

/* Size of a test root directory path: short, so that paths built on it fit PATH_MAX. */
#define CHECK_ROOT_MAX 512
/* Size of a directory path built on a test root (root + a short name). */
#define CHECK_DIR_MAX (CHECK_ROOT_MAX + 64)

/* A fresh directory under $TMPDIR (or /tmp) in `out` (CHECK_ROOT_MAX bytes); exits on
   failure. */
static inline void check_mkdtemp(char *out, const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !base[0] || strlen(base) > 200) {
        base = "/tmp";
    }
    snprintf(out, CHECK_ROOT_MAX, "%s/qmgr-c-%.32s-XXXXXX", base, tag);
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(2);
    }
    /* Canonical, so that paths given to the library compare equal to what it reports. */
    char real[PATH_MAX];
    if (realpath(out, real) && strlen(real) < CHECK_ROOT_MAX) {
        memcpy(out, real, strlen(real) + 1);
    }
}

static inline int check_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0) {
        chmod(path, 0700);
        remove(path);
    }
    return 0;
}

static inline int check_chmod_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR || (sb && S_ISDIR(sb->st_mode))) {
        chmod(path, 0700);
    }
    return 0;
}

/* rm -rf `path` (after making every directory writable). */
static inline void check_rmtree(const char *path) {
    nftw(path, check_chmod_entry, 16, FTW_PHYS);
    nftw(path, check_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The deterministic content every test file and HTTP body uses: byte i of stream `seed`. */
static inline unsigned char check_byte(unsigned seed, uint64_t i) {
    return (unsigned char)((i * 131u + (i >> 8) * 7u + seed * 29u + 11u) & 0xFFu);
}

/* Writes `size` bytes of stream `seed` to `path`; returns 0 on success. */
static inline int check_write_file(const char *path, unsigned seed, uint64_t size) {
    FILE *f = fopen(path, "wb");
    uint64_t i;
    if (!f) {
        return -1;
    }
    for (i = 0; i < size; i++) {
        fputc(check_byte(seed, i), f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* 1 when `path` holds exactly `size` bytes of stream `seed`. */
static inline int check_file_matches(const char *path, unsigned seed, uint64_t size) {
    FILE *f = fopen(path, "rb");
    uint64_t i = 0;
    int c;
    if (!f) {
        return 0;
    }
    while ((c = fgetc(f)) != EOF) {
        if (i >= size || (unsigned char)c != check_byte(seed, i)) {
            fclose(f);
            return 0;
        }
        i++;
    }
    fclose(f);
    return i == size;
}

static inline int check_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries (besides . and ..) in `dir`, or -1. */
static inline int check_count_entries(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

#endif /* QMGR_TESTS_CHECK_H */
