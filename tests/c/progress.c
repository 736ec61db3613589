/*
 * progress.c — progress-threshold notifications (DECISIONS D1 "GROUPPROP_PROGRESSSIZE /
 * PROGRESSPERCENT / PROGRESSTIME", "QM_NOTIFY_USE_PROGRESSEX", D7, D9): OnProgress with the
 * matching QM_PROGRESS_* type and value, OnProgressEx with the 28-byte little-endian record
 * instead when QM_NOTIFY_USE_PROGRESSEX is set, nothing when every threshold is 0 or
 * notifications are disabled.
 */
#include "check.h"
#include "httpd.h"
#include "qm.h"
#include "recorder.h"

static char root[CHECK_ROOT_MAX];
static char src_dir[CHECK_DIR_MAX];
static char dest_dir[CHECK_DIR_MAX];
static qmgr_manager *mgr;
static int serial;

#define MIB (1024u * 1024u)

/* A file:// group: `njobs` jobs of `files` files of `size` bytes each (size hints given when
   `hinted`: the total is then known from the start). */
static int hinted;
static qmgr_group *file_group(uint32_t flags, int njobs, int files, uint32_t size, qmgr_job **jobs) {
    qmgr_group *g = qm_file_group(mgr);
    CHECK_HR(qm_set_int(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, flags), QMGR_S_OK);
    for (int j = 0; j < njobs; j++) {
        qmgr_job *job = qm_job(g);
        for (int f = 0; f < files; f++) {
            char name[64], src[PATH_MAX], url[PATH_MAX + 8], out[PATH_MAX];
            snprintf(name, sizeof name, "p%d.bin", ++serial);
            qm_source(src_dir, name, (unsigned)serial, size, src, url);
            check_fmt(out, sizeof out, "%s/%s", dest_dir, name);
            CHECK_HR(qm_add(job, url, out, hinted ? size : 0), QMGR_S_OK);
        }
        if (jobs) {
            jobs[j] = job;
        } else {
            qmgr_job_release(job);
        }
    }
    return g;
}

/* Runs `g` (callback `r` registered, QM_NOTIFY_GROUP_DONE set by the caller) to completion
   and waits for its GROUP_DONE OnStatus: progress notifications queued before it have been
   delivered by then. */
static void run_to_done(qmgr_group *g, recorder *r) {
    rec_register(g, r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK_WAIT(rec_count(r, EV_STATUS, QM_STATUS_GROUP_COMPLETE) == 1, CHECK_DEADLINE_MS);
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Common checks of a sequence of progress events of one type. Values are in the scope the
   callback's job argument names (D1, D9), so they never decrease within one job (or within
   the group when job is NULL). */
static void check_sequence(const rec_event *ev, int n, uint32_t type, const qmgr_guid *gid, uint32_t max_value) {
    for (int i = 0; i < n; i++) {
        int before = check_g.failed;
        CHECK_EQ(ev[i].type, type);
        CHECK(ev[i].group_ok && qm_guid_eq(&ev[i].group_id, gid));
        CHECK(!ev[i].has_job || ev[i].job_ok);
        for (int k = i - 1; k >= 0; k--) {
            int same_scope = ev[k].has_job == ev[i].has_job &&
                             (!ev[i].has_job || qm_guid_eq(&ev[k].job_id, &ev[i].job_id));
            if (same_scope && ev[k].type == ev[i].type) {
                CHECK(ev[i].value >= ev[k].value);
                break;
            }
        }
        CHECK(ev[i].value <= max_value);
        if (check_g.failed != before) {
            check_note("progress event %d: type %u value %u", i, (unsigned)ev[i].type, (unsigned)ev[i].value);
        }
    }
}

static void test_size_threshold(void) {
    check_section("GROUPPROP_PROGRESSSIZE: OnProgress(QM_PROGRESS_SIZE_DONE) every N bytes (D1)");
    recorder r;
    rec_init(&r);
    qmgr_group *g = file_group(QM_NOTIFY_GROUP_DONE, 1, 1, MIB, NULL);
    qmgr_guid gid = qm_group_id(g);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI4, 256 * 1024), QMGR_S_OK);
    run_to_done(g, &r);
    rec_event ev[REC_MAX];
    int n = rec_filter(&r, EV_PROGRESS, ev, REC_MAX);
    check_note("%d OnProgress(SIZE) calls for 1 MiB every 256 KiB", n);
    CHECK(n >= 1); /* best-effort: notifications not yet delivered may be merged */
    check_sequence(ev, n, QM_PROGRESS_SIZE_DONE, &gid, MIB);
    for (int i = 0; i < n; i++) {
        CHECK(ev[i].value >= 256 * 1024); /* the first notification comes after N bytes */
        CHECK(ev[i].file_index == 0 || ev[i].file_index == 0xFFFFFFFFu);
    }
    CHECK_EQ(rec_count(&r, EV_PROGRESS_EX, 0), 0);
    qm_finish(g);
    rec_destroy(&r);
}

static void test_percent_threshold(void) {
    check_section("GROUPPROP_PROGRESSPERCENT: OnProgress(QM_PROGRESS_PERCENT_DONE) every N percent (D1)");
    recorder r;
    rec_init(&r);
    hinted = 1;
    qmgr_group *g = file_group(QM_NOTIFY_GROUP_DONE, 2, 1, MIB, NULL);
    hinted = 0;
    qmgr_guid gid = qm_group_id(g);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_I4, 25), QMGR_S_OK);
    run_to_done(g, &r);
    rec_event ev[REC_MAX];
    int n = rec_filter(&r, EV_PROGRESS, ev, REC_MAX);
    check_note("%d OnProgress(PERCENT) calls for 2 MiB every 25%%", n);
    CHECK(n >= 1);
    check_sequence(ev, n, QM_PROGRESS_PERCENT_DONE, &gid, 100);
    for (int i = 0; i < n; i++) {
        CHECK(ev[i].value >= 25);
    }
    qm_finish(g);
    rec_destroy(&r);
}

static void test_time_threshold(httpd *server) {
    check_section("GROUPPROP_PROGRESSTIME: OnProgress(QM_PROGRESS_TIME_DONE) every N ms (D1)");
    recorder r;
    rec_init(&r);
    qmgr_group *g = qm_group(mgr);
    qmgr_guid gid = qm_group_id(g);
    CHECK_HR(qm_set_int(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, QM_NOTIFY_GROUP_DONE), QMGR_S_OK);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSTIME, QMGR_VT_I4, 100), QMGR_S_OK);
    qmgr_job *j = qm_job(g);
    char url[256], out[PATH_MAX];
    httpd_route(server, "/p/time", 200, 200000, 42);
    httpd_stall(server, "/p/time", 10000, 1);
    httpd_url(server, "/p/time", url, sizeof url);
    check_fmt(out, sizeof out, "%s/time.bin", dest_dir);
    CHECK_HR(qm_add(j, url, out, 0), QMGR_S_OK);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_WAIT(httpd_count(server, "/p/time", "stalled") == 1, CHECK_DEADLINE_MS);
    /* Time passes while the transfer is active but stalled. */
    int got = 0;
    WAIT_FOR(rec_count(&r, EV_PROGRESS, 0) >= 1, 3000, got);
    if (!got) {
        check_note("no OnProgress(TIME) while the transfer stalled for 3 s");
    }
    httpd_release(server, "/p/time");
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK_WAIT(rec_count(&r, EV_STATUS, QM_STATUS_GROUP_COMPLETE) == 1, CHECK_DEADLINE_MS);
    rec_event ev[REC_MAX];
    int n = rec_filter(&r, EV_PROGRESS, ev, REC_MAX);
    check_note("%d OnProgress(TIME) calls", n);
    CHECK(n >= 1);
    check_sequence(ev, n, QM_PROGRESS_TIME_DONE, &gid, 0xFFFFFFFFu);
    for (int i = 0; i < n; i++) {
        CHECK(ev[i].value >= 100);
    }
    qmgr_job_release(j);
    qm_finish(g);
    rec_destroy(&r);
}

static void test_progress_ex(void) {
    check_section("QM_NOTIFY_USE_PROGRESSEX: OnProgressEx with the D9 record instead of OnProgress");
    recorder r;
    rec_init(&r);
    qmgr_job *jobs[2];
    qmgr_group *g = file_group(QM_NOTIFY_GROUP_DONE | QM_NOTIFY_USE_PROGRESSEX, 2, 2, MIB / 2, jobs);
    qmgr_guid gid = qm_group_id(g), jid[2];
    CHECK_HR(qmgr_job_get_job_id(jobs[0], &jid[0]), QMGR_S_OK);
    CHECK_HR(qmgr_job_get_job_id(jobs[1], &jid[1]), QMGR_S_OK);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI4, 256 * 1024), QMGR_S_OK);
    run_to_done(g, &r);
    CHECK_EQ(rec_count(&r, EV_PROGRESS, 0), 0);
    rec_event ev[REC_MAX];
    int n = rec_filter(&r, EV_PROGRESS_EX, ev, REC_MAX);
    check_note("%d OnProgressEx calls for 2 MiB every 256 KiB", n);
    CHECK(n >= 1);
    check_sequence(ev, n, QM_PROGRESS_SIZE_DONE, &gid, 2 * MIB);
    uint64_t last_done = 0;
    for (int i = 0; i < n; i++) {
        int before = check_g.failed;
        CHECK(!ev[i].bytes_null);
        CHECK(ev[i].nbytes >= 28);
        if (ev[i].nbytes >= 28 && !ev[i].bytes_null) {
            uint32_t version = le32(ev[i].bytes);
            uint64_t done = le64(ev[i].bytes + 4), total = le64(ev[i].bytes + 12);
            uint32_t files_done = le32(ev[i].bytes + 20), files_total = le32(ev[i].bytes + 24);
            CHECK(version >= 1);
            if (version == 1) {
                CHECK_EQ(ev[i].nbytes, 28);
            }
            /* The scope is the job the callback names, or the group when job is NULL (D9). */
            int job_scope = ev[i].has_job;
            /* sizes become known as files start (no hints): UINT64_MAX until then */
            CHECK(total == (job_scope ? MIB : 2 * MIB) || total == UINT64_MAX);
            CHECK_EQ(files_total, job_scope ? 2 : 4);
            CHECK(done <= (job_scope ? MIB : 2 * MIB));
            CHECK(files_done <= files_total);
            CHECK(files_done * (uint64_t)(MIB / 2) <= done);
            if (!job_scope) {
                CHECK(done >= last_done);
                last_done = done;
            } else {
                CHECK_EQ(done, ev[i].value); /* SIZE value and record in the same (job) scope */
                CHECK(qm_guid_eq(&ev[i].job_id, &jid[0]) || qm_guid_eq(&ev[i].job_id, &jid[1]));
            }
            if (check_g.failed != before) {
                check_note("record %d: v%u done %" PRIu64 " total %" PRIu64 " files %u/%u job %d", i,
                           (unsigned)version, done, total, (unsigned)files_done, (unsigned)files_total,
                           job_scope);
            }
        }
    }
    qmgr_job_release(jobs[0]);
    qmgr_job_release(jobs[1]);
    qm_finish(g);
    rec_destroy(&r);
}

static void test_off_and_disabled(void) {
    check_section("no progress notifications when every threshold is 0 or DISABLE_NOTIFY is set (D1, D7)");
    recorder r;
    rec_init(&r);
    qmgr_group *g = file_group(QM_NOTIFY_GROUP_DONE, 1, 2, MIB, NULL);
    run_to_done(g, &r);
    CHECK_EQ(rec_count(&r, EV_PROGRESS, 0) + rec_count(&r, EV_PROGRESS_EX, 0), 0);
    qm_finish(g);
    CHECK_WAIT(rec_releases(&r) == 1, CHECK_DEADLINE_MS);
    rec_reset(&r);

    /* Disabled: nothing, neither progress nor status; a later sentinel group proves that
       everything deliverable before it was delivered. */
    g = file_group(QM_NOTIFY_GROUP_DONE | QM_NOTIFY_DISABLE_NOTIFY, 1, 1, MIB, NULL);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI4, 65536), QMGR_S_OK);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_UI4, 10), QMGR_S_OK);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSTIME, QMGR_VT_UI4, 1), QMGR_S_OK);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    qmgr_group *s = file_group(QM_NOTIFY_GROUP_DONE, 1, 1, 1000, NULL);
    run_to_done(s, &r);
    CHECK_EQ(rec_n(&r), 1);
    qm_finish(s);
    qm_finish(g);
    CHECK_WAIT(rec_releases(&r) == 2, CHECK_DEADLINE_MS);
    rec_destroy(&r);
}

static void test_all_thresholds(void) {
    check_section("all three thresholds at once: each type reported (D1)");
    recorder r;
    rec_init(&r);
    qmgr_group *g = file_group(QM_NOTIFY_GROUP_DONE, 1, 1, 2 * MIB, NULL);
    qmgr_guid gid = qm_group_id(g);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI4, 512 * 1024), QMGR_S_OK);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_UI4, 50), QMGR_S_OK);
    run_to_done(g, &r);
    rec_event ev[REC_MAX];
    int n = rec_filter(&r, EV_PROGRESS, ev, REC_MAX);
    int sizes = 0, percents = 0;
    for (int i = 0; i < n; i++) {
        CHECK(ev[i].group_ok && qm_guid_eq(&ev[i].group_id, &gid));
        if (ev[i].type == QM_PROGRESS_SIZE_DONE) {
            sizes++;
            CHECK(ev[i].value <= 2 * MIB);
        } else if (ev[i].type == QM_PROGRESS_PERCENT_DONE) {
            percents++;
            CHECK(ev[i].value <= 100 && ev[i].value >= 50);
        } else {
            CHECK_EQ(ev[i].type, QM_PROGRESS_SIZE_DONE); /* no TIME threshold set */
        }
    }
    CHECK(sizes >= 1);
    CHECK(percents >= 1);
    qm_finish(g);
    rec_destroy(&r);
}

int main(void) {
    check_begin("progress");
    check_mkdtemp(root, "progress");
    char dir[CHECK_DIR_MAX];
    snprintf(dir, sizeof dir, "%s/queue", root);
    snprintf(src_dir, sizeof src_dir, "%s/src", root);
    snprintf(dest_dir, sizeof dest_dir, "%s/dest", root);
    CHECK(mkdir(src_dir, 0700) == 0 && mkdir(dest_dir, 0700) == 0);
    httpd *server = httpd_start();
    CHECK(server != NULL);
    mgr = qm_open(dir);
    qm_no_proxy(mgr);
    test_size_threshold();
    test_percent_threshold();
    if (server) {
        test_time_threshold(server);
    }
    test_progress_ex();
    test_off_and_disabled();
    test_all_thresholds();
    CHECK_EQ(qmgr_manager_release(mgr), 0);
    httpd_stop(server);
    check_rmtree(root);
    return check_done();
}
