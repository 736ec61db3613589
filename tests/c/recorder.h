/*
 * recorder.h — a qmgr_callback1 that records every call (include after check.h / qm.h).
 *
 * The recorder keeps the events in order with the group and job GUIDs read through the
 * borrowed handles, counts release() calls, checks that calls never overlap and never run on
 * the registering thread, and can be told to misbehave: answer OnStatus with an error a number
 * of times (re-delivery, D7), call back into the API (re-entrancy, D7), keep an add_ref'd
 * group handle, or cancel its own group from inside OnStatus.
 */
#ifndef QMGR_TESTS_RECORDER_H
#define QMGR_TESTS_RECORDER_H

#include "qm.h"

enum { EV_STATUS = 1, EV_PROGRESS = 2, EV_PROGRESS_EX = 3 };

#define REC_MAX 512

typedef struct rec_event {
    int kind;
    int group_ok;           /* qmgr_group_get_group_id on the borrowed handle succeeded */
    qmgr_guid group_id;
    int has_job;            /* job argument was not NULL */
    int job_ok;             /* qmgr_job_get_job_id on it succeeded */
    qmgr_guid job_id;
    uint32_t file_index, status, retries, win32, transport; /* OnStatus */
    uint32_t type, value;                                   /* OnProgress[Ex] */
    uint32_t nbytes;                                        /* OnProgressEx */
    uint8_t bytes[64];
    int bytes_null;
    int64_t at_ms;
} rec_event;

typedef struct recorder {
    pthread_mutex_t lock;
    rec_event ev[REC_MAX];
    int n;
    int releases;
    int in_flight, max_in_flight;
    int on_registering_thread;
    pthread_t registering_thread;
    /* behaviour */
    int fail_status;          /* answer this many OnStatus calls with QMGR_E_FAIL first */
    int reenter;              /* call back into the API from OnStatus */
    int reentry_failures;     /* calls made from the callback that did not answer as expected */
    int reentry_calls;
    int keep_group;           /* add_ref the borrowed group once and keep it in kept_group */
    qmgr_group *kept_group;
    int cancel_own_group;     /* cancel the group from inside OnStatus (once) */
    qmgr_hresult cancel_hr;
    int cancel_done;
} recorder;

static inline void rec_init(recorder *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->registering_thread = pthread_self();
}

static inline void rec_destroy(recorder *r) {
    pthread_mutex_destroy(&r->lock);
}

/* Forgets everything (the recorder must not be registered anywhere any more). */
static inline void rec_reset(recorder *r) {
    rec_destroy(r);
    rec_init(r);
}

/* Records the common part of an event; returns its slot (or NULL when full). */
static inline rec_event *rec_push(recorder *r, int kind, qmgr_group *group, qmgr_job *job) {
    rec_event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.at_ms = check_now_ms();
    e.group_ok = group != NULL && qmgr_group_get_group_id(group, &e.group_id) == QMGR_S_OK;
    e.has_job = job != NULL;
    e.job_ok = job != NULL && qmgr_job_get_job_id(job, &e.job_id) == QMGR_S_OK;
    pthread_mutex_lock(&r->lock);
    rec_event *slot = NULL;
    if (r->n < REC_MAX) {
        slot = &r->ev[r->n++];
        *slot = e;
    }
    return slot; /* the caller fills the rest and unlocks */
}

static inline void rec_enter(recorder *r) {
    pthread_mutex_lock(&r->lock);
    r->in_flight++;
    if (r->in_flight > r->max_in_flight) {
        r->max_in_flight = r->in_flight;
    }
    if (pthread_equal(pthread_self(), r->registering_thread)) {
        r->on_registering_thread++;
    }
    pthread_mutex_unlock(&r->lock);
}

static inline void rec_leave(recorder *r) {
    pthread_mutex_lock(&r->lock);
    r->in_flight--;
    pthread_mutex_unlock(&r->lock);
}

static inline void rec_reenter(recorder *r, qmgr_group *group, qmgr_job *job) {
    uint32_t s = 0, idx = 0, count = 0;
    int bad = 0, calls = 0;
    qmgr_variant v;
    qmgr_enum_jobs *e = NULL;
    calls++;
    if (qmgr_group_get_status(group, &s, &idx) != QMGR_S_OK) {
        bad++;
    }
    calls++;
    if (qmgr_group_get_prop(group, GROUPPROP_NOTIFYFLAGS, &v) != QMGR_S_OK) {
        bad++;
    } else {
        qmgr_variant_clear(&v);
    }
    calls++;
    if (qmgr_group_enum_jobs(group, 0, &e) != QMGR_S_OK) {
        bad++;
    } else {
        if (qmgr_enum_jobs_get_count(e, &count) != QMGR_S_OK) {
            bad++;
        }
        qmgr_enum_jobs_release(e);
    }
    calls++;
    if (qmgr_group_set_prop(group, GROUPPROP_DESCRIPTION, NULL) != QMGR_E_POINTER) {
        bad++; /* a failing call from the callback thread is fine too */
    }
    if (job) {
        uint32_t w = 0, t = 0, n = 0, files = 0;
        calls += 2;
        if (qmgr_job_get_status(job, &s, &w, &t, &n) != QMGR_S_OK) {
            bad++;
        }
        if (qmgr_job_get_file_count(job, &files) != QMGR_S_OK) {
            bad++;
        }
    }
    pthread_mutex_lock(&r->lock);
    r->reentry_failures += bad;
    r->reentry_calls += calls;
    pthread_mutex_unlock(&r->lock);
}

static inline qmgr_hresult rec_on_status(void *context, qmgr_group *group, qmgr_job *job, uint32_t file_index,
                                         uint32_t status, uint32_t num_of_retries, uint32_t win32_result,
                                         uint32_t transport_result) {
    recorder *r = (recorder *)context;
    qmgr_hresult answer = QMGR_S_OK;
    int cancel = 0, keep = 0, reenter = 0;
    rec_enter(r);
    rec_event *e = rec_push(r, EV_STATUS, group, job);
    if (e) {
        e->file_index = file_index;
        e->status = status;
        e->retries = num_of_retries;
        e->win32 = win32_result;
        e->transport = transport_result;
    }
    if (r->fail_status > 0) {
        r->fail_status--;
        answer = QMGR_E_FAIL;
    }
    if (r->cancel_own_group && !r->cancel_done) {
        r->cancel_done = 1;
        cancel = 1;
    }
    if (r->keep_group && !r->kept_group) {
        keep = 1;
    }
    reenter = r->reenter;
    pthread_mutex_unlock(&r->lock);
    if (reenter) {
        rec_reenter(r, group, job);
    }
    if (keep) {
        qmgr_group_add_ref(group);
        pthread_mutex_lock(&r->lock);
        r->kept_group = group;
        pthread_mutex_unlock(&r->lock);
    }
    if (cancel) {
        qmgr_hresult hr = qmgr_group_cancel_group(group);
        pthread_mutex_lock(&r->lock);
        r->cancel_hr = hr;
        pthread_mutex_unlock(&r->lock);
    }
    rec_leave(r);
    return answer;
}

static inline qmgr_hresult rec_on_progress(void *context, uint32_t progress_type, qmgr_group *group,
                                           qmgr_job *job, uint32_t file_index, uint32_t progress_value) {
    recorder *r = (recorder *)context;
    rec_enter(r);
    rec_event *e = rec_push(r, EV_PROGRESS, group, job);
    if (e) {
        e->type = progress_type;
        e->value = progress_value;
        e->file_index = file_index;
    }
    pthread_mutex_unlock(&r->lock);
    rec_leave(r);
    return QMGR_S_OK;
}

static inline qmgr_hresult rec_on_progress_ex(void *context, uint32_t progress_type, qmgr_group *group,
                                              qmgr_job *job, uint32_t file_index, uint32_t progress_value,
                                              uint32_t byte_array_size, const uint8_t *bytes) {
    recorder *r = (recorder *)context;
    rec_enter(r);
    rec_event *e = rec_push(r, EV_PROGRESS_EX, group, job);
    if (e) {
        e->type = progress_type;
        e->value = progress_value;
        e->file_index = file_index;
        e->nbytes = byte_array_size;
        e->bytes_null = bytes == NULL;
        if (bytes) {
            memcpy(e->bytes, bytes, byte_array_size < sizeof e->bytes ? byte_array_size : sizeof e->bytes);
        }
    }
    pthread_mutex_unlock(&r->lock);
    rec_leave(r);
    return QMGR_S_OK;
}

static inline void rec_release(void *context) {
    recorder *r = (recorder *)context;
    pthread_mutex_lock(&r->lock);
    r->releases++;
    pthread_mutex_unlock(&r->lock);
}

/* A callback struct for `r` with every function set. */
static inline qmgr_callback1 rec_callback(recorder *r) {
    qmgr_callback1 cb;
    cb.context = r;
    cb.on_status = rec_on_status;
    cb.on_progress = rec_on_progress;
    cb.on_progress_ex = rec_on_progress_ex;
    cb.release = rec_release;
    return cb;
}

static inline int rec_register(qmgr_group *g, recorder *r) {
    qmgr_callback1 cb = rec_callback(r);
    return CHECK_HR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyCallback1, &cb), QMGR_S_OK);
}

static inline int rec_n(recorder *r) {
    pthread_mutex_lock(&r->lock);
    int n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static inline int rec_releases(recorder *r) {
    pthread_mutex_lock(&r->lock);
    int n = r->releases;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Events of `kind` (0 = any) whose status has every bit of `bits`. */
static inline int rec_count(recorder *r, int kind, uint32_t bits) {
    int n = 0;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->n; i++) {
        if ((kind == 0 || r->ev[i].kind == kind) && (r->ev[i].status & bits) == bits) {
            n++;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* A copy of event i. */
static inline rec_event rec_at(recorder *r, int i) {
    rec_event e;
    memset(&e, 0, sizeof e);
    pthread_mutex_lock(&r->lock);
    if (i >= 0 && i < r->n) {
        e = r->ev[i];
    }
    pthread_mutex_unlock(&r->lock);
    return e;
}

/* Copies of the events of `kind`, in order, into out (at most max); returns how many. */
static inline int rec_filter(recorder *r, int kind, rec_event *out, int max) {
    int n = 0;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->n && n < max; i++) {
        if (kind == 0 || r->ev[i].kind == kind) {
            out[n++] = r->ev[i];
        }
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}

#endif /* QMGR_TESTS_RECORDER_H */
