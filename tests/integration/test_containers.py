"""hull's containers on the real kernel: limits in the host's cgroups, the shared monitor (logs,
restarts, --rm, attach), terminals, concurrency, and faults (kill -9 of hull run, of the monitor,
of a container's init). The `engine` fixture fails a test that leaves a container, mount, cgroup
or process of its root behind. Side-by-side comparisons with podman are in test_containers_vs_podman.py."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import inspect, processes_mentioning, reap, wait_for
from runtime import cgroups

pytestmark = pytest.mark.root
V2 = cgroups.detect() == 2
MiB = 1024 * 1024


def host_cgroup_file(engine, name, v1_name, v2_name) -> str:
    """A file of the container's cgroup as the host sees it."""
    state = json.loads(open(os.path.join(engine.root, "run", "oci", inspect(engine, name, "{{.Id}}"),
                                         "state.json")).read())
    path = state["cgroup"]["path"]
    f = f"/sys/fs/cgroup{path}/{v2_name}" if V2 else f"/sys/fs/cgroup/{v1_name.split('.')[0]}{path}/{v1_name}"
    with open(f) as fh:
        return fh.read().strip()


class Terminal:
    """A command on a pty of its own: what a user at a terminal sees and types."""

    def __init__(self, argv, env=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env or os.environ)
        self.out = b""

    def read(self, until: bytes | None = None, timeout=10.0) -> bytes:
        deadline = time.time() + timeout
        while time.time() < deadline and not (until and until in self.out):
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.out += data
        return self.out

    def type(self, text: bytes) -> None:
        os.write(self.fd, text)

    def wait(self) -> int:
        self.read(timeout=2)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


# -- limits, security, options ------------------------------------------------------------------------

@pytest.mark.v2
def test_limits_are_in_the_host_cgroup(engine):
    engine("run", "-d", "--name", "lim", "-m", "64m", "--cpus", "0.5", "--pids-limit", "30", "--cpu-shares", "512",
           "busybox", "sleep", "100")
    assert int(host_cgroup_file(engine, "lim", "memory.limit_in_bytes", "memory.max")) == 64 * MiB
    assert host_cgroup_file(engine, "lim", "pids.max", "pids.max") == "30"
    if V2:
        assert host_cgroup_file(engine, "lim", "", "cpu.max") == "50000 100000"
    else:
        assert host_cgroup_file(engine, "lim", "cpu.cfs_quota_us", "") == "50000"
    assert inspect(engine, "lim", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}") == \
        f"{64 * MiB} 500000000 30"
    engine("update", "-m", "96m", "--pids-limit", "40", "lim")
    assert int(host_cgroup_file(engine, "lim", "memory.limit_in_bytes", "memory.max")) == 96 * MiB
    assert host_cgroup_file(engine, "lim", "pids.max", "pids.max") == "40"
    stats = engine("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", "lim").stdout.split()
    assert stats[0] == "lim" and stats[1] == "1" and stats[-1] == "96MiB"
    engine("pause", "lim")
    assert engine("ps", "--format", "{{.Status}}").stdout.strip().endswith("(Paused)")
    assert inspect(engine, "lim", "{{.State.Status}} {{.State.Paused}}") == "paused true"
    p = engine("exec", "lim", "true", check=False)
    assert p.returncode == 1 and "paused" in p.stderr
    engine("unpause", "lim")
    assert inspect(engine, "lim", "{{.State.Status}}") == "running"


@pytest.mark.v2
def test_oom_killed(engine):
    p = engine("run", "--name", "oom", "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c",
               "head -c 100m /dev/zero | tail", check=False)
    assert p.returncode == 137, p.stderr
    assert inspect(engine, "oom", "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137"


def test_security_options(engine, tmp_path):
    eff = engine("run", "--rm", "--cap-add", "SYS_ADMIN", "--cap-drop", "NET_RAW", "busybox", "grep", "CapEff",
                 "/proc/self/status").stdout.split()[1]
    assert int(eff, 16) & (1 << 21) and not int(eff, 16) & (1 << 13)
    assert engine("run", "--rm", "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs",
                  "/proc/self/status").stdout.split()[1] == "1"
    assert engine("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:",
                  "/proc/self/status").stdout.split()[1] == "0"
    p = engine("run", "--rm", "--cap-add", "BOGUS", "busybox", "true", check=False)
    assert p.returncode == 125 and "unknown capability" in p.stderr
    assert engine("run", "--rm", "--ulimit", "nofile=512:1024", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn").stdout \
        == "512\n1024\n"
    p = engine("run", "--rm", "--ulimit", "nofile=30000:30000", "busybox", "true", check=False)
    assert p.returncode == 125 and "RLIMIT_NOFILE" in p.stderr  # above this host's hard limit: a clear error


def test_init_reaps_and_is_pid_1(engine):
    out = engine("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '").stdout
    assert out.startswith("/sbin/hull-init -- sh -c")
    assert "hull-init" not in engine("run", "-d", "--init", "--name", "ini", "busybox", "sleep", "100").stderr
    assert inspect(engine, "ini", "{{.HostConfig.Init}}") == "true"
    engine("stop", "-t", "1", "ini")  # tini forwards TERM: sleep dies at once, not after the timeout
    assert inspect(engine, "ini", "{{.State.ExitCode}}") == "143"


def test_etc_files_and_hostname(engine):
    cid = engine("create", "busybox", "true").stdout.strip()
    out = engine("run", "--rm", "-h", "given", "--add-host", "db.lab:10.1.2.3", "--dns", "10.9.9.9",
                 "--dns-search", "lab.test", "busybox", "sh", "-c",
                 "cat /etc/hostname; grep db.lab /etc/hosts; cat /etc/resolv.conf").stdout
    assert out.splitlines()[:2] == ["given", "10.1.2.3\tdb.lab"]
    assert "nameserver 10.9.9.9" in out and "search lab.test" in out
    assert engine("run", "--rm", "busybox", "grep", "-c", "nameserver 127.", "/etc/resolv.conf",
                  check=False).stdout.strip() == "0"  # loopback resolvers mean nothing in another netns
    assert engine("run", "--rm", "--network", "host", "busybox", "hostname").stdout.strip() == os.uname().nodename
    engine("rm", cid)


def test_rm_removes_whatever_the_outcome(engine):
    for args, code in ((["sh", "-c", "exit 4"], 4), (["nonexistent"], 127), (["true"], 0)):
        assert engine("run", "--rm", "busybox", *args, check=False).returncode == code
    assert engine("ps", "-aq").stdout == ""
    engine("run", "-d", "--rm", "--name", "gone", "busybox", "true")
    wait_for(lambda: engine("ps", "-aq").stdout == "", "--rm of a detached container")


# -- the monitor: logs, restarts, attach ------------------------------------------------------------------

def test_detached_logs_and_follow(engine):
    engine("run", "-d", "--name", "lg", "busybox", "sh", "-c",
           "for i in 1 2 3 4 5; do echo line$i; echo e$i >&2; sleep 0.1; done")
    p = subprocess.run(engine.cmd("logs", "-f", "lg"), capture_output=True, text=True, timeout=30, env=engine.env)
    assert p.stdout == "".join(f"line{i}\n" for i in range(1, 6)) and p.stderr == "".join(f"e{i}\n" for i in range(1, 6))
    records = [json.loads(line) for line in open(inspect(engine, "lg", "{{.LogPath}}"))]
    assert {r["stream"] for r in records} == {"stdout", "stderr"} and records[0]["log"] == "line1\n"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", records[0]["time"])
    tail = engine("logs", "--tail", "2", "lg")  # the last two records, whichever stream: as docker counts
    assert (tail.stdout, tail.stderr) == ("line5\n", "e5\n")
    third = next(r for r in records if r["log"] == "line3\n")["time"]
    assert engine("logs", "--since", third, "lg").stdout.splitlines() == ["line3", "line4", "line5"]
    assert engine("logs", "--until", third, "lg").stdout.splitlines() == ["line1", "line2", "line3"]


def test_log_rotation(engine):
    engine("run", "-d", "--name", "rot", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
           "i=0; while [ $i -lt 300 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done")
    wait_for(lambda: inspect(engine, "rot", "{{.State.Status}}") == "exited", "the writer")
    path = inspect(engine, "rot", "{{.LogPath}}")
    assert os.path.getsize(path) <= 2048 and os.path.exists(path + ".1") and not os.path.exists(path + ".2")
    lines = engine("logs", "rot").stdout.splitlines()
    assert lines[-1].startswith("line-299-") and 10 < len(lines) < 300  # the oldest were rotated away


def test_log_attributes_and_details(engine):
    engine("run", "--name", "la", "-l", "app=web", "-l", "team=a b", "-e", "SECRET=1", "-e", "FOO=bar",
           "--log-opt", "labels=app,team", "--log-opt", "env=FOO", "busybox", "echo", "hi")
    record = json.loads(open(inspect(engine, "la", "{{.LogPath}}")).readline())
    assert record["attrs"] == {"app": "web", "team": "a b", "FOO": "bar"}  # SECRET was not named
    assert engine("logs", "--details", "la").stdout == "FOO=bar,app=web,team=a+b hi\n"  # docker's escaping
    assert engine("logs", "la").stdout == "hi\n"
    engine("run", "-d", "--name", "plain", "busybox", "echo", "x")
    wait_for(lambda: engine("logs", "--details", "plain").stdout == " x\n", "a line without attributes")
    p = engine("run", "--rm", "--log-opt", "env-regex=(", "busybox", "true", check=False)
    assert p.returncode == 125 and p.stderr.startswith("Error: invalid log opt env-regex='('")
    engine("rm", "la", "plain")


def test_restart_policies(engine):
    engine("run", "-d", "--name", "onf", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo try; exit 3")
    wait_for(lambda: inspect(engine, "onf", "{{.RestartCount}} {{.State.Status}}") == "2 exited", "two restarts")
    assert engine("logs", "onf").stdout == "try\ntry\ntry\n"
    engine("run", "-d", "--name", "alw", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2")
    wait_for(lambda: int(inspect(engine, "alw", "{{.RestartCount}}")) >= 2, "restarts of always")
    engine("stop", "-t", "1", "alw")
    time.sleep(1)
    count = inspect(engine, "alw", "{{.RestartCount}}")
    assert inspect(engine, "alw", "{{.State.Status}}") == "exited"
    time.sleep(0.5)
    assert inspect(engine, "alw", "{{.RestartCount}}") == count  # a stopped container stays stopped


def test_attach_and_detach_keys(engine):
    engine("run", "-dit", "--name", "att", "busybox", "sh")
    t = Terminal(engine.cmd("attach", "att"), engine.env)
    time.sleep(1)  # attach shows nothing until there is output: give it time to connect, as a user would
    t.type(b"echo attached-$((40+2))\r")
    assert b"attached-42" in t.read(b"attached-42")
    t.type(b"\x10\x11")  # ctrl-p ctrl-q
    assert t.wait() == 0
    assert inspect(engine, "att", "{{.State.Status}}") == "running"
    t = Terminal(engine.cmd("attach", "att"), engine.env)
    time.sleep(1)
    t.type(b"exit 6\r")
    assert t.wait() == 6
    wait_for(lambda: inspect(engine, "att", "{{.State.Status}} {{.State.ExitCode}}") == "exited 6", "the exit")
    assert "attached-42" in engine("logs", "att").stdout


def test_exec_detach_keys(engine):
    """exec -it detaches as attach does (--detach-keys): the process goes on, its terminal held
    by the monitor; typed keys that only begin the sequence still reach it."""
    engine("run", "-d", "--name", "ex", "busybox", "sleep", "100")
    t = Terminal(engine.cmd("exec", "-it", "--detach-keys", "ctrl-x,x", "ex", "sh"), engine.env)
    t.read(b"# ")  # the prompt: keys typed before it may answer the shell's own terminal queries
    t.type(b"echo pid=$$ is-$((40+2))\r")
    out = t.read(b"is-42").decode()
    pid = re.search(r"pid=(\d+) is-42", out).group(1)
    t.type(b"\x18y\r")  # ctrl-x then y: not the sequence, so both reach the shell
    t.type(b"\x18x")
    assert t.wait() == 0 and b"read escape sequence" in t.out
    time.sleep(0.5)  # a hung-up shell would be gone by now
    assert "sh" in engine("exec", "ex", "cat", f"/proc/{pid}/cmdline").stdout  # still there, not hung up
    p = engine("exec", "--detach-keys", "ctrl-", "ex", "true", check=False)
    assert p.returncode == 1 and "Invalid detach keys" in p.stderr
    engine("exec", "ex", "kill", "-9", pid)  # the detached shell was orphaned to us (pytest is a subreaper)
    wait_for(lambda: reap() or "sh" not in engine("exec", "ex", "ps", "-o", "comm").stdout, "the shell's end")
    engine("rm", "-f", "ex")


def test_stats_counts_network_traffic_and_redraws(engine):
    """NET I/O comes from the container's own network namespace (it said 0B / 0B after serving
    megabytes); without --no-stream the table is redrawn, docker's way, until interrupted."""
    engine("network", "create", "statnet")
    engine("run", "-d", "--name", "st", "--network", "statnet", "busybox", "sleep", "100")
    gateway = inspect(engine, "st", "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}")
    engine("exec", "st", "ping", "-c", "20", "-i", "0.05", "-s", "1000", "-W", "1", gateway)
    rx, tx = engine("stats", "--no-stream", "st", "--format", "{{.NetIO}}").stdout.strip().split(" / ")
    assert rx.endswith("kB") and float(rx[:-2]) >= 20 and tx.endswith("kB") and float(tx[:-2]) >= 20, (rx, tx)
    live = subprocess.Popen(engine.cmd("stats", "--format", "{{.Name}} {{.PIDs}}"), stdout=subprocess.PIPE,
                            env=engine.env)
    try:
        out = b""
        deadline = time.time() + 10
        while out.count(b"\033[2J\033[H") < 2 and time.time() < deadline:
            r, _, _ = select.select([live.stdout], [], [], 0.5)
            if r:
                out += os.read(live.stdout.fileno(), 4096)
        assert out.count(b"\033[2J\033[Hst 1\n") >= 2, out
    finally:
        live.send_signal(signal.SIGINT)
        assert live.wait(10) == 130
    engine("rm", "-f", "st")
    engine("network", "rm", "statnet")


def test_run_it_detaches_and_holds_ctrl_p_back(engine):
    """`run -it` detaches on ctrl-p ctrl-q, leaving the container to the monitor; a ctrl-p is held
    back until the next key shows whether it detaches (issue 25: it used to reach the shell)."""
    t = Terminal(engine.cmd("run", "-it", "--name", "det", "busybox", "sh"), engine.env)
    t.read(b"# ")
    t.type(b"cat -v\r")
    time.sleep(0.5)
    t.type(b"a\x10")  # ctrl-p alone: held back
    time.sleep(0.5)
    t.type(b"\x11")  # ctrl-q: the sequence, so neither key reaches cat
    assert t.wait() == 0, t.out
    assert inspect(engine, "det", "{{.State.Status}}") == "running"
    t = Terminal(engine.cmd("attach", "det"), engine.env)
    time.sleep(1)
    t.type(b"b\x10c\r")  # ctrl-p then another key: both go on, in order
    assert b"ab^Pc\r\n" in t.read(b"ab^Pc\r\n"), t.out  # cat -v's line: no ^P between a and b
    t.type(b"\x04")
    t.type(b"exit 5\r")
    assert t.wait() == 5
    assert inspect(engine, "det", "{{.State.Status}} {{.State.ExitCode}}") == "exited 5"
    p = engine("run", "--detach-keys", "ctrl-", "busybox", "true", check=False)
    assert p.returncode == 125 and "Invalid detach keys" in p.stderr
    assert engine("ps", "-aq").stdout.split() == [inspect(engine, "det", "{{.Id}}")[:12]]  # nothing made


def test_run_it_survives_its_client(engine):
    """A `hull run -it` whose client is killed (its terminal closed) goes on under the monitor: its
    exit is recorded, and --rm applied, as with docker."""
    t = Terminal(engine.cmd("run", "-it", "--name", "kept", "busybox", "sh"), engine.env)
    t.read(b"# ")
    os.kill(t.pid, signal.SIGKILL)
    assert t.wait() == -9
    assert inspect(engine, "kept", "{{.State.Status}}") == "running"
    t = Terminal(engine.cmd("attach", "kept"), engine.env)
    time.sleep(1)
    t.type(b"exit 7\r")
    assert t.wait() == 7
    assert inspect(engine, "kept", "{{.State.Status}} {{.State.ExitCode}}") == "exited 7"
    t = Terminal(engine.cmd("run", "-it", "--rm", "--name", "gone", "busybox", "sh"), engine.env)
    t.read(b"# ")
    os.kill(t.pid, signal.SIGKILL)
    t.wait()
    engine("kill", "gone")
    wait_for(lambda: "gone" not in engine("ps", "-a", "--format", "{{.Names}}").stdout, "--rm by the monitor")


def test_run_it_on_a_terminal(engine):
    t = Terminal(engine.cmd("run", "-it", "--rm", "busybox", "sh"), engine.env)
    t.read(b"# ")
    t.type(b"tty; stty size; exit 9\r")
    out = t.read(b"exit 9")
    assert t.wait() == 9
    assert b"/dev/pts/0" in t.out, out


def test_exec_options(engine):
    engine("run", "-d", "--name", "ex", "-e", "BASE=1", "busybox", "sleep", "100")
    out = engine("exec", "-e", "EXTRA=2", "-w", "/tmp", "-u", "1000", "ex", "sh", "-c",
                 "echo $BASE $EXTRA; pwd; id -u").stdout
    assert out == "1 2\n/tmp\n1000\n"
    assert engine("exec", "-i", "ex", "cat", input="through stdin\n").stdout == "through stdin\n"
    assert engine("exec", "ex", "cat", input="not given\n").stdout == ""  # no -i: no stdin, as docker
    engine("exec", "-d", "ex", "sh", "-c", "echo bg > /tmp/bg")
    wait_for(lambda: engine("exec", "ex", "cat", "/tmp/bg", check=False).stdout == "bg\n", "the detached exec")
    t = Terminal(engine.cmd("exec", "-it", "ex", "sh"), engine.env)
    t.read(b"# ")
    t.type(b"tty; exit 3\r")
    assert t.wait() == 3 and b"/dev/pts/" in t.out


def test_ps_format_filters_and_top(engine):
    engine("run", "-d", "--name", "web", "-l", "tier=front", "busybox", "sleep", "100")
    engine("run", "--name", "done", "busybox", "true")
    assert engine("ps", "--format", "{{.Names}}").stdout == "web\n"
    assert engine("ps", "-a", "--format", "{{.Names}}").stdout == "done\nweb\n"  # newest first
    assert engine("ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}").stdout == "done\n"
    assert engine("ps", "--filter", "label=tier=front", "-q").stdout.strip() == inspect(engine, "web", "{{.Id}}")[:12]
    assert engine("ps", "-a", "--filter", "ancestor=busybox", "-q").stdout.count("\n") == 2
    assert engine("ps", "-l", "--format", "{{.Names}}").stdout == "done\n"
    assert engine("ps", "--format", "{{.Labels}} {{.Command}}").stdout == 'tier=front "sleep 100"\n'
    assert engine("ps", "--format", "json").stdout.startswith('{"Command":"\\"sleep 100\\""')
    size = engine("ps", "-s", "--format", "{{.Size}}").stdout.strip()
    assert re.fullmatch(r"\d+(\.\d+)?[kMG]?B \(virtual \d+(\.\d+)?[kMG]?B\)", size), size
    top = engine("top", "web").stdout.splitlines()
    assert top[0].split()[:2] == ["UID", "PID"] and "sleep 100" in top[1]
    engine("rename", "web", "web2")
    assert engine("ps", "--format", "{{.Names}}").stdout == "web2\n"
    p = engine("rename", "web2", "done", check=False)
    assert p.returncode == 1 and "already in use" in p.stderr


def test_ps_filters_docker_documents(engine):
    engine("volume", "create", "vv")
    engine("network", "create", "nn")
    engine("run", "-d", "--name", "a1", "--network", "none", "busybox", "sleep", "100")
    engine("run", "-d", "--name", "a2", "-p", "18080:80", "--expose", "90", "-v", "vv:/data", "busybox", "sleep", "100")
    engine("run", "-d", "--name", "b3", "--network", "nn", "-v", "/tmp:/hosttmp", "busybox", "sleep", "100")
    engine("run", "--name", "b4", "busybox", "true")

    def names(*filters):
        args = [a for f in filters for a in ("--filter", f)]
        return engine("ps", "--format", "{{.Names}}", *args).stdout.split()
    assert engine("ps", "--format", "{{.Ports}}", "--filter", "name=a2").stdout == "0.0.0.0:18080->80/tcp, 90/tcp\n"
    assert names("publish=18080") == names("publish=18000-18100/tcp") == ["a2"]
    assert names("publish=18080/udp") == names("publish=80") == []
    assert names("expose=90") == names("expose=80") == ["a2"]
    assert names("volume=vv") == ["a2"] and names("volume=/hosttmp") == ["b3"]
    net_id = engine("network", "inspect", "-f", "{{.Id}}", "nn").stdout.strip()
    assert names("network=nn") == names(f"network={net_id[:6]}") == ["b3"] and names("network=bridge") == ["a2"]
    assert names("name=^a") == ["a2", "a1"] and names("name=^/b") == ["b3"]  # regular expressions, as moby's
    assert names("before=b3") == ["a2", "a1"]
    assert names("since=a2") == ["b4", "b3"]  # before and since include stopped ones
    assert names("health=none") == ["b3", "a2", "a1"] and names("health=healthy") == []
    assert names("is-task=true") == [] and len(names("isolation=default")) == 3
    assert names("name=a", "volume=vv") == ["a2"] and names("name=a1", "name=b3") == ["b3", "a1"]
    for bad, message in [("publish=x", "invalid filter 'publish=x'"), ("bogus=1", "invalid filter 'bogus'"),
                         ("health=ok", "Unrecognised filter value for health: ok"),
                         ("before=nosuch", "No such container: nosuch")]:
        p = engine("ps", "--filter", bad, check=False)
        assert (p.returncode, p.stderr) == (1, f"Error: {message}\n")
    engine("rm", "-f", "a1", "a2", "b3", "b4")
    engine("network", "rm", "nn")


def test_rmi_refuses_an_image_in_use(engine):
    engine("create", "--name", "user", "busybox", "true")
    p = engine("rmi", "busybox", check=False)
    assert p.returncode == 1 and "container" in p.stderr and "is using its referenced image" in p.stderr
    engine("rm", "user")
    engine("rmi", "busybox")


def test_run_pulls_what_is_missing(engine, tmp_path):
    from registries import RegistryServer
    (tmp_path / "reg").mkdir()
    server = RegistryServer(tmp_path / "reg", netns=engine.netns.path)  # where hull runs: loopback there
    try:
        name = f"{server.addr}/lab/box:1"
        engine("tag", "busybox", name)
        engine("push", "-q", name)
        engine("rmi", name)
        p = engine("run", "--rm", name, "echo", "pulled")
        assert p.stdout == "pulled\n" and f"Unable to find image '{name}' locally" in p.stderr
        assert "Pulling from lab/box" in p.stderr  # the progress goes to stderr: stdout is the container's
        p = engine("run", "--rm", "--pull", "never", f"{server.addr}/lab/none:1", "true", check=False)
        assert p.returncode == 125 and "No such image" in p.stderr
    finally:
        server.stop()


# -- concurrency and faults -------------------------------------------------------------------------------

def test_parallel_runs_and_removals(engine):
    with ThreadPoolExecutor(10) as pool:
        ids = list(pool.map(lambda i: engine("run", "-d", "busybox", "sleep", "100").stdout.strip(), range(50)))
    assert len(set(ids)) == 50
    names = engine("ps", "--format", "{{.Names}}").stdout.split()
    assert len(names) == 50 and len(set(names)) == 50
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: engine("rm", "-f", ids[0], check=False), range(20)))
    assert all(r.returncode == 0 for r in results)  # docker: rm -f of nothing says so, and is no failure
    assert sum("No such container" not in r.stderr for r in results) == 1
    with ThreadPoolExecutor(2) as pool:  # two --name x at once: one wins
        results = list(pool.map(lambda _: engine("create", "--name", "twin", "busybox", "true", check=False), range(2)))
    assert sorted(r.returncode for r in results) == [0, 1]  # docker's create: the engine refused


def test_kill_9_of_a_foreground_run(engine):
    """The client is not the container's watcher: killed, it loses neither the exit code nor --rm."""
    proc = subprocess.Popen(engine.cmd("run", "--name", "fg", "busybox", "sleep", "100"), env=engine.env)
    wait_for(lambda: engine("ps", "--format", "{{.Names}}").stdout == "fg\n", "the container")
    proc.kill()
    proc.wait()
    assert inspect(engine, "fg", "{{.State.Status}}") == "running"  # it goes on under the monitor
    os.kill(int(inspect(engine, "fg", "{{.State.Pid}}")), signal.SIGKILL)
    wait_for(lambda: inspect(engine, "fg", "{{.State.Status}}") == "exited", "the exit")
    assert inspect(engine, "fg", "{{.State.ExitCode}}") == "137"  # recorded, not lost
    assert re.fullmatch(r"Exited \(137\) (Less than a second|\d+ seconds?) ago\n",
                        engine("ps", "-a", "--format", "{{.Status}}").stdout)
    engine("rm", "fg")
    proc = subprocess.Popen(engine.cmd("run", "--rm", "--name", "fgrm", "busybox", "sh", "-c", "sleep 1; exit 5"),
                            env=engine.env, stdout=subprocess.DEVNULL)
    wait_for(lambda: engine("ps", "--format", "{{.Names}}").stdout == "fgrm\n", "the container")
    proc.kill()
    proc.wait()
    wait_for(lambda: engine("ps", "-a", "-q").stdout == "", "--rm applied after the client's death")
    assert "container destroy fgrm" in engine("events", "--since", "30s", "--until", "0s",
                                              "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}").stdout


def test_foreground_streams_input_and_waits_for_a_slow_reader(engine):
    """A foreground run's stdin and output go through the monitor: all of it, in order, ended
    when ours ends; a reader that does not keep up slows its own container only."""
    data = os.urandom(3 << 20)
    p = subprocess.run(engine.cmd("run", "--rm", "-i", "busybox", "cat"), input=data, capture_output=True,
                       env=engine.env, timeout=60)
    assert p.returncode == 0 and p.stdout == data
    engine("run", "-d", "--name", "tick", "busybox", "sh", "-c", "while true; do echo t; sleep 0.1; done")
    slow = subprocess.Popen(engine.cmd("run", "--rm", "busybox", "head", "-c", "20000000", "/dev/zero"),
                            env=engine.env, stdout=subprocess.PIPE)  # not read for now
    wait_for(lambda: engine("ps", "-q").stdout.count("\n") == 2, "the flood")
    before = engine("logs", "tick").stdout.count("t\n")
    wait_for(lambda: engine("logs", "tick").stdout.count("t\n") >= before + 5, "the other container's log")
    assert len(slow.stdout.read()) == 20000000 and slow.wait() == 0
    engine("rm", "-f", "tick")


def test_kill_9_of_the_monitor_and_of_an_init(engine):
    engine("run", "-d", "--name", "orphan", "busybox", "sleep", "100")
    engine("run", "-d", "--name", "victim", "busybox", "sleep", "100")
    os.kill(int(inspect(engine, "victim", "{{.State.Pid}}")), signal.SIGKILL)  # the init: the monitor records it
    wait_for(lambda: inspect(engine, "victim", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137", "137")
    monitor = int(open(os.path.join(engine.root, "containers", inspect(engine, "orphan", "{{.Id}}"),
                                    "state.json")).read().split('"Monitor": {"pid": ')[1].split(",")[0])
    os.kill(monitor, signal.SIGKILL)
    assert inspect(engine, "orphan", "{{.State.Status}}") == "running"
    os.kill(int(inspect(engine, "orphan", "{{.State.Pid}}")), signal.SIGKILL)
    wait_for(lambda: inspect(engine, "orphan", "{{.State.Status}}") == "exited", "the orphan's end")
    assert inspect(engine, "orphan", "{{.State.ExitCode}}") == "-1"
    engine("rm", "-f", "orphan", "victim")
    # a new monitor serves the root
    engine("run", "-d", "--name", "after", "busybox", "true")
    wait_for(lambda: inspect(engine, "after", "{{.State.Status}}") == "exited", "the new monitor")


def test_the_monitor_is_one_process_for_all_and_exits_when_idle(engine):
    for i in range(5):
        engine("run", "-d", "--name", f"m{i}", "busybox", "sleep", "100")
    monitors = {open(os.path.join(engine.root, "containers", inspect(engine, f"m{i}", "{{.Id}}"), "state.json")).read()
                .split('"Monitor": {"pid": ')[1].split(",")[0] for i in range(5)}
    assert len(monitors) == 1
    engine("rm", "-f", *[f"m{i}" for i in range(5)])
    wait_for(lambda: not processes_mentioning(engine.root), "the monitor to go", timeout=15)


def test_flags_after_the_names(engine):
    """docker users type flags after the names too; a command's own flags stay the command's."""
    engine("run", "-d", "--name", "late", "--network", "none", "busybox", "sleep", "60")
    assert engine("inspect", "late", "-f", "{{.State.Status}}").stdout == "running\n"
    assert engine("stop", "late", "-t", "1").stdout == "late\n"
    engine("start", "late")
    assert engine("exec", "late", "ls", "-d", "/etc").stdout == "/etc\n"  # -d is ls's, not exec's
    assert engine("rm", "late", "-f").stdout == "late\n"
    assert engine("ps", "-aq").stdout == ""


def test_a_terminal_has_the_clients_size_from_its_first_instruction(engine):
    """run -it and exec -it (and the API's ConsoleSize): the container's terminal has the client's
    size before its process starts, so a first `stty size` or `top` never sees 0x0."""
    import shlex
    engine("run", "-d", "--name", "sized", "--network", "none", "busybox", "sleep", "60")
    hull = shlex.join(engine.cmd())
    p = subprocess.run(["script", "-qec", f"stty rows 21 cols 73; {hull} run --rm -it --network none busybox stty size; "
                        f"{hull} exec -it sized stty size; {hull} exec -t sized stty size", "/dev/null"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=engine.env)
    assert p.stdout.replace("\r", "").split("\n")[:3] == ["21 73"] * 3, p


def test_container_processes_start_with_no_signal_ignored_or_blocked(engine):
    """As under runc (and docker): run, a detached init started by the monitor, and exec all begin
    with SigIgn and SigBlk empty, so `yes | head` ends instead of leaving yes spinning."""
    clear = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    script = "grep -E '^Sig(Ign|Blk)' /proc/self/status; yes | head -c 100000 > /dev/null; echo piped"
    assert engine("run", "--rm", "--network", "none", "busybox", "sh", "-c", script, timeout=30).stdout == clear + "piped\n"
    engine("run", "-d", "--name", "sig", "--network", "none", "busybox", "sleep", "100")
    pid = inspect(engine, "sig", "{{.State.Pid}}")
    with open(f"/proc/{pid}/status") as f:
        assert "".join(sorted(line for line in f if line.startswith(("SigIgn", "SigBlk")))) == clear
    assert engine("exec", "sig", "sh", "-c", script, timeout=30).stdout == clear + "piped\n"
    engine("rm", "-f", "sig")
