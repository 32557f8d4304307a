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


def call_in(kind: str, path: str, fn, *args):
    """fn(*args) run inside the namespace at `path` (ours if path is empty or names ours), in a
    forked child so the caller stays where it is. The result must be JSON; errors come back as OSError."""
    if not path or _same_file(path, f"/proc/self/ns/{PROC_NAMES[kind]}"):
        return fn(*args)
    from types import SimpleNamespace
    from runtime import fastjson as json
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            join(open_paths([SimpleNamespace(type=kind, path=path)]))
            os.write(w, json.dumps({"ok": fn(*args)}).encode())
        except BaseException as e:  # noqa: BLE001 - the caller must hear of it
            os.write(w, json.dumps({"error": str(e), "errno": getattr(e, "errno", None) or 5}).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    reply = json.loads(data or b'{"error": "the helper died", "errno": 5}')
    if "error" in reply:
        raise OSError(reply["errno"], reply["error"])
    return reply["ok"]


def _same_file(a: str, b: str) -> bool:
    """Namespace files (a /proc/PID/ns link, or a bind-mounted one) are equal when their nsfs
    inodes are."""
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
