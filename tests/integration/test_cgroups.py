"""cgroups on the real kernel: limits from config.json and `update`, OOM, pids, CPU throttling,
freezer, cleanup, bad input. The same tests run on this host's cgroup v1 and, marked v2, in the
cgroup v2 VM (scripts/vm-test). Limits are checked in the kernel's own files and counters."""
import json
import os
import subprocess
import time

import pytest

from helpers import create_refused
from runtime import cgroups

pytestmark = pytest.mark.root
V2 = cgroups.detect() == 2
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def parent(oci):
    """Where the private root's relative cgroup paths go (/hull/@HASH, see cgroups.resolve_path)."""
    global ROOT, PARENT
    ROOT, PARENT = oci.root, cgroups.resolve_path("x", "x", oci.root)[:-2]
    return PARENT


def cg(cid, v1_name, v2_name, path=None) -> str:
    """A file of the container's cgroup, by its v1 or v2 name, whichever this host has."""
    p = (path or cgroups.resolve_path(None, cid, ROOT)).lstrip("/")
    if V2:
        f = f"/sys/fs/cgroup/{p}/{v2_name}"
    else:
        f = f"/sys/fs/cgroup/{v1_name.split('.')[0]}/{p}/{v1_name}"
    with open(f) as fh:
        return fh.read().strip()


def cg_dirs(path) -> list:
    if V2:
        return [f"/sys/fs/cgroup{path}"]
    return [f"/sys/fs/cgroup/{c}{path}" for c in ("memory", "cpu", "pids", "freezer", "devices")]


def keyed(text) -> dict:
    return {k: int(v) for k, v in (line.split() for line in text.splitlines())}


def wait_for(check, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def stats(oci, cid) -> dict:
    line = oci("events", "--stats", cid, check=True).stdout
    event = json.loads(line)
    assert event["type"] == "stats" and event["id"] == cid
    return event["data"]


def run_detached(oci, bundle, cid, resources=None, **kw):
    if resources is not None:
        bundle.config["linux"]["resources"].update(resources)
    oci("run", "-d", "--bundle", bundle.save(), cid, check=True, **kw)
    return oci.state(cid)["pid"]


@pytest.mark.v2
def test_limits_from_config_are_in_the_kernel(oci, bundle):
    bundle.args("sh", "-c", "cat /proc/self/cgroup; sleep 60")
    with open(os.path.join(bundle.path, "out"), "w+") as out:
        pid = run_detached(oci, bundle, "lim", {"memory": {"limit": 64 * MiB}, "cpu": {"shares": 512, "quota": 50000,
                                                                                       "period": 100000, "cpus": "0"},
                                                "pids": {"limit": 42}}, stdout=out)
        assert int(cg("lim", "memory.limit_in_bytes", "memory.max")) == 64 * MiB
        assert cg("lim", "pids.max", "pids.max") == "42"
        assert cg("lim", "cpuset.cpus", "cpuset.cpus") == "0"
        if V2:
            assert cg("lim", "", "cpu.max") == "50000 100000"
            assert cg("lim", "", "cpu.weight") == str(1 + (512 - 2) * 9999 // 262142)
        else:
            assert cg("lim", "cpu.cfs_quota_us", "") == "50000"
            assert cg("lim", "cpu.shares", "") == "512"
        # the init is in the cgroup, and with a cgroup namespace it sees that cgroup as its root
        with open(f"/proc/{pid}/cgroup") as f:
            assert any(line.endswith(":" + cgroups.resolve_path(None, "lim", ROOT)) for line in f.read().splitlines())
        wait_for(lambda: out.seek(0) == 0 and out.read(), "the container's output")
        out.seek(0)
        inside = [line for line in out.read().splitlines() if line]
        assert inside and all(line.endswith(":/") for line in inside), inside
    oci("delete", "--force", "lim", check=True)


@pytest.mark.v2
def test_oom_kill_is_reported(oci, bundle):
    # tail keeps its one endless line in memory: 200 MB against a 50 MB limit
    bundle.args("sh", "-c", "head -c 200m /dev/zero | tail; echo tail=$?")
    bundle.config["linux"]["resources"]["memory"] = {"limit": 50 * MiB}
    out = open(os.path.join(bundle.path, "out"), "w+")
    events = open(os.path.join(bundle.path, "events"), "w+")
    oci("create", "--bundle", bundle.save(), "oom", check=True, stdout=out)
    # `events` streams stats and reports the OOM kill; it ends by itself when the container stops
    watcher = subprocess.Popen(oci.cmd("events", "--interval", "200ms", "oom"), stdout=events)
    oci("start", "oom", check=True)
    assert watcher.wait(timeout=120) == 0
    out.seek(0)
    assert "tail=137" in out.read()  # SIGKILLed by the kernel
    events.seek(0)
    kinds = [json.loads(line)["type"] for line in events.read().splitlines()]
    assert kinds[0] == "stats" and "oom" in kinds
    assert oci.state("oom").get("oomKilled") is True
    data = stats(oci, "oom")
    assert data["memory"]["oomKill"] >= 1
    assert data["memory"]["usage"]["limit"] == 50 * MiB
    oci("delete", "oom", check=True)


@pytest.mark.v2
def test_pids_limit_stops_a_fork_bomb(oci, bundle):
    # a bounded bomb: 100 background sleeps against a limit of 10 processes
    # (the inner shell gives up at its first refused fork; pid 1 must not, so it only execs)
    bundle.args("sh", "-c", "sh -c 'i=0; while [ $i -lt 100 ]; do sleep 60 & i=$((i+1)); done' 2>/dev/null; "
                            "exec sleep 60")
    run_detached(oci, bundle, "bomb", {"pids": {"limit": 10}})
    refused = lambda: keyed(cg("bomb", "pids.events", "pids.events")).get("max", 0)  # noqa: E731
    wait_for(lambda: refused() > 0, "the kernel to refuse a fork", timeout=120)
    assert int(cg("bomb", "pids.current", "pids.current")) <= 10
    procs = json.loads(oci("ps", "--format", "json", "bomb", check=True).stdout)
    assert 1 < len(procs) <= 10
    assert stats(oci, "bomb")["pids"]["limit"] == 10
    oci("delete", "--force", "bomb", check=True)


@pytest.mark.v2
def test_cpu_quota_throttles_a_busy_loop(oci, bundle):
    bundle.args("sh", "-c", "while :; do :; done")
    run_detached(oci, bundle, "busy", {"cpu": {"quota": 50000, "period": 100000}})
    wait_for(lambda: stats(oci, "busy")["cpu"]["throttling"]["periods"] >= 10, "10 CFS periods", timeout=120)
    t = stats(oci, "busy")["cpu"]["throttling"]
    # wanting a whole CPU with half a period's quota, it is throttled in (nearly) every period
    assert t["throttledPeriods"] >= t["periods"] // 2 > 0
    assert t["throttledTime"] > 0
    oci("delete", "--force", "busy", check=True)


@pytest.mark.v2
def test_update_changes_live_limits_all_or_nothing(oci, bundle):
    bundle.args("sleep", "60")
    run_detached(oci, bundle, "upd", {"memory": {"limit": 64 * MiB}, "cpu": {"quota": 50000, "period": 100000}})
    oci("update", "--memory", "96m", "--cpu-quota", "20000", "--pids-limit", "30", "upd", check=True)
    assert int(cg("upd", "memory.limit_in_bytes", "memory.max")) == 96 * MiB
    assert cg("upd", "pids.max", "pids.max") == "30"
    if V2:
        assert cg("upd", "", "cpu.max") == "20000 100000"
    else:
        assert cg("upd", "cpu.cfs_quota_us", "") == "20000"
    # docker's form: the whole resources object on stdin, zero meaning "leave it"
    docker = {"memory": {"limit": 0, "swap": 0, "reservation": 0}, "cpu": {"shares": 256, "quota": 0, "period": 0,
              "cpus": "", "mems": ""}, "pids": {"limit": 0}, "blockIO": {"weight": 0}}
    with open(os.path.join(bundle.path, "res.json"), "w+") as f:
        json.dump(docker, f)
        f.seek(0)
        oci("update", "-r", "-", "upd", check=True, stdin=f)
    assert int(cg("upd", "memory.limit_in_bytes", "memory.max")) == 96 * MiB
    assert cg("upd", "cpu.shares", "cpu.weight") == ("256" if not V2 else str(1 + 254 * 9999 // 262142))
    # one bad value: nothing changes
    p = oci("update", "--memory", "128m", "--cpuset-cpus", "99", "upd")
    assert p.returncode == 1 and "do not exist" in p.stderr
    assert int(cg("upd", "memory.limit_in_bytes", "memory.max")) == 96 * MiB
    p = oci("update", "--memory", "1m", "upd")
    assert p.returncode == 1 and "below the minimum" in p.stderr
    oci("kill", "upd", "KILL", check=True)
    wait_for(lambda: oci.state("upd")["status"] == "stopped", "the container to stop")
    p = oci("update", "--memory", "128m", "upd")
    assert p.returncode == 1 and "not running" in p.stderr
    oci("delete", "upd", check=True)


@pytest.mark.v2
def test_pause_freezes_and_resume_thaws(oci, bundle):
    bundle.args("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; done")
    pid = run_detached(oci, bundle, "frz")
    counter = f"/proc/{pid}/root/dev/shm/n"

    def count():
        """The counter; a read that races the shell's truncate-and-write (empty, or NULs on tmpfs)
        is read again."""
        for _ in range(1000):
            with open(counter) as f:
                text = f.read().strip()
            if text.isdigit():
                return int(text)
        return 0
    wait_for(lambda: os.path.exists(counter) and count() > 0, "the counter to start")
    oci("pause", "frz", check=True)
    assert oci.state("frz")["status"] == "paused"
    assert (cg("frz", "freezer.state", "cgroup.freeze") in ("FROZEN", "1"))
    frozen_at = count()
    time.sleep(0.3)
    assert count() == frozen_at  # not one more iteration while frozen
    assert oci("pause", "frz").returncode == 1  # already paused
    oci("resume", "frz", check=True)
    assert oci.state("frz")["status"] == "running"
    wait_for(lambda: count() > frozen_at, "the counter to move again")
    oci("pause", "frz", check=True)
    oci("delete", "--force", "frz", check=True)  # a paused container can be force-deleted


@pytest.mark.v2
def test_v2_only_settings_are_warnings_on_v1_and_applied_on_v2(oci, bundle):
    bundle.args("sleep", "60")
    bundle.config["linux"]["resources"]["unified"] = {"memory.high": str(80 * MiB)}
    p = oci("--log", os.path.join(bundle.path, "log"), "--log-format", "json", "run", "-d", "--bundle",
            bundle.save(), "uni2")
    assert p.returncode == 0, p.stderr
    if V2:
        assert cg("uni2", "", "memory.high") == str(80 * MiB)
    else:
        assert "warning: linux.resources.unified is cgroup v2 only" in p.stderr
        with open(os.path.join(bundle.path, "log")) as f:
            assert json.loads(f.readline())["level"] == "warning"
    oci("delete", "--force", "uni2", check=True)


@pytest.mark.v2
def test_delete_removes_exactly_the_cgroups_create_made(oci, bundle):
    bundle.args("sleep", "60")
    bundle.config["linux"]["cgroupsPath"] = "/hull-test-cg/a/deep"
    run_detached(oci, bundle, "deep")
    for d in cg_dirs("/hull-test-cg/a/deep"):
        assert os.path.isdir(d)
    oci("delete", "--force", "deep", check=True)
    for d in cg_dirs("/hull-test-cg"):
        assert not os.path.exists(d)


def test_relative_cgroups_path_goes_below_hull(oci, bundle):
    bundle.args("sleep", "60")
    bundle.config["linux"]["cgroupsPath"] = "mine/rel"
    run_detached(oci, bundle, "rel")
    assert all(os.path.isdir(d) for d in cg_dirs(f"{PARENT}/mine/rel"))
    oci("delete", "--force", "rel", check=True)
    assert not any(os.path.exists(d) for d in cg_dirs(f"{PARENT}/mine"))


def test_kill_all_and_delete_reach_processes_outside_the_pid_namespace(oci, bundle):
    # no pid namespace: the init's children are not killed with it, only the cgroup finds them
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"]
    bundle.args("sh", "-c", "sleep 61 & sleep 62 & wait")
    run_detached(oci, bundle, "shared")
    wait_for(lambda: len(json.loads(oci("ps", "--format", "json", "shared").stdout)) == 3, "three processes")
    table = oci("ps", "shared", check=True).stdout.splitlines()
    assert "PID" in table[0].split() and len(table) == 4  # the header and three processes
    oci("kill", "--all", "shared", "KILL", check=True)
    wait_for(lambda: oci.state("shared")["status"] == "stopped", "the container to stop")
    assert json.loads(oci("ps", "--format", "json", "shared").stdout) == []
    oci("delete", "shared", check=True)


@pytest.mark.v2
def test_device_rules_deny_what_they_do_not_allow(oci, bundle):
    # root in the container may mknod (c/b *:* m), but the devices cgroup (v1) or the eBPF device
    # program (v2) refuses to open the node
    bundle.args("sh", "-c", "head -c 1 /dev/zero >/dev/null && echo zero-ok; mknod /tmp/sda b 8 0 && "
                            "head -c 1 /tmp/sda; echo rc=$?")
    bundle.config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]})
    for key in ("bounding", "effective", "permitted"):
        bundle.config["process"]["capabilities"][key].append("CAP_MKNOD")
    p = oci("run", "--bundle", bundle.save(), "dev")
    assert "zero-ok" in p.stdout and "rc=1" in p.stdout
    assert "head: /tmp/sda: Operation not permitted" in p.stderr, p.stderr  # mknod worked, open did not


@pytest.mark.parametrize("resources, path, words", [
    ({"memory": {"limit": -5}}, None, "linux.resources.memory.limit must be -1"),
    ({"memory": {"limit": 1024}}, None, "below the minimum"),
    ({"cpu": {"cpus": "0-63"}}, None, "do not exist on this host"),
    ({"cpu": {"shares": 10 ** 9}}, None, "out of range"),
    ({}, "../escape", "must not contain"),
])
def test_bad_limits_fail_create_and_leave_nothing(oci, bundle, resources, path, words):
    bundle.args("true")
    bundle.config["linux"]["resources"].update(resources)
    if path:
        bundle.config["linux"]["cgroupsPath"] = path
    create_refused(oci, bundle, words)
    assert not any(os.path.exists(d) for d in cg_dirs(cgroups.resolve_path(None, "bad", ROOT)))


@pytest.mark.parametrize("rules", [
    [{"allow": False, "access": "rwm"}],
    [{"allow": True, "type": "c", "major": 1, "access": "rw"}, {"allow": False, "type": "b", "access": "w"}],
    [{"allow": False, "type": "c", "major": 10, "minor": 200, "access": "rwm"}],
])
def test_the_kernel_verifier_accepts_device_programs(rules):
    from runtime.cgroups import devices, resources
    from runtime.container.defaults import ALLOWED_DEVICES
    from runtime.linux import libc
    parsed = resources.parse({"devices": rules})[0]["devices"]
    fd = libc.bpf_load_device_program(devices.program(parsed + ALLOWED_DEVICES))
    os.close(fd)


def test_parallel_creates_under_a_fresh_parent(bundle, tmp_path):
    """Containers of different roots created at once while /hull does not exist yet: on v1 one of
    them makes the parent cpuset, the others must not take it before its CPUs are set (a child of
    an empty cpuset refuses tasks: ENOSPC). Seen as `No space left on device` under load."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from helpers import hull_oci_cmd
    path = bundle.args("true").save()
    for _ in range(20):
        roots = [tempfile.mkdtemp(prefix="hull-test-", dir="/run") for _ in range(6)]
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda r: subprocess.run(hull_oci_cmd() + ["--root", r, "run", "-b", path, "x"],
                                                             capture_output=True, text=True), roots))
        for r in roots:
            os.rmdir(r)
        assert [p.returncode for p in results] == [0] * 6, [p.stderr for p in results if p.returncode]
