"""linux.resources: validate once, then convert to cgroup files, v1 or v2, in one place.

The OCI resources are shaped after cgroup v1 (shares, quota/period, memory+swap). A parsed
resources dict keeps the OCI keys but only what is set: 0 means "unset" for numbers, as runc and
docker treat it, and -1 means "unlimited". to_v1() and to_v2() turn it into (file, value) pairs;
the v2 conversions follow crun's table (crun(1), "CGROUP v2"):

    cpu.shares           -> cpu.weight = 1 + (shares - 2) * 9999 / 262142
    cpu.quota, period    -> cpu.max = "QUOTA PERIOD" ("max PERIOD" when unlimited)
    memory.swap          -> memory.swap.max = swap - limit   (OCI swap is memory+swap)
    memory.reservation   -> memory.low
    hugepageLimits       -> hugetlb.SIZE.max (and .rsvd.max)
    blockIO.weight       -> io.weight = 1 + (weight - 10) * 9999 / 990
    throttle*Device      -> io.max "MAJ:MIN rbps=|wbps=|riops=|wiops="
"""
from runtime.errors import InvalidArgument, InvalidSpec

INT64_MAX = 2 ** 63 - 1
MIN_MEMORY = 6 * 1024 * 1024  # docker's floor: below it not even the runtime's init can start
V2_DEFAULT_PERIOD = 100000

_MEMORY_KEYS = ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
                "useHierarchy", "checkBeforeUpdate")
_CPU_KEYS = ("shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle")
_THROTTLES = ("throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
              "throttleWriteIOPSDevice")
_IO_MAX_KEY = {"throttleReadBpsDevice": "rbps", "throttleWriteBpsDevice": "wbps",
               "throttleReadIOPSDevice": "riops", "throttleWriteIOPSDevice": "wiops"}
_V1_THROTTLE_FILE = {"throttleReadBpsDevice": "blkio.throttle.read_bps_device",
                     "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
                     "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
                     "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device"}


class _Parser:
    """Collects the parsed dict and the notes (what is accepted but not applied)."""

    def __init__(self, where: str, error):
        self.where, self.error, self.notes = where, error, []

    def fail(self, key: str, msg: str):
        raise self.error(f"{self.where}.{key} {msg}")

    def int_(self, obj: dict, key: str, path: str, lo: int = -1, hi: int = INT64_MAX):
        """0 and absent are unset (None); -1 is unlimited when lo allows it."""
        v = obj.get(key)
        if v is None or v == 0:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(path, f"must be an integer, not {v!r}")
        if v < lo or v > hi:
            if v < 0 and lo >= 0:
                self.fail(path, f"must not be negative (got {v})")
            if v < -1 and lo == -1:
                self.fail(path, f"must be -1 (unlimited) or positive (got {v})")
            self.fail(path, f"{v} is out of range ({lo}..{hi})")
        return v


def parse(raw, where: str = "linux.resources", error=InvalidSpec) -> tuple[dict, list]:
    """Validate an OCI LinuxResources object. Returns (resources, notes)."""
    p = _Parser(where, error)
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        raise error(f"{where} must be an object")
    out = {}
    mem = _section(p, raw, "memory")
    if mem:
        m = {}
        for key in ("limit", "reservation", "swap"):
            v = p.int_(mem, key, f"memory.{key}")
            if v is not None:
                m[key] = v
        if m.get("limit", -1) != -1 and m["limit"] < MIN_MEMORY:
            p.fail("memory.limit", f"{m['limit']} is below the minimum of {MIN_MEMORY} bytes (6 MiB)")
        if m.get("swap", -1) != -1 and m.get("limit", -1) != -1 and m["swap"] < m["limit"]:
            p.fail("memory.swap", f"({m['swap']}) is memory+swap and must not be below memory.limit ({m['limit']})")
        if "swappiness" in mem and mem["swappiness"] is not None:
            s = mem["swappiness"]
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= 100:
                # docker sends -1 (as uint64 max) for "not set"
                if s not in (-1, 2 ** 64 - 1):
                    p.fail("memory.swappiness", f"must be 0..100 (got {s!r})")
            else:
                m["swappiness"] = s
        if mem.get("disableOOMKiller"):
            m["disableOOMKiller"] = True
        for key in ("kernel", "kernelTCP"):
            if mem.get(key):
                p.notes.append(f"{where}.memory.{key} is ignored: kernel memory limits are gone from Linux 6")
        if m:
            out["memory"] = m
    cpu = _section(p, raw, "cpu")
    if cpu:
        c = {}
        v = p.int_(cpu, "shares", "cpu.shares", lo=2, hi=262144)
        if v is not None:
            c["shares"] = v
        v = p.int_(cpu, "quota", "cpu.quota")
        if v is not None:
            if v != -1 and v < 1000:
                p.fail("cpu.quota", f"must be at least 1000 microseconds (got {v})")
            c["quota"] = v
        v = p.int_(cpu, "period", "cpu.period", lo=1000, hi=1000000)
        if v is not None:
            c["period"] = v
        for key in ("realtimeRuntime", "realtimePeriod"):
            v = p.int_(cpu, key, f"cpu.{key}", lo=0)
            if v is not None:
                c[key] = v
        for key in ("cpus", "mems"):
            s = cpu.get(key)
            if s:
                if not isinstance(s, str):
                    p.fail(f"cpu.{key}", f"must be a string like \"0-2,4\", not {s!r}")
                try:
                    parse_set(s)
                except ValueError:
                    p.fail(f"cpu.{key}", f"{s!r} is not a list like \"0-2,4\"")
                c[key] = s
        if cpu.get("idle") not in (None, 0):
            if cpu["idle"] != 1:
                p.fail("cpu.idle", f"must be 0 or 1 (got {cpu['idle']!r})")
            c["idle"] = 1
        if cpu.get("burst"):
            p.notes.append(f"{where}.cpu.burst is ignored")
        if c:
            out["cpu"] = c
    pids = _section(p, raw, "pids")
    if pids:
        v = p.int_(pids, "limit", "pids.limit")
        if v is not None:
            out["pids"] = {"limit": v}
    bio = _section(p, raw, "blockIO")
    if bio:
        b = {}
        for key in ("weight", "leafWeight"):
            v = p.int_(bio, key, f"blockIO.{key}", lo=10, hi=1000)
            if v is not None:
                b[key] = v
        wd = _devices_list(p, bio, "weightDevice", ("weight", "leafWeight"), lo=10, hi=1000)
        if wd:
            b["weightDevice"] = wd
        for key in _THROTTLES:
            t = _devices_list(p, bio, key, ("rate",), lo=0)
            if t:
                b[key] = t
        if b:
            out["blockIO"] = b
    devices = raw.get("devices")
    if devices is not None:
        out["devices"] = _device_rules(p, devices)
    unified = raw.get("unified")
    if unified:
        if not isinstance(unified, dict):
            p.fail("unified", "must be an object of cgroup file names to values")
        for k, v in unified.items():
            if "/" in k or k.startswith(".") or "." not in k or k.startswith("cgroup."):
                p.fail("unified", f"key {k!r} is not a controller file like \"memory.high\"")
            if not isinstance(v, str):
                p.fail(f"unified[{k!r}]", "must be a string")
        out["unified"] = dict(unified)
    net = _section(p, raw, "network")
    if net:
        n = {}
        v = net.get("classID")
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2 ** 32:
                p.fail("network.classID", f"must be a 32-bit class ID (got {v!r})")
            if v:
                n["classID"] = v
        prios = net.get("priorities") or []
        if not isinstance(prios, list):
            p.fail("network.priorities", "must be a list")
        for i, e in enumerate(prios):
            if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"] or " " in e["name"]:
                p.fail(f"network.priorities[{i}]", "must have an interface name")
            if isinstance(e.get("priority"), bool) or not isinstance(e.get("priority"), int) or e["priority"] < 0:
                p.fail(f"network.priorities[{i}].priority", f"must be an unsigned integer (got {e.get('priority')!r})")
        if prios:
            n["priorities"] = [{"name": e["name"], "priority": e["priority"]} for e in prios]
        if n:
            out["network"] = n
    huge = raw.get("hugepageLimits") or []
    if not isinstance(huge, list):
        p.fail("hugepageLimits", "must be a list")
    for i, h in enumerate(huge):
        size = h.get("pageSize") if isinstance(h, dict) else None
        if not isinstance(size, str) or size[-2:] not in ("KB", "MB", "GB") or not size[:-2].isdigit():
            p.fail(f"hugepageLimits[{i}].pageSize", f"must be a size like \"2MB\" or \"1GB\" (got {size!r})")
        limit = h.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            p.fail(f"hugepageLimits[{i}].limit", f"must be a number of bytes (got {limit!r})")
    if huge:
        out["hugepageLimits"] = [{"pageSize": h["pageSize"], "limit": h["limit"]} for h in huge]
    if raw.get("rdma"):
        p.notes.append(f"{where}.rdma is ignored: hull does not manage that controller")
    return out, p.notes


def _section(p: _Parser, raw: dict, key: str) -> dict | None:
    v = raw.get(key)
    if v is not None and not isinstance(v, dict):
        p.fail(key, "must be an object")
    return v


def _devices_list(p: _Parser, raw: dict, key: str, fields, lo: int, hi: int = INT64_MAX) -> list:
    items = raw.get(key) or []
    if not isinstance(items, list):
        p.fail(f"blockIO.{key}", "must be a list")
    out = []
    for i, d in enumerate(items):
        w = f"blockIO.{key}[{i}]"
        if not isinstance(d, dict):
            p.fail(w, "must be an object")
        e = {}
        for f in ("major", "minor"):
            if isinstance(d.get(f), bool) or not isinstance(d.get(f), int) or d[f] < 0:
                p.fail(f"{w}.{f}", "must be a device number")
            e[f] = d[f]
        for f in fields:
            if d.get(f) is not None:
                v = d[f]
                if isinstance(v, bool) or not isinstance(v, int) or v < lo or v > hi:
                    p.fail(f"{w}.{f}", f"must be {lo}..{hi} (got {v!r})")
                e[f] = v
        out.append(e)
    return out


def _device_rules(p: _Parser, raw) -> list:
    if not isinstance(raw, list):
        p.fail("devices", "must be a list")
    rules = []
    for i, d in enumerate(raw):
        w = f"devices[{i}]"
        if not isinstance(d, dict) or not isinstance(d.get("allow"), bool):
            p.fail(w, "must be an object with a boolean \"allow\"")
        kind = d.get("type") or "a"
        if kind not in ("a", "b", "c"):
            p.fail(f"{w}.type", f"must be a, b or c (got {kind!r})")
        access = d.get("access") or "rwm"
        if not isinstance(access, str) or not set(access) <= set("rwm"):
            p.fail(f"{w}.access", f"must be letters of \"rwm\" (got {access!r})")
        rule = {"allow": d["allow"], "type": kind, "access": access}
        for f in ("major", "minor"):
            v = d.get(f)
            if v is not None and v != -1:
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    p.fail(f"{w}.{f}", f"must be a device number or -1 for any (got {v!r})")
                rule[f] = v
        rules.append(rule)
    return rules


def parse_set(text: str) -> set:
    """'0-2,4' -> {0, 1, 2, 4}; ValueError if malformed."""
    out = set()
    for part in text.strip().split(","):
        lo, dash, hi = part.partition("-")
        a, b = int(lo), int(hi) if dash else int(lo)
        if a < 0 or b < a:
            raise ValueError(text)
        out.update(range(a, b + 1))
    return out


# -- update: flags and -r JSON ------------------------------------------------------------------



def merge(current: dict, update: dict) -> tuple[dict, dict]:
    """Merge an update into the current resources. Returns (merged, to_apply): to_apply is the
    update plus the values it is coupled with (cpu.max needs quota and period; v2 swap needs limit)."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in current.items()}
    for section, values in update.items():
        if isinstance(values, dict):
            merged.setdefault(section, {}).update(values)
        else:
            merged[section] = values
    apply = {k: (dict(v) if isinstance(v, dict) else v) for k, v in update.items()}
    if "cpu" in apply and ({"quota", "period"} & apply["cpu"].keys()):
        for k in ("quota", "period"):
            if k in merged["cpu"]:
                apply["cpu"][k] = merged["cpu"][k]
    if "memory" in apply and ({"limit", "swap"} & apply["memory"].keys()):
        for k in ("limit", "swap"):
            if k in merged["memory"]:
                apply["memory"][k] = merged["memory"][k]
    m = merged.get("memory", {})
    if m.get("swap", -1) != -1 and m.get("limit", -1) != -1 and m["swap"] < m["limit"]:
        raise InvalidArgument(f"memory+swap limit ({m['swap']}) must not be below the memory limit ({m['limit']})")
    return merged, apply


# -- conversion -----------------------------------------------------------------------------------

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
        files.append(("cpu.max", f"{_max(quota)} {c.get('period', V2_DEFAULT_PERIOD)}"))
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
    for key in _THROTTLES:
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
    for key in _THROTTLES:
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


# A limit of these controllers that the host cannot apply fails create, as with runc (others are
# skipped with a warning). The .rsvd. files (hugetlb reservations) are written where they exist.
STRICT = ("hugetlb", "net_cls", "net_prio")


def optional_file(name: str) -> bool:
    return ".rsvd." in name


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
