/*
 * qmgr.hpp — a header-only C++17 layer over the C API of qmgr (qmgr.h), in namespace qmgr
 * (C-API.md, "C++ header"). Link with libqmgr as for C: `pkg-config --cflags --libs qmgr`.
 *
 * - Handles are move-only RAII objects: Manager, Group and Job each own one reference of the
 *   C handle and release it when destroyed. A Group or Job keeps its manager alive.
 *   Destroying a Group does not cancel it: it stays in the queue (call cancel()).
 * - Every failing call throws qmgr::Error (a std::runtime_error): hresult() is the HRESULT,
 *   what() the thread's last-error message, naming the argument and the problem. Strings
 *   holding a NUL character are refused before the call (QMGR_E_INVALIDARG).
 * - Enumerations are std::vectors of a snapshot (Manager::groups, Group::jobs).
 * - Group::on_status stores a std::function that runs on the manager's notification thread,
 *   one call at a time; the library destroys it (through the C callback's release) when it is
 *   replaced, cleared or its group goes away. An exception it throws is caught and becomes
 *   QMGR_E_FAIL for the library, which ignores it.
 * - Strings are UTF-8 std::strings; GUIDs are qmgr_guid (to_string, guid_from_string).
 * - Thread safety is the C API's: every object may be used from any thread.
 */
#ifndef QMGR_HPP
#define QMGR_HPP

#include "qmgr.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace qmgr {

// Thrown for every failing HRESULT: hresult() is the code (QMGR_E_INVALIDARG, QM_E_INVALID_STATE,
// BG_E_HTTP_ERROR_BASE | 404…), what() the library's message.
class Error : public std::runtime_error {
public:
    Error(qmgr_hresult hresult, const std::string &message) : std::runtime_error(message), hresult_(hresult) {}
    qmgr_hresult hresult() const noexcept { return hresult_; }

private:
    qmgr_hresult hresult_;
};

namespace detail {

// Releases a C handle (unique_ptr deleter): one reference, once.
struct Release {
    void operator()(qmgr_manager *h) const noexcept { qmgr_manager_release(h); }
    void operator()(qmgr_group *h) const noexcept { qmgr_group_release(h); }
    void operator()(qmgr_job *h) const noexcept { qmgr_job_release(h); }
    void operator()(qmgr_enum_groups *h) const noexcept { qmgr_enum_groups_release(h); }
    void operator()(qmgr_enum_jobs *h) const noexcept { qmgr_enum_jobs_release(h); }
};

template <typename T>
using Owned = std::unique_ptr<T, Release>;

// Takes a string the library allocated: copies it ("" for NULL) and frees it.
inline std::string take(char *text) {
    struct Free {
        void operator()(char *p) const noexcept { qmgr_string_free(p); }
    };
    std::unique_ptr<char, Free> owned(text);
    return owned ? std::string(owned.get()) : std::string();
}

// Returns hr when it is a success; otherwise throws Error with this thread's last-error
// message (else the code's description).
inline qmgr_hresult check(qmgr_hresult hr) {
    if (hr >= 0) {
        return hr;
    }
    char *text = nullptr;
    std::string message;
    if (qmgr_get_last_error_message(&text) == QMGR_S_OK) {
        message = take(text);
    } else if (qmgr_get_error_description(hr, &text) == QMGR_S_OK) {
        message = take(text);
    }
    throw Error(hr, message.empty() ? "qmgr call failed" : message);
}

// The string as a C string for the library; QMGR_E_INVALIDARG naming `what` when it holds a
// NUL character (the library would see only the text before it).
inline const char *c_str(const std::string &text, const char *what) {
    if (text.find('\0') != std::string::npos) {
        throw Error(QMGR_E_INVALIDARG, std::string(what) + " holds a NUL character");
    }
    return text.c_str();
}

// The GUIDs of an enumerator's snapshot (get_count, then one next call); takes `raw`.
template <typename E>
std::vector<qmgr_guid> snapshot(E *raw, qmgr_hresult (*count_fn)(E *, uint32_t *),
                                qmgr_hresult (*next_fn)(E *, uint32_t, qmgr_guid *, uint32_t *)) {
    Owned<E> owned(raw);
    uint32_t count = 0;
    check(count_fn(raw, &count));
    std::vector<qmgr_guid> ids(count);
    uint32_t fetched = 0;
    if (count > 0) {
        check(next_fn(raw, count, ids.data(), &fetched));
    }
    ids.resize(fetched);
    return ids;
}

// An object of type T for each GUID, opened by `get(id, &handle)`; a GUID whose object is
// gone meanwhile (QM_E_ITEM_NOT_FOUND) is left out.
template <typename T, typename H, typename Get>
std::vector<T> open_each(const std::vector<qmgr_guid> &ids, Get get) {
    std::vector<T> out;
    out.reserve(ids.size());
    for (const qmgr_guid &id : ids) {
        H *handle = nullptr;
        qmgr_hresult hr = get(id, &handle);
        if (hr != QM_E_ITEM_NOT_FOUND) {
            check(hr);
            out.emplace_back(handle);
        }
    }
    return out;
}

}  // namespace detail

// "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" (lowercase).
inline std::string to_string(const qmgr_guid &id) {
    char *text = nullptr;
    detail::check(qmgr_guid_to_string(&id, &text));
    return detail::take(text);
}

// Parses a GUID (braces optional, any case); Error QMGR_E_INVALIDARG for anything else.
inline qmgr_guid guid_from_string(const std::string &text) {
    qmgr_guid id{};
    detail::check(qmgr_guid_from_string(detail::c_str(text, "text"), &id));
    return id;
}

// A random (version 4) GUID.
inline qmgr_guid generate_guid() {
    qmgr_guid id{};
    detail::check(qmgr_guid_generate(&id));
    return id;
}

// The text of any HRESULT the library returns (BITS GetErrorDescription).
inline std::string describe(qmgr_hresult hr) {
    char *text = nullptr;
    detail::check(qmgr_get_error_description(hr, &text));
    return detail::take(text);
}

// The library's version, e.g. "0.1.0".
inline std::string version() { return qmgr_version(); }

// One file of a job (IBackgroundCopyJob1::GetFile).
struct FileInfo {
    std::string url;         // remote_file
    std::string local_path;  // local_file, absolute
    uint32_t size_hint;      // bytes, 0 = unknown
};

// An IBackgroundCopyJob1: an ordered list of files (URL -> local path) of a group. Move-only.
class Job {
public:
    // Adopts one reference of `handle` (released by the destructor).
    explicit Job(qmgr_job *handle) noexcept : handle_(handle) {}

    // The C handle, still owned by this object (NULL once moved from).
    qmgr_job *handle() const noexcept { return handle_.get(); }

    // get_JobID.
    qmgr_guid id() const {
        qmgr_guid id{};
        detail::check(qmgr_job_get_job_id(handle(), &id));
        return id;
    }

    // AddFiles, all or nothing: each pair is (URL, absolute local path). Error
    // QMGR_E_INVALIDARG for a bad URL or path (the message names the file index),
    // QM_E_INVALID_STATE when the group is running, complete or cancelled.
    void add_files(const std::vector<std::pair<std::string, std::string>> &url_to_path) {
        std::vector<qmgr_fileset_info> infos;
        infos.reserve(url_to_path.size());
        for (const auto &file : url_to_path) {
            qmgr_fileset_info info{};
            info.remote_file = const_cast<char *>(detail::c_str(file.first, "add_files: a URL"));
            info.local_file = const_cast<char *>(detail::c_str(file.second, "add_files: a local path"));
            infos.push_back(info);
        }
        std::vector<const qmgr_fileset_info *> set;
        set.reserve(infos.size());
        for (const auto &info : infos) {
            set.push_back(&info);
        }
        detail::check(qmgr_job_add_files(handle(), static_cast<uint32_t>(set.size()), set.data()));
    }

    // GetFileCount.
    uint32_t file_count() const {
        uint32_t count = 0;
        detail::check(qmgr_job_get_file_count(handle(), &count));
        return count;
    }

    // GetFile; Error QM_E_ITEM_NOT_FOUND when index >= file_count().
    FileInfo file(uint32_t index) const {
        qmgr_fileset_info info{};
        detail::check(qmgr_job_get_file(handle(), index, &info));
        struct Clear {
            void operator()(qmgr_fileset_info *p) const noexcept { qmgr_fileset_info_clear(p); }
        };
        std::unique_ptr<qmgr_fileset_info, Clear> owned(&info);
        return FileInfo{info.remote_file ? info.remote_file : "", info.local_file ? info.local_file : "",
                        info.size_hint};
    }

    // The expected digest of file `index` (DECISIONS D15): algorithm "sha-256" or "sha-512"
    // (any case), `hex` 64 or 128 hex digits. A mismatch fails the job with QMGR_E_BAD_DIGEST.
    void set_file_checksum(uint32_t index, const std::string &algorithm, const std::string &hex) {
        detail::check(qmgr_job_set_file_checksum(handle(), index, detail::c_str(algorithm, "algorithm"),
                                                 detail::c_str(hex, "hex_digest")));
    }

    // GetStatus's word: QM_STATUS_JOB_* bits.
    uint32_t status() const {
        uint32_t status = 0, win32 = 0, transport = 0, retries = 0;
        detail::check(qmgr_job_get_status(handle(), &status, &win32, &transport, &retries));
        return status;
    }

    // Bytes done and total (UINT64_MAX while a size is unknown).
    std::pair<uint64_t, uint64_t> progress() const {
        uint64_t done = 0, total = 0;
        detail::check(qmgr_job_get_progress64(handle(), &done, &total));
        return {done, total};
    }

    // The cause of the job's current error (transient or fatal); "" when it has none.
    std::string error_message() const {
        char *text = nullptr;
        detail::check(qmgr_job_get_error_message(handle(), &text));
        return detail::take(text);
    }

    // The job's fatal error (QM_STATUS_JOB_ERROR) as an Error to throw: hresult() its Win32
    // result (BG_E_HTTP_ERROR_BASE | 404 for an HTTP 404), what() its message; nullopt when
    // the job has none.
    std::optional<Error> error() const {
        uint32_t status = 0, win32 = 0, transport = 0, retries = 0;
        detail::check(qmgr_job_get_status(handle(), &status, &win32, &transport, &retries));
        if (!(status & QM_STATUS_JOB_ERROR)) {
            return std::nullopt;
        }
        return Error(static_cast<qmgr_hresult>(win32), error_message());
    }

    // CancelJob: finished files stay, partial data is deleted; the object then answers
    // QM_E_INVALID_STATE.
    void cancel() { detail::check(qmgr_job_cancel_job(handle())); }

private:
    detail::Owned<qmgr_job> handle_;
};

// An IBackgroundCopyGroup: the unit the queue schedules. Move-only.
class Group {
public:
    // Called on the notification thread for OnStatus: the group, the job (nullptr when the
    // event concerns none), the file index (0xFFFFFFFF for none) and the status word.
    using StatusFn = std::function<void(Group &group, Job *job, uint32_t file_index, uint32_t status)>;

    // Adopts one reference of `handle` (released by the destructor).
    explicit Group(qmgr_group *handle) noexcept : handle_(handle) {}

    // The C handle, still owned by this object (NULL once moved from).
    qmgr_group *handle() const noexcept { return handle_.get(); }

    // GetGroupID.
    qmgr_guid id() const {
        qmgr_guid id{};
        detail::check(qmgr_group_get_group_id(handle(), &id));
        return id;
    }

    // CreateJob with a random GUID; Error QM_E_INVALID_STATE unless suspended or in ERROR.
    Job create_job() {
        qmgr_job *job = nullptr;
        detail::check(qmgr_group_create_job(handle(), generate_guid(), &job));
        return Job(job);
    }

    // GetJob; Error QM_E_ITEM_NOT_FOUND when the group has no such job.
    Job job(const qmgr_guid &id) const {
        qmgr_job *job = nullptr;
        detail::check(qmgr_group_get_job(handle(), id, &job));
        return Job(job);
    }

    // The group's jobs in creation order (EnumJobs; a job cancelled meanwhile is left out).
    std::vector<Job> jobs() const {
        qmgr_enum_jobs *raw = nullptr;
        detail::check(qmgr_group_enum_jobs(handle(), 0, &raw));
        auto ids = detail::snapshot(raw, qmgr_enum_jobs_get_count, qmgr_enum_jobs_next);
        return detail::open_each<Job, qmgr_job>(
            ids, [this](const qmgr_guid &id, qmgr_job **job) { return qmgr_group_get_job(handle(), id, job); });
    }

    // ResumeGroup (start or continue; retry from ERROR). Error BG_E_EMPTY without files.
    void resume() { detail::check(qmgr_group_resume_group(handle())); }
    // SuspendGroup: partial data is kept.
    void suspend() { detail::check(qmgr_group_suspend_group(handle())); }
    // CancelGroup: the group leaves the queue; finished files stay.
    void cancel() { detail::check(qmgr_group_cancel_group(handle())); }

    // GetStatus's word: QM_STATUS_GROUP_* bits.
    uint32_t status() const {
        uint32_t status = 0, job_index = 0;
        detail::check(qmgr_group_get_status(handle(), &status, &job_index));
        return status;
    }

    // Bytes done and total (UINT64_MAX while a size is unknown).
    std::pair<uint64_t, uint64_t> progress() const {
        uint64_t done = 0, total = 0;
        detail::check(qmgr_group_get_progress64(handle(), &done, &total));
        return {done, total};
    }

    // Blocks until the group is complete, in ERROR or suspended and returns GetStatus's word,
    // or returns nullopt once `timeout` passed (clamped to 0 .. 0xFFFFFFFE ms; use
    // std::chrono::milliseconds::max() to wait without limit). Error QM_E_INVALID_STATE when
    // the group is cancelled. A group in ERROR is no exception here: see throw_if_error().
    std::optional<uint32_t> wait(std::chrono::milliseconds timeout) {
        uint32_t ms = 0xFFFFFFFFu;
        if (timeout < std::chrono::milliseconds(0xFFFFFFFFLL)) {
            ms = timeout.count() < 0 ? 0u : static_cast<uint32_t>(timeout.count());
        }
        uint32_t status = 0;
        if (detail::check(qmgr_group_wait(handle(), ms, &status)) == QMGR_S_FALSE) {
            return std::nullopt;
        }
        return status;
    }

    // Throws the error of the failing job (Job::error()) when the group is in ERROR;
    // returns otherwise.
    void throw_if_error() const {
        uint32_t status = 0, job_index = 0;
        detail::check(qmgr_group_get_status(handle(), &status, &job_index));
        if (!(status & QM_STATUS_GROUP_ERROR)) {
            return;
        }
        std::vector<Job> all = jobs();
        if (job_index < all.size()) {
            if (std::optional<Error> error = all[job_index].error()) {
                throw *error;
            }
        }
        throw Error(QMGR_E_FAIL, "the group " + to_string(id()) + " is in ERROR");
    }

    // GROUPPROP_DISPLAYNAME.
    void set_display_name(const std::string &name) { set_string(GROUPPROP_DISPLAYNAME, name, "name"); }
    std::string display_name() const { return get_string(GROUPPROP_DISPLAYNAME); }

    // GROUPPROP_NOTIFYFLAGS: which OnStatus events on_status receives (QM_NOTIFY_* bits;
    // errors are notified anyway).
    void set_notify_flags(uint32_t flags) {
        qmgr_variant value{};
        value.vt = QMGR_VT_UI4;
        value.int_val = flags;
        detail::check(qmgr_group_set_prop(handle(), GROUPPROP_NOTIFYFLAGS, &value));
    }

    // SwitchToForeground; foreground is sticky: false is refused (QMGR_E_INVALIDARG) for a
    // foreground group and a no-op for a background one.
    void set_foreground(bool on) {
        if (on) {
            detail::check(qmgr_group_switch_to_foreground(handle()));
        } else if (status() & QM_STATUS_GROUP_FOREGROUND) {
            throw Error(QMGR_E_INVALIDARG, "set_foreground: a foreground group cannot be switched back");
        }
    }

    // qmgr_group_set_rate_limit / qmgr_group_get_rate_limit (C-API.md "Per-group rate
    // limit"): bytes/s for every transfer of the group, foreground ones too; 0 = none.
    void set_rate_limit(uint64_t bytes_per_second) {
        detail::check(qmgr_group_set_rate_limit(handle(), bytes_per_second));
    }
    uint64_t rate_limit() const {
        uint64_t bytes_per_second = 0;
        detail::check(qmgr_group_get_rate_limit(handle(), &bytes_per_second));
        return bytes_per_second;
    }

    // SetNotificationPointer with `fn` as OnStatus (an empty function clears it). The
    // function is destroyed by the library's release call, on replacement, clearing, or when
    // the group goes away.
    void on_status(StatusFn fn) {
        if (!fn) {
            detail::check(qmgr_group_set_notification_pointer(handle(), &IID_IBackgroundCopyCallback1, nullptr));
            return;
        }
        auto owned = std::make_unique<StatusFn>(std::move(fn));
        qmgr_callback1 callback{};
        callback.context = owned.get();
        callback.on_status = &Group::status_trampoline;
        callback.release = [](void *context) { delete static_cast<StatusFn *>(context); };
        detail::check(qmgr_group_set_notification_pointer(handle(), &IID_IBackgroundCopyCallback1, &callback));
        owned.release();  // the library owns it now: its release() deletes it
    }

private:
    static qmgr_hresult status_trampoline(void *context, qmgr_group *group, qmgr_job *job, uint32_t file_index,
                                          uint32_t status, uint32_t, uint32_t, uint32_t) noexcept {
        try {
            // The handles are borrowed for the call: the wrappers take a reference of their own.
            qmgr_group_add_ref(group);
            Group borrowed(group);
            std::optional<Job> current;
            if (job) {
                qmgr_job_add_ref(job);
                current.emplace(job);
            }
            (*static_cast<StatusFn *>(context))(borrowed, current ? &*current : nullptr, file_index, status);
            return QMGR_S_OK;
        } catch (...) {
            return QMGR_E_FAIL;
        }
    }

    void set_string(uint32_t prop, const std::string &text, const char *what) {
        qmgr_variant value{};
        value.vt = QMGR_VT_BSTR;
        value.str_val = const_cast<char *>(detail::c_str(text, what));
        detail::check(qmgr_group_set_prop(handle(), prop, &value));
    }

    std::string get_string(uint32_t prop) const {
        qmgr_variant value{};
        detail::check(qmgr_group_get_prop(handle(), prop, &value));
        struct Clear {
            void operator()(qmgr_variant *p) const noexcept { qmgr_variant_clear(p); }
        };
        std::unique_ptr<qmgr_variant, Clear> owned(&value);
        return value.str_val ? std::string(value.str_val) : std::string();
    }

    detail::Owned<qmgr_group> handle_;
};

// An IBackgroundCopyQMgr: one queue directory. Move-only.
class Manager {
public:
    // Opens (creating when missing) the queue in `queue_dir`; "" = the default queue
    // ($QMGR_HOME, else $XDG_STATE_HOME/qmgr, else ~/.local/state/qmgr). Error
    // QM_E_SERVICE_UNAVAILABLE when it cannot be used.
    static Manager open(const std::string &queue_dir = "") {
        qmgr_manager *manager = nullptr;
        detail::check(qmgr_create_instance(queue_dir.empty() ? nullptr : detail::c_str(queue_dir, "queue_dir"),
                                           &manager));
        return Manager(manager);
    }

    // Adopts one reference of `handle` (released by the destructor).
    explicit Manager(qmgr_manager *handle) noexcept : handle_(handle) {}

    // The C handle, still owned by this object (NULL once moved from).
    qmgr_manager *handle() const noexcept { return handle_.get(); }

    // CreateGroup with a random GUID: a new, SUSPENDED background group.
    Group create_group() {
        qmgr_group *group = nullptr;
        detail::check(qmgr_manager_create_group(handle(), generate_guid(), &group));
        return Group(group);
    }

    // GetGroup; Error QM_E_ITEM_NOT_FOUND when the queue has no such group.
    Group group(const qmgr_guid &id) const {
        qmgr_group *group = nullptr;
        detail::check(qmgr_manager_get_group(handle(), id, &group));
        return Group(group);
    }

    // The queue's groups in creation order (EnumGroups; a group cancelled meanwhile is left
    // out).
    std::vector<Group> groups() const {
        qmgr_enum_groups *raw = nullptr;
        detail::check(qmgr_manager_enum_groups(handle(), 0, &raw));
        auto ids = detail::snapshot(raw, qmgr_enum_groups_get_count, qmgr_enum_groups_next);
        return detail::open_each<Group, qmgr_group>(ids, [this](const qmgr_guid &id, qmgr_group **group) {
            return qmgr_manager_get_group(handle(), id, group);
        });
    }

    // A queue-wide option (C-API.md "Entry point and options"); Error QMGR_E_INVALIDARG for an
    // unknown name or a bad value.
    void set_option(const std::string &name, const std::string &value) {
        detail::check(
            qmgr_manager_set_option(handle(), detail::c_str(name, "name"), detail::c_str(value, "value")));
    }
    std::string option(const std::string &name) const {
        char *value = nullptr;
        detail::check(qmgr_manager_get_option(handle(), detail::c_str(name, "name"), &value));
        return detail::take(value);
    }

private:
    detail::Owned<qmgr_manager> handle_;
};

}  // namespace qmgr

#endif /* QMGR_HPP */
