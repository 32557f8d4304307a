"""What is in a container, and what it does: logs, exec, top, stats, diff, cp, export, commit.
Translation and output only: the work is in runtime/engine (service/containers.py, logs.py,
attach.py, copy.py, commit.py).
"""
import os
import sys
import time

from runtime.cli import display
from runtime.cli.args import Flag, Verb
from runtime.engine.service import containers as service
from runtime.errors import Conflict, InvalidArgument, NotFound

FORMAT = Flag("format", value=True, help="a Go template, or json")

VERBS = [
    Verb("logs", "a container's output", [
        Flag("follow", "f", help="keep printing new output until the container stops"),
        Flag("tail", "n", value=True, help="only the last N lines"), Flag("timestamps", "t", help="show times"),
        Flag("since", value=True, help="from this time (RFC 3339, or a duration like 10m)"),
        Flag("until", value=True, help="up to this time"),
        Flag("details", help="the attributes --log-opt labels=/env= gave each line")], ["container"]),
    Verb("exec", "run a command in a running container", [
        Flag("interactive", "i", help="keep stdin open"), Flag("tty", "t", help="a terminal"),
        Flag("detach", "d", help="do not wait"), Flag("env", "e", value=True, many=True, help="KEY=VALUE"),
        Flag("workdir", "w", value=True, help="working directory"), Flag("user", "u", value=True, help="USER[:GROUP]"),
        Flag("privileged", help="every capability"),
        Flag("detach-keys", value=True, default="ctrl-p,ctrl-q", help="the keys that detach from its terminal")],
        ["container"], rest=True, rest_name="COMMAND [ARG...]"),
    Verb("top", "a container's processes", [], ["container"], rest=True, rest_name="[ps OPTIONS]"),
    Verb("stats", "CPU, memory, I/O and process counts", [
        Flag("no-stream", help="print once and exit"), Flag("all", "a", help="stopped containers too"), FORMAT,
        Flag("no-trunc", help="full IDs")], [], ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("diff", "a container's changes to its image's filesystem (A added, C changed, D deleted)", [],
         ["container"]),
    Verb("commit", "a new image from a container's changes", [
        Flag("message", "m", value=True, help="commit message"), Flag("author", "a", value=True, help="author"),
        Flag("change", "c", value=True, many=True, help="a Dockerfile line: CMD, ENTRYPOINT, ENV, LABEL, ..."),
        Flag("pause", "p", value=True, default="true", help="pause it meanwhile (default true)")],
         ["container"], ["repository"]),
    Verb("cp", "copy files between a container and the host (CONTAINER:PATH, or - for a tar)", [],
         ["source", "destination"]),
    Verb("export", "a container's filesystem as a tar", [Flag("output", "o", value=True, help="a file, not stdout")],
         ["container"]),
]


# -- logs, exec, top, stats ------------------------------------------------------------------------------

def cmd_logs(args):
    tail = None
    if args.tail not in (None, "all"):
        try:
            tail = int(args.tail)
        except ValueError:
            raise InvalidArgument(f"invalid --tail {args.tail!r}") from None
    now = time.time()
    service.logs(args.root, args.container, sys.stdout, sys.stderr, tail, args.timestamps,
                 display.time_arg(args.since, now), display.time_arg(args.until, now), bool(args.follow),
                 bool(args.details))
    return 0


def cmd_exec(args):
    from runtime.engine import attach
    attach.detach_bytes(args.detach_keys)  # refused before anything runs
    c = service.running(args.root, args.container)
    if not args.command:
        raise InvalidArgument("exec: give a command to run")
    return attach.exec_in(c, args.command, bool(args.interactive), bool(args.tty), bool(args.detach),
                          args.env or [], args.workdir, args.user, bool(args.privileged), args.detach_keys)


def cmd_top(args):
    from runtime.container.control import ps_table
    from runtime.engine import runner
    c = service.containers(args.root).get(args.container)
    if not c.init_alive():
        raise Conflict(f"Container {c.id} is not running")
    sys.stdout.write(ps_table(runner.core_pids(c), args.command or ["-ef"]))
    return 0


STATS_HEADERS = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                 "PIDs": "PIDS"}


def cmd_stats(args):
    """docker stats: a table redrawn every second until interrupted (--no-stream: once). CPU % is
    taken between two samples, as docker's CLI does."""
    from runtime.cli.template import format_rows
    fmt = args.format or "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t" \
                         "{{.BlockIO}}\t{{.PIDs}}"
    named = [args.container] + args.command if args.container else []

    def sample() -> dict:
        refs = named or [s["Id"] for s in service.summaries(args.root, bool(args.all))]
        out = {}
        for ref in refs:
            try:
                out[ref] = service.stats(args.root, ref)
            except NotFound:
                if named:
                    raise
        return out
    before = sample()
    try:
        while True:
            time.sleep(0.5 if args.no_stream else 1.0)
            now = sample()
            rows = [stats_row(s, before.get(ref), args.no_trunc) for ref, s in now.items()]
            if not args.no_stream:
                sys.stdout.write("\033[2J\033[H")  # docker's redraw: clear, cursor home
            sys.stdout.write(format_rows(fmt, rows, STATS_HEADERS))
            sys.stdout.flush()
            if args.no_stream:
                return 0
            before = now
    except KeyboardInterrupt:
        return 130  # ctrl-c is how a live table ends: no message


def stats_row(s: dict, prev: dict | None, no_trunc: bool = False):
    """One stats sample (and the one before) as docker's formatter.StatsEntry fields."""
    from runtime.cli.template import Struct
    cpu = 0.0
    if prev:
        d_cpu = s["cpu_stats"]["cpu_usage"]["total_usage"] - prev["cpu_stats"]["cpu_usage"]["total_usage"]
        d_sys = s["cpu_stats"]["system_cpu_usage"] - prev["cpu_stats"]["system_cpu_usage"]
        if d_cpu > 0 and d_sys > 0:
            cpu = d_cpu / d_sys * s["cpu_stats"]["online_cpus"] * 100
    mem = s["memory_stats"]
    raw = mem.get("stats") or {}
    usage = mem.get("usage", 0)
    inactive = raw.get("total_inactive_file", raw.get("inactive_file", 0))  # v1, v2: docker's "no cache"
    if inactive < usage:
        usage -= inactive
    limit = mem.get("limit") or 0
    rx = sum(n["rx_bytes"] for n in s["networks"].values())
    tx = sum(n["tx_bytes"] for n in s["networks"].values())
    io = {e["op"]: e["value"] for e in s["blkio_stats"]["io_service_bytes_recursive"]}
    cid = s["id"] if no_trunc else s["id"][:12]
    return Struct({"ID": cid, "Container": cid, "Name": s["name"].lstrip("/"), "CPUPerc": f"{cpu:.2f}%",
                   "MemUsage": f"{_binary(usage)} / {_binary(limit)}",
                   "MemPerc": f"{usage / limit * 100 if limit else 0:.2f}%",
                   "NetIO": f"{display.human_size(rx)} / {display.human_size(tx)}",
                   "BlockIO": f"{display.human_size(io.get('read', 0))} / {display.human_size(io.get('write', 0))}",
                   "PIDs": str(s["pids_stats"].get("current", 0))})


def _binary(n: float) -> str:
    """docker stats' memory sizes: binary units, MiB and GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}"
        n /= 1024


def cmd_diff(args):
    for change in service.changes(args.root, args.container):
        print(f"{'CAD'[change['Kind']]} {change['Path']}")
    return 0


def cmd_commit(args):
    print(service.commit(args.root, args.container, args.repository, args.message or "", args.author or "",
                         args.change or [], str(args.pause).lower() not in ("false", "0")))
    return 0


def _split_cp(text: str):
    """CONTAINER:PATH -> (container, path); a host path -> (None, path). As docker: a colon before
    any slash names a container (use ./a:b for a local file with a colon)."""
    if text == "-" or text.startswith(("/", ".")):
        return None, text
    name, colon, path = text.partition(":")
    if colon and "/" not in name:
        return name, path or "/"
    return None, text


def cmd_cp(args):
    (src_c, src), (dst_c, dst) = _split_cp(args.source), _split_cp(args.destination)
    if (src_c is None) == (dst_c is None):
        raise InvalidArgument("copying between containers is not supported" if src_c else
                              "must specify at least one container source (CONTAINER:PATH)")
    if src_c:
        service.copy_out(args.root, src_c, src, dst, sys.stdout)
    else:
        service.copy_in(args.root, dst_c, src, dst, sys.stdin)
    return 0


def cmd_export(args):
    service.containers(args.root).get(args.container)
    if not args.output and sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    fd = None
    if args.output:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    service.export(args.root, args.container, fd)
    return 0


HANDLERS = {"logs": cmd_logs, "exec": cmd_exec, "top": cmd_top, "stats": cmd_stats, "diff": cmd_diff,
            "commit": cmd_commit, "cp": cmd_cp, "export": cmd_export}
