"""The root as a whole, as docker's API answers for it (see service/__init__.py): GET /info,
GET /system/df, and what `system prune` and `system reset` take back, including what a crashed
hull left (mounts, core state, cgroups, leases, published ports)."""
import os

from runtime.engine.containers import Container, Containers, du


def events(root: str, since: float | None = None, until: float | None = None, filters: dict | None = None,
           follow: bool | None = None, give_up=None):
    """GET /events: docker's event messages in order (a generator). Without since or until only new
    ones; it follows until `until` passes (forever without one), as docker's stream does."""
    from runtime.engine import events as journal
    match = journal.matcher(filters or {})
    lo = None if since is None else int(since * 10 ** 9)
    hi = None if until is None else int(until * 10 ** 9)
    if lo is not None and hi is not None and hi < lo:
        from runtime.errors import InvalidArgument
        raise InvalidArgument(f"`since` time ({since}) cannot be after `until` time ({until})")
    if follow is None:
        import time
        follow = hi is None or hi > time.time_ns()
    return (e for e in journal.read(root, lo, hi, follow, give_up=give_up) if match(e))


API_VERSION, MIN_API_VERSION = "1.43", "1.24"  # the Docker Engine API versions the service speaks


def version() -> dict:
    """GET /version: docker's SystemVersion (strings in Components' Details, as docker's)."""
    import platform
    from runtime import __version__
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch,
               "KernelVersion": os.uname().release, "GitCommit": "", "GoVersion": f"python{platform.python_version()}"}
    return {"Platform": {"Name": "hull"}, "Version": __version__, **details, "BuildTime": "", "Experimental": False,
            "Components": [{"Name": "Engine", "Version": __version__,
                            "Details": {**{k: str(v) for k, v in details.items()}, "Experimental": "false"}},
                           {"Name": "hull-oci", "Version": __version__, "Details": {"GitCommit": ""}}]}


def info(root: str) -> dict:
    """GET /info: docker's SystemInfo (the fields hull has)."""
    from runtime import __version__, cgroups
    from runtime.engine.service.images import store
    containers = Containers(root).all()
    status = [c.status() for c in containers]
    with store(root) as st:
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
            "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "DockerRootDir": root,
            "Name": os.uname().nodename, "ServerVersion": __version__, "DefaultRuntime": "hull-oci",
            "IPv4Forwarding": forwarding, "Runtimes": {"hull-oci": {"path": "in-process"}}}


def df(root: str) -> dict:
    """GET /system/df: {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}, each entry
    with what docker's CLI adds up (Size, Containers / SizeRw, State / UsageData). A build step's
    Size counts only the layers no image and no earlier step has."""
    from runtime.engine.containers import image_users
    from runtime.engine.service.images import store
    from runtime.engine.volumes import Volumes, users
    from runtime.image.store import is_cache
    containers = Containers(root).all()
    in_use = image_users(root)
    images, cache, image_layers = {}, [], set()
    with store(root) as st:
        for _, desc in st.entries():
            layers = list(zip((b["digest"] for b in st.manifest(desc)["layers"]), st.layer_sizes(desc)))
            if is_cache(desc):
                cache.append((st.image_id(desc), layers))
                continue
            images[st.image_id(desc)] = st.size(desc)
            image_layers.update(blob for blob, _ in layers)
    counted, build_cache = set(image_layers), []
    for step_id, layers in cache:
        size = sum(n for blob, n in layers if blob not in counted)
        counted.update(blob for blob, _ in layers)
        build_cache.append({"ID": step_id, "Type": "regular", "Size": size, "InUse": False, "Shared": False})
    vols, used = Volumes(root), users(root)
    return {
        "LayersSize": sum(images.values()),
        "Images": [{"Id": i, "Size": size, "SharedSize": -1, "Containers": len(in_use.get(i, []))}
                   for i, size in images.items()],
        "Containers": [{"Id": c.id, "Names": ["/" + c.name], "SizeRw": du(c.path("upper")), "State": c.status()}
                       for c in containers],
        "Volumes": [{**vols.inspect(n), "UsageData": {"Size": vols.size(n), "RefCount": len(used.get(n, []))}}
                    for n in vols.names()],
        "BuildCache": build_cache,
    }


def sweep(root: str) -> list:
    """Remove what no container of this root accounts for; returns a line per thing removed:
    records a killed create left half-made, address leases (and their ports) of containers not running,
    overlay mounts of stopped or missing containers, the OCI core's state and cgroups of
    containers that do not run, the monitor's cgroup when no monitor runs."""
    from runtime import cgroups
    from runtime.container import lifecycle
    from runtime.engine import monitor, runner
    from runtime.files import flock_held
    from runtime.image import rootfs
    from runtime.linux import mounts
    from runtime.network import endpoint, firewall
    from runtime.network.networks import Networks
    out = []
    records = Containers(root)
    containers = {c.id: c for c in records.all()}
    running = {cid for cid, c in containers.items() if c.init_alive()}

    def settled(cid: str) -> bool:
        """Nobody works on it: a start, a stop, an rm (its lock) or a run or build step between
        create and start (its claim) would find its mount, state or cgroup swept from under it."""
        c = Container(root, cid)
        return not flock_held(c.path("lock")) and not c.claimed()
    base = os.path.join(root, "containers")
    for _, point, _ in mounts.mountinfo():
        if point.startswith(base + "/") and point.endswith("/merged"):
            cid = point[len(base) + 1:-len("/merged")]
            if cid not in running and settled(cid):
                rootfs.unmount(os.path.dirname(point))
                out.append(f"unmounted {point}")
    # unmounted first: what is deleted here must not reach through a mount
    out += [f"removed the half-made record of {cid[:12]}" for cid in records.ids() if records.discard_half_made(cid)]
    out += [f"finished removing {cid[:12]}" for cid in records.sweep_removed()]
    core = runner.core_store(root)
    for c in core.list():
        if c.id not in running and settled(c.id):
            lifecycle.delete(core, c.id, force=True)
            out.append(f"removed the runtime state of {c.id[:12]}")
    tag = cgroups.root_tag(core.root)
    for path in _cgroup_dirs(f"@{tag.lstrip('@')}-" if tag else None):
        cid = path.rsplit("-", 1)[-1]
        if cid not in running and settled(cid):
            cgroups.new(path).destroy()
            out.append(f"removed cgroup {path}")
    alive = runner.endpoint_alive(root)
    nets = Networks(root)
    for name in nets.names():
        for cid in list(nets.load(name)["Endpoints"]):
            if cid not in running and not alive(cid) and settled(cid):
                for net, address in endpoint.forget(root, cid):
                    out.append(f"released the address {address} of {cid[:12]} on {net}")
    live = {a["endpoint"]["IPv4Address"] for cid in running for a in containers[cid].state.get("Network") or []}
    starting = not all(settled(cid) for cid in containers if cid not in running)  # its ports may not be recorded yet
    t = endpoint.table_for(root)
    for m, key, address in [] if starting else firewall.published(t):
        if address not in live:
            firewall.delete_element(t, m, key)
            out.append(f"removed the published port {key} (to {address})")
    _, lock = monitor.paths(root)
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


def reset(root: str) -> None:
    """podman's system reset: what prune keeps (running containers, images, the default bridge
    and the root's nftables table, which outlive every container as docker0 does) goes too, and
    the root itself."""
    import shutil
    import time
    from runtime.engine import monitor, runner
    from runtime.engine.service import networks
    from runtime.files import flock_held
    from runtime.network import endpoint, firewall
    from runtime.network.networks import Networks
    root = os.path.abspath(root)
    containers = Containers(root)
    for c in containers.all():
        runner.remove(containers, c.id, force=True, volumes=True)
    nets = Networks(root)
    for name in nets.names():
        networks.drop(root, nets.load(name))
    sweep(root)
    firewall.drop_table(endpoint.table_for(root))
    _, lock = monitor.paths(root)
    deadline = time.monotonic() + 10
    while flock_held(lock) and time.monotonic() < deadline:  # it leaves once it has nothing to watch
        time.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)
