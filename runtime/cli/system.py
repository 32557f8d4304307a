"""hull system prune | df | reset, hull info, hull container prune: flags -> service calls
(runtime/engine/service/system.py and the prunes of each kind) -> docker's output."""
import sys

from runtime.cli import display
from runtime.cli.args import Flag, Verb
from runtime.engine.service import system as service

VERBS = [
    Verb("system-prune", "remove stopped containers, dangling images (-a: unused ones), unused volumes "
                         "(--volumes), and what a crashed hull left", [
        Flag("all", "a", help="every image no container uses"), Flag("volumes", help="unused volumes too"),
        Flag("force", "f", help="do not ask")]),
    Verb("system-df", "disk use of images, containers and volumes", [Flag("verbose", "v", help="each of them"),
                                                                     Flag("format", value=True)]),
    Verb("info", "what this hull and its host are", [Flag("format", "f", value=True, help="a Go template")]),
    Verb("container-prune", "remove every stopped container", [Flag("force", "f", help="do not ask")]),
    Verb("events", "what happens to containers, images, volumes and networks, as it happens", [
        Flag("since", value=True, help="from this time (RFC 3339, a duration like 10m, or a Unix time)"),
        Flag("until", value=True, help="up to this time (then it exits)"),
        Flag("filter", "f", value=True, many=True, help="type=, event=, container=, image=, network=, volume=, label="),
        Flag("format", value=True, help="a Go template, or json")]),
    Verb("system-service", "serve the Docker Engine API, so the docker CLI, docker-py, docker-compose and "
                           "testcontainers drive hull (export DOCKER_HOST=unix:///run/hull/docker.sock)", [
        Flag("host", "H", value=True, default="unix:///run/hull/docker.sock",
             help="unix:///PATH, tcp://HOST:PORT (with TLS), or fd:// (a socket from systemd)"),
        Flag("time", "t", value=True, default="5", help="seconds idle before it exits (0: never)"),
        Flag("group", value=True, help="the group that may use the socket (access to it is root on this host)"),
        Flag("tlsverify", help="require client certificates signed by --tlscacert (needed for tcp://)"),
        Flag("tlscacert", value=True), Flag("tlscert", value=True), Flag("tlskey", value=True)]),
    Verb("system-reset", "remove everything of the root (containers, images, volumes, networks, cache), "
                         "its bridges and firewall table, and the root itself", [Flag("force", "f", help="do not ask")]),
]


def cmd_container_prune(args):
    from runtime.cli.images import confirm
    from runtime.engine.service import containers
    if not args.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    report = containers.prune(args.root)
    display.deleted("Containers", report["ContainersDeleted"])
    display.reclaimed(report["SpaceReclaimed"])
    return 0


def cmd_system_prune(args):
    from runtime.cli import images
    from runtime.cli.build import prune_cache
    from runtime.cli.images import confirm
    from runtime.engine.service import containers, networks, volumes
    what = ["all stopped containers", "all volumes not used by at least one container" if args.volumes else None,
            "all images without at least one container associated to them" if args.all else "all dangling images",
            "all networks not used by at least one container", "all build cache",
            "what a crashed hull left behind (mounts, runtime state, cgroups, published ports)"]
    if not args.force and not confirm("WARNING! This will remove:\n" + "\n".join(
            f"  - {w}" for w in what if w) + "\n"):
        return 0
    report = containers.prune(args.root)
    freed = report["SpaceReclaimed"]
    display.deleted("Containers", report["ContainersDeleted"])
    if args.volumes:
        report = volumes.prune(args.root)
        freed += report["SpaceReclaimed"]
        display.deleted("Volumes", report["VolumesDeleted"])
    display.deleted("Networks", networks.prune(args.root)["NetworksDeleted"])
    removed, img_freed = images.prune_images(args, every=args.all)
    freed += img_freed
    display.deleted("Images", removed)
    cache, cache_freed = prune_cache(args)
    freed += cache_freed
    display.deleted("build cache objects", cache)
    for line in service.sweep(args.root):
        print(line)
    display.reclaimed(freed)
    return 0


def cmd_system_df(args):
    from runtime.cli.template import Struct, format_rows
    data = service.df(args.root)
    size = display.human_size

    def pct(part, whole):
        return f"{size(part)} ({part * 100 // whole if whole else 0}%)"

    def row(kind, entries, active, total, reclaim, plain=False):
        return Struct({"Type": kind, "TotalCount": str(len(entries)), "Active": str(active), "Size": size(total),
                       "Reclaimable": size(reclaim) if plain else pct(reclaim, total)})
    imgs, ctrs, vols, cache = data["Images"], data["Containers"], data["Volumes"], data["BuildCache"]
    stopped = [c for c in ctrs if c["State"] not in ("running", "paused", "restarting")]
    rows = [
        row("Images", imgs, sum(1 for i in imgs if i["Containers"]), sum(i["Size"] for i in imgs),
            sum(i["Size"] for i in imgs if not i["Containers"])),
        row("Containers", ctrs, len(ctrs) - len(stopped), sum(c["SizeRw"] for c in ctrs),
            sum(c["SizeRw"] for c in stopped)),
        row("Local Volumes", vols, sum(1 for v in vols if v["UsageData"]["RefCount"]),
            sum(v["UsageData"]["Size"] for v in vols),
            sum(v["UsageData"]["Size"] for v in vols if not v["UsageData"]["RefCount"])),
        row("Build Cache", cache, 0, sum(b["Size"] for b in cache), sum(b["Size"] for b in cache), plain=True),
    ]
    sys.stdout.write(format_rows(args.format or "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t"
                                 "{{.Reclaimable}}", rows, {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
                                                           "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}))
    if args.verbose:
        print("\nContainers space usage:\n")
        sys.stdout.write(format_rows("table {{.ID}}\t{{.Names}}\t{{.Size}}\t{{.Status}}", [
            Struct({"ID": c["Id"][:12], "Names": c["Names"][0].lstrip("/"), "Size": size(c["SizeRw"]),
                    "Status": c["State"]}) for c in ctrs],
            {"ID": "CONTAINER ID", "Names": "NAMES", "Size": "SIZE", "Status": "STATUS"}))
        print("\nLocal Volumes space usage:\n")
        sys.stdout.write(format_rows("table {{.Name}}\t{{.Links}}\t{{.Size}}", [
            Struct({"Name": v["Name"], "Links": str(v["UsageData"]["RefCount"]), "Size": size(v["UsageData"]["Size"])})
            for v in vols], {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}))
    return 0


def cmd_info(args):
    data = service.info(args.root)
    if args.format:
        from runtime.cli.template import expand, render
        print(render(expand(args.format), data))
        return 0
    lines = ["Server:", f" Containers: {data['Containers']}", f"  Running: {data['ContainersRunning']}",
             f"  Paused: {data['ContainersPaused']}", f"  Stopped: {data['ContainersStopped']}",
             f" Images: {data['Images']}", f" Server Version: {data['ServerVersion']}",
             f" Storage Driver: {data['Driver']}", f"  Supports overlay: {data['DriverStatus'][0][1]}",
             f" Logging Driver: {data['LoggingDriver']}", f" Cgroup Driver: {data['CgroupDriver']}",
             f" Cgroup Version: {data['CgroupVersion']}", f" Default Runtime: {data['DefaultRuntime']} (in-process)",
             f" Kernel Version: {data['KernelVersion']}", f" Operating System: {data['OperatingSystem']}",
             f" OSType: {data['OSType']}", f" Architecture: {data['Architecture']}", f" CPUs: {data['NCPU']}",
             f" Total Memory: {data['MemTotal'] / 1024 ** 3:.4g}GiB", f" Name: {data['Name']}",
             f" Hull Root Dir: {data['DockerRootDir']}",
             f" IPv4 Forwarding: {'enabled' if data['IPv4Forwarding'] else 'disabled (no network needs it)'}"]
    print("\n".join(lines))
    return 0


def cmd_system_reset(args):
    import os
    from runtime.cli.images import confirm
    root = os.path.abspath(args.root)
    if not args.force and not confirm(f"WARNING! This will remove every container, image, volume, network and "
                                      f"cache of {root}, and {root} itself."):
        return 0
    service.reset(root)
    return 0


class Event(dict):
    """An event message as --format sees it: docker's Go field names (.Scope, .TimeNano, .ID ...)
    over the API's JSON keys, which {{json .}} prints as they are."""
    ALIASES = {"Scope": "scope", "Time": "time", "TimeNano": "timeNano", "Status": "status", "ID": "id",
               "From": "from"}

    def get(self, key, default=None):
        return super().get(self.ALIASES.get(key, key), default)


def event_line(e: dict) -> str:
    """docker's default: 2024-01-02T10:00:00.123456789Z container die ID (exitCode=0, name=web)."""
    import time
    ns = e.get("timeNano") or e["time"] * 10 ** 9
    t = time.localtime(ns // 10 ** 9)
    off = t.tm_gmtoff
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ns % 10 ** 9:09d}" + zone
    attrs = e["Actor"].get("Attributes") or {}
    shown = f" ({', '.join(f'{k}={attrs[k]}' for k in sorted(attrs))})" if attrs else ""
    return f"{stamp} {e['Type']} {e['Action']} {e['Actor']['ID']}{shown}\n"


def cmd_events(args):
    import time
    from runtime.cli.containers import filters_body
    from runtime.cli.template import render
    now = time.time()
    fmt = args.format
    if fmt and fmt.strip() == "json":
        fmt = "{{json .}}"
    for e in service.events(args.root, display.time_arg(args.since, now), display.time_arg(args.until, now),
                            filters_body(args.filter)):
        sys.stdout.write(render(fmt, Event(e)) + "\n" if fmt else event_line(e))
        sys.stdout.flush()  # a stream: each event as it happens, also into a pipe
    return 0


def print_version() -> int:
    """docker version's two parts: this client, and the engine it drives (the same hull: daemonless,
    the CLI is its own server; `hull system service` serves the same engine to docker's clients)."""
    import platform
    v = service.version()
    print(f"Client:\n Version:           {v['Version']}\n API version:       {v['ApiVersion']}\n"
          f" Python version:    {platform.python_version()}\n OS/Arch:           linux/{v['Arch']}\n\n"
          f"Server: hull\n Engine:\n  Version:          {v['Version']}\n"
          f"  API version:      {v['ApiVersion']} (minimum version {v['MinAPIVersion']})\n"
          f"  Python version:   {platform.python_version()}\n  OS/Arch:          linux/{v['Arch']}\n"
          f"  Kernel:           {v['KernelVersion']}\n  Experimental:     false\n"
          f" hull-oci:\n  Version:          {v['Version']}")
    return 0


def cmd_system_service(args):
    from runtime import api
    from runtime.errors import InvalidArgument
    try:
        idle = float(args.time)
        if idle < 0:
            raise ValueError
    except ValueError:
        raise InvalidArgument(f"invalid --time {args.time!r}: seconds, 0 for never") from None
    tls = {"ca": args.tlscacert, "cert": args.tlscert, "key": args.tlskey} if args.tlsverify else None
    api.serve(args.root, args.host, idle, args.group, tls, args.config)
    return 0


HANDLERS = {"events": cmd_events, "system-service": cmd_system_service, "system-prune": cmd_system_prune, "system-df": cmd_system_df, "system-reset": cmd_system_reset,
            "info": cmd_info, "container-prune": cmd_container_prune}
