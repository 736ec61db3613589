"""agent.py — one process of the multi-process tests, driving a queue through the Python package
(python/qmgr, ctypes over libqmgr) on the test's orders.

The line protocol of agent.c (see its header), for the commands: open, option, create, get, job,
getjob, add, resume, suspend, cancel, status, progress, name, getname, notify, enum, watch_exist,
quit. Answers are "ok[ WORDS]" or "err 0xHRESULT message"; callbacks print
"event status GROUP JOB|- FILE|- STATUS RETRIES WIN32 HTTP".

Run with PYTHONPATH=<workspace>/python and QMGR_LIBRARY=<path of libqmgr.so>.
"""

import sys
import threading
import time
import uuid

import qmgr

_out = threading.Lock()


def say(line: str) -> None:
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def text(guid: uuid.UUID) -> str:
    return "{" + str(guid) + "}"


def key(word: str) -> str:
    return text(uuid.UUID(word.strip("{}")))


class Printer:
    """A group's callback: prints each OnStatus as an event line."""

    def on_status(self, group, job, file_index, status, retries, win32, transport):
        say(
            f"event status {text(group.id)} {text(job.id) if job else '-'} "
            f"{'-' if file_index is None else file_index} 0x{int(status):X} {retries} 0x{win32:X} {transport}"
        )


class Agent:
    def __init__(self):
        self.manager = None
        self.groups = {}
        self.jobs = {}
        self.stop = threading.Event()
        self.watcher = None

    def group(self, word: str) -> qmgr.Group:
        return self.groups[key(word)]

    def watch_exist(self, ids):
        left = list(ids)
        end = time.monotonic() + 60
        while left and time.monotonic() < end and not self.stop.is_set():
            for gid in list(left):
                try:
                    self.manager.get_group(gid).close()
                except qmgr.ItemNotFoundError:
                    continue
                left.remove(gid)
                say(f"event seen {gid}")
            if left:
                time.sleep(0.002)
        say(f"event watched {len(ids) - len(left)}")

    def run(self, w):
        cmd = w[0]
        if cmd == "open":
            self.manager = qmgr.Manager(w[1])
        elif cmd == "option":
            self.manager.set_option(w[1], w[2])
        elif cmd == "create":
            g = self.manager.create_group(None if w[1] == "-" else w[1])
            self.groups[text(g.id)] = g
            return text(g.id)
        elif cmd == "get":
            g = self.manager.get_group(w[1])
            self.groups[text(g.id)] = g
        elif cmd == "job":
            j = self.group(w[1]).create_job(None if w[2] == "-" else w[2])
            self.jobs[text(j.id)] = j
            return text(j.id)
        elif cmd == "getjob":
            j = self.group(w[1]).get_job(w[2])
            self.jobs[text(j.id)] = j
        elif cmd == "add":
            self.jobs[key(w[1])].add_files([(w[2], w[3])])
        elif cmd in ("resume", "suspend", "cancel"):
            getattr(self.group(w[1]), cmd)()
        elif cmd == "status":
            s = self.group(w[1]).status
            return f"0x{int(s.flags):X} {s.job_index}"
        elif cmd == "progress":
            p = self.group(w[1]).progress
            return f"{p.bytes_done} {p.bytes_total if p.bytes_total is not None else 2**64 - 1}"
        elif cmd == "name":
            self.group(w[1]).display_name = w[2]
        elif cmd == "getname":
            return self.group(w[1]).display_name
        elif cmd == "notify":
            g = self.group(w[1])
            g.notify_flags = qmgr.Notify(int(w[2], 0))
            g.set_callback(Printer())
        elif cmd == "enum":
            ids = [text(i) for i in self.manager.enum_groups()]
            return " ".join([str(len(ids))] + ids)
        elif cmd == "watch_exist":
            self.watcher = threading.Thread(target=self.watch_exist, args=([key(x) for x in w[1:]],), daemon=True)
            self.watcher.start()
        else:
            raise qmgr.InvalidArgumentError(qmgr.HResult.E_INVALIDARG, f"agent: unknown command {cmd}")
        return None

    def close(self):
        self.stop.set()
        if self.watcher:
            self.watcher.join()
        for obj in list(self.jobs.values()) + list(self.groups.values()):
            obj.close()
        if self.manager:
            self.manager.close()


def main() -> int:
    agent = Agent()
    for line in sys.stdin:
        words = line.rstrip("\r\n").split(" ")
        if words == ["quit"]:
            break
        try:
            result = agent.run(words)
        except qmgr.QmgrError as e:
            say(f"err 0x{e.hresult & 0xFFFFFFFF:08X} {e.message}".replace("\n", " "))
        except (KeyError, IndexError, ValueError) as e:
            say(f"err 0x80070057 agent: {type(e).__name__}: {e}")
        else:
            say("ok" if result is None else f"ok {result}")
    agent.close()
    say("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
