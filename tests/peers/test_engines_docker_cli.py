"""podman and dockerd running containers with hull-oci: the docker-style commands users type.

Each test runs against both engines (the `engine` fixture), each on private storage and state with
its networks inside a network namespace of its own. Every check that could pass with runc also
confirms hull-oci's state for the container, or reads the kernel's view (cgroup files, /proc).
"""
import os
import subprocess
import sys
import time

import pytest

from conftest import hull_state
from peerlib import cgroup_file, cpu_quota, in_pty, memory_limit, wait_for

pytestmark = pytest.mark.root
IMAGE = "busybox"
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())"


def run_d(engine, name, *args) -> tuple:
    """`run -d --name name ARGS`: (full id, pid of its init)."""
    cid = engine("run", "-d", "--name", name, *args, check=True).stdout.strip().splitlines()[-1]
    pid = int(engine("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout)
    return cid, pid


def status(engine, name) -> str:
    return engine("inspect", "-f", "{{.State.Status}}", name, check=True).stdout.strip()


def test_run_rm_true(engine):
    p = engine("run", "--rm", "--network", "none", IMAGE, "true")
    assert p.returncode == 0, p.stderr
    assert engine("ps", "-aq").stdout.strip() == ""


def test_exit_codes_pass_through(engine):
    assert engine("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "exit 7").returncode == 7
    # the runtime's error, as the engine maps it: not found -> 127, not executable -> 126
    p = engine("run", "--rm", "--network", "none", IMAGE, "no-such-command")
    assert p.returncode == 127 and "executable file not found" in p.stderr, p.stderr
    p = engine("run", "--rm", "--network", "none", IMAGE, "/etc/passwd")
    assert p.returncode == 126 and "permission denied" in p.stderr, p.stderr
    assert engine("ps", "-aq").stdout.strip() == ""


def test_detached_exec_stop_logs(engine):
    script = "trap 'echo got TERM; exit 0' TERM; echo started; while :; do sleep 0.1; done"
    cid, pid = run_d(engine, "sleeper", "--network", "none", IMAGE, "sh", "-c", script)
    assert hull_state(engine.hull_root, cid)["pid"] == pid
    p = engine("exec", "sleeper", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u")
    assert p.returncode == 0 and p.stdout.split("\n")[0].startswith("sh -c trap"), p
    assert engine("exec", "sleeper", "sh", "-c", "exit 3").returncode == 3
    assert engine("exec", "sleeper", "no-such-command").returncode in (126, 127)
    engine("stop", "-t", "10", "sleeper", check=True)
    assert status(engine, "sleeper") == "exited"
    assert engine("inspect", "-f", "{{.State.ExitCode}}", "sleeper").stdout.strip() == "0"
    logs = engine("logs", "sleeper", check=True).stdout
    assert logs.split() == ["started", "got", "TERM"], logs
    assert wait_for(lambda: not os.path.exists(os.path.join(engine.hull_root, cid)))
    engine("rm", "sleeper", check=True)


def test_kill_and_rm_force(engine):
    cid, pid = run_d(engine, "victim", "--network", "none", IMAGE, "sleep", "1000")
    engine("kill", "victim", check=True)
    assert wait_for(lambda: status(engine, "victim") == "exited")
    assert engine("inspect", "-f", "{{.State.ExitCode}}", "victim").stdout.strip() == "137"
    engine("rm", "victim", check=True)
    cid, pid = run_d(engine, "victim2", "--network", "none", IMAGE, "sleep", "1000")
    engine("rm", "-f", "victim2", check=True)
    assert engine("ps", "-aq").stdout.strip() == ""
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"))


def test_terminal(engine):
    rc, out = in_pty(engine.cmd("run", "--rm", "-it", "--network", "none", IMAGE, "sh", "-c", "tty; exit 4"),
                     engine.env)
    assert rc == 4 and "/dev/pts/0" in out, out
    run_d(engine, "withtty", "-t", "--network", "none", IMAGE, "sleep", "1000")
    rc, out = in_pty(engine.cmd("exec", "-it", "withtty", "tty"), engine.env)
    assert rc == 0 and "/dev/pts/" in out, out
    engine("rm", "-f", "withtty", check=True)


def test_limits_in_the_cgroup_and_update(engine):
    _, pid = run_d(engine, "limited", "--network", "none", "--memory", "64m", "--cpus", "0.5",
                   IMAGE, "sleep", "1000")
    assert memory_limit(pid) == 64 << 20
    assert cpu_quota(pid) == (50000, 100000)
    engine("update", "--memory", "100m", "--memory-swap", "-1", "--cpus", "1", "limited", check=True)
    assert memory_limit(pid) == 100 << 20
    assert cpu_quota(pid) == (100000, 100000)
    engine("rm", "-f", "limited", check=True)


def test_pause_unpause(engine):
    _, pid = run_d(engine, "pausable", "--network", "none", IMAGE, "sleep", "1000")
    frozen = lambda: cgroup_file(pid, "freezer", "freezer.state", "cgroup.freeze")  # noqa: E731
    engine("pause", "pausable", check=True)
    assert status(engine, "pausable") == "paused"
    assert frozen() in ("FROZEN", "1")
    engine("unpause", "pausable", check=True)
    assert status(engine, "pausable") == "running"
    assert frozen() in ("THAWED", "0")
    assert engine("exec", "pausable", "true").returncode == 0
    engine("rm", "-f", "pausable", check=True)


def test_network_none(engine):
    p = engine("run", "--rm", "--network", "none", IMAGE, "cat", "/proc/net/dev", check=True)
    interfaces = [line.split(":")[0].strip() for line in p.stdout.splitlines()[2:]]
    assert interfaces == ["lo"], p.stdout


def test_bridge_and_published_port(engine):
    """The engine's own bridge inside its netns: the container gets an address there, and the
    published port answers from that namespace (not from the host: the host has no such bridge)."""
    cid, _ = run_d(engine, "web", "-p", "18080:80", IMAGE, "httpd", "-f", "-p", "80", "-h", "/etc")
    ip = engine("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web", check=True).stdout.strip()
    assert ip.startswith("10.88.7"), ip
    # Python, not the host's static busybox: its wget crashes in glibc's static resolver
    fetch = engine.netns.enter + [sys.executable, "-c", FETCH, "http://127.0.0.1:18080/hostname"]
    got = []
    for _ in range(20):  # bounded: the port may take a moment to be wired
        p = subprocess.run(fetch, capture_output=True, text=True)
        if p.returncode == 0:
            got.append(p.stdout.strip())
            break
        time.sleep(0.25)
    assert got == [cid[:12]], p.stderr
    host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert engine.bridge + ":" not in host_links
    engine("rm", "-f", "web", check=True)
