/*
 * agent.c — one process of the multi-process tests (tests/tests/multiprocess*.rs), driving a
 * queue through the C API (include/qmgr.h) on the test's orders.
 *
 * Protocol: one command per line on stdin, words separated by single spaces (an empty word
 * counts: "option proxy " sets an empty value); one answer line
 * per command on stdout, in order: "ok[ WORDS]" or "err 0xHRESULT message". Lines starting
 * with "event " come at any time between answers (callbacks, watchers). Every line is written
 * whole under one lock and flushed at once, so the test can time its arrival.
 *
 *   open DIR                          qmgr_create_instance
 *   option NAME VALUE                 qmgr_manager_set_option
 *   create GUID|-                     CreateGroup (- = a random GUID)  -> ok GUID
 *   get GUID                          GetGroup (keeps the handle)
 *   job GUID JOBGUID|-                CreateJob                        -> ok JOBGUID
 *   add JOBGUID URL PATH              AddFiles with one file
 *   addn JOBGUID N URLPREFIX PATHPREFIX  AddFiles with N files URLPREFIXi -> PATHPREFIXi
 *   getjob GUID JOBGUID               GetJob (keeps the handle)
 *   mkgroups N URL DIR                N groups of one job with one file URL -> DIR/gI
 *                                     (SUSPENDED)          -> ok GROUP1 JOB1 GROUP2 JOB2...
 *   resume|suspend|cancel GUID        ResumeGroup / SuspendGroup / CancelGroup
 *   status GUID                       GetStatus                        -> ok WORD JOBINDEX
 *   progress GUID                     GetProgress64                    -> ok DONE TOTAL
 *   name GUID TEXT / getname GUID     DISPLAYNAME
 *   notify GUID FLAGS                 NOTIFYFLAGS = FLAGS, and a callback that prints
 *                                     "event status GUID JOB|- FILE|- STATUS RETRIES WIN32 HTTP"
 *   enum                              EnumGroups                       -> ok COUNT GUID...
 *   watch_exist GUID...               a thread polls GetGroup every 2 ms: "event seen GUID"
 *                                     once each is found, then "event watched"
 *   watch_name TEXT GUID...           the same for DISPLAYNAME == TEXT (groups from get/create)
 *   at NS COMMAND...                  runs COMMAND when CLOCK_REALTIME reaches NS (a start
 *                                     barrier shared by several agents); answers as COMMAND
 *   quit                              releases everything and exits 0
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qmgr.h"

#define MAX_LINE (1 << 20)
#define MAX_WORDS 20000
#define GUID_TEXT 39

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&out_lock);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

/* "err 0xHRESULT message" with this thread's last-error message. */
static void fail(qmgr_hresult hr) {
    char *msg = NULL;
    if (qmgr_get_last_error_message(&msg) != QMGR_S_OK || msg == NULL) {
        say("err 0x%08" PRIX32 " (no message)", (uint32_t)hr);
        return;
    }
    for (char *p = msg; *p; p++) {
        if (*p == '\n') *p = ' ';
    }
    say("err 0x%08" PRIX32 " %s", (uint32_t)hr, msg);
    qmgr_string_free(msg);
}

/* Answers "err …" and returns from the calling command when `hr` is a failure. */
#define FAIL_IF(hr)              \
    do {                         \
        if ((hr) != QMGR_S_OK) { \
            fail(hr);            \
            return;              \
        }                        \
    } while (0)

static int guid_text(const qmgr_guid *g, char out[GUID_TEXT]) {
    char *s = NULL;
    if (qmgr_guid_to_string(g, &s) != QMGR_S_OK) return 0;
    snprintf(out, GUID_TEXT, "%s", s);
    qmgr_string_free(s);
    return 1;
}

/* A GUID from text, or a random one for "-". */
static qmgr_hresult parse_guid(const char *text, qmgr_guid *out) {
    if (strcmp(text, "-") == 0) return qmgr_guid_generate(out);
    return qmgr_guid_from_string(text, out);
}

/* Handles by GUID text (braces, lower case: as qmgr_guid_to_string writes them). */
struct slot {
    char id[GUID_TEXT];
    void *handle;
};

struct table {
    struct slot *slots;
    size_t len, cap;
};

static struct table groups, jobs;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static qmgr_manager *manager;

static void canonical(const char *text, char out[GUID_TEXT]) {
    qmgr_guid g;
    if (qmgr_guid_from_string(text, &g) != QMGR_S_OK || !guid_text(&g, out)) snprintf(out, GUID_TEXT, "%s", text);
}

static void *find(struct table *t, const char *text) {
    char id[GUID_TEXT];
    void *found = NULL;
    canonical(text, id);
    pthread_mutex_lock(&table_lock);
    for (size_t i = t->len; i-- > 0;) {
        if (strcmp(t->slots[i].id, id) == 0) {
            found = t->slots[i].handle;
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return found;
}

/* Keeps `handle` under `id`; returns the handle it replaced (to release), if any. */
static void *keep(struct table *t, const char *id, void *handle) {
    void *old = NULL;
    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < t->len; i++) {
        if (strcmp(t->slots[i].id, id) == 0) {
            old = t->slots[i].handle;
            t->slots[i].handle = handle;
            pthread_mutex_unlock(&table_lock);
            return old;
        }
    }
    if (t->len == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->slots = realloc(t->slots, t->cap * sizeof *t->slots);
        if (!t->slots) abort();
    }
    snprintf(t->slots[t->len].id, GUID_TEXT, "%s", id);
    t->slots[t->len].handle = handle;
    t->len++;
    pthread_mutex_unlock(&table_lock);
    return old;
}

static void keep_group(const char *id, qmgr_group *g) {
    qmgr_group *old = keep(&groups, id, g);
    if (old) qmgr_group_release(old);
}

static void keep_job(const char *id, qmgr_job *j) {
    qmgr_job *old = keep(&jobs, id, j);
    if (old) qmgr_job_release(old);
}

static qmgr_group *group_of(const char *text) {
    qmgr_group *g = find(&groups, text);
    if (!g) say("err 0x80070057 agent: no handle for group %s (create or get it first)", text);
    return g;
}

/* --- callbacks ------------------------------------------------------------------------- */

static qmgr_hresult on_status(void *context, qmgr_group *group, qmgr_job *job, uint32_t file_index,
                              uint32_t status, uint32_t retries, uint32_t win32, uint32_t transport) {
    char gid[GUID_TEXT] = "?", jid[GUID_TEXT] = "-", file[16] = "-";
    qmgr_guid g;
    (void)context;
    if (qmgr_group_get_group_id(group, &g) == QMGR_S_OK) guid_text(&g, gid);
    if (job && qmgr_job_get_job_id(job, &g) == QMGR_S_OK) guid_text(&g, jid);
    if (file_index != 0xFFFFFFFFu) snprintf(file, sizeof file, "%" PRIu32, file_index);
    say("event status %s %s %s 0x%" PRIX32 " %" PRIu32 " 0x%" PRIX32 " %" PRIu32, gid, jid, file, status, retries,
        win32, transport);
    return QMGR_S_OK;
}

/* --- watchers -------------------------------------------------------------------------- */

struct watch {
    int by_name;
    char text[512];
    size_t n;
    char (*ids)[GUID_TEXT];
};

static pthread_t watcher;
static int watching;
static atomic_int stop_watching;

static long long mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int has_name(qmgr_group *g, const char *text) {
    qmgr_variant v;
    int same;
    if (!g || qmgr_group_get_prop(g, GROUPPROP_DISPLAYNAME, &v) != QMGR_S_OK) return 0;
    same = v.str_val && strcmp(v.str_val, text) == 0;
    qmgr_variant_clear(&v);
    return same;
}

static int exists(const char *text) {
    qmgr_guid id;
    qmgr_group *g = NULL;
    if (qmgr_guid_from_string(text, &id) != QMGR_S_OK) return 0;
    if (qmgr_manager_get_group(manager, id, &g) != QMGR_S_OK) return 0;
    qmgr_group_release(g);
    return 1;
}

static void *watch_run(void *arg) {
    struct watch *w = arg;
    char *seen = calloc(w->n, 1);
    size_t left = w->n;
    long long end = mono_ms() + 60000;
    struct timespec nap = {0, 2000000};
    while (left > 0 && mono_ms() < end && !atomic_load(&stop_watching)) {
        for (size_t i = 0; i < w->n; i++) {
            if (seen[i]) continue;
            if (w->by_name ? has_name(find(&groups, w->ids[i]), w->text) : exists(w->ids[i])) {
                seen[i] = 1;
                left--;
                say("event seen %s", w->ids[i]);
            }
        }
        if (left > 0) nanosleep(&nap, NULL);
    }
    say("event watched %zu", w->n - left);
    free(seen);
    free(w->ids);
    free(w);
    return NULL;
}

static void start_watch(int by_name, char **words, size_t n) {
    struct watch *w = calloc(1, sizeof *w);
    size_t first = by_name ? 2 : 1;
    if (watching) {
        pthread_join(watcher, NULL);
        watching = 0;
    }
    w->by_name = by_name;
    if (by_name) snprintf(w->text, sizeof w->text, "%s", words[1]);
    w->n = n > first ? n - first : 0;
    w->ids = calloc(w->n ? w->n : 1, sizeof *w->ids);
    for (size_t i = 0; i < w->n; i++) canonical(words[first + i], w->ids[i]);
    if (pthread_create(&watcher, NULL, watch_run, w) != 0) {
        say("err 0x80004005 agent: pthread_create failed");
        return;
    }
    watching = 1;
    say("ok");
}

/* --- commands -------------------------------------------------------------------------- */

static qmgr_hresult add_files(qmgr_job *j, size_t n, char **urls, char **paths) {
    qmgr_fileset_info *infos = calloc(n ? n : 1, sizeof *infos);
    const qmgr_fileset_info **set = calloc(n ? n : 1, sizeof *set);
    qmgr_hresult hr;
    for (size_t i = 0; i < n; i++) {
        infos[i].remote_file = urls[i];
        infos[i].local_file = paths[i];
        infos[i].size_hint = 0;
        set[i] = &infos[i];
    }
    hr = qmgr_job_add_files(j, (uint32_t)n, set);
    free(set);
    free(infos);
    return hr;
}

static void cmd_create(const char *text) {
    qmgr_guid id;
    qmgr_group *g = NULL;
    char gid[GUID_TEXT];
    qmgr_hresult hr = parse_guid(text, &id);
    if (hr == QMGR_S_OK) hr = qmgr_manager_create_group(manager, id, &g);
    FAIL_IF(hr);
    guid_text(&id, gid);
    keep_group(gid, g);
    say("ok %s", gid);
}

static void cmd_get(const char *text) {
    qmgr_guid id;
    qmgr_group *g = NULL;
    char gid[GUID_TEXT];
    qmgr_hresult hr = qmgr_guid_from_string(text, &id);
    if (hr == QMGR_S_OK) hr = qmgr_manager_get_group(manager, id, &g);
    FAIL_IF(hr);
    guid_text(&id, gid);
    keep_group(gid, g);
    say("ok");
}

static void cmd_getjob(const char *group, const char *text) {
    qmgr_group *g = group_of(group);
    qmgr_guid id;
    qmgr_job *j = NULL;
    char jid[GUID_TEXT];
    qmgr_hresult hr;
    if (!g) return;
    hr = qmgr_guid_from_string(text, &id);
    if (hr == QMGR_S_OK) hr = qmgr_group_get_job(g, id, &j);
    if (hr != QMGR_S_OK) {
        fail(hr);
        return;
    }
    guid_text(&id, jid);
    keep_job(jid, j);
    say("ok");
}

static void cmd_job(const char *group, const char *text) {
    qmgr_group *g = group_of(group);
    qmgr_guid id;
    qmgr_job *j = NULL;
    char jid[GUID_TEXT];
    qmgr_hresult hr;
    if (!g) return;
    hr = parse_guid(text, &id);
    if (hr == QMGR_S_OK) hr = qmgr_group_create_job(g, id, &j);
    FAIL_IF(hr);
    guid_text(&id, jid);
    keep_job(jid, j);
    say("ok %s", jid);
}

static void cmd_addn(const char *job, long n, const char *url_prefix, const char *path_prefix) {
    qmgr_job *j = find(&jobs, job);
    char **urls, **paths;
    qmgr_hresult hr;
    if (!j) {
        say("err 0x80070057 agent: no handle for job %s", job);
        return;
    }
    if (n < 0 || n > 100000) {
        say("err 0x80070057 agent: bad count %ld", n);
        return;
    }
    urls = calloc((size_t)n + 1, sizeof *urls);
    paths = calloc((size_t)n + 1, sizeof *paths);
    for (long i = 0; i < n; i++) {
        size_t ul = strlen(url_prefix) + 24, pl = strlen(path_prefix) + 24;
        urls[i] = malloc(ul);
        paths[i] = malloc(pl);
        snprintf(urls[i], ul, "%s%ld", url_prefix, i);
        snprintf(paths[i], pl, "%s%ld", path_prefix, i);
    }
    hr = add_files(j, (size_t)n, urls, paths);
    for (long i = 0; i < n; i++) {
        free(urls[i]);
        free(paths[i]);
    }
    free(urls);
    free(paths);
    FAIL_IF(hr);
    say("ok");
}

static void cmd_mkgroups(long n, const char *url, const char *dir) {
    size_t cap = (size_t)(n > 0 ? n : 1) * 2 * GUID_TEXT + 8, len = 2;
    char *line = malloc(cap);
    strcpy(line, "ok");
    for (long i = 0; i < n; i++) {
        qmgr_guid gid, jid;
        qmgr_group *g = NULL;
        qmgr_job *j = NULL;
        char text[GUID_TEXT], path[4200];
        char *urls[1], *paths[1];
        qmgr_hresult hr = qmgr_guid_generate(&gid);
        if (hr == QMGR_S_OK) hr = qmgr_manager_create_group(manager, gid, &g);
        if (hr == QMGR_S_OK) hr = qmgr_guid_generate(&jid);
        if (hr == QMGR_S_OK) hr = qmgr_group_create_job(g, jid, &j);
        guid_text(&gid, text);
        snprintf(path, sizeof path, "%s/g%ld", dir, i);
        urls[0] = (char *)url;
        paths[0] = path;
        if (hr == QMGR_S_OK) hr = add_files(j, 1, urls, paths);
        if (hr != QMGR_S_OK) {
            free(line);
            if (g) qmgr_group_release(g);
            if (j) qmgr_job_release(j);
            fail(hr);
            return;
        }
        keep_group(text, g);
        len += (size_t)snprintf(line + len, cap - len, " %s", text);
        guid_text(&jid, text);
        keep_job(text, j);
        len += (size_t)snprintf(line + len, cap - len, " %s", text);
    }
    say("%s", line);
    free(line);
}

static void cmd_notify(const char *group, const char *flags) {
    qmgr_group *g = group_of(group);
    qmgr_variant v;
    qmgr_callback1 cb;
    qmgr_hresult hr;
    if (!g) return;
    v.vt = QMGR_VT_UI4;
    v.int_val = strtol(flags, NULL, 0);
    v.str_val = NULL;
    hr = qmgr_group_set_prop(g, GROUPPROP_NOTIFYFLAGS, &v);
    memset(&cb, 0, sizeof cb);
    cb.on_status = on_status;
    if (hr == QMGR_S_OK) hr = qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyCallback1, &cb);
    FAIL_IF(hr);
    say("ok");
}

static void cmd_enum(void) {
    qmgr_enum_groups *e = NULL;
    uint32_t count = 0, fetched = 0;
    qmgr_guid *ids;
    char *line;
    size_t len = 0, cap;
    qmgr_hresult hr = qmgr_manager_enum_groups(manager, 0, &e);
    if (hr == QMGR_S_OK) hr = qmgr_enum_groups_get_count(e, &count);
    if (hr != QMGR_S_OK) {
        if (e) qmgr_enum_groups_release(e);
        fail(hr);
        return;
    }
    ids = calloc(count ? count : 1, sizeof *ids);
    hr = qmgr_enum_groups_next(e, count, ids, &fetched);
    qmgr_enum_groups_release(e);
    if (hr < 0) {
        free(ids);
        fail(hr);
        return;
    }
    cap = (size_t)fetched * GUID_TEXT + 32;
    line = malloc(cap);
    len = (size_t)snprintf(line, cap, "ok %" PRIu32, fetched);
    for (uint32_t i = 0; i < fetched; i++) {
        char text[GUID_TEXT];
        guid_text(&ids[i], text);
        len += (size_t)snprintf(line + len, cap - len, " %s", text);
    }
    say("%s", line);
    free(line);
    free(ids);
}

static void run(char **w, size_t n);

static void cmd_at(char **w, size_t n) {
    long long ns = strtoll(w[1], NULL, 10);
    struct timespec at;
    at.tv_sec = (time_t)(ns / 1000000000LL);
    at.tv_nsec = (long)(ns % 1000000000LL);
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, NULL) == EINTR) {
    }
    run(w + 2, n - 2);
}

static void group_call(qmgr_hresult (*fn)(qmgr_group *), const char *group) {
    qmgr_group *g = group_of(group);
    qmgr_hresult hr;
    if (!g) return;
    hr = fn(g);
    FAIL_IF(hr);
    say("ok");
}

#define NEED(k)                                                                 \
    do {                                                                        \
        if (n < (k)) {                                                          \
            say("err 0x80070057 agent: %s needs %d words", w[0], (k));          \
            return;                                                             \
        }                                                                       \
    } while (0)

static void run(char **w, size_t n) {
    qmgr_hresult hr;
    if (n == 0) {
        say("err 0x80070057 agent: empty command");
        return;
    }
    if (strcmp(w[0], "open") == 0) {
        NEED(2);
        hr = qmgr_create_instance(w[1], &manager);
        FAIL_IF(hr);
        say("ok");
    } else if (strcmp(w[0], "option") == 0) {
        NEED(3);
        hr = qmgr_manager_set_option(manager, w[1], w[2]);
        FAIL_IF(hr);
        say("ok");
    } else if (strcmp(w[0], "create") == 0) {
        NEED(2);
        cmd_create(w[1]);
    } else if (strcmp(w[0], "get") == 0) {
        NEED(2);
        cmd_get(w[1]);
    } else if (strcmp(w[0], "job") == 0) {
        NEED(3);
        cmd_job(w[1], w[2]);
    } else if (strcmp(w[0], "getjob") == 0) {
        NEED(3);
        cmd_getjob(w[1], w[2]);
    } else if (strcmp(w[0], "add") == 0) {
        qmgr_job *j;
        NEED(4);
        j = find(&jobs, w[1]);
        if (!j) {
            say("err 0x80070057 agent: no handle for job %s", w[1]);
            return;
        }
        hr = add_files(j, 1, &w[2], &w[3]);
        FAIL_IF(hr);
        say("ok");
    } else if (strcmp(w[0], "addn") == 0) {
        NEED(5);
        cmd_addn(w[1], strtol(w[2], NULL, 10), w[3], w[4]);
    } else if (strcmp(w[0], "mkgroups") == 0) {
        NEED(4);
        cmd_mkgroups(strtol(w[1], NULL, 10), w[2], w[3]);
    } else if (strcmp(w[0], "resume") == 0) {
        NEED(2);
        group_call(qmgr_group_resume_group, w[1]);
    } else if (strcmp(w[0], "suspend") == 0) {
        NEED(2);
        group_call(qmgr_group_suspend_group, w[1]);
    } else if (strcmp(w[0], "cancel") == 0) {
        NEED(2);
        group_call(qmgr_group_cancel_group, w[1]);
    } else if (strcmp(w[0], "status") == 0) {
        qmgr_group *g;
        uint32_t word = 0, index = 0;
        NEED(2);
        if (!(g = group_of(w[1]))) return;
        hr = qmgr_group_get_status(g, &word, &index);
        FAIL_IF(hr);
        say("ok 0x%" PRIX32 " %" PRIu32, word, index);
    } else if (strcmp(w[0], "progress") == 0) {
        qmgr_group *g;
        uint64_t done = 0, total = 0;
        NEED(2);
        if (!(g = group_of(w[1]))) return;
        hr = qmgr_group_get_progress64(g, &done, &total);
        FAIL_IF(hr);
        say("ok %" PRIu64 " %" PRIu64, done, total);
    } else if (strcmp(w[0], "name") == 0) {
        qmgr_group *g;
        qmgr_variant v;
        NEED(3);
        if (!(g = group_of(w[1]))) return;
        v.vt = QMGR_VT_BSTR;
        v.int_val = 0;
        v.str_val = w[2];
        hr = qmgr_group_set_prop(g, GROUPPROP_DISPLAYNAME, &v);
        FAIL_IF(hr);
        say("ok");
    } else if (strcmp(w[0], "getname") == 0) {
        qmgr_group *g;
        qmgr_variant v;
        NEED(2);
        if (!(g = group_of(w[1]))) return;
        hr = qmgr_group_get_prop(g, GROUPPROP_DISPLAYNAME, &v);
        FAIL_IF(hr);
        say("ok %s", v.str_val ? v.str_val : "");
        qmgr_variant_clear(&v);
    } else if (strcmp(w[0], "notify") == 0) {
        NEED(3);
        cmd_notify(w[1], w[2]);
    } else if (strcmp(w[0], "enum") == 0) {
        cmd_enum();
    } else if (strcmp(w[0], "watch_exist") == 0) {
        start_watch(0, w, n);
    } else if (strcmp(w[0], "watch_name") == 0) {
        NEED(2);
        start_watch(1, w, n);
    } else if (strcmp(w[0], "at") == 0) {
        NEED(3);
        cmd_at(w, n);
    } else {
        say("err 0x80070057 agent: unknown command %s", w[0]);
    }
}

int main(void) {
    static char line[MAX_LINE];
    static char *words[MAX_WORDS];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = 0;
        char *p = line;
        line[strcspn(line, "\r\n")] = '\0';
        /* Words are separated by single spaces; an empty word ("option proxy ") is kept. */
        while (n < MAX_WORDS) {
            char *space = strchr(p, ' ');
            words[n++] = p;
            if (!space) break;
            *space = '\0';
            p = space + 1;
        }
        if (n == 1 && strcmp(words[0], "quit") == 0) break;
        run(words, n);
    }
    atomic_store(&stop_watching, 1);
    if (watching) pthread_join(watcher, NULL);
    for (size_t i = 0; i < jobs.len; i++) qmgr_job_release(jobs.slots[i].handle);
    for (size_t i = 0; i < groups.len; i++) qmgr_group_release(groups.slots[i].handle);
    if (manager) qmgr_manager_release(manager);
    say("bye");
    return 0;
}
