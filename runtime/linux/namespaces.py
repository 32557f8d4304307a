"""Namespaces: OCI type names <-> clone flags, joining existing ones (setns), creating new ones (unshare)."""
import os

from runtime.linux import libc

FLAGS = {
    "pid": libc.CLONE_NEWPID, "network": libc.CLONE_NEWNET, "mount": libc.CLONE_NEWNS,
    "ipc": libc.CLONE_NEWIPC, "uts": libc.CLONE_NEWUTS, "user": libc.CLONE_NEWUSER,
    "cgroup": libc.CLONE_NEWCGROUP, "time": libc.CLONE_NEWTIME,
}
# /proc/PID/ns/<name> for each OCI type
PROC_NAMES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
              "user": "user", "cgroup": "cgroup", "time": "time"}

# setns order: user first (it grants the rights to join the others), mount last (paths change)
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def open_paths(namespaces) -> list:
    """Open every `path` namespace up front (before any setns changes what paths mean)."""
    opened = []
    for kind in JOIN_ORDER:
        for ns in namespaces:
            if ns.type == kind and ns.path:
                try:
                    fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as e:
                    raise OSError(e.errno, f"open {kind} namespace {ns.path!r}: {e.strerror}") from None
                opened.append((kind, fd, ns.path))
    return opened


def of_process(pid: int) -> list:
    """The namespaces of process `pid` that we are not in already, as objects with .type and
    .path for open_paths() (setns into our own user namespace would fail with EINVAL)."""
    from types import SimpleNamespace
    out = []
    for kind in JOIN_ORDER:
        path = f"/proc/{pid}/ns/{PROC_NAMES[kind]}"
        try:
            if os.readlink(path) != os.readlink(f"/proc/self/ns/{PROC_NAMES[kind]}"):
                out.append(SimpleNamespace(type=kind, path=path))
        except FileNotFoundError:
            pass  # a namespace type this kernel does not have
    return out


def join(opened: list) -> None:
    for kind, fd, path in opened:
        libc.setns(fd, FLAGS[kind], what=path)
        os.close(fd)


def new_flags(namespaces) -> int:
    """clone flags for the namespaces the config asks to create (those without a path)."""
    flags = 0
    for ns in namespaces:
        if not ns.path:
            flags |= FLAGS[ns.type]
    return flags
