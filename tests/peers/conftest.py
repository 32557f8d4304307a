"""Fixtures for the peer tests: real engines started on private sockets and state, using hull-oci.

Engines are started once per module and stopped at its end; the teardown fails if an engine left
processes or cgroups behind. While they run, this process is not a child subreaper: conmon and
the shims daemonize and must be reaped by init, as on a real host (a subreaper that does not reap
would keep them as zombies, which podman takes for a live conmon).
"""
import ctypes
import json
import os

import pytest

from helpers import hull_oci_cmd
from engines import Containerd, Dockerd, Podman, busybox_image

PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """(rootfs tar, docker-archive) of the busybox tree from rootfs/."""
    return busybox_image(str(tmp_path_factory.mktemp("images")))


@pytest.fixture(scope="module", autouse=True)
def init_reaps():
    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def start(kind, images):
    rootfs_tar, archive = images
    return kind(hull_oci_cmd()[0], archive, rootfs_tar)


def stop(engine):
    problems = engine.stop()
    assert not problems, "; ".join(problems)


@pytest.fixture(scope="module")
def containerd(images):
    engine = start(Containerd, images)
    yield engine
    stop(engine)


@pytest.fixture(scope="module", params=["podman", "dockerd"])
def engine(request, images):
    """podman and dockerd take the same docker-style commands: each test runs against both."""
    engine = start({"podman": Podman, "dockerd": Dockerd}[request.param], images)
    yield engine
    stop(engine)


def hull_state(root: str, cid: str) -> dict:
    """hull-oci's state.json for container cid under the runtime root the engine gave it: the
    proof that the engine ran hull-oci and not runc."""
    path = os.path.join(root, cid, "state.json")
    assert os.path.exists(path), f"no hull-oci state for {cid} under {root}"
    with open(path) as f:
        record = json.load(f)
    assert "init_start" in record, f"{path} is not hull-oci's (runc writes init_process_start)"
    return record
