// cxx_smoke.cpp — qmgr.h from C++17: a manager, a group, a job with a file:// file, the
// enumerators, the callback struct filled with a captureless lambda and a static member
// function, a completed transfer, and every handle released (C-API.md; wasmtime's habit of
// compiling the header as C++ too, STYLE.md). Then qmgr.hpp's Group::set_rate_limit /
// rate_limit: a limited file:// copy takes at least the time its limit allows.
#include "qmgr.h"
#include "qmgr.hpp"

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

int failures = 0;
int checks = 0;

void check(bool ok, const char *what, int line) {
    ++checks;
    if (!ok) {
        ++failures;
        char *msg = nullptr;
        qmgr_get_last_error_message(&msg);
        std::printf("FAIL cxx_smoke.cpp:%d: %s (last error: %s)\n", line, what, msg ? msg : "none");
        qmgr_string_free(msg);
    }
}
#define CHECK(x) check((x), #x, __LINE__)

// RAII for library strings.
struct Text {
    char *p = nullptr;
    ~Text() { qmgr_string_free(p); }
    std::string str() const { return p ? std::string(p) : std::string(); }
};

struct Events {
    std::atomic<int> status{0};
    std::atomic<int> complete{0};
    std::atomic<int> released{0};
    std::atomic<int> files_done{0};
};

struct Sink {
    // A static member function as OnStatus.
    static qmgr_hresult on_status(void *context, qmgr_group *group, qmgr_job *job, uint32_t file_index,
                                  uint32_t status, uint32_t, uint32_t, uint32_t) {
        auto *events = static_cast<Events *>(context);
        events->status++;
        qmgr_guid id{};
        if (qmgr_group_get_group_id(group, &id) != QMGR_S_OK) {
            return QMGR_E_FAIL;
        }
        if (status & QM_STATUS_FILE_COMPLETE) {
            events->files_done++;
            (void)job;
            (void)file_index;
        } else if (status & QM_STATUS_GROUP_COMPLETE) {
            events->complete++;
        }
        return QMGR_S_OK;
    }
};

int remove_entry(const char *path, const struct stat *, int, struct FTW *) {
    return std::remove(path);
}

std::string guid_text(const qmgr_guid &g) {
    Text t;
    qmgr_guid_to_string(&g, &t.p);
    return t.str();
}

}  // namespace

int main() {
    std::printf("== cxx_smoke (libqmgr %s)\n", qmgr_version());
    const char *tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/qmgr-cxx-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
        std::perror("mkdtemp");
        return 2;
    }
    const std::string root(buf.data());
    const std::string queue = root + "/queue";
    const std::string source = root + "/source.bin";
    const std::string dest = root + "/dest.bin";
    {
        std::ofstream out(source, std::ios::binary);
        for (int i = 0; i < 100000; ++i) {
            out.put(static_cast<char>(i * 7));
        }
    }

    qmgr_manager *manager = nullptr;
    CHECK(qmgr_create_instance(queue.c_str(), &manager) == QMGR_S_OK);
    CHECK(qmgr_manager_set_option(manager, "min_retry_delay_ms", "1000") == QMGR_S_OK);

    qmgr_guid group_id{}, job_id{};
    CHECK(qmgr_guid_generate(&group_id) == QMGR_S_OK);
    CHECK(qmgr_guid_generate(&job_id) == QMGR_S_OK);
    qmgr_group *group = nullptr;
    CHECK(qmgr_manager_create_group(manager, group_id, &group) == QMGR_S_OK);

    qmgr_variant protocol{};
    protocol.vt = QMGR_VT_I4;
    protocol.int_val = QM_PROTOCOL_SMB;
    CHECK(qmgr_group_set_prop(group, GROUPPROP_PROTOCOLFLAGS, &protocol) == QMGR_S_OK);
    qmgr_variant flags{};
    flags.vt = QMGR_VT_UI4;
    flags.int_val = QM_NOTIFY_FILE_DONE | QM_NOTIFY_GROUP_DONE;
    CHECK(qmgr_group_set_prop(group, GROUPPROP_NOTIFYFLAGS, &flags) == QMGR_S_OK);
    std::string name = "cxx smoke \xe2\x9c\x93";
    qmgr_variant display{};
    display.vt = QMGR_VT_BSTR;
    display.str_val = const_cast<char *>(name.c_str());
    CHECK(qmgr_group_set_prop(group, GROUPPROP_DISPLAYNAME, &display) == QMGR_S_OK);
    qmgr_variant read{};
    CHECK(qmgr_group_get_prop(group, GROUPPROP_DISPLAYNAME, &read) == QMGR_S_OK);
    CHECK(read.vt == QMGR_VT_BSTR && name == read.str_val);
    qmgr_variant_clear(&read);

    Events events;
    qmgr_callback1 callback{};
    callback.context = &events;
    callback.on_status = &Sink::on_status;
    // Captureless lambdas convert to the C function pointer types.
    callback.on_progress = [](void *, uint32_t, qmgr_group *, qmgr_job *, uint32_t, uint32_t) -> qmgr_hresult {
        return QMGR_S_OK;
    };
    callback.on_progress_ex = [](void *, uint32_t, qmgr_group *, qmgr_job *, uint32_t, uint32_t, uint32_t,
                                 const uint8_t *) -> qmgr_hresult { return QMGR_S_OK; };
    callback.release = [](void *context) { static_cast<Events *>(context)->released++; };
    CHECK(qmgr_group_set_notification_pointer(group, &IID_IBackgroundCopyCallback1, &callback) == QMGR_S_OK);

    qmgr_job *job = nullptr;
    CHECK(qmgr_group_create_job(group, job_id, &job) == QMGR_S_OK);
    std::string url = "file://" + source;
    qmgr_fileset_info info{};
    info.remote_file = const_cast<char *>(url.c_str());
    info.local_file = const_cast<char *>(dest.c_str());
    info.size_hint = 100000;
    const qmgr_fileset_info *set[] = {&info};
    CHECK(qmgr_job_add_files(job, 1, set) == QMGR_S_OK);

    // Enumerate groups and jobs.
    qmgr_enum_groups *groups = nullptr;
    CHECK(qmgr_manager_enum_groups(manager, 0, &groups) == QMGR_S_OK);
    uint32_t count = 0;
    CHECK(qmgr_enum_groups_get_count(groups, &count) == QMGR_S_OK && count == 1);
    std::vector<qmgr_guid> ids(4);
    uint32_t fetched = 0;
    CHECK(qmgr_enum_groups_next(groups, 4, ids.data(), &fetched) == QMGR_S_FALSE && fetched == 1);
    CHECK(guid_text(ids[0]) == guid_text(group_id));
    qmgr_enum_groups_release(groups);
    qmgr_enum_jobs *jobs = nullptr;
    CHECK(qmgr_group_enum_jobs(group, 0, &jobs) == QMGR_S_OK);
    qmgr_guid first{};
    CHECK(qmgr_enum_jobs_next(jobs, 1, &first, nullptr) == QMGR_S_OK);
    CHECK(std::memcmp(&first, &job_id, sizeof first) == 0);
    qmgr_enum_jobs *copy = nullptr;
    CHECK(qmgr_enum_jobs_clone(jobs, &copy) == QMGR_S_OK);
    CHECK(qmgr_enum_jobs_next(copy, 1, &first, nullptr) == QMGR_S_FALSE);
    qmgr_enum_jobs_release(copy);
    qmgr_enum_jobs_release(jobs);

    // Transfer.
    CHECK(qmgr_group_resume_group(group) == QMGR_S_OK);
    uint32_t status = 0;
    CHECK(qmgr_group_wait(group, 30000, &status) == QMGR_S_OK);
    CHECK(status == (QM_STATUS_GROUP_COMPLETE | QM_STATUS_GROUP_SUSPENDED));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (events.complete.load() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(events.complete.load() == 1);
    CHECK(events.files_done.load() == 1);
    uint64_t done = 0, total = 0;
    CHECK(qmgr_group_get_progress64(group, &done, &total) == QMGR_S_OK && done == 100000 && total == 100000);
    {
        std::ifstream in(dest, std::ios::binary);
        std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        bool same = data.size() == 100000;
        for (size_t i = 0; same && i < data.size(); ++i) {
            same = data[i] == static_cast<char>(i * 7);
        }
        CHECK(same);
    }
    Text description;
    CHECK(qmgr_get_error_description(QM_E_INVALID_STATE, &description.p) == QMGR_S_OK && !description.str().empty());

    // Release everything: the callback's release() runs exactly once.
    CHECK(qmgr_group_cancel_group(group) == QMGR_S_OK);
    qmgr_job_release(job);
    qmgr_group_release(group);
    qmgr_manager_release(manager);
    CHECK(events.released.load() == 1);

    // qmgr.hpp: the per-group rate limit (C-API.md "Per-group rate limit"), in bytes/s, for a
    // foreground group too. 100,000 bytes at 40,000 B/s take 2.5 s; a lower bound only.
    {
        qmgr::Manager hpp = qmgr::Manager::open(queue);
        qmgr::Group limited = hpp.create_group();
        CHECK(limited.rate_limit() == 0);
        limited.set_rate_limit(UINT64_MAX);
        CHECK(limited.rate_limit() == UINT64_MAX);
        limited.set_rate_limit(40000);
        CHECK(limited.rate_limit() == 40000);
        limited.set_foreground(true);
        qmgr_variant smb{};
        smb.vt = QMGR_VT_I4;
        smb.int_val = QM_PROTOCOL_SMB;
        CHECK(qmgr_group_set_prop(limited.handle(), GROUPPROP_PROTOCOLFLAGS, &smb) == QMGR_S_OK);
        limited.create_job().add_files({{url, root + "/limited.bin"}});
        auto start = std::chrono::steady_clock::now();
        limited.resume();
        std::optional<uint32_t> word = limited.wait(std::chrono::seconds(120));
        auto took = std::chrono::steady_clock::now() - start;
        CHECK(word && (*word & QM_STATUS_GROUP_COMPLETE));
        CHECK(took >= std::chrono::milliseconds(2000));
        std::printf("   100000 bytes at 40000 B/s: %lld ms\n",
                    static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
        limited.cancel();
        bool refused = false;
        try {
            limited.set_rate_limit(1);
        } catch (const qmgr::Error &e) {
            refused = e.hresult() == QM_E_INVALID_STATE;
        }
        CHECK(refused);
    }

    nftw(root.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    std::printf("== cxx_smoke: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
