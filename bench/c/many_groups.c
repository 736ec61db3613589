/*
 * many_groups.c — scenario 3 of bench/ (and the idle queue of scenario 5d): creates GROUPS
 * groups of FILES files each (one job per group) through the C API, then, unless
 * --create-only, resumes them all and waits until every one is COMPLETE.
 *
 *   usage: many_groups --queue DIR --groups G --files F --url-prefix URL --dest DIR
 *                      [--name-prefix P] [--max-active N] [--create-only]
 *
 * File k (k = g * F + f, from 0) is URL "<url-prefix><P><k as %05d>.bin", saved as
 * "<dest>/<P><k as %05d>.bin" (P defaults to "m"). --max-active sets the queue option
 * max_active_groups before anything else.
 *
 * Prints on stdout, in seconds (CLOCK_MONOTONIC):
 *   create_s S      CreateGroup + CreateJob + AddFiles of every group
 *   download_s S    from the first ResumeGroup until the last group is COMPLETE
 * Exits 0 on success, 1 when a group ends in ERROR or suspended, 2 on bad usage or an API error.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_PROGRAM "many_groups"
#include "bench.h"

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s --queue DIR --groups G --files F --url-prefix URL --dest DIR [--name-prefix P] "
            "[--max-active N] [--create-only]\n",
            argv0);
}

int main(int argc, char **argv) {
    const char *queue = NULL, *url_prefix = NULL, *dest = NULL, *name_prefix = "m", *max_active = NULL;
    long groups = -1, files = -1;
    int create_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--create-only") == 0) {
            create_only = 1;
            continue;
        }
        if (!v) {
            usage(argv[0]);
            return 2;
        }
        if (strcmp(a, "--queue") == 0) {
            queue = v;
        } else if (strcmp(a, "--groups") == 0) {
            groups = strtol(v, NULL, 10);
        } else if (strcmp(a, "--files") == 0) {
            files = strtol(v, NULL, 10);
        } else if (strcmp(a, "--url-prefix") == 0) {
            url_prefix = v;
        } else if (strcmp(a, "--dest") == 0) {
            dest = v;
        } else if (strcmp(a, "--name-prefix") == 0) {
            name_prefix = v;
        } else if (strcmp(a, "--max-active") == 0) {
            max_active = v;
        } else {
            usage(argv[0]);
            return 2;
        }
        i++;
    }
    if (!queue || !url_prefix || !dest || groups <= 0 || files <= 0) {
        usage(argv[0]);
        return 2;
    }

    qmgr_manager *manager = NULL;
    qmgr_hresult hr = qmgr_create_instance(queue, &manager);
    if (hr < 0) {
        return fail("qmgr_create_instance", hr);
    }
    int rc = 0;
    qmgr_group **handles = calloc((size_t)groups, sizeof *handles);
    qmgr_job **jobs = calloc((size_t)groups, sizeof *jobs);
    if (!handles || !jobs) {
        free(handles);
        free(jobs);
        fprintf(stderr, "many_groups: out of memory\n");
        qmgr_manager_release(manager);
        return 2;
    }
    if (max_active && (hr = qmgr_manager_set_option(manager, "max_active_groups", max_active)) < 0) {
        rc = fail("set_option(max_active_groups)", hr);
        goto out;
    }

    double t0 = now_s();
    for (long g = 0; g < groups; g++) {
        qmgr_guid gid, jid;
        qmgr_guid_generate(&gid);
        qmgr_guid_generate(&jid);
        if ((hr = qmgr_manager_create_group(manager, gid, &handles[g])) < 0) {
            rc = fail("CreateGroup", hr);
            goto out;
        }
        if ((hr = qmgr_group_create_job(handles[g], jid, &jobs[g])) < 0) {
            rc = fail("CreateJob", hr);
            goto out;
        }
        char urls[64][1024], locals[64][1024];
        qmgr_fileset_info infos[64];
        const qmgr_fileset_info *set[64];
        long done = 0;
        while (done < files && rc == 0) {
            long n = files - done < 64 ? files - done : 64;
            for (long f = 0; f < n; f++) {
                long k = g * files + done + f;
                snprintf(urls[f], sizeof urls[f], "%s%s%05ld.bin", url_prefix, name_prefix, k);
                snprintf(locals[f], sizeof locals[f], "%s/%s%05ld.bin", dest, name_prefix, k);
                infos[f] = (qmgr_fileset_info){urls[f], locals[f], 0};
                set[f] = &infos[f];
            }
            if ((hr = qmgr_job_add_files(jobs[g], (uint32_t)n, set)) < 0) {
                rc = fail("AddFiles", hr);
            }
            done += n;
        }
        if (rc != 0) {
            goto out;
        }
    }
    double t1 = now_s();
    printf("create_s %.6f\n", t1 - t0);
    fflush(stdout);
    if (create_only) {
        goto out;
    }

    double t2 = now_s();
    for (long g = 0; g < groups; g++) {
        if ((hr = qmgr_group_resume_group(handles[g])) < 0) {
            rc = fail("ResumeGroup", hr);
            goto out;
        }
    }
    for (long g = 0; g < groups; g++) {
        uint32_t status = 0;
        hr = qmgr_group_wait(handles[g], 600000, &status);
        if (hr < 0) {
            rc = fail("qmgr_group_wait", hr);
            goto out;
        }
        if (hr != QMGR_S_OK || !(status & QM_STATUS_GROUP_COMPLETE)) {
            char *message = NULL;
            qmgr_job_get_error_message(jobs[g], &message);
            fprintf(stderr, "many_groups: group %ld not complete (%s, status 0x%03X): %s\n", g,
                    hr == QMGR_S_OK ? "stopped" : "timed out", (unsigned)status, message ? message : "no error");
            qmgr_string_free(message);
            rc = 1;
            goto out;
        }
    }
    double t3 = now_s();
    printf("download_s %.6f\n", t3 - t2);

out:
    for (long g = 0; g < groups; g++) {
        qmgr_job_release(jobs[g]);
        qmgr_group_release(handles[g]);
    }
    free(jobs);
    free(handles);
    qmgr_manager_release(manager);
    return rc;
}
