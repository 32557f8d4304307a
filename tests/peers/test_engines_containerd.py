"""containerd's runc shim running hull-oci (`ctr run --runc-binary`, as a RuntimeClass's BinaryName).

containerd has no bridge of its own (networking is the CRI plugin's, through CNI), so `ctr run`
containers get an empty network namespace; ctr has no `update` verb in 1.6.
"""
import os

import pytest

from conftest import hull_state
from peerlib import cgroup_file, cpu_quota, in_pty, memory_limit, wait_for

pytestmark = [pytest.mark.root, pytest.mark.v2]  # also in the cgroup v2 VM (scripts/vm-test)
IMAGE = "docker.io/library/busybox:latest"


def tasks(ctr) -> dict:
    """{id: (pid, STATUS)} from `ctr tasks ls`."""
    rows = [line.split() for line in ctr("tasks", "ls", check=True).stdout.splitlines()[1:]]
    return {row[0]: (int(row[1]), row[2]) for row in rows}


def run_d(ctr, cid, argv: list, *options) -> int:
    """`ctr run -d OPTIONS IMAGE cid ARGV...`: the pid of the task."""
    ctr(*ctr.run_cmd("-d", *options, IMAGE, cid, *argv), check=True)
    return tasks(ctr)[cid][0]


def remove(ctr, cid):
    ctr("tasks", "kill", "-s", "KILL", cid)
    assert wait_for(lambda: tasks(ctr)[cid][1] == "STOPPED")
    ctr("tasks", "delete", cid, check=True)
    ctr("containers", "delete", cid, check=True)


def test_run_rm_and_exit_codes(containerd):
    assert containerd(*containerd.run_cmd("--rm", IMAGE, "c-true", "true")).returncode == 0
    assert containerd(*containerd.run_cmd("--rm", IMAGE, "c-exit", "sh", "-c", "exit 5")).returncode == 5
    p = containerd(*containerd.run_cmd("--rm", IMAGE, "c-missing", "no-such-command"))
    assert p.returncode != 0 and "executable file not found" in p.stderr, p.stderr
    containerd("containers", "delete", "c-missing")  # a failed create leaves the container record
    assert containerd("containers", "ls", "-q").stdout.split() == []


def test_detached_exec_ps_kill(containerd):
    pid = run_d(containerd, "c-sleep", ["sleep", "1000"])
    assert hull_state(containerd.hull_root, "c-sleep")["pid"] == pid
    p = containerd("tasks", "exec", "--exec-id", "e1", "c-sleep", "sh", "-c", "cat /proc/1/cmdline; exit 3")
    assert p.returncode == 3 and p.stdout.startswith("sleep"), p
    ps = containerd("tasks", "ps", "c-sleep", check=True).stdout  # the shim calls `ps --format json`
    assert str(pid) in ps.split(), ps
    remove(containerd, "c-sleep")
    assert not os.path.exists(os.path.join(containerd.hull_root, "c-sleep"))


def test_log_uri(containerd, tmp_path):
    log = tmp_path / "out.log"
    containerd(*containerd.run_cmd("-d", "--log-uri", f"file://{log}", IMAGE, "c-log", "sh", "-c", "echo hello"),
               check=True)
    assert wait_for(lambda: tasks(containerd)["c-log"][1] == "STOPPED")
    assert log.read_text().strip() == "hello"
    containerd("tasks", "delete", "c-log", check=True)
    containerd("containers", "delete", "c-log", check=True)


def test_terminal(containerd):
    rc, out = in_pty(containerd.cmd(*containerd.run_cmd("--rm", "-t", IMAGE, "c-tty", "sh", "-c", "tty; exit 4")),
                     containerd.env)
    assert rc == 4 and "/dev/pts/0" in out, out
    run_d(containerd, "c-tty2", ["sleep", "1000"])
    rc, out = in_pty(containerd.cmd("tasks", "exec", "-t", "--exec-id", "e2", "c-tty2", "tty"), containerd.env)
    assert rc == 0 and "/dev/pts/" in out, out
    remove(containerd, "c-tty2")


def test_limits_and_pause(containerd):
    pid = run_d(containerd, "c-lim", ["sleep", "1000"], "--memory-limit", str(64 << 20), "--cpus", "0.5")
    assert memory_limit(pid) == 64 << 20
    assert cpu_quota(pid) == (50000, 100000)
    containerd("tasks", "pause", "c-lim", check=True)
    assert tasks(containerd)["c-lim"][1] == "PAUSED"
    assert cgroup_file(pid, "freezer", "freezer.state", "cgroup.freeze") in ("FROZEN", "1")
    containerd("tasks", "resume", "c-lim", check=True)
    assert tasks(containerd)["c-lim"][1] == "RUNNING"
    remove(containerd, "c-lim")


def test_empty_network_namespace(containerd):
    p = containerd(*containerd.run_cmd("--rm", IMAGE, "c-net", "cat", "/proc/net/dev"), check=True)
    interfaces = [line.split(":")[0].strip() for line in p.stdout.splitlines()[2:]]
    assert interfaces == ["lo"], p.stdout
