"""Every value-taking flag of `hull run`, given wrong and hostile values (issue 25): each run either
works or fails with one line in docker's words and docker's exit code, and leaves nothing behind
(no container, no volume; the `engine` fixture checks mounts, cgroups and processes).

Not a list of expected messages: what this asserts is the shape every refusal must have, so a new
flag or a new check cannot leak a Python exception, an OCI config field the user never wrote, or a
`Created` container of a failed `--rm`.
"""
import pytest

HOSTILE = ["", "-1", "0", "99999999999999999999", "x", "..", "../../etc", "/etc/passwd", "a\x01b", "a\nb",
           "é" * 300]
# flags whose values never reach the kernel or a file (their hostile values are fine as data)
FREE = {"--env", "--label", "--env-file", "--platform"}
# what may leak into a message only when the user typed it
INTERNALS = ("Errno", "config.json", "Traceback", "internal error", "mount(", "sethostname(", "linux.", "process.")


def _value_flags():
    from runtime.cli.run import RUN_FLAGS
    return [f"--{f.name}" for f in RUN_FLAGS if f.value and f.name not in ("pull", "net")]


def test_every_run_flag_refuses_bad_values_cleanly(engine):
    bad = []
    for flag in _value_flags():
        for value in HOSTILE:
            p = engine("run", "--rm", "--network", "none", "--pull", "never", flag, value, "busybox", "true",
                       check=False, timeout=60) if flag != "--network" else \
                engine("run", "--rm", "--pull", "never", flag, value, "busybox", "true", check=False, timeout=60)
            case = f"{flag} {value[:20]!r}"
            lines = p.stderr.strip().splitlines()
            allowed = {0, 125} | ({126, 127} if flag == "--entrypoint" else set())
            if p.returncode not in allowed:
                bad.append(f"{case}: exit {p.returncode}: {p.stderr.strip()[:200]}")
            elif p.returncode != 0 and (len(lines) != 1 or not lines[0].startswith("Error: ")):
                bad.append(f"{case}: not one line: {p.stderr.strip()[:300]!r}")
            elif p.returncode != 0 and any(word in p.stderr and word not in value for word in INTERNALS):
                bad.append(f"{case}: internals in the message: {p.stderr.strip()[:200]}")
            left = engine("ps", "-aq").stdout.split() + engine("volume", "ls", "-q").stdout.split()
            if left:
                bad.append(f"{case}: left behind {left} (exit {p.returncode}: {p.stderr.strip()[:120]})")
                engine("rm", "-f", *engine("ps", "-aq").stdout.split(), check=False)
                engine("volume", "prune", "-f", check=False)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("args,words", [
    (["-u", "nosuchuser"], "unable to find user nosuchuser"),
    (["-w", "/etc/passwd"], "not a directory"),
    (["-v", "/etc/passwd:/bin"], "not a directory"),
    (["-w", "x"], "absolute path"),
    (["--cpuset-cpus", "x"], "cpuset"),
    (["--sysctl", "x"], "sysctl"),
    (["-m", "-1"], "memory"),
    (["--shm-size", "-1"], "SHM size"),
    (["--tmpfs", "/etc/passwd"], "/etc/passwd"),
    (["-h", "h" * 600], "hostname"),
])
def test_failed_run_rm_leaves_nothing(engine, args, words):
    """The issue's cases, each named: docker's exit code, a message about what the user typed, no
    `Created` container left by a --rm run whose start failed."""
    p = engine("run", "--rm", "--network", "none", *args, "busybox", "true", check=False)
    assert p.returncode == 125, p.stderr
    assert words in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert engine("ps", "-aq").stdout == ""


def test_run_it_with_a_pipe_is_not_a_tty(engine):
    """`echo x | docker run -it busybox cat`: the input device is not a TTY, exit 1, nothing made."""
    p = engine("run", "-it", "--rm", "busybox", "cat", input="x\n", check=False, timeout=20)
    assert p.returncode == 1 and p.stderr.strip() == "the input device is not a TTY", p.stderr
    assert engine("ps", "-aq").stdout == ""
