"""The Manager interface: what the container layer may ask of a cgroup, whatever its version.

    create()        make the directories (only under the container's own path)
    add(pid)        move a process in
    enter()         move the calling process in (the setup child, before it unshares anything)
    apply(res)      write limits; all or nothing: a refused value puts back what was already written
    stats()         runc's `events --stats` shape: cpu, memory (with oomKill), pids
    freeze()/thaw() the freezer; frozen() says whether it is
    pids()          every process in the cgroup and its sub-cgroups
    kill_all(sig)   signal them all (frozen first, so nothing forks in between)
    destroy()       SIGKILL what is left, wait for it to drain, remove what create() made

Subclasses: v1.Manager (a directory per hierarchy) and v2.Manager (one directory).
"""
import errno
import os
import _signal as signal  # the C module under signal: its enum wrappers cost ~3 ms of imports
import time

from runtime import trace
from runtime.cgroups import resources
from runtime.errors import CgroupError

PARENT = "/hull"  # containers without a cgroupsPath, and relative paths, live below it

_HINTS = {
    errno.EBUSY: "the container uses more than that already",
    errno.EINVAL: "the kernel does not accept that value",
    errno.ENOENT: "that controller or file is not available",
    errno.ENOSPC: "no such CPU or memory node",
    errno.EACCES: "permission denied",
}


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def write(path: str, value: str) -> None:
    """One write() call per value: cgroup files take exactly one value per write."""
    started = time.perf_counter() if trace.enabled else 0
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
    if trace.enabled:
        trace.emit(f"write({path!r}, {value!r})", "ok", started, kind="cgroup")


class File:
    """A cgroup file by path. v1 passes its own kind (through cgroupspy's controllers)."""

    def __init__(self, path: str):
        self.path = path

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def read(self) -> str:
        return read(self.path)

    def write(self, value: str) -> None:
        write(self.path, value)


def refused(name: str, value: str, e: OSError) -> CgroupError:
    hint = _HINTS.get(e.errno, e.strerror)
    return CgroupError(f"cannot set {os.path.basename(name)} to {value.strip()!r}: {hint} ({e.strerror})")


def write_all(writes: list) -> None:
    """Write every (File, value); on the first refusal put back the single-line values already
    changed (multi-entry files like io.max cannot be restored that way) and raise CgroupError."""
    done = []
    for f, value in writes:
        old = ""
        if not f.path.endswith((".allow", ".deny")):  # devices.allow/deny are write-only
            try:
                old = f.read().strip()
            except OSError:
                pass
        try:
            f.write(value)
        except OSError as e:
            for g, v in reversed(done):
                try:
                    g.write(v)
                except OSError:
                    pass
            raise refused(f.path, value, e) from None
        if old and "\n" not in old:
            done.append((f, old))


def check_cpuset(cpu: dict, available_file) -> None:
    """Refuse cpu.cpus/mems naming CPUs or memory nodes the host does not have, before anything
    is written. available_file(key) is the file listing what there is ("0-1")."""
    for key in ("cpus", "mems"):
        if key not in cpu:
            continue
        try:
            have = read(available_file(key)).strip()
        except FileNotFoundError:
            continue  # no cpuset controller: apply() notes that
        extra = resources.parse_set(cpu[key]) - resources.parse_set(have)
        if extra:
            raise CgroupError(f"cpuset {key} {sorted(extra)} do not exist on this host (available: {have})")


def keyed(text: str) -> dict:
    """'key value' lines (cpu.stat, memory.events, memory.stat) -> {key: int}."""
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def procs_under(directory: str) -> list:
    """PIDs in cgroup.procs of directory and every cgroup below it (a cgroup namespace may nest)."""
    pids = []
    for d, subdirs, _ in os.walk(directory):
        try:
            pids += [int(p) for p in read(os.path.join(d, "cgroup.procs")).split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return pids


def remove_tree(directory: str) -> None:
    """rmdir the cgroup and the ones a container made below it, deepest first (gone is fine: a
    delete killed half-way is run again)."""
    for d, _, _ in sorted(os.walk(directory), key=lambda w: -w[0].count("/")):
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass


class Manager:
    version = 0

    def __init__(self, path: str):
        self.path = path  # e.g. /hull/ID, the same in every hierarchy

    def record(self) -> dict:
        raise NotImplementedError

    def planned(self) -> dict:
        """record() as it will be after create(): the directories not there yet, deepest first.
        Saved before create() runs, it lets destroy() find them whenever create was killed."""
        missing = []
        for top in self._tops():
            d = top
            for part in self.path.strip("/").split("/"):
                d = os.path.join(d, part)
                if not os.path.isdir(d):
                    missing.insert(0, d)
        return {**self.record(), "created": missing}

    def create(self) -> None:
        """mkdir the path in every hierarchy; undo it all if anything fails."""
        try:
            for top in self._tops():
                for attempt in range(10):
                    try:
                        self._make_dirs(top)
                        break
                    except OSError as e:
                        # another root's last container removes the empty shared parent under us:
                        # gone (ENOENT), or going offline as we write its files (ENODEV)
                        if e.errno not in (errno.ENOENT, errno.ENODEV) or attempt == 9:
                            raise
                        time.sleep(0.002 * (attempt + 1))
            if self.pids():
                raise CgroupError(f"cgroup {self.path} exists and has processes: is another container using it?")
        except BaseException:
            self._remove_created()
            raise

    def _tops(self) -> list:
        """The hierarchy roots to create the path in."""
        raise NotImplementedError

    def _make_dirs(self, top: str) -> None:
        raise NotImplementedError

    def add(self, pid: int) -> None:
        raise NotImplementedError

    def enter(self) -> None:
        """Move the calling (single-threaded) process in."""
        raise NotImplementedError

    def apply(self, res: dict) -> list:
        """Write the limits; return notes about what this host cannot do."""
        raise NotImplementedError

    def stats(self) -> dict:
        raise NotImplementedError

    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def frozen(self) -> bool:
        raise NotImplementedError

    def pids(self) -> list:
        raise NotImplementedError

    def oom_kills(self) -> int:
        raise NotImplementedError

    def exists(self) -> bool:
        raise NotImplementedError

    def _remove(self) -> None:
        raise NotImplementedError

    def _prune_parents(self, leaf: str, root: str) -> None:
        """After the leaf is gone: rmdir empty parents that this container created, or that are
        under hull's own /hull (whichever container made them); stop at the first busy one."""
        d = os.path.dirname(leaf)
        while d.startswith(root + "/"):
            rel = d[len(root):]
            if d not in self.created and not (rel == PARENT or rel.startswith(PARENT + "/")):
                return
            try:
                os.rmdir(d)
            except OSError:
                return
            d = os.path.dirname(d)

    def _remove_created(self) -> None:
        """rmdir what create() made, deepest first; a parent another container still uses stays."""
        for d in self.created:
            try:
                os.rmdir(d)
            except OSError:
                pass

    def kill_all(self, sig: int) -> None:
        """Freeze, signal every process, thaw: a process cannot fork a new one in between."""
        toggle = self._can_freeze() and not self.frozen()  # a paused container stays paused
        if toggle:
            self.freeze()
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if toggle:
                self.thaw()

    def _can_freeze(self) -> bool:
        return True

    def destroy(self, timeout: float = 10) -> None:
        """SIGKILL every process left, wait until the cgroup is empty, remove the directories.
        Also after a create killed half-way: then only some of the directories exist."""
        if not self.exists():
            self._remove_created()
            return
        deadline = time.monotonic() + timeout
        while True:
            self._kill_until_empty(deadline)
            try:
                self._remove()
                return
            except OSError as e:
                # busy for a moment after the last task left, or a process that was joining
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise CgroupError(f"cannot remove cgroup {self.path}: {e.strerror}") from None
                time.sleep(0.01)

    def _kill_until_empty(self, deadline: float) -> None:
        while self.pids():
            self.kill_all(signal.SIGKILL)
            if self._can_freeze() and self.frozen():
                self.thaw()  # a frozen task dies only once thawed
            if time.monotonic() > deadline:
                raise CgroupError(f"cgroup {self.path} still has processes {self.pids()} after SIGKILL")
            time.sleep(0.01)

    @staticmethod
    def _wait_for(check, what: str, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise CgroupError(f"timed out waiting for the cgroup to be {what}")
            time.sleep(0.002)
