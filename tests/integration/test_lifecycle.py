"""The OCI lifecycle end to end, as root on the real kernel: create, start, state, kill, delete, run, list."""
import json
import os
import signal
import subprocess
import time

import pytest

from helpers import hull_oci_cmd

pytestmark = pytest.mark.root

LOOP = ["sh", "-c", "trap 'exit 3' TERM; echo up; while :; do sleep 0.05; done"]


def wait_status(oci, cid, want, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = oci.state(cid)
        if st["status"] == want:
            return st
        time.sleep(0.02)
    raise AssertionError(f"{cid} never became {want}: {st}")


def test_create_start_kill_delete(oci, bundle, tmp_path):
    path = bundle.args(*LOOP).save()
    pid_file = tmp_path / "pid"
    out = tmp_path / "out"
    with open(out, "w") as f:
        oci("create", "--bundle", path, "--pid-file", pid_file, "c1", check=True, stdout=f)
    st = oci.state("c1")
    assert st["status"] == "created"
    assert st["id"] == "c1" and st["bundle"] == path and st["ociVersion"].startswith("1.")
    assert st["rootfs"] == bundle.config["root"]["path"]
    assert int(pid_file.read_text()) == st["pid"] > 0
    assert os.path.exists(f"/proc/{st['pid']}")
    assert out.read_text() == ""  # the user process has not run yet

    oci("start", "c1", check=True)
    assert oci.state("c1")["status"] == "running"
    deadline = time.time() + 5
    while "up" not in out.read_text() and time.time() < deadline:
        time.sleep(0.02)
    assert out.read_text() == "up\n"  # the container kept the stdout create was given

    p = oci("start", "c1")
    assert p.returncode == 1 and "running" in p.stderr

    p = oci("delete", "c1")
    assert p.returncode == 1 and "not stopped" in p.stderr
    assert oci.state("c1")["status"] == "running"

    oci("kill", "c1", "TERM", check=True)
    st = wait_status(oci, "c1", "stopped")
    assert st["pid"] == 0
    p = oci("kill", "c1", "KILL")
    assert p.returncode == 1 and "container not running" in p.stderr
    oci("delete", "c1", check=True)
    p = oci("state", "c1")
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_run_passes_exit_codes_through(oci, bundle):
    assert oci("run", "-b", bundle.args("sh", "-c", "exit 7").save(), "r7").returncode == 7
    assert oci("run", "-b", bundle.args("true").save(), "r0").returncode == 0
    # pid 1 cannot be killed from inside its own namespace; from outside, SIGKILL gives 128+9
    proc = subprocess.Popen(hull_oci_cmd() + ["--root", oci.root, "run", "-b", bundle.args("sleep", "100").save(),
                                              "r9"])
    deadline = time.time() + 10
    while oci("state", "r9").returncode != 0 or oci.state("r9")["status"] != "running":
        assert time.time() < deadline
        time.sleep(0.02)
    oci("kill", "r9", "KILL", check=True)
    assert proc.wait(10) == 137


def test_run_output_and_pid1(oci, bundle):
    p = oci("run", "-b", bundle.args("sh", "-c", "echo pid=$$; echo err >&2").save(), "r1")
    assert p.returncode == 0
    assert p.stdout == "pid=1\n" and p.stderr == "err\n"


def test_run_detached_then_kill_all(oci, bundle):
    oci("run", "-d", "-b", bundle.args("sh", "-c", "sleep 100 & sleep 100 & wait").save(), "d1", check=True)
    st = oci.state("d1")
    assert st["status"] == "running"
    ns = os.readlink(f"/proc/{st['pid']}/ns/pid")
    deadline = time.time() + 5
    while time.time() < deadline:
        members = [p for p in os.listdir("/proc") if p.isdigit() and _ns(p) == ns]
        if len(members) == 3:
            break
        time.sleep(0.02)
    assert len(members) == 3
    oci("kill", "--all", "d1", "9", check=True)
    wait_status(oci, "d1", "stopped")
    oci("delete", "d1", check=True)


def _ns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def test_signals_reach_the_container(oci, bundle, tmp_path):
    out = tmp_path / "out"
    script = "trap 'echo got-usr1' USR1; trap 'exit 5' TERM; echo ready; while :; do sleep 0.05; done"
    with open(out, "w") as f:
        oci("run", "-d", "-b", bundle.args("sh", "-c", script).save(), "s1", check=True, stdout=f)
    _wait_text(out, "ready")
    for name in ("SIGUSR1", "usr1", "10"):
        before = out.read_text().count("got-usr1")
        oci("kill", "s1", name, check=True)
        _wait_count(out, "got-usr1", before + 1)
    oci("kill", "s1", "TERM", check=True)
    wait_status(oci, "s1", "stopped")
    oci("delete", "s1", check=True)


def _wait_text(path, text, timeout=5):
    deadline = time.time() + timeout
    while text not in path.read_text():
        assert time.time() < deadline, f"{text!r} never appeared in {path.read_text()!r}"
        time.sleep(0.02)


def _wait_count(path, text, n, timeout=5):
    deadline = time.time() + timeout
    while path.read_text().count(text) < n:
        assert time.time() < deadline, path.read_text()
        time.sleep(0.02)


def test_delete_force_kills_and_missing_is_ok(oci, bundle):
    oci("run", "-d", "-b", bundle.args("sleep", "100").save(), "f1", check=True)
    pid = oci.state("f1")["pid"]
    oci("delete", "--force", "f1", check=True)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z"
    assert oci("delete", "--force", "f1").returncode == 0
    p = oci("delete", "f1")
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_delete_created_container_without_force(oci, bundle):
    oci("create", "-b", bundle.args("true").save(), "k1", check=True)
    oci("delete", "k1", check=True)  # runc deletes created containers: nothing ran yet
    assert oci("state", "k1").returncode == 1


def test_list(oci, bundle):
    path = bundle.args("sleep", "100").save()
    oci("create", "-b", path, "la", check=True)
    oci("create", "-b", path, "lb", check=True)
    assert oci("list", "-q", check=True).stdout.split() == ["la", "lb"]
    states = json.loads(oci("list", "--format", "json", check=True).stdout)
    assert [s["id"] for s in states] == ["la", "lb"] and {s["status"] for s in states} == {"created"}
    table = oci("list", check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert len(table) == 3 and "created" in table[1]
    oci("delete", "--force", "la", check=True)
    oci("delete", "--force", "lb", check=True)


def test_pid_file_and_state_survive_pid_reuse_check(oci, bundle, tmp_path):
    oci("run", "-d", "-b", bundle.args("sleep", "100").save(), "--pid-file", tmp_path / "p", "p1", check=True)
    st = oci.state("p1")
    assert int((tmp_path / "p").read_text()) == st["pid"]
    # a forged start time makes the recorded PID someone else's: hull must call it stopped
    state_file = os.path.join(oci.root, "p1", "state.json")
    rec = json.load(open(state_file))
    real = rec["init_start"]
    rec["init_start"] = real + 1
    json.dump(rec, open(state_file, "w"))
    assert oci.state("p1")["status"] == "stopped"
    p = oci("kill", "p1", "KILL")
    assert p.returncode == 1 and os.path.exists(f"/proc/{st['pid']}")  # the "other" process was spared
    rec["init_start"] = real
    json.dump(rec, open(state_file, "w"))
    oci("delete", "--force", "p1", check=True)


def test_fds_are_not_inherited_unless_preserved(oci, bundle, tmp_path):
    leak = open(tmp_path / "secret", "w")
    try:
        fd = leak.fileno()
        assert fd >= 3
        path = bundle.args("ls", "/proc/self/fd").save()
        os.dup2(fd, 3, inheritable=True) if fd != 3 else os.set_inheritable(3, True)
        p = oci("run", "-b", path, "fd1", pass_fds=(3,))
        assert p.returncode == 0
        assert sorted(p.stdout.split()) == ["0", "1", "2", "3"]  # 3 is ls's own directory fd
        p = oci("run", "-b", bundle.args("sh", "-c", "readlink /proc/self/fd/3").save(), "--preserve-fds", "1",
                "fd2", pass_fds=(3,))
        assert p.returncode == 0 and p.stdout.strip().endswith("secret")
    finally:
        leak.close()


def test_run_with_terminal_owns_the_pty(oci, bundle):
    bundle.args("sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty")
    bundle.config["process"]["terminal"] = True
    p = oci("run", "-b", bundle.save(), "t1", stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.replace("\r", "").split("\n")
    assert lines[0] == "/dev/pts/0" and lines[1] == "stdin-is-a-tty"


def test_log_file_json(oci, tmp_path):
    log = tmp_path / "log.json"
    p = oci("--log", log, "--log-format", "json", "state", "nope")
    assert p.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"]
    assert entry["time"].endswith("Z") and "T" in entry["time"]
    p = oci("--log", tmp_path / "log.txt", "state", "nope")
    assert 'level=error msg="container' in (tmp_path / "log.txt").read_text()


def test_version_and_spec(oci, tmp_path):
    p = oci("--version", check=True)
    assert p.stdout.startswith("hull-oci version") and "spec: 1." in p.stdout
    oci("spec", "--bundle", tmp_path, check=True)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["root"]["path"] == "rootfs" and cfg["process"]["args"] == ["sh"]
    p = oci("spec", "--bundle", tmp_path)
    assert p.returncode == 1 and "exists" in p.stderr


def test_signal_forwarding_in_foreground_run(oci, bundle):
    script = "trap 'echo caught; exit 4' TERM; echo ready; while :; do sleep 0.05; done"
    proc = subprocess.Popen(hull_oci_cmd() + ["--root", oci.root, "run", "-b", bundle.args("sh", "-c", script).save(),
                                              "fg1"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 4
    assert proc.stdout.read() == "caught\n"
