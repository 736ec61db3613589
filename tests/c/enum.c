/*
 * enum.c — IEnumBackgroundCopyGroups and IEnumBackgroundCopyJobs1: Next/Skip with S_FALSE,
 * celt_fetched_out NULL only when celt == 1, Reset, Clone (same snapshot and position,
 * independent cursor), GetCount, snapshots in creation order, add_ref/release
 * (C-API.md; reference 2.4, 2.5; DECISIONS D8, D12).
 *
 * Both enumerators are exercised by the same code through a small table of functions.
 */
#include "check.h"
#include "qm.h"

static char root[CHECK_ROOT_MAX];

static int sentinel_storage;
#define SENTINEL_PTR ((void *)&sentinel_storage)

/* The five methods and IUnknown of one enumerator type, on an opaque pointer. */
typedef struct enum_ops {
    const char *name;
    qmgr_hresult (*next)(void *e, uint32_t celt, qmgr_guid *rgelt, uint32_t *fetched);
    qmgr_hresult (*skip)(void *e, uint32_t celt);
    qmgr_hresult (*reset)(void *e);
    qmgr_hresult (*clone)(void *e, void **out);
    qmgr_hresult (*count)(void *e, uint32_t *out);
    uint32_t (*add_ref)(void *e);
    uint32_t (*release)(void *e);
} enum_ops;

static qmgr_hresult g_next(void *e, uint32_t c, qmgr_guid *r, uint32_t *f) {
    return qmgr_enum_groups_next((qmgr_enum_groups *)e, c, r, f);
}
static qmgr_hresult g_skip(void *e, uint32_t c) {
    return qmgr_enum_groups_skip((qmgr_enum_groups *)e, c);
}
static qmgr_hresult g_reset(void *e) {
    return qmgr_enum_groups_reset((qmgr_enum_groups *)e);
}
static qmgr_hresult g_clone(void *e, void **out) {
    qmgr_enum_groups *o = out ? (qmgr_enum_groups *)*out : NULL;
    qmgr_hresult hr = qmgr_enum_groups_clone((qmgr_enum_groups *)e, out ? &o : NULL);
    if (out) {
        *out = o;
    }
    return hr;
}
static qmgr_hresult g_count(void *e, uint32_t *out) {
    return qmgr_enum_groups_get_count((qmgr_enum_groups *)e, out);
}
static uint32_t g_add_ref(void *e) {
    return qmgr_enum_groups_add_ref((qmgr_enum_groups *)e);
}
static uint32_t g_release(void *e) {
    return qmgr_enum_groups_release((qmgr_enum_groups *)e);
}

static qmgr_hresult j_next(void *e, uint32_t c, qmgr_guid *r, uint32_t *f) {
    return qmgr_enum_jobs_next((qmgr_enum_jobs *)e, c, r, f);
}
static qmgr_hresult j_skip(void *e, uint32_t c) {
    return qmgr_enum_jobs_skip((qmgr_enum_jobs *)e, c);
}
static qmgr_hresult j_reset(void *e) {
    return qmgr_enum_jobs_reset((qmgr_enum_jobs *)e);
}
static qmgr_hresult j_clone(void *e, void **out) {
    qmgr_enum_jobs *o = out ? (qmgr_enum_jobs *)*out : NULL;
    qmgr_hresult hr = qmgr_enum_jobs_clone((qmgr_enum_jobs *)e, out ? &o : NULL);
    if (out) {
        *out = o;
    }
    return hr;
}
static qmgr_hresult j_count(void *e, uint32_t *out) {
    return qmgr_enum_jobs_get_count((qmgr_enum_jobs *)e, out);
}
static uint32_t j_add_ref(void *e) {
    return qmgr_enum_jobs_add_ref((qmgr_enum_jobs *)e);
}
static uint32_t j_release(void *e) {
    return qmgr_enum_jobs_release((qmgr_enum_jobs *)e);
}

static const enum_ops group_ops = {"enum_groups", g_next, g_skip, g_reset, g_clone, g_count, g_add_ref, g_release};
static const enum_ops job_ops = {"enum_jobs", j_next, j_skip, j_reset, j_clone, j_count, j_add_ref, j_release};

#define N 5

/* Runs every enumerator rule on `e`, whose snapshot is ids[0..N-1] in that order. `other`
   is a live handle of another type (for QMGR_E_HANDLE). */
static void exercise(const enum_ops *ops, void *e, const qmgr_guid *ids, void *other) {
    qmgr_guid out[N + 3], sentinel;
    uint32_t fetched, count;
    memset(&sentinel, 0x5A, sizeof sentinel);
    for (int i = 0; i < N + 3; i++) {
        out[i] = sentinel;
    }

    /* GetCount. */
    count = 0;
    CHECK_HR(ops->count(e, &count), QMGR_S_OK);
    CHECK_EQ(count, N);

    /* Next(0): S_OK, nothing fetched (D12). */
    fetched = 99;
    CHECK_HR(ops->next(e, 0, out, &fetched), QMGR_S_OK);
    CHECK_EQ(fetched, 0);
    CHECK(qm_guid_eq(&out[0], &sentinel));

    /* Next(1) with celt_fetched NULL is allowed. */
    CHECK_HR(ops->next(e, 1, out, NULL), QMGR_S_OK);
    CHECK(qm_guid_eq(&out[0], &ids[0]));
    /* Next(2): exactly two, in creation order. */
    fetched = 99;
    CHECK_HR(ops->next(e, 2, out, &fetched), QMGR_S_OK);
    CHECK_EQ(fetched, 2);
    CHECK(qm_guid_eq(&out[0], &ids[1]) && qm_guid_eq(&out[1], &ids[2]));
    /* GetCount does not depend on the cursor. */
    CHECK_HR(ops->count(e, &count), QMGR_S_OK);
    CHECK_EQ(count, N);

    /* Clone: same snapshot and position, independent cursor. */
    void *c = SENTINEL_PTR;
    CHECK_HR(ops->clone(e, &c), QMGR_S_OK);
    CHECK(c != NULL && c != SENTINEL_PTR && c != e);
    CHECK_HR(ops->next(c, 1, out, NULL), QMGR_S_OK);
    CHECK(qm_guid_eq(&out[0], &ids[3]));
    CHECK_HR(ops->next(e, 1, out, NULL), QMGR_S_OK); /* e has not moved */
    CHECK(qm_guid_eq(&out[0], &ids[3]));
    CHECK_HR(ops->count(c, &count), QMGR_S_OK);
    CHECK_EQ(count, N);
    /* Clone of a clone, then the original moves on alone. */
    void *cc = NULL;
    CHECK_HR(ops->clone(c, &cc), QMGR_S_OK);
    CHECK_HR(ops->reset(c), QMGR_S_OK);
    CHECK_HR(ops->next(c, 1, out, NULL), QMGR_S_OK);
    CHECK(qm_guid_eq(&out[0], &ids[0]));
    CHECK_HR(ops->next(cc, 1, out, NULL), QMGR_S_OK);
    CHECK(qm_guid_eq(&out[0], &ids[4]));
    CHECK(ops->release(cc) == 0);
    CHECK(ops->release(c) == 0);

    /* Next past the end: S_FALSE with the rest; the slots beyond are untouched. */
    for (int i = 0; i < N + 3; i++) {
        out[i] = sentinel;
    }
    fetched = 99;
    CHECK_HR(ops->next(e, 3, out, &fetched), QMGR_S_FALSE);
    CHECK_EQ(fetched, 1);
    CHECK(qm_guid_eq(&out[0], &ids[4]));
    CHECK(qm_guid_eq(&out[1], &sentinel) && qm_guid_eq(&out[2], &sentinel));
    fetched = 99;
    CHECK_HR(ops->next(e, 2, out, &fetched), QMGR_S_FALSE);
    CHECK_EQ(fetched, 0);
    out[0] = sentinel;
    CHECK_HR(ops->next(e, 1, out, NULL), QMGR_S_FALSE);
    CHECK(qm_guid_eq(&out[0], &sentinel));
    fetched = 99;
    CHECK_HR(ops->next(e, 0, out, &fetched), QMGR_S_OK);
    CHECK_EQ(fetched, 0);

    /* Reset, then Next(N) returns everything in creation order. */
    CHECK_HR(ops->reset(e), QMGR_S_OK);
    fetched = 0;
    CHECK_HR(ops->next(e, N, out, &fetched), QMGR_S_OK);
    CHECK_EQ(fetched, N);
    int in_order = 1;
    for (int i = 0; i < N; i++) {
        in_order &= qm_guid_eq(&out[i], &ids[i]);
    }
    CHECK(in_order);

    /* Skip. */
    CHECK_HR(ops->reset(e), QMGR_S_OK);
    CHECK_HR(ops->skip(e, 0), QMGR_S_OK);
    CHECK_HR(ops->skip(e, 2), QMGR_S_OK);
    CHECK_HR(ops->next(e, 1, out, NULL), QMGR_S_OK);
    CHECK(qm_guid_eq(&out[0], &ids[2]));
    CHECK_HR(ops->skip(e, 2), QMGR_S_OK); /* exactly to the end */
    CHECK_HR(ops->next(e, 1, out, NULL), QMGR_S_FALSE);
    CHECK_HR(ops->skip(e, 1), QMGR_S_FALSE);
    CHECK_HR(ops->reset(e), QMGR_S_OK);
    CHECK_HR(ops->skip(e, 4), QMGR_S_OK);
    CHECK_HR(ops->skip(e, 3), QMGR_S_FALSE); /* only one was left: moves past the end */
    fetched = 99;
    CHECK_HR(ops->next(e, 1, out, &fetched), QMGR_S_FALSE);
    CHECK_EQ(fetched, 0);
    CHECK_HR(ops->reset(e), QMGR_S_OK);
    CHECK_HR(ops->skip(e, 0xFFFFFFFFu), QMGR_S_FALSE);
    CHECK_HR(ops->reset(e), QMGR_S_OK);

    /* Pointer rules (D12): celt_fetched_out NULL only for celt == 1; rgelt for celt > 0. */
    fetched = 99;
    for (int i = 0; i < N + 3; i++) {
        out[i] = sentinel;
    }
    CHECK_ERR(ops->next(e, 2, out, NULL), QMGR_E_POINTER, "celt_fetched_out");
    CHECK_ERR(ops->next(e, 0, out, NULL), QMGR_E_POINTER, "celt_fetched_out");
    CHECK_ERR(ops->next(e, 1, NULL, &fetched), QMGR_E_POINTER, "rgelt");
    CHECK_ERR(ops->next(e, 3, NULL, &fetched), QMGR_E_POINTER, "rgelt");
    CHECK_EQ(fetched, 99);
    CHECK(qm_guid_eq(&out[0], &sentinel));
    /* …and a failed call did not move the cursor. */
    CHECK_HR(ops->next(e, 1, out, NULL), QMGR_S_OK);
    CHECK(qm_guid_eq(&out[0], &ids[0]));
    CHECK_HR(ops->reset(e), QMGR_S_OK);

    CHECK_ERR(ops->count(e, NULL), QMGR_E_POINTER, "count_out");
    CHECK_ERR(ops->clone(e, NULL), QMGR_E_POINTER, "enum_out");

    /* Bad handles: NULL, foreign, other type, released. */
    void *bad[3];
    bad[0] = SENTINEL_PTR;
    bad[1] = other;
    void *dead = NULL;
    CHECK_HR(ops->clone(e, &dead), QMGR_S_OK);
    CHECK(ops->release(dead) == 0);
    bad[2] = dead;
    CHECK_ERR(ops->next(NULL, 1, out, &fetched), QMGR_E_POINTER, "e");
    CHECK_ERR(ops->skip(NULL, 1), QMGR_E_POINTER, "e");
    CHECK_ERR(ops->reset(NULL), QMGR_E_POINTER, "e");
    CHECK_ERR(ops->count(NULL, &count), QMGR_E_POINTER, "e");
    c = SENTINEL_PTR;
    CHECK_ERR(ops->clone(NULL, &c), QMGR_E_POINTER, "e");
    CHECK(c == NULL);
    for (int i = 0; i < 3; i++) {
        fetched = 99;
        count = 99;
        out[0] = sentinel;
        CHECK_ERR(ops->next(bad[i], 1, out, &fetched), QMGR_E_HANDLE, "e");
        CHECK_ERR(ops->skip(bad[i], 1), QMGR_E_HANDLE, "e");
        CHECK_ERR(ops->reset(bad[i]), QMGR_E_HANDLE, "e");
        CHECK_ERR(ops->count(bad[i], &count), QMGR_E_HANDLE, "e");
        c = SENTINEL_PTR;
        CHECK_ERR(ops->clone(bad[i], &c), QMGR_E_HANDLE, "e");
        CHECK(c == NULL); /* handle out-parameters are set to NULL first */
        CHECK(fetched == 99 && count == 99 && qm_guid_eq(&out[0], &sentinel));
        CHECK_EQ(ops->add_ref(bad[i]), 0);
        CHECK_EQ(ops->release(bad[i]), 0);
    }
    CHECK_EQ(ops->release(NULL), 0);
    CHECK_EQ(ops->add_ref(NULL), 0);

    /* add_ref/release keep the enumerator alive until the last release. */
    CHECK(ops->add_ref(e) >= 2);
    CHECK(ops->release(e) >= 1);
    CHECK_HR(ops->count(e, &count), QMGR_S_OK);
}

static void test_groups(qmgr_manager *m) {
    check_section("IEnumBackgroundCopyGroups (reference 2.4; D12)");
    qmgr_guid ids[N];
    qmgr_group *groups[N];
    for (int i = 0; i < N; i++) {
        ids[i] = qm_guid();
        groups[i] = qm_group_with_id(m, ids[i]);
    }
    qmgr_enum_groups *e = NULL;
    CHECK_HR(qmgr_manager_enum_groups(m, 0, &e), QMGR_S_OK);

    /* A snapshot: later changes do not show; cancelled groups stay listed but are gone. */
    qmgr_group *late = qm_group(m);
    CHECK_HR(qmgr_group_cancel_group(groups[1]), QMGR_S_OK);
    exercise(&group_ops, e, ids, groups[0]);
    qmgr_group *g = (qmgr_group *)SENTINEL_PTR;
    CHECK_HR(qmgr_manager_get_group(m, ids[1], &g), QM_E_ITEM_NOT_FOUND);
    CHECK(g == NULL);
    CHECK_EQ(qmgr_enum_groups_release(e), 0);

    /* A new enumeration sees the current queue, in creation order. */
    CHECK_HR(qmgr_manager_enum_groups(m, 0, &e), QMGR_S_OK);
    uint32_t count = 0, fetched = 0;
    qmgr_guid out[N + 1], late_id;
    CHECK_HR(qmgr_enum_groups_get_count(e, &count), QMGR_S_OK);
    CHECK_EQ(count, N);
    CHECK_HR(qmgr_enum_groups_next(e, N + 1, out, &fetched), QMGR_S_FALSE);
    CHECK_EQ(fetched, N);
    CHECK_HR(qmgr_group_get_group_id(late, &late_id), QMGR_S_OK);
    CHECK(qm_guid_eq(&out[0], &ids[0]) && qm_guid_eq(&out[1], &ids[2]) && qm_guid_eq(&out[2], &ids[3]) &&
          qm_guid_eq(&out[3], &ids[4]) && qm_guid_eq(&out[4], &late_id));

    /* An enumerator outlives the manager handle it came from. */
    qmgr_enum_groups *c = NULL;
    CHECK_HR(qmgr_enum_groups_clone(e, &c), QMGR_S_OK);
    for (int i = 0; i < N; i++) {
        if (i != 1) {
            CHECK_HR(qmgr_group_cancel_group(groups[i]), QMGR_S_OK);
        }
        qmgr_group_release(groups[i]);
    }
    CHECK_HR(qmgr_group_cancel_group(late), QMGR_S_OK);
    qmgr_group_release(late);
    CHECK_EQ(qmgr_enum_groups_release(e), 0);
    CHECK_HR(qmgr_enum_groups_reset(c), QMGR_S_OK);
    CHECK_HR(qmgr_enum_groups_get_count(c, &count), QMGR_S_OK);
    CHECK_EQ(count, N);
    CHECK_EQ(qmgr_enum_groups_release(c), 0);

    /* An empty queue: count 0, Next(1) → S_FALSE with 0. */
    CHECK_HR(qmgr_manager_enum_groups(m, 0, &e), QMGR_S_OK);
    CHECK_HR(qmgr_enum_groups_get_count(e, &count), QMGR_S_OK);
    CHECK_EQ(count, 0);
    fetched = 9;
    CHECK_HR(qmgr_enum_groups_next(e, 1, out, &fetched), QMGR_S_FALSE);
    CHECK_EQ(fetched, 0);
    CHECK_HR(qmgr_enum_groups_skip(e, 1), QMGR_S_FALSE);
    CHECK_HR(qmgr_enum_groups_skip(e, 0), QMGR_S_OK);
    qmgr_enum_groups_release(e);
}

static void test_jobs(qmgr_manager *m) {
    check_section("IEnumBackgroundCopyJobs1 (reference 2.5; D12)");
    qmgr_group *g = qm_group(m);
    qmgr_guid ids[N];
    qmgr_job *jobs[N];
    for (int i = 0; i < N; i++) {
        ids[i] = qm_guid();
        jobs[i] = qm_job_with_id(g, ids[i]);
    }
    qmgr_enum_jobs *e = NULL;
    CHECK_HR(qmgr_group_enum_jobs(g, 0, &e), QMGR_S_OK);
    qmgr_job *late = qm_job(g);
    CHECK_HR(qmgr_job_cancel_job(jobs[3]), QMGR_S_OK);
    exercise(&job_ops, e, ids, g);
    /* The enumerated GUID of the cancelled job is not found any more. */
    qmgr_job *j = (qmgr_job *)SENTINEL_PTR;
    CHECK_HR(qmgr_group_get_job(g, ids[3], &j), QM_E_ITEM_NOT_FOUND);
    CHECK(j == NULL);
    CHECK_EQ(qmgr_enum_jobs_release(e), 0);

    /* Wrong-type handles between the two enumerators. */
    qmgr_enum_groups *ge = NULL;
    CHECK_HR(qmgr_manager_enum_groups(m, 0, &ge), QMGR_S_OK);
    CHECK_HR(qmgr_group_enum_jobs(g, 0, &e), QMGR_S_OK);
    uint32_t count = 77;
    CHECK_ERR(qmgr_enum_jobs_get_count((qmgr_enum_jobs *)(void *)ge, &count), QMGR_E_HANDLE, "e");
    CHECK_ERR(qmgr_enum_groups_get_count((qmgr_enum_groups *)(void *)e, &count), QMGR_E_HANDLE, "e");
    CHECK_EQ(count, 77);
    CHECK_EQ(qmgr_enum_groups_release((qmgr_enum_groups *)(void *)e), 0);
    CHECK_HR(qmgr_enum_jobs_get_count(e, &count), QMGR_S_OK); /* still alive */
    CHECK_EQ(count, N);
    qmgr_enum_groups_release(ge);

    /* The enumerator outlives its group (a snapshot of GUIDs). */
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    CHECK_HR(qmgr_enum_jobs_reset(e), QMGR_S_OK);
    qmgr_guid out[N];
    uint32_t fetched = 0;
    CHECK_HR(qmgr_enum_jobs_next(e, N, out, &fetched), QMGR_S_OK);
    CHECK_EQ(fetched, N);
    qmgr_enum_jobs_release(e);
    /* …but a cancelled group cannot enumerate (D12). */
    e = (qmgr_enum_jobs *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_enum_jobs(g, 0, &e), QM_E_INVALID_STATE, NULL);
    CHECK(e == NULL);
    for (int i = 0; i < N; i++) {
        qmgr_job_release(jobs[i]);
    }
    qmgr_job_release(late);
    qmgr_group_release(g);

    /* A group without jobs. */
    g = qm_group(m);
    CHECK_HR(qmgr_group_enum_jobs(g, 0, &e), QMGR_S_OK);
    CHECK_HR(qmgr_enum_jobs_get_count(e, &count), QMGR_S_OK);
    CHECK_EQ(count, 0);
    fetched = 9;
    CHECK_HR(qmgr_enum_jobs_next(e, 3, out, &fetched), QMGR_S_FALSE);
    CHECK_EQ(fetched, 0);
    qmgr_enum_jobs_release(e);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

int main(void) {
    check_begin("enum");
    check_mkdtemp(root, "enum");
    char dir[CHECK_DIR_MAX];
    snprintf(dir, sizeof dir, "%s/queue", root);
    qmgr_manager *m = qm_open(dir);
    test_groups(m);
    test_jobs(m);
    CHECK_EQ(qmgr_manager_release(m), 0);
    check_rmtree(root);
    return check_done();
}
