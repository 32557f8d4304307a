"""cgroups: one Manager interface (base.py), two implementations (v1.py, v2.py).

    detect()                  2 on a unified host, 1 on a legacy or hybrid one
    resolve_path(path, id, root)  linux.cgroupsPath -> the path below the hierarchy root
    new(path)                 a Manager for this host
    load(record)              the Manager a container's state.json recorded
"""
import os

from runtime.cgroups.base import PARENT
DEFAULT_STATE_ROOT = "/run/hull"  # hull-oci's default --root (container/state.py)
from runtime.errors import InvalidSpec


def detect(root: str = "/sys/fs/cgroup") -> int:
    return 2 if os.path.exists(os.path.join(root, "cgroup.controllers")) else 1


def root_tag(state_root: str | None) -> str:
    """'' for the default state root, '@HASH' for any other: two runtimes with different --root
    never share a cgroup ('@' is not allowed in container IDs, so nothing clashes with /hull/ID)."""
    if state_root in (None, DEFAULT_STATE_ROOT):
        return ""
    import zlib  # a C module: cheaper to import than hashlib
    return f"@{zlib.crc32(os.path.abspath(state_root).encode()):08x}"


def resolve_path(cgroups_path: str | None, cid: str, state_root: str | None = None) -> str:
    """No cgroupsPath: /hull/ID, or /hull/@HASH-ID for a --root other than the default (one level,
    as cheap to make and remove as the default's). Absolute paths are taken from the hierarchy
    root, as runc does; relative ones go below /hull (/hull/@HASH/ for another root).
    systemd's "slice:prefix:name" becomes /slice/prefix-name.scope (hull has no systemd driver)."""
    tag = root_tag(state_root)
    p = cgroups_path or ""
    if p.count(":") == 2 and not p.startswith("/"):
        slice_, prefix, name = p.split(":")
        p = f"/{slice_ or 'system.slice'}/{prefix}-{name}.scope" if prefix else f"/{slice_}/{name}.scope"
    if not p:
        p = f"{PARENT}/{tag}-{cid}" if tag else f"{PARENT}/{cid}"
    elif not p.startswith("/"):
        p = f"{PARENT}/{tag}/{p}" if tag else f"{PARENT}/{p}"
    parts = [x for x in p.split("/") if x]
    if any(x in (".", "..") for x in parts):
        raise InvalidSpec(f"config.json: linux.cgroupsPath {cgroups_path!r} must not contain '.' or '..'")
    if not parts:
        raise InvalidSpec(f"config.json: linux.cgroupsPath {cgroups_path!r} is the root cgroup; "
                          "a container needs a cgroup of its own")
    return "/" + "/".join(parts)


def new(path: str):
    if detect() == 2:
        from runtime.cgroups import v2
        return v2.Manager(path)
    from runtime.cgroups import v1
    return v1.Manager(path)


def load(record: dict):
    if record["version"] == 2:
        from runtime.cgroups import v2
        return v2.Manager(record["path"], record["root"], record["created"])
    from runtime.cgroups import v1
    return v1.Manager(record["path"], record["mounts"], record["created"])
