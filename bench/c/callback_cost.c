/*
 * callback_cost.c — scenario 5b of bench/: downloads one URL as a one-file group through the
 * C API, either with a progress callback (GROUPPROP_PROGRESSSIZE = PROGRESS_SIZE bytes and an
 * IBackgroundCopyCallback1 whose OnProgress counts its calls) or, with PROGRESS_SIZE 0,
 * without any callback.
 *
 *   usage: callback_cost --queue DIR URL LOCAL PROGRESS_SIZE
 *
 * Prints on stdout:
 *   download_s S    from ResumeGroup until the group is COMPLETE (CLOCK_MONOTONIC)
 *   calls N         OnProgress calls received (counted until the manager is released)
 *   last_value V    progress_value of the last OnProgress call (bytes, saturating)
 * Exits 0 on success, 1 when the group does not complete, 2 on bad usage or an API error.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_PROGRAM "callback_cost"
#include "bench.h"

static atomic_uint_fast64_t calls;
static atomic_uint_fast32_t last_value;

static qmgr_hresult on_progress(void *context, uint32_t progress_type, qmgr_group *group, qmgr_job *job,
                                uint32_t file_index, uint32_t progress_value) {
    (void)context;
    (void)group;
    (void)job;
    (void)file_index;
    if (progress_type == QM_PROGRESS_SIZE_DONE) {
        atomic_fetch_add(&calls, 1);
        atomic_store(&last_value, progress_value);
    }
    return QMGR_S_OK;
}

int main(int argc, char **argv) {
    if (argc != 6 || strcmp(argv[1], "--queue") != 0) {
        fprintf(stderr, "usage: %s --queue DIR URL LOCAL PROGRESS_SIZE\n", argv[0]);
        return 2;
    }
    const char *queue = argv[2];
    char *url = argv[3], *local = argv[4];
    long progress_size = strtol(argv[5], NULL, 10);

    qmgr_manager *manager = NULL;
    qmgr_group *group = NULL;
    qmgr_job *job = NULL;
    qmgr_hresult hr = qmgr_create_instance(queue, &manager);
    if (hr < 0) {
        return fail("qmgr_create_instance", hr);
    }
    int rc = 0;
    double elapsed = 0;
    qmgr_guid gid, jid;
    qmgr_guid_generate(&gid);
    qmgr_guid_generate(&jid);
    if ((hr = qmgr_manager_create_group(manager, gid, &group)) < 0) {
        rc = fail("CreateGroup", hr);
        goto out;
    }
    if (progress_size > 0) {
        qmgr_variant size = {QMGR_VT_UI4, progress_size, NULL};
        if ((hr = qmgr_group_set_prop(group, GROUPPROP_PROGRESSSIZE, &size)) < 0) {
            rc = fail("SetProp(PROGRESSSIZE)", hr);
            goto out;
        }
        qmgr_callback1 callback = {NULL, NULL, on_progress, NULL, NULL};
        if ((hr = qmgr_group_set_notification_pointer(group, &IID_IBackgroundCopyCallback1, &callback)) < 0) {
            rc = fail("SetNotificationPointer", hr);
            goto out;
        }
    }
    if ((hr = qmgr_group_create_job(group, jid, &job)) < 0) {
        rc = fail("CreateJob", hr);
        goto out;
    }
    qmgr_fileset_info info = {url, local, 0};
    const qmgr_fileset_info *set[1] = {&info};
    if ((hr = qmgr_job_add_files(job, 1, set)) < 0) {
        rc = fail("AddFiles", hr);
        goto out;
    }
    double t0 = now_s();
    if ((hr = qmgr_group_resume_group(group)) < 0) {
        rc = fail("ResumeGroup", hr);
        goto out;
    }
    uint32_t status = 0;
    hr = qmgr_group_wait(group, 600000, &status);
    elapsed = now_s() - t0;
    if (hr < 0) {
        rc = fail("qmgr_group_wait", hr);
        goto out;
    }
    if (hr != QMGR_S_OK || !(status & QM_STATUS_GROUP_COMPLETE)) {
        char *message = NULL;
        qmgr_job_get_error_message(job, &message);
        fprintf(stderr, "callback_cost: group not complete (status 0x%03X): %s\n", (unsigned)status,
                message ? message : "no error");
        qmgr_string_free(message);
        rc = 1;
    }

out:
    qmgr_job_release(job);
    qmgr_group_release(group);
    qmgr_manager_release(manager);
    if (rc == 0) {
        printf("download_s %.6f\ncalls %llu\nlast_value %lu\n", elapsed, (unsigned long long)atomic_load(&calls),
               (unsigned long)atomic_load(&last_value));
    }
    return rc;
}
