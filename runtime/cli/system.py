"""hull system prune | df, hull info, hull container prune: what a root holds, and taking back
what is unused, including what a crashed hull left (mounts, core state, cgroups)."""
import os
import sys

from runtime.cli import display
from runtime.cli.args import Flag, Verb
from runtime.engine.containers import du
from runtime.errors import HullError

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


def _containers(args):
    from runtime.engine.containers import Containers
    return Containers(args.root)


def prune_containers(args) -> tuple:
    """Remove every container that is not running: ([IDs], bytes freed)."""
    from runtime.engine import runner
    gone, freed = [], 0
    for c in _containers(args).all():
        with c:
            runner.reconcile(c)
        if c.status() in ("exited", "created", "dead"):
            freed += du(c.path("upper"))
            try:
                runner.remove(_containers(args), c.id, force=False)
                gone.append(c.id)
            except HullError:
                pass  # started meanwhile
    return gone, freed


def cmd_container_prune(args):
    from runtime.cli.images import confirm
    if not args.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    gone, freed = prune_containers(args)
    display.deleted("Containers", gone)
    display.reclaimed(freed)
    return 0


def leaks(root: str) -> list:
    """Remove what no container of this root accounts for; returns a line per thing removed:
    records a killed create left half-made, address leases (and their ports) of containers not running,
    overlay mounts of stopped or missing containers, the OCI core's state and cgroups of
    containers that do not run, the monitor's cgroup when no monitor runs."""
    from runtime import cgroups
    from runtime.container import lifecycle
    from runtime.engine import monitor, runner
    from runtime.engine.containers import Containers
    from runtime.image import rootfs
    from runtime.linux import mounts
    out = []
    records = Containers(root)
    containers = {c.id: c for c in records.all()}
    running = {cid for cid, c in containers.items() if c.init_alive()}
    base = os.path.join(root, "containers")
    for _, point, _ in mounts.mountinfo():
        if point.startswith(base + "/") and point.endswith("/merged"):
            cid = point[len(base) + 1:-len("/merged")]
            if cid not in running:
                rootfs.unmount(os.path.dirname(point))
                out.append(f"unmounted {point}")
    # unmounted first: what is deleted here must not reach through a mount
    out += [f"removed the half-made record of {cid[:12]}" for cid in records.ids() if records.discard_half_made(cid)]
    out += [f"finished removing {cid[:12]}" for cid in records.sweep_removed()]
    core = runner.core_store(root)
    for c in core.list():
        if c.id not in running:
            lifecycle.delete(core, c.id, force=True)
            out.append(f"removed the runtime state of {c.id[:12]}")
    tag = cgroups.root_tag(core.root)
    for path in _cgroup_dirs(f"@{tag.lstrip('@')}-" if tag else None):
        cid = path.rsplit("-", 1)[-1]
        if cid not in running:
            cgroups.new(path).destroy()
            out.append(f"removed cgroup {path}")
    from runtime.network import endpoint, firewall
    from runtime.network.networks import Networks
    alive = runner.endpoint_alive(root)
    nets = Networks(root)
    for name in nets.names():
        for cid in list(nets.load(name)["Endpoints"]):
            if cid not in running and not alive(cid):
                for net, address in endpoint.forget(root, cid):
                    out.append(f"released the address {address} of {cid[:12]} on {net}")
    live = {a["endpoint"]["IPv4Address"] for cid in running for a in containers[cid].state.get("Network") or []}
    t = endpoint.table_for(root)
    for m, key, address in firewall.published(t):
        if address not in live:
            firewall.delete_element(t, m, key)
            out.append(f"removed the published port {key} (to {address})")
    sock, lock = monitor.paths(root)
    from runtime.files import flock_held
    if not flock_held(lock):
        for path in _cgroup_dirs(f"@monitor{tag}", exact=True):
            cgroups.new(path).destroy()
            out.append(f"removed cgroup {path}")
    return out


def _cgroup_dirs(prefix: str | None, exact: bool = False) -> list:
    """Paths below /hull (in any hierarchy) named PREFIX... (or exactly PREFIX)."""
    from runtime.cgroups.base import PARENT
    if prefix is None:
        return []
    found = set()
    tops = ["/sys/fs/cgroup"] if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else [
        os.path.join("/sys/fs/cgroup", d) for d in os.listdir("/sys/fs/cgroup")]
    for top in tops:
        try:
            names = os.listdir(top + PARENT)
        except OSError:
            continue
        found.update(f"{PARENT}/{n}" for n in names if (n == prefix if exact else n.startswith(prefix)))
    return sorted(found)


def cmd_system_prune(args):
    from runtime.cli import images
    from runtime.cli.images import confirm
    from runtime.engine.service import volumes
    what = ["all stopped containers", "all volumes not used by at least one container" if args.volumes else None,
            "all images without at least one container associated to them" if args.all else "all dangling images",
            "all networks not used by at least one container", "all build cache",
            "what a crashed hull left behind (mounts, runtime state, cgroups, published ports)"]
    if not args.force and not confirm("WARNING! This will remove:\n" + "\n".join(
            f"  - {w}" for w in what if w) + "\n"):
        return 0
    gone, freed = prune_containers(args)
    display.deleted("Containers", gone)
    if args.volumes:
        report = volumes.prune(args.root)
        freed += report["SpaceReclaimed"]
        display.deleted("Volumes", report["VolumesDeleted"])
    from runtime.engine.service import networks
    nets = networks.prune(args.root)["NetworksDeleted"]
    display.deleted("Networks", nets)
    removed, img_freed = images.prune_images(args, every=args.all)
    freed += img_freed
    display.deleted("Images", removed)
    from runtime.cli.build import prune_cache
    cache, cache_freed = prune_cache(args)
    freed += cache_freed
    display.deleted("build cache objects", cache)
    for line in leaks(args.root):
        print(line)
    display.reclaimed(freed)
    return 0


def cmd_system_df(args):
    from runtime.cli.images import store
    from runtime.cli.template import Struct, format_rows
    from runtime.engine.containers import image_users
    from runtime.engine.volumes import Volumes, users
    containers = _containers(args).all()
    in_use = image_users(args.root)
    from runtime.image.store import is_cache
    with store(args) as st:
        images, image_layers, cache_layers, steps = {}, set(), {}, 0
        for _, desc in st.entries():
            layers = [b["digest"] for b in st.manifest(desc)["layers"]]
            if is_cache(desc):  # a build step: counted as build cache, for the layers no image has
                steps += 1
                cache_layers.update(zip(layers, st.layer_sizes(desc)))
                continue
            images[st.image_id(desc)] = st.size(desc)
            image_layers.update(layers)
        cache_size = sum(n for blob, n in cache_layers.items() if blob not in image_layers)
    image_active = sum(1 for i in images if i in in_use)
    image_reclaim = sum(size for i, size in images.items() if i not in in_use)
    sizes = {c.id: du(c.path("upper")) for c in containers}
    running = [c for c in containers if c.init_alive()]
    vols = Volumes(args.root)
    used = users(args.root)
    vol_sizes = {n: vols.size(n) for n in vols.names()}

    def pct(part, whole):
        return f"{display.human_size(part)} ({part * 100 // whole if whole else 0}%)"
    rows = [
        Struct({"Type": "Images", "TotalCount": str(len(images)), "Active": str(image_active),
                "Size": display.human_size(sum(images.values())),
                "Reclaimable": pct(image_reclaim, sum(images.values()))}),
        Struct({"Type": "Containers", "TotalCount": str(len(containers)), "Active": str(len(running)),
                "Size": display.human_size(sum(sizes.values())),
                "Reclaimable": pct(sum(s for cid, s in sizes.items() if cid not in {c.id for c in running}),
                                   sum(sizes.values()))}),
        Struct({"Type": "Local Volumes", "TotalCount": str(len(vol_sizes)),
                "Active": str(sum(1 for n in vol_sizes if n in used)), "Size": display.human_size(sum(vol_sizes.values())),
                "Reclaimable": pct(sum(s for n, s in vol_sizes.items() if n not in used), sum(vol_sizes.values()))}),
        Struct({"Type": "Build Cache", "TotalCount": str(steps), "Active": "0", "Size": display.human_size(cache_size),
                "Reclaimable": display.human_size(cache_size)}),
    ]
    sys.stdout.write(format_rows(args.format or "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t"
                                 "{{.Reclaimable}}", rows, {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
                                                           "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}))
    if args.verbose:
        print("\nContainers space usage:\n")
        sys.stdout.write(format_rows("table {{.ID}}\t{{.Names}}\t{{.Size}}\t{{.Status}}", [
            Struct({"ID": c.id[:12], "Names": c.name, "Size": display.human_size(sizes[c.id]),
                    "Status": c.status()}) for c in containers],
            {"ID": "CONTAINER ID", "Names": "NAMES", "Size": "SIZE", "Status": "STATUS"}))
        print("\nLocal Volumes space usage:\n")
        sys.stdout.write(format_rows("table {{.Name}}\t{{.Links}}\t{{.Size}}", [
            Struct({"Name": n, "Links": str(len(used.get(n, []))), "Size": display.human_size(s)})
            for n, s in vol_sizes.items()], {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}))
    return 0


def info(args) -> dict:
    from runtime import __version__, cgroups
    from runtime.cli.images import store
    containers = _containers(args).all()
    status = [c.status() for c in containers]
    with store(args) as st:
        n_images = len({st.image_id(d) for _, d in st.entries()})
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            forwarding = f.read().strip() == "1"
    except OSError:
        forwarding = False
    os_name = ""
    try:
        with open("/etc/os-release") as f:
            os_name = next((line.split("=", 1)[1].strip().strip('"') for line in f if line.startswith("PRETTY_NAME=")), "")
    except OSError:
        pass
    with open("/proc/filesystems") as f:
        overlay = "overlay" in f.read()
    return {"ID": "", "Containers": len(containers), "ContainersRunning": status.count("running"),
            "ContainersPaused": status.count("paused"),
            "ContainersStopped": len(containers) - status.count("running") - status.count("paused"),
            "Images": n_images, "Driver": "overlay", "DriverStatus": [["Supports overlay", str(overlay).lower()]],
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": str(cgroups.detect()),
            "KernelVersion": os.uname().release, "OperatingSystem": os_name, "OSType": "linux",
            "Architecture": os.uname().machine, "NCPU": os.cpu_count(),
            "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "DockerRootDir": args.root,
            "Name": os.uname().nodename, "ServerVersion": __version__, "DefaultRuntime": "hull-oci",
            "IPv4Forwarding": forwarding, "Runtimes": {"hull-oci": {"path": "in-process"}}}


def cmd_info(args):
    data = info(args)
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
    """podman's system reset: what prune keeps (running containers, images, the default bridge
    and the root's nftables table, which outlive every container as docker0 does) goes too."""
    import shutil
    import time
    from runtime.cli.images import confirm
    from runtime.engine.service import networks
    from runtime.files import flock_held
    from runtime.engine import monitor, runner
    from runtime.network import endpoint, firewall
    from runtime.network.networks import Networks
    root = os.path.abspath(args.root)
    if not args.force and not confirm(f"WARNING! This will remove every container, image, volume, network and "
                                      f"cache of {root}, and {root} itself."):
        return 0
    containers = _containers(args)
    for c in containers.all():
        runner.remove(containers, c.id, force=True, volumes=True)
    nets = Networks(root)
    for name in nets.names():
        networks.drop(root, nets.load(name))
    leaks(root)
    firewall.drop_table(endpoint.table_for(root))
    _, lock = monitor.paths(root)
    deadline = time.monotonic() + 10
    while flock_held(lock) and time.monotonic() < deadline:  # it leaves once it has nothing to watch
        time.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)
    return 0


HANDLERS = {"system-prune": cmd_system_prune, "system-df": cmd_system_df, "system-reset": cmd_system_reset,
            "info": cmd_info, "container-prune": cmd_container_prune}
