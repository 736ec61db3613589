/*
 * scale.c — issue #6, scenario 4 "queue scale": how qmgr behaves with a queue of N groups
 * (one job of one file each, never downloaded), measured through the C API.
 *
 * Build: cc -O2 -pthread -I include bench/c/scale.c -L target/release -lqmgr \
 *           -Wl,-rpath,$PWD/target/release -o scale
 *
 * Usage:
 *   scale create <queue_dir> <data_dir> <N>
 *       Creates N groups in a fresh queue: CreateGroup, CreateJob, AddFiles (one file,
 *       http://127.0.0.1:9/f<i> -> <data_dir>/f<i>), releasing every handle. Then releases
 *       the manager (closing the database) and measures the database files.
 *   scale reopen <queue_dir> <N> <idle_s> <calls_per_thread> <threads,...>
 *       Reopens the queue of N groups in this fresh process and measures, in this order:
 *       open time, time to the first GetStatus, idle CPU and context switches, RSS against
 *       a forked child that opened an empty queue, enumeration, RSS holding N handles,
 *       GetStatus latency (1 thread and each thread count: own handles, one shared handle),
 *       and the final release.
 *
 * Output (stdout): one line per measurement, "metric=<name> value=<number> unit=<unit>".
 * Progress and diagnostics go to stderr. Exit status 0 on success, 1 on any failed call.
 *
 * Group and job GUIDs are derived from the index (splitmix64, version-4 layout), so they
 * are spread like random GUIDs yet the reopening process knows them without enumerating.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROGRAM "scale"
#include "bench.h"

/* ---- helpers ------------------------------------------------------------------------- */

static void metric(const char *name, double value, const char *unit) {
    printf("metric=%s value=%.6g unit=%s\n", name, value, unit);
    fflush(stdout);
}

static void die_hr(const char *what, qmgr_hresult hr) {
    char *msg = NULL;
    qmgr_get_last_error_message(&msg);
    fprintf(stderr, "scale: %s failed: 0x%08" PRIx32 " (%s)\n", what, (uint32_t)hr, msg ? msg : "no message");
    qmgr_string_free(msg);
    exit(1);
}

static void check(const char *what, qmgr_hresult hr) {
    if (hr < 0) {
        die_hr(what, hr);
    }
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* kind 0: group i, kind 1: job of group i. */
static qmgr_guid guid_of(uint64_t i, uint64_t kind) {
    uint64_t a = splitmix64(2 * i + kind);
    uint64_t b = splitmix64(a ^ 0x5CA1E5CA1E5CA1E5ull);
    qmgr_guid g;
    g.data1 = (uint32_t)(a >> 32);
    g.data2 = (uint16_t)(a >> 16);
    g.data3 = (uint16_t)((a & 0x0FFF) | 0x4000);
    for (int k = 0; k < 8; k++) {
        g.data4[k] = (uint8_t)(b >> (8 * k));
    }
    g.data4[0] = (uint8_t)((g.data4[0] & 0x3F) | 0x80);
    return g;
}

/* A "Name: value kB" line of a /proc status file, or -1. */
static long proc_status_field(const char *path, const char *field) {
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    char line[256];
    size_t n = strlen(field);
    long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static long rss_kib(void) { return proc_status_field("/proc/self/status", "VmRSS"); }

/* Bytes of the C heap in use (all malloc arenas; the library uses the system allocator). */
static double heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

/* Voluntary + nonvoluntary context switches summed over the threads alive now. */
static long long ctx_switches(int *threads_out) {
    DIR *d = opendir("/proc/self/task");
    if (!d) {
        return -1;
    }
    long long sum = 0;
    int threads = 0;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        long v = proc_status_field(path, "voluntary_ctxt_switches");
        long nv = proc_status_field(path, "nonvoluntary_ctxt_switches");
        if (v >= 0 && nv >= 0) {
            sum += v + nv;
            threads++;
        }
    }
    closedir(d);
    if (threads_out) {
        *threads_out = threads;
    }
    return sum;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

static long long file_size(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    if (stat(path, &st) != 0) {
        return 0;
    }
    return (long long)st.st_size;
}

static void sleep_s(double s) {
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static size_t parse_size(const char *s, const char *what) {
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end) {
        fprintf(stderr, "scale: %s must be a number, not '%s'\n", what, s);
        exit(2);
    }
    return (size_t)v;
}

/* ---- create -------------------------------------------------------------------------- */

static int cmd_create(const char *queue_dir, const char *data_dir, size_t n) {
    qmgr_manager *m = NULL;
    double t0 = now_s();
    check("qmgr_create_instance", qmgr_create_instance(queue_dir, &m));
    double t_open = now_s() - t0;

    char url[64];
    char local[4096];
    qmgr_fileset_info info;
    const qmgr_fileset_info *set[1] = {&info};
    size_t tenth = n / 10 ? n / 10 : 1;
    double first_tenth = 0, last_tenth_start = 0;

    double t1 = now_s();
    double t_mark = t1;
    for (size_t i = 0; i < n; i++) {
        if (i == tenth) {
            first_tenth = now_s() - t1;
        }
        if (i == n - tenth) {
            last_tenth_start = now_s();
        }
        qmgr_group *g = NULL;
        qmgr_job *j = NULL;
        check("qmgr_manager_create_group", qmgr_manager_create_group(m, guid_of(i, 0), &g));
        check("qmgr_group_create_job", qmgr_group_create_job(g, guid_of(i, 1), &j));
        snprintf(url, sizeof url, "http://127.0.0.1:9/f%zu", i);
        snprintf(local, sizeof local, "%s/f%zu", data_dir, i);
        info.remote_file = url;
        info.local_file = local;
        info.size_hint = 0;
        check("qmgr_job_add_files", qmgr_job_add_files(j, 1, set));
        qmgr_job_release(j);
        qmgr_group_release(g);
        if ((i + 1) % 10000 == 0) {
            double t = now_s();
            fprintf(stderr, "scale: created %zu groups, last 10000 at %.1f us/group\n", i + 1,
                    (t - t_mark) / 10000 * 1e6);
            t_mark = t;
        }
    }
    double t_end = now_s();
    double total = t_end - t1;
    if (n < 10) {
        first_tenth = total;
        last_tenth_start = t1;
    }
    long rss = rss_kib();

    double t2 = now_s();
    qmgr_manager_release(m);
    double t_close = now_s() - t2;

    long long db = file_size(queue_dir, "queue.sqlite");
    long long wal = file_size(queue_dir, "queue.sqlite-wal");

    metric("create_open", t_open * 1e3, "ms");
    metric("create_total", total, "s");
    metric("create_per_group", total / (double)n * 1e6, "us");
    metric("create_per_group_first_tenth", first_tenth / (double)tenth * 1e6, "us");
    metric("create_per_group_last_tenth", (t_end - last_tenth_start) / (double)tenth * 1e6, "us");
    metric("create_rss_end", (double)rss, "KiB");
    metric("create_close", t_close * 1e3, "ms");
    metric("db_main", (double)db, "B");
    metric("db_wal", (double)wal, "B");
    metric("db_per_group", (double)(db + wal) / (double)n, "B");
    return 0;
}

/* ---- reopen -------------------------------------------------------------------------- */

/* RSS of a fresh process that opened an empty queue and idled `idle_s`, measured in a
 * child forked before this process touches the library. */
struct footprint {
    long rss_kib;
    double heap;
};

static struct footprint empty_queue_footprint(const char *queue_dir, double idle_s) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s.empty.%d", queue_dir, (int)getpid());
    int fd[2];
    if (pipe(fd) != 0) {
        perror("pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        close(fd[0]);
        qmgr_manager *m = NULL;
        struct footprint fp = {-1, 0};
        if (qmgr_create_instance(dir, &m) >= 0) {
            sleep_s(idle_s);
            fp.rss_kib = rss_kib();
            fp.heap = heap_in_use();
            qmgr_manager_release(m);
        }
        if (write(fd[1], &fp, sizeof fp) != (ssize_t)sizeof fp) {
            _exit(1);
        }
        _exit(0);
    }
    close(fd[1]);
    struct footprint fp = {-1, 0};
    if (read(fd[0], &fp, sizeof fp) != (ssize_t)sizeof fp) {
        fp.rss_kib = -1;
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "scale: could not remove %s\n", dir);
    }
    if (fp.rss_kib < 0) {
        fprintf(stderr, "scale: the empty-queue child failed\n");
        exit(1);
    }
    return fp;
}

struct status_arg {
    qmgr_group **handles;
    size_t count; /* handles to cycle through */
    size_t calls;
    pthread_barrier_t *barrier;
    double elapsed;
    int failed;
};

static void *status_thread(void *p) {
    struct status_arg *a = p;
    uint32_t status = 0, index = 0, acc = 0;
    size_t k = 0;
    pthread_barrier_wait(a->barrier);
    double t0 = now_s();
    for (size_t i = 0; i < a->calls; i++) {
        if (qmgr_group_get_status(a->handles[k], &status, &index) != QMGR_S_OK) {
            a->failed = 1;
            break;
        }
        acc += status;
        if (++k == a->count) {
            k = 0;
        }
    }
    a->elapsed = now_s() - t0;
    if (acc == 0) { /* every group is suspended: status is never 0 */
        a->failed = 1;
    }
    return NULL;
}

/* Runs `threads` threads of `calls` GetStatus each; `shared` makes them all use handles[0],
 * otherwise thread t cycles through its own slice of the handles. Reports the mean per-call
 * latency (each thread's time / its calls) and the aggregate rate (all calls / wall time). */
static void bench_status(qmgr_group **handles, size_t n, int threads, size_t calls, int shared) {
    pthread_t tid[64];
    struct status_arg args[64];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        size_t lo = shared ? 0 : n * (size_t)t / (size_t)threads;
        size_t hi = shared ? 1 : n * (size_t)(t + 1) / (size_t)threads;
        args[t] = (struct status_arg){handles + lo, hi - lo, calls, &barrier, 0, 0};
        if (pthread_create(&tid[t], NULL, status_thread, &args[t]) != 0) {
            fprintf(stderr, "scale: pthread_create failed\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&barrier);
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
    }
    double wall = now_s() - t0;
    pthread_barrier_destroy(&barrier);
    double per_call = 0;
    for (int t = 0; t < threads; t++) {
        if (args[t].failed) {
            die_hr("qmgr_group_get_status (bench)", -1);
        }
        per_call += args[t].elapsed / (double)calls;
    }
    per_call /= threads;
    char name[64];
    const char *kind = threads == 1 ? "" : shared ? "_shared" : "_own";
    snprintf(name, sizeof name, "status_%dt%s_latency", threads, kind);
    metric(name, per_call * 1e9, "ns");
    snprintf(name, sizeof name, "status_%dt%s_rate", threads, kind);
    metric(name, (double)calls * threads / wall / 1e6, "Mcalls/s");
}

static int cmd_reopen(const char *queue_dir, size_t n, double idle_s, size_t calls, const char *thread_list) {
    struct footprint empty = empty_queue_footprint(queue_dir, 1.0);
    long rss_before = rss_kib();

    /* Open, then the first GetStatus of a known group. */
    qmgr_manager *m = NULL;
    double t0 = now_s();
    check("qmgr_create_instance", qmgr_create_instance(queue_dir, &m));
    double t_open = now_s() - t0;
    qmgr_group *g0 = NULL;
    uint32_t status = 0, index = 0;
    check("qmgr_manager_get_group (first)", qmgr_manager_get_group(m, guid_of(0, 0), &g0));
    check("qmgr_group_get_status (first)", qmgr_group_get_status(g0, &status, &index));
    double t_first = now_s() - t0;
    qmgr_group_release(g0);
    if (status != (QM_STATUS_GROUP_INCOMPLETE | QM_STATUS_GROUP_SUSPENDED)) {
        fprintf(stderr, "scale: group 0 has status 0x%x, expected 0x180 (suspended)\n", status);
        return 1;
    }
    metric("reopen_open", t_open * 1e3, "ms");
    metric("reopen_first_status", t_first * 1e3, "ms");

    /* Idle: no handle held. Settle 1 s, then measure idle_s. */
    sleep_s(1.0);
    int nthreads = 0;
    double c0 = cpu_s();
    long long x0 = ctx_switches(&nthreads);
    double w0 = now_s();
    sleep_s(idle_s);
    double w1 = now_s();
    long long x1 = ctx_switches(NULL);
    double c1 = cpu_s();
    long rss_idle = rss_kib();
    double heap_idle = heap_in_use();
    metric("idle_threads", nthreads, "threads");
    metric("idle_cpu", (c1 - c0) / (w1 - w0) * 100.0, "%");
    metric("idle_ctx_switches", (double)(x1 - x0) / (w1 - w0), "/s");
    metric("rss_empty_queue", (double)empty.rss_kib, "KiB");
    metric("rss_before_open", (double)rss_before, "KiB");
    metric("rss_idle", (double)rss_idle, "KiB");
    metric("rss_per_idle_group", (double)(rss_idle - empty.rss_kib) * 1024.0 / (double)n, "B");
    metric("heap_per_idle_group", (heap_idle - empty.heap) / (double)n, "B");
    /* How much of the RSS is freed heap the allocator kept (e.g. from loading the queue). */
    malloc_trim(0);
    long rss_trim = rss_kib();
    metric("rss_per_idle_group_trimmed", (double)(rss_trim - empty.rss_kib) * 1024.0 / (double)n, "B");

    /* Enumerate: GUIDs only, then GUIDs + GetGroup + Release. */
    qmgr_guid *ids = malloc(n * sizeof *ids);
    qmgr_group **handles = malloc(n * sizeof *handles);
    if (!ids || !handles) {
        fprintf(stderr, "scale: out of memory\n");
        return 1;
    }
    enum { BATCH = 256 };
    qmgr_enum_groups *e = NULL;
    double te0 = now_s();
    check("qmgr_manager_enum_groups", qmgr_manager_enum_groups(m, 0, &e));
    uint32_t count = 0;
    check("qmgr_enum_groups_get_count", qmgr_enum_groups_get_count(e, &count));
    if (count != n) {
        fprintf(stderr, "scale: the queue holds %" PRIu32 " groups, expected %zu\n", count, n);
        return 1;
    }
    size_t got = 0;
    while (got < n) {
        uint32_t fetched = 0;
        uint32_t want = (uint32_t)(n - got < BATCH ? n - got : BATCH);
        qmgr_hresult hr = qmgr_enum_groups_next(e, want, ids + got, &fetched);
        check("qmgr_enum_groups_next", hr);
        got += fetched;
        if (hr == QMGR_S_FALSE) {
            break;
        }
    }
    qmgr_enum_groups_release(e);
    double t_enum = now_s() - te0;
    if (got != n) {
        fprintf(stderr, "scale: enumerated %zu groups, expected %zu\n", got, n);
        return 1;
    }
    metric("enum_next", t_enum / (double)n * 1e9, "ns/group");

    double tg0 = now_s();
    check("qmgr_manager_enum_groups", qmgr_manager_enum_groups(m, 0, &e));
    qmgr_guid batch[BATCH];
    size_t seen = 0;
    for (;;) {
        uint32_t fetched = 0;
        qmgr_hresult hr = qmgr_enum_groups_next(e, BATCH, batch, &fetched);
        check("qmgr_enum_groups_next", hr);
        for (uint32_t k = 0; k < fetched; k++) {
            qmgr_group *g = NULL;
            check("qmgr_manager_get_group", qmgr_manager_get_group(m, batch[k], &g));
            qmgr_group_release(g);
        }
        seen += fetched;
        if (hr == QMGR_S_FALSE) {
            break;
        }
    }
    qmgr_enum_groups_release(e);
    double t_enum_get = now_s() - tg0;
    metric("enum_get_release", t_enum_get / (double)seen * 1e9, "ns/group");

    /* Hold N handles. */
    long rss_h0 = rss_kib();
    double heap_h0 = heap_in_use();
    double th0 = now_s();
    for (size_t i = 0; i < n; i++) {
        check("qmgr_manager_get_group", qmgr_manager_get_group(m, ids[i], &handles[i]));
    }
    double t_get = now_s() - th0;
    long rss_h1 = rss_kib();
    double heap_h1 = heap_in_use();
    metric("get_group_hold", t_get / (double)n * 1e9, "ns/group");
    metric("rss_handles", (double)rss_h1, "KiB");
    metric("rss_per_handle", (double)(rss_h1 - rss_h0) * 1024.0 / (double)n, "B");
    metric("heap_per_handle", (heap_h1 - heap_h0) / (double)n, "B");

    /* GetStatus latency. */
    char list[256];
    snprintf(list, sizeof list, "%s", thread_list);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int threads = atoi(tok);
        if (threads < 1 || threads > 64) {
            fprintf(stderr, "scale: bad thread count '%s'\n", tok);
            return 2;
        }
        bench_status(handles, n, threads, calls, 0);
        if (threads > 1) {
            bench_status(handles, n, threads, calls, 1);
        }
    }

    double tr0 = now_s();
    for (size_t i = 0; i < n; i++) {
        qmgr_group_release(handles[i]);
    }
    double t_rel = now_s() - tr0;
    metric("release_handles", t_rel / (double)n * 1e9, "ns/group");
    double tm0 = now_s();
    qmgr_manager_release(m);
    metric("manager_release", (now_s() - tm0) * 1e3, "ms");
    free(ids);
    free(handles);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "create") == 0) {
        return cmd_create(argv[2], argv[3], parse_size(argv[4], "N"));
    }
    if (argc == 7 && strcmp(argv[1], "reopen") == 0) {
        return cmd_reopen(argv[2], parse_size(argv[3], "N"), (double)parse_size(argv[4], "idle_s"),
                          parse_size(argv[5], "calls_per_thread"), argv[6]);
    }
    fprintf(stderr,
            "usage: %s create <queue_dir> <data_dir> <N>\n"
            "       %s reopen <queue_dir> <N> <idle_s> <calls_per_thread> <threads,...>\n",
            argv[0], argv[0]);
    return 2;
}
