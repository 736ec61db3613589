/*
 * job.c — IBackgroundCopyJob1 without transfers: AddFiles validation (all or nothing, D2
 * limits, protocol schemes), GetFile/GetFileCount, the progress and size getters with size
 * hints (D1, D12), GetStatus/GetErrorMessage of a fresh job, CancelJob and the cancelled job
 * handle (C-API.md; DECISIONS D1, D2, D3, D8, D12).
 */
#include "check.h"
#include "qm.h"

static char root[CHECK_ROOT_MAX];
static char dest[CHECK_DIR_MAX];

static int sentinel_storage;
#define SENTINEL_PTR ((void *)&sentinel_storage)

static uint32_t file_count(qmgr_job *j) {
    uint32_t n = QM_BAD;
    CHECK_HR(qmgr_job_get_file_count(j, &n), QMGR_S_OK);
    return n;
}

/* AddFiles with `n` entries must fail with `expected`, add nothing, and set a message that
   contains `needle` (and `index`, when not NULL: the failing file's index). */
static void add_rejects(qmgr_job *j, uint32_t n, const qmgr_fileset_info *const *set, qmgr_hresult expected,
                        const char *index, const char *needle, int line) {
    uint32_t before = file_count(j);
    check_prime();
    qmgr_hresult hr = qmgr_job_add_files(j, n, set);
    char where[64];
    snprintf(where, sizeof where, "add_rejects from line %d", line);
    check_hr_(__FILE__, line, where, hr, expected);
    check_msg_(__FILE__, line, where, needle);
    if (index) {
        check_msg_(__FILE__, line, where, index);
    }
    check_eq_(__FILE__, line, "file count after a refused AddFiles", "before", file_count(j), before);
}

static void one(qmgr_fileset_info *info, const char *url, const char *local, uint32_t hint) {
    info->remote_file = (char *)url;
    info->local_file = (char *)local;
    info->size_hint = hint;
}

static void test_add_files(qmgr_manager *m) {
    check_section("AddFiles: pointers, all or nothing, URLs and local paths (D2, D8, D12)");
    qmgr_group *g = qm_group(m);
    qmgr_job *j = qm_job(g);
    qmgr_fileset_info a, b, c;
    const qmgr_fileset_info *set[4];
    char pa[PATH_MAX], pb[PATH_MAX], pc[PATH_MAX];
    snprintf(pa, sizeof pa, "%s/alpha.bin", dest);
    snprintf(pb, sizeof pb, "%s/beta.bin", dest);
    snprintf(pc, sizeof pc, "%s/gamma.bin", dest);

    /* file_count 0 is a no-op, even with a NULL array. */
    CHECK_HR(qmgr_job_add_files(j, 0, NULL), QMGR_S_OK);
    CHECK_EQ(file_count(j), 0);
    /* NULLs: the array, an entry, a string of an entry (D12). */
    add_rejects(j, 1, NULL, QMGR_E_POINTER, NULL, "file_set", __LINE__);
    one(&a, "http://127.0.0.1:9/alpha", pa, 0);
    one(&b, "http://127.0.0.1:9/beta", pb, 0);
    set[0] = &a;
    set[1] = NULL;
    add_rejects(j, 2, set, QMGR_E_POINTER, "1", "file_set", __LINE__);
    one(&b, NULL, pb, 0);
    set[1] = &b;
    add_rejects(j, 2, set, QMGR_E_POINTER, "1", "remote_file", __LINE__);
    one(&b, "http://127.0.0.1:9/beta", NULL, 0);
    add_rejects(j, 2, set, QMGR_E_POINTER, "1", "local_file", __LINE__);
    CHECK_ERR(qmgr_job_add_files(NULL, 1, set), QMGR_E_POINTER, "job");

    /* One bad entry (index 2) rejects the whole call; the message names the index. */
    one(&b, "http://127.0.0.1:9/beta", pb, 0);
    one(&c, "http://127.0.0.1:9/gamma", "relative-path.bin", 0);
    set[0] = &a;
    set[1] = &b;
    set[2] = &c;
    add_rejects(j, 3, set, QMGR_E_INVALIDARG, "2", "relative-path.bin", __LINE__);

    /* Local paths. */
    char missing[PATH_MAX], longpath[4200], notdir[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/no-such-directory/file.bin", dest);
    one(&c, "http://127.0.0.1:9/gamma", missing, 0);
    add_rejects(j, 3, set, QMGR_E_INVALIDARG, "2", "no-such-directory", __LINE__);
    size_t len = (size_t)snprintf(longpath, sizeof longpath, "%s/", dest);
    while (len < 4097) {
        longpath[len++] = 'x';
    }
    longpath[len] = '\0';
    one(&c, "http://127.0.0.1:9/gamma", longpath, 0);
    add_rejects(j, 3, set, QMGR_E_INVALIDARG, "2", NULL, __LINE__);
    one(&c, "http://127.0.0.1:9/gamma", "/tmp/\xff\xfe-not-utf8.bin", 0);
    add_rejects(j, 3, set, QMGR_E_INVALIDARG, "2", NULL, __LINE__);
    snprintf(notdir, sizeof notdir, "%s/regular-file/child.bin", root);
    one(&c, "http://127.0.0.1:9/gamma", notdir, 0);
    add_rejects(j, 3, set, QMGR_E_INVALIDARG, "2", NULL, __LINE__);
    /* The same destination twice in one call, or already used in the group. */
    one(&c, "http://127.0.0.1:9/gamma", pa, 0);
    add_rejects(j, 3, set, QMGR_E_INVALIDARG, "2", "alpha.bin", __LINE__);

    /* URLs. */
    char longurl[2400];
    len = (size_t)snprintf(longurl, sizeof longurl, "http://127.0.0.1:9/");
    while (len < 2201) {
        longurl[len++] = 'u';
    }
    longurl[len] = '\0';
    static const char *const bad_urls[] = {
        "",
        "http://127.0.0.1:9/caf\xc3\xa9",     /* not ASCII */
        "http://127.0.0.1:9/with space",      /* malformed */
        "http:///no-host",                    /* malformed */
        "no-scheme-at-all",                   /* malformed */
        "file:///etc/hostname",               /* QM_PROTOCOL_SMB's scheme */
        "ftp://127.0.0.1/file",               /* QM_PROTOCOL_FTP's scheme */
        "http://127.0.0.1:9/\xff",            /* not UTF-8 */
    };
    one(&c, "", pc, 0);
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        c.remote_file = (char *)bad_urls[i];
        add_rejects(j, 3, set, QMGR_E_INVALIDARG, "2", NULL, __LINE__);
    }
    c.remote_file = longurl;
    add_rejects(j, 3, set, QMGR_E_INVALIDARG, "2", NULL, __LINE__);
    longurl[2200] = '\0'; /* exactly 2200 characters: accepted */
    CHECK_EQ(strlen(longurl), 2200);

    /* Finally a good call: files appended in order, strings copied. */
    char url_a[64], url_c[64];
    snprintf(url_a, sizeof url_a, "%s", "http://127.0.0.1:9/alpha");
    snprintf(url_c, sizeof url_c, "%s", "HTTPS://127.0.0.1:9/gamma?q=1");
    one(&a, url_a, pa, 10);
    one(&b, "http://127.0.0.1:9/beta", pb, 0);
    one(&c, longurl, pc, 0xFFFFFFFFu);
    CHECK_HR(qmgr_job_add_files(j, 3, set), QMGR_S_OK);
    url_a[7] = 'X'; /* the library copied the strings */
    pa[1] = 'X';
    CHECK_EQ(file_count(j), 3);
    qmgr_fileset_info info;
    CHECK_HR(qmgr_job_get_file(j, 0, &info), QMGR_S_OK);
    CHECK_STR(info.remote_file, "http://127.0.0.1:9/alpha");
    pa[1] = dest[1];
    CHECK_STR(info.local_file, pa);
    CHECK_EQ(info.size_hint, 10);
    qmgr_fileset_info_clear(&info);
    CHECK(info.remote_file == NULL && info.local_file == NULL && info.size_hint == 0);
    CHECK_HR(qmgr_job_get_file(j, 2, &info), QMGR_S_OK);
    CHECK_STR(info.remote_file, longurl);
    CHECK_STR(info.local_file, pc);
    CHECK_EQ(info.size_hint, 0xFFFFFFFFu);
    qmgr_fileset_info_clear(&info);
    one(&a, url_c, dest, 0);
    snprintf(pa, sizeof pa, "%s/delta.bin", dest);
    a.local_file = pa;
    CHECK_HR(qmgr_job_add_files(j, 1, set), QMGR_S_OK); /* appended after the others */
    CHECK_EQ(file_count(j), 4);
    CHECK_HR(qmgr_job_get_file(j, 3, &info), QMGR_S_OK);
    CHECK_STR(info.remote_file, "HTTPS://127.0.0.1:9/gamma?q=1"); /* verbatim */
    CHECK_STR(info.local_file, pa);
    qmgr_fileset_info_clear(&info);

    /* A destination of this group cannot be reused by another job of it either. */
    qmgr_job *j2 = qm_job(g);
    one(&b, "http://127.0.0.1:9/other", pb, 0);
    set[0] = &b;
    add_rejects(j2, 1, set, QMGR_E_INVALIDARG, "0", "beta.bin", __LINE__);

    /* file:// URLs belong to QM_PROTOCOL_SMB groups only; http:// is refused there. */
    qmgr_group *fg = qm_file_group(m);
    qmgr_job *fj = qm_job(fg);
    char src[PATH_MAX], url[PATH_MAX + 8], out[PATH_MAX];
    qm_source(root, "source.bin", 3, 100, src, url);
    snprintf(out, sizeof out, "%s/from-file.bin", dest);
    one(&a, "http://127.0.0.1:9/alpha", out, 0);
    set[0] = &a;
    add_rejects(fj, 1, set, QMGR_E_INVALIDARG, "0", NULL, __LINE__);
    a.remote_file = url;
    CHECK_HR(qmgr_job_add_files(fj, 1, set), QMGR_S_OK);

    /* Not writable → QMGR_E_ACCESSDENIED (only testable where permissions apply). */
    char ro[PATH_MAX];
    const char *denied = NULL;
    if (geteuid() != 0) {
        snprintf(ro, sizeof ro, "%s/read-only", root);
        CHECK(mkdir(ro, 0500) == 0);
        snprintf(ro, sizeof ro, "%s/read-only/file.bin", root);
        denied = ro;
    } else {
        int fd = open("/sys/qmgr-c-suite-probe", O_CREAT | O_EXCL | O_WRONLY, 0600);
        if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
            denied = "/sys/qmgr-c-suite-file.bin";
        } else if (fd >= 0) {
            close(fd);
            unlink("/sys/qmgr-c-suite-probe");
        }
    }
    if (denied) {
        one(&b, "http://127.0.0.1:9/denied", denied, 0);
        set[0] = &b;
        add_rejects(j2, 1, set, QMGR_E_ACCESSDENIED, "0", NULL, __LINE__);
    } else {
        check_note("running as root without a read-only directory: QMGR_E_ACCESSDENIED not checked");
    }

    qmgr_job_release(fj);
    CHECK_HR(qmgr_group_cancel_group(fg), QMGR_S_OK);
    qmgr_group_release(fg);
    qmgr_job_release(j2);
    qmgr_job_release(j);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

static void test_getters(qmgr_manager *m) {
    check_section("GetFile, GetFileCount, progress and sizes with size hints (D1, D12)");
    qmgr_group *g = qm_group(m);
    qmgr_job *j = qm_job(g);
    qmgr_job *k = qm_job(g);
    char p[PATH_MAX];
    uint32_t v;
    uint64_t done, total;

    /* A fresh job. */
    uint32_t s = QM_BAD, w = QM_BAD, t = QM_BAD, r = QM_BAD;
    CHECK_HR(qmgr_job_get_status(j, &s, &w, &t, &r), QMGR_S_OK);
    CHECK_EQ(s, QM_STATUS_JOB_INCOMPLETE);
    CHECK_EQ(w, 0);
    CHECK_EQ(t, 0);
    CHECK_EQ(r, 0);
    s = w = t = r = 0xABCD;
    CHECK_ERR(qmgr_job_get_status(j, NULL, &w, &t, &r), QMGR_E_POINTER, "status_out");
    CHECK_ERR(qmgr_job_get_status(j, &s, NULL, &t, &r), QMGR_E_POINTER, "win32_result_out");
    CHECK_ERR(qmgr_job_get_status(j, &s, &w, NULL, &r), QMGR_E_POINTER, "transport_result_out");
    CHECK_ERR(qmgr_job_get_status(j, &s, &w, &t, NULL), QMGR_E_POINTER, "num_of_retries_out");
    CHECK(s == 0xABCD && w == 0xABCD && t == 0xABCD && r == 0xABCD);
    char *msg = (char *)SENTINEL_PTR;
    CHECK_HR(qmgr_job_get_error_message(j, &msg), QMGR_S_FALSE);
    CHECK(msg == NULL);
    CHECK_ERR(qmgr_job_get_error_message(j, NULL), QMGR_E_POINTER, "message_out");
    CHECK_EQ(file_count(j), 0);
    CHECK_ERR(qmgr_job_get_file_count(j, NULL), QMGR_E_POINTER, "file_count_out");

    /* Progress of a job without files. */
    CHECK_HR(qmgr_job_get_progress(j, QM_PROGRESS_PERCENT_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, 0);
    CHECK_HR(qmgr_job_get_progress(j, QM_PROGRESS_SIZE_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, 0);
    CHECK_HR(qmgr_job_get_progress(j, QM_PROGRESS_TIME_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, 0);
    v = 0xABCD;
    CHECK_ERR(qmgr_job_get_progress(j, 0, &v), QMGR_E_INVALIDARG, "flags");
    CHECK_ERR(qmgr_job_get_progress(j, 4, &v), QMGR_E_INVALIDARG, "flags");
    CHECK_EQ(v, 0xABCD);
    CHECK_ERR(qmgr_job_get_progress(j, QM_PROGRESS_SIZE_DONE, NULL), QMGR_E_POINTER, "progress_out");
    CHECK_ERR(qmgr_job_get_progress64(j, NULL, &total), QMGR_E_POINTER, "bytes_done_out");
    CHECK_ERR(qmgr_job_get_progress64(j, &done, NULL), QMGR_E_POINTER, "bytes_total_out");

    /* Hints: job j = 100 + 200, job k = 50 → group size 350. */
    snprintf(p, sizeof p, "%s/h1.bin", dest);
    CHECK_HR(qm_add(j, "http://127.0.0.1:9/h1", p, 100), QMGR_S_OK);
    snprintf(p, sizeof p, "%s/h2.bin", dest);
    CHECK_HR(qm_add(j, "http://127.0.0.1:9/h2", p, 200), QMGR_S_OK);
    snprintf(p, sizeof p, "%s/h3.bin", dest);
    CHECK_HR(qm_add(k, "http://127.0.0.1:9/h3", p, 50), QMGR_S_OK);
    CHECK_HR(qmgr_group_get_size(g, &v), QMGR_S_OK);
    CHECK_EQ(v, 350);
    done = total = 7;
    CHECK_HR(qmgr_group_get_progress64(g, &done, &total), QMGR_S_OK);
    CHECK_EQ(done, 0);
    CHECK_EQ(total, 350);
    CHECK_HR(qmgr_job_get_progress64(j, &done, &total), QMGR_S_OK);
    CHECK_EQ(done, 0);
    CHECK_EQ(total, 300);
    CHECK_HR(qmgr_job_get_progress64(k, &done, &total), QMGR_S_OK);
    CHECK_EQ(total, 50);
    CHECK_HR(qmgr_group_get_progress(g, QM_PROGRESS_PERCENT_DONE, &v), QMGR_S_OK);
    CHECK_EQ(v, 0);

    /* GetFileProgress. */
    uint32_t fs = 0;
    done = total = 7;
    CHECK_HR(qmgr_job_get_file_progress(j, 1, &done, &total, &fs), QMGR_S_OK);
    CHECK_EQ(done, 0);
    CHECK_EQ(total, 200);
    CHECK_EQ(fs, QM_STATUS_FILE_INCOMPLETE);
    done = total = 7;
    fs = 7;
    CHECK_ERR(qmgr_job_get_file_progress(j, 2, &done, &total, &fs), QM_E_ITEM_NOT_FOUND, NULL);
    CHECK(done == 7 && total == 7 && fs == 7);
    CHECK_ERR(qmgr_job_get_file_progress(j, 0, NULL, &total, &fs), QMGR_E_POINTER, "bytes_done_out");
    CHECK_ERR(qmgr_job_get_file_progress(j, 0, &done, NULL, &fs), QMGR_E_POINTER, "bytes_total_out");
    CHECK_ERR(qmgr_job_get_file_progress(j, 0, &done, &total, NULL), QMGR_E_POINTER, "file_status_out");
    CHECK(done == 7 && total == 7 && fs == 7);

    /* GetFile out of range: QM_E_ITEM_NOT_FOUND, output untouched. */
    qmgr_fileset_info info;
    info.remote_file = (char *)SENTINEL_PTR;
    info.local_file = (char *)SENTINEL_PTR;
    info.size_hint = 77;
    CHECK_ERR(qmgr_job_get_file(j, 2, &info), QM_E_ITEM_NOT_FOUND, NULL);
    CHECK_ERR(qmgr_job_get_file(j, 0xFFFFFFFFu, &info), QM_E_ITEM_NOT_FOUND, NULL);
    CHECK(info.remote_file == (char *)SENTINEL_PTR && info.local_file == (char *)SENTINEL_PTR &&
          info.size_hint == 77);
    CHECK_ERR(qmgr_job_get_file(j, 0, NULL), QMGR_E_POINTER, "file_info_out");

    /* A file of unknown size: sizes become unknown (0 / UINT64_MAX). */
    snprintf(p, sizeof p, "%s/h4.bin", dest);
    CHECK_HR(qm_add(k, "http://127.0.0.1:9/h4", p, 0), QMGR_S_OK);
    CHECK_HR(qmgr_group_get_size(g, &v), QMGR_S_OK);
    CHECK_EQ(v, 0);
    CHECK_HR(qmgr_group_get_progress64(g, &done, &total), QMGR_S_OK);
    CHECK_EQ(total, UINT64_MAX);
    CHECK_HR(qmgr_job_get_progress64(k, &done, &total), QMGR_S_OK);
    CHECK_EQ(total, UINT64_MAX);
    CHECK_HR(qmgr_job_get_progress64(j, &done, &total), QMGR_S_OK);
    CHECK_EQ(total, 300);
    CHECK_HR(qmgr_job_get_file_progress(k, 1, &done, &total, &fs), QMGR_S_OK);
    CHECK_EQ(total, UINT64_MAX);

    /* get_Size saturates at 0xFFFFFFFF. */
    qmgr_group *big = qm_group(m);
    qmgr_job *bj = qm_job(big);
    snprintf(p, sizeof p, "%s/big1.bin", dest);
    CHECK_HR(qm_add(bj, "http://127.0.0.1:9/big1", p, 0xFFFFFFFFu), QMGR_S_OK);
    snprintf(p, sizeof p, "%s/big2.bin", dest);
    CHECK_HR(qm_add(bj, "http://127.0.0.1:9/big2", p, 0xFFFFFFF0u), QMGR_S_OK);
    CHECK_HR(qmgr_group_get_size(big, &v), QMGR_S_OK);
    CHECK_EQ(v, 0xFFFFFFFFu);
    CHECK_HR(qmgr_group_get_progress64(big, &done, &total), QMGR_S_OK);
    CHECK_EQ(total, 0x1FFFFFFEFull);

    qmgr_job_release(bj);
    CHECK_HR(qmgr_group_cancel_group(big), QMGR_S_OK);
    qmgr_group_release(big);
    qmgr_job_release(j);
    qmgr_job_release(k);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

static void test_cancel_job(qmgr_manager *m) {
    check_section("CancelJob in a suspended group; the cancelled job handle (D1, D12)");
    qmgr_guid jid = qm_guid(), kid = qm_guid(), got;
    qmgr_group *g = qm_group(m);
    qmgr_job *j = qm_job_with_id(g, jid);
    qmgr_job *k = qm_job_with_id(g, kid);
    char p[PATH_MAX];
    uint32_t v;
    snprintf(p, sizeof p, "%s/c1.bin", dest);
    CHECK_HR(qm_add(j, "http://127.0.0.1:9/c1", p, 1000), QMGR_S_OK);
    snprintf(p, sizeof p, "%s/c2.bin", dest);
    CHECK_HR(qm_add(k, "http://127.0.0.1:9/c2", p, 24), QMGR_S_OK);
    CHECK_HR(qmgr_group_get_size(g, &v), QMGR_S_OK);
    CHECK_EQ(v, 1024);

    CHECK_ERR(qmgr_job_cancel_job(NULL), QMGR_E_POINTER, "job");
    CHECK_ERR(qmgr_job_cancel_job((qmgr_job *)SENTINEL_PTR), QMGR_E_HANDLE, "job");
    CHECK_HR(qmgr_job_cancel_job(j), QMGR_S_OK);

    /* No longer found, listed or counted (D12). */
    qmgr_job *x = (qmgr_job *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_get_job(g, jid, &x), QM_E_ITEM_NOT_FOUND, NULL);
    CHECK(x == NULL);
    qmgr_enum_jobs *e = NULL;
    uint32_t count = 0, fetched = 0;
    qmgr_guid ids[2];
    CHECK_HR(qmgr_group_enum_jobs(g, 0, &e), QMGR_S_OK);
    CHECK_HR(qmgr_enum_jobs_get_count(e, &count), QMGR_S_OK);
    CHECK_EQ(count, 1);
    CHECK_HR(qmgr_enum_jobs_next(e, 2, ids, &fetched), QMGR_S_FALSE);
    CHECK_EQ(fetched, 1);
    CHECK(qm_guid_eq(&ids[0], &kid));
    qmgr_enum_jobs_release(e);
    CHECK_HR(qmgr_group_get_size(g, &v), QMGR_S_OK);
    CHECK_EQ(v, 24);
    CHECK_EQ(qm_status(g), 0x180);

    /* The cancelled job's handle: get_job_id only (D1, D12). */
    got = qm_guid();
    CHECK_HR(qmgr_job_get_job_id(j, &got), QMGR_S_OK);
    CHECK(qm_guid_eq(&got, &jid));
    uint32_t s = 0xABCD, w = 0xABCD, t = 0xABCD, r = 0xABCD;
    uint64_t d = 7, tt = 7;
    char *msg = (char *)SENTINEL_PTR;
    qmgr_fileset_info info;
    info.remote_file = (char *)SENTINEL_PTR;
    info.local_file = NULL;
    info.size_hint = 5;
    const qmgr_fileset_info *set[1] = {&info};
    v = 0xABCD;
    CHECK_ERR(qmgr_job_cancel_job(j), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_job_get_progress(j, QM_PROGRESS_SIZE_DONE, &v), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_job_get_status(j, &s, &w, &t, &r), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_job_get_file(j, 0, &info), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_job_get_file_count(j, &v), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_job_switch_to_foreground(j), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_job_get_progress64(j, &d, &tt), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_job_get_file_progress(j, 0, &d, &tt, &s), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_job_get_error_message(j, &msg), QM_E_INVALID_STATE, NULL);
    info.remote_file = (char *)"http://127.0.0.1:9/c3";
    snprintf(p, sizeof p, "%s/c3.bin", dest);
    info.local_file = p;
    CHECK_ERR(qmgr_job_add_files(j, 1, set), QM_E_INVALID_STATE, NULL);
    CHECK(v == 0xABCD && s == 0xABCD && w == 0xABCD && t == 0xABCD && r == 0xABCD && d == 7 && tt == 7);
    CHECK(msg == (char *)SENTINEL_PTR);
    CHECK_EQ(qmgr_job_release(j), 0);

    /* Its GUID may be reused, and its destinations are free again. */
    j = qm_job_with_id(g, jid);
    snprintf(p, sizeof p, "%s/c1.bin", dest);
    CHECK_HR(qm_add(j, "http://127.0.0.1:9/c1", p, 1000), QMGR_S_OK);
    CHECK_HR(qmgr_group_get_size(g, &v), QMGR_S_OK);
    CHECK_EQ(v, 1024);
    /* Jobs stay in creation order: k first, then the new j. */
    CHECK_HR(qmgr_group_enum_jobs(g, 0, &e), QMGR_S_OK);
    CHECK_HR(qmgr_enum_jobs_next(e, 2, ids, &fetched), QMGR_S_OK);
    CHECK(qm_guid_eq(&ids[0], &kid) && qm_guid_eq(&ids[1], &jid));
    qmgr_enum_jobs_release(e);

    /* Cancelling a group cancels its jobs: their handles answer QM_E_INVALID_STATE. */
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    CHECK_ERR(qmgr_job_cancel_job(k), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_job_get_file_count(k, &v), QM_E_INVALID_STATE, NULL);
    CHECK_HR(qmgr_job_get_job_id(k, &got), QMGR_S_OK);
    CHECK(qm_guid_eq(&got, &kid));
    qmgr_job_release(j);
    qmgr_job_release(k);
    qmgr_group_release(g);

    /* After the group is gone, its job GUIDs are free in the queue. */
    g = qm_group(m);
    j = qm_job_with_id(g, kid);
    qmgr_job_release(j);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

int main(void) {
    check_begin("job");
    check_mkdtemp(root, "job");
    char dir[CHECK_DIR_MAX], regular[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/queue", root);
    snprintf(dest, sizeof dest, "%s/dest", root);
    CHECK(mkdir(dest, 0700) == 0);
    snprintf(regular, sizeof regular, "%s/regular-file", root);
    CHECK(check_write_file(regular, 1, 1) == 0);
    qmgr_manager *m = qm_open(dir);
    test_add_files(m);
    test_getters(m);
    test_cancel_job(m);
    CHECK_EQ(qmgr_manager_release(m), 0);
    check_rmtree(root);
    return check_done();
}
