"""Verbs that work on a live container's cgroup: update, pause, resume, ps, events."""
import sys
import time

from runtime import fastjson as json  # json without its imports (see fastjson)
from runtime import trace
from runtime.cgroups import resources
from runtime.container.state import Container, Store
from runtime.errors import CgroupError, Conflict, InvalidArgument


def _cgroup(c: Container):
    cgroup = c.cgroup()
    if cgroup is None or not cgroup.exists():
        raise CgroupError(f"container {c.id!r} has no cgroup")
    return cgroup


def update(store: Store, cid: str, raw: dict) -> None:
    """Merge OCI-shaped resources (0 = leave as is) into the live limits: validated first, then
    written all or nothing."""
    changes, notes = resources.parse({k: v for k, v in raw.items() if k != "devices"}, "update", InvalidArgument)
    c = store.get(cid, lock=True)
    try:
        if c.status() == "stopped":
            raise Conflict(f"container {cid!r} is not running: nothing to update")
        merged, to_apply = resources.merge(c.record.get("resources") or {}, changes)
        for note in notes + _cgroup(c).apply(to_apply):
            trace.warn(note)
        c.record["resources"] = merged
        c.save()
    finally:
        c.unlock()


def pause(store: Store, cid: str) -> None:
    _freezer(store, cid, "running", freeze=True)


def resume(store: Store, cid: str) -> None:
    _freezer(store, cid, "paused", freeze=False)


def _freezer(store: Store, cid: str, needs: str, freeze: bool) -> None:
    c = store.get(cid, lock=True)
    try:
        status = c.status()
        if status != needs:
            raise Conflict(f"container {cid!r} is {status}, not {needs}")
        cgroup = _cgroup(c)
        cgroup.freeze() if freeze else cgroup.thaw()
    finally:
        c.unlock()


def pids(store: Store, cid: str) -> list:
    """Host PIDs of the container's processes: its cgroup's, or its pid namespace's without one."""
    c = store.get(cid)
    cgroup = c.cgroup()
    if cgroup is not None and cgroup.exists():
        return sorted(cgroup.pids())
    if c.status() == "stopped":
        return []
    from runtime.container.lifecycle import container_pids
    return container_pids(c)


def ps_table(pid_list: list, ps_args: list) -> str:
    """Like runc: run the host's ps and keep the header and the container's lines."""
    import subprocess
    out = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True)
    if out.returncode != 0:
        raise InvalidArgument(f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidArgument("ps output has no PID column: pass options that include it")
    col = header.index("PID")
    wanted = set(pid_list)
    kept = [l for l in lines[1:] if len(l.split()) > col and l.split()[col].isdigit() and int(l.split()[col]) in wanted]
    return "\n".join([lines[0], *kept]) + "\n"


def parse_duration(text: str) -> float:
    """Go durations as runc takes them: 5s, 500ms, 1m, 1.5s."""
    units = (("ms", 0.001), ("us", 1e-6), ("s", 1), ("m", 60), ("h", 3600))
    for suffix, scale in units:
        if text.endswith(suffix):
            try:
                v = float(text[: -len(suffix)]) * scale
            except ValueError:
                break
            if v > 0:
                return v
            break
    raise InvalidArgument(f"invalid duration {text!r}: use e.g. 5s or 500ms")


def events(store: Store, cid: str, interval: float, once: bool, out=sys.stdout) -> None:
    """Stats every `interval` as JSON lines, and {"type": "oom"} as soon as the kernel OOM-kills
    in the container. Ends when the container has stopped."""
    c = store.get(cid)
    cgroup = _cgroup(c)

    def emit(kind: str, **data) -> None:
        out.write(json.compact({"type": kind, "id": cid, **data}, True) + "\n")  # runc: Go's compact JSON
        out.flush()

    if once:
        emit("stats", data=cgroup.stats())
        return
    ooms = cgroup.oom_kills()
    next_stats = 0.0
    while True:
        now = time.monotonic()
        if now >= next_stats:
            emit("stats", data=cgroup.stats())
            next_stats = now + interval
        n = cgroup.oom_kills()
        if n > ooms:
            emit("oom")
            ooms = n
        if c.status() == "stopped":
            return
        time.sleep(min(0.2, interval))
