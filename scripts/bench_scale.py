"""scripts/bench's `scale` and `soak` cases: how hull's costs grow with the number of containers on
one root and over many runs, beside podman's with the same containers. Only reported, never asserted;
tests/integration/test_scale.py asserts the properties (nothing left, nothing grows) on smaller counts.
"""
import concurrent.futures
import os
import statistics
import subprocess
import time

from helpers import monitor_pid  # tests/helpers.py: scripts/bench puts tests/ on the path first

PARALLEL = 50  # `run -d` commands in flight at once, as a CI job starting a fleet would


def _timed(cmd, env) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if p.returncode:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode().strip()}")
    return (time.perf_counter() - t) * 1000


def _median_ms(cmd, env, n=5) -> float:
    return statistics.median(_timed(cmd, env) for _ in range(n))


def _start(cmd_of, env, first, last) -> list:
    """Start containers first..last-1, PARALLEL at a time; each one's wall time in ms."""
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(lambda i: _timed(cmd_of(i), env), range(first, last)))


def _fds(pid) -> int:
    return len(os.listdir(f"/proc/{pid}/fd")) if pid else 0


def _pss_kb(pid) -> int:
    if not pid:
        return 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))


def _ids(prefix, env, *flags) -> list:
    return subprocess.run(prefix + ["ps", "-q", *flags], capture_output=True, text=True, env=env).stdout.split()


def scale(hull, env, root, podman, image, count=1000, checkpoints=(10, 100, 1000)) -> None:
    """count detached `sleep` containers on each engine (--network none); at each checkpoint the
    time per start and of ps / ps -a --format / inspect; then one stop of all, and rm of all."""
    engines = {"hull": (hull, env, "busybox"), "podman": (podman.cmd(), podman.env, image)}
    points = sorted({n for n in checkpoints if n < count} | {count})
    print(f"{count} detached containers per engine (--network none), {PARALLEL} `run -d` in flight")
    rows = {name: [] for name in engines}
    for name, (prefix, e, img) in engines.items():
        started = 0
        for n in points:
            times = _start(lambda i: prefix + ["run", "-d", "--network", "none", "--name", f"s{i}", img, "sleep", "3600"],
                           e, started, n)
            started = n
            last = times[-min(len(times), PARALLEL):]
            one = "s0"
            row = {"n": n, "start": statistics.median(last),
                   "ps": _median_ms(prefix + ["ps"], e),
                   "ps-a": _median_ms(prefix + ["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"], e),
                   "inspect": _median_ms(prefix + ["inspect", one], e)}
            if name == "hull":
                pid = monitor_pid(root)
                row["monitor"] = (_pss_kb(pid), _fds(pid))
            rows[name].append(row)
        listed = len(_ids(prefix, e))
        t = time.perf_counter()
        subprocess.run(prefix + ["stop", "-t", "1"] + _ids(prefix, e), stdout=subprocess.DEVNULL, env=e, check=True)
        stop_s = time.perf_counter() - t
        statuses = subprocess.run(prefix + ["ps", "-a", "--format", "{{.Status}}"], capture_output=True, text=True,
                                  env=e).stdout.splitlines()
        recorded = sum(s.startswith("Exited (137)") for s in statuses)
        t = time.perf_counter()
        subprocess.run(prefix + ["rm"] + _ids(prefix, e, "-a"), stdout=subprocess.DEVNULL, env=e, check=True)
        rm_s = time.perf_counter() - t
        print(f"  {name}: {listed} listed by ps; one `stop -t 1` of all {stop_s:.1f} s, {recorded} exit codes "
              f"137 recorded; one `rm` of all {rm_s:.1f} s; {len(_ids(prefix, e, '-a'))} left")
    print(f"  {'N':>5} {'engine':<7} {'start ms':>9} {'ps ms':>8} {'ps -a ms':>9} {'inspect ms':>11}   monitor")
    for i, n in enumerate(points):
        for name in engines:
            r = rows[name][i]
            mon = ""
            if "monitor" in r:
                pss, fds = r["monitor"]
                mon = f"PSS {pss / 1024:.1f} MB, {fds} fds ({fds / n:.2f} per container)"
            print(f"  {n:>5} {name:<7} {r['start']:9.1f} {r['ps']:8.1f} {r['ps-a']:9.1f} {r['inspect']:11.1f}   {mon}")
    for key in ("start", "ps", "ps-a", "inspect"):
        ratios = ", ".join(f"N={r['n']} {r[key] / p[key]:.2f}x" for r, p in zip(rows["hull"], rows["podman"]))
        print(f"  ratio hull/podman {key}: {ratios}")


def bridge(hull, env, podman, image, count=200) -> None:
    """count detached containers on each engine's default bridge (each engine in a netns of its own)."""
    print(f"{count} detached containers on the default bridge")
    # podman 4.3's rm -f waits the stop timeout for a pid 1 that ignores SIGTERM: -t 0 as hull's does not wait
    for name, prefix, e, img, rm in (("hull", hull, env, "busybox", ["rm", "-f"]),
                                     ("podman", podman.cmd(), podman.env, image, ["rm", "-f", "-t", "0"])):
        t = time.perf_counter()
        times = _start(lambda i: prefix + ["run", "-d", "--name", f"b{i}", img, "sleep", "3600"], e, 0, count)
        wall = time.perf_counter() - t
        listed = len(_ids(prefix, e))
        subprocess.run(prefix + rm + _ids(prefix, e, "-a"), stdout=subprocess.DEVNULL, env=e, check=True)
        print(f"  {name:<7} start median {statistics.median(times):7.1f} ms, all {count} in {wall:.1f} s; "
              f"{listed} listed; {len(_ids(prefix, e, '-a'))} left after rm -f")


def soak(hull, env, root, runs=10000, detached=2000) -> None:
    """runs `run --rm --network none` in a row, then `detached` run -d + rm -f on the default bridge:
    the time per run and what the root, the machine and the monitor hold, at the start and the end."""
    def census() -> dict:
        with open("/proc/self/mountinfo") as f:
            mounts = sum(1 for line in f)
        pid = monitor_pid(root)
        tmp = os.path.join(root, "images", "tmp")
        return {"mounts": mounts, "root entries": sum(len(fs) + len(ds) for _, ds, fs in os.walk(root)),
                "store tmp": len(os.listdir(tmp)) if os.path.isdir(tmp) else 0,
                "monitor fds": _fds(pid), "monitor PSS kB": _pss_kb(pid)}
    # one container kept running, so the one monitor lives through the soak and can be watched
    subprocess.run(hull + ["run", "-d", "--network", "none", "--name", "keeper", "busybox", "sleep", "100000"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        for what, cmd_of, n in (
                ("run --rm --network none busybox true", lambda i: hull + ["run", "--rm", "--network", "none", "busybox", "true"], runs),
                ("run -d + rm -f on the default bridge", lambda i: ["sh", "-c", " ".join(
                    hull + ["run", "-d", "--name", f"k{i}", "busybox", "sleep", "100"]) + " >/dev/null && " + " ".join(
                    hull + ["rm", "-f", f"k{i}"]) + " >/dev/null"], detached)):
            window = max(1, min(100, n // 10))
            times, first = [], None
            for i in range(n):
                times.append(_timed(cmd_of(i), env))
                if i == window - 1:
                    first = census()
            last = census()
            print(f"soak: {n} x {what}")
            print(f"  median of the first {window}: {statistics.median(times[:window]):.1f} ms, "
                  f"of the last {window}: {statistics.median(times[-window:]):.1f} ms")
            for k in last:
                print(f"  {k:<15} after {window}: {first[k]:>8}   after {n}: {last[k]:>8}")
    finally:
        subprocess.run(hull + ["rm", "-f", "keeper"], env=env, stdout=subprocess.DEVNULL)


LINE = "2026-12-06 INFO request served in 12 ms path=/api/v1/items status=200 bytes=5120 user=alice"
# A container that prints `size` bytes of lines as fast as it can, then what its own clock and
# CPU say of it (ash's `times`: its children's user and system time), then waits to be read.
FLOOD = ("a=$(cut -d' ' -f1 /proc/uptime); yes {line} | head -c {size}; b=$(cut -d' ' -f1 /proc/uptime); "
         "echo; echo \"T $a $b\"; times; sleep 30")


def _cpu_s(pid) -> float:
    """The process's user + system CPU seconds so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _minutes_s(text) -> float:
    m, _, s = text.rstrip("s").partition("m")
    return int(m) * 60 + float(s)


def _writer(name, prefix, env, cid, root):
    """The pid that writes the container's log: hull's one monitor, podman's conmon for this container."""
    if name == "hull":
        return monitor_pid(root)
    return int(subprocess.run(prefix + ["inspect", "-f", "{{.State.ConmonPid}}", cid], capture_output=True,
                              text=True, env=env, check=True).stdout)


def _log_path(name, prefix, env, cid) -> str:
    fmt = "{{.LogPath}}" if name == "hull" else "{{.HostConfig.LogConfig.Path}}"
    return subprocess.run(prefix + ["inspect", "-f", fmt, cid], capture_output=True, text=True, env=env,
                          check=True).stdout.strip()


def _last_lines(path, n=4) -> list:
    """The text of the log's last n lines, read from its end (`podman logs --tail` reads the whole
    file: minutes for a flood's), as json-file or k8s-file ("TIME STREAM F|P TEXT") has them."""
    import json
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
        lines = f.read().decode(errors="replace").split("\n")[1:-1][-n:]  # whole lines only
    return [json.loads(ln)["log"].rstrip("\n") if ln.startswith("{") else ln.split(" ", 3)[-1] for ln in lines]


def _is_times(line) -> bool:
    import re
    return bool(re.fullmatch(r"\d+m[\d.]+s \d+m[\d.]+s", line))


def _times(lines) -> float:
    """The CPU seconds of ash's `times` (its last line: the children's user and system time)."""
    m = lines[-1].split()
    return _minutes_s(m[0]) + _minutes_s(m[1])


def flood(hull, env, root, podman, image, seconds=60, quiet=10) -> None:
    """A container printing as fast as it can, through hull's monitor and podman's conmon (k8s-file):
    MB/s, the container's CPU against the log writer's; then a `seconds` flood beside `quiet` containers
    printing their clock twice a second, one of them followed by `logs -f`: how far behind it lags."""
    engines = {"hull": (hull, env, "busybox", []), "podman": (podman.cmd(), podman.env, image, ["--log-driver", "k8s-file"])}
    print("log flood: lines through the log writer as fast as they come (--network none)")
    # `yes` a tenth as much: its records are 36 times its 2-byte lines (7 GB for 200 MB)
    for text, line, size in (("20 MB of `yes`", "y", 20 << 20), (f"200 MB of {len(LINE) + 1}-byte lines", LINE, 200 << 20)):
        for name, (prefix, e, img, opts) in engines.items():
            cid = subprocess.run(prefix + ["run", "-d", "--network", "none", *opts, img, "sh", "-c",
                                           FLOOD.format(line=f"'{line}'", size=size)],
                                 capture_output=True, text=True, env=e, check=True).stdout.strip()
            writer, path = _writer(name, prefix, e, cid, root), _log_path(name, prefix, e, cid)
            before = _cpu_s(writer)
            for _ in range(3000):
                tail = _last_lines(path)
                marks = [ln for ln in tail if ln.startswith("T ")]
                if marks and _is_times(tail[-1]):
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"bench: {name}'s flood did not end")
            written = _cpu_s(writer) - before
            _, a, b = marks[0].split()
            used = _times(tail)
            subprocess.run(prefix + ["rm", "-f", *(["-t", "0"] if name == "podman" else []), cid],
                           stdout=subprocess.DEVNULL, env=e)
            print(f"  {text:<22} {name:<7} {size / (float(b) - float(a)) / 1e6:7.1f} MB/s   container CPU "
                  f"{used:5.2f} s, log writer CPU {written:5.2f} s ({written / used:.2f}x)")
    print(f"log flood for {seconds} s (`yes`, --log-opt max-size=10m max-file=3) beside {quiet} quiet containers")
    for name, (prefix, e, img, opts) in engines.items():
        rm = ["rm", "-f", *(["-t", "0"] if name == "podman" else [])]
        rot = ["--log-opt", "max-size=10m", "--log-opt", "max-file=3"] if name == "hull" else ["--log-opt", "max-size=10m"]
        cid = subprocess.run(prefix + ["run", "-d", "--network", "none", *opts, *rot, img, "sh", "-c",
                                       f"timeout {seconds} yes; echo; times; sleep 30"],
                             capture_output=True, text=True, env=e, check=True).stdout.strip()
        ids = [subprocess.run(prefix + ["run", "-d", "--network", "none", *opts, img, "sh", "-c",
                                        "while :; do cut -d' ' -f1 /proc/uptime; sleep 0.5; done"],
                              capture_output=True, text=True, env=e, check=True).stdout.strip() for _ in range(quiet)]
        writer = _writer(name, prefix, e, cid, root)
        before, lags = _cpu_s(writer), []
        follow = subprocess.Popen(prefix + ["logs", "-f", "--tail", "0", ids[0]], stdout=subprocess.PIPE, text=True, env=e)
        end = time.monotonic() + seconds - 2
        try:
            for line in follow.stdout:
                with open("/proc/uptime") as f:
                    lags.append(float(f.read().split()[0]) - float(line))
                if time.monotonic() > end:
                    break
        finally:
            follow.kill()
            follow.wait()
        written = _cpu_s(writer) - before
        path = _log_path(name, prefix, e, cid)
        for _ in range(300):
            tail = _last_lines(path)
            if len(tail) > 1 and _is_times(tail[-1]) and _is_times(tail[-2]):
                break
            time.sleep(0.2)
        used = _times(tail)
        logdir = os.path.join(root, "containers", cid) if name == "hull" else None
        disk = sum(os.path.getsize(os.path.join(logdir, n)) for n in os.listdir(logdir) if "-json.log" in n) if logdir else 0
        subprocess.run(prefix + rm + [cid, *ids], stdout=subprocess.DEVNULL, env=e)
        lags.sort()
        print(f"  {name:<7} logs -f of a quiet one: {len(lags)} lines, lag median {lags[len(lags) // 2] * 1000:6.0f} ms, "
              f"max {lags[-1] * 1000:6.0f} ms; flood CPU {used:5.1f} s, log writer CPU {written:5.1f} s"
              + (f"; log on disk {disk / 1e6:.1f} MB" if logdir else ""))


def mixed_clients(hull, env, clients=20, seconds=300) -> None:
    """clients of mixed run/rm/build/commit/pull/rmi/ps on one root, one of them pruning all along:
    how many of each ran, and every failure that is not one of docker's conflicts."""
    import tempfile
    import workloads
    from registries import RegistryServer
    work = tempfile.mkdtemp(prefix="hull-bench-mixed-")
    registry = RegistryServer(work)
    try:
        refs = workloads.push_images(hull, env, registry.addr, clients)
        t = time.perf_counter()
        counts, faults = workloads.mixed(hull, env, refs, workloads.build_context(os.path.join(work, "ctx")), seconds)
        wall = time.perf_counter() - t
    finally:
        registry.stop()
        subprocess.run(["rm", "-rf", work])
    left = _ids(hull, env, "-a")
    print(f"{clients} clients of mixed commands for {seconds} s (one pruning): {sum(counts.values())} commands "
          f"in {wall:.0f} s, {len(faults)} failed for a reason other than a conflict; {len(left)} containers left")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for f in faults[:10]:
        print("  fault: " + f)
