"""hull-oci exec: one more process in a running container, in its namespaces and cgroup, with its
security settings; the forms engines use (--process FILE --detach --pid-file, --tty with a
console socket) and runc's plain form (exec ID CMD...)."""
import json
import os

import pytest

from helpers import ConsoleSocket, reap

pytestmark = pytest.mark.root


@pytest.fixture
def running(oci, bundle):
    bundle.args("sleep", "100")
    oci("run", "-d", "--bundle", bundle.save(), "ex", check=True)
    yield oci.state("ex")["pid"]
    # a pid namespace ends only when its zombies are reaped, and detached exec'd processes are
    # ours to reap (pytest is the subreaper, as a shim would be)
    reap()
    oci("delete", "--force", "ex", check=True)


def test_exec_joins_the_container_and_passes_the_exit_code(oci, running):
    p = oci("exec", "ex", "sh", "-c", "echo pid=$$; hostname; cat /proc/1/cmdline; exit 7")
    assert p.returncode == 7
    lines = p.stdout.split("\n")
    assert lines[0] != "pid=1" and lines[1] == "hull" and lines[2].startswith("sleep")


def test_exec_flags_change_env_cwd_and_user(oci, running):
    p = oci("exec", "-e", "A=1", "--env", "B=2", "--cwd", "/etc", "-u", "1000:100", "ex", "sh", "-c",
            "echo $A$B; pwd; id -u; id -g")
    assert p.stdout.split() == ["12", "/etc", "1000", "100"], p.stderr


def test_exec_process_file_detached_with_pid_file(oci, running, tmp_path):
    process = {"args": ["sleep", "50"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    (tmp_path / "process.json").write_text(json.dumps(process))
    oci("exec", "--process", tmp_path / "process.json", "--detach", "--pid-file", tmp_path / "pid", "ex",
        check=True)
    pid = int((tmp_path / "pid").read_text())
    with open(f"/proc/{pid}/cmdline") as f:
        assert f.read().split("\0")[:2] == ["sleep", "50"]
    assert pid in json.loads(oci("ps", "--format", "json", "ex", check=True).stdout)
    for kind in ("cgroup", "ns/pid", "ns/mnt", "ns/net"):  # the init's cgroup and namespaces
        read = os.readlink if kind.startswith("ns/") else (lambda p: open(p).read())
        assert read(f"/proc/{pid}/{kind}") == read(f"/proc/{running}/{kind}"), kind
    os.kill(pid, 9)
    os.waitpid(pid, 0)


def test_exec_with_a_terminal_on_a_console_socket(oci, running, tmp_path):
    console = ConsoleSocket(str(tmp_path / "c.sock"))
    oci("exec", "--tty", "--console-socket", console.path, "--detach", "ex", "sh", "-c", "tty; echo done",
        check=True)
    out = console.wait().read_all().split("\n")
    assert out[0].startswith("/dev/pts/") and out[1] == "done"


def test_exec_gets_the_container_security_settings(oci, bundle):
    from runtime.container.defaults import DOCKER_CAPS, seccomp_profile
    bundle.args("sleep", "100")
    bundle.config["process"]["capabilities"] = {k: list(DOCKER_CAPS) for k in ("bounding", "effective", "permitted")}
    bundle.config["linux"]["seccomp"] = seccomp_profile(DOCKER_CAPS)
    oci("run", "-d", "--bundle", bundle.save(), "sec", check=True)
    p = oci("exec", "sec", "sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; unshare -U true")
    assert p.stdout.split() == ["NoNewPrivs:", "1", "Seccomp:", "2"]
    assert "Operation not permitted" in p.stderr
    oci("delete", "--force", "sec", check=True)


def test_exec_errors(oci, bundle, running, tmp_path):
    p = oci("exec", "ex", "no-such-program")
    assert p.returncode == 1 and 'exec: "no-such-program": executable file not found in $PATH' in p.stderr
    p = oci("exec", "ex")
    assert p.returncode == 1 and "give a command" in p.stderr
    (tmp_path / "bad.json").write_text("{not json")
    p = oci("exec", "--process", tmp_path / "bad.json", "ex")
    assert p.returncode == 1 and "not valid JSON" in p.stderr
    p = oci("exec", "ex", "/proc/self/exe")
    assert p.returncode == 1 and "CVE-2019-5736" in p.stderr


def test_exec_needs_a_running_container(oci, bundle):
    oci("create", "--bundle", bundle.args("true").save(), "cr", check=True)
    p = oci("exec", "cr", "true")
    assert p.returncode == 1 and "not running" in p.stderr
    oci("delete", "cr", check=True)
    p = oci("exec", "cr", "true")
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_exec_cap_for_a_non_root_user_survives_execve_as_ambient(oci, running):
    from runtime.linux.caps import mask
    p = oci("exec", "--cap", "CAP_NET_RAW", "-u", "1000:1000", "ex", "sh", "-c", "grep -E '^Cap(Eff|Amb)' /proc/self/status")
    fields = dict(line.split(":\t") for line in p.stdout.splitlines())
    want = mask(["CAP_NET_RAW"])
    assert int(fields["CapAmb"], 16) & want and int(fields["CapEff"], 16) & want, (p.stdout, p.stderr)
