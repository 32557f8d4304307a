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


HANDLERS = {"system-prune": cmd_system_prune, "system-df": cmd_system_df, "system-reset": cmd_system_reset,
            "info": cmd_info, "container-prune": cmd_container_prune}
