"""Shared fixtures.

Integration tests (marked `root`) run hull-oci as root against the real kernel with a private state
root, on a busybox rootfs built once per session by rootfs/busybox.sh. The pytest process makes
itself a child subreaper, as conmon and containerd's shim do, so container inits reparent to it
and can be reaped; the `oci` fixture fails any test that leaves mounts, processes, cgroups or state.
"""
import copy
import ctypes
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from helpers import NetNS, cgroup_dirs, hull_oci_cmd, processes_mentioning, reap
from helpers import mounts as _mounts

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs root and the real kernel")
    for item in items:
        if "root" in item.keywords and not IS_ROOT:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def subreaper():
    if IS_ROOT:
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    yield


@pytest.fixture(scope="session")
def busybox_base(tmp_path_factory):
    """A bundle built by rootfs/busybox.sh: (rootfs path, default config dict)."""
    d = tmp_path_factory.mktemp("busybox")
    subprocess.run([os.path.join(REPO, "rootfs", "busybox.sh"), str(d)], check=True,
                   env={**os.environ, "PATH": os.path.dirname(hull_oci_cmd()[0]) + ":" + os.environ["PATH"]})
    with open(d / "config.json") as f:
        config = json.load(f)
    return str(d / "rootfs"), config


class Bundle:
    """A bundle directory whose config.json starts as `hull-oci spec`'s, sharing the read-only rootfs."""

    def __init__(self, path, rootfs, config):
        self.path = str(path)
        self.config = copy.deepcopy(config)
        self.config["root"]["path"] = rootfs
        self.config["process"]["terminal"] = False

    def args(self, *argv) -> "Bundle":
        self.config["process"]["args"] = list(argv)
        return self

    def save(self) -> str:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f)
        return self.path


@pytest.fixture
def bundle(tmp_path, busybox_base):
    rootfs, config = busybox_base
    d = tmp_path / "bundle"
    d.mkdir()
    return Bundle(d, rootfs, config)


class OCI:
    """Runs hull-oci with a private --root; returns CompletedProcess (text)."""

    def __init__(self, root):
        self.root = str(root)

    def cmd(self, *args) -> list:
        return hull_oci_cmd() + ["--root", self.root] + [str(a) for a in args]

    def __call__(self, *args, check=False, timeout=30, **kw) -> subprocess.CompletedProcess:
        """Output goes through files, not pipes: a container keeps the stdio it was created with,
        so a pipe would not reach EOF while it runs."""
        cmd = self.cmd(*args)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            kw.setdefault("stdout", out)
            kw.setdefault("stderr", err)
            rc = subprocess.run(cmd, timeout=timeout, **kw).returncode
            out.seek(0)
            err.seek(0)
            p = subprocess.CompletedProcess(cmd, rc, out.read(), err.read())
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr}")
        return p

    def state(self, cid) -> dict:
        return json.loads(self("state", cid, check=True).stdout)


def _children() -> set:
    me = str(os.getpid())
    kids = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    data = f.read()
            except OSError:
                continue
            fields = data[data.rindex(")") + 2:].split()
            if fields[1] == me and fields[0] not in "ZX":
                kids.add(int(pid))
    return kids


@pytest.fixture
def oci(tmp_path):
    """hull-oci on a private state root; fails the test if it leaves state, mounts or processes."""
    root = tempfile.mkdtemp(prefix="hull-test-", dir="/run")
    mounts_before = _mounts()
    kids_before = _children()
    cgroups_before = cgroup_dirs()
    yield OCI(root)
    problems = []
    for cid in os.listdir(root):
        problems.append(f"state left behind: {cid}")
        subprocess.run(hull_oci_cmd() + ["--root", root, "delete", "--force", cid], capture_output=True)
    deadline = time.time() + 5
    while True:
        reap()
        kids = _children() - kids_before
        if not kids or time.time() > deadline:
            break
        time.sleep(0.05)
    for pid in kids:
        problems.append(f"process left behind: {pid}")
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    reap()
    new_mounts = _mounts() - mounts_before
    problems += [f"mount left behind: {m}" for m in new_mounts]
    problems += [f"cgroup left behind: {d}" for d in sorted(cgroup_dirs() - cgroups_before)]
    shutil.rmtree(root, ignore_errors=True)
    assert not problems, "; ".join(problems)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory, busybox_base):
    """The busybox tree as a root filesystem tar, for `hull import`."""
    path = tmp_path_factory.mktemp("busybox-tar") / "busybox.tar"
    subprocess.run(["tar", "-C", busybox_base[0], "--numeric-owner", "-cf", str(path), "."], check=True)
    return path


@pytest.fixture
def netns(tmp_path):
    ns = NetNS(f"hull-test-{os.getpid()}-{abs(hash(str(tmp_path))) % 10 ** 8}")
    yield ns
    ns.delete()


@pytest.fixture
def engine(tmp_path, busybox_tar, netns):
    """hull with a private root holding busybox:latest (CMD sh), run inside a network namespace of
    the test's own. Afterwards every container is removed (`rm -f`, as a user would), and the test
    fails if hull left a container, a mount, a cgroup, or a process of that root (its monitor
    included) behind."""
    from helpers import Hull
    root = tmp_path / "root"
    hull = Hull(root, env={"HULL_MONITOR_IDLE": "0.2"}, prefix=netns.enter)
    hull.netns = netns
    hull("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox")
    mounts_before, cgroups_before = _mounts(), cgroup_dirs()
    yield hull
    problems = []
    left = hull("ps", "-aq", "--no-trunc", check=False).stdout.split()
    if left:
        hull("rm", "-f", *left, check=False)
    problems += [f"container left behind: {cid}" for cid in hull("ps", "-aq", check=False).stdout.split()]
    deadline = time.time() + 15
    while (processes_mentioning(str(root)) or cgroup_dirs() - cgroups_before) and time.time() < deadline:
        reap()
        time.sleep(0.05)
    problems += [f"process left behind: {pid}" for pid in processes_mentioning(str(root))]
    problems += [f"mount left behind: {m}" for m in _mounts() - mounts_before if str(root) in m]
    problems += [f"cgroup left behind: {d}" for d in sorted(cgroup_dirs() - cgroups_before)]
    for pid in processes_mentioning(str(root)):
        os.kill(pid, 9)
    reap()
    for m in sorted((m for m in _mounts() - mounts_before if str(root) in m), key=len, reverse=True):
        subprocess.run(["umount", "-l", m.split()[1]], capture_output=True)
    assert not problems, "; ".join(problems)


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    """podman as the reference engine: its own storage, runc as its runtime (tests/peers/engines.py),
    busybox from rootfs/. While it runs this process is no subreaper: conmon must be reaped by init."""
    from peers.engines import Podman, busybox_image
    libc = ctypes.CDLL(None)
    libc.prctl(36, 0, 0, 0, 0)
    rootfs_tar, archive = busybox_image(str(tmp_path_factory.mktemp("podman-images")))
    engine = Podman("/usr/bin/runc", archive, rootfs_tar)
    yield engine
    problems = engine.stop()
    libc.prctl(36, 1, 0, 0, 0)
    assert problems == []
