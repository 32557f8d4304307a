"""The error map (runtime/errors.py) seen from the command line: the kind of a failure, not the
words of its message, picks the exit code, whichever process found it (the container's init, an
exec's joiner, the monitor) and whichever verb reported it; and `stop -s` sends the signal asked."""
import pytest

from helpers import inspect, wait_for

pytestmark = pytest.mark.root

# a file whose path says "not found" but that exists without the execute bit: 126, not 127
SETUP = "mkdir -p '/not found' && echo 'echo hi' > '/not found/x' && chmod 644 '/not found/x'"
CASES = ((["nonexistent-command"], 127), (["/not found/x"], 126), (["/etc"], 126))


def test_126_and_127_through_every_door(engine):
    engine("run", "--name", "base", "--network", "none", "busybox", "sh", "-c", SETUP)
    engine("commit", "base", "withfile")
    for argv, code in CASES:
        p = engine("run", "--rm", "--network", "none", "withfile", *argv, check=False)
        assert p.returncode == code, ("run", argv, p.stderr)
        p = engine("run", "-d", "--rm", "--network", "none", "withfile", *argv, check=False)  # the monitor's reply
        assert p.returncode == code, ("run -d", argv, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        cid = engine("create", "--network", "none", "withfile", *argv).stdout.strip()
        p = engine("start", "-a", cid, check=False)
        assert p.returncode == code, ("start -a", argv, p.stderr)
        assert inspect(engine, cid, "{{.State.ExitCode}}") == str(code)
        p = engine("start", cid, check=False)
        assert p.returncode == 1, ("start", argv, p.stderr)  # docker's start: the engine refused, 1
        engine("rm", "-f", cid)
    engine("run", "-d", "--name", "up", "--network", "none", "withfile", "sleep", "60")
    for argv, code in CASES:
        p = engine("exec", "up", *argv, check=False)  # the joiner's report
        assert p.returncode == code, ("exec", argv, p.stderr)
    engine("rm", "-f", "up", "base")
    engine("rmi", "withfile")


def test_stop_with_a_signal_sends_that_signal(engine):
    engine("run", "-d", "--name", "trap", "--network", "none", "busybox", "sh", "-c",
           "trap 'echo usr1; exit 3' USR1; trap 'echo term; exit 4' TERM; echo ready; "
           "while :; do sleep 0.1; done")
    wait_for(lambda: "ready" in engine("logs", "trap").stdout, "the traps to be set")
    engine("stop", "-s", "USR1", "-t", "5", "trap")
    assert engine("logs", "trap").stdout.split() == ["ready", "usr1"]
    assert inspect(engine, "trap", "{{.State.ExitCode}}") == "3"
    assert engine("stop", "-s", "NOSUCHSIG", "trap", check=False).returncode == 1
    engine("rm", "trap")
