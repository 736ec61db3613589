/*
 * boundary.c — the C boundary of DECISIONS D8/D12 for every function that takes a handle:
 * NULL → QMGR_E_POINTER, released / foreign / wrong-type → QMGR_E_HANDLE (never a crash),
 * outputs untouched on failure (handle outputs set to NULL), a last-error message naming the
 * argument; add_ref/release of invalid handles; released handles stay dead; free-threaded
 * use from many threads; the header's constant types (D12).
 */
#include "check.h"
#include "qm.h"

static char root[CHECK_ROOT_MAX];
static char dest[CHECK_DIR_MAX];

enum { K_MANAGER, K_GROUP, K_JOB, K_ENUM_GROUPS, K_ENUM_JOBS, NKINDS };
static const char *const kind_names[] = {"manager", "group", "job", "enum_groups", "enum_jobs"};

static int sentinel_storage;
#define SENTINEL_PTR ((void *)&sentinel_storage)
#define S32 0xA5A5A5A5u
#define S64 0xA5A5A5A5A5A5A5A5ull

/* One call of a function with handle `h` (of kind `kind`) and otherwise valid arguments.
   Stores the result in *hr; returns 1 when the outputs are as D8 requires after a failure
   (untouched, handle outputs NULL). */
typedef int (*call_fn)(void *h, qmgr_hresult *hr);

typedef struct entry {
    const char *name;
    int kind;
    const char *arg; /* the handle parameter's name, expected in the message */
    call_fn call;
} entry;

static qmgr_guid some_guid;
static qmgr_guid live_job_id;

static int untouched_guid(const qmgr_guid *g) {
    const unsigned char *p = (const unsigned char *)g;
    for (size_t i = 0; i < sizeof *g; i++) {
        if (p[i] != 0xA5) {
            return 0;
        }
    }
    return 1;
}

/* manager */
static int c_set_option(void *h, qmgr_hresult *hr) {
    *hr = qmgr_manager_set_option((qmgr_manager *)h, "max_active_groups", "4");
    return 1;
}
static int c_get_option(void *h, qmgr_hresult *hr) {
    char *v = (char *)SENTINEL_PTR;
    *hr = qmgr_manager_get_option((qmgr_manager *)h, "max_active_groups", &v);
    return v == (char *)SENTINEL_PTR;
}
static int c_create_group(void *h, qmgr_hresult *hr) {
    qmgr_group *g = (qmgr_group *)SENTINEL_PTR;
    *hr = qmgr_manager_create_group((qmgr_manager *)h, qm_guid(), &g);
    return g == NULL;
}
static int c_get_group(void *h, qmgr_hresult *hr) {
    qmgr_group *g = (qmgr_group *)SENTINEL_PTR;
    *hr = qmgr_manager_get_group((qmgr_manager *)h, some_guid, &g);
    return g == NULL;
}
static int c_enum_groups(void *h, qmgr_hresult *hr) {
    qmgr_enum_groups *e = (qmgr_enum_groups *)SENTINEL_PTR;
    *hr = qmgr_manager_enum_groups((qmgr_manager *)h, 0, &e);
    return e == NULL;
}
/* group */
static int c_get_prop(void *h, qmgr_hresult *hr) {
    qmgr_variant v;
    v.vt = 0xA5A5;
    v.int_val = (int64_t)S64;
    v.str_val = (char *)SENTINEL_PTR;
    *hr = qmgr_group_get_prop((qmgr_group *)h, GROUPPROP_DISPLAYNAME, &v);
    return v.vt == 0xA5A5 && v.int_val == (int64_t)S64 && v.str_val == (char *)SENTINEL_PTR;
}
static int c_set_prop(void *h, qmgr_hresult *hr) {
    *hr = qm_set_str((qmgr_group *)h, GROUPPROP_DISPLAYNAME, "x");
    return 1;
}
static int c_get_progress(void *h, qmgr_hresult *hr) {
    uint32_t v = S32;
    *hr = qmgr_group_get_progress((qmgr_group *)h, QM_PROGRESS_SIZE_DONE, &v);
    return v == S32;
}
static int c_get_status(void *h, qmgr_hresult *hr) {
    uint32_t s = S32, i = S32;
    *hr = qmgr_group_get_status((qmgr_group *)h, &s, &i);
    return s == S32 && i == S32;
}
static int c_get_job(void *h, qmgr_hresult *hr) {
    qmgr_job *j = (qmgr_job *)SENTINEL_PTR;
    *hr = qmgr_group_get_job((qmgr_group *)h, live_job_id, &j);
    return j == NULL;
}
static int c_suspend(void *h, qmgr_hresult *hr) {
    *hr = qmgr_group_suspend_group((qmgr_group *)h);
    return 1;
}
static int c_resume(void *h, qmgr_hresult *hr) {
    *hr = qmgr_group_resume_group((qmgr_group *)h);
    return 1;
}
static int c_cancel(void *h, qmgr_hresult *hr) {
    *hr = qmgr_group_cancel_group((qmgr_group *)h);
    return 1;
}
static int c_get_size(void *h, qmgr_hresult *hr) {
    uint32_t v = S32;
    *hr = qmgr_group_get_size((qmgr_group *)h, &v);
    return v == S32;
}
static int c_get_group_id(void *h, qmgr_hresult *hr) {
    qmgr_guid g;
    memset(&g, 0xA5, sizeof g);
    *hr = qmgr_group_get_group_id((qmgr_group *)h, &g);
    return untouched_guid(&g);
}
static int c_create_job(void *h, qmgr_hresult *hr) {
    qmgr_job *j = (qmgr_job *)SENTINEL_PTR;
    *hr = qmgr_group_create_job((qmgr_group *)h, qm_guid(), &j);
    return j == NULL;
}
static int c_enum_jobs(void *h, qmgr_hresult *hr) {
    qmgr_enum_jobs *e = (qmgr_enum_jobs *)SENTINEL_PTR;
    *hr = qmgr_group_enum_jobs((qmgr_group *)h, 0, &e);
    return e == NULL;
}
static int c_group_fg(void *h, qmgr_hresult *hr) {
    *hr = qmgr_group_switch_to_foreground((qmgr_group *)h);
    return 1;
}
static int c_qnji(void *h, qmgr_hresult *hr) {
    void *u = SENTINEL_PTR;
    *hr = qmgr_group_query_new_job_interface((qmgr_group *)h, &IID_IBackgroundCopyJob1, &u);
    return u == NULL;
}
static int c_set_notify(void *h, qmgr_hresult *hr) {
    qmgr_callback1 cb;
    memset(&cb, 0, sizeof cb);
    *hr = qmgr_group_set_notification_pointer((qmgr_group *)h, &IID_IBackgroundCopyCallback1, &cb);
    return 1;
}
static int c_group_progress64(void *h, qmgr_hresult *hr) {
    uint64_t d = S64, t = S64;
    *hr = qmgr_group_get_progress64((qmgr_group *)h, &d, &t);
    return d == S64 && t == S64;
}
static int c_wait(void *h, qmgr_hresult *hr) {
    uint32_t s = S32;
    *hr = qmgr_group_wait((qmgr_group *)h, 0, &s);
    return s == S32;
}
static int c_set_rate_limit(void *h, qmgr_hresult *hr) {
    *hr = qmgr_group_set_rate_limit((qmgr_group *)h, 1000);
    return 1;
}
static int c_get_rate_limit(void *h, qmgr_hresult *hr) {
    uint64_t v = S64;
    *hr = qmgr_group_get_rate_limit((qmgr_group *)h, &v);
    return v == S64;
}
/* job */
static int c_cancel_job(void *h, qmgr_hresult *hr) {
    *hr = qmgr_job_cancel_job((qmgr_job *)h);
    return 1;
}
static int c_job_progress(void *h, qmgr_hresult *hr) {
    uint32_t v = S32;
    *hr = qmgr_job_get_progress((qmgr_job *)h, QM_PROGRESS_SIZE_DONE, &v);
    return v == S32;
}
static int c_job_status(void *h, qmgr_hresult *hr) {
    uint32_t s = S32, w = S32, t = S32, r = S32;
    *hr = qmgr_job_get_status((qmgr_job *)h, &s, &w, &t, &r);
    return s == S32 && w == S32 && t == S32 && r == S32;
}
static int c_add_files(void *h, qmgr_hresult *hr) {
    char local[PATH_MAX];
    static int n;
    check_fmt(local, sizeof local, "%s/boundary-%d.bin", dest, ++n);
    *hr = qm_add((qmgr_job *)h, "http://127.0.0.1:9/boundary", local, 0);
    return 1;
}
static int c_get_file(void *h, qmgr_hresult *hr) {
    qmgr_fileset_info info;
    info.remote_file = (char *)SENTINEL_PTR;
    info.local_file = (char *)SENTINEL_PTR;
    info.size_hint = S32;
    *hr = qmgr_job_get_file((qmgr_job *)h, 0, &info);
    return info.remote_file == (char *)SENTINEL_PTR && info.local_file == (char *)SENTINEL_PTR &&
           info.size_hint == S32;
}
static int c_file_count(void *h, qmgr_hresult *hr) {
    uint32_t v = S32;
    *hr = qmgr_job_get_file_count((qmgr_job *)h, &v);
    return v == S32;
}
static int c_job_fg(void *h, qmgr_hresult *hr) {
    *hr = qmgr_job_switch_to_foreground((qmgr_job *)h);
    return 1;
}
static int c_job_id(void *h, qmgr_hresult *hr) {
    qmgr_guid g;
    memset(&g, 0xA5, sizeof g);
    *hr = qmgr_job_get_job_id((qmgr_job *)h, &g);
    return untouched_guid(&g);
}
static int c_job_progress64(void *h, qmgr_hresult *hr) {
    uint64_t d = S64, t = S64;
    *hr = qmgr_job_get_progress64((qmgr_job *)h, &d, &t);
    return d == S64 && t == S64;
}
static int c_file_progress(void *h, qmgr_hresult *hr) {
    uint64_t d = S64, t = S64;
    uint32_t s = S32;
    *hr = qmgr_job_get_file_progress((qmgr_job *)h, 0, &d, &t, &s);
    return d == S64 && t == S64 && s == S32;
}
static int c_error_message(void *h, qmgr_hresult *hr) {
    char *m = (char *)SENTINEL_PTR;
    *hr = qmgr_job_get_error_message((qmgr_job *)h, &m);
    return m == (char *)SENTINEL_PTR;
}
/* enumerators */
static int c_eg_next(void *h, qmgr_hresult *hr) {
    qmgr_guid g;
    uint32_t f = S32;
    memset(&g, 0xA5, sizeof g);
    *hr = qmgr_enum_groups_next((qmgr_enum_groups *)h, 1, &g, &f);
    return f == S32 && untouched_guid(&g);
}
static int c_eg_skip(void *h, qmgr_hresult *hr) {
    *hr = qmgr_enum_groups_skip((qmgr_enum_groups *)h, 1);
    return 1;
}
static int c_eg_reset(void *h, qmgr_hresult *hr) {
    *hr = qmgr_enum_groups_reset((qmgr_enum_groups *)h);
    return 1;
}
static int c_eg_clone(void *h, qmgr_hresult *hr) {
    qmgr_enum_groups *e = (qmgr_enum_groups *)SENTINEL_PTR;
    *hr = qmgr_enum_groups_clone((qmgr_enum_groups *)h, &e);
    return e == NULL;
}
static int c_eg_count(void *h, qmgr_hresult *hr) {
    uint32_t v = S32;
    *hr = qmgr_enum_groups_get_count((qmgr_enum_groups *)h, &v);
    return v == S32;
}
static int c_ej_next(void *h, qmgr_hresult *hr) {
    qmgr_guid g;
    uint32_t f = S32;
    memset(&g, 0xA5, sizeof g);
    *hr = qmgr_enum_jobs_next((qmgr_enum_jobs *)h, 1, &g, &f);
    return f == S32 && untouched_guid(&g);
}
static int c_ej_skip(void *h, qmgr_hresult *hr) {
    *hr = qmgr_enum_jobs_skip((qmgr_enum_jobs *)h, 1);
    return 1;
}
static int c_ej_reset(void *h, qmgr_hresult *hr) {
    *hr = qmgr_enum_jobs_reset((qmgr_enum_jobs *)h);
    return 1;
}
static int c_ej_clone(void *h, qmgr_hresult *hr) {
    qmgr_enum_jobs *e = (qmgr_enum_jobs *)SENTINEL_PTR;
    *hr = qmgr_enum_jobs_clone((qmgr_enum_jobs *)h, &e);
    return e == NULL;
}
static int c_ej_count(void *h, qmgr_hresult *hr) {
    uint32_t v = S32;
    *hr = qmgr_enum_jobs_get_count((qmgr_enum_jobs *)h, &v);
    return v == S32;
}

static const entry table[] = {
    {"qmgr_manager_set_option", K_MANAGER, "manager", c_set_option},
    {"qmgr_manager_get_option", K_MANAGER, "manager", c_get_option},
    {"qmgr_manager_create_group", K_MANAGER, "manager", c_create_group},
    {"qmgr_manager_get_group", K_MANAGER, "manager", c_get_group},
    {"qmgr_manager_enum_groups", K_MANAGER, "manager", c_enum_groups},
    {"qmgr_group_get_prop", K_GROUP, "group", c_get_prop},
    {"qmgr_group_set_prop", K_GROUP, "group", c_set_prop},
    {"qmgr_group_get_progress", K_GROUP, "group", c_get_progress},
    {"qmgr_group_get_status", K_GROUP, "group", c_get_status},
    {"qmgr_group_get_job", K_GROUP, "group", c_get_job},
    {"qmgr_group_suspend_group", K_GROUP, "group", c_suspend},
    {"qmgr_group_resume_group", K_GROUP, "group", c_resume},
    {"qmgr_group_cancel_group", K_GROUP, "group", c_cancel},
    {"qmgr_group_get_size", K_GROUP, "group", c_get_size},
    {"qmgr_group_get_group_id", K_GROUP, "group", c_get_group_id},
    {"qmgr_group_create_job", K_GROUP, "group", c_create_job},
    {"qmgr_group_enum_jobs", K_GROUP, "group", c_enum_jobs},
    {"qmgr_group_switch_to_foreground", K_GROUP, "group", c_group_fg},
    {"qmgr_group_query_new_job_interface", K_GROUP, "group", c_qnji},
    {"qmgr_group_set_notification_pointer", K_GROUP, "group", c_set_notify},
    {"qmgr_group_get_progress64", K_GROUP, "group", c_group_progress64},
    {"qmgr_group_wait", K_GROUP, "group", c_wait},
    {"qmgr_group_set_rate_limit", K_GROUP, "group", c_set_rate_limit},
    {"qmgr_group_get_rate_limit", K_GROUP, "group", c_get_rate_limit},
    {"qmgr_job_cancel_job", K_JOB, "job", c_cancel_job},
    {"qmgr_job_get_progress", K_JOB, "job", c_job_progress},
    {"qmgr_job_get_status", K_JOB, "job", c_job_status},
    {"qmgr_job_add_files", K_JOB, "job", c_add_files},
    {"qmgr_job_get_file", K_JOB, "job", c_get_file},
    {"qmgr_job_get_file_count", K_JOB, "job", c_file_count},
    {"qmgr_job_switch_to_foreground", K_JOB, "job", c_job_fg},
    {"qmgr_job_get_job_id", K_JOB, "job", c_job_id},
    {"qmgr_job_get_progress64", K_JOB, "job", c_job_progress64},
    {"qmgr_job_get_file_progress", K_JOB, "job", c_file_progress},
    {"qmgr_job_get_error_message", K_JOB, "job", c_error_message},
    {"qmgr_enum_groups_next", K_ENUM_GROUPS, "e", c_eg_next},
    {"qmgr_enum_groups_skip", K_ENUM_GROUPS, "e", c_eg_skip},
    {"qmgr_enum_groups_reset", K_ENUM_GROUPS, "e", c_eg_reset},
    {"qmgr_enum_groups_clone", K_ENUM_GROUPS, "e", c_eg_clone},
    {"qmgr_enum_groups_get_count", K_ENUM_GROUPS, "e", c_eg_count},
    {"qmgr_enum_jobs_next", K_ENUM_JOBS, "e", c_ej_next},
    {"qmgr_enum_jobs_skip", K_ENUM_JOBS, "e", c_ej_skip},
    {"qmgr_enum_jobs_reset", K_ENUM_JOBS, "e", c_ej_reset},
    {"qmgr_enum_jobs_clone", K_ENUM_JOBS, "e", c_ej_clone},
    {"qmgr_enum_jobs_get_count", K_ENUM_JOBS, "e", c_ej_count},
};

static uint32_t add_ref_of(int kind, void *h) {
    switch (kind) {
    case K_MANAGER: return qmgr_manager_add_ref((qmgr_manager *)h);
    case K_GROUP: return qmgr_group_add_ref((qmgr_group *)h);
    case K_JOB: return qmgr_job_add_ref((qmgr_job *)h);
    case K_ENUM_GROUPS: return qmgr_enum_groups_add_ref((qmgr_enum_groups *)h);
    default: return qmgr_enum_jobs_add_ref((qmgr_enum_jobs *)h);
    }
}

static uint32_t release_of(int kind, void *h) {
    switch (kind) {
    case K_MANAGER: return qmgr_manager_release((qmgr_manager *)h);
    case K_GROUP: return qmgr_group_release((qmgr_group *)h);
    case K_JOB: return qmgr_job_release((qmgr_job *)h);
    case K_ENUM_GROUPS: return qmgr_enum_groups_release((qmgr_enum_groups *)h);
    default: return qmgr_enum_jobs_release((qmgr_enum_jobs *)h);
    }
}

static void test_handle_table(qmgr_manager *m) {
    check_section("every handle argument: NULL, released, foreign, wrong type (D8, D12)");
    /* Live handles of each kind, and a released one of each kind. */
    void *live[NKINDS], *dead[NKINDS];
    char dir[PATH_MAX];
    check_fmt(dir, sizeof dir, "%s/queue", root);
    live[K_MANAGER] = m;
    qmgr_group *g = qm_group(m);
    qmgr_job *j = qm_job(g);
    live_job_id = qm_guid();
    qmgr_job *j2 = qm_job_with_id(g, live_job_id);
    qmgr_job_release(j2);
    some_guid = qm_guid();
    live[K_GROUP] = g;
    live[K_JOB] = j;
    qmgr_enum_groups *eg = NULL;
    qmgr_enum_jobs *ej = NULL;
    CHECK_HR(qmgr_manager_enum_groups(m, 0, &eg), QMGR_S_OK);
    CHECK_HR(qmgr_group_enum_jobs(g, 0, &ej), QMGR_S_OK);
    live[K_ENUM_GROUPS] = eg;
    live[K_ENUM_JOBS] = ej;

    dead[K_MANAGER] = qm_open(dir); /* another reference to the same manager, released */
    CHECK_EQ(qmgr_manager_release((qmgr_manager *)dead[K_MANAGER]), 0);
    qmgr_group *dg = NULL;
    CHECK_HR(qmgr_manager_get_group(m, (qmgr_guid){0, 0, 0, {0}}, &dg), QM_E_ITEM_NOT_FOUND);
    qmgr_guid gid;
    CHECK_HR(qmgr_group_get_group_id(g, &gid), QMGR_S_OK);
    CHECK_HR(qmgr_manager_get_group(m, gid, &dg), QMGR_S_OK);
    CHECK_EQ(qmgr_group_release(dg), 0);
    dead[K_GROUP] = dg;
    qmgr_job *dj = NULL;
    CHECK_HR(qmgr_group_get_job(g, live_job_id, &dj), QMGR_S_OK);
    CHECK_EQ(qmgr_job_release(dj), 0);
    dead[K_JOB] = dj;
    qmgr_enum_groups *deg = NULL;
    CHECK_HR(qmgr_enum_groups_clone(eg, &deg), QMGR_S_OK);
    CHECK_EQ(qmgr_enum_groups_release(deg), 0);
    dead[K_ENUM_GROUPS] = deg;
    qmgr_enum_jobs *dej = NULL;
    CHECK_HR(qmgr_enum_jobs_clone(ej, &dej), QMGR_S_OK);
    CHECK_EQ(qmgr_enum_jobs_release(dej), 0);
    dead[K_ENUM_JOBS] = dej;

    long foreign_storage[16];
    memset(foreign_storage, 0, sizeof foreign_storage);
    void *foreign = foreign_storage;

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const entry *e = &table[i];
        int before = check_g.failed;
        qmgr_hresult hr;
        int outs_ok;

        check_prime();
        outs_ok = e->call(NULL, &hr);
        check_hr_(__FILE__, __LINE__, e->name, hr, QMGR_E_POINTER);
        check_msg_(__FILE__, __LINE__, e->name, e->arg);
        CHECK(outs_ok);

        void *bad[3];
        bad[0] = dead[e->kind];
        bad[1] = foreign;
        bad[2] = live[(e->kind + 1) % NKINDS]; /* a live handle of another type */
        for (int b = 0; b < 3; b++) {
            check_prime();
            outs_ok = e->call(bad[b], &hr);
            check_hr_(__FILE__, __LINE__, e->name, hr, QMGR_E_HANDLE);
            check_msg_(__FILE__, __LINE__, e->name, e->arg);
            CHECK(outs_ok);
        }
        /* Every other live kind as this kind. */
        for (int k = 0; k < NKINDS; k++) {
            if (k != e->kind) {
                e->call(live[k], &hr);
                check_hr_(__FILE__, __LINE__, e->name, hr, QMGR_E_HANDLE);
            }
        }
        if (check_g.failed != before) {
            check_note("function %s", e->name);
        }
    }

    /* add_ref / release: 0 for NULL, released, foreign and wrong-type handles; the victims of
       a wrong-type call are unharmed. */
    for (int k = 0; k < NKINDS; k++) {
        CHECK_EQ(add_ref_of(k, NULL), 0);
        CHECK_EQ(release_of(k, NULL), 0);
        CHECK_EQ(add_ref_of(k, dead[k]), 0);
        CHECK_EQ(release_of(k, dead[k]), 0);
        CHECK_EQ(add_ref_of(k, foreign), 0);
        CHECK_EQ(release_of(k, foreign), 0);
        CHECK_EQ(add_ref_of(k, live[(k + 1) % NKINDS]), 0);
        CHECK_EQ(release_of(k, live[(k + 1) % NKINDS]), 0);
        if (!CHECK(add_ref_of(k, live[k]) >= 2) || !CHECK(release_of(k, live[k]) >= 1)) {
            check_note("kind %s", kind_names[k]);
        }
    }
    /* Every live handle still works. */
    uint32_t count = 0;
    CHECK_EQ(qm_status(g), 0x180);
    CHECK_EQ(qm_job_status(j), QM_STATUS_JOB_INCOMPLETE);
    CHECK_HR(qmgr_enum_groups_get_count(eg, &count), QMGR_S_OK);
    CHECK_HR(qmgr_enum_jobs_get_count(ej, &count), QMGR_S_OK);
    char *v = NULL;
    CHECK_HR(qmgr_manager_get_option(m, "max_active_groups", &v), QMGR_S_OK);
    qmgr_string_free(v);

    /* Released handles stay dead while new handles are made (handles are not reused). */
    qmgr_group *many[300];
    int reused = 0;
    for (int i = 0; i < 300; i++) {
        many[i] = NULL;
        qmgr_manager_get_group(m, gid, &many[i]);
        reused |= (void *)many[i] == dead[K_GROUP];
    }
    CHECK(!reused);
    uint32_t s = 0, idx = 0;
    CHECK_ERR(qmgr_group_get_status(dg, &s, &idx), QMGR_E_HANDLE, "group");
    for (int i = 0; i < 300; i++) {
        qmgr_group_release(many[i]);
    }

    qmgr_enum_groups_release(eg);
    qmgr_enum_jobs_release(ej);
    qmgr_job_release(j);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

/* ---- free-threaded use ------------------------------------------------------------------ */

typedef struct worker_arg {
    qmgr_manager *m;
    qmgr_group *shared;
    int index;
} worker_arg;

static void *worker(void *p) {
    worker_arg *a = (worker_arg *)p;
    for (int i = 0; i < 25; i++) {
        qmgr_group *g = NULL;
        if (qmgr_manager_create_group(a->m, qm_guid(), &g) != QMGR_S_OK) {
            CHECK(0);
            continue;
        }
        char name[64], local[PATH_MAX];
        snprintf(name, sizeof name, "thread %d iteration %d", a->index, i);
        CHECK_HR(qm_set_str(g, GROUPPROP_DISPLAYNAME, name), QMGR_S_OK);
        qmgr_job *j = NULL;
        CHECK_HR(qmgr_group_create_job(g, qm_guid(), &j), QMGR_S_OK);
        check_fmt(local, sizeof local, "%s/t%d-%d.bin", dest, a->index, i);
        CHECK_HR(qm_add(j, "http://127.0.0.1:9/threads", local, 10), QMGR_S_OK);
        qmgr_enum_groups *e = NULL;
        CHECK_HR(qmgr_manager_enum_groups(a->m, 0, &e), QMGR_S_OK);
        uint32_t count = 0;
        CHECK_HR(qmgr_enum_groups_get_count(e, &count), QMGR_S_OK);
        CHECK(count >= 2);
        qmgr_enum_groups_release(e);
        CHECK_EQ(qm_status(g), 0x180);
        /* the shared handle, from every thread at once */
        qmgr_group_add_ref(a->shared);
        qmgr_variant v;
        CHECK_HR(qmgr_group_get_prop(a->shared, GROUPPROP_DISPLAYNAME, &v), QMGR_S_OK);
        qmgr_variant_clear(&v);
        qmgr_group_release(a->shared);
        /* a failure's message stays this thread's */
        qmgr_guid bogus;
        char *msg = NULL;
        qmgr_guid_from_string(name, &bogus);
        CHECK_HR(qmgr_get_last_error_message(&msg), QMGR_S_OK);
        CHECK(msg != NULL && strstr(msg, name) != NULL);
        qmgr_string_free(msg);
        qmgr_job_release(j);
        CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
        qmgr_group_release(g);
    }
    return NULL;
}

static void test_threads(qmgr_manager *m) {
    check_section("free-threaded: 8 threads at once (D7; header preamble)");
    enum { T = 8 };
    pthread_t th[T];
    worker_arg args[T];
    qmgr_group *shared = qm_group(m);
    CHECK_HR(qm_set_str(shared, GROUPPROP_DISPLAYNAME, "shared"), QMGR_S_OK);
    for (int i = 0; i < T; i++) {
        args[i].m = m;
        args[i].shared = shared;
        args[i].index = i;
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
    }
    CHECK_EQ(qm_status(shared), 0x180);
    qmgr_enum_groups *e = NULL;
    uint32_t count = 0;
    CHECK_HR(qmgr_manager_enum_groups(m, 0, &e), QMGR_S_OK);
    CHECK_HR(qmgr_enum_groups_get_count(e, &count), QMGR_S_OK);
    CHECK_EQ(count, 1);
    qmgr_enum_groups_release(e);
    CHECK_HR(qmgr_group_cancel_group(shared), QMGR_S_OK);
    CHECK_EQ(qmgr_group_release(shared), 0);
}

static void test_header(qmgr_manager *m) {
    check_section("the header: HRESULT constants are qmgr_hresult; results may be ignored (D12)");
#define IS_HR(c) CHECK(_Generic((c), qmgr_hresult: 1, default: 0))
    IS_HR(QMGR_S_OK);
    IS_HR(QMGR_S_FALSE);
    IS_HR(QMGR_E_NOTIMPL);
    IS_HR(QMGR_E_NOINTERFACE);
    IS_HR(QMGR_E_POINTER);
    IS_HR(QMGR_E_ABORT);
    IS_HR(QMGR_E_FAIL);
    IS_HR(QMGR_E_UNEXPECTED);
    IS_HR(QMGR_E_ACCESSDENIED);
    IS_HR(QMGR_E_HANDLE);
    IS_HR(QMGR_E_OUTOFMEMORY);
    IS_HR(QMGR_E_INVALIDARG);
    IS_HR(QM_E_INVALID_STATE);
    IS_HR(QM_E_SERVICE_UNAVAILABLE);
    IS_HR(QM_E_DOWNLOADER_UNAVAILABLE);
    IS_HR(QM_E_ITEM_NOT_FOUND);
    IS_HR(BG_E_EMPTY);
    IS_HR(BG_E_NETWORK_DISCONNECTED);
    IS_HR(BG_E_INVALID_SERVER_RESPONSE);
    IS_HR(BG_E_NO_PROGRESS);
    IS_HR(BG_E_CONNECT_FAILURE);
    IS_HR(BG_E_CONNECTION_CLOSED);
    IS_HR(BG_E_REMOTE_FILE_CHANGED);
#undef IS_HR
    /* Ignoring results compiles with -Werror (no warn_unused_result), as COM code does. */
    qmgr_group *g = qm_group(m);
    uint32_t s, i;
    qmgr_group_get_status(g, &s, &i);
    qmgr_group_switch_to_foreground(g);
    qmgr_group_add_ref(g);
    qmgr_group_release(g);
    qmgr_group_cancel_group(g);
    qmgr_group_release(g);
    qmgr_hresult hr = QM_E_ITEM_NOT_FOUND;
    CHECK(hr == QM_E_ITEM_NOT_FOUND && hr < 0 && QMGR_S_FALSE > 0);
}

int main(void) {
    check_begin("boundary");
    check_mkdtemp(root, "boundary");
    char dir[CHECK_DIR_MAX];
    snprintf(dir, sizeof dir, "%s/queue", root);
    snprintf(dest, sizeof dest, "%s/dest", root);
    CHECK(mkdir(dest, 0700) == 0);
    qmgr_manager *m = qm_open(dir);
    test_handle_table(m);
    test_threads(m);
    test_header(m);
    CHECK_EQ(qmgr_manager_release(m), 0);
    check_rmtree(root);
    return check_done();
}
