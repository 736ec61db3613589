/*
 * download.c — queue URLs as one qmgr group through the C API, show progress, wait.
 *
 *   usage: download [--queue DIR] DEST_DIR URL...
 *
 * Each URL is saved in DEST_DIR under the last segment of its path. The program registers a
 * callback (IBackgroundCopyCallback1) for errors and group completion, makes the group
 * foreground (the program waits for it: without this it is a background group, which uses
 * only bandwidth nobody else wants; DECISIONS D14), resumes it,
 * prints progress until the group is complete or fails, and exits 0 only on success. On
 * failure it prints the HRESULT-style Win32 result, the HTTP status and the job's error
 * message. A successful group is cancelled afterwards (CancelGroup keeps finished files),
 * so the queue does not keep it.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

#include "qmgr.h"

static void fail(const char *what, qmgr_hresult hr) {
    char *msg = NULL;
    char *desc = NULL;
    qmgr_get_last_error_message(&msg);
    qmgr_get_error_description(hr, &desc);
    fprintf(stderr, "download: %s failed: HRESULT 0x%08X (%s): %s\n", what, (unsigned)hr,
            desc ? desc : "?", msg ? msg : "");
    qmgr_string_free(msg);
    qmgr_string_free(desc);
}

static qmgr_hresult on_status(void *context, qmgr_group *group, qmgr_job *job, uint32_t file_index,
                              uint32_t status, uint32_t retries, uint32_t win32_result,
                              uint32_t transport_result) {
    (void)context;
    (void)group;
    (void)job;
    if (status & QM_STATUS_GROUP_ERROR) {
        fprintf(stderr, "callback: error on file %u: win32 0x%08X, HTTP %u, %u retries\n",
                (unsigned)file_index, (unsigned)win32_result, (unsigned)transport_result,
                (unsigned)retries);
    } else if (status & QM_STATUS_GROUP_COMPLETE) {
        fprintf(stderr, "callback: group complete (status 0x%03X)\n", (unsigned)status);
    }
    return QMGR_S_OK;
}

/* The last segment of the URL's path (query and fragment removed). */
static int file_name(const char *url, char *out, size_t size) {
    const char *start = strstr(url, "://");
    start = start ? start + 3 : url;
    size_t end = strcspn(start, "?#");
    const char *slash = NULL;
    for (const char *p = start; p < start + end; p++) {
        if (*p == '/') {
            slash = p;
        }
    }
    if (!slash || (size_t)(start + end - slash - 1) == 0) {
        return -1;
    }
    size_t n = (size_t)(start + end - slash - 1);
    if (n + 1 > size) {
        return -1;
    }
    memcpy(out, slash + 1, n);
    out[n] = '\0';
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
        return -1;
    }
    return 0;
}

static int report_error(qmgr_job *job, uint32_t file_count) {
    uint32_t status = 0, win32 = 0, transport = 0, retries = 0;
    char *message = NULL;
    qmgr_job_get_status(job, &status, &win32, &transport, &retries);
    qmgr_job_get_error_message(job, &message);
    for (uint32_t i = 0; i < file_count; i++) {
        uint64_t done = 0, total = 0;
        uint32_t fstatus = 0;
        if (qmgr_job_get_file_progress(job, i, &done, &total, &fstatus) == QMGR_S_OK &&
            fstatus == QM_STATUS_FILE_INCOMPLETE) {
            qmgr_fileset_info info;
            if (qmgr_job_get_file(job, i, &info) == QMGR_S_OK) {
                fprintf(stderr, "download: failed file %u: %s\n", (unsigned)i, info.remote_file);
                qmgr_fileset_info_clear(&info);
            }
            break;
        }
    }
    fprintf(stderr, "download: error: HRESULT/Win32 0x%08X (%u), HTTP status %u, %u retries: %s\n",
            (unsigned)win32, (unsigned)win32, (unsigned)transport, (unsigned)retries,
            message ? message : "(no message)");
    qmgr_string_free(message);
    return 1;
}

int main(int argc, char **argv) {
    const char *queue = NULL;
    int arg = 1;
    if (arg + 1 < argc && strcmp(argv[arg], "--queue") == 0) {
        queue = argv[arg + 1];
        arg += 2;
    }
    if (argc - arg < 2) {
        fprintf(stderr, "usage: %s [--queue DIR] DEST_DIR URL...\n", argv[0]);
        return 2;
    }
    char dest[PATH_MAX];
    if (!realpath(argv[arg], dest)) {
        perror(argv[arg]);
        return 2;
    }
    arg++;
    int count = argc - arg;

    qmgr_manager *manager = NULL;
    qmgr_hresult hr = qmgr_create_instance(queue, &manager);
    if (hr < 0) {
        fail("qmgr_create_instance", hr);
        return 2;
    }
    int rc = 2;
    qmgr_group *group = NULL;
    qmgr_job *job = NULL;
    qmgr_fileset_info *infos = NULL;
    char (*locals)[PATH_MAX + NAME_MAX + 2] = NULL;
    const qmgr_fileset_info **set = NULL;
    qmgr_guid group_id, job_id;
    qmgr_guid_generate(&group_id);
    qmgr_guid_generate(&job_id);
    if ((hr = qmgr_manager_create_group(manager, group_id, &group)) < 0) {
        fail("CreateGroup", hr);
        goto out;
    }
    qmgr_variant name = {QMGR_VT_BSTR, 0, (char *)"examples-c/download"};
    qmgr_group_set_prop(group, GROUPPROP_DISPLAYNAME, &name);
    qmgr_variant flags = {QMGR_VT_UI4, QM_NOTIFY_GROUP_DONE, NULL};
    if ((hr = qmgr_group_set_prop(group, GROUPPROP_NOTIFYFLAGS, &flags)) < 0) {
        fail("SetProp(NOTIFYFLAGS)", hr);
        goto out;
    }
    qmgr_callback1 callback = {NULL, on_status, NULL, NULL, NULL};
    if ((hr = qmgr_group_set_notification_pointer(group, &IID_IBackgroundCopyCallback1, &callback)) < 0) {
        fail("SetNotificationPointer", hr);
        goto out;
    }
    if ((hr = qmgr_group_create_job(group, job_id, &job)) < 0) {
        fail("CreateJob", hr);
        goto out;
    }
    /* All files in one AddFiles call: one check and one queue transaction for the set. */
    infos = calloc((size_t)count, sizeof *infos);
    locals = calloc((size_t)count, sizeof *locals);
    set = calloc((size_t)count, sizeof *set);
    if (!infos || !locals || !set) {
        fprintf(stderr, "download: out of memory for %d files\n", count);
        goto cancel;
    }
    for (int i = 0; i < count; i++) {
        char leaf[NAME_MAX + 1];
        if (file_name(argv[arg + i], leaf, sizeof leaf) != 0) {
            fprintf(stderr, "download: cannot name a file after URL %s\n", argv[arg + i]);
            goto cancel;
        }
        snprintf(locals[i], sizeof locals[i], "%s/%s", dest, leaf);
        infos[i] = (qmgr_fileset_info){argv[arg + i], locals[i], 0};
        set[i] = &infos[i];
    }
    if ((hr = qmgr_job_add_files(job, (uint32_t)count, set)) < 0) {
        fail("AddFiles", hr);
        goto cancel;
    }
    /* The user waits for these files: a foreground group, as `qmgr get` (DECISIONS D14). */
    if ((hr = qmgr_group_switch_to_foreground(group)) < 0) {
        fail("SwitchToForeground", hr);
        goto cancel;
    }
    if ((hr = qmgr_group_resume_group(group)) < 0) {
        fail("ResumeGroup", hr);
        goto cancel;
    }
    uint32_t seen_retries = 0;
    uint64_t shown = UINT64_MAX; /* progress last printed */
    for (;;) {
        uint32_t status = 0, job_status = 0, win32 = 0, transport = 0, retries = 0;
        uint64_t done = 0, total = 0;
        hr = qmgr_group_wait(group, 500, &status);
        if (hr < 0) {
            fail("qmgr_group_wait", hr);
            goto out;
        }
        /* A transient error is retried after the retry delay: say so once per attempt. */
        if (qmgr_job_get_status(job, &job_status, &win32, &transport, &retries) == QMGR_S_OK &&
            retries > seen_retries && !(status & QM_STATUS_GROUP_ERROR)) {
            char *message = NULL;
            qmgr_job_get_error_message(job, &message);
            fprintf(stderr, "download: retrying (attempt %u failed: %s)\n", (unsigned)retries,
                    message ? message : "no message");
            qmgr_string_free(message);
            seen_retries = retries;
        }
        qmgr_group_get_progress64(group, &done, &total);
        if (done != shown) {
            if (total == UINT64_MAX) {
                printf("progress: %llu bytes\n", (unsigned long long)done);
            } else {
                printf("progress: %llu/%llu bytes (%u%%)\n", (unsigned long long)done,
                       (unsigned long long)total, total ? (unsigned)(done * 100 / total) : 100u);
            }
            shown = done;
        }
        fflush(stdout);
        if (hr == QMGR_S_OK) {
            if (status & QM_STATUS_GROUP_COMPLETE) {
                printf("download: complete: %d file(s), %llu bytes in %s\n", count,
                       (unsigned long long)done, dest);
                rc = 0;
                goto cancel; /* removes the finished group; committed files stay */
            }
            if (status & QM_STATUS_GROUP_ERROR) {
                rc = report_error(job, (uint32_t)count);
                goto out; /* keep the group: it can be resumed later */
            }
            fprintf(stderr, "download: group suspended (status 0x%03X)\n", (unsigned)status);
            rc = 1;
            goto out;
        }
    }
cancel:
    if ((hr = qmgr_group_cancel_group(group)) < 0) {
        fail("CancelGroup", hr);
    }
out:
    free(infos);
    free(locals);
    free(set);
    qmgr_job_release(job);
    qmgr_group_release(group);
    qmgr_manager_release(manager);
    return rc;
}
