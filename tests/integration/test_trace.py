"""`hull --trace`: one stream, in order, of what every process of a command asks of the kernel and
the wire: the hull command, the monitor working for it, the container's init up to execve. Checked
against what the kernel was asked for (cgroup files, the overlay mount, the veth and nft element of
a published port), and that the trace never leaks into the container (its output, its log) or into
later untraced commands."""
import json
import re

import pytest

pytestmark = pytest.mark.root

LINE = re.compile(r"^hull-trace \+(\d+\.\d)ms pid=(\d+)(?:\((\d+)\))? (.*)$")


def traced(text: str) -> list:
    """(ms, host pid, pid inside or None, step) of each trace line."""
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out.append((float(m.group(1)), int(m.group(2)), m.group(3) and int(m.group(3)), m.group(4)))
    return out


def first(lines: list, pattern: str) -> int:
    for i, (_, _, _, step) in enumerate(lines):
        if re.search(pattern, step):
            return i
    raise AssertionError(f"no trace line matches {pattern!r}")


@pytest.mark.v2  # cgroup v2 writes narrated too (scripts/vm-test)
def test_a_run_is_narrated_from_the_command_through_the_monitor_to_execve(engine):
    p = engine("--trace", "run", "--rm", "-m", "32m", "-p", "127.0.0.1:18080:80", "busybox", "echo", "hello")
    assert p.stdout == "hello\n"  # the container's output is its own: no trace line in it
    lines = traced(p.stderr)
    assert lines, p.stderr
    assert all(LINE.match(x) for x in p.stderr.splitlines()), p.stderr  # nothing else on stderr
    # the kernel steps, in the order they happen
    order = [first(lines, r"^# monitor request: start"),
             first(lines, r"^mount\('overlay', .*lowerdir=.*upperdir="),
             first(lines, r"^write\('/sys/fs/cgroup/.*memory.*', '33554432'\) = ok"),
             first(lines, r"^unshare\(CLONE_NEWNS.*CLONE_NEWPID.*\) = 0"),
             first(lines, r"^pivot_root\("),
             first(lines, r"^RTM_NEWLINK .*'kind': 'veth'"),
             first(lines, r"^RTM_NEWLINK .*'net_ns_fd': 'net:\[\d+\]'"),
             first(lines, r"^nft add element .* 127\.0\.0\.1 \. tcp \. 18080 : 172\.\d+\.\d+\.\d+ \. 80"),
             first(lines, r"^# execve\('/bin/echo'"),
             first(lines, r"^# monitor: init \d+ of \w+ reaped: exit code 0"),
             first(lines, r"^# monitor: exit recorded, container removed")]
    assert order == sorted(order), order
    # three processes: the command, the monitor, the init (named by its host pid and its pid 1)
    client = lines[order[0]][1]
    monitor = lines[order[-1]][1]
    init = lines[first(lines, r"^pivot_root\(")]
    assert client != monitor and init[2] == 1 and init[1] not in (client, monitor)
    # each line says where to read more
    assert re.search(r"unshare\(.*  see unshare\(2\)$", p.stderr, re.M)
    assert re.search(r"memory.* = ok \(\d+\.\d+ms\)  see cgroups\(7\)$", p.stderr, re.M)
    assert re.search(r"^hull-trace .*RTM_NEWLINK .*  see rtnetlink\(7\)$", p.stderr, re.M)
    # an untraced command afterwards (the same monitor, still running) narrates nothing
    p = engine("run", "--rm", "--network", "none", "busybox", "true")
    assert "hull-trace" not in p.stderr


def test_json_lines_and_the_environment_variable(engine):
    p = engine("--trace=json", "run", "--rm", "--network", "none", "busybox", "true")
    records = [json.loads(line) for line in p.stderr.splitlines()]
    assert {"t_ms", "pid", "kind", "step", "result", "took_ms", "see"} <= set(records[0])
    kinds = {r["kind"] for r in records}
    assert {"syscall", "cgroup", "monitor"} <= kinds, kinds
    assert any(r["step"].startswith("pivot_root(") and r["result"] == "0" and r["see"] == "pivot_root(2)"
               for r in records)
    engine.env["HULL_TRACE"] = "1"
    try:
        p = engine("run", "-d", "--name", "quiet", "--network", "none", "busybox", "sh", "-c", "echo out; sleep 30")
    finally:
        del engine.env["HULL_TRACE"]
    assert "hull-trace" in p.stderr and "execve(" in p.stderr
    logs = engine("logs", "quiet").stdout
    assert logs == "out\n"  # the trace went to the command's stderr, never to the container's
    assert engine("--trace=yaml", "ps", check=False).returncode == 125
    engine("rm", "-f", "quiet")


def test_pull_build_and_cache_decisions_are_narrated(engine, tmp_path):
    from registries import RegistryServer
    reg = RegistryServer(str(tmp_path), netns=engine.netns.path)
    try:
        name = f"127.0.0.1:{reg.port}/traced:1"
        engine("tag", "busybox", name)
        engine("push", name)
        engine("rmi", name)
        engine("rmi", "busybox")
        p = engine("--trace", "pull", name)
        assert re.search(rf"^hull-trace .* GET http://127\.0\.0\.1:{reg.port}/v2/traced/manifests/1 = 200 .*see the OCI "
                         "distribution spec$", p.stderr, re.M), p.stderr
        assert re.search(r"^hull-trace .* unpack layer sha256:\w+ into .* = \d+ bytes", p.stderr, re.M), p.stderr
    finally:
        reg.stop()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {name}\nRUN echo built > /built\nENV A=1\n")
    p = engine("--trace", "build", "-t", "t1", str(ctx))
    assert re.search(r"# build step 2/3: RUN echo built", p.stderr) and "build cache: miss" in p.stderr
    assert re.search(r"^hull-trace .* # execve\('/bin/sh', \['/bin/sh', '-c', 'echo built > /built'\]\)", p.stderr, re.M), p.stderr
    p = engine("--trace", "build", "-t", "t1", str(ctx))
    assert p.stderr.count("build cache: hit") == 2 and "build cache: miss" not in p.stderr, p.stderr
    (ctx / "Dockerfile").write_text(f"FROM {name}\nRUN echo built > /built\nENV A=2\n")
    p = engine("--trace", "build", "-t", "t1", str(ctx))
    assert p.stderr.count("build cache: hit") == 1 and p.stderr.count("build cache: miss") == 1, p.stderr
