"""Helpers shared by the test modules (importable: conftest.py is not)."""
import os
import shutil
import subprocess
import sys


def reap() -> None:
    """Collect exited children: pytest is a child subreaper, so orphaned container processes
    (an init after its setup child exits, a detached exec) become its children, as with a shim."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def processes_mentioning(text: str) -> list:
    """PIDs (not zombies) whose command line contains text: a hull root's monitor, its containers' hull run."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


class NetNS:
    """A network namespace of a test's own (/run/netns/NAME, loopback up): hull runs in it, so its
    bridges, veths and nftables rules never touch the host's network. Deleted afterwards."""

    def __init__(self, name: str):
        self.name, self.path = name, f"/run/netns/{name}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        # nsenter, not `ip netns exec`: that one remounts /sys and hides the cgroup mounts
        self.enter = ["nsenter", f"--net={self.path}"]

    def run(self, *argv, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.enter + list(argv), **kw)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


def _launcher(name: str, module: str) -> list:
    """The installed launcher (what engines and users run), else the module from this checkout."""
    path = shutil.which(name)
    return [path] if path else [sys.executable, "-m", module]


def hull_oci_cmd() -> list:
    return _launcher("hull-oci", "runtime.cli.oci")


def hull_cmd() -> list:
    return _launcher("hull", "runtime.cli.main")


class ConsoleSocket:
    """The listening end of --console-socket: accepts one connection in a thread and keeps the pty
    master it carries (SCM_RIGHTS), as conmon and containerd's shim do."""

    def __init__(self, path: str):
        import socket
        import threading
        self.path, self.name, self.fd = path, None, None
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self):
        import array
        import socket
        conn, _ = self.server.accept()
        fds = array.array("i")
        msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:fds.itemsize])
        self.name, self.fd = msg.decode(), fds[0]
        conn.close()

    def wait(self, timeout=10) -> "ConsoleSocket":
        self.thread.join(timeout)
        self.server.close()
        assert self.fd is not None, "no pty master arrived on the console socket"
        return self

    def read_all(self) -> str:
        """Everything the process writes to its terminal until it closes it."""
        import os
        out = b""
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
        os.close(self.fd)
        return out.decode().replace("\r", "")


def create_refused(oci, bundle, words: str) -> None:
    """`create` of this bundle fails with exit 1, says `words`, and leaves no container."""
    p = oci("create", "--bundle", bundle.save(), "bad")
    assert p.returncode == 1 and words in p.stderr, p.stderr
    assert oci("list", "-q").stdout == ""


class Hull:
    """Runs `hull` with a private --root and --config; returns CompletedProcess (text)."""

    def __init__(self, root, config=None, prefix=(), env=None):
        import pathlib
        self.root, self.store = str(root), pathlib.Path(root) / "images"
        self.config = str(config) if config else os.path.join(str(root), "config")
        self.prefix = list(prefix)  # e.g. nsenter into a test's network namespace
        self.env = {**os.environ, **(env or {})}

    def cmd(self, *args) -> list:
        return self.prefix + hull_cmd() + [f"--root={self.root}", f"--config={self.config}"] + [str(a) for a in args]

    def __call__(self, *args, check=True, input=None, timeout=120):
        import subprocess
        p = subprocess.run(self.cmd(*args), capture_output=True, text=True, input=input, timeout=timeout, env=self.env)
        if check:
            assert p.returncode == 0, p.stderr
        return p


def tar_bytes(entries) -> bytes:
    """A tar in memory from (name, content bytes, or None for a directory)."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def docker_archive(path, layers: list, tags=("bad:latest",), diff_ids=None) -> str:
    """A docker-archive of layer tars (bytes); diff_ids default to the layers' true sha256."""
    import hashlib
    import json
    ids = diff_ids or ["sha256:" + hashlib.sha256(d).hexdigest() for d in layers]
    names = [f"{i}/layer.tar" for i in range(len(layers))]
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ids}}
    manifest = [{"Config": "config.json", "RepoTags": list(tags), "Layers": names}]
    files = list(zip(names, layers)) + [("config.json", json.dumps(config).encode()),
                                        ("manifest.json", json.dumps(manifest).encode())]
    with open(path, "wb") as f:
        f.write(tar_bytes(files))
    return str(path)


def wait_for(check, what: str, timeout: float = 20) -> None:
    """Poll check() until it is true; fail the test naming what was awaited."""
    import time
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def inspect(hull, name: str, fmt: str) -> str:
    """`hull inspect -f FMT NAME`, stripped."""
    return hull("inspect", "-f", fmt, name).stdout.strip()


def mounts() -> set:
    with open("/proc/self/mountinfo") as f:
        return {" ".join(line.split()[3:5]) for line in f}


def cgroup_dirs() -> set:
    """Every cgroup directory named hull* (and below) in the unified tree and each v1 hierarchy."""
    found = set()
    bases = ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", d) for d in os.listdir("/sys/fs/cgroup")]
    for base in bases:
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            top = os.path.join(base, name)
            if name.startswith("hull") and os.path.isdir(top):
                found.update(d for d, _, _ in os.walk(top))
    return found


def monitor_pid(root: str) -> int | None:
    """hull's one monitor: of the processes holding ROOT/run/monitor.lock (its keeper and it), the child."""
    lock = os.path.join(root, "run", "monitor.lock")
    holders = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == lock for fd in os.listdir(f"/proc/{pid}/fd")):
                with open(f"/proc/{pid}/stat") as f:
                    holders[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            pass
    return next((pid for pid, ppid in holders.items() if ppid in holders), None)
