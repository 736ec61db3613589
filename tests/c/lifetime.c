/*
 * lifetime.c — the library leaves no thread behind (issue #14, item 7).
 *
 * This program does not link libqmgr: it dlopen()s it (path in QMGR_LIBRARY, given by
 * tests/tests/c_suite.rs), runs transfers against the loopback server (httpd.c) — small files
 * that complete, and one answer that stalls, so that at release a network helper is blocked
 * in a read of an abandoned exchange —, releases every handle and then checks
 * /proc/self/task: no thread of the library is left (none named "qmgr*"), and once the
 * server's own threads are joined only the main thread remains. It then dlclose()s the
 * library and keeps running for a second: a thread still running the library's code would
 * crash the program there.
 *
 * It cannot use check.h (whose checks call into the library), so it has its own small
 * checks and prints the same summary line.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "qmgr.h"

static int checks, failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                 \
        }                                                                                          \
    } while (0)

#define CHECK_HR(expr) CHECK((expr) == QMGR_S_OK)

/* The library's functions this program calls, looked up with dlsym. */
static struct {
    qmgr_hresult (*create_instance)(const char *, qmgr_manager **);
    uint32_t (*manager_release)(qmgr_manager *);
    qmgr_hresult (*manager_create_group)(qmgr_manager *, qmgr_guid, qmgr_group **);
    qmgr_hresult (*group_create_job)(qmgr_group *, qmgr_guid, qmgr_job **);
    qmgr_hresult (*group_resume_group)(qmgr_group *);
    qmgr_hresult (*group_wait)(qmgr_group *, uint32_t, uint32_t *);
    uint32_t (*group_release)(qmgr_group *);
    qmgr_hresult (*job_add_files)(qmgr_job *, uint32_t, const qmgr_fileset_info *const *);
    uint32_t (*job_release)(qmgr_job *);
    qmgr_hresult (*guid_generate)(qmgr_guid *);
} q;

static void *lookup(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    if (f == NULL) {
        printf("FAIL dlsym(%s): %s\n", name, dlerror());
        exit(1);
    }
    return f;
}

/* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define LOOKUP(field, name) memcpy(&q.field, &(void *){lookup(lib, name)}, sizeof q.field)

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Threads of this process: all of them, and those whose name starts with "qmgr" (listed
   when `show`). */
static int count_threads(int *library, int show) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int all = 0;
    *library = 0;
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char path[64 + sizeof e->d_name], name[64] = "";
        FILE *f;
        if (e->d_name[0] == '.') {
            continue;
        }
        all++;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if ((f = fopen(path, "r")) != NULL) {
            if (fgets(name, sizeof name, f) == NULL) {
                name[0] = '\0';
            }
            fclose(f);
        }
        name[strcspn(name, "\n")] = '\0';
        if (strncmp(name, "qmgr", 4) == 0) {
            ++*library;
            if (show) {
                printf("  thread %s: %s\n", e->d_name, name);
            }
        }
    }
    closedir(d);
    return all;
}

static qmgr_guid guid(void) {
    qmgr_guid g;
    memset(&g, 0, sizeof g);
    CHECK_HR(q.guid_generate(&g));
    return g;
}

/* A group with one job of the files `routes` (count n) of the server, saved in `dir`. */
static qmgr_group *group_of(qmgr_manager *m, httpd *server, const char *dir, const char *const *routes, int n) {
    qmgr_group *g = NULL;
    qmgr_job *j = NULL;
    int i;
    CHECK_HR(q.manager_create_group(m, guid(), &g));
    CHECK_HR(q.group_create_job(g, guid(), &j));
    for (i = 0; i < n; i++) {
        char url[256], local[PATH_MAX];
        qmgr_fileset_info info;
        const qmgr_fileset_info *set[1];
        httpd_url(server, routes[i], url, sizeof url);
        snprintf(local, sizeof local, "%s/file%d-%d", dir, n, i);
        info.remote_file = url;
        info.local_file = local;
        info.size_hint = 0;
        set[0] = &info;
        CHECK_HR(q.job_add_files(j, 1, set));
    }
    q.job_release(j);
    CHECK_HR(q.group_resume_group(g));
    return g;
}

int main(void) {
    const char *path = getenv("QMGR_LIBRARY");
    const char *tmp = getenv("TMPDIR");
    char root[PATH_MAX], queue[PATH_MAX + 16];
    static const char *const small[] = {"/small/0", "/small/1", "/small/2", "/small/3"};
    static const char *const stalled[] = {"/stalled"};
    int before, library, all, i;
    int64_t started, took;
    uint32_t status = 0;
    qmgr_manager *m = NULL;
    qmgr_group *done, *stuck;
    httpd *server;
    void *lib;

    setvbuf(stdout, NULL, _IOLBF, 0);
    before = count_threads(&library, 1);
    CHECK(before == 1);
    if (path == NULL || (lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        printf("FAIL dlopen(%s): %s\n", path ? path : "(QMGR_LIBRARY unset)", path ? dlerror() : "");
        return 1;
    }
    LOOKUP(create_instance, "qmgr_create_instance");
    LOOKUP(manager_release, "qmgr_manager_release");
    LOOKUP(manager_create_group, "qmgr_manager_create_group");
    LOOKUP(group_create_job, "qmgr_group_create_job");
    LOOKUP(group_resume_group, "qmgr_group_resume_group");
    LOOKUP(group_wait, "qmgr_group_wait");
    LOOKUP(group_release, "qmgr_group_release");
    LOOKUP(job_add_files, "qmgr_job_add_files");
    LOOKUP(job_release, "qmgr_job_release");
    LOOKUP(guid_generate, "qmgr_guid_generate");

    snprintf(root, sizeof root, "%s/qmgr-c-lifetime-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    CHECK(mkdtemp(root) != NULL);
    snprintf(queue, sizeof queue, "%s/queue", root);
    server = httpd_start();
    CHECK(server != NULL);
    if (server == NULL) {
        return 1;
    }
    for (i = 0; i < 4; i++) {
        httpd_route(server, small[i], 200, 200000, (unsigned)i + 1);
    }
    httpd_route(server, stalled[0], 200, 10000000, 9);
    httpd_stall(server, stalled[0], 65536, 1);

    CHECK_HR(q.create_instance(queue, &m));
    done = group_of(m, server, root, small, 4);
    CHECK_HR(q.group_wait(done, 60000, &status));
    CHECK((status & QM_STATUS_GROUP_COMPLETE) != 0);
    stuck = group_of(m, server, root, stalled, 1);
    /* The helper of the stalled answer now waits in a socket read (read timeout 60 s). */
    started = now_ms();
    while (httpd_count(server, stalled[0], "stalled") < 1 && now_ms() - started < 60000) {
        sleep_ms(10);
    }
    CHECK(httpd_count(server, stalled[0], "stalled") == 1);
    all = count_threads(&library, 0);
    printf("while transferring: %d threads, %d of the library\n", all, library);
    CHECK(library >= 4); /* scheduler, notifier, idle, a worker, a network helper… */

    q.group_release(done);
    q.group_release(stuck);
    started = now_ms();
    CHECK(q.manager_release(m) == 0);
    took = now_ms() - started;
    all = count_threads(&library, 1);
    printf("after the last release (%lld ms): %d threads, %d of the library\n", (long long)took, all, library);
    CHECK(library == 0);
    /* Well below the read timeout (60 s) the stalled helper would otherwise wait out; generous
       for valgrind. */
    CHECK(took < 10000);

    httpd_stop(server);
    all = count_threads(&library, 1);
    printf("after the server stopped: %d threads\n", all);
    CHECK(all == 1);

    CHECK(dlclose(lib) == 0);
    sleep_ms(1000);
    all = count_threads(&library, 1);
    printf("a second after dlclose: %d threads\n", all);
    CHECK(all == 1);

    printf("== lifetime.c: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
