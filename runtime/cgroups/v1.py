"""cgroup v1 (legacy and hybrid hosts): one directory per hierarchy, the same path in each.

Files are read and written through cgroupspy's controllers (memory, cpu, cpuacct, cpuset, blkio,
devices); pids and freezer, which cgroupspy does not model, through its generic Controller.
cgroupspy is imported only when limits are applied or stats read: it costs ~13 ms (it imports
logging), and a container with no limits does not need it.
"""
import os
import time

from runtime import trace
from runtime.cgroups import base, resources
from runtime.errors import CgroupError

CONTROLLERS = ("blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb", "memory", "misc",
               "net_cls", "net_prio", "perf_event", "pids", "rdma")
# kernels without CFQ have only the BFQ names
_ALTERNATIVES = {"blkio.weight": "blkio.bfq.weight", "blkio.weight_device": "blkio.bfq.weight_device"}


def hierarchies(mountinfo: str = "/proc/self/mountinfo") -> dict:
    """{controller: mount point} of the v1 hierarchies mounted at their root (co-mounted ones,
    like cpu,cpuacct, share a mount point)."""
    out = {}
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, superopts = fields[sep + 1], fields[sep + 3]
            if fstype != "cgroup" or fields[3] != "/":
                continue
            for c in superopts.split(","):
                if c in CONTROLLERS and c not in out:
                    out[c] = fields[4]
    return out


class _File(base.File):
    """A file of one controller's directory, read and written by cgroupspy."""

    def __init__(self, controller, name: str):
        self.ctl, self.name = controller, name.encode()
        self.path = controller.filepath(self.name).decode()

    def read(self) -> str:
        return self.ctl.get_property(self.name)

    def write(self, value: str) -> None:
        started = time.perf_counter() if trace.enabled else 0
        self.ctl.set_property(self.name, value)
        if trace.enabled:
            trace.emit(f"write({self.path!r}, {value!r})", "ok", started, kind="cgroup")


class Manager(base.Manager):
    version = 1

    def __init__(self, path: str, mounts: dict | None = None, created=()):
        super().__init__(path)
        self.mounts = hierarchies() if mounts is None else dict(mounts)
        self.dirs = {c: os.path.join(m, path.lstrip("/")) for c, m in self.mounts.items()}
        self.created = list(created)  # directories create() made, deepest first

    def record(self) -> dict:
        return {"version": 1, "path": self.path, "mounts": self.mounts, "created": self.created}

    def _unique_dirs(self) -> list:
        return sorted(set(self.dirs.values()))

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self._unique_dirs())

    def _controller(self, name: str):
        """cgroupspy's controller for this hierarchy's directory. Its controllers only read the
        node's full_path, so cgroupspy.nodes (which imports logging: ~5 ms per create) is skipped."""
        from cgroupspy import controllers as c
        cls = {"memory": c.MemoryController, "cpuset": c.CpuSetController, "cpu": c.CpuController,
               "cpuacct": c.CpuAcctController, "devices": c.DevicesController,
               "blkio": c.BlkIOController}.get(name, c.Controller)
        return cls(_Directory(self.dirs[name].encode()))

    # -- create / add -------------------------------------------------------------------------------
    def _tops(self) -> list:
        return sorted(set(self.mounts.values()))

    def _make_dirs(self, mount: str) -> None:
        d = mount
        for part in self.path.strip("/").split("/"):
            parent, d = d, os.path.join(d, part)
            try:
                os.mkdir(d, 0o755)
                os.chmod(d, 0o755)  # whatever the umask (the monitor's is 077): user namespaces traverse it
                self.created.insert(0, d)
                trace.note(f"mkdir {d}", kind="cgroup")
            except FileExistsError:
                pass
            if mount == self.mounts.get("cpuset"):
                # also for a parent someone else just made: it may not have its CPUs yet, and a
                # child of an empty cpuset refuses tasks (ENOSPC)
                self._inherit_cpuset(parent, d)

    @staticmethod
    def _inherit_cpuset(parent: str, child: str) -> None:
        """A new v1 cpuset starts empty and refuses tasks: copy the parent's CPUs and memory nodes."""
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not base.read(os.path.join(child, name)).strip():
                base.write(os.path.join(child, name), base.read(os.path.join(parent, name)).strip())

    def add(self, pid: int) -> None:
        for d in self._unique_dirs():
            base.write(os.path.join(d, "cgroup.procs"), str(pid))

    def enter(self) -> None:
        """Move the calling process, which must be single-threaded, in. Through `tasks` with pid 0
        the kernel skips the global threadgroup lock that a cgroup.procs write takes, and with it an
        RCU grace period (~15 ms here, most of a container's start-up)."""
        for d in self._unique_dirs():
            base.write(os.path.join(d, "tasks"), "0")

    # -- limits -------------------------------------------------------------------------------------
    def apply(self, res: dict) -> list:
        files, notes = to_v1(res)
        writes = []
        if "devices" in res:
            if "devices" in self.dirs:
                writes += [(base.File(os.path.join(self.dirs["devices"], f)), line)
                           for f, line in devices_v1(res["devices"])]
            else:
                notes.append("linux.resources.devices ignored: no devices cgroup on this host")
        if files:
            if "cpuset" in self.mounts:
                base.check_cpuset(res.get("cpu", {}), lambda key: os.path.join(self.mounts["cpuset"], f"cpuset.{key}"))
            controllers = {}
            for ctrl, name, value in files:
                if ctrl not in self.dirs:
                    if resources.optional_file(name):
                        continue
                    if ctrl in resources.STRICT:  # runc fails here too
                        raise CgroupError(f"cannot set {name}: the {ctrl} cgroup hierarchy is not mounted "
                                          "on this host")
                    notes.append(f"{name} ignored: no {ctrl} cgroup hierarchy on this host")
                    continue
                ctl = controllers.get(ctrl) or controllers.setdefault(ctrl, self._controller(ctrl))
                f = _File(ctl, name)
                if not f.exists() and name in _ALTERNATIVES:
                    f = _File(ctl, _ALTERNATIVES[name])
                if not f.exists():
                    if resources.optional_file(name):
                        continue
                    if ctrl in resources.STRICT:
                        raise CgroupError(f"cannot set {name}: this host has no such file (an unsupported "
                                          "hugepage size?)")
                    notes.append(f"{name} is not available on this kernel: ignored")
                    continue
                writes.append((f, value))
            writes = self._order_memory(writes)
        base.write_all(writes)
        return notes

    @staticmethod
    def _order_memory(writes: list) -> list:
        """memory.memsw.limit_in_bytes may never be below memory.limit_in_bytes: when the limit
        rises above the current memsw, write memsw first."""
        names = [os.path.basename(f.path) for f, _ in writes]
        if "memory.limit_in_bytes" not in names or "memory.memsw.limit_in_bytes" not in names:
            return writes
        i, j = names.index("memory.limit_in_bytes"), names.index("memory.memsw.limit_in_bytes")
        memsw_file, new_limit = writes[j][0], int(writes[i][1])
        current_memsw = int(memsw_file.read())
        if new_limit == -1 or new_limit > current_memsw:
            writes = list(writes)
            writes.insert(i, writes.pop(j))
        return writes

    # -- freezer, processes ---------------------------------------------------------------------------
    def _freezer_state(self) -> str:
        return base.read(os.path.join(self.dirs["freezer"], "freezer.state")).strip()

    def _can_freeze(self) -> bool:
        return "freezer" in self.dirs

    def freeze(self) -> None:
        if not self._can_freeze():
            raise CgroupError("there is no freezer cgroup hierarchy on this host")
        base.write(os.path.join(self.dirs["freezer"], "freezer.state"), "FROZEN")
        self._wait_for(self.frozen, "frozen")  # FREEZING until every task stopped

    def thaw(self) -> None:
        if not self._can_freeze():
            raise CgroupError("there is no freezer cgroup hierarchy on this host")
        base.write(os.path.join(self.dirs["freezer"], "freezer.state"), "THAWED")
        self._wait_for(lambda: self._freezer_state() == "THAWED", "thawed")

    def frozen(self) -> bool:
        try:
            return self._can_freeze() and self._freezer_state() == "FROZEN"
        except FileNotFoundError:
            return False

    def pids(self) -> list:
        d = self.dirs.get("pids") or self.dirs.get("freezer") or self._unique_dirs()[0]
        return base.procs_under(d)

    def _remove(self) -> None:
        for mount in sorted(set(self.mounts.values())):
            d = os.path.join(mount, self.path.lstrip("/"))
            if os.path.isdir(d):
                base.remove_tree(d)
            self._prune_parents(d, mount)

    # -- stats --------------------------------------------------------------------------------------
    def oom_kills(self) -> int:
        if "memory" not in self.dirs:
            return 0
        try:
            return base.keyed(base.read(os.path.join(self.dirs["memory"], "memory.oom_control"))).get("oom_kill", 0)
        except OSError:
            return 0

    def stats(self) -> dict:
        controllers = {c: self._controller(c) for c in ("cpu", "cpuacct", "memory") if c in self.dirs}

        def get(ctrl, attr, default=0):
            if ctrl not in controllers:
                return default
            try:
                v = getattr(controllers[ctrl], attr)
            except (OSError, ValueError):
                return default
            return default if v is None else v

        def plain(name):
            try:
                v = base.read(os.path.join(self.dirs["pids"], name)).strip()
            except (KeyError, OSError):
                return 0
            return 0 if v == "max" else int(v)

        ticks = os.sysconf("SC_CLK_TCK")
        acct = get("cpuacct", "acct_stat", {})
        throttle = get("cpu", "stat", {})
        mem_stat = get("memory", "stat", {})
        return {
            "cpu": {
                "usage": {"total": get("cpuacct", "usage"), "percpu": get("cpuacct", "usage_percpu", []),
                          "kernel": acct.get("system", 0) * 10 ** 9 // ticks,
                          "user": acct.get("user", 0) * 10 ** 9 // ticks},
                "throttling": {"periods": throttle.get("nr_periods", 0),
                               "throttledPeriods": throttle.get("nr_throttled", 0),
                               "throttledTime": throttle.get("throttled_time", 0)},
            },
            "memory": {
                "cache": mem_stat.get("cache", 0),
                "usage": {"usage": get("memory", "usage_in_bytes"), "max": get("memory", "max_usage_in_bytes"),
                          "limit": get("memory", "limit_in_bytes"), "failcnt": get("memory", "failcnt")},
                "swap": {"usage": get("memory", "memsw_usage_in_bytes"),
                         "max": get("memory", "memsw_max_usage_in_bytes"),
                         "limit": get("memory", "memsw_limit_in_bytes"), "failcnt": get("memory", "memsw_failcnt")},
                "oomKill": self.oom_kills(),
                "raw": mem_stat,
            },
            "pids": {"current": plain("pids.current"), "limit": plain("pids.max")},
        }

    def io_bytes(self) -> dict:
        """Bytes read and written, summed over devices (blkio's "8:0 Read N" lines; "Total" skipped)."""
        out = {"read": 0, "write": 0}
        try:
            text = base.read(os.path.join(self.dirs["blkio"], "blkio.throttle.io_service_bytes_recursive"))
        except (KeyError, OSError):
            return out
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in ("Read", "Write") and parts[2].isdigit():
                out[parts[1].lower()] += int(parts[2])
        return out


class _Directory:
    """What a cgroupspy controller needs of its node: the directory's path (bytes)."""

    def __init__(self, full_path: bytes):
        self.full_path = full_path


# -- linux.resources -> cgroup v1 files --------------------------------------------------------------

_V1_THROTTLE_FILE = {"throttleReadBpsDevice": "blkio.throttle.read_bps_device",
                     "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
                     "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
                     "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device"}


def _max(v: int) -> str:
    return "max" if v == -1 else str(v)


def to_v1(res: dict) -> tuple[list, list]:
    """[(controller, file, value)] for v1 hierarchies, and notes for what v1 cannot express.
    Device rules are not here: see devices_v1()."""
    files, notes = [], []
    m = res.get("memory", {})
    if "limit" in m:
        files.append(("memory", "memory.limit_in_bytes", str(m["limit"])))
    if "swap" in m:
        files.append(("memory", "memory.memsw.limit_in_bytes", str(m["swap"])))
    elif m.get("limit") == -1:
        files.append(("memory", "memory.memsw.limit_in_bytes", "-1"))
    if "reservation" in m:
        files.append(("memory", "memory.soft_limit_in_bytes", str(m["reservation"])))
    if "kernelTCP" in m:
        files.append(("memory", "memory.kmem.tcp.limit_in_bytes", str(m["kernelTCP"])))
    if "swappiness" in m:
        files.append(("memory", "memory.swappiness", str(m["swappiness"])))
    if m.get("disableOOMKiller"):
        files.append(("memory", "memory.oom_control", "1"))
    c = res.get("cpu", {})
    if "shares" in c:
        files.append(("cpu", "cpu.shares", str(c["shares"])))
    if "period" in c:
        files.append(("cpu", "cpu.cfs_period_us", str(c["period"])))
    if "quota" in c:
        files.append(("cpu", "cpu.cfs_quota_us", str(c["quota"])))
    if "realtimePeriod" in c:
        files.append(("cpu", "cpu.rt_period_us", str(c["realtimePeriod"])))
    if "realtimeRuntime" in c:
        files.append(("cpu", "cpu.rt_runtime_us", str(c["realtimeRuntime"])))
    if "cpus" in c:
        files.append(("cpuset", "cpuset.cpus", c["cpus"]))
    if "mems" in c:
        files.append(("cpuset", "cpuset.mems", c["mems"]))
    if "idle" in c:
        notes.append("cpu.idle is cgroup v2 only: ignored on this host")
    if "pids" in res:
        files.append(("pids", "pids.max", _max(res["pids"]["limit"])))
    b = res.get("blockIO", {})
    if "weight" in b:
        files.append(("blkio", "blkio.weight", str(b["weight"])))
    if "leafWeight" in b:
        files.append(("blkio", "blkio.leaf_weight", str(b["leafWeight"])))
    for d in b.get("weightDevice", []):
        if "weight" in d:
            files.append(("blkio", "blkio.weight_device", f"{d['major']}:{d['minor']} {d['weight']}"))
    for key in resources.THROTTLES:
        for d in b.get(key, []):
            files.append(("blkio", _V1_THROTTLE_FILE[key], f"{d['major']}:{d['minor']} {d.get('rate', 0)}"))
    for h in res.get("hugepageLimits", []):
        files.append(("hugetlb", f"hugetlb.{h['pageSize']}.limit_in_bytes", str(h["limit"])))
        files.append(("hugetlb", f"hugetlb.{h['pageSize']}.rsvd.limit_in_bytes", str(h["limit"])))
    n = res.get("network", {})
    if "classID" in n:
        files.append(("net_cls", "net_cls.classid", str(n["classID"])))
    for e in n.get("priorities", []):
        files.append(("net_prio", "net_prio.ifpriomap", f"{e['name']} {e['priority']}"))
    if res.get("unified"):
        notes.append("linux.resources.unified is cgroup v2 only: ignored on this host")
    return files, notes


def devices_v1(rules: list) -> list:
    """[(file, line)] for the v1 devices cgroup, in order: devices.allow / devices.deny."""
    out = []
    for r in rules:
        if r["type"] == "a" and r["access"] == "rwm" and "major" not in r and "minor" not in r:
            line = "a"  # everything: also resets the exception list
        else:
            line = f"{r['type']} {r.get('major', '*')}:{r.get('minor', '*')} {r['access']}"
        out.append(("devices.allow" if r["allow"] else "devices.deny", line))
    return out
