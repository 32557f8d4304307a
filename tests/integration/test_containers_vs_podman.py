"""hull's container verbs against podman's on the same command sequences (podman with its own
private storage and runc as its runtime, tests/peers/engines.py), comparing what a user sees:
stdout, stderr, exit codes, ps columns, inspect fields, logs lines. Where podman differs from
docker (its 11 default capabilities, `Up 2 seconds ago`, .Name without the slash), docker is the
reference and the difference is stated."""
import re
import time

import pytest

from peers.engines import BUSYBOX

pytestmark = pytest.mark.root


def both(engine, podman, *args, input=None):
    """The same command under hull (image busybox) and podman (its busybox): (hull, podman) results."""
    theirs = [BUSYBOX if a == "busybox" else a for a in args]
    return engine(*args, check=False, input=input), podman(*theirs, input=input)


def same(engine, podman, *args, **kw):
    ours, theirs = both(engine, podman, *args, **kw)
    assert (ours.returncode, ours.stdout, ours.stderr.strip() != "") == \
           (theirs.returncode, theirs.stdout, theirs.stderr.strip() != ""), (ours, theirs)
    return ours, theirs


@pytest.mark.parametrize("args", [
    ["run", "--rm", "--network", "none", "busybox", "echo", "hello"],
    ["run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"],
    ["run", "--rm", "--network", "none", "-e", "A=1", "-e", "B", "-w", "/tmp", "-u", "1000:1000", "-h", "box1",
     "busybox", "sh", "-c", "echo $A; pwd; id -u; id -g; hostname"],
    ["run", "--rm", "--network", "none", "-u", "nobody", "busybox", "id"],
    ["run", "--rm", "--network", "none", "--entrypoint", "echo", "busybox", "via", "entrypoint"],
    ["run", "--rm", "--network", "none", "--read-only", "busybox", "touch", "/x"],
    ["run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '"],
    ["run", "--rm", "--network", "none", "--cap-drop", "ALL", "busybox", "grep", "CapEff", "/proc/self/status"],
    ["run", "--rm", "--network", "none", "--privileged", "busybox", "grep", "CapEff", "/proc/self/status"],
    ["run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /dev | sort | tr '\\n' ' '"],
    ["run", "--rm", "--network", "none", "-i", "busybox", "cat"],
    ["run", "--rm", "--network", "none", "--sysctl", "kernel.shmmax=1048576", "busybox", "cat",
     "/proc/sys/kernel/shmmax"],
    ["run", "--rm", "--network", "none", "busybox", "nonexistent-command"],
    ["run", "--rm", "--network", "none", "busybox", "/etc/passwd"],
])
def test_run_like_podman(engine, podman, args):
    same(engine, podman, *args, input="piped in\n" if "-i" in args else None)


def test_default_capabilities_are_dockers(engine, podman):
    """docker's 14 (podman's default has 11: no AUDIT_WRITE, MKNOD, NET_RAW): the docker set."""
    ours = engine("run", "--rm", "busybox", "grep", "CapBnd", "/proc/self/status").stdout
    assert ours.split()[1] == "00000000a80425fb"  # chown dac_override fowner fsetid kill setgid setuid setpcap
    # net_bind_service net_raw sys_chroot mknod audit_write setfcap, as `docker run busybox` shows
    assert engine("run", "--rm", "busybox", "grep", "Seccomp:", "/proc/self/status").stdout.split()[1] == "2"


def test_exit_codes_126_127(engine, podman):
    for args, code in ((["nonexistent-command"], 127), (["/etc/passwd"], 126), (["/etc"], 126)):
        ours, theirs = both(engine, podman, "run", "--rm", "--network", "none", "busybox", *args)
        assert ours.returncode == theirs.returncode == code, (ours.stderr, theirs.stderr)
        assert len(ours.stderr.strip().splitlines()) == 1


def normalize(text: str) -> str:
    return re.sub(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b", "<ID>", text)


def test_detached_lifecycle_like_podman(engine, podman):
    for e in (engine, podman):
        e("run", "-d", "--name", "life", "--network", "none", *( ["busybox"] if e is engine else [BUSYBOX]),
          "sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done", check=True)
    time.sleep(0.5)
    ours, theirs = both(engine, podman, "ps", "--format", "{{.Names}} {{.Command}}")
    assert ours.stdout.split()[0] == theirs.stdout.split()[0] == "life"
    hdr_ours = engine("ps").stdout.splitlines()[0].split()
    hdr_theirs = podman("ps").stdout.splitlines()[0].split()
    assert hdr_ours == hdr_theirs  # CONTAINER ID IMAGE COMMAND CREATED STATUS PORTS NAMES
    status = engine("ps", "--format", "{{.Status}}").stdout.strip()
    assert re.fullmatch(r"Up (Less than a second|\d+ seconds?)", status), status  # docker's; podman adds "ago"
    same(engine, podman, "exec", "life", "sh", "-c", "echo in exec; exit 5")
    same(engine, podman, "exec", "life", "nonexistent-command")
    same(engine, podman, "stop", "-t", "5", "life")
    same(engine, podman, "logs", "life")
    assert engine("logs", "life").stdout == "started\nbye\n"
    for fmt in ("{{.State.Status}} {{.State.ExitCode}} {{.State.Running}} {{.State.OOMKilled}}",
                "{{json .Config.Cmd}}", "{{.RestartCount}}", "{{.Config.Tty}} {{.Config.OpenStdin}}"):
        same(engine, podman, "inspect", "-f", fmt, "life")
    status = engine("ps", "-a", "--format", "{{.Status}}").stdout.strip()
    assert re.fullmatch(r"Exited \(0\) (Less than a second|\d+ seconds?) ago", status), status
    p = engine("exec", "life", "true", check=False)
    assert p.returncode == 1 and "is not running" in p.stderr
    same(engine, podman, "rm", "life")
    ours, theirs = both(engine, podman, "rm", "life")
    assert ours.returncode != 0 and theirs.returncode != 0 and "No such container" in ours.stderr


def test_create_start_inspect_like_podman(engine, podman):
    args = ["create", "--name", "made", "--network", "none", "--restart", "on-failure:3", "-e", "K=V", "-l", "a=b",
            "--stop-signal", "SIGUSR1", "busybox", "sh", "-c", "exit 2"]
    ours, theirs = both(engine, podman, *args)
    assert ours.returncode == theirs.returncode == 0 and len(ours.stdout.strip()) == 64
    for fmt in ("{{.State.Status}}", "{{json .Config.Cmd}}", "{{json .Config.Labels}}",
                "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
                "{{.State.Pid}} {{.State.ExitCode}}", "{{.Path}} {{json .Args}}"):
        same(engine, podman, "inspect", "-f", fmt, "made")
    assert engine("inspect", "-f", "{{.Name}}", "made").stdout == "/made\n"  # docker's; podman: made
    assert engine("inspect", "-f", "{{.Config.StopSignal}}", "made").stdout == "SIGUSR1\n"  # docker's; podman: 10
    assert "K=V" in engine("inspect", "-f", "{{json .Config.Env}}", "made").stdout
    engine("update", "--restart", "no", "made")  # podman 4.3 has no update --restart
    podman("update", "--restart", "no", "made")
    podman("rm", "made")
    podman(*[BUSYBOX if a == "busybox" else a for a in args[:5] + args[7:]], check=True)
    same(engine, podman, "start", "-a", "made")
    same(engine, podman, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "made")
    same(engine, podman, "wait", "made")
    same(engine, podman, "rm", "made")


def test_logs_like_podman(engine, podman):
    for e, image in ((engine, "busybox"), (podman, BUSYBOX)):
        e("run", "--name", "talker", "--network", "none", image, "sh", "-c",
          "for i in 1 2 3; do echo out$i; sleep 0.05; echo err$i >&2; sleep 0.05; done", check=True)  # ordered
    for args in (["logs", "talker"], ["logs", "--tail", "2", "talker"], ["logs", "--tail", "0", "talker"]):
        ours, theirs = both(engine, podman, *args)
        assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr), args
    ts = engine("logs", "-t", "talker").stdout.splitlines()[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out1", ts), ts
    same(engine, podman, "rm", "talker")


def test_bad_input_like_podman(engine, podman):
    """Each a one-line error; hull exits as docker does (125 for run, 1 when the engine refuses
    another verb), podman 125 or 1-2."""
    engine("run", "-d", "--name", "busy", "busybox", "sleep", "100")
    podman("run", "-d", "--name", "busy", "--network", "none", BUSYBOX, "sleep", "100", check=True)
    p = engine("run", "--cpus", "-1", "busybox", "true", check=False)  # docker refuses it (podman runs it)
    assert p.returncode == 125 and "range of CPUs is from 0.01" in p.stderr
    for args in (["run", "--memory", "abc", "busybox", "true"], ["run", "--restart", "bogus", "busybox", "true"],
                 ["run", "--name", "busy", "busybox", "true"],
                 ["run", "--bogus-flag", "busybox", "true"], ["run", "127.0.0.1:9/no/such-image:here", "true"],
                 ["run", "BAD/ref", "true"], ["rm", "busy"], ["exec", "nosuch", "true"],
                 ["run", "--env-file", "/no/such/file", "busybox", "true"]):
        ours, theirs = both(engine, podman, *args)
        # docker's codes: run's own failure 125; what the engine refuses for rm and exec 1
        assert ours.returncode == (125 if args[0] == "run" else 1) and theirs.returncode != 0, (args, ours, theirs)
        lines = ours.stderr.strip().splitlines()  # a pull says what it tried before the error
        assert lines[-1].startswith("Error: ") and "Traceback" not in ours.stderr, (args, ours.stderr)
        assert len(lines) == 1 or lines[0].startswith("Unable to find image"), (args, ours.stderr)
    ours, theirs = both(engine, podman, "start", "busy")  # starting a running container is a no-op
    assert ours.returncode == theirs.returncode == 0 and ours.stdout == "busy\n"  # docker prints it; podman not
    names = engine("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert names == ["busy"]  # no failed run left a container behind
    podman("rm", "-f", "busy")


def test_ports_like_podman(engine, podman):
    """hull port, the PORTS column and NetworkSettings.Ports, on the same -p flags (each engine in a
    network namespace of its own)."""
    for e, image in ((engine, "busybox"), (podman, BUSYBOX)):
        e("run", "-d", "--name", "pub", "-p", "18081:80", "-p", "127.0.0.1:18082:81/udp", image, "sleep", "100",
          check=True)
    ours, theirs = both(engine, podman, "port", "pub")
    assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())  # podman's order varies
    assert ours.stdout == "80/tcp -> 0.0.0.0:18081\n81/udp -> 127.0.0.1:18082\n"  # docker's: by port
    same(engine, podman, "port", "pub", "80")
    same(engine, podman, "port", "pub", "81/udp")
    ours, theirs = both(engine, podman, "ps", "--format", "{{.Ports}}")
    assert ours.stdout == "0.0.0.0:18081->80/tcp, 127.0.0.1:18082->81/udp\n"  # docker's order: by port
    assert sorted(theirs.stdout.strip().split(", ")) == sorted(ours.stdout.strip().split(", "))
    ours, theirs = both(engine, podman, "inspect", "-f", "{{json .NetworkSettings.Ports}}", "pub")
    import json
    theirs = {k: [{**b, "HostIp": b["HostIp"] or "0.0.0.0"} for b in v] for k, v in json.loads(theirs.stdout).items()}
    assert json.loads(ours.stdout) == theirs  # docker's HostIp is 0.0.0.0 where podman leaves it empty
    ours, theirs = both(engine, podman, "inspect", "-f", "{{.NetworkSettings.IPPrefixLen}} "
                        "{{len .NetworkSettings.Networks}}", "pub")
    assert ours.stdout.split()[1] == theirs.stdout.split()[1] == "1"
    podman("rm", "-f", "-t", "0", "pub")
