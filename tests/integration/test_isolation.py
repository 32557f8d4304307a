"""What the container sees: namespaces, hostname, mounts, masked/readonly paths, user, env, cwd, console."""
import json
import os

import pytest

from helpers import ConsoleSocket

pytestmark = pytest.mark.root


def run(oci, bundle, *argv, cid="iso"):
    p = oci("run", "-b", bundle.args(*argv).save(), cid)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_every_namespace_is_separate(oci, bundle):
    oci("run", "-d", "-b", bundle.args("sleep", "100").save(), "ns1", check=True)
    pid = oci.state("ns1")["pid"]
    try:
        for kind in ("pid", "net", "ipc", "uts", "mnt", "cgroup"):
            ours = os.readlink(f"/proc/self/ns/{kind}")
            theirs = os.readlink(f"/proc/{pid}/ns/{kind}")
            assert ours != theirs, f"{kind} namespace is shared with the host"
        # namespaces the config does not list stay shared
        assert os.readlink("/proc/self/ns/user") == os.readlink(f"/proc/{pid}/ns/user")
    finally:
        oci("delete", "--force", "ns1", check=True)


def test_joining_an_existing_namespace_by_path(oci, bundle):
    oci("run", "-d", "-b", bundle.args("sleep", "100").save(), "host1", check=True)
    pid = oci.state("host1")["pid"]
    try:
        for ns in bundle.config["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/proc/{pid}/ns/net"
        p = oci("run", "-d", "-b", bundle.args("sleep", "100").save(), "guest1", check=True)
        assert p.returncode == 0
        guest = oci.state("guest1")["pid"]
        assert os.readlink(f"/proc/{guest}/ns/net") == os.readlink(f"/proc/{pid}/ns/net")
        assert os.readlink(f"/proc/{guest}/ns/uts") != os.readlink(f"/proc/{pid}/ns/uts")
        oci("delete", "--force", "guest1", check=True)
    finally:
        oci("delete", "--force", "host1", check=True)


def test_hostname_and_domainname(oci, bundle):
    bundle.config["hostname"] = "box1"
    bundle.config["domainname"] = "example.test"
    assert run(oci, bundle, "sh", "-c", "hostname; cat /proc/sys/kernel/domainname") == "box1\nexample.test\n"
    assert os.uname().nodename != "box1"


def test_pid_namespace_shows_only_the_container(oci, bundle):
    out = run(oci, bundle, "sh", "-c", "ls /proc | grep -E '^[0-9]+$'")
    assert out.split()[0] == "1" and len(out.split()) <= 3  # sh, ls/grep


def test_bind_mount_visible_inside_absent_outside(oci, bundle, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("hi from the host\n")
    bundle.config["mounts"].append({"destination": "/data", "type": "bind", "source": str(data),
                                    "options": ["rbind", "ro", "nosuid", "nodev"]})
    bundle.config["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["size=1m", "mode=1777"]})
    out = run(oci, bundle, "sh", "-c",
              "cat /data/hello.txt; touch /data/x 2>/dev/null || echo ro-ok; "
              "grep -E ' /(data|scratch) ' /proc/self/mountinfo | cut -d' ' -f5,6")
    lines = out.splitlines()
    assert lines[0] == "hi from the host" and lines[1] == "ro-ok"
    opts = dict(line.split() for line in lines[2:])
    assert opts["/data"].startswith("ro,") and "nosuid" in opts["/data"] and "nodev" in opts["/data"]
    assert opts["/scratch"].startswith("rw")
    with open("/proc/self/mountinfo") as f:
        assert "/scratch" not in f.read()
    assert not (data / "x").exists()


def test_dev_has_the_default_nodes(oci, bundle):
    out = run(oci, bundle, "sh", "-c", "ls /dev; stat -c '%n %t:%T %a' /dev/null /dev/zero /dev/tty")
    names = set(out.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue",
            "fd", "stdin", "stdout", "stderr"} <= names
    assert "/dev/null 1:3 666" in out and "/dev/zero 1:5 666" in out and "/dev/tty 5:0 666" in out
    assert "sda" not in names and "vda" not in names  # no host devices


def test_masked_and_readonly_paths(oci, bundle):
    bundle.config["linux"]["maskedPaths"].append("/etc/hostname-secret")
    out = run(oci, bundle, "sh", "-c",
              "wc -c < /proc/keys; ls /proc/acpi 2>/dev/null | wc -l; "
              "echo 1 > /proc/sys/kernel/domainname 2>&1 || echo sys-ro; "
              "echo h > /proc/sysrq-trigger 2>&1 || echo sysrq-ro; "
              "grep ' /proc/sys ' /proc/self/mountinfo | cut -d' ' -f6")
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == "0"  # /proc/keys is /dev/null
    assert lines[1] == "0"
    assert "sys-ro" in lines and "sysrq-ro" in lines
    assert lines[-1].startswith("ro")


def test_readonly_root(oci, bundle):
    out = run(oci, bundle, "sh", "-c", "touch /newfile 2>/dev/null || echo root-ro; touch /dev/shm/x && echo shm-rw")
    assert out.split() == ["root-ro", "shm-rw"]


def test_user_groups_env_cwd(oci, bundle):
    p = bundle.config["process"]
    p["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [100, 5], "umask": 0o077}
    p["env"] = ["PATH=/bin:/usr/bin", "GREETING=hello world", "EMPTY="]
    p["cwd"] = "/home/user"
    out = run(oci, bundle, "sh", "-c",
              "id -u; id -g; id -G; echo \"$GREETING\"; echo \"[$EMPTY]\"; pwd; umask; env | grep -c .")
    uid, gid, groups, greeting, empty, cwd, umask, count = out.splitlines()
    assert (uid, gid) == ("1000", "1000")
    assert set(groups.split()) == {"1000", "100", "5"}
    assert greeting == "hello world" and empty == "[]" and cwd == "/home/user" and umask == "0077"
    assert int(count) <= 6  # exactly the config's env (+ the shell's PWD/SHLVL), nothing from the host


def test_missing_cwd_is_created(oci, bundle):
    bundle.config["root"]["readonly"] = False
    bundle.config["mounts"].append({"destination": "/work", "type": "tmpfs", "source": "tmpfs"})
    bundle.config["process"]["cwd"] = "/work/a/b"
    assert run(oci, bundle, "pwd") == "/work/a/b\n"


def test_rlimits(oci, bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
                                           {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    assert run(oci, bundle, "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c").split() == ["123", "456", "0"]


def test_rlimit_above_host_hard_limit_is_a_clear_error(oci, bundle):
    hard = open("/proc/self/limits").read()
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1 << 30, "hard": 1 << 30}]
    p = oci("run", "-b", bundle.args("true").save(), "rl1")
    if "CAP_SYS_RESOURCE" not in p.stderr and p.returncode == 0:
        pytest.skip(f"this host lets root raise NOFILE ({hard})")
    assert p.returncode == 1 and "RLIMIT_NOFILE" in p.stderr and "CAP_SYS_RESOURCE" in p.stderr


def test_console_socket_receives_the_pty_master(oci, bundle, tmp_path):
    console = ConsoleSocket(str(tmp_path / "console.sock"))
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 30, "width": 100}
    bundle.args("sh", "-c", "tty; stty size; ls -l /dev/console | cut -c1")
    oci("create", "-b", bundle.save(), "--console-socket", console.path, "con1", check=True)
    console.wait()
    assert console.name.startswith("/dev/pts/")
    oci("start", "con1", check=True)
    lines = console.read_all().split("\n")
    assert lines[:3] == ["/dev/pts/0", "30 100", "c"]
    oci("delete", "--force", "con1", check=True)


def test_create_requires_console_socket_for_terminal(oci, bundle):
    bundle.config["process"]["terminal"] = True
    p = oci("create", "-b", bundle.args("true").save(), "tt1")
    assert p.returncode == 1 and "console-socket" in p.stderr


def test_same_bundle_behaves_like_runc(oci, bundle, tmp_path):
    """runc is the reference: the same bundle shows the same /dev, mount points and hostname."""
    import shutil
    import subprocess
    if not shutil.which("runc"):
        pytest.skip("runc not installed")
    script = "hostname; ls /dev | sort; cut -d' ' -f5 /proc/self/mountinfo | sort; id; pwd"
    path = bundle.args("sh", "-c", script).save()
    ours = run(oci, bundle, "sh", "-c", script, cid="cmp1")
    root = tmp_path / "runc-root"
    theirs = subprocess.run(["runc", "--root", str(root), "run", "-b", path, "cmp-runc"], capture_output=True,
                            text=True, timeout=30)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.split("\n") == theirs.stdout.split("\n")
    assert json.loads(subprocess.run(["runc", "--root", str(root), "list", "--format", "json"],
                                     capture_output=True, text=True).stdout or "[]") in ([], None)


def test_no_pivot_moves_the_root(oci, bundle):
    p = oci("run", "--no-pivot", "-b", bundle.args("sh", "-c", "ls /; echo pid=$$").save(), "np1")
    assert p.returncode == 0, p.stderr
    assert "bin" in p.stdout.split() and "pid=1" in p.stdout
