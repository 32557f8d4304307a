"""A container's life over the OCI core, in-process (no hull-oci subprocess on the hot path):

    prepare()   mount its root filesystem (the image's layers + its init layer + its own writable
                layer, runtime/image/rootfs.py), write its /etc/hostname, hosts, resolv.conf, and
                its OCI config.json (bundle.py)
    launch()    the core's create + start with the given stdio; the caller (the shared monitor,
                or a foreground `hull run`) is the init's subreaper and records the exit
    finish()    record the exit (code, time, OOM), delete the core container, unmount the rootfs,
                then --rm or nothing; the writable layer stays for diff/commit/start
    stop/kill/remove, and reconcile() for a container whose watcher died before it did

The core's state lives in ROOT/run/oci (its cgroups: /hull/@HASH-ID, one per root), so two hulls
with different roots share nothing.
"""
import os
import _signal as signal

from runtime import fastjson as json
from runtime.clock import now_rfc3339
from runtime.engine import bundle, events
from runtime.engine.containers import Container, Containers, wait_until
from runtime.errors import Conflict, HullError, NotFound
from runtime.linux import proc


def core_store(root: str):
    from runtime.container.state import Store
    return Store(os.path.join(root, "run", "oci"))


def image_store(root: str):
    from runtime.image.store import Store
    return Store(os.path.join(root, "images"))


# -- prepare -------------------------------------------------------------------------------------------

def prepare(c: Container) -> str:
    """Mount the rootfs and write the bundle; returns the bundle directory."""
    from runtime import cgroups
    from runtime.image import rootfs
    cfg, hc = c.config["Config"], c.config["HostConfig"]
    from runtime.engine import volumes
    with image_store(c.root) as st:
        _, desc = st.lookup(c.config["ImageID"])
        bundle.init_layer(c.path("init"), bool(hc.get("Init")))
        merged = rootfs.mount(st, desc, c.dir, extra_lower=c.path("init"))
    try:
        files = _etc_files(c)
        points = c.config.get("Mounts") or []
        volumes.copy_up(points, merged)
        mode = network_mode(c)
        if mode.startswith("container:"):
            hc = {**hc, "NetworkContainerNs": _container_netns(c, mode.split(":", 1)[1])}
        spec = bundle.oci_config(cfg, hc, merged, files, cgroups.detect() == 2)
        spec["mounts"] += volumes.oci_mounts(points)
        os.makedirs(c.path("bundle"), exist_ok=True)
        with open(c.path("bundle", "config.json"), "w") as f:
            json.dump(spec, f)
    except BaseException:
        rootfs.unmount(c.dir)
        raise
    return c.path("bundle")


def _etc_files(c: Container, own_ip: str | None = None, nameserver: str | None = None) -> dict:
    """The container's own /etc/hostname, /etc/hosts, /etc/resolv.conf (bind-mounted files),
    written at every start as docker does (its address may have changed); on a user network the
    resolver is hull's on the gateway; --network container:NAME shares that container's."""
    cfg, hc = c.config["Config"], c.config["HostConfig"]
    mode = hc.get("NetworkMode") or "none"
    if mode.startswith("container:"):
        other = Containers(c.root).get(mode.split(":", 1)[1])
        return {f"/etc/{n}": other.path(n) for n in ("hostname", "hosts", "resolv.conf")}
    hostname = cfg.get("Hostname") or c.id[:12]
    host_net = mode == "host"
    contents = {
        "hostname": hostname + "\n",
        "hosts": _host_file("/etc/hosts") if host_net else
        bundle.hosts_file(hostname, hc.get("ExtraHosts") or [], own_ip),
        "resolv.conf": _host_file("/etc/resolv.conf") if host_net else
        bundle.resolv_conf(hc.get("Dns") or ([nameserver] if nameserver else []),
                           hc.get("DnsSearch") or [], hc.get("DnsOptions") or [], keep_search=not nameserver),
    }
    files = {}
    for name, text in contents.items():
        path = c.path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        os.fchmod(fd, 0o644)  # readable by the container's non-root users, whatever the umask
        with os.fdopen(fd, "w") as f:
            f.write(text)
        files[f"/etc/{name}"] = path
    return files


def _container_netns(c: Container, ref: str) -> str:
    other = Containers(c.root).get(ref)
    if not other.init_alive():
        raise Conflict(f"cannot join network of a non running container: {ref}")
    return f"/proc/{other.state['Pid']}/ns/net"


def _host_file(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


# -- launch, finish -------------------------------------------------------------------------------------

def network_mode(c: Container) -> str:
    return c.config["HostConfig"].get("NetworkMode") or "none"


def launch(c: Container, stdio, console=None, agent=None, reservation=None) -> int:
    """Create the container, put it on its network, start it (the caller holds its lock and is a
    child subreaper, so the init becomes its child); records it as running, watched by this
    process. Returns the init PID. reservation (network.ports) holds its host ports for the caller."""
    from runtime.container import lifecycle
    mode = network_mode(c)
    bridged = mode not in ("none", "host") and not mode.startswith("container:")
    own_agent = None
    if bridged and agent is None:
        from runtime.network import netlink
        agent = own_agent = netlink.Agent()  # pyroute2 loads in it meanwhile, on the other core
    path = prepare(c)
    store = core_store(c.root)
    attached = []
    try:
        lifecycle.delete(store, c.id, force=True)  # what a crash may have left in the core
        core = lifecycle.create(store, c.id, path, console=console, stdio=stdio)
        if bridged:
            attached = _connect(c, core.pid, agent, mode, reservation)
        c.state["Network"] = attached  # recorded before it runs: whoever ends it knows what to take back
        c.save_state()
        lifecycle.start(store, c.id)
    except BaseException:
        _disconnect(c, attached)
        if reservation is not None:
            reservation.release()
        _release(c)
        raise
    finally:
        if own_agent is not None:
            own_agent.close()
    me = os.getpid()
    c.state.update(Running=True, Paused=False, Restarting=False, Pid=core.pid, PidStart=core.record["init_start"],
                   StartedAt=now_rfc3339(), FinishedAt=c.state.get("FinishedAt"), ExitCode=0, Error="",
                   OOMKilled=False, Monitor={"pid": me, "start": proc.start_time(me)})
    c.save_state()
    events.container(c, "start")
    return core.pid


def _connect(c: Container, pid: int, agent, mode: str, reservation) -> list:
    """The container's networks (its first, then those `network connect` added while it was
    stopped), its published ports on the first; its /etc/hosts and resolv.conf written to match."""
    from runtime.network import endpoint, ports
    hc = c.config["HostConfig"]
    bindings = ports.from_docker(hc.get("PortBindings") or {})
    if hc.get("PublishAllPorts"):
        published = {f"{b['container_port']}/{b['proto']}" for b in bindings}
        bindings += [b for b in ports.exposed(c.config["Config"].get("ExposedPorts"))
                     if f"{b['container_port']}/{b['proto']}" not in published]
    if reservation is None:
        reservation = ports.Reservation()
    attached = []
    try:
        for i, (name, opts) in enumerate(_networks_of(c, mode)):
            attached.append(endpoint.connect(c, pid, agent, name, opts.get("Aliases") or [], opts.get("IPAddress"),
                                             bindings if i == 0 else [], reservation, endpoint_alive(c.root), index=i))
            network_event(c, attached[-1], "connect")
    except BaseException:
        _disconnect(c, attached)
        raise
    first = attached[0]
    user_network = first["network"] != "bridge"
    _etc_files(c, first["endpoint"]["IPv4Address"], first["gateway"] if user_network else None)
    return attached


def _networks_of(c: Container, mode: str) -> list:
    extra = c.config.get("Networks") or {}
    first = extra.get(mode) or {"Aliases": c.config["HostConfig"].get("NetworkAliases") or [],
                                "IPAddress": c.config["HostConfig"].get("IPAddress")}
    return [(mode, first)] + [(n, o) for n, o in extra.items() if n != mode]


def endpoint_alive(root: str):
    """Is the container an endpoint belongs to still there and running (or starting: its runtime
    state exists)? Endpoints of the others are taken back when an address is handed out."""
    def alive(cid: str) -> bool:
        c = Container(root, cid)
        try:
            c.load()
        except HullError:
            return False
        return c.init_alive() or os.path.isdir(os.path.join(root, "run", "oci", cid))
    return alive


def _disconnect(c: Container, attached: list) -> None:
    from runtime.network import endpoint
    for a in attached:
        try:
            endpoint.disconnect(c.root, c.id, a)
        except (OSError, HullError):
            pass
        network_event(c, a, "disconnect")


def network_event(c: Container, attached: dict, action: str) -> None:
    events.emit(c.root, "network", action, attached.get("network_id") or attached["network"],
                {"container": c.id, "name": attached["network"], "type": "bridge"})


def needs_dns(c: Container) -> bool:
    """Is the container on a user network (where the monitor answers names)?"""
    return any(a["network"] != "bridge" for a in c.state.get("Network") or [])


def finish(c: Container, code: int, error: str = "") -> bool:
    """Record an exit (the caller holds the lock); returns True if --rm removed the container."""
    c.state.update(Running=False, Paused=False, Pid=0, PidStart=None, ExitCode=code, Error=error,
                   FinishedAt=now_rfc3339(), OOMKilled=_oom_killed(c))
    _release(c)
    _disconnect(c, c.state.get("Network") or [])
    c.state["Network"] = []
    auto_remove = c.config["HostConfig"].get("AutoRemove")
    try:
        c.save_state()
    except OSError:  # a full disk: --rm removes the record anyway, and frees the space it holds
        if not auto_remove:
            raise
    if c.state.get("OOMKilled"):
        events.container(c, "oom")
    events.container(c, "die", exitCode=code)
    if auto_remove:
        remove_files(c, anonymous_volumes=True)  # --rm takes its anonymous volumes too, as docker
        return True
    return False


def _oom_killed(c: Container) -> bool:
    try:
        core = core_store(c.root).get(c.id)
    except HullError:
        return False
    return core.oom_killed()


def _release(c: Container) -> None:
    """What a run holds on the host: the core container (cgroup, state) and the rootfs mount."""
    from runtime.container import lifecycle
    from runtime.image import rootfs
    try:
        lifecycle.delete(core_store(c.root), c.id, force=True)
    finally:
        rootfs.unmount(c.dir)


def reconcile(c: Container) -> None:
    """A container recorded as running whose init and watcher are both gone (kill -9 of the
    monitor or of a foreground `hull run`): say so, and release what it held."""
    if c.lost():
        finish(c, -1, "hull lost this container's exit status: the process watching it ended first")


# -- stop, kill, pause, remove ------------------------------------------------------------------------

def stop_signal(c: Container) -> int:
    from runtime.container.lifecycle import parse_signal
    return parse_signal(c.config["Config"].get("StopSignal") or "SIGTERM")


def signal_container(c: Container, sig: int) -> None:
    from runtime.container import lifecycle
    if not c.init_alive():
        raise Conflict(f"Container {c.id[:12]} is not running")
    lifecycle.kill(core_store(c.root), c.id, sig)
    events.container(c, "kill", signal=sig)


def signal_if_running(c: Container, sig: int) -> None:
    """For stop and rm -f: a container that ends by itself between our look and our signal is
    fine (its watcher needs no lock of ours to see it exit)."""
    try:
        signal_container(c, sig)
    except Conflict:
        pass


def wait_stopped(c: Container, timeout: float | None) -> bool:
    """Wait until the container's exit was recorded (by its watcher), or its init is gone and
    nobody watches it any more; True if it stopped in time."""
    def stopped():
        c.load()
        return not c.state.get("Running") or c.lost() or (not c.init_alive() and not c.owner_alive())
    return wait_until(stopped, timeout)


def stop(containers: Containers, c: Container, timeout: float | None, sig: str | None = None) -> None:
    """docker stop: sig (else the container's StopSignal, else SIGTERM), then SIGKILL after the
    timeout (the container's StopTimeout or 10 s); a container that is not running is fine."""
    from runtime.container.lifecycle import parse_signal
    first = parse_signal(sig) if sig else None  # a bad name fails before anything changes
    with c:
        c.state["StoppedByUser"] = True  # no restart policy brings it back (docker's rule)
        c.state["Restarting"] = False
        c.save_state()
        running = c.init_alive()
        if running:
            if c.state.get("Paused"):
                unpause(c)
            signal_if_running(c, first or stop_signal(c))  # stop_signal after the load: the record on disk
    if timeout is None:
        timeout = c.config["Config"].get("StopTimeout") or 10
    if running and not wait_stopped(c, timeout):
        with c:
            signal_if_running(c, signal.SIGKILL)
        wait_stopped(c, 30)
    with c:
        reconcile(c)
    if running:
        events.container(c, "stop")


def pause(c: Container) -> None:
    """Recorded before the freeze, so a command killed in between leaves a container that says
    paused (unpause then only corrects the record) rather than a frozen one that says running."""
    from runtime.container import control
    if not c.init_alive():
        raise Conflict(f"Container {c.id[:12]} is not running")
    if c.state.get("Paused"):
        raise Conflict(f"Container {c.id[:12]} is already paused")
    c.state["Paused"] = True
    c.save_state()
    try:
        control.pause(core_store(c.root), c.id)
    except BaseException:
        c.state["Paused"] = False
        c.save_state()
        raise
    events.container(c, "pause")


def unpause(c: Container) -> None:
    """Thaw, then record it; a container that is not frozen (a pause or unpause was killed half
    way) only gets its record put right."""
    from runtime.container import control
    if not c.state.get("Paused") or not c.init_alive():
        raise Conflict(f"Container {c.id[:12]} is not paused")
    if core_status(c) == "paused":
        control.resume(core_store(c.root), c.id)
    c.state["Paused"] = False
    c.save_state()
    events.container(c, "unpause")


def core_status(c: Container) -> str:
    try:
        return core_store(c.root).get(c.id).status()
    except NotFound:
        return "stopped"


def remove(containers: Containers, ref: str, force: bool, volumes: bool = False) -> str:
    """docker rm [-f]; returns the name the user gave (as docker prints it). The lock is held to the
    end, so of two rm's of one container the second finds nothing; a watcher that comes to record
    the exit then finds nothing either, and lets it be."""
    c = Container(containers.root, containers.resolve(ref))
    if containers.discard_half_made(c.id):
        return ref  # a create killed before the record was whole
    with c:
        status = c.status()
        if status in ("running", "paused", "restarting") and not force:
            raise Conflict(f"You cannot remove a {status} container {c.id}. Stop the container before "
                           "attempting removal or force remove")
        if c.init_alive():
            if c.state.get("Paused"):
                unpause(c)
            signal_if_running(c, signal.SIGKILL)
            wait_until(lambda: not c.init_alive(), 10)
        _release(c)
        _disconnect(c, c.state.get("Network") or [])
        remove_files(c, anonymous_volumes=volumes)
    return ref


def remove_files(c: Container, anonymous_volumes: bool = False) -> None:
    """The record, and with it (rm -v, --rm) the anonymous volumes it made; named ones stay."""
    from runtime.engine.volumes import Volumes
    from runtime.network import endpoint
    endpoint.forget(c.root, c.id)
    Containers(c.root).remove(c)
    events.container(c, "destroy")
    if anonymous_volumes:
        vols = Volumes(c.root)
        others = set()
        for other in Containers(c.root).all():
            others.update(m.get("Name") for m in other.config.get("Mounts") or [])
        for m in c.config.get("Mounts") or []:
            if m.get("Type") == "volume" and vols.anonymous(m["Name"]) and m["Name"] not in others:
                vols.remove(m["Name"], {})


def core_pids(c: Container) -> list:
    from runtime.container import control
    try:
        return control.pids(core_store(c.root), c.id)
    except NotFound:
        return []
