/*
 * transfer.c — real transfers from a loopback HTTP server (httpd.c) and file:// URLs:
 * every reachable cell of the D3 state table (SUSPENDED, RUNNING, ERROR, COMPLETE,
 * CANCELLED × CreateJob/AddFiles, ResumeGroup, SuspendGroup, CancelGroup,
 * SetProp/SwitchToForeground, getters, CancelJob, qmgr_group_wait), the D1 rules (jobs in
 * creation order, files in order, job index, aggregated progress and size, scheduling), D4
 * temporary files, D5/D11 transient and fatal errors, D6 continuation after reopening.
 *
 * RUNNING is made deterministic with a route that stalls after a number of bytes: the group
 * stays RUNNING (transferring) until the test releases it or the client goes away.
 */
#include "check.h"
#include "httpd.h"
#include "qm.h"

static char root[CHECK_ROOT_MAX];
static char queue[CHECK_DIR_MAX];
static qmgr_manager *mgr;
static httpd *server;
static int serial;

static int sentinel_storage;
#define SENTINEL_PTR ((void *)&sentinel_storage)

enum { SUSPENDED, RUNNING, ERROR, COMPLETE, CANCELLED, NSTATES };
static const char *const state_names[] = {"SUSPENDED", "RUNNING", "ERROR", "COMPLETE", "CANCELLED"};
static const uint32_t state_words[] = {0x180, 0x080, 0x380, 0x140, 0};

#define BODY 100000u   /* bytes of a stalling route */
#define STALL 32768u   /* bytes sent before the stall */

typedef struct fixture {
    int state;
    qmgr_group *g;
    qmgr_job *j;
    char dir[PATH_MAX];   /* the group's own destination directory */
    char local[PATH_MAX]; /* destination of file 0 */
    char route[64];
    unsigned seed;
    uint64_t size;
} fixture;

static void new_route(fixture *f, int status, uint64_t size, uint64_t stall_at) {
    f->seed = (unsigned)++serial;
    f->size = size;
    check_fmt(f->route, sizeof f->route, "/r/%d", serial);
    httpd_route(server, f->route, status, size, f->seed);
    if (stall_at != UINT64_MAX) {
        httpd_stall(server, f->route, stall_at, 1);
    }
}

/* Adds a file served by a fresh route to `j`, destination `name` in f->dir. */
static void add_http_file(fixture *f, qmgr_job *j, const char *name, char *route_out, char *local_out, int status,
                          uint64_t size, uint64_t stall_at, unsigned *seed_out) {
    char url[256];
    unsigned seed = (unsigned)++serial;
    check_fmt(route_out, 64, "/r/%d", serial);
    httpd_route(server, route_out, status, size, seed);
    if (stall_at != UINT64_MAX) {
        httpd_stall(server, route_out, stall_at, 1);
    }
    httpd_url(server, route_out, url, sizeof url);
    check_fmt(local_out, PATH_MAX, "%s/%s", f->dir, name);
    CHECK_HR(qm_add(j, url, local_out, 0), QMGR_S_OK);
    if (seed_out) {
        *seed_out = seed;
    }
}

static void wait_stalled(const char *route) {
    CHECK_WAIT(httpd_count(server, route, "stalled") >= 1, CHECK_DEADLINE_MS);
}

/* A group in `state` with one job whose file 0 comes from f->route (a stalling 200 for
   SUSPENDED/RUNNING/CANCELLED, 404 for ERROR, a short 200 for COMPLETE). */
static void make(fixture *f, int state) {
    char url[256];
    memset(f, 0, sizeof *f);
    f->state = state;
    check_fmt(f->dir, sizeof f->dir, "%s/dest/%d", root, ++serial);
    CHECK(mkdir(f->dir, 0700) == 0);
    if (state == ERROR) {
        new_route(f, 404, 0, UINT64_MAX);
    } else if (state == COMPLETE) {
        new_route(f, 200, 5000, UINT64_MAX);
    } else {
        new_route(f, 200, BODY, STALL);
    }
    f->g = qm_group(mgr);
    f->j = qm_job(f->g);
    httpd_url(server, f->route, url, sizeof url);
    check_fmt(f->local, sizeof f->local, "%s/file0.bin", f->dir);
    CHECK_HR(qm_add(f->j, url, f->local, 0), QMGR_S_OK);
    switch (state) {
    case RUNNING:
        CHECK_HR(qmgr_group_resume_group(f->g), QMGR_S_OK);
        wait_stalled(f->route);
        CHECK_WAIT(qm_job_done(f->j) == STALL, CHECK_DEADLINE_MS);
        break;
    case ERROR:
    case COMPLETE:
        CHECK_HR(qmgr_group_resume_group(f->g), QMGR_S_OK);
        CHECK_EQ(qm_wait(f->g), state_words[state]);
        break;
    case CANCELLED:
        CHECK_HR(qmgr_group_cancel_group(f->g), QMGR_S_OK);
        break;
    default:
        break;
    }
    if (state != CANCELLED && !CHECK_EQ(qm_status(f->g), state_words[state])) {
        check_note("fixture in state %s", state_names[state]);
    }
}

static void unmake(fixture *f) {
    uint32_t s;
    if (qmgr_group_get_status(f->g, &s, &s) == QMGR_S_OK) {
        CHECK_HR(qmgr_group_cancel_group(f->g), QMGR_S_OK);
    }
    qmgr_job_release(f->j);
    CHECK_EQ(qmgr_group_release(f->g), 0);
}

/* ---- D3 rows ------------------------------------------------------------------------------ */

static void row_create_job_add_files(void) {
    check_section("D3 row: CreateJob, AddFiles");
    static const qmgr_hresult expected[] = {QMGR_S_OK, QM_E_INVALID_STATE, QMGR_S_OK, QM_E_INVALID_STATE,
                                            QM_E_INVALID_STATE};
    for (int s = 0; s < NSTATES; s++) {
        fixture f;
        make(&f, s);
        qmgr_job *k = (qmgr_job *)SENTINEL_PTR;
        char local[PATH_MAX];
        check_fmt(local, sizeof local, "%s/added.bin", f.dir);
        check_prime();
        qmgr_hresult hr = qmgr_group_create_job(f.g, qm_guid(), &k);
        if (!CHECK_HR(hr, expected[s])) {
            check_note("CreateJob in %s", state_names[s]);
        }
        if (hr == QMGR_S_OK) {
            qmgr_job_release(k);
        } else {
            CHECK(k == NULL);
            check_msg_(__FILE__, __LINE__, "CreateJob", NULL);
        }
        hr = qm_add(f.j, "http://127.0.0.1:9/added", local, 0);
        if (!CHECK_HR(hr, expected[s])) {
            check_note("AddFiles in %s", state_names[s]);
        }
        if (s != CANCELLED) {
            CHECK_EQ(qm_status(f.g), state_words[s]); /* no state change */
        }
        unmake(&f);
    }
}

static void row_resume(void) {
    check_section("D3 row: ResumeGroup");
    fixture f;
    uint32_t w = 0, t = 0, r = 0, s = 0;
    char *msg = NULL;

    /* SUSPENDED → RUNNING; BG_E_EMPTY when there is nothing to download. */
    make(&f, SUSPENDED);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_status(f.g), 0x080);
    wait_stalled(f.route);
    unmake(&f);
    qmgr_group *empty = qm_group(mgr);
    CHECK_ERR(qmgr_group_resume_group(empty), BG_E_EMPTY, NULL);
    CHECK_EQ(qm_status(empty), 0x180);
    qmgr_job *k = qm_job(empty);
    CHECK_ERR(qmgr_group_resume_group(empty), BG_E_EMPTY, NULL);
    CHECK_EQ(qm_status(empty), 0x180);
    qmgr_job_release(k);
    CHECK_HR(qmgr_group_cancel_group(empty), QMGR_S_OK);
    qmgr_group_release(empty);

    /* RUNNING: S_OK no-op (the transfer is not restarted). */
    make(&f, RUNNING);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_status(f.g), 0x080);
    CHECK_EQ(httpd_count(server, f.route, "requests"), 1);
    CHECK_EQ(httpd_count(server, f.route, "aborted"), 0);
    unmake(&f);

    /* ERROR: clears the error, → RUNNING (retries are never reset, D11). */
    make(&f, ERROR);
    CHECK_HR(qmgr_job_get_status(f.j, &s, &w, &t, &r), QMGR_S_OK);
    CHECK_EQ(s, QM_STATUS_JOB_INCOMPLETE | QM_STATUS_JOB_ERROR);
    CHECK_EQ(w, BG_E_HTTP_ERROR_BASE | 404u);
    CHECK_EQ(t, 404);
    CHECK_EQ(r, 1);
    httpd_route(server, f.route, 200, BODY, f.seed);
    httpd_stall(server, f.route, STALL, 1);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_status(f.g), 0x080);
    CHECK_HR(qmgr_job_get_status(f.j, &s, &w, &t, &r), QMGR_S_OK);
    CHECK_EQ(s, QM_STATUS_JOB_INCOMPLETE);
    CHECK_EQ(w, 0);
    CHECK_EQ(t, 0);
    CHECK_EQ(r, 1);
    msg = (char *)SENTINEL_PTR;
    CHECK_HR(qmgr_job_get_error_message(f.j, &msg), QMGR_S_FALSE);
    CHECK(msg == NULL);
    wait_stalled(f.route);
    httpd_release(server, f.route);
    CHECK_EQ(qm_wait(f.g), 0x140);
    CHECK(check_file_matches(f.local, f.seed, BODY));
    CHECK_EQ(qm_job_retries(f.j), 1);
    unmake(&f);

    /* COMPLETE: S_OK no-op. */
    make(&f, COMPLETE);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_status(f.g), 0x140);
    CHECK_EQ(httpd_count(server, f.route, "requests"), 1);
    unmake(&f);

    /* CANCELLED: QM_E_INVALID_STATE. */
    make(&f, CANCELLED);
    CHECK_ERR(qmgr_group_resume_group(f.g), QM_E_INVALID_STATE, NULL);
    unmake(&f);
}

static void row_suspend(void) {
    check_section("D3 row: SuspendGroup (D3, D4: partial data kept and resumed)");
    fixture f;
    uint64_t done = 0, total = 0;
    uint32_t fs = 0;

    make(&f, SUSPENDED);
    CHECK_HR(qmgr_group_suspend_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_status(f.g), 0x180);
    CHECK_EQ(httpd_count(server, f.route, "requests"), 0);
    unmake(&f);

    /* RUNNING → SUSPENDED: the transfer stops, the temporary file stays, the next resume
       asks for the rest with a Range request. */
    make(&f, RUNNING);
    CHECK_HR(qmgr_group_suspend_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_status(f.g), 0x180);
    CHECK_HR(qmgr_job_get_file_progress(f.j, 0, &done, &total, &fs), QMGR_S_OK);
    CHECK_EQ(done, STALL);
    CHECK_EQ(total, BODY);
    CHECK_EQ(fs, QM_STATUS_FILE_INCOMPLETE);
    CHECK(!check_exists(f.local)); /* nothing at the final name (D4) */
    CHECK_EQ(check_count_entries(f.dir), 1); /* the hidden temporary file */
    {
        DIR *d = opendir(f.dir);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                CHECK(e->d_name[0] == '.');
            }
        }
        if (d) {
            closedir(d);
        }
    }
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_wait(f.g), 0x140);
    CHECK_EQ(httpd_count(server, f.route, "requests"), 2);
    CHECK_EQ(httpd_last_range(server, f.route), STALL);
    CHECK(check_file_matches(f.local, f.seed, BODY));
    CHECK_EQ(check_count_entries(f.dir), 1); /* only the final file */
    httpd_release(server, f.route); /* the first, abandoned answer may end now */
    unmake(&f);

    make(&f, ERROR);
    CHECK_HR(qmgr_group_suspend_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_status(f.g), 0x380);
    unmake(&f);

    make(&f, COMPLETE);
    CHECK_HR(qmgr_group_suspend_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_status(f.g), 0x140);
    unmake(&f);

    make(&f, CANCELLED);
    CHECK_ERR(qmgr_group_suspend_group(f.g), QM_E_INVALID_STATE, NULL);
    unmake(&f);
}

static void row_cancel(void) {
    check_section("D3 row: CancelGroup (D4: committed files stay, temporary files go)");
    for (int s = 0; s < NSTATES; s++) {
        fixture f;
        make(&f, s);
        qmgr_guid id, got;
        CHECK_HR(qmgr_group_get_group_id(f.g, &id), QMGR_S_OK);
        if (s == CANCELLED) {
            CHECK_ERR(qmgr_group_cancel_group(f.g), QM_E_INVALID_STATE, NULL);
        } else {
            CHECK_HR(qmgr_group_cancel_group(f.g), QMGR_S_OK);
        }
        qmgr_group *again = (qmgr_group *)SENTINEL_PTR;
        CHECK_HR(qmgr_manager_get_group(mgr, id, &again), QM_E_ITEM_NOT_FOUND);
        CHECK_HR(qmgr_group_get_group_id(f.g, &got), QMGR_S_OK);
        CHECK(qm_guid_eq(&got, &id));
        if (s == RUNNING) {
            CHECK_WAIT(check_count_entries(f.dir) == 0, CHECK_DEADLINE_MS); /* temporary file deleted */
            httpd_release(server, f.route);
        }
        if (s == COMPLETE) {
            CHECK(check_file_matches(f.local, f.seed, 5000));
        } else {
            CHECK(!check_exists(f.local));
        }
        unmake(&f);
    }
}

static void row_set_prop_foreground(void) {
    check_section("D3 row: SetProp, SwitchToForeground");
    for (int s = 0; s < NSTATES; s++) {
        fixture f;
        make(&f, s);
        qmgr_hresult expected = s == CANCELLED ? QM_E_INVALID_STATE : QMGR_S_OK;
        if (!CHECK_HR(qm_set_str(f.g, GROUPPROP_DISPLAYNAME, "renamed"), expected) ||
            !CHECK_HR(qm_set_int(f.g, GROUPPROP_PRIORITY, QMGR_VT_I4, 2), expected) ||
            !CHECK_HR(qm_set_int(f.g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, QM_NOTIFY_GROUP_DONE), expected) ||
            !CHECK_HR(qmgr_group_switch_to_foreground(f.g), expected) ||
            !CHECK_HR(qmgr_job_switch_to_foreground(f.j), expected)) {
            check_note("in state %s", state_names[s]);
        }
        if (s != CANCELLED) {
            qmgr_variant v;
            CHECK_HR(qmgr_group_get_prop(f.g, GROUPPROP_DISPLAYNAME, &v), QMGR_S_OK);
            CHECK_STR(v.str_val, "renamed");
            qmgr_variant_clear(&v);
            if (!CHECK_EQ(qm_status(f.g), state_words[s] | QM_STATUS_GROUP_FOREGROUND)) {
                check_note("foreground in state %s", state_names[s]);
            }
            CHECK((qm_job_status(f.j) & QM_STATUS_JOB_FOREGROUND) != 0);
        }
        unmake(&f);
    }
}

/* Every getter answers in the four live states; a cancelled group/job answers only its id. */
static void row_getters(void) {
    check_section("D3 row: getters (D12: cancelled objects answer only get_group_id/get_job_id)");
    for (int s = 0; s < NSTATES; s++) {
        fixture f;
        make(&f, s);
        int live = s != CANCELLED;
        qmgr_hresult ok = live ? QMGR_S_OK : QM_E_INVALID_STATE;
        qmgr_hresult msg_ok = live ? (s == ERROR ? QMGR_S_OK : QMGR_S_FALSE) : QM_E_INVALID_STATE;
        qmgr_variant v;
        uint32_t a = 0, b = 0, c = 0, d = 0;
        uint64_t x = 0, y = 0;
        qmgr_guid id, jid;
        qmgr_job *k = NULL;
        qmgr_enum_jobs *e = NULL;
        void *unk = SENTINEL_PTR;
        char *msg = NULL;
        qmgr_fileset_info info;
        qmgr_callback1 cb;
        memset(&cb, 0, sizeof cb);
        int failures_before = check_g.failed;

        CHECK_HR(qmgr_job_get_job_id(f.j, &jid), QMGR_S_OK);
        CHECK_HR(qmgr_group_get_group_id(f.g, &id), QMGR_S_OK);
        CHECK_HR(qmgr_group_get_prop(f.g, GROUPPROP_PRIORITY, &v), ok);
        CHECK_HR(qmgr_group_get_progress(f.g, QM_PROGRESS_SIZE_DONE, &a), ok);
        CHECK_HR(qmgr_group_get_status(f.g, &a, &b), ok);
        if (CHECK_HR(qmgr_group_get_job(f.g, jid, &k), ok)) {
            qmgr_job_release(k);
        }
        CHECK_HR(qmgr_group_get_size(f.g, &a), ok);
        if (CHECK_HR(qmgr_group_enum_jobs(f.g, 0, &e), ok)) {
            qmgr_enum_jobs_release(e);
        }
        CHECK_HR(qmgr_group_query_new_job_interface(f.g, &IID_IBackgroundCopyJob1, &unk),
                 live ? QMGR_E_NOINTERFACE : QM_E_INVALID_STATE);
        CHECK(unk == NULL);
        CHECK_HR(qmgr_group_get_progress64(f.g, &x, &y), ok);
        CHECK_HR(qmgr_group_wait(f.g, 0, &a), live ? (s == RUNNING ? QMGR_S_FALSE : QMGR_S_OK) : QM_E_INVALID_STATE);
        CHECK_HR(qmgr_group_set_notification_pointer(f.g, &IID_IBackgroundCopyCallback1, &cb), ok);
        CHECK_HR(qmgr_group_set_notification_pointer(f.g, &IID_IBackgroundCopyCallback1, NULL), ok);
        CHECK_HR(qmgr_job_get_progress(f.j, QM_PROGRESS_PERCENT_DONE, &a), ok);
        CHECK_HR(qmgr_job_get_status(f.j, &a, &b, &c, &d), ok);
        if (CHECK_HR(qmgr_job_get_file(f.j, 0, &info), ok)) {
            qmgr_fileset_info_clear(&info);
        }
        CHECK_HR(qmgr_job_get_file_count(f.j, &a), ok);
        CHECK_HR(qmgr_job_get_file_progress(f.j, 0, &x, &y, &a), ok);
        CHECK_HR(qmgr_job_get_progress64(f.j, &x, &y), ok);
        if (CHECK_HR(qmgr_job_get_error_message(f.j, &msg), msg_ok)) {
            CHECK(s == ERROR ? (msg != NULL && msg[0] != '\0') : msg == NULL);
        }
        qmgr_string_free(msg);
        if (live) {
            qmgr_variant_clear(&v);
        } else {
            /* and the state-changing methods (D12: a second CancelGroup too) */
            CHECK_ERR(qmgr_group_cancel_group(f.g), QM_E_INVALID_STATE, NULL);
            CHECK_ERR(qmgr_group_resume_group(f.g), QM_E_INVALID_STATE, NULL);
            CHECK_ERR(qmgr_group_suspend_group(f.g), QM_E_INVALID_STATE, NULL);
            CHECK_ERR(qmgr_job_cancel_job(f.j), QM_E_INVALID_STATE, NULL);
        }
        if (check_g.failed != failures_before) {
            check_note("getters in state %s", state_names[s]);
        }
        unmake(&f);
    }
}

static void row_cancel_job(void) {
    check_section("D3/D1: CancelJob in every state of its group");
    fixture f;
    char route2[64], local2[PATH_MAX];
    unsigned seed2 = 0;

    make(&f, SUSPENDED);
    CHECK_HR(qmgr_job_cancel_job(f.j), QMGR_S_OK);
    CHECK_EQ(qm_status(f.g), 0x180);
    CHECK_ERR(qmgr_group_resume_group(f.g), BG_E_EMPTY, NULL); /* nothing left to download */
    unmake(&f);

    /* RUNNING: the running job's transfer is aborted, its partial data deleted, and the
       group goes on with its next job (D1). */
    make(&f, SUSPENDED);
    qmgr_job *k = qm_job(f.g);
    add_http_file(&f, k, "second.bin", route2, local2, 200, 3000, UINT64_MAX, &seed2);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    wait_stalled(f.route);
    CHECK_WAIT(qm_job_done(f.j) == STALL, CHECK_DEADLINE_MS);
    CHECK_EQ(httpd_count(server, route2, "requests"), 0); /* jobs run one after another */
    CHECK_HR(qmgr_job_cancel_job(f.j), QMGR_S_OK);
    CHECK_EQ(qm_wait(f.g), 0x140);
    httpd_release(server, f.route);
    CHECK(check_file_matches(local2, seed2, 3000));
    CHECK(!check_exists(f.local));
    CHECK_WAIT(check_count_entries(f.dir) == 1, CHECK_DEADLINE_MS); /* only second.bin */
    CHECK_EQ(qm_job_index(f.g), 0); /* the only job left */
    qmgr_job_release(k);
    unmake(&f);

    make(&f, ERROR);
    CHECK_HR(qmgr_job_cancel_job(f.j), QMGR_S_OK);
    unmake(&f);

    make(&f, COMPLETE);
    CHECK_HR(qmgr_job_cancel_job(f.j), QMGR_S_OK);
    CHECK(check_file_matches(f.local, f.seed, 5000)); /* finished files stay */
    unmake(&f);

    make(&f, CANCELLED);
    CHECK_ERR(qmgr_job_cancel_job(f.j), QM_E_INVALID_STATE, NULL);
    unmake(&f);
}

typedef struct waiter {
    qmgr_group *g;
    qmgr_hresult hr;
    uint32_t status;
    int done;
    pthread_mutex_t lock;
} waiter;

static void *wait_thread(void *arg) {
    waiter *w = (waiter *)arg;
    uint32_t s = QM_BAD;
    qmgr_hresult hr = qmgr_group_wait(w->g, 0xFFFFFFFFu, &s);
    pthread_mutex_lock(&w->lock);
    w->hr = hr;
    w->status = s;
    w->done = 1;
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int waiter_done(waiter *w) {
    pthread_mutex_lock(&w->lock);
    int d = w->done;
    pthread_mutex_unlock(&w->lock);
    return d;
}

static void row_wait(void) {
    check_section("qmgr_group_wait in every state (C-API.md; D12)");
    fixture f;
    uint32_t s;
    for (int st = 0; st < NSTATES; st++) {
        if (st == RUNNING) {
            continue;
        }
        make(&f, st);
        s = QM_BAD;
        if (st == CANCELLED) {
            CHECK_ERR(qmgr_group_wait(f.g, 0, &s), QM_E_INVALID_STATE, NULL);
            CHECK_ERR(qmgr_group_wait(f.g, 0xFFFFFFFFu, &s), QM_E_INVALID_STATE, NULL);
            CHECK_EQ(s, QM_BAD);
        } else {
            CHECK_HR(qmgr_group_wait(f.g, 0, &s), QMGR_S_OK);
            CHECK_EQ(s, state_words[st]);
            s = QM_BAD;
            CHECK_HR(qmgr_group_wait(f.g, 0xFFFFFFFFu, &s), QMGR_S_OK); /* at once */
            CHECK_EQ(s, state_words[st]);
        }
        unmake(&f);
    }

    /* RUNNING: 0 polls, a timeout gives S_FALSE with the current word. */
    make(&f, RUNNING);
    s = QM_BAD;
    CHECK_HR(qmgr_group_wait(f.g, 0, &s), QMGR_S_FALSE);
    CHECK_EQ(s, 0x080);
    s = QM_BAD;
    int64_t t0 = check_now_ms();
    CHECK_HR(qmgr_group_wait(f.g, 200, &s), QMGR_S_FALSE);
    CHECK(check_now_ms() - t0 >= 190);
    CHECK_EQ(s, 0x080);
    CHECK_ERR(qmgr_group_wait(f.g, 0, NULL), QMGR_E_POINTER, "status_out");
    CHECK_ERR(qmgr_group_wait(NULL, 0, &s), QMGR_E_POINTER, "group");

    /* Suspended while waiting → S_OK with the suspended word. */
    waiter w;
    pthread_t th;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.lock, NULL);
    w.g = f.g;
    pthread_create(&th, NULL, wait_thread, &w);
    CHECK_HR(qmgr_group_suspend_group(f.g), QMGR_S_OK);
    CHECK_WAIT(waiter_done(&w), CHECK_DEADLINE_MS);
    pthread_join(th, NULL);
    CHECK_HR(w.hr, QMGR_S_OK);
    CHECK_EQ(w.status, 0x180);

    /* Cancelled while waiting → QM_E_INVALID_STATE (D12). */
    httpd_stall(server, f.route, STALL, 1);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_WAIT(httpd_count(server, f.route, "requests") == 2 && httpd_count(server, f.route, "stalled") == 2,
               CHECK_DEADLINE_MS);
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.lock, NULL);
    w.g = f.g;
    pthread_create(&th, NULL, wait_thread, &w);
    /* Give the waiter a chance to block first; either order must give INVALID_STATE. */
    check_sleep_ms(50);
    CHECK(!waiter_done(&w));
    CHECK_HR(qmgr_group_cancel_group(f.g), QMGR_S_OK);
    CHECK_WAIT(waiter_done(&w), CHECK_DEADLINE_MS);
    pthread_join(th, NULL);
    CHECK_HR(w.hr, QM_E_INVALID_STATE);
    pthread_mutex_destroy(&w.lock);
    unmake(&f);
}

/* ---- D1: order, job index, aggregation -------------------------------------------------- */

static void test_order_and_aggregation(void) {
    check_section("D1: jobs in creation order, files in order, job index, aggregated progress/size");
    fixture f;
    memset(&f, 0, sizeof f);
    check_fmt(f.dir, sizeof f.dir, "%s/dest/order", root);
    CHECK(mkdir(f.dir, 0700) == 0);
    f.g = qm_group(mgr);
    qmgr_job *jobs[3];
    char routes[5][64], locals[5][PATH_MAX];
    unsigned seeds[5];
    static const uint64_t sizes[5] = {1000, 20000, 3333, 0, 70000};
    static const int job_of[5] = {0, 0, 1, 2, 2};
    for (int i = 0; i < 3; i++) {
        jobs[i] = qm_job(f.g);
    }
    for (int i = 0; i < 5; i++) {
        char name[32];
        check_fmt(name, sizeof name, "f%d.bin", i);
        add_http_file(&f, jobs[job_of[i]], name, routes[i], locals[i], 200, sizes[i], i == 2 ? 1000 : UINT64_MAX,
                      &seeds[i]);
    }
    int log_start = httpd_log_size(server);
    CHECK_EQ(qm_job_index(f.g), 0);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);

    /* While job 1's file stalls: job index 1, job 0 complete, aggregated bytes. */
    wait_stalled(routes[2]);
    CHECK_WAIT(qm_job_done(jobs[1]) == 1000, CHECK_DEADLINE_MS);
    /* Job 0's files are committed beside the transfer, at the latest once it stalls (D4). */
    CHECK_WAIT(qm_job_index(f.g) == 1, CHECK_DEADLINE_MS);
    CHECK_EQ(qm_status(f.g), 0x080);
    CHECK_EQ(qm_job_status(jobs[0]), QM_STATUS_JOB_COMPLETE);
    CHECK_EQ(qm_job_status(jobs[1]), QM_STATUS_JOB_INCOMPLETE);
    CHECK_EQ(qm_job_status(jobs[2]), QM_STATUS_JOB_INCOMPLETE);
    CHECK_EQ(qm_group_done(f.g), 1000 + 20000 + 1000);
    uint32_t v = 0;
    CHECK_HR(qmgr_job_get_progress(jobs[0], QM_PROGRESS_PERCENT_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, 100);
    CHECK_HR(qmgr_job_get_progress(jobs[1], QM_PROGRESS_PERCENT_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, 1000 * 100 / 3333);
    CHECK_HR(qmgr_job_get_progress(jobs[1], QM_PROGRESS_SIZE_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, 1000);
    CHECK_HR(qmgr_group_get_size(f.g, &v), QMGR_S_OK);
    CHECK_EQ(v, 0); /* job 2's sizes are not known yet (no hints) */
    CHECK(check_file_matches(locals[0], seeds[0], sizes[0]));
    CHECK(check_file_matches(locals[1], seeds[1], sizes[1]));
    CHECK_EQ(httpd_count(server, routes[3], "requests"), 0);
    httpd_release(server, routes[2]);
    CHECK_EQ(qm_wait(f.g), 0x140);

    /* Request order = creation order of jobs (requests of this group only: a transfer of an
       earlier test may still knock). The files of one job may be fetched at once, over
       several connections (DECISIONS D16): their requests may arrive in any order. */
    int seen = 0, last_job = 0;
    for (int i = log_start; i < httpd_log_size(server); i++) {
        char got[256];
        httpd_log_at(server, i, got, sizeof got);
        for (int k = 0; k < 5; k++) {
            if (strcmp(got, routes[k]) == 0) {
                if (!CHECK(job_of[k] >= last_job)) {
                    check_note("request %d was for file %d of job %d, after one of job %d", seen, k, job_of[k],
                               last_job);
                }
                last_job = job_of[k];
                seen++;
            }
        }
    }
    CHECK_EQ(seen, 5);
    for (int i = 0; i < 5; i++) {
        CHECK(check_file_matches(locals[i], seeds[i], sizes[i]));
    }
    uint64_t total_size = 0;
    for (int i = 0; i < 5; i++) {
        total_size += sizes[i];
    }
    uint64_t done = 0, total = 0;
    CHECK_HR(qmgr_group_get_progress64(f.g, &done, &total), QMGR_S_OK);
    CHECK_EQ(done, total_size);
    CHECK_EQ(total, total_size);
    CHECK_HR(qmgr_group_get_size(f.g, &v), QMGR_S_OK);
    CHECK_EQ(v, total_size);
    CHECK_HR(qmgr_group_get_progress(f.g, QM_PROGRESS_PERCENT_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, 100);
    CHECK_HR(qmgr_group_get_progress(f.g, QM_PROGRESS_SIZE_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, total_size);
    CHECK_EQ(qm_job_index(f.g), 2); /* the last job once complete */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(qm_job_status(jobs[i]), QM_STATUS_JOB_COMPLETE);
        CHECK_HR(qmgr_job_get_progress(jobs[i], QM_PROGRESS_PERCENT_DONE, &v), QMGR_S_OK);
        CHECK_EQ(v, 100);
    }
    for (int i = 0; i < 5; i++) {
        uint32_t fs = 0;
        uint32_t idx = (uint32_t)(i == 1 ? 1 : (i == 4 ? 1 : 0));
        CHECK_HR(qmgr_job_get_file_progress(jobs[job_of[i]], idx, &done, &total, &fs), QMGR_S_OK);
        CHECK_EQ(done, sizes[i]);
        CHECK_EQ(total, sizes[i]);
        CHECK_EQ(fs, QM_STATUS_FILE_COMPLETE);
    }
    /* The zero-byte file is complete and exists, empty (reference Q32). */
    CHECK(check_file_matches(locals[3], seeds[3], 0));
    for (int i = 0; i < 3; i++) {
        qmgr_job_release(jobs[i]);
    }
    CHECK_HR(qmgr_group_cancel_group(f.g), QMGR_S_OK);
    for (int i = 0; i < 5; i++) {
        CHECK(check_file_matches(locals[i], seeds[i], sizes[i])); /* committed files stay */
    }
    CHECK_EQ(qmgr_group_release(f.g), 0);
}

static void test_hints_and_empty_jobs(void) {
    check_section("D1: size hints give way to real sizes; job index with a job without files");
    fixture f;
    memset(&f, 0, sizeof f);
    check_fmt(f.dir, sizeof f.dir, "%s/dest/hints", root);
    CHECK(mkdir(f.dir, 0700) == 0);
    f.g = qm_group(mgr);
    qmgr_job *empty = qm_job(f.g); /* job 0: no files */
    qmgr_job *j = qm_job(f.g);     /* job 1 */
    char route[64], local[PATH_MAX], url[256];
    unsigned seed = (unsigned)++serial;
    check_fmt(route, sizeof route, "/r/%d", serial);
    httpd_route(server, route, 200, 3000, seed);
    httpd_url(server, route, url, sizeof url);
    check_fmt(local, sizeof local, "%s/hinted.bin", f.dir);
    CHECK_HR(qm_add(j, url, local, 10), QMGR_S_OK);
    uint32_t v = 0;
    CHECK_HR(qmgr_group_get_size(f.g, &v), QMGR_S_OK);
    CHECK_EQ(v, 10);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_wait(f.g), 0x140);
    CHECK_HR(qmgr_group_get_size(f.g, &v), QMGR_S_OK);
    CHECK_EQ(v, 3000); /* the server's size replaced the hint */
    CHECK_HR(qmgr_group_get_progress(f.g, QM_PROGRESS_PERCENT_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, 100);
    CHECK(check_file_matches(local, seed, 3000));
    qmgr_fileset_info info;
    CHECK_HR(qmgr_job_get_file(j, 0, &info), QMGR_S_OK);
    CHECK_EQ(info.size_hint, 10); /* GetFile returns the hint as given */
    qmgr_fileset_info_clear(&info);
    /* D1: "the last job's index once the group is complete". */
    if (!CHECK_EQ(qm_job_index(f.g), 1)) {
        check_note("job index of a complete group whose first job has no files");
    }
    qmgr_job_release(empty);
    qmgr_job_release(j);
    unmake(&f);
}

static void test_file_urls(void) {
    check_section("file:// transfers (QM_PROTOCOL_SMB, D1): complete, fatal error, retry after fixing");
    char src_dir[PATH_MAX], src[PATH_MAX], url[PATH_MAX + 8], out[PATH_MAX], missing[PATH_MAX + 16];
    check_fmt(src_dir, sizeof src_dir, "%s/sources", root);
    CHECK(mkdir(src_dir, 0700) == 0 || errno == EEXIST);
    qm_source(src_dir, "big.bin", 77, 700000, src, url);
    fixture f;
    memset(&f, 0, sizeof f);
    check_fmt(f.dir, sizeof f.dir, "%s/dest/file-urls", root);
    CHECK(mkdir(f.dir, 0700) == 0);
    f.g = qm_file_group(mgr);
    f.j = qm_job(f.g);
    check_fmt(out, sizeof out, "%s/big.bin", f.dir);
    CHECK_HR(qm_add(f.j, url, out, 0), QMGR_S_OK);
    check_fmt(missing, sizeof missing, "file://%s/missing.bin", src_dir);
    char out2[PATH_MAX];
    check_fmt(out2, sizeof out2, "%s/missing.bin", f.dir);
    CHECK_HR(qm_add(f.j, missing, out2, 0), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_wait(f.g), 0x380);
    CHECK(check_file_matches(out, 77, 700000)); /* file 0 was committed before file 1 failed */
    uint32_t s = 0, w = 0, t = 0, r = 0;
    CHECK_HR(qmgr_job_get_status(f.j, &s, &w, &t, &r), QMGR_S_OK);
    CHECK_EQ(s, QM_STATUS_JOB_INCOMPLETE | QM_STATUS_JOB_ERROR);
    CHECK(w != 0);
    CHECK_EQ(t, 0); /* not an HTTP failure */
    CHECK_EQ(r, 1);
    uint32_t fs = 0;
    uint64_t done = 0, total = 0;
    CHECK_HR(qmgr_job_get_file_progress(f.j, 0, &done, &total, &fs), QMGR_S_OK);
    CHECK_EQ(fs, QM_STATUS_FILE_COMPLETE);
    CHECK_HR(qmgr_job_get_file_progress(f.j, 1, &done, &total, &fs), QMGR_S_OK);
    CHECK_EQ(fs, QM_STATUS_FILE_INCOMPLETE);
    char *msg = NULL;
    CHECK_HR(qmgr_job_get_error_message(f.j, &msg), QMGR_S_OK);
    CHECK(msg != NULL && strstr(msg, "missing.bin") != NULL);
    qmgr_string_free(msg);
    /* Fix the cause and resume: only the failed file is fetched (finished files are kept). */
    check_fmt(src, sizeof src, "%s/missing.bin", src_dir);
    CHECK(check_write_file(src, 78, 1234) == 0);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_wait(f.g), 0x140);
    CHECK(check_file_matches(out2, 78, 1234));
    CHECK_EQ(qm_job_retries(f.j), 1);
    CHECK_EQ(qm_job_status(f.j), QM_STATUS_JOB_COMPLETE);
    unmake(&f);
}

static uint32_t time_done(qmgr_group *g) {
    uint32_t v = QM_BAD;
    CHECK_HR(qmgr_group_get_progress(g, QM_PROGRESS_TIME_DONE, &v), QMGR_S_OK);
    return v;
}

static void test_active_time(void) {
    check_section("D1: QM_PROGRESS_TIME_DONE counts active transfer time, not suspended time");
    fixture f;
    make(&f, RUNNING);
    int64_t t0 = check_now_ms();
    uint32_t a = time_done(f.g);
    /* Measuring time needs time: the transfer stays active (stalled) for 600 ms. */
    while (check_now_ms() < t0 + 600) {
        check_sleep_ms(20);
    }
    uint32_t b = time_done(f.g);
    CHECK(b >= a + 500); /* a stalled transfer is active: its time counts while it stalls */
    CHECK_HR(qmgr_group_suspend_group(f.g), QMGR_S_OK);
    /* Suspending stops the clock at once, even while the transfer winds down. */
    uint32_t c = time_done(f.g);
    CHECK(c >= b);
    uint32_t jt = QM_BAD;
    CHECK_HR(qmgr_job_get_progress(f.j, QM_PROGRESS_TIME_DONE, &jt), QMGR_S_OK);
    CHECK_EQ(jt, c); /* one job: the group's time is the job's */
    t0 = check_now_ms();
    while (check_now_ms() < t0 + 300) {
        check_sleep_ms(20);
    }
    CHECK_EQ(time_done(f.g), c); /* suspended time is excluded */
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_wait(f.g), 0x140);
    CHECK(time_done(f.g) >= c);
    httpd_release(server, f.route);
    unmake(&f);
}

/* ---- D5 / D11: transient and fatal errors ------------------------------------------------ */

static void test_errors(void) {
    check_section("D5/D11: transient errors keep RUNNING and count retries; fatal ones stop in ERROR");
    fixture f;
    uint32_t s = 0, w = 0, t = 0, r = 0;
    char *msg = NULL;

    /* 503 is transient: RUNNING (no ERROR bit), a retry counted and reported, nothing fatal. */
    CHECK_HR(qmgr_manager_set_option(mgr, "min_retry_delay_ms", "600000"), QMGR_S_OK);
    memset(&f, 0, sizeof f);
    check_fmt(f.dir, sizeof f.dir, "%s/dest/transient", root);
    CHECK(mkdir(f.dir, 0700) == 0);
    new_route(&f, 503, 0, UINT64_MAX);
    f.g = qm_group(mgr);
    f.j = qm_job(f.g);
    char url[256];
    httpd_url(server, f.route, url, sizeof url);
    check_fmt(f.local, sizeof f.local, "%s/t.bin", f.dir);
    CHECK_HR(qm_add(f.j, url, f.local, 0), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_WAIT(qm_job_retries(f.j) == 1, CHECK_DEADLINE_MS);
    CHECK_EQ(qm_status(f.g), 0x080);
    CHECK_HR(qmgr_job_get_status(f.j, &s, &w, &t, &r), QMGR_S_OK);
    CHECK_EQ(s, QM_STATUS_JOB_INCOMPLETE); /* transient errors never set an ERROR bit */
    CHECK_EQ(r, 1);
    CHECK_HR(qmgr_job_get_error_message(f.j, &msg), QMGR_S_OK);
    CHECK(msg != NULL && msg[0] != '\0');
    qmgr_string_free(msg);
    CHECK_EQ(httpd_count(server, f.route, "requests"), 1);
    CHECK_HR(qmgr_group_wait(f.g, 0, &s), QMGR_S_FALSE);
    /* Suspend and resume: a new attempt at once, and the counter is never reset. */
    CHECK_HR(qmgr_group_suspend_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_job_retries(f.j), 1);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_WAIT(qm_job_retries(f.j) == 2, CHECK_DEADLINE_MS);
    CHECK_EQ(qm_status(f.g), 0x080);
    unmake(&f);

    /* no_progress_timeout_ms = 0: every error is fatal (D5). */
    CHECK_HR(qmgr_manager_set_option(mgr, "no_progress_timeout_ms", "0"), QMGR_S_OK);
    memset(&f, 0, sizeof f);
    check_fmt(f.dir, sizeof f.dir, "%s/dest/no-progress", root);
    CHECK(mkdir(f.dir, 0700) == 0);
    new_route(&f, 503, 0, UINT64_MAX);
    f.g = qm_group(mgr);
    f.j = qm_job(f.g);
    httpd_url(server, f.route, url, sizeof url);
    check_fmt(f.local, sizeof f.local, "%s/t.bin", f.dir);
    CHECK_HR(qm_add(f.j, url, f.local, 0), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_EQ(qm_wait(f.g), 0x380);
    CHECK_HR(qmgr_job_get_status(f.j, &s, &w, &t, &r), QMGR_S_OK);
    CHECK_EQ(s, QM_STATUS_JOB_INCOMPLETE | QM_STATUS_JOB_ERROR);
    CHECK_EQ(t, 503);
    CHECK_EQ(w, BG_E_HTTP_ERROR_BASE | 503u);
    CHECK_EQ(r, 1);
    unmake(&f);
    CHECK_HR(qmgr_manager_set_option(mgr, "no_progress_timeout_ms", "1209600000"), QMGR_S_OK);

    /* Fatal HTTP statuses (D5): 404, 403, 410. */
    static const int fatal[] = {404, 403, 410};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        memset(&f, 0, sizeof f);
        check_fmt(f.dir, sizeof f.dir, "%s/dest/fatal-%d", root, fatal[i]);
        CHECK(mkdir(f.dir, 0700) == 0);
        new_route(&f, fatal[i], 0, UINT64_MAX);
        f.g = qm_group(mgr);
        f.j = qm_job(f.g);
        httpd_url(server, f.route, url, sizeof url);
        check_fmt(f.local, sizeof f.local, "%s/t.bin", f.dir);
        CHECK_HR(qm_add(f.j, url, f.local, 0), QMGR_S_OK);
        CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
        CHECK_EQ(qm_wait(f.g), 0x380);
        CHECK_HR(qmgr_job_get_status(f.j, &s, &w, &t, &r), QMGR_S_OK);
        CHECK_EQ(s, QM_STATUS_JOB_INCOMPLETE | QM_STATUS_JOB_ERROR);
        CHECK_EQ(t, (uint32_t)fatal[i]);
        CHECK_EQ(w, BG_E_HTTP_ERROR_BASE | (uint32_t)fatal[i]);
        CHECK_EQ(r, 1);
        CHECK_EQ(httpd_count(server, f.route, "requests"), 1); /* no retry of a fatal error */
        CHECK(!check_exists(f.local));
        unmake(&f);
    }
    /* Transient errors are retried by themselves after the retry delay; once the server
       answers, the file completes (the retry counter stays). */
    CHECK_HR(qmgr_manager_set_option(mgr, "min_retry_delay_ms", "100"), QMGR_S_OK);
    memset(&f, 0, sizeof f);
    check_fmt(f.dir, sizeof f.dir, "%s/dest/retried", root);
    CHECK(mkdir(f.dir, 0700) == 0);
    new_route(&f, 503, 0, UINT64_MAX);
    f.g = qm_group(mgr);
    f.j = qm_job(f.g);
    httpd_url(server, f.route, url, sizeof url);
    check_fmt(f.local, sizeof f.local, "%s/t.bin", f.dir);
    CHECK_HR(qm_add(f.j, url, f.local, 0), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(f.g), QMGR_S_OK);
    CHECK_WAIT(qm_job_retries(f.j) >= 2, CHECK_DEADLINE_MS);
    CHECK(httpd_count(server, f.route, "requests") >= 2);
    CHECK_EQ(qm_status(f.g), 0x080);
    httpd_route(server, f.route, 200, 4321, f.seed);
    CHECK_EQ(qm_wait(f.g), 0x140);
    CHECK(check_file_matches(f.local, f.seed, 4321));
    CHECK(qm_job_retries(f.j) >= 2);
    CHECK_EQ(qm_job_status(f.j), QM_STATUS_JOB_COMPLETE);
    unmake(&f);
    CHECK_HR(qmgr_manager_set_option(mgr, "min_retry_delay_ms", "5000"), QMGR_S_OK);
}

/* ---- D1 scheduling ------------------------------------------------------------------------ */

static void test_scheduling(void) {
    check_section("D1: scheduling (max_active_groups, FIFO, priority pre-emption keeps partial data)");
    CHECK_HR(qmgr_manager_set_option(mgr, "max_active_groups", "1"), QMGR_S_OK);
    fixture a, b, c;
    make(&a, SUSPENDED); /* priority 1 */
    make(&b, SUSPENDED); /* priority 1, created later */
    make(&c, SUSPENDED);
    CHECK_HR(qm_set_int(c.g, GROUPPROP_PRIORITY, QMGR_VT_I4, 0), QMGR_S_OK); /* high */
    CHECK_HR(qmgr_group_resume_group(a.g), QMGR_S_OK);
    wait_stalled(a.route);
    CHECK_WAIT(qm_job_done(a.j) == STALL, CHECK_DEADLINE_MS);
    CHECK_HR(qmgr_group_resume_group(b.g), QMGR_S_OK);
    CHECK_EQ(qm_status(b.g), 0x080); /* RUNNING while queued */
    CHECK_HR(qmgr_group_resume_group(c.g), QMGR_S_OK);
    /* c pre-empts a (the lowest-ranked running group: with one slot, c can only start once
       a's transfer stopped); b stays queued. */
    wait_stalled(c.route);
    CHECK_EQ(httpd_count(server, b.route, "requests"), 0);
    CHECK_EQ(qm_status(a.g), 0x080);
    uint64_t done = 0, total = 0;
    uint32_t fs = 0;
    CHECK_HR(qmgr_job_get_file_progress(a.j, 0, &done, &total, &fs), QMGR_S_OK);
    CHECK_EQ(done, STALL); /* a keeps its partial data */
    httpd_release(server, a.route); /* lets a's abandoned first answer end */
    httpd_release(server, c.route);
    CHECK_EQ(qm_wait(c.g), 0x140);
    /* Then a continues from its data (Range), before b. */
    CHECK_WAIT(httpd_count(server, a.route, "requests") == 2, CHECK_DEADLINE_MS);
    CHECK_EQ(httpd_last_range(server, a.route), STALL);
    CHECK_EQ(qm_wait(a.g), 0x140);
    CHECK(check_file_matches(a.local, a.seed, BODY));
    httpd_release(server, b.route);
    CHECK_EQ(qm_wait(b.g), 0x140);
    CHECK(check_file_matches(b.local, b.seed, BODY));
    CHECK(check_file_matches(c.local, c.seed, BODY));
    unmake(&a);
    unmake(&b);
    unmake(&c);

    /* Foreground groups are scheduled first. */
    make(&a, SUSPENDED);
    make(&b, SUSPENDED);
    CHECK_HR(qm_set_int(a.g, GROUPPROP_PRIORITY, QMGR_VT_I4, 0), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(a.g), QMGR_S_OK);
    wait_stalled(a.route);
    CHECK_HR(qmgr_group_switch_to_foreground(b.g), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(b.g), QMGR_S_OK);
    CHECK_EQ(qm_status(b.g), 0x480);
    wait_stalled(b.route);
    CHECK_EQ(qm_status(a.g), 0x080); /* pre-empted, still RUNNING */
    unmake(&a);
    unmake(&b);
    CHECK_HR(qmgr_manager_set_option(mgr, "max_active_groups", "16"), QMGR_S_OK);
}

/* ---- D6: a reopened queue continues its RUNNING groups ---------------------------------- */

static void test_reopen(void) {
    check_section("D6: RUNNING groups continue after the queue is reopened, from their data");
    fixture f;
    make(&f, RUNNING);
    qmgr_guid gid;
    CHECK_HR(qmgr_group_get_group_id(f.g, &gid), QMGR_S_OK);
    qmgr_job_release(f.j);
    CHECK_EQ(qmgr_group_release(f.g), 0);
    CHECK_EQ(qmgr_manager_release(mgr), 0); /* stops the transfer after a checkpoint */
    httpd_release(server, f.route);
    mgr = qm_open(queue);
    CHECK_WAIT(httpd_count(server, f.route, "requests") == 2, CHECK_DEADLINE_MS);
    CHECK_EQ(httpd_last_range(server, f.route), STALL);
    f.g = NULL;
    CHECK_HR(qmgr_manager_get_group(mgr, gid, &f.g), QMGR_S_OK);
    CHECK(f.g != NULL);
    if (!f.g) {
        return;
    }
    CHECK_EQ(qm_wait(f.g), 0x140);
    CHECK(check_file_matches(f.local, f.seed, BODY));
    qmgr_enum_jobs *e = NULL;
    qmgr_guid jid;
    CHECK_HR(qmgr_group_enum_jobs(f.g, 0, &e), QMGR_S_OK);
    CHECK_HR(qmgr_enum_jobs_next(e, 1, &jid, NULL), QMGR_S_OK);
    qmgr_enum_jobs_release(e);
    f.j = NULL;
    CHECK_HR(qmgr_group_get_job(f.g, jid, &f.j), QMGR_S_OK);
    unmake(&f);
}

int main(void) {
    check_begin("transfer");
    check_mkdtemp(root, "transfer");
    char dest[CHECK_DIR_MAX];
    check_fmt(queue, sizeof queue, "%s/queue", root);
    check_fmt(dest, sizeof dest, "%s/dest", root);
    CHECK(mkdir(dest, 0700) == 0);
    server = httpd_start();
    if (!server) {
        CHECK(server != NULL);
        return check_done();
    }
    mgr = qm_open(queue);
    qm_no_proxy(mgr);
    CHECK_HR(qmgr_manager_set_option(mgr, "max_active_groups", "16"), QMGR_S_OK);

    row_create_job_add_files();
    row_resume();
    row_suspend();
    row_cancel();
    row_set_prop_foreground();
    row_getters();
    row_cancel_job();
    row_wait();
    test_order_and_aggregation();
    test_hints_and_empty_jobs();
    test_file_urls();
    test_active_time();
    test_errors();
    test_scheduling();
    test_reopen();

    CHECK_EQ(qmgr_manager_release(mgr), 0);
    httpd_stop(server);
    check_rmtree(root);
    return check_done();
}
