// hpp_download.cpp — qmgr.hpp alone (no call of the C API): downloads two files from the
// tests' nginx with a std::function callback, catches qmgr::Error for an HTTP 404 (through
// wait + throw_if_error) and for bad arguments, checks that the callback is destroyed by the
// library, and that no library thread outlives the last wrapper (no handle leaked).
// Run by tests/tests/install.rs against the installed headers and library:
//   hpp_download BASE_URL DIR SIZE
// BASE_URL serves a.bin and b.bin of SIZE bytes each (not missing.bin); DIR is an empty
// directory for the queue and the downloads. Prints one line per failed check and a summary.
#include "qmgr.hpp"

#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace {

int checks = 0;
int failures = 0;

void check(bool ok, const char *what, int line) {
    ++checks;
    if (!ok) {
        ++failures;
        std::printf("FAIL hpp_download.cpp:%d: %s\n", line, what);
    }
}
#define CHECK(x) check((x), #x, __LINE__)

// Polls `cond` every 10 ms for up to 60 s (valgrind is slow).
template <typename F>
bool eventually(F cond) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

// Threads of this process (entries of /proc/self/task).
int thread_count() {
    int n = 0;
    if (DIR *dir = opendir("/proc/self/task")) {
        while (dirent *entry = readdir(dir)) {
            n += entry->d_name[0] != '.';
        }
        closedir(dir);
    }
    return n;
}

// Runs `fn`, which must throw qmgr::Error with `expected`; the message must contain `part`.
template <typename F>
void expect_error(F fn, qmgr_hresult expected, const std::string &part, int line) {
    try {
        fn();
        check(false, "no qmgr::Error thrown", line);
    } catch (const qmgr::Error &e) {
        bool ok = e.hresult() == expected && std::string(e.what()).find(part) != std::string::npos;
        check(ok, "qmgr::Error with the expected HRESULT and message", line);
        if (!ok) {
            std::printf("  got 0x%08x: %s (expected 0x%08x, a message with \"%s\")\n",
                        static_cast<unsigned>(e.hresult()), e.what(), static_cast<unsigned>(expected), part.c_str());
        }
    }
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s BASE_URL DIR SIZE\n", argv[0]);
        return 2;
    }
    const std::string base = argv[1], dir = argv[2];
    const uint64_t size = std::stoull(argv[3]);
    std::printf("== hpp_download (libqmgr %s)\n", qmgr::version().c_str());
    auto events = std::make_shared<std::atomic<int>>(0);
    {
        qmgr::Manager manager = qmgr::Manager::open(dir + "/queue");
        manager.set_option("proxy", "");
        CHECK(manager.option("proxy").empty());

        // A download, with a callback.
        qmgr::Group group = manager.create_group();
        group.set_display_name("hpp \xe2\x9c\x93");
        CHECK(group.display_name() == "hpp \xe2\x9c\x93");
        group.set_foreground(true);
        CHECK(group.status() & QM_STATUS_GROUP_FOREGROUND);
        CHECK(group.rate_limit() == 0);
        group.set_rate_limit(uint64_t{1} << 30);  // 1 GiB/s: binds a foreground group, slows nothing here
        CHECK(group.rate_limit() == uint64_t{1} << 30);
        group.set_notify_flags(QM_NOTIFY_FILE_DONE | QM_NOTIFY_GROUP_DONE);
        std::atomic<int> files_done{0}, group_done{0};
        const qmgr_guid group_id = group.id();
        group.on_status([&, events](qmgr::Group &g, qmgr::Job *job, uint32_t file_index, uint32_t status) {
            ++*events;
            if (qmgr::to_string(g.id()) != qmgr::to_string(group_id)) {
                throw std::runtime_error("another group");  // caught by the wrapper
            }
            if (job && (status & QM_STATUS_FILE_COMPLETE) && file_index < job->file_count()) {
                ++files_done;
            }
            if (status & QM_STATUS_GROUP_COMPLETE) {
                ++group_done;
            }
        });
        CHECK(events.use_count() == 2);
        qmgr_guid job_id{};
        {
            qmgr::Job job = group.create_job();
            job_id = job.id();
            job.add_files({{base + "/a.bin", dir + "/a.bin"}, {base + "/b.bin", dir + "/b.bin"}});
            CHECK(job.file_count() == 2);
            qmgr::FileInfo second = job.file(1);
            CHECK(second.url == base + "/b.bin" && second.local_path == dir + "/b.bin");
            CHECK(job.error_message().empty() && !job.error());
            expect_error([&] { job.file(2); }, QM_E_ITEM_NOT_FOUND, "", __LINE__);
        }
        CHECK(qmgr::to_string(group.job(job_id).id()) == qmgr::to_string(job_id));
        group.resume();
        std::optional<uint32_t> status = group.wait(std::chrono::seconds(120));
        CHECK(status && (*status & QM_STATUS_GROUP_COMPLETE));
        group.throw_if_error();
        CHECK(group.progress() == std::make_pair(2 * size, 2 * size));
        CHECK(eventually([&] { return group_done.load() == 1 && files_done.load() == 2; }));
        CHECK(manager.groups().size() == 1 && group.jobs().size() == 1);

        // Moving a handle moves its one reference.
        qmgr::Group moved = std::move(group);
        CHECK(group.handle() == nullptr && moved.handle() != nullptr);
        CHECK(qmgr::to_string(moved.id()) == qmgr::to_string(group_id));
        moved.cancel();
        // The library destroys the std::function (the C callback's release).
        CHECK(eventually([&] { return events.use_count() == 1; }));
        expect_error([&] { moved.wait(std::chrono::milliseconds(0)); }, QM_E_INVALID_STATE, "", __LINE__);

        // An HTTP 404: a fatal error of the job, thrown by throw_if_error.
        qmgr::Group failing = manager.create_group();
        {
            qmgr::Job job = failing.create_job();
            job.add_files({{base + "/missing.bin", dir + "/missing.bin"}});
        }
        failing.resume();
        status = failing.wait(std::chrono::seconds(120));
        CHECK(status && (*status & QM_STATUS_GROUP_ERROR));
        expect_error([&] { failing.throw_if_error(); }, static_cast<qmgr_hresult>(BG_E_HTTP_ERROR_BASE | 404u), "404",
                     __LINE__);
        std::vector<qmgr::Job> jobs = failing.jobs();
        CHECK(jobs.size() == 1 && jobs[0].error_message().find("404") != std::string::npos);
        CHECK(jobs.size() == 1 && jobs[0].error() && jobs[0].error()->hresult() == static_cast<qmgr_hresult>(BG_E_HTTP_ERROR_BASE | 404u));
        failing.cancel();

        // A checksum that does not match: a fatal QMGR_E_BAD_DIGEST naming the algorithm, no
        // final file (DECISIONS D15).
        qmgr::Group checked = manager.create_group();
        {
            qmgr::Job job = checked.create_job();
            job.add_files({{base + "/a.bin", dir + "/c.bin"}});
            expect_error([&] { job.set_file_checksum(0, "md5", std::string(32, '0')); }, QMGR_E_INVALIDARG,
                         "algorithm", __LINE__);
            expect_error([&] { job.set_file_checksum(1, "sha-256", std::string(64, '0')); }, QMGR_E_INVALIDARG, "",
                         __LINE__);
            job.set_file_checksum(0, "SHA-256", std::string(64, '0'));
        }
        checked.resume();
        status = checked.wait(std::chrono::seconds(120));
        CHECK(status && (*status & QM_STATUS_GROUP_ERROR));
        expect_error([&] { checked.throw_if_error(); }, QMGR_E_BAD_DIGEST, "sha-256", __LINE__);
        CHECK(access((dir + "/c.bin").c_str(), F_OK) != 0);
        checked.cancel();

        // Bad arguments: the HRESULT and a message naming the problem.
        qmgr::Group empty = manager.create_group();
        qmgr::Job job = empty.create_job();
        expect_error([&] { job.add_files({{"not a url", dir + "/x.bin"}}); }, QMGR_E_INVALIDARG, "URL", __LINE__);
        expect_error([&] { job.add_files({{base + "/a.bin", "relative/x.bin"}}); }, QMGR_E_INVALIDARG, "relative",
                     __LINE__);
        expect_error([&] { job.add_files({{std::string("http://127.0.0.1/\0x", 19), dir + "/y.bin"}}); },
                     QMGR_E_INVALIDARG, "NUL", __LINE__);
        CHECK(job.file_count() == 0);
        expect_error([&] { empty.resume(); }, BG_E_EMPTY, "", __LINE__);
        expect_error([&] { manager.set_option("no_such_option", "1"); }, QMGR_E_INVALIDARG, "no_such_option", __LINE__);
        expect_error([&] { qmgr::guid_from_string("not a guid"); }, QMGR_E_INVALIDARG, "", __LINE__);
        expect_error([&] { manager.group(qmgr::generate_guid()); }, QM_E_ITEM_NOT_FOUND, "", __LINE__);
        empty.cancel();
        expect_error([&] { job.cancel(); }, QM_E_INVALID_STATE, "", __LINE__);
        expect_error([&] { qmgr::Manager::open(std::string("/tmp/q\0x", 8)); }, QMGR_E_INVALIDARG, "NUL", __LINE__);
    }
    // Every wrapper is gone: the manager's last reference went with them, so its threads are
    // joined; a leaked handle would keep them running.
    CHECK(eventually([] { return thread_count() == 1; }));
    std::printf("== hpp_download: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
