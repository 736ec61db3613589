/*
 * queue_and_exit.c — the normal use of the API that DECISIONS D13 promises to honour: queue
 * work, release every handle and exit at once, without waiting. Run by tests/tests/runner.rs
 * (not part of the conformance suite of c_suite.rs).
 *
 *   usage: queue_and_exit QUEUE_DIR DEST_DIR BIG_URL [SMALL_URL...]
 *
 * Creates two groups in the queue QUEUE_DIR: one with a single job holding BIG_URL (saved as
 * DEST_DIR/big.bin), and, when SMALL_URLs are given, one with a single job holding all of
 * them (saved as DEST_DIR/sNN.bin, NN the URL's index from 00). Resumes both, prints their
 * GUIDs (big group first) on standard output, one per line, releases the jobs, the groups and
 * the manager, and returns 0. Any failing call prints the HRESULT and the last-error message
 * on standard error and returns 1.
 *
 * Nothing here starts or waits for a runner: the library does (autostart, when QMGR_AUTOSTART
 * is not 0 and the queue option autostart is 1), and the test watches the files arrive after
 * this process is gone.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmgr.h"

static int failed(const char *what, qmgr_hresult hr) {
    char *msg = NULL;
    qmgr_get_last_error_message(&msg);
    fprintf(stderr, "queue_and_exit: %s failed: HRESULT 0x%08X: %s\n", what, (unsigned)hr, msg ? msg : "");
    qmgr_string_free(msg);
    return 1;
}

/* Creates a group with one job holding `count` files, resumes it and prints its GUID. */
static int queue_group(qmgr_manager *manager, const char *name, uint32_t count, const qmgr_fileset_info *files) {
    qmgr_guid group_id, job_id;
    qmgr_group *group = NULL;
    qmgr_job *job = NULL;
    char *text = NULL;
    int rc = 1;
    qmgr_hresult hr;
    const qmgr_fileset_info **set = calloc(count, sizeof *set);
    if (!set) {
        fprintf(stderr, "queue_and_exit: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < count; i++) {
        set[i] = &files[i];
    }
    qmgr_guid_generate(&group_id);
    qmgr_guid_generate(&job_id);
    if ((hr = qmgr_manager_create_group(manager, group_id, &group)) < 0) {
        rc = failed("CreateGroup", hr);
        goto out;
    }
    qmgr_variant display = {QMGR_VT_BSTR, 0, (char *)name};
    if ((hr = qmgr_group_set_prop(group, GROUPPROP_DISPLAYNAME, &display)) < 0) {
        rc = failed("SetProp(DISPLAYNAME)", hr);
        goto out;
    }
    if ((hr = qmgr_group_create_job(group, job_id, &job)) < 0) {
        rc = failed("CreateJob", hr);
        goto out;
    }
    if ((hr = qmgr_job_add_files(job, count, set)) < 0) {
        rc = failed("AddFiles", hr);
        goto out;
    }
    if ((hr = qmgr_group_resume_group(group)) < 0) {
        rc = failed("ResumeGroup", hr);
        goto out;
    }
    if ((hr = qmgr_guid_to_string(&group_id, &text)) < 0) {
        rc = failed("qmgr_guid_to_string", hr);
        goto out;
    }
    printf("%s\n", text);
    rc = 0;
out:
    qmgr_string_free(text);
    qmgr_job_release(job);
    qmgr_group_release(group);
    free(set);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s QUEUE_DIR DEST_DIR BIG_URL [SMALL_URL...]\n", argv[0]);
        return 2;
    }
    const char *queue = argv[1];
    const char *dest = argv[2];
    uint32_t small = (uint32_t)(argc - 4);
    size_t path_size = strlen(dest) + 32;

    qmgr_manager *manager = NULL;
    qmgr_hresult hr = qmgr_create_instance(queue, &manager);
    if (hr < 0) {
        return failed("qmgr_create_instance", hr);
    }
    int rc = 1;
    char *big_path = malloc(path_size);
    qmgr_fileset_info *infos = calloc(small ? small : 1, sizeof *infos);
    char *paths = calloc(small ? small : 1, path_size);
    if (!big_path || !infos || !paths) {
        fprintf(stderr, "queue_and_exit: out of memory\n");
        goto out;
    }
    snprintf(big_path, path_size, "%s/big.bin", dest);
    qmgr_fileset_info big = {argv[3], big_path, 0};
    if (queue_group(manager, "queue_and_exit: big", 1, &big) != 0) {
        goto out;
    }
    for (uint32_t i = 0; i < small; i++) {
        char *path = paths + (size_t)i * path_size;
        snprintf(path, path_size, "%s/s%02u.bin", dest, (unsigned)i);
        infos[i] = (qmgr_fileset_info){argv[4 + i], path, 0};
    }
    if (small > 0 && queue_group(manager, "queue_and_exit: small", small, infos) != 0) {
        goto out;
    }
    fflush(stdout);
    rc = 0;
out:
    qmgr_manager_release(manager);
    free(big_path);
    free(infos);
    free(paths);
    return rc;
}
