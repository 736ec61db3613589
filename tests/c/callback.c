/*
 * callback.c — IBackgroundCopyCallback1 through qmgr_group_set_notification_pointer with real
 * (file:// and loopback HTTP) transfers: OnStatus for errors by default, QM_NOTIFY_FILE_DONE /
 * JOB_DONE / GROUP_DONE with their arguments (D1, D11), QM_NOTIFY_DISABLE_NOTIFY and late
 * registration (D7), re-delivery until S_OK and when it stops (D7), release() exactly once
 * (D12), callbacks on their own thread, one at a time, calling back into the API, cancelling
 * their group and releasing the last references (D7).
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

/* A file:// group with `njobs` jobs of `files_per_job` files each (sizes 1000·(i+1)); job
   ids in jobs[] (may be NULL). When `missing_at` >= 0, that file (global index) has no
   source. */
static qmgr_group *file_group(uint32_t flags, int njobs, int files_per_job, int missing_at, qmgr_job **jobs) {
    qmgr_group *g = qm_file_group(mgr);
    CHECK_HR(qm_set_int(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, flags), QMGR_S_OK);
    int n = 0;
    for (int j = 0; j < njobs; j++) {
        qmgr_job *job = qm_job(g);
        for (int f = 0; f < files_per_job; f++, n++) {
            char name[64], src[PATH_MAX], url[PATH_MAX + 8], out[PATH_MAX];
            snprintf(name, sizeof name, "s%d.bin", ++serial);
            if (n == missing_at) {
                check_fmt(src, sizeof src, "%s/%s", src_dir, name);
                qm_file_url(url, sizeof url, src);
            } else {
                qm_source(src_dir, name, (unsigned)serial, 1000u * (unsigned)(f + 1), src, url);
            }
            check_fmt(out, sizeof out, "%s/%s", dest_dir, name);
            CHECK_HR(qm_add(job, url, out, 0), QMGR_S_OK);
        }
        if (jobs) {
            jobs[j] = job;
        } else {
            qmgr_job_release(job);
        }
    }
    return g;
}

/* Status events of group `g` recorded so far, into out. */
static int status_events_of(recorder *r, const qmgr_guid *g, rec_event *out, int max) {
    rec_event all[REC_MAX];
    int n = rec_filter(r, EV_STATUS, all, REC_MAX), k = 0;
    for (int i = 0; i < n && k < max; i++) {
        if (qm_guid_eq(&all[i].group_id, g)) {
            out[k++] = all[i];
        }
    }
    return k;
}

static int count_for(recorder *r, const qmgr_guid *g) {
    rec_event ev[64];
    return status_events_of(r, g, ev, 64);
}

/* Completes a sentinel group with QM_NOTIFY_GROUP_DONE registered on `r` and waits for its
   OnStatus: events are delivered in order, so anything that was deliverable before has been
   delivered by then. */
static void sentinel(recorder *r) {
    qmgr_group *s = file_group(QM_NOTIFY_GROUP_DONE, 1, 1, -1, NULL);
    qmgr_guid id = qm_group_id(s);
    rec_register(s, r);
    CHECK_HR(qmgr_group_resume_group(s), QMGR_S_OK);
    CHECK_WAIT(count_for(r, &id) == 1, CHECK_DEADLINE_MS);
    qm_finish(s);
}

static void test_error_by_default(httpd *server) {
    check_section("OnStatus on a fatal error, by default (D7, D11)");
    recorder r;
    rec_init(&r);
    qmgr_job *jobs[1];
    qmgr_group *g = file_group(0, 1, 2, 1, jobs); /* file 1 has no source */
    qmgr_guid gid = qm_group_id(g), jid = qm_job_id(jobs[0]);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x380);
    CHECK_WAIT(rec_n(&r) >= 1, CHECK_DEADLINE_MS);
    sentinel(&r); /* nothing else arrives for g (no completion flags) */
    CHECK_EQ(count_for(&r, &gid), 1);
    rec_event e = rec_at(&r, 0);
    uint32_t s = 0, w = 0, t = 0, n = 0;
    CHECK_HR(qmgr_job_get_status(jobs[0], &s, &w, &t, &n), QMGR_S_OK);
    CHECK_EQ(e.kind, EV_STATUS);
    CHECK(e.group_ok && qm_guid_eq(&e.group_id, &gid));
    CHECK(e.has_job && e.job_ok && qm_guid_eq(&e.job_id, &jid));
    CHECK_EQ(e.file_index, 1);
    CHECK_EQ(e.status, 0x380); /* the group bits, as GetStatus (reference 3.4) */
    CHECK_EQ(e.retries, 1);
    CHECK_EQ(e.win32, w);
    CHECK(e.win32 != 0);
    CHECK_EQ(e.transport, 0);
    CHECK_EQ(r.on_registering_thread, 0);
    CHECK_EQ(r.max_in_flight, 1);
    qmgr_job_release(jobs[0]);
    qm_finish(g);
    CHECK_WAIT(rec_releases(&r) == 2, CHECK_DEADLINE_MS); /* g's and the sentinel's */

    /* An HTTP failure: the status in dwTransportResult, BG_E_HTTP_ERROR_nnn in dwWin32Result. */
    rec_reset(&r);
    g = qm_group(mgr);
    gid = qm_group_id(g);
    qmgr_job *j = qm_job(g);
    char url[256], out[PATH_MAX];
    httpd_route(server, "/cb/404", 404, 0, 1);
    httpd_url(server, "/cb/404", url, sizeof url);
    check_fmt(out, sizeof out, "%s/http-404.bin", dest_dir);
    CHECK_HR(qm_add(j, url, out, 0), QMGR_S_OK);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x380);
    CHECK_WAIT(rec_n(&r) == 1, CHECK_DEADLINE_MS);
    e = rec_at(&r, 0);
    CHECK_EQ(e.status, 0x380);
    CHECK_EQ(e.file_index, 0);
    CHECK_EQ(e.transport, 404);
    CHECK_EQ(e.win32, BG_E_HTTP_ERROR_BASE | 404u);
    CHECK_EQ(e.retries, 1);
    qmgr_guid jid404 = qm_job_id(j);
    CHECK(e.has_job && e.job_ok && qm_guid_eq(&e.job_id, &jid404));
    qmgr_job_release(j);
    qm_finish(g);
    CHECK_WAIT(rec_releases(&r) == 1, CHECK_DEADLINE_MS);
    rec_destroy(&r);
}

static void test_done_flags(void) {
    check_section("QM_NOTIFY_FILE_DONE / JOB_DONE / GROUP_DONE: order and arguments (D1, D11)");
    recorder r;
    rec_init(&r);
    qmgr_job *jobs[2];
    qmgr_group *g = file_group(QM_NOTIFY_FILE_DONE | QM_NOTIFY_JOB_DONE | QM_NOTIFY_GROUP_DONE, 2, 2, -1, jobs);
    qmgr_guid gid = qm_group_id(g), j0 = qm_job_id(jobs[0]), j1 = qm_job_id(jobs[1]);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK_WAIT(rec_n(&r) == 7, CHECK_DEADLINE_MS);
    rec_event ev[16];
    int n = status_events_of(&r, &gid, ev, 16);
    CHECK_EQ(n, 7);
    /* FILE(j0,0) FILE(j0,1) JOB(j0) FILE(j1,0) FILE(j1,1) JOB(j1) GROUP */
    static const int kind[7] = {1, 1, 2, 1, 1, 2, 3}; /* 1 file, 2 job, 3 group */
    static const int job[7] = {0, 0, 0, 1, 1, 1, -1};
    static const uint32_t index[7] = {0, 1, 0xFFFFFFFFu, 0, 1, 0xFFFFFFFFu, 0xFFFFFFFFu};
    for (int i = 0; i < n && i < 7; i++) {
        int failed_before = check_g.failed;
        CHECK(ev[i].group_ok && qm_guid_eq(&ev[i].group_id, &gid));
        CHECK_EQ(ev[i].file_index, index[i]);
        if (job[i] < 0) {
            CHECK(!ev[i].has_job);
        } else {
            CHECK(ev[i].has_job && ev[i].job_ok && qm_guid_eq(&ev[i].job_id, job[i] ? &j1 : &j0));
        }
        uint32_t group_bits = ev[i].status & (QM_STATUS_GROUP_COMPLETE | QM_STATUS_GROUP_INCOMPLETE);
        CHECK(group_bits == QM_STATUS_GROUP_COMPLETE || group_bits == QM_STATUS_GROUP_INCOMPLETE);
        CHECK_EQ(ev[i].status & QM_STATUS_GROUP_ERROR, 0);
        if (kind[i] == 1) {
            CHECK(ev[i].status & QM_STATUS_FILE_COMPLETE);
        } else if (kind[i] == 2) {
            CHECK(ev[i].status & QM_STATUS_JOB_COMPLETE);
        } else {
            CHECK_EQ(ev[i].status, 0x140);
        }
        CHECK_EQ(ev[i].retries, 0);
        CHECK_EQ(ev[i].win32, 0);
        CHECK_EQ(ev[i].transport, 0);
        if (check_g.failed != failed_before) {
            check_note("event %d (status 0x%03X, file %u)", i, (unsigned)ev[i].status, (unsigned)ev[i].file_index);
        }
    }
    CHECK_EQ(r.max_in_flight, 1);
    qmgr_job_release(jobs[0]);
    qmgr_job_release(jobs[1]);
    qm_finish(g);

    /* GROUP_DONE alone: one call, job NULL, index 0xFFFFFFFF (D11). */
    CHECK_WAIT(rec_releases(&r) == 1, CHECK_DEADLINE_MS);
    rec_reset(&r);
    g = file_group(QM_NOTIFY_GROUP_DONE, 2, 1, -1, NULL);
    gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK_WAIT(rec_n(&r) == 1, CHECK_DEADLINE_MS);
    sentinel(&r);
    CHECK_EQ(count_for(&r, &gid), 1);
    rec_event e = rec_at(&r, 0);
    CHECK_EQ(e.status, 0x140);
    CHECK(!e.has_job);
    CHECK_EQ(e.file_index, 0xFFFFFFFFu);
    qm_finish(g);

    /* No flags and no error: nothing at all. */
    CHECK_WAIT(rec_releases(&r) == 2, CHECK_DEADLINE_MS);
    rec_reset(&r);
    g = file_group(0, 1, 2, -1, NULL);
    gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    sentinel(&r);
    CHECK_EQ(count_for(&r, &gid), 0);
    qm_finish(g);
    CHECK_WAIT(rec_releases(&r) == 2, CHECK_DEADLINE_MS);
    rec_destroy(&r);
}

static void test_disable_and_late_registration(void) {
    check_section("DISABLE_NOTIFY and late registration: held events delivered later if still true (D7)");
    recorder r;
    rec_init(&r);

    /* Completion while disabled: nothing; re-enabled: delivered. */
    qmgr_group *g = file_group(QM_NOTIFY_GROUP_DONE | QM_NOTIFY_DISABLE_NOTIFY, 1, 1, -1, NULL);
    qmgr_guid gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    sentinel(&r);
    CHECK_EQ(count_for(&r, &gid), 0);
    CHECK_HR(qm_set_int(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, QM_NOTIFY_GROUP_DONE), QMGR_S_OK);
    CHECK_WAIT(count_for(&r, &gid) == 1, CHECK_DEADLINE_MS);
    qm_finish(g);

    /* An error while disabled, re-enabled while still in ERROR: delivered. */
    g = file_group(QM_NOTIFY_DISABLE_NOTIFY, 1, 1, 0, NULL);
    gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x380);
    sentinel(&r);
    CHECK_EQ(count_for(&r, &gid), 0);
    CHECK_HR(qm_set_int(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, 0), QMGR_S_OK);
    CHECK_WAIT(count_for(&r, &gid) == 1, CHECK_DEADLINE_MS);
    rec_event ev[4];
    if (status_events_of(&r, &gid, ev, 4) == 1) {
        CHECK_EQ(ev[0].status, 0x380);
        CHECK_EQ(ev[0].file_index, 0);
    }
    qm_finish(g);

    /* No callback when it happened: delivered on registration. */
    g = file_group(QM_NOTIFY_GROUP_DONE, 1, 1, -1, NULL);
    gid = qm_group_id(g);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    rec_register(g, &r);
    CHECK_WAIT(count_for(&r, &gid) == 1, CHECK_DEADLINE_MS);
    qm_finish(g);
    g = file_group(0, 1, 1, 0, NULL);
    gid = qm_group_id(g);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x380);
    rec_register(g, &r);
    CHECK_WAIT(count_for(&r, &gid) == 1, CHECK_DEADLINE_MS);
    qm_finish(g);

    /* …but not when the state it described no longer holds: the error was fixed and the
       group completed before anyone listened (no completion flag). */
    qmgr_job *jobs[1];
    g = file_group(0, 1, 1, 0, jobs);
    gid = qm_group_id(g);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x380);
    qmgr_fileset_info info;
    CHECK_HR(qmgr_job_get_file(jobs[0], 0, &info), QMGR_S_OK);
    CHECK(check_write_file(info.remote_file + strlen("file://"), 5, 10) == 0);
    qmgr_fileset_info_clear(&info);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    rec_register(g, &r);
    sentinel(&r);
    CHECK_EQ(count_for(&r, &gid), 0);
    qmgr_job_release(jobs[0]);
    qm_finish(g);
    CHECK_WAIT(rec_releases(&r) == 8, CHECK_DEADLINE_MS);
    rec_destroy(&r);
}

static void test_redelivery(void) {
    check_section("OnStatus answered with an error is delivered again with back-off until S_OK (D7)");
    recorder r;
    rec_init(&r);
    r.fail_status = 2;
    qmgr_group *g = file_group(QM_NOTIFY_GROUP_DONE, 1, 1, -1, NULL);
    qmgr_guid gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK_WAIT(count_for(&r, &gid) == 3, 2 * CHECK_DEADLINE_MS);
    rec_event ev[8];
    int n = status_events_of(&r, &gid, ev, 8);
    if (n >= 3) {
        CHECK_EQ(ev[1].status, ev[0].status); /* the same event */
        CHECK_EQ(ev[2].file_index, ev[0].file_index);
        CHECK(ev[1].at_ms - ev[0].at_ms >= 900);  /* 1 s */
        CHECK(ev[2].at_ms - ev[1].at_ms >= 1900); /* doubling: 2 s */
    }
    qm_finish(g);

    /* Re-delivery stops when the callback is replaced: the old one is released once and
       never called again. */
    recorder r2;
    CHECK_WAIT(rec_releases(&r) == 1, CHECK_DEADLINE_MS);
    rec_reset(&r);
    rec_init(&r2);
    r.fail_status = 1000000;
    g = file_group(QM_NOTIFY_GROUP_DONE, 1, 1, -1, NULL);
    gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK_WAIT(count_for(&r, &gid) == 1, CHECK_DEADLINE_MS);
    rec_register(g, &r2);
    CHECK_WAIT(rec_releases(&r) == 1, CHECK_DEADLINE_MS);
    int calls = rec_n(&r);
    CHECK_WAIT(count_for(&r2, &gid) == 1, CHECK_DEADLINE_MS); /* still true: the new one gets it */
    CHECK_EQ(rec_n(&r), calls);
    qm_finish(g);
    CHECK_WAIT(rec_releases(&r2) == 1, CHECK_DEADLINE_MS);

    /* …when the group is cancelled. */
    rec_reset(&r);
    r.fail_status = 1000000;
    g = file_group(QM_NOTIFY_GROUP_DONE, 1, 1, -1, NULL);
    gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK_WAIT(count_for(&r, &gid) == 1, CHECK_DEADLINE_MS);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    CHECK_WAIT(rec_releases(&r) == 1, CHECK_DEADLINE_MS);
    calls = rec_n(&r);
    qmgr_group_release(g);

    CHECK_EQ(rec_n(&r), calls);

    /* …when the state it describes no longer holds (an error, then resumed and fixed). */
    rec_reset(&r2);
    rec_reset(&r);
    r.fail_status = 1000000;
    qmgr_job *jobs[1];
    g = file_group(0, 1, 1, 0, jobs);
    gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x380);
    CHECK_WAIT(count_for(&r, &gid) == 1, CHECK_DEADLINE_MS);
    int64_t first = rec_at(&r, 0).at_ms;
    qmgr_fileset_info info;
    CHECK_HR(qmgr_job_get_file(jobs[0], 0, &info), QMGR_S_OK);
    CHECK(check_write_file(info.remote_file + strlen("file://"), 6, 10) == 0);
    qmgr_fileset_info_clear(&info);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    /* The re-delivery would have been due 1 s after the first call: once that moment has
       passed, a sentinel event (delivered in order) proves it was dropped. */
    while (check_now_ms() < first + 1500) {
        check_sleep_ms(20);
    }
    sentinel(&r2);
    CHECK_EQ(count_for(&r, &gid), 1);
    qmgr_job_release(jobs[0]);
    qm_finish(g);
    CHECK_WAIT(rec_releases(&r) == 1, CHECK_DEADLINE_MS);
    rec_destroy(&r);
    rec_destroy(&r2);
}

static void test_reentrancy(void) {
    check_section("callbacks call back into the API, keep handles, cancel their own group (D7)");
    recorder r;
    rec_init(&r);
    r.reenter = 1;
    r.keep_group = 1;
    qmgr_group *g = file_group(QM_NOTIFY_FILE_DONE | QM_NOTIFY_JOB_DONE | QM_NOTIFY_GROUP_DONE, 2, 2, -1, NULL);
    qmgr_guid gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK_WAIT(count_for(&r, &gid) == 7, CHECK_DEADLINE_MS);
    CHECK_EQ(r.reentry_failures, 0);
    CHECK(r.reentry_calls >= 7 * 4);
    /* The add_ref'd borrowed handle stays valid after the call. */
    pthread_mutex_lock(&r.lock);
    qmgr_group *kept = r.kept_group;
    pthread_mutex_unlock(&r.lock);
    CHECK(kept != NULL);
    if (kept) {
        qmgr_guid id;
        CHECK_HR(qmgr_group_get_group_id(kept, &id), QMGR_S_OK);
        CHECK(qm_guid_eq(&id, &gid));
        CHECK_EQ(qm_status(kept), 0x140);
        CHECK_EQ(qmgr_group_release(kept), 0);
    }
    qm_finish(g);

    /* Cancelling its own group from OnStatus: no deadlock, release() once, afterwards. */
    CHECK_WAIT(rec_releases(&r) == 1, CHECK_DEADLINE_MS);
    rec_reset(&r);
    r.cancel_own_group = 1;
    g = file_group(QM_NOTIFY_GROUP_DONE, 1, 1, -1, NULL);
    gid = qm_group_id(g);
    rec_register(g, &r);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_WAIT(rec_releases(&r) == 1, CHECK_DEADLINE_MS);
    CHECK_HR(r.cancel_hr, QMGR_S_OK);
    CHECK_EQ(count_for(&r, &gid), 1);
    uint32_t s;
    CHECK_HR(qmgr_group_get_status(g, &s, &s), QM_E_INVALID_STATE);
    qmgr_group_release(g);
    rec_destroy(&r);
}

/* ---- releasing everything from inside a callback ------------------------------------------ */

typedef struct owner {
    recorder rec;
    qmgr_manager *m;
    qmgr_group *g;
    qmgr_hresult status_hr;
    int released_all;
} owner;

static qmgr_hresult owner_on_status(void *context, qmgr_group *group, qmgr_job *job, uint32_t file_index,
                                    uint32_t status, uint32_t retries, uint32_t win32, uint32_t transport) {
    owner *o = (owner *)context;
    rec_on_status(&o->rec, group, job, file_index, status, retries, win32, transport);
    pthread_mutex_lock(&o->rec.lock);
    int first = !o->released_all;
    o->released_all = 1;
    pthread_mutex_unlock(&o->rec.lock);
    if (first) {
        /* The program's last handles: the group and the manager. */
        qmgr_group_release(o->g);
        qmgr_manager_release(o->m);
        uint32_t s, i;
        qmgr_hresult hr = qmgr_group_get_status(group, &s, &i); /* the borrowed one still works */
        pthread_mutex_lock(&o->rec.lock);
        o->status_hr = hr;
        pthread_mutex_unlock(&o->rec.lock);
    }
    return QMGR_S_OK;
}

static void owner_release(void *context) {
    rec_release(&((owner *)context)->rec);
}

static void test_release_from_callback(void) {
    check_section("a callback releases the last handles of its group and manager (D7, D12)");
    char dir[PATH_MAX];
    check_fmt(dir, sizeof dir, "%s/queue-2", root);
    owner o;
    memset(&o, 0, sizeof o);
    rec_init(&o.rec);
    o.m = qm_open(dir);
    o.g = qm_file_group(o.m);
    qmgr_guid gid = qm_group_id(o.g);
    CHECK_HR(qm_set_int(o.g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, QM_NOTIFY_GROUP_DONE), QMGR_S_OK);
    qmgr_job *j = qm_job(o.g);
    char src[PATH_MAX], url[PATH_MAX + 8], out[PATH_MAX];
    qm_source(src_dir, "owned.bin", 9, 5000, src, url);
    check_fmt(out, sizeof out, "%s/owned.bin", dest_dir);
    CHECK_HR(qm_add(j, url, out, 0), QMGR_S_OK);
    qmgr_job_release(j);
    qmgr_callback1 cb;
    memset(&cb, 0, sizeof cb);
    cb.context = &o;
    cb.on_status = owner_on_status;
    cb.release = owner_release;
    CHECK_HR(qmgr_group_set_notification_pointer(o.g, &IID_IBackgroundCopyCallback1, &cb), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(o.g), QMGR_S_OK);
    /* From here on the callback owns o.g and o.m. */
    CHECK_WAIT(rec_releases(&o.rec) == 1, CHECK_DEADLINE_MS);
    CHECK_HR(o.status_hr, QMGR_S_OK);
    CHECK_EQ(count_for(&o.rec, &gid), 1);
    /* The manager shut down; the queue opens again and holds the completed group. */
    qmgr_manager *m = qm_open(dir);
    qmgr_group *g = NULL;
    CHECK_HR(qmgr_manager_get_group(m, gid, &g), QMGR_S_OK);
    if (g) {
        CHECK_EQ(qm_status(g), 0x140);
        qm_finish(g);
    }
    CHECK(check_file_matches(out, 9, 5000));
    CHECK_EQ(qmgr_manager_release(m), 0);
    rec_destroy(&o.rec);
}

static void test_release_at_manager_release(void) {
    check_section("release() runs before the manager's last release returns (D12)");
    char dir[PATH_MAX];
    check_fmt(dir, sizeof dir, "%s/queue-3", root);
    recorder r, r2;
    rec_init(&r);
    rec_init(&r2);
    qmgr_manager *m = qm_open(dir);
    qmgr_group *g = qm_group(m);
    qmgr_group *h = qm_group(m);
    rec_register(g, &r);
    rec_register(h, &r2);
    qmgr_group_release(g);
    qmgr_group_release(h);
    CHECK_EQ(rec_releases(&r), 0);
    CHECK_EQ(qmgr_manager_release(m), 0);
    CHECK_EQ(rec_releases(&r), 1);
    CHECK_EQ(rec_releases(&r2), 1);
    /* Registrations are not persisted: reopening calls nothing. */
    m = qm_open(dir);
    CHECK_EQ(qmgr_manager_release(m), 0);
    CHECK_EQ(rec_releases(&r), 1);
    rec_destroy(&r);
    rec_destroy(&r2);

    /* NULL function pointers: events are simply not delivered. */
    qmgr_callback1 cb;
    memset(&cb, 0, sizeof cb);
    qmgr_group *n = file_group(QM_NOTIFY_FILE_DONE | QM_NOTIFY_GROUP_DONE, 1, 1, -1, NULL);
    CHECK_HR(qmgr_group_set_notification_pointer(n, &IID_IBackgroundCopyCallback1, &cb), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(n), QMGR_S_OK);
    CHECK_EQ(qm_wait(n), 0x140);
    qm_finish(n);
}

static void test_serialized(void) {
    check_section("callbacks of several groups: one at a time, in event order (D7)");
    recorder r;
    rec_init(&r);
    qmgr_group *g[4];
    for (int i = 0; i < 4; i++) {
        g[i] = file_group(QM_NOTIFY_FILE_DONE | QM_NOTIFY_GROUP_DONE, 1, 3, -1, NULL);
        rec_register(g[i], &r);
    }
    for (int i = 0; i < 4; i++) {
        CHECK_HR(qmgr_group_resume_group(g[i]), QMGR_S_OK);
    }
    CHECK_WAIT(rec_n(&r) == 16, CHECK_DEADLINE_MS);
    CHECK_EQ(r.max_in_flight, 1);
    CHECK_EQ(r.on_registering_thread, 0);
    /* Per group: its three FILE_DONE in file order, then its GROUP_DONE. */
    for (int i = 0; i < 4; i++) {
        qmgr_guid id = qm_group_id(g[i]);
        rec_event ev[8];
        int n = status_events_of(&r, &id, ev, 8);
        CHECK_EQ(n, 4);
        for (int k = 0; k < n && k < 3; k++) {
            CHECK_EQ(ev[k].file_index, (uint32_t)k);
        }
        if (n == 4) {
            CHECK_EQ(ev[3].status, 0x140);
        }
        qm_finish(g[i]);
    }
    CHECK_WAIT(rec_releases(&r) == 4, CHECK_DEADLINE_MS);
    rec_destroy(&r);
}

int main(void) {
    check_begin("callback");
    check_mkdtemp(root, "callback");
    char dir[CHECK_DIR_MAX];
    snprintf(dir, sizeof dir, "%s/queue", root);
    snprintf(src_dir, sizeof src_dir, "%s/src", root);
    snprintf(dest_dir, sizeof dest_dir, "%s/dest", root);
    CHECK(mkdir(src_dir, 0700) == 0 && mkdir(dest_dir, 0700) == 0);
    httpd *server = httpd_start();
    CHECK(server != NULL);
    mgr = qm_open(dir);
    qm_no_proxy(mgr);
    if (server) {
        test_error_by_default(server);
    }
    test_done_flags();
    test_disable_and_late_registration();
    test_redelivery();
    test_reentrancy();
    test_release_from_callback();
    test_release_at_manager_release();
    test_serialized();
    CHECK_EQ(qmgr_manager_release(mgr), 0);
    httpd_stop(server);
    check_rmtree(root);
    return check_done();
}
