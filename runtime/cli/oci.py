"""hull-oci: a runc-compatible command line over runtime/container.

Global flags come before the verb (as engines pass them): --root, --log, --log-format, --debug.
Errors are one line on stderr and, with --log, one entry in the log file ({"level","msg","time"} in
json format, which podman and containerd parse). Exit codes follow runc: 0 ok, 1 any error.
Only the modules a verb needs are imported: engines call us 3-4 times per container.
"""
import os
import sys

from runtime import fastjson as json  # json without its imports (see fastjson)
from runtime import OCI_VERSION, __version__
from runtime.cli.args import Flag, Verb, help_text, parse
from runtime.errors import HullError


class Log:
    """--log FILE in runc's shapes: json lines, or logrus-style text."""

    def __init__(self, path: str | None, fmt: str, debug: bool):
        self.path, self.fmt, self.debug_on = path, fmt, debug

    def write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        from runtime.container.state import now_rfc3339
        t = now_rfc3339()
        if self.fmt == "json":
            line = json.compact({"level": level, "msg": msg, "time": t}, True)
        else:
            line = f'time="{t}" level={level} msg={json.dumps(msg)}'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def debug(self, msg: str) -> None:
        if self.debug_on:
            self.write("debug", msg)
            sys.stderr.write(f"hull-oci: debug: {msg}\n")


GLOBAL_FLAGS = [
    Flag("version", "v", help="print the version"),
    Flag("help", "h", help="show this help"),
    Flag("root", value=True, default="/run/hull", help="state directory (default /run/hull)"),
    Flag("log", value=True, help="log file (errors also go to stderr)"),
    Flag("log-format", value=True, default="text", help="text or json"),
    Flag("debug", help="log debug messages"),
    Flag("trace", help="narrate every kernel step on stderr"),
    # accepted for engines' sake: hull has no systemd cgroup driver, rootless mode or criu
    Flag("systemd-cgroup"), Flag("rootless", value=True), Flag("criu", value=True),
]
_CREATE_FLAGS = [
    Flag("bundle", "b", value=True, default=".", help="bundle directory (default: the current one)"),
    Flag("pid-file", value=True, help="write the container's host PID here"),
    Flag("console-socket", value=True, help="unix socket to send the pty master to"),
    Flag("preserve-fds", value=True, default=0, kind=int, help="pass fds 3..3+N-1 to the container"),
    Flag("no-pivot", help="use MS_MOVE+chroot instead of pivot_root (ramfs roots)"),
    Flag("no-new-keyring"),
]
_UPDATE_FLAGS = [
    Flag("resources", "r", value=True, help="a JSON file of OCI linux.resources, or - for stdin"),
    Flag("memory", value=True, help="memory limit (bytes, or 64m, 1g)"),
    Flag("memory-swap", value=True, help="memory+swap limit (-1: unlimited)"),
    Flag("memory-reservation", value=True, help="soft memory limit"),
    Flag("kernel-memory", value=True), Flag("kernel-memory-tcp", value=True),
    Flag("cpu-period", value=True, kind=int, help="CFS period in microseconds"),
    Flag("cpu-quota", value=True, kind=int, help="CFS quota in microseconds per period (-1: unlimited)"),
    Flag("cpu-share", value=True, kind=int, help="relative CPU weight (v1 shares)"),
    Flag("cpu-rt-period", value=True, kind=int, help="realtime period (v1)"),
    Flag("cpu-rt-runtime", value=True, kind=int, help="realtime runtime (v1)"),
    Flag("cpuset-cpus", value=True, help="CPUs to run on, like 0-1"),
    Flag("cpuset-mems", value=True, help="memory nodes, like 0"),
    Flag("pids-limit", value=True, kind=int, help="maximum number of processes (-1: unlimited)"),
    Flag("blkio-weight", value=True, kind=int, help="block IO weight, 10..1000"),
    Flag("l3-cache-schema", value=True), Flag("mem-bw-schema", value=True),
]
VERB_TABLE = {v.name: v for v in [
    Verb("create", "create a container; its init waits for start", _CREATE_FLAGS, ["id"]),
    Verb("start", "start a created container", [], ["id"]),
    Verb("run", "create and start a container; wait for it unless -d",
         _CREATE_FLAGS + [Flag("detach", "d", help="return once the container runs")], ["id"]),
    Verb("state", "print a container's state as JSON", [], ["id"]),
    Verb("kill", "send a signal (default SIGTERM) to the container's init",
         [Flag("all", "a", help="signal every process of the container")], ["id"], ["signal"]),
    Verb("delete", "delete a stopped container", [Flag("force", "f", help="kill it first if it runs")], ["id"]),
    Verb("list", "list containers", [Flag("format", "f", value=True, default="table", help="table or json"),
                                     Flag("quiet", "q", help="IDs only")]),
    Verb("update", "change a live container's limits (0 leaves a value as it is)", _UPDATE_FLAGS, ["id"]),
    Verb("pause", "freeze every process of the container", [], ["id"]),
    Verb("resume", "thaw a paused container", [], ["id"]),
    Verb("ps", "show the container's processes (the host's ps, filtered; options after ID go to ps)",
         [Flag("format", "f", value=True, default="table", help="table or json (host PIDs)")], ["id"], rest=True),
    Verb("events", "print stats as JSON every --interval, and OOM events; ends when the container stops",
         [Flag("stats", help="print the stats once and exit"),
          Flag("interval", value=True, default="5s", help="how often (default 5s)")], ["id"]),
    Verb("exec", "run another process in a running container (exec ID CMD..., or --process FILE)", [
        Flag("process", "p", value=True, help="an OCI process JSON file (instead of CMD...)"),
        Flag("tty", "t", help="give the process a terminal"),
        Flag("console-socket", value=True, help="unix socket to send the pty master to"),
        Flag("detach", "d", help="return once the process runs"),
        Flag("pid-file", value=True, help="write the process's host PID here"),
        Flag("cwd", value=True, help="working directory in the container"),
        Flag("env", "e", value=True, many=True, help="KEY=VALUE (repeatable)"),
        Flag("user", "u", value=True, help="UID[:GID]"),
        Flag("additional-gids", "g", value=True, many=True, help="GID (repeatable)"),
        Flag("cap", "c", value=True, many=True, help="add a capability (repeatable)"),
        Flag("no-new-privs", help="set no_new_privs"),
        Flag("preserve-fds", value=True, default=0, kind=int), Flag("process-label", value=True),
        Flag("apparmor", value=True), Flag("cgroup", value=True), Flag("ignore-paused"),
    ], ["id"], rest=True),
    Verb("features", "print what this runtime supports, as JSON (OCI features.md)", [], []),
    Verb("spec", "write a default config.json", [Flag("bundle", "b", value=True, default=".", help="where"),
                                                 Flag("rootless")]),
]}


def main(argv=None) -> int:
    log = Log(None, "text", False)
    try:
        args = parse(sys.argv[1:] if argv is None else argv, GLOBAL_FLAGS, VERB_TABLE)
        log = Log(args.log, args.log_format, args.debug)
        if args.log:
            from runtime import trace
            trace.warning_sinks.append(lambda msg: log.write("warning", msg))
        if args.version:
            print(f"hull-oci version {__version__}\nspec: {OCI_VERSION}")
            return 0
        if args.verb is None or args.verb == "help" or args.help:
            sys.stdout.write(help_text("hull-oci", "A runc-compatible OCI runtime in Python.", GLOBAL_FLAGS,
                                       VERB_TABLE, getattr(args, "topic", None)))
            return 0 if args.verb or args.help else 1
        if args.trace:
            from runtime import trace
            trace.enable()
        log.debug(f"{args.verb} {getattr(args, 'id', '')}")
        return VERBS[args.verb](args) or 0
    except HullError as e:
        return _fail(log, e.msg, e.code)
    except OSError as e:
        return _fail(log, e.args[1] if len(e.args) > 1 and not e.filename else str(e), 1)
    except KeyboardInterrupt:
        return _fail(log, "interrupted", 130)


def _fail(log: Log, msg: str, code: int) -> int:
    log.write("error", msg)
    sys.stderr.write(f"hull-oci: {msg}\n")
    return code


def _store(args):
    from runtime.container.state import Store
    return Store(args.root)


def cmd_create(args):
    from runtime.container import lifecycle
    lifecycle.create(_store(args), args.id, args.bundle, args.pid_file, args.console_socket,
                     args.preserve_fds, args.no_pivot)


def cmd_run(args):
    from runtime.container import lifecycle
    return lifecycle.run(_store(args), args.id, args.bundle, args.detach, args.pid_file, args.console_socket,
                         args.preserve_fds, args.no_pivot)


def cmd_start(args):
    from runtime.container import lifecycle
    lifecycle.start(_store(args), args.id)


def cmd_state(args):
    c = _store(args).get(args.id)
    state = c.oci_state()
    state = _runc_order(state)
    if c.oom_killed():
        state["oomKilled"] = True  # hull's addition: the kernel OOM-killed a process in it
    sys.stdout.write(json.go_indent(state, "  "))  # runc's: no newline after the closing brace


def _runc_order(state: dict) -> dict:
    """The state as runc prints it (`state`, `list`): its struct's key order, annotations only when
    there are some. Hooks get the spec's state (oci_state) instead."""
    out = {k: state[k] for k in ("ociVersion", "id", "pid", "status", "bundle", "rootfs", "created")}
    if state.get("annotations"):
        out["annotations"] = state["annotations"]
    out["owner"] = state["owner"]
    return out


def cmd_kill(args):
    from runtime.container import lifecycle
    lifecycle.kill(_store(args), args.id, lifecycle.parse_signal(args.signal or "SIGTERM"), args.all)


def cmd_delete(args):
    from runtime.container import valid_id
    if args.force and valid_id(args.id) and not os.path.isdir(os.path.join(args.root, args.id)):
        return  # the shims call delete --force after delete: gone is fine, and quick without the lifecycle
    from runtime.container import lifecycle
    lifecycle.delete(_store(args), args.id, args.force)


def cmd_list(args):
    containers = _store(args).list()
    if args.format not in ("table", "json"):
        from runtime.errors import InvalidArgument
        raise InvalidArgument(f"invalid --format {args.format!r}: table or json")
    if args.quiet:
        for c in containers:
            print(c.id)
    elif args.format == "json":
        print(json.compact([_runc_order(c.oci_state()) for c in containers] or None, True))  # runc: null for none
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        for c in containers:
            s = c.oci_state()
            rows.append((s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"] or "root"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def cmd_spec(args):
    from runtime.container.defaults import default_config
    from runtime.errors import Conflict
    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise Conflict(f"{path} exists: remove it first")
    with open(path, "w") as f:
        json.dump(default_config(), f, indent=2)
        f.write("\n")


def cmd_update(args):
    from runtime.container import control
    control.update(_store(args), args.id, _update_resources(args))


def _update_resources(args) -> dict:
    """-r JSON (docker: `-r -` on stdin) and/or flags, as an OCI resources object."""
    from runtime.units import parse_bytes
    from runtime.errors import InvalidArgument
    raw = _json_object("resources", args.resources, "linux.resources") if args.resources else {}
    memory = {k: parse_bytes(v, f) for k, f, v in (("limit", "memory", args.memory),
                                                   ("swap", "memory-swap", args.memory_swap),
                                                   ("reservation", "memory-reservation", args.memory_reservation),
                                                   ("kernel", "kernel-memory", args.kernel_memory),
                                                   ("kernelTCP", "kernel-memory-tcp", args.kernel_memory_tcp))
              if v is not None}
    cpu = {k: v for k, v in (("period", args.cpu_period), ("quota", args.cpu_quota), ("shares", args.cpu_share),
                             ("realtimePeriod", args.cpu_rt_period), ("realtimeRuntime", args.cpu_rt_runtime),
                             ("cpus", args.cpuset_cpus), ("mems", args.cpuset_mems)) if v is not None}
    for section, values in (("memory", memory), ("cpu", cpu)):
        if values:
            raw.setdefault(section, {}).update(values)
    if args.pids_limit is not None:
        raw["pids"] = {"limit": args.pids_limit}
    if args.blkio_weight is not None:
        raw.setdefault("blockIO", {})["weight"] = args.blkio_weight
    if not raw:
        raise InvalidArgument("update: nothing to change (give flags like --memory 64m, or -r FILE)")
    return raw


def cmd_pause(args):
    from runtime.container import control
    control.pause(_store(args), args.id)


def cmd_resume(args):
    from runtime.container import control
    control.resume(_store(args), args.id)


def cmd_ps(args):
    from runtime.container import control
    if args.format not in ("table", "json"):
        from runtime.errors import InvalidArgument
        raise InvalidArgument(f"invalid --format {args.format!r}: table or json")
    pids = control.pids(_store(args), args.id)
    if args.format == "json":
        print(json.compact(pids, True))
    else:
        sys.stdout.write(control.ps_table(pids, args.command))


def cmd_events(args):
    from runtime.container import control
    control.events(_store(args), args.id, control.parse_duration(args.interval), args.stats)


def _json_object(flag: str, path: str, what: str) -> dict:
    """--FLAG FILE (or - for stdin) holding one JSON object."""
    from runtime.errors import InvalidArgument
    try:
        text = sys.stdin.read() if path == "-" else open(path).read()
        raw = json.loads(text)
    except OSError as e:
        raise InvalidArgument(f"--{flag} {path}: {e.strerror}") from None
    except ValueError as e:
        raise InvalidArgument(f"--{flag} {path}: not valid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise InvalidArgument(f"--{flag} {path}: expected a JSON object of {what}")
    return raw


def cmd_exec(args):
    from runtime.container import execute
    raw = _json_object("process", args.process, "an OCI process") if args.process else None
    plain = dict(command=args.command, tty=args.tty, cwd=args.cwd, env=args.env or [], user=args.user,
                 additional_gids=args.additional_gids or [], caps=args.cap or [], no_new_privs=args.no_new_privs)
    return execute.execute(_store(args), args.id, raw, plain, args.detach, args.pid_file, args.console_socket)


def cmd_features(args):
    from runtime.container.features import features
    print(json.go_indent(features(), "    "))


VERBS = {"create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state, "kill": cmd_kill,
         "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec, "update": cmd_update, "pause": cmd_pause,
         "resume": cmd_resume, "ps": cmd_ps, "events": cmd_events, "features": cmd_features,
         "exec": cmd_exec}

if __name__ == "__main__":
    sys.exit(main())
