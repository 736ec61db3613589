/*
 * qm.h — small qmgr helpers shared by the C conformance programs (include after check.h).
 * Each helper records the checks it makes, so a failing setup step shows where it broke.
 */
#ifndef QMGR_TESTS_QM_H
#define QMGR_TESTS_QM_H

#include "check.h"

/* A status word nobody returns: "the call failed". */
#define QM_BAD 0xDEADBEEFu

static inline int qm_guid_eq(const qmgr_guid *a, const qmgr_guid *b) {
    return memcmp(a, b, sizeof *a) == 0;
}

static inline qmgr_guid qm_guid(void) {
    qmgr_guid g;
    memset(&g, 0, sizeof g);
    CHECK_HR(qmgr_guid_generate(&g), QMGR_S_OK);
    return g;
}

static inline qmgr_manager *qm_open(const char *dir) {
    qmgr_manager *m = NULL;
    CHECK_HR(qmgr_create_instance(dir, &m), QMGR_S_OK);
    CHECK(m != NULL);
    return m;
}

static inline qmgr_group *qm_group_with_id(qmgr_manager *m, qmgr_guid id) {
    qmgr_group *g = NULL;
    CHECK_HR(qmgr_manager_create_group(m, id, &g), QMGR_S_OK);
    CHECK(g != NULL);
    return g;
}

static inline qmgr_group *qm_group(qmgr_manager *m) {
    return qm_group_with_id(m, qm_guid());
}

static inline qmgr_job *qm_job_with_id(qmgr_group *g, qmgr_guid id) {
    qmgr_job *j = NULL;
    CHECK_HR(qmgr_group_create_job(g, id, &j), QMGR_S_OK);
    CHECK(j != NULL);
    return j;
}

static inline qmgr_job *qm_job(qmgr_group *g) {
    return qm_job_with_id(g, qm_guid());
}

/* AddFiles with one file. */
static inline qmgr_hresult qm_add(qmgr_job *j, const char *url, const char *local, uint32_t hint) {
    qmgr_fileset_info info;
    const qmgr_fileset_info *set[1];
    info.remote_file = (char *)url;
    info.local_file = (char *)local;
    info.size_hint = hint;
    set[0] = &info;
    return qmgr_job_add_files(j, 1, set);
}

static inline qmgr_hresult qm_set_int(qmgr_group *g, uint32_t prop, uint16_t vt, int64_t value) {
    qmgr_variant v;
    v.vt = vt;
    v.int_val = value;
    v.str_val = NULL;
    return qmgr_group_set_prop(g, prop, &v);
}

static inline qmgr_hresult qm_set_str(qmgr_group *g, uint32_t prop, const char *text) {
    qmgr_variant v;
    v.vt = QMGR_VT_BSTR;
    v.int_val = 0;
    v.str_val = (char *)text;
    return qmgr_group_set_prop(g, prop, &v);
}

/* The group's status word, QM_BAD when GetStatus fails. */
static inline uint32_t qm_status(qmgr_group *g) {
    uint32_t s = QM_BAD, i = QM_BAD;
    if (qmgr_group_get_status(g, &s, &i) != QMGR_S_OK) {
        return QM_BAD;
    }
    return s;
}

static inline uint32_t qm_job_index(qmgr_group *g) {
    uint32_t s = QM_BAD, i = QM_BAD;
    if (qmgr_group_get_status(g, &s, &i) != QMGR_S_OK) {
        return QM_BAD;
    }
    return i;
}

/* The job's status word, QM_BAD when GetStatus fails. */
static inline uint32_t qm_job_status(qmgr_job *j) {
    uint32_t s = QM_BAD, w = 0, t = 0, r = 0;
    if (qmgr_job_get_status(j, &s, &w, &t, &r) != QMGR_S_OK) {
        return QM_BAD;
    }
    return s;
}

static inline uint32_t qm_job_retries(qmgr_job *j) {
    uint32_t s = 0, w = 0, t = 0, r = QM_BAD;
    if (qmgr_job_get_status(j, &s, &w, &t, &r) != QMGR_S_OK) {
        return QM_BAD;
    }
    return r;
}

static inline uint64_t qm_group_done(qmgr_group *g) {
    uint64_t d = UINT64_MAX, t = 0;
    if (qmgr_group_get_progress64(g, &d, &t) != QMGR_S_OK) {
        return UINT64_MAX;
    }
    return d;
}

static inline uint64_t qm_job_done(qmgr_job *j) {
    uint64_t d = UINT64_MAX, t = 0;
    if (qmgr_job_get_progress64(j, &d, &t) != QMGR_S_OK) {
        return UINT64_MAX;
    }
    return d;
}

/* "file://" + path into out (PATH_MAX + 8 bytes). */
static inline void qm_file_url(char *out, size_t size, const char *path) {
    check_fmt(out, size, "file://%s", path);
}

/* Waits (qmgr_group_wait) until the group leaves RUNNING; returns the status word. */
static inline uint32_t qm_wait(qmgr_group *g) {
    uint32_t s = QM_BAD;
    CHECK_HR(qmgr_group_wait(g, CHECK_DEADLINE_MS, &s), QMGR_S_OK);
    return s;
}

/* A group using file:// URLs (QM_PROTOCOL_SMB). */
static inline qmgr_group *qm_file_group(qmgr_manager *m) {
    qmgr_group *g = qm_group(m);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_SMB), QMGR_S_OK);
    return g;
}

/* Creates `dir`/`name` with `size` bytes of stream `seed`, and its file:// URL in url. */
static inline void qm_source(const char *dir, const char *name, unsigned seed, uint64_t size, char *path,
                             char *url) {
    check_fmt(path, PATH_MAX, "%s/%s", dir, name);
    CHECK(check_write_file(path, seed, size) == 0);
    qm_file_url(url, PATH_MAX + 8, path);
}

/* Queue options every transfer test wants: no proxy from the environment, quick retries
   are NOT wanted (each test sets what it needs). */
/* The GUID of a live group / job (checked). */
static inline qmgr_guid qm_group_id(qmgr_group *g) {
    qmgr_guid id;
    memset(&id, 0, sizeof id);
    CHECK_HR(qmgr_group_get_group_id(g, &id), QMGR_S_OK);
    return id;
}

static inline qmgr_guid qm_job_id(qmgr_job *j) {
    qmgr_guid id;
    memset(&id, 0, sizeof id);
    CHECK_HR(qmgr_job_get_job_id(j, &id), QMGR_S_OK);
    return id;
}

/* Cancels `g` unless it is cancelled already, then releases the handle. */
static inline void qm_finish(qmgr_group *g) {
    uint32_t s;
    if (qmgr_group_get_status(g, &s, &s) == QMGR_S_OK) {
        CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    }
    qmgr_group_release(g);
}

static inline void qm_no_proxy(qmgr_manager *m) {
    CHECK_HR(qmgr_manager_set_option(m, "proxy", ""), QMGR_S_OK);
}

#endif /* QMGR_TESTS_QM_H */
