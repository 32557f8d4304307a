"""hull's container verbs that act on existing containers, in docker's words: stop, restart, kill,
rm, pause, unpause, rename, wait, update, ps, inspect, port. Translation and output only: each verb
calls runtime/engine/service/containers.py (what the Docker API calls too) and prints docker's
table or --format. `run`, `create`, `start` and `attach` are in run.py; logs, exec, cp ... in inside.py.
"""
import sys
import time

from runtime import fastjson as json
from runtime.cli import display
from runtime.cli.args import Flag, Verb
from runtime.engine.service import containers as service
from runtime.errors import HullError, InvalidArgument, NotFound

FORMAT = Flag("format", value=True, help="a Go template, or json")
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Labels": "LABELS",
              "Size": "SIZE", "Mounts": "MOUNTS", "Networks": "NETWORKS", "State": "STATE",
              "LocalVolumes": "LOCAL VOLUMES"}

VERBS = [
    Verb("stop", "stop running containers (the stop signal, then SIGKILL)",
         [Flag("time", "t", value=True, help="seconds before SIGKILL (default: the container's, or 10)"),
          Flag("signal", "s", value=True, help="the signal to send first")],
         ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("restart", "stop and start containers", [Flag("time", "t", value=True, help="seconds before SIGKILL")],
         ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("kill", "send a signal (default SIGKILL) to containers", [Flag("signal", "s", value=True, default="KILL",
                                                                        help="the signal")],
         ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("rm", "remove containers", [Flag("force", "f", help="kill a running one first"),
                                    Flag("volumes", "v", help="and its anonymous volumes")],
         ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("ps", "list containers", [
        Flag("all", "a", help="all containers (default: running ones)"), Flag("quiet", "q", help="only IDs"),
        Flag("last", "n", value=True, kind=int, help="the N last created"), Flag("latest", "l", help="the last created"),
        Flag("no-trunc", help="do not shorten"), Flag("size", "s", help="show sizes"),
        Flag("filter", "f", value=True, many=True, help="id=, name=, label=, status=, exited=, ancestor=, before=, since=, volume=, network=, publish=, expose=, health=, isolation=, is-task="),
        FORMAT]),
    Verb("inspect", "details of containers or images as JSON", [
        Flag("format", "f", value=True, help="a Go template: {{.State.Status}}"),
        Flag("type", value=True, help="container or image"), Flag("size", "s", help="with sizes")],
         ["name"], rest=True, rest_name="NAME..."),
    Verb("wait", "wait for containers to stop; print their exit codes", [], ["container"], rest=True,
         rest_name="CONTAINER..."),
    Verb("rename", "rename a container", [], ["container", "new_name"]),
    Verb("pause", "freeze every process of containers", [], ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("unpause", "thaw paused containers", [], ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("port", "a container's published ports (docker's format)", [], ["container"], ["private_port"]),
    Verb("update", "change the limits of containers", [
        Flag("memory", "m", value=True, help="memory limit"), Flag("memory-swap", value=True, help="memory + swap"),
        Flag("cpus", value=True, help="CPUs"), Flag("cpu-shares", "c", value=True, help="CPU weight"),
        Flag("cpuset-cpus", value=True, help="CPUs to run on"), Flag("pids-limit", value=True, help="processes"),
        Flag("restart", value=True, help="a new restart policy")], ["container"], rest=True, rest_name="CONTAINER..."),
]


def _each(args, fn, missing_ok: bool = False, parallel: bool = False) -> int:
    """docker's multi-container verbs: each one, print its name, report failures, exit 1 if any
    (missing_ok: rm -f of a container that is not there says so, and is no failure). parallel:
    up to 50 at once, as docker's CLI (a stop waits for each container: `hull stop $(hull ps -q)`
    must not take the sum of their timeouts); reported in the order given either way."""
    refs = [args.container] + args.command

    def one(ref):
        try:
            fn(ref)
            return None
        except HullError as e:
            return e
    if parallel and len(refs) > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(50, len(refs))) as pool:
            results = pool.map(one, refs)  # (lazy, in order: each is reported as soon as it and those before it are done)
            return _report(refs, results, missing_ok)
    return _report(refs, map(one, refs), missing_ok)


def _report(refs, results, missing_ok: bool) -> int:
    failed = 0
    for ref, e in zip(refs, results):
        if e is None:
            print(ref, flush=True)
            continue
        display.error(e.msg)
        if not (missing_ok and isinstance(e, NotFound)):
            failed = display.REFUSED
    return failed


def _timeout(args):
    if args.time is None:
        return None
    try:
        return int(args.time)
    except ValueError:
        raise InvalidArgument(f"invalid --time {args.time!r}") from None


def cmd_stop(args):
    timeout = _timeout(args)
    return _each(args, lambda ref: service.stop(args.root, ref, timeout, args.signal), parallel=True)


def cmd_restart(args):
    timeout = _timeout(args)
    return _each(args, lambda ref: service.restart(args.root, ref, timeout))


def cmd_kill(args):
    from runtime.container.lifecycle import parse_signal
    parse_signal(args.signal)  # a bad name fails once, before any container
    return _each(args, lambda ref: service.kill(args.root, ref, args.signal))


def cmd_rm(args):
    return _each(args, lambda ref: service.remove(args.root, ref, bool(args.force), bool(args.volumes)),
                 missing_ok=bool(args.force))


def cmd_pause(args):
    return _each(args, lambda ref: service.pause(args.root, ref))


def cmd_unpause(args):
    return _each(args, lambda ref: service.unpause(args.root, ref))


def cmd_rename(args):
    service.rename(args.root, args.container, args.new_name)
    return 0


def cmd_wait(args):
    """Block until each container has stopped; print its exit code."""
    failed = 0
    for ref in [args.container] + args.command:
        try:
            print(service.wait(args.root, ref)["StatusCode"])
        except HullError as e:
            display.error(e.msg)
            failed = display.REFUSED
    return failed


def cmd_update(args):
    from runtime.cli.run import limits_body, restart_policy
    body = limits_body(args)
    if args.restart:
        body["RestartPolicy"] = restart_policy(args.restart)
    return _each(args, lambda ref: service.update(args.root, ref, body))


# -- ps, inspect, port -------------------------------------------------------------------------------------

def filters_body(items: list) -> dict:
    """--filter k=v ... -> the API's filters: {"k": ["v", ...]}."""
    out = {}
    for f in items or []:
        key, eq, value = f.partition("=")
        if not eq:
            raise InvalidArgument(f"bad format of filter (expected name=value): {f!r}")
        out.setdefault(key, []).append(value)
    return out


def ps_row(s: dict, now: float, no_trunc: bool, size: bool):
    """A ContainerSummary as ps's template fields (docker's formatter.ContainerContext)."""
    from runtime.cli.template import Struct
    cmd = s["Command"]
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    created = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(s["Created"]))
    mounts = [m.get("Name") or m["Source"] for m in s["Mounts"] if m["Type"] != "tmpfs"]
    ports = ", ".join((f"{p['IP']}:{p['PublicPort']}->" if p.get("PublicPort") else "") + f"{p['PrivatePort']}/{p['Type']}"
                      for p in sorted(s["Ports"], key=lambda p: (p["PrivatePort"], p["Type"])))
    row = Struct({
        "Command": json.compact(cmd), "CreatedAt": created, "ID": s["Id"] if no_trunc else s["Id"][:12],
        "Image": s["Image"], "Labels": ",".join(f"{k}={v}" for k, v in s["Labels"].items()),
        "LocalVolumes": str(sum(m["Type"] == "volume" for m in s["Mounts"])), "Mounts": ",".join(mounts),
        "Names": s["Names"][0].lstrip("/"),
        "Networks": ",".join(s["NetworkSettings"]["Networks"]) or s["HostConfig"]["NetworkMode"],
        "Ports": ports, "RunningFor": display.human_duration(now - s["Created"]) + " ago", "Size": "",
        "State": s["State"], "Status": s["Status"]})
    if size:
        rw, virtual = s["SizeRw"], s["SizeRootFs"]
        row["Size"] = f"{display.human_size(rw)} (virtual {display.human_size(virtual)})"
    return row


def cmd_ps(args):
    from runtime.cli.template import format_rows
    limit = 1 if args.latest else (args.last or -1)
    listed = service.summaries(args.root, bool(args.all), limit, filters_body(args.filter), bool(args.size))
    if args.quiet:
        for s in listed:
            print(s["Id"] if args.no_trunc else s["Id"][:12])
        return 0
    now = time.time()
    rows = [ps_row(s, now, args.no_trunc, args.size) for s in listed]
    fmt = args.format or ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t"
                          + ("{{.Names}}\t{{.Size}}" if args.size else "{{.Names}}"))
    sys.stdout.write(format_rows(fmt, rows, PS_HEADERS))
    return 0


def cmd_inspect(args):
    """Containers first, then images (docker's order), unless --type says which."""
    from runtime.cli.images import print_inspect
    from runtime.engine.service import images
    if args.type not in (None, "container", "image"):
        raise InvalidArgument(f'"{args.type}" is not a valid value for --type')
    out, missing = [], []
    for name in [args.name] + args.command:
        found = None
        if args.type != "image":
            try:
                found = service.inspect(args.root, name, bool(args.size))
            except NotFound:
                pass
        if found is None and args.type != "container":
            try:
                found = images.inspect(args.root, name)
            except NotFound:
                pass
        if found is None:
            missing.append(name)
        else:
            out.append(found)
    if out or not args.format:
        print_inspect(out, args.format)
    for name in missing:
        sys.stderr.write(f"Error: No such object: {name}\n")
    return display.REFUSED if missing else 0


def cmd_port(args):
    bindings = service.port_map(args.root, args.container)
    if args.private_port:
        port, _, proto = args.private_port.partition("/")
        mine = [b for b in bindings if str(b["container_port"]) == port and b["proto"] == (proto or "tcp")]
        if not mine:
            raise NotFound(f"No public port '{port}/{proto or 'tcp'}' published for {args.container}")
        for b in mine:
            print(f"{b['host_ip']}:{b['host_port']}")
        return 0
    for b in bindings:
        print(f"{b['container_port']}/{b['proto']} -> {b['host_ip']}:{b['host_port']}")
    return 0


HANDLERS = {"stop": cmd_stop, "restart": cmd_restart, "kill": cmd_kill, "rm": cmd_rm, "pause": cmd_pause,
            "unpause": cmd_unpause, "rename": cmd_rename, "wait": cmd_wait, "update": cmd_update, "ps": cmd_ps,
            "inspect": cmd_inspect, "port": cmd_port}
