"""cgroup v2: one directory per container in the unified tree.

Controllers must be switched on in every ancestor's cgroup.subtree_control before a child gets
their files (memory.max appears only then). v2 forbids processes in inner cgroups, so only the leaf
ever holds processes.
"""
import os

from runtime import trace
from runtime.cgroups import base, resources
from runtime.errors import CgroupError, InvalidArgument

ROOT = "/sys/fs/cgroup"
WANTED = ("cpu", "cpuset", "hugetlb", "io", "memory", "pids")


class Manager(base.Manager):
    version = 2

    def __init__(self, path: str, root: str = ROOT, created=()):
        super().__init__(path)
        self.root = root
        self.dir = os.path.join(root, path.lstrip("/"))
        self.created = list(created)  # directories create() made, leaf first

    def record(self) -> dict:
        return {"version": 2, "path": self.path, "root": self.root, "created": self.created}

    def _file(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    # -- create / add -----------------------------------------------------------------------------
    def _tops(self) -> list:
        return [self.root]

    def _make_dirs(self, top: str) -> None:
        parent = top
        for part in self.path.strip("/").split("/"):
            self._enable_controllers(parent)
            parent = os.path.join(parent, part)
            try:
                os.mkdir(parent, 0o755)
                os.chmod(parent, 0o755)  # whatever the umask (the monitor's is 077): user namespaces traverse it
                self.created.insert(0, parent)
                trace.note(f"mkdir {parent}", kind="cgroup")
            except FileExistsError:
                pass

    def _enable_controllers(self, d: str) -> None:
        """Hand the controllers we use down from d to its children (as systemd and runc do)."""
        available = base.read(os.path.join(d, "cgroup.controllers")).split()
        enabled = base.read(os.path.join(d, "cgroup.subtree_control")).split()
        missing = [c for c in WANTED if c in available and c not in enabled]
        if not missing:
            return
        try:
            base.write(os.path.join(d, "cgroup.subtree_control"), " ".join("+" + c for c in missing))
        except OSError:
            for c in missing:  # one at a time, so one refusal does not cost the others
                try:
                    base.write(os.path.join(d, "cgroup.subtree_control"), "+" + c)
                except OSError as e:
                    trace.note(f"cannot enable {c} in {d}: {e.strerror}")

    def add(self, pid: int) -> None:
        base.write(self._file("cgroup.procs"), str(pid))

    def enter(self) -> None:
        """Move the calling process in (v2 has no per-thread shortcut for domain cgroups)."""
        self.add(0)

    # -- limits -------------------------------------------------------------------------------------
    def apply(self, res: dict) -> list:
        files, notes = to_v2(res)
        base.check_cpuset(res.get("cpu", {}), lambda key: os.path.join(self.root, f"cpuset.{key}.effective"))
        writes = []
        for name, value in files:
            path = self._file(name)
            if not os.path.exists(path):
                controller = name.split(".", 1)[0]
                if resources.optional_file(name):
                    continue
                if controller in resources.STRICT:  # runc fails here too
                    raise CgroupError(f"cannot set {name}: no such file here (is the {controller} controller "
                                      "available, and the page size supported?)")
                if name in dict(res.get("unified", {})):
                    raise CgroupError(f"linux.resources.unified: {name} does not exist on this host "
                                      f"(is the {controller} controller available?)")
                notes.append(f"{name} is not available here (no {controller} controller): ignored")
                continue
            writes.append((base.File(path), value))
        base.write_all(writes)
        if res.get("devices"):
            notes += self._filter_devices(res["devices"])
        return notes

    def _filter_devices(self, rules: list) -> list:
        """Attach the device rules as an eBPF program (v2 has no devices.allow)."""
        from runtime.cgroups import devices
        from runtime.linux import libc
        try:
            prog = libc.bpf_load_device_program(devices.program(rules))
        except OSError as e:
            return [f"linux.resources.devices is not enforced: this kernel refused the eBPF device program "
                    f"({e.strerror})"]
        try:
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                libc.bpf_attach_device_program(fd, prog)
            finally:
                os.close(fd)
        except OSError as e:
            raise CgroupError(f"cannot attach the device rules to {self.dir}: {e.strerror}") from None
        finally:
            os.close(prog)  # the attachment keeps the program alive until the cgroup goes
        return []

    # -- freezer, processes ---------------------------------------------------------------------------
    def freeze(self) -> None:
        base.write(self._file("cgroup.freeze"), "1")
        self._wait_for(self.frozen, "frozen")

    def thaw(self) -> None:
        base.write(self._file("cgroup.freeze"), "0")
        self._wait_for(lambda: not self.frozen(), "thawed")

    def frozen(self) -> bool:
        try:
            return base.keyed(base.read(self._file("cgroup.events"))).get("frozen") == 1
        except FileNotFoundError:
            return False

    def pids(self) -> list:
        return base.procs_under(self.dir)

    def kill_all(self, sig: int) -> None:
        if sig == 9 and os.path.exists(self._file("cgroup.kill")):
            base.write(self._file("cgroup.kill"), "1")  # Linux 5.14+: the kernel does it atomically
        else:
            super().kill_all(sig)

    def _remove(self) -> None:
        base.remove_tree(self.dir)
        self._prune_parents(self.dir, self.root)

    # -- stats --------------------------------------------------------------------------------------
    def _keyed(self, name: str) -> dict:
        try:
            return base.keyed(base.read(self._file(name)))
        except OSError:
            return {}

    def _int(self, name: str) -> int:
        try:
            v = base.read(self._file(name)).strip()
        except OSError:
            return 0
        return 0 if v == "max" else int(v)

    def oom_kills(self) -> int:
        return self._keyed("memory.events").get("oom_kill", 0)

    def stats(self) -> dict:
        cpu = self._keyed("cpu.stat")
        events = self._keyed("memory.events")
        limit = self._int("memory.max") or resources.INT64_MAX
        mem_stat = self._keyed("memory.stat")
        return {
            "cpu": {
                "usage": {"total": cpu.get("usage_usec", 0) * 1000, "kernel": cpu.get("system_usec", 0) * 1000,
                          "user": cpu.get("user_usec", 0) * 1000},
                "throttling": {"periods": cpu.get("nr_periods", 0), "throttledPeriods": cpu.get("nr_throttled", 0),
                               "throttledTime": cpu.get("throttled_usec", 0) * 1000},
            },
            "memory": {
                "cache": mem_stat.get("file", 0),
                "usage": {"usage": self._int("memory.current"), "max": self._int("memory.peak"),
                          "limit": limit, "failcnt": events.get("max", 0)},
                "swap": {"usage": self._int("memory.swap.current"),
                         "limit": self._int("memory.swap.max") or resources.INT64_MAX},
                "oomKill": events.get("oom_kill", 0),
                "raw": mem_stat,
            },
            "pids": {"current": self._int("pids.current"), "limit": self._int("pids.max")},
        }

    def io_bytes(self) -> dict:
        """Bytes read and written, summed over devices (io.stat: "8:0 rbytes=N wbytes=N ...")."""
        out = {"read": 0, "write": 0}
        try:
            text = base.read(self._file("io.stat"))
        except OSError:
            return out
        for line in text.splitlines():
            for field in line.split()[1:]:
                key, _, value = field.partition("=")
                if key in ("rbytes", "wbytes") and value.isdigit():
                    out["read" if key == "rbytes" else "write"] += int(value)
        return out


# -- linux.resources -> cgroup v2 files --------------------------------------------------------------

DEFAULT_PERIOD = 100000
_IO_MAX_KEY = {"throttleReadBpsDevice": "rbps", "throttleWriteBpsDevice": "wbps",
               "throttleReadIOPSDevice": "riops", "throttleWriteIOPSDevice": "wiops"}


def shares_to_weight(shares: int) -> int:
    return 1 + (shares - 2) * 9999 // 262142


def blkio_to_io_weight(weight: int) -> int:
    return 1 + (weight - 10) * 9999 // 990


def _max(v: int) -> str:
    return "max" if v == -1 else str(v)


def to_v2(res: dict) -> tuple[list, list]:
    """[(file, value)] for a v2 cgroup, and notes for what v2 cannot express."""
    files, notes = [], []
    m = res.get("memory", {})
    if "limit" in m:
        files.append(("memory.max", _max(m["limit"])))
    if "kernelTCP" in m:
        notes.append("memory.kernelTCP is cgroup v1 only: ignored on this host")
    if "swap" in m:
        if m["swap"] == -1:
            files.append(("memory.swap.max", "max"))
        elif m.get("limit", -1) == -1:
            raise InvalidArgument("memory.swap on cgroup v2 needs memory.limit too: v2 limits swap alone "
                                  "(swap.max = swap - limit)")
        else:
            files.append(("memory.swap.max", str(m["swap"] - m["limit"])))
    elif m.get("limit") == -1:
        files.append(("memory.swap.max", "max"))
    if "reservation" in m:
        files.append(("memory.low", _max(m["reservation"])))
    for key in ("swappiness", "disableOOMKiller"):
        if key in m:
            notes.append(f"memory.{key} has no cgroup v2 equivalent: ignored")
    c = res.get("cpu", {})
    if "shares" in c:
        files.append(("cpu.weight", str(shares_to_weight(c["shares"]))))
    if "quota" in c or "period" in c:
        quota = c.get("quota", -1)
        files.append(("cpu.max", f"{_max(quota)} {c.get('period', DEFAULT_PERIOD)}"))
    if "idle" in c:
        files.append(("cpu.idle", str(c["idle"])))
    if "cpus" in c:
        files.append(("cpuset.cpus", c["cpus"]))
    if "mems" in c:
        files.append(("cpuset.mems", c["mems"]))
    if "realtimeRuntime" in c or "realtimePeriod" in c:
        notes.append("cpu.realtimeRuntime/realtimePeriod are cgroup v1 only: ignored")
    if "pids" in res:
        files.append(("pids.max", _max(res["pids"]["limit"])))
    b = res.get("blockIO", {})
    if "weight" in b:
        files.append(("io.weight", f"default {blkio_to_io_weight(b['weight'])}"))
    for d in b.get("weightDevice", []):
        if "weight" in d:
            files.append(("io.weight", f"{d['major']}:{d['minor']} {blkio_to_io_weight(d['weight'])}"))
    for key in resources.THROTTLES:
        for d in b.get(key, []):
            files.append(("io.max", f"{d['major']}:{d['minor']} {_IO_MAX_KEY[key]}={d.get('rate') or 'max'}"))
    if "leafWeight" in b:
        notes.append("blockIO.leafWeight has no cgroup v2 equivalent: ignored")
    for h in res.get("hugepageLimits", []):
        files.append((f"hugetlb.{h['pageSize']}.max", str(h["limit"])))
        files.append((f"hugetlb.{h['pageSize']}.rsvd.max", str(h["limit"])))
    if "network" in res:
        notes.append("linux.resources.network (net_cls/net_prio) has no cgroup v2 equivalent: ignored")
    for k, v in res.get("unified", {}).items():
        files.append((k, v))
    return files, notes
