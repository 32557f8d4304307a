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

_MEMORY_KEYS = ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
                "useHierarchy", "checkBeforeUpdate")
_CPU_KEYS = ("shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle")
THROTTLES = ("throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
              "throttleWriteIOPSDevice")


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
        if mem.get("kernel"):
            p.notes.append(f"{where}.memory.kernel is ignored: kernel memory limits are gone from Linux 6")
        v = p.int_(mem, "kernelTCP", "memory.kernelTCP")
        if v:  # TCP buffer memory: cgroup v1's memory.kmem.tcp.limit_in_bytes still works (crun sets it)
            m["kernelTCP"] = v
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
        for key in THROTTLES:
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


MAX_CPU_INDEX = 1 << 16  # beyond any kernel's NR_CPUS and MAX_NUMNODES


def parse_set(text: str) -> set:
    """'0-2,4' -> {0, 1, 2, 4}; ValueError if malformed."""
    out = set()
    for part in text.strip().split(","):
        lo, dash, hi = part.partition("-")
        a, b = int(lo), int(hi) if dash else int(lo)
        if a < 0 or b < a or b >= MAX_CPU_INDEX:  # "0-99999999999" must not build a huge set
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


# (the mappings to cgroup files are in v1.py and v2.py, beside the managers that write them)

# A limit of these controllers that the host cannot apply fails create, as with runc (others are
# skipped with a warning). The .rsvd. files (hugetlb reservations) are written where they exist.
STRICT = ("hugetlb", "net_cls", "net_prio")


def optional_file(name: str) -> bool:
    return ".rsvd." in name
