"""User namespaces: the ID maps a parent writes for a child that has unshared CLONE_NEWUSER.

The child cannot map itself to host root; the runtime (root in the parent namespace) writes
/proc/CHILD/uid_map and gid_map while the child waits, then lets it go on.
"""
from runtime import trace

MAX_LINES = 340  # the kernel's limit per map (since 4.15)


def overlaps(maps: list, index: int) -> bool:
    """Do any two (container, host, size) ranges overlap in column `index`?"""
    spans = sorted((m[index], m[index] + m[2]) for m in maps)
    return any(a_end > b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def enabled() -> bool:
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            return int(f.read()) > 0
    except OSError:
        return True


def write_maps(pid: int, uid_maps: list, gid_maps: list) -> None:
    for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
        text = "".join(f"{c} {h} {s}\n" for c, h, s in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)  # one write(): the kernel takes a map only whole
        except OSError as e:
            raise OSError(e.errno, f"writing {name} {text.strip()!r}: {e.strerror}") from None
        trace.note(f"{name} of {pid}: {text.strip()!r}")


def host_id(maps: list, container_id: int = 0) -> int:
    """The host ID that container_id maps to; -1 ("leave unchanged" to chown) if it is not mapped."""
    for c, h, n in maps:
        if c <= container_id < c + n:
            return h + container_id - c
    return -1
