/*
 * checksum.c — qmgr_job_set_file_checksum (C-API.md "Extensions"; DECISIONS D15): its
 * arguments (NULLs, unknown algorithm, wrong length, not hex, not UTF-8, index out of range,
 * any case accepted), its states (cancelled job or group, complete file), and transfers of
 * file:// sources with a known content: the right digest completes, a wrong one is a fatal
 * job error with win32_result QMGR_E_BAD_DIGEST, transport_result 0, a message naming the
 * algorithm and both digests, no final file and no temporary file left.
 */
#include "check.h"
#include "qm.h"

static char root[CHECK_ROOT_MAX];

/* The content of every source, and its digests. */
static const char ABC[] = "abc";
static const char ABC_SHA256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char ABC_SHA512[] = "DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A"
                                 "2192992A274FC1A836BA3C23A3FEEBBD454D4423643CE80E2A9AC94FA54CA49F";
static const char OTHER_SHA256[] = "0000000000000000000000000000000000000000000000000000000000000001";

static int serial;

/* A file:// group in SUSPENDED with one job holding one file, `abc` copied into dir/name. */
static qmgr_group *abc_group(qmgr_manager *m, const char *dir, qmgr_job **job, char *local) {
    char src[PATH_MAX], url[PATH_MAX + 8];
    check_fmt(src, sizeof src, "%s/source-%d", root, ++serial);
    FILE *f = fopen(src, "wb");
    CHECK(f != NULL && fwrite(ABC, 1, 3, f) == 3);
    if (f) {
        fclose(f);
    }
    qm_file_url(url, sizeof url, src);
    check_fmt(local, PATH_MAX, "%s/abc-%d.txt", dir, serial);
    qmgr_group *g = qm_file_group(m);
    *job = qm_job(g);
    CHECK_HR(qm_add(*job, url, local, 0), QMGR_S_OK);
    return g;
}

static void test_arguments(qmgr_manager *m, const char *dir) {
    check_section("qmgr_job_set_file_checksum: arguments (D8, D15)");
    char local[PATH_MAX];
    qmgr_job *j = NULL;
    qmgr_group *g = abc_group(m, dir, &j, local);
    const char bad_utf8[] = {'s', 'h', 'a', '-', '2', '5', '6', (char)0xC3, 0};
    qmgr_job *j2 = qm_job(g); /* cancelled below */

    CHECK_ERR(qmgr_job_set_file_checksum(NULL, 0, "sha-256", ABC_SHA256), QMGR_E_POINTER, "job");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, NULL, ABC_SHA256), QMGR_E_POINTER, "algorithm");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, "sha-256", NULL), QMGR_E_POINTER, "hex_digest");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, "md5", ABC_SHA256), QMGR_E_INVALIDARG, "algorithm");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, "sha256", ABC_SHA256), QMGR_E_INVALIDARG, "algorithm");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, bad_utf8, ABC_SHA256), QMGR_E_INVALIDARG, "algorithm");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, "sha-256", ""), QMGR_E_INVALIDARG, "hex_digest");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, "sha-256", ABC_SHA256 + 1), QMGR_E_INVALIDARG, "hex_digest");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, "sha-512", ABC_SHA256), QMGR_E_INVALIDARG, "128");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, "sha-256",
                                         "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
              QMGR_E_INVALIDARG, "position 0");
    CHECK_ERR(qmgr_job_set_file_checksum(j, 1, "sha-256", ABC_SHA256), QMGR_E_INVALIDARG, "file_index 1");
    CHECK_ERR(qmgr_job_set_file_checksum(j, UINT32_MAX, "sha-256", ABC_SHA256), QMGR_E_INVALIDARG, "file_index");
    /* Any case, set again: the last one counts. */
    CHECK_HR(qmgr_job_set_file_checksum(j, 0, "SHA-256", OTHER_SHA256), QMGR_S_OK);
    CHECK_HR(qmgr_job_set_file_checksum(j, 0, "Sha-512", ABC_SHA512), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK(check_exists(local));
    /* Complete file, cancelled job, cancelled group. */
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, "sha-256", ABC_SHA256), QM_E_INVALID_STATE, "complete");
    CHECK_HR(qmgr_job_cancel_job(j2), QMGR_S_OK);
    CHECK_ERR(qmgr_job_set_file_checksum(j2, 0, "sha-256", ABC_SHA256), QM_E_INVALID_STATE, "cancelled");
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    CHECK_ERR(qmgr_job_set_file_checksum(j, 0, "sha-256", ABC_SHA256), QM_E_INVALID_STATE, "cancelled");
    qmgr_job_release(j2);
    qmgr_job_release(j);
    qmgr_group_release(g);
}

static void test_mismatch(qmgr_manager *m, const char *dir) {
    check_section("a wrong checksum: fatal QMGR_E_BAD_DIGEST, nothing left on disk (D15)");
    char local[PATH_MAX];
    qmgr_job *j = NULL;
    qmgr_group *g = abc_group(m, dir, &j, local);
    CHECK_HR(qmgr_job_set_file_checksum(j, 0, "sha-256", OTHER_SHA256), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x380);
    uint32_t s = 0, w = 0, t = 1, r = 0;
    CHECK_HR(qmgr_job_get_status(j, &s, &w, &t, &r), QMGR_S_OK);
    CHECK_EQ(w, (uint32_t)QMGR_E_BAD_DIGEST);
    CHECK_EQ(t, 0);
    CHECK_EQ(s & QM_STATUS_JOB_ERROR, QM_STATUS_JOB_ERROR);
    char *message = NULL;
    CHECK_HR(qmgr_job_get_error_message(j, &message), QMGR_S_OK);
    CHECK(message != NULL && strstr(message, "sha-256") && strstr(message, OTHER_SHA256) && strstr(message, ABC_SHA256));
    qmgr_string_free(message);
    CHECK(!check_exists(local));
    CHECK_WAIT(check_count_entries(dir) == 0, CHECK_DEADLINE_MS); /* the temporary file is gone */
    char *text = NULL;
    CHECK_HR(qmgr_get_error_description(QMGR_E_BAD_DIGEST, &text), QMGR_S_OK);
    CHECK(text != NULL && strstr(text, "checksum") != NULL);
    qmgr_string_free(text);
    /* The right checksum and a resume: the file is fetched again and completes. */
    CHECK_HR(qmgr_job_set_file_checksum(j, 0, "sha-256", ABC_SHA256), QMGR_S_OK);
    CHECK_HR(qmgr_group_resume_group(g), QMGR_S_OK);
    CHECK_EQ(qm_wait(g), 0x140);
    CHECK(check_exists(local));
    qmgr_job_release(j);
    qm_finish(g);
}

int main(void) {
    check_begin("checksum");
    check_mkdtemp(root, "checksum");
    char queue[CHECK_DIR_MAX], dir_a[CHECK_DIR_MAX], dir_b[CHECK_DIR_MAX];
    check_fmt(queue, sizeof queue, "%s/queue", root);
    check_fmt(dir_a, sizeof dir_a, "%s/a", root);
    check_fmt(dir_b, sizeof dir_b, "%s/b", root);
    CHECK(mkdir(dir_a, 0700) == 0 && mkdir(dir_b, 0700) == 0);
    qmgr_manager *m = qm_open(queue);
    test_arguments(m, dir_a);
    test_mismatch(m, dir_b);
    CHECK_EQ(qmgr_manager_release(m), 0);
    check_rmtree(root);
    return check_done();
}
