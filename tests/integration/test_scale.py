"""hull at scale and over time (issue 29): many file descriptors, many containers stopped at once,
many runs in a row, a full disk, a prune beside a build. The figures (1,000 containers, 10,000
runs, MB/s) are scripts/bench's `scale` and `soak`; here are the properties, on smaller counts.
"""
import os
import subprocess
import sys
import time

import pytest

from helpers import Hull, cgroup_dirs, inspect, monitor_pid, mounts, wait_for

pytestmark = pytest.mark.root

# Run the command given after it with HIGH file descriptors open (inherited), so every descriptor
# it opens itself is numbered above select()'s limit of 1024.
HIGH = 1100
WITH_HIGH_FDS = ("import os, sys\n"
                 "fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(%d)]\n"
                 "for fd in fds: os.set_inheritable(fd, True)\n"
                 "os.execvp(sys.argv[1], sys.argv[1:])\n" % HIGH)


def with_high_fds(cmd: list) -> list:
    return [sys.executable, "-c", WITH_HIGH_FDS] + cmd


def test_hull_oci_run_with_descriptors_above_1024(oci, bundle):
    """The exec fifo and the pidfd get numbers above 1024: waiting on them must still work, and
    none of the caller's descriptors reach the container."""
    path = bundle.args("ls", "/proc/self/fd").save()
    p = subprocess.run(with_high_fds(oci.cmd("run", "-b", path, "hi")), capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert max(int(fd) for fd in p.stdout.split()) < 10, p.stdout


def test_foreground_run_with_descriptors_above_1024(engine):
    """A foreground run relays the container's output with descriptors above 1024."""
    cmd = engine.cmd("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    n = len(engine.prefix)
    p = subprocess.run(cmd[:n] + with_high_fds(cmd[n:]), capture_output=True, text=True, timeout=60, env=engine.env)
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")


def test_one_stop_of_many_records_every_exit(engine):
    """`hull stop $(hull ps -q)`: pid 1 ignores SIGTERM, so each waits its timeout and is killed;
    they are stopped side by side (docker's CLI stops 50 at a time), reported in the order given,
    and every exit code is recorded although the exits come as one burst to the one monitor."""
    names = [f"s{i}" for i in range(8)]
    for name in names:
        engine("run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "1000")
    p = engine("stop", "-t", "1", *names)
    assert p.stdout.split() == names
    for name in names:
        assert engine("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name).stdout.split() == ["exited", "137"]
    engine("rm", *names)


def test_the_first_limit_a_root_meets_says_what_it_is(engine):
    """The monitor's open files, 3 per running container: with a hard limit of 64 (the shell that
    started it), a run -d past it fails with an error that says so, not `Too many open files`,
    and works again once containers go."""
    low = ["prlimit", "--nofile=64:64"]
    n = len(engine.prefix)
    started, refused = [], None
    for _ in range(40):
        cmd = engine.cmd("run", "-d", "--ulimit", "nofile=32:32", "--network", "none", "busybox", "sleep", "1000")
        p = subprocess.run(cmd[:n] + low + cmd[n:], capture_output=True, text=True, env=engine.env, timeout=60)
        if p.returncode:
            refused = p
            break
        started.append(p.stdout.strip())
    assert refused is not None and refused.returncode == 125, "40 containers fit in 64 descriptors?"
    assert "no file descriptor left (its limit is 64" in refused.stderr, refused.stderr
    assert len(started) >= 10
    engine("rm", "-f", *started[:3])
    cmd = engine.cmd("run", "-d", "--ulimit", "nofile=32:32", "--network", "none", "busybox", "sleep", "1000")
    started.append(subprocess.run(cmd[:n] + low + cmd[n:], capture_output=True, text=True, env=engine.env,
                                  check=True, timeout=60).stdout.strip())
    engine("rm", "-f", *engine("ps", "-aq").stdout.split())


def _census(engine) -> dict:
    """What a run may leave behind, counted: on the machine, in the root, in the test's netns, in the monitor."""
    root = engine.root
    pid = monitor_pid(root)
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    entries = sorted(os.path.relpath(os.path.join(d, x), root) for d, ds, fs in os.walk(root) for x in ds + fs)
    ns = engine.netns
    return {"mounts": len(mounts()), "cgroups": len(cgroup_dirs()), "root": entries,
            "links": ns.run("ip", "-o", "link", capture_output=True, text=True).stdout.count("\n"),
            "nft": ns.run("nft", "list", "ruleset", capture_output=True, text=True).stdout.count("\n"),
            "run": len(os.listdir("/run")), "fds": len(os.listdir(f"/proc/{pid}/fd")), "rss": rss}


def _same(first: dict, last: dict, what: str) -> None:
    for key in ("mounts", "cgroups", "run", "fds", "root", "links", "nft"):
        assert last[key] == first[key], (what, key, first[key], last[key])
    assert last["rss"] - first["rss"] < 2048, f"{what}: monitor RSS grew from {first['rss']} kB to {last['rss']} kB"


SOAK = int(os.environ.get("HULL_SOAK_ROUNDS", "150"))


def test_soak_nothing_grows(engine):
    """Many `run --rm` in a row, then run -d + rm -f on the default bridge: after a warm-up nothing
    grows (mounts, cgroups, root entries, links, nftables lines, /run, the monitor's fds and memory)."""
    engine("run", "-d", "--network", "none", "--name", "keeper", "busybox", "sleep", "1000")  # keeps the monitor
    warm = 10
    for i in range(SOAK):
        if i == warm:
            first = _census(engine)
        engine("run", "--rm", "--network", "none", "busybox", "true")
    _same(first, _census(engine), "run --rm")
    rounds = max(SOAK // 5, 10)
    for name in ("warm1", "warm2"):  # the bridge, its rules and set made, the monitor's netlink code loaded
        engine("run", "-d", "--name", name, "busybox", "sleep", "100")
        engine("rm", "-f", name)
    first = _census(engine)
    for i in range(rounds):
        engine("run", "-d", "--name", f"k{i}", "busybox", "sleep", "100")
        engine("rm", "-f", f"k{i}")
    _same(first, _census(engine), "run -d + rm -f")
    engine("rm", "-f", "keeper")


def test_a_log_flood_beside_quiet_neighbours(engine):
    """A container printing as fast as it can: its quiet neighbours' logs are whole while it goes
    on (the monitor takes a read from each in turn), its log stays within max-size x max-file, and
    what rotation keeps has no gap (nothing lost but what the policy let go)."""
    flood = engine("run", "-d", "--network", "none", "--log-opt", "max-size=1m", "--log-opt", "max-file=2",
                   "busybox", "seq", "1", "1000000000").stdout.strip()
    path = inspect(engine, flood, "{{.LogPath}}")
    wait_for(lambda: os.path.exists(path + ".1"), "the flood's first rotation")
    quiet = [engine("run", "-d", "--network", "none", "busybox", "sh", "-c",
                    f"for i in 1 2 3 4 5 6 7 8 9 10; do echo q{n}-$i; sleep 0.1; done").stdout.strip()
             for n in range(3)]
    for n, cid in enumerate(quiet):  # follows each to its end: the flood must not hold them back
        out = engine("logs", "-f", cid, timeout=120).stdout
        assert out.split() == [f"q{n}-{i}" for i in range(1, 11)]
    assert inspect(engine, flood, "{{.State.Status}}") == "running"
    for _ in range(3):  # while it floods, and across rotations
        sizes = [os.path.getsize(p) for p in (path, path + ".1") if os.path.exists(p)]
        assert sum(sizes) <= 2 * (1 << 20) and not os.path.exists(path + ".2"), sizes
        time.sleep(0.5)
    engine("stop", "-t", "0", flood)
    numbers = [int(line) for line in engine("logs", flood).stdout.split()][:-1]  # the last: cut by the kill
    assert len(numbers) > 1000 and numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    engine("rm", flood, *quiet)


@pytest.fixture
def small_root(tmp_path, busybox_tar):
    """A hull root on a 40 MiB tmpfs holding busybox: a disk a container can fill."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m,nr_inodes=4000", "tmpfs", str(mnt)], check=True)
    hull = Hull(mnt / "root", env={"HULL_MONITOR_IDLE": "0.2"})
    try:
        hull("import", "-c", 'CMD ["sh"]', busybox_tar, "busybox")
        yield hull, str(mnt)
    finally:
        left = hull("ps", "-aq", check=False).stdout.split()
        if left:
            hull("rm", "-f", *left, check=False)
        wait_for(lambda: not subprocess.run(["fuser", "-m", str(mnt)], capture_output=True).stdout.strip(),
                 "the monitor of the small root to leave", 15)
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def _free(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_a_container_filling_the_disk(small_root):
    """A container that fills the root's disk by writing to its layer, and one that fills it with
    output: each run --rm ends with the container's own exit code, removes the container and gives
    the space back; the records stay true and the next run works."""
    hull, mnt = small_root
    free = _free(mnt)
    p = hull("run", "--rm", "--network", "none", "busybox", "sh", "-c",
             "dd if=/dev/zero of=/big bs=1M count=100 2>/dev/null; echo dd=$?", check=False)
    assert (p.returncode, p.stdout) == (0, "dd=1\n"), p.stderr
    p = subprocess.run(hull.cmd("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                                "yes hull-fills-the-disk | head -c 100000000; exit 7"),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=hull.env, timeout=120)
    assert p.returncode == 7, p.stderr
    assert hull("ps", "-aq").stdout == ""
    assert _free(mnt) > free - (2 << 20), "the space the containers used was not given back"
    assert hull("run", "--rm", "--network", "none", "busybox", "echo", "ok").stdout == "ok\n"
    assert "busybox" in hull("images").stdout
    hull("system", "df")


def test_a_detached_container_filling_the_disk_with_output(small_root):
    """Its log stops growing when the disk is full (records are dropped whole, as docker's
    json-file drops them), the monitor goes on, and rm gives the space back."""
    hull, mnt = small_root
    free = _free(mnt)
    hull("run", "-d", "--network", "none", "--name", "flood", "busybox", "sh", "-c",
         "yes hull-fills-the-disk | head -c 100000000; echo done; sleep 1000")
    wait_for(lambda: _free(mnt) < 1 << 20, "the disk to fill")
    time.sleep(1)
    assert hull("inspect", "-f", "{{.State.Status}}", "flood").stdout == "running\n"
    tail = hull("logs", "--tail", "3", "flood").stdout.splitlines()
    assert tail and all(line == "hull-fills-the-disk" for line in tail), tail  # whole records only
    hull("rm", "-f", "flood")
    # the space comes back when the monitor, having reaped the container, closes its log
    wait_for(lambda: _free(mnt) > free - (2 << 20), "the flood's space to come back", 15)
    assert hull("run", "--rm", "--network", "none", "busybox", "echo", "ok").stdout == "ok\n"


def _store_true(hull, mnt) -> None:
    """The records after a refused command: only busybox, no container, nothing in the store's tmp/."""
    assert hull("images", "--format", "{{.Repository}}").stdout.split() == ["busybox"]
    df = {line.split()[0]: line.split()[1] for line in hull("system", "df").stdout.splitlines()[1:]}
    assert (df["Images"], df["Containers"]) == ("1", "0"), df
    tmp = os.path.join(hull.root, "images", "tmp")
    assert not os.path.isdir(tmp) or not os.listdir(tmp), os.listdir(tmp)


def _one_line_enospc(p) -> None:
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on device" in lines[0].lower(), p.stderr


def test_build_commit_and_cp_meeting_a_full_disk(small_root, tmp_path):
    """Each refused with one line naming ENOSPC, the store and records as before, and each works
    once the space is back."""
    hull, mnt = small_root
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN head -c 20000000 /dev/urandom > /big\n")
    _one_line_enospc(hull("build", "--network", "none", "-t", "big", str(ctx), check=False, timeout=120))
    assert hull("ps", "-aq").stdout == ""
    _store_true(hull, mnt)
    hull("run", "-d", "--network", "none", "--name", "fat", "busybox", "sh", "-c",
         "head -c 20000000 /dev/urandom > /big && touch /done; sleep 1000")
    wait_for(lambda: hull("exec", "fat", "ls", "/done", check=False).returncode == 0, "the layer to fill")
    _one_line_enospc(hull("commit", "fat", "fatimage", check=False, timeout=120))
    with open(tmp_path / "payload", "wb") as f:
        f.write(os.urandom(20 << 20))
    _one_line_enospc(hull("cp", str(tmp_path / "payload"), "fat:/payload", check=False, timeout=120))
    assert hull("inspect", "-f", "{{.State.Status}}", "fat").stdout == "running\n"
    hull("rm", "-f", "fat")
    _store_true(hull, mnt)
    # the inode limit (4,000 on this disk): a directory of 5,000 empty files
    many = tmp_path / "many"
    many.mkdir()
    for i in range(5000):
        (many / str(i)).touch()
    hull("run", "-d", "--network", "none", "--name", "thin", "busybox", "sleep", "1000")
    _one_line_enospc(hull("cp", str(many), "thin:/many", check=False, timeout=120))
    hull("rm", "-f", "thin")
    _store_true(hull, mnt)
    # space again: all of it works
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo small > /small\n")
    hull("build", "--network", "none", "-t", "small", str(ctx), timeout=120)
    hull("run", "-d", "--network", "none", "--name", "ok", "small", "sleep", "1000")
    hull("cp", str(ctx / "Dockerfile"), "ok:/Dockerfile")
    hull("commit", "ok", "committed")
    assert hull("run", "--rm", "--network", "none", "committed", "cat", "/small", "/Dockerfile").stdout.startswith("small\nFROM")
    hull("rm", "-f", "ok")


def test_clients_of_mixed_commands_on_one_root(engine, tmp_path):
    """HULL_CLIENTS (6) clients for HULL_MIXED_SECONDS (30) running, committing, building, pulling
    and removing on one root while one prunes: nothing fails but for a real conflict, nothing
    hangs, and what is left is true (scripts/bench concurrent: 20 clients, 5 minutes)."""
    import workloads
    from registries import RegistryServer
    netns = next(a.split("=", 1)[1] for a in engine.prefix if a.startswith("--net="))
    registry = RegistryServer(tmp_path, netns=netns)  # on the loopback of the engine's namespace
    try:
        clients = int(os.environ.get("HULL_CLIENTS") or 6)
        refs = workloads.push_images(engine.cmd(), engine.env, registry.addr, clients)
        counts, faults = workloads.mixed(engine.cmd(), engine.env, refs, workloads.build_context(tmp_path / "ctx"),
                                         float(os.environ.get("HULL_MIXED_SECONDS") or 30))
    finally:
        registry.stop()
    assert not faults, "\n".join(faults[:10])
    assert counts.get("build", 0) >= clients - 1 and counts.get("pull", 0) >= clients - 1, counts  # (one prunes)
    assert engine("ps", "-aq").stdout == ""  # every client removed what it made
    for ref in engine("images", "--format", "{{.ID}}").stdout.split():
        engine("image", "inspect", ref)  # every image listed is whole
    engine("system", "prune", "-af")
    assert engine("images", "-q").stdout == ""
    store = os.path.join(engine.root, "images")
    assert os.listdir(os.path.join(store, "tmp")) == []
    assert os.listdir(os.path.join(store, "layers")) == [], "layers no image holds"


def test_prune_beside_a_build_leaves_what_the_build_is_making(engine, tmp_path):
    """`system prune -af` while a build runs a step: the build's work in the store's tmp/ and its
    steps' layers stay (pruning them used to fail the build); the next prune frees what is unused."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo one > /one && sleep 3\nRUN cat /one > /two\n")
    build = subprocess.Popen(engine.cmd("build", "--network", "none", "-t", "made", str(ctx)), env=engine.env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    for line in build.stdout:
        seen += line
        if line.startswith("Step 2/3"):
            break
    time.sleep(1)  # inside the RUN step
    engine("system", "prune", "-af")
    seen += build.stdout.read()
    assert build.wait(timeout=120) == 0, seen
    assert engine("run", "--rm", "--network", "none", "made", "cat", "/two").stdout == "one\n"
    engine("rmi", "made")
    engine("system", "prune", "-af")
    assert os.listdir(os.path.join(engine.root, "images", "tmp")) == []
