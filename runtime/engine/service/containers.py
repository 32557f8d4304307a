"""Containers, as docker's API defines them: a create body in, ContainerJSON and ContainerSummary
out (see service/__init__.py for the list). The rules of what a container is made of live here,
once: the image's config merged with the request, networks and ports, volumes, the checks that
make a bad request fail at create rather than at start.
"""
import os
import time

from runtime import clock
from runtime.engine import events, runner
from runtime.engine.containers import Container, Containers, du, wait_until
from runtime.errors import Conflict, ExecFailed, HullError, InvalidArgument, NotFound, NotModified

RUNNING = ("running", "paused", "restarting")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


class ImageNotFound(NotFound):
    """create's image is not in the store: the CLI pulls it and asks again (docker's CLI does too)."""


def containers(root: str) -> Containers:
    if os.geteuid() != 0:
        raise InvalidArgument("hull runs containers as root")
    return Containers(root)


# -- create ---------------------------------------------------------------------------------------------

def create(root: str, body: dict, name: str | None = None, starting: bool = False) -> dict:
    """POST /containers/create: the record of a new container (status created), its volumes made.
    body is docker's ContainerConfig with HostConfig and NetworkingConfig. starting: this process
    starts it next (hull run): prune leaves it meanwhile."""
    from runtime.engine import bundle, logs, volumes
    from runtime.network import ports
    store = containers(root)
    hc_in = dict(body.get("HostConfig") or {})
    warnings = []
    network = requested = hc_in.get("NetworkMode") or "bridge"
    if network == "default":
        network = "bridge"
    if network.startswith("container:"):
        store.resolve(network.split(":", 1)[1])
    elif network not in ("none", "host", "bridge"):
        from runtime.network.networks import Networks
        network = Networks(root).find(network)["Name"]
    bindings = ports.from_docker(hc_in.get("PortBindings") or {})
    publish_all = bool(hc_in.get("PublishAllPorts"))
    if network in ("none", "host") or network.startswith("container:"):
        if bindings or publish_all:
            warnings.append(f"published ports are discarded with --network {network}")
        bindings, publish_all = [], False
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    endpoint = endpoints.get(requested) or endpoints.get(network) or {}
    aliases = list(endpoint.get("Aliases") or [])
    ip = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None
    if (aliases or ip) and network in ("none", "host", "bridge"):
        raise InvalidArgument("network-scoped aliases and --ip are only supported for user-defined networks")
    policy = _restart_policy(hc_in.get("RestartPolicy"))
    if hc_in.get("AutoRemove") and policy["Name"]:
        raise InvalidArgument("Conflicting options: --restart and --rm")
    log = hc_in.get("LogConfig") or {}
    if log.get("Type") not in (None, "", "json-file"):
        raise InvalidArgument(f"log driver {log['Type']!r} is not supported (json-file)")
    logs.parse_options(log.get("Config") or {})
    if body.get("StopSignal"):
        from runtime.container.lifecycle import parse_signal
        parse_signal(body["StopSignal"])
    limits = _limits(hc_in, warnings)
    _check_request(body, hc_in, network)
    # checked now, so a bad request fails create rather than start: capabilities, seccomp profile
    bundle.capabilities(hc_in.get("CapAdd") or [], hc_in.get("CapDrop") or [], bool(hc_in.get("Privileged")))
    bundle.seccomp_for(hc_in.get("SecurityOpt") or [], bool(hc_in.get("Privileged")), [])
    specs = [volumes.parse_volume_flag(v) for v in hc_in.get("Binds") or []]
    specs += [volumes.parse_api_mount(m) for m in hc_in.get("Mounts") or []]
    specs += [volumes.parse_tmpfs_flag(f"{dest}:{opts}" if opts else dest)
              for dest, opts in (hc_in.get("Tmpfs") or {}).items()]
    for ref in hc_in.get("VolumesFrom") or []:
        store.resolve(ref.split(":")[0])  # a clear error before anything is made

    image = body.get("Image") or ""
    if not image:
        raise InvalidArgument("an image is required")
    with runner.image_store(root) as st:
        try:
            _, desc = st.lookup(image)
        except NotFound:
            raise ImageNotFound(f"No such image: {image}") from None
        manifest = st.manifest(desc)
        image_id = manifest["config"]["digest"]
        image_cfg = st.config(manifest).get("config") or {}
    exposed = {**(image_cfg.get("ExposedPorts") or {}), **(body.get("ExposedPorts") or {})}
    for b in bindings:
        exposed[f"{b['container_port']}/{b['proto']}"] = {}
    ep, cmd = bundle.command(image_cfg, body.get("Entrypoint"), body.get("Cmd"))
    if not ep and not cmd:
        raise InvalidArgument("No command specified")
    stop_signal = body.get("StopSignal") or image_cfg.get("StopSignal")
    interactive = bool(body.get("OpenStdin"))
    config = {
        "Image": image_id, "ImageID": image_id,
        "Config": {"Hostname": body.get("Hostname") or "", "Domainname": body.get("Domainname") or "",
                   "User": body.get("User") or image_cfg.get("User", ""),
                   "AttachStdin": bool(body.get("AttachStdin")), "AttachStdout": bool(body.get("AttachStdout")),
                   "AttachStderr": bool(body.get("AttachStderr")), "Tty": bool(body.get("Tty")),
                   "OpenStdin": interactive, "StdinOnce": bool(body.get("StdinOnce")),
                   "Env": bundle.merge_env(image_cfg.get("Env") or [], body.get("Env") or []), "Cmd": cmd,
                   "Image": image, "Volumes": image_cfg.get("Volumes"),
                   "WorkingDir": body.get("WorkingDir") or image_cfg.get("WorkingDir", ""),
                   "Entrypoint": ep, "OnBuild": None, **({"ExposedPorts": exposed} if exposed else {}),
                   "Labels": {**(image_cfg.get("Labels") or {}), **(body.get("Labels") or {})},
                   **({"StopSignal": stop_signal} if stop_signal else {}),
                   **({"StopTimeout": body["StopTimeout"]} if body.get("StopTimeout") is not None else {})},
        "HostConfig": {"NetworkMode": network, "PortBindings": ports.to_docker(bindings),
                       "PublishAllPorts": publish_all, "NetworkAliases": aliases, "IPAddress": ip,
                       "RestartPolicy": policy, "AutoRemove": bool(hc_in.get("AutoRemove")),
                       "CapAdd": hc_in.get("CapAdd"), "CapDrop": hc_in.get("CapDrop"),
                       "Privileged": bool(hc_in.get("Privileged")), "ReadonlyRootfs": bool(hc_in.get("ReadonlyRootfs")),
                       "SecurityOpt": hc_in.get("SecurityOpt"), "Ulimits": hc_in.get("Ulimits") or [],
                       "Sysctls": hc_in.get("Sysctls") or {}, "Init": bool(hc_in.get("Init")),
                       "ShmSize": hc_in.get("ShmSize") or 67108864,
                       "LogConfig": {"Type": "json-file", "Config": log.get("Config") or {}},
                       "Dns": hc_in.get("Dns") or [], "DnsSearch": hc_in.get("DnsSearch") or [],
                       "DnsOptions": hc_in.get("DnsOptions") or [], "ExtraHosts": hc_in.get("ExtraHosts"),
                       "Memory": 0, "MemorySwap": 0, "NanoCpus": 0, "CpuShares": 0, "CpusetCpus": "",
                       "PidsLimit": None, **limits,
                       "Binds": hc_in.get("Binds"), "VolumesFrom": hc_in.get("VolumesFrom"),
                       "Tmpfs": hc_in.get("Tmpfs") or None, "ConsoleSize": _console_size(hc_in.get("ConsoleSize"))},
    }
    c = store.create(config, name, claim=starting)
    try:
        c.config["Mounts"] = volumes.resolve(root, specs, image_cfg.get("Volumes"), hc_in.get("VolumesFrom"))
    except BaseException:
        store.remove(c)
        raise
    if not c.config["Config"]["Hostname"]:  # docker: the short ID, or the host's name on its network
        c.config["Config"]["Hostname"] = os.uname().nodename if network == "host" else c.id[:12]
    c.config["LogPath"] = c.path(f"{c.id}-json.log")
    c.save_config()
    events.container(c, "create")
    return {"Id": c.id, "Warnings": warnings}


def _console_size(size) -> list:
    """HostConfig.ConsoleSize: [rows, cols] of the client's terminal (API 1.42), or [0, 0]."""
    if size in (None, [], [0, 0]):
        return [0, 0]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(n, int) and 0 <= n <= 0xffff for n in size)):
        raise InvalidArgument(f"invalid ConsoleSize {size!r}: [rows, columns]")
    return size


def _restart_policy(policy: dict | None) -> dict:
    name = (policy or {}).get("Name") or ""
    count = (policy or {}).get("MaximumRetryCount") or 0
    if name == "no":
        name = ""
    if name not in ("", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"invalid restart policy {name!r} (no, always, unless-stopped, on-failure[:N])")
    if count and name != "on-failure":
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy {name!r}")
    if not isinstance(count, int) or count < 0:
        raise InvalidArgument(f"maximum retry count must be a positive integer: {count!r}")
    return {"Name": name, "MaximumRetryCount": count}


INT64_MAX = 2 ** 63 - 1
MIN_SHARES, MAX_SHARES = 2, 262144  # what cgroup v1's cpu.shares takes (docker's clamp)


def _limits(hc: dict, warnings: list | None = None) -> dict:
    """The resource fields of a HostConfig or an update body, checked (docker's daemon rules)."""
    from runtime.cgroups.resources import MIN_MEMORY
    out = {}
    for key in ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "PidsLimit"):
        v = hc.get(key)
        if v is None or v == 0 and key != "PidsLimit":
            continue
        if not isinstance(v, int) or isinstance(v, bool):
            raise InvalidArgument(f"{key} must be an integer, not {v!r}")
        if not -INT64_MAX <= v <= INT64_MAX:
            raise InvalidArgument(f"{key} {v} is out of range")
        out[key] = v
    if out.get("Memory", 0) < 0:
        raise InvalidArgument(f"invalid memory limit {out['Memory']}: it must be positive (0: no limit)")
    if 0 < out.get("Memory", 0) < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if out.get("MemorySwap", 0) < -1:
        raise InvalidArgument(f"invalid memory swap limit {out['MemorySwap']}: -1 (unlimited) or a size")
    shares = out.get("CpuShares")
    if shares is not None and shares < 0:
        raise InvalidArgument(f"Invalid CPU shares ({shares}): value must be a positive integer")
    if shares is not None and not MIN_SHARES <= shares <= MAX_SHARES:
        out["CpuShares"] = min(max(shares, MIN_SHARES), MAX_SHARES)
        if warnings is not None:
            warnings.append(f"Changing requested CPUShares of {shares} to the allowed {out['CpuShares']}")
    if "NanoCpus" in out:
        n = os.cpu_count() or 1
        if not 10 ** 7 <= out["NanoCpus"] <= n * 10 ** 9:
            raise InvalidArgument(f"range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available")
    if hc.get("CpusetCpus"):
        out["CpusetCpus"] = _cpuset(hc["CpusetCpus"])
    return out


def _cpuset(text: str) -> str:
    """docker's checks of --cpuset-cpus: a list like 0-1,3, of CPUs this host has online."""
    from runtime.cgroups.resources import parse_set
    try:
        wanted = parse_set(text)
        with open("/sys/devices/system/cpu/online") as f:
            online = f.read().strip()
        have = parse_set(online)
    except ValueError:
        raise InvalidArgument(f"Invalid value {text!r} for cpuset cpus: a list like 0-1,3") from None
    if wanted - have:
        raise InvalidArgument(f"Requested CPUs are not available - requested {text}, available: {online}")
    return text


def _check_request(body: dict, hc: dict, network: str) -> None:
    """What docker's daemon refuses at create, and what would otherwise fail only at start (with
    the words of a file the user never wrote) or reach a file in the container as a second line."""
    from runtime.container.spec import sysctl_namespace
    wd = body.get("WorkingDir") or ""
    if wd and not wd.startswith("/"):
        raise InvalidArgument(f"the working directory '{wd}' is invalid, it needs to be an absolute path")
    host = body.get("Hostname") or ""
    if len(host.encode()) > 64 or not _word(host):  # HOST_NAME_MAX; a newline would be a line of /etc/hosts
        raise InvalidArgument(f"invalid hostname format: {host!r} (at most 64 bytes, no spaces or control characters)")
    user = body.get("User") or ""
    if not _word(user) or any(p.isdigit() and int(p) > 0xFFFFFFFE for p in user.split(":")):
        raise InvalidArgument(f"invalid user {user!r}: a name or a number up to 4294967294, [:group]")
    if (hc.get("ShmSize") or 0) < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    for key in hc.get("Sysctls") or {}:
        if not key or key.strip("abcdefghijklmnopqrstuvwxyz0123456789_.-/") or ".." in key or "/" in key \
                or sysctl_namespace(key) is None:
            raise InvalidArgument(f"sysctl '{key}' is not allowed: only namespaced ones (kernel.shm*, kernel.msg*, "
                                  "kernel.sem, fs.mqueue.*, net.*)")
        if network == "host" and sysctl_namespace(key) == "network":
            raise InvalidArgument(f"sysctl '{key}' is not allowed in host network namespace")
    for ip in hc.get("Dns") or []:
        if not _is_ip(ip):
            raise InvalidArgument(f"{ip!r} is not an ip address (--dns)")
    for word in (hc.get("DnsSearch") or []) + (hc.get("DnsOptions") or []):
        if not word or len(word) > 255 or not _word(word):
            raise InvalidArgument(f"invalid DNS search domain or option {word!r}")
    for h in hc.get("ExtraHosts") or []:
        name, _, ip = h.partition(":")
        if not name or not _word(name) or not (_is_ip(ip) or ip == "host-gateway"):
            raise InvalidArgument(f"invalid argument {h!r} for --add-host: use HOST:IP")


def _word(text: str) -> bool:
    """No whitespace or control characters: a value that becomes one word of a file in the container."""
    return not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text)


def _is_ip(text: str) -> bool:
    import socket
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
            return True
        except (OSError, ValueError):
            pass
    return False


# -- reading: inspect and list ---------------------------------------------------------------------------

def status_text(state: dict, now: float) -> str:
    """docker's Status: Up 3 seconds, Up 2 minutes (Paused), Exited (0) 5 seconds ago, Created.
    state is docker's State object (Container.public_state())."""
    from runtime.units import human_duration as duration
    status = state["Status"]
    if status in ("running", "paused"):
        started = clock.parse_time(state.get("StartedAt")) or now
        return f"Up {duration(now - started)}" + (" (Paused)" if status == "paused" else "")
    if status in ("restarting", "exited"):
        finished = clock.parse_time(state.get("FinishedAt"))
        word = "Restarting" if status == "restarting" else "Exited"
        if finished is None or finished <= 0:  # never ran to an end we know of: no "57 years ago"
            return f"{word} ({state['ExitCode']})"
        return f"{word} ({state['ExitCode']}) {duration(now - finished)} ago"
    return {"created": "Created", "removing": "Removal In Progress", "dead": "Dead"}[status]


def inspect(root: str, ref: str, size: bool = False) -> dict:
    """GET /containers/{id}/json: docker's ContainerJSON."""
    from runtime.network import endpoint
    c = containers(root).get(ref)
    cfg, hc = c.config["Config"], c.config["HostConfig"]
    args = (cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])
    out = {
        "Id": c.id, "Created": c.config["Created"], "Path": args[0] if args else "", "Args": args[1:],
        "State": c.public_state(), "Image": c.config["ImageID"],
        "ResolvConfPath": c.path("resolv.conf"), "HostnamePath": c.path("hostname"), "HostsPath": c.path("hosts"),
        "LogPath": c.path(f"{c.id}-json.log"), "Name": "/" + c.name,
        "RestartCount": c.state.get("RestartCount", 0), "Driver": "overlay", "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": hc,
        "GraphDriver": {"Data": {"LowerDir": "", "MergedDir": c.path("merged"), "UpperDir": c.path("upper"),
                                 "WorkDir": c.path("work")}, "Name": "overlay"},
        "Mounts": c.config.get("Mounts") or [],
        "Config": cfg,
        "NetworkSettings": endpoint.settings(c),
    }
    if size:
        out["SizeRw"] = out["SizeRootFs"] = du(c.path("upper"))
    return out


def summaries(root: str, all: bool = False, limit: int = -1, filters: dict | None = None,
              size: bool = False) -> list:
    """GET /containers/json: docker's ContainerSummary list, newest first. filters is the API's
    {"status": ["exited"], "label": ["k=v"], ...}; without all, only running ones (unless a status,
    before or since filter says otherwise, as moby's list does)."""
    filters = {k: ([v for v, on in vs.items() if on] if isinstance(vs, dict) else list(vs))
               for k, vs in (filters or {}).items()}  # the API's older {"status": {"exited": true}} form too
    everything = containers(root).all()
    tests = _filters(root, filters, everything)
    listed = [c for c in everything if all_of(tests, c)]  # filters first, then the limit (moby's)
    if limit is not None and limit > 0:
        listed = listed[:limit]
    elif not all and not any(filters.get(k) for k in ("status", "before", "since")):
        listed = [c for c in listed if c.status() in RUNNING]
    now = time.time()
    return [_summary(c, now, size) for c in listed]


def all_of(tests: list, c) -> bool:
    return all(any(t(c) for t in alternatives) for alternatives in tests)


def _summary(c: Container, now: float, size: bool) -> dict:
    cfg, state = c.config["Config"], c.public_state()
    running = state["Running"]
    out = {
        "Id": c.id, "Names": ["/" + c.name], "Image": cfg["Image"], "ImageID": c.config["ImageID"],
        "Command": " ".join((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])),
        "Created": int(clock.parse_time(c.config["Created"]) or 0),
        "Ports": _port_list(c) if running else [],
        "Labels": cfg.get("Labels") or {}, "State": state["Status"], "Status": status_text(state, now),
        "HostConfig": {"NetworkMode": c.config["HostConfig"].get("NetworkMode", "")},
        "NetworkSettings": {"Networks": {a["network"]: {"IPAddress": a["endpoint"]["IPv4Address"],
                                                        "Gateway": a["gateway"]}
                                         for a in c.state.get("Network") or []}},
        "Mounts": c.config.get("Mounts") or [],
    }
    if size:
        out["SizeRw"] = du(c.path("upper"))
        try:
            with runner.image_store(c.root) as st:
                _, desc = st.lookup(c.config["ImageID"])
                out["SizeRootFs"] = out["SizeRw"] + st.size(desc)
        except HullError:
            out["SizeRootFs"] = out["SizeRw"]
    return out


HEALTH = ("starting", "healthy", "unhealthy", "none")


def _port_list(c) -> list:
    """A running container's ports as docker lists them: each published one, then each exposed
    port that is not published (docker ps shows it as 80/tcp)."""
    from runtime.network import endpoint
    out = [{"IP": b["host_ip"], "PrivatePort": b["container_port"], "PublicPort": b["host_port"],
            "Type": b["proto"]} for b in endpoint.ports_of(c.state.get("Network"))]
    published = {(p["PrivatePort"], p["Type"]) for p in out}
    for key in c.config["Config"].get("ExposedPorts") or {}:
        port, _, proto = key.partition("/")
        if port.isdigit() and (int(port), proto or "tcp") not in published:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
    return out


def _filters(root: str, filters: dict, everything: list) -> list:
    """[[test, ...], ...]: a container passes when, for every key, one of its values matches
    (docker's rule: values of one key are alternatives, keys all apply; but every label must match).
    name and id are
    regular expressions, as in moby (a plain name is a substring of itself)."""
    out = []
    for key, values in filters.items():
        make = _FILTERS.get(key)
        if make is None:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "label":  # labels all apply (moby's MatchKVList): compose lists its project's one-offs so
            out += [[make(value, root, everything)] for value in values]
        else:
            out.append([make(value, root, everything) for value in values])
    return out


def _regexp(value: str, text: str) -> bool:
    import re
    try:
        return re.search(value, text) is not None
    except re.error:
        return value == text


def _status(value, *_):
    if value not in STATUSES:
        raise InvalidArgument(f"invalid filter 'status={value}'")
    return lambda c: c.status() == value


def _label(value, *_):
    k, has, v = value.partition("=")
    return lambda c: k in (labels := c.config["Config"].get("Labels") or {}) and (not has or labels[k] == v)


def _order(value, root, everything, newer: bool):
    """before= / since=: containers made before or after the named one (the list is newest first)."""
    pivot = containers(root).get(value).id
    index = {c.id: i for i, c in enumerate(everything)}
    return lambda c: (index[c.id] < index[pivot]) if newer else (index[c.id] > index[pivot])


def _volume(value, *_):
    """A named volume by name, any mount by its destination (moby's rule)."""
    return lambda c: any(m.get("Name") == value or m.get("Destination") == value
                         for m in c.config.get("Mounts") or [])


def _network(value, root, _):
    """By name, or by ID or its prefix (resolved once, so stopped containers match too)."""
    from runtime.engine.service import networks
    try:
        name = networks.inspect(root, value)["Name"]
    except NotFound:
        name = value
    return lambda c: name in _networks_of(c)


def _networks_of(c) -> set:
    mode = c.config["HostConfig"].get("NetworkMode") or "none"
    return ({mode} if not mode.startswith("container:") else set()) | set(c.config.get("Networks") or {}) | \
        {a["network"] for a in c.state.get("Network") or []}


def _ports(value: str, key: str) -> set:
    """publish=/expose= values: PORT[/PROTO] or FIRST-LAST[/PROTO] -> {(port, proto), ...}."""
    spec, _, proto = value.partition("/")
    first, dash, last = spec.partition("-")
    try:
        lo, hi = int(first), int(last if dash else first)
        if not 0 < lo <= hi <= 65535 or proto not in ("", "tcp", "udp", "sctp"):
            raise ValueError
    except ValueError:
        raise InvalidArgument(f"invalid filter '{key}={value}'") from None
    return {(p, proto or "tcp") for p in range(lo, hi + 1)}


def _published(value, *_):
    wanted = _ports(value, "publish")
    return lambda c: c.init_alive() and any((p["PublicPort"], p["Type"]) in wanted
                                            for p in _port_list(c) if p.get("PublicPort"))


def _exposed(value, *_):
    wanted = _ports(value, "expose")
    return lambda c: c.init_alive() and any((p["PrivatePort"], p["Type"]) in wanted for p in _port_list(c))


def _health(value, *_):
    """hull runs no health checks yet: a container with none configured is 'none', one with a
    HEALTHCHECK is 'starting' forever (docker's state before the first check), never healthy."""
    if value not in HEALTH:
        raise InvalidArgument(f"Unrecognised filter value for health: {value}")
    def state(c):
        test = (c.config["Config"].get("Healthcheck") or {}).get("Test") or ["NONE"]
        if test[0] == "NONE":
            return "none"
        return "starting" if c.status() == "running" else ""
    return lambda c: state(c) == value


def _is_task(value, *_):
    if value not in ("true", "false"):
        raise InvalidArgument(f"invalid filter 'is-task={value}'")
    return lambda c: value == "false"  # no swarm: no container is a task


_FILTERS = {
    "status": _status, "label": _label,
    "name": lambda v, *_: lambda c: _regexp(v, "/" + c.name) or _regexp(v, c.name),
    "id": lambda v, *_: lambda c: _regexp(v, c.id),
    "ancestor": lambda v, *_: lambda c: _from_image(c, v),
    "exited": lambda v, *_: lambda c: c.status() == "exited" and str(c.public_state()["ExitCode"]) == v,
    "before": lambda v, root, every: _order(v, root, every, newer=False),
    "since": lambda v, root, every: _order(v, root, every, newer=True),
    "volume": _volume, "network": _network, "publish": _published, "expose": _exposed,
    "health": _health, "is-task": _is_task,
    "isolation": lambda v, *_: lambda c: v in ("default", ""),
}


def _from_image(c, name: str) -> bool:
    if c.config["Config"]["Image"] == name or c.config["ImageID"][7:].startswith(name.removeprefix("sha256:")):
        return True
    from runtime.image.reference import parse as parse_ref
    try:
        return parse_ref(c.config["Config"]["Image"]) == parse_ref(name)
    except HullError:
        return False


def stats(root: str, ref: str) -> dict:
    """GET /containers/{id}/stats?stream=false: one sample in docker's shape. CPU from the cgroup
    and /proc/stat (the client takes the percentage between two samples, as docker's CLI does),
    memory from the cgroup, NET I/O from the container's own network namespace
    (/proc/PID/net/dev of its init), BLOCK I/O from the cgroup's blkio or io.stat."""
    c = containers(root).get(ref)
    st, io, nets = None, {"read": 0, "write": 0}, {}
    if c.init_alive():
        try:
            cgroup = runner.core_store(root).get(c.id).cgroup()
            st, io = cgroup.stats(), cgroup.io_bytes()
        except (HullError, AttributeError, OSError):
            st = None
        nets = _net_dev(c.state["Pid"])
    host_mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mem = (st or {}).get("memory") or {}
    limit = (mem.get("usage") or {}).get("limit") or 0
    return {
        "read": clock.now_rfc3339(), "id": c.id, "name": "/" + c.name,
        "cpu_stats": {"cpu_usage": {"total_usage": st["cpu"]["usage"]["total"] if st else 0},
                      "system_cpu_usage": _system_cpu_ns(), "online_cpus": os.cpu_count() or 1},
        "memory_stats": {"usage": (mem.get("usage") or {}).get("usage", 0),
                         "limit": host_mem if not limit or limit > host_mem else limit,
                         "stats": mem.get("raw") or {}} if st else {},
        "networks": nets,
        "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": io["read"]},
                                                       {"op": "write", "value": io["write"]}]},
        "pids_stats": {"current": st["pids"]["current"]} if st else {},
    }


def _net_dev(pid: int) -> dict:
    """{interface: {rx_bytes, tx_bytes}} of the network namespace pid is in, loopback left out."""
    out = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, fields = line.partition(":")
        values = fields.split()
        if name.strip() != "lo" and len(values) >= 9:
            out[name.strip()] = {"rx_bytes": int(values[0]), "tx_bytes": int(values[8])}
    return out


def _system_cpu_ns() -> int:
    """The host's CPU time so far (the "cpu" line of /proc/stat), in nanoseconds: docker's system_cpu_usage."""
    with open("/proc/stat") as f:
        ticks = sum(int(v) for v in f.readline().split()[1:8])
    return ticks * 10 ** 9 // os.sysconf("SC_CLK_TCK")


def port_map(root: str, ref: str) -> list:
    """The published ports of a running container: [{container_port, proto, host_ip, host_port}],
    docker's order (by container port)."""
    from runtime.network import endpoint
    c = containers(root).get(ref)
    bindings = endpoint.ports_of(c.state.get("Network")) if c.init_alive() else []
    return sorted(bindings, key=lambda b: (b["container_port"], b["proto"]))


def changes(root: str, ref: str) -> list:
    """GET /containers/{id}/changes: [{"Path", "Kind"}], Kind 0 changed, 1 added, 2 deleted."""
    from runtime.engine import changes as diff
    c = containers(root).get(ref)
    with runner.image_store(c.root) as st:
        _, desc = st.lookup(c.config["ImageID"])
        lower = list(reversed(st.layer_dirs(desc)))
    init = [c.path("init")] if os.path.isdir(c.path("init")) else []
    kinds = {"C": 0, "A": 1, "D": 2}
    return [{"Path": path, "Kind": kinds[kind]} for kind, path in diff.diff(c.path("upper"), diff.Lower(init + lower))]


# -- lifecycle ----------------------------------------------------------------------------------------------

def start(root: str, ref: str) -> None:
    """POST /containers/{id}/start: the root's monitor starts and watches it (NotModified if it
    runs already). A start that fails removes an --rm container (docker's rule)."""
    from runtime.engine import monitor
    c = containers(root).get(ref)
    if c.init_alive():
        raise NotModified(f"container {c.id[:12]} is already running")
    with c:
        c.state["StoppedByUser"] = False
        c.save_state()
    try:
        monitor.call(root, op="start", id=c.id)
    except HullError:
        _remove_if_auto(root, c)
        raise


def run_foreground(root: str, ref: str, interactive: bool, detach_keys: str = "ctrl-p,ctrl-q") -> int:
    """The foreground run (POST /containers/{id}/attach + start); the container's exit code. A
    start that fails removes an --rm container, as start does. The monitor starts and watches it
    and this process attaches, as docker's CLI does to dockerd: the detach keys, a closed terminal
    or a killed client leave it running, and its exit is still recorded and its --rm applied."""
    from runtime.engine import attach
    c = containers(root).get(ref)
    try:
        with c:
            c.state["StoppedByUser"] = False
            c.save_state()
        return attach.attach(c, interactive, detach_keys, start=True)
    except ExecFailed as e:  # 126/127: it was made, then its command could not run
        try:
            with c:
                runner.finish(c, e.exit_code, e.msg)
        except NotFound:
            pass
        raise
    except HullError:
        _remove_if_auto(root, c)
        raise


def _remove_if_auto(root: str, c: Container) -> None:
    if c.config["HostConfig"].get("AutoRemove"):
        try:
            runner.remove(Containers(root), c.id, force=True, volumes=True)  # --rm takes anonymous volumes
        except HullError:
            pass


def stop(root: str, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
    store = containers(root)
    runner.stop(store, store.get(ref), timeout, signal)


def restart(root: str, ref: str, timeout: int | None = None) -> None:
    store = containers(root)
    c = store.get(ref)
    runner.stop(store, c, timeout)
    try:
        start(root, c.id)
    except NotModified:
        pass  # started meanwhile by its restart policy
    events.container(c, "restart")


def kill(root: str, ref: str, signal: str = "KILL") -> None:
    from runtime.container.lifecycle import parse_signal
    sig = parse_signal(signal)
    c = containers(root).get(ref)
    with c:
        runner.reconcile(c)
        runner.signal_container(c, sig)


def remove(root: str, ref: str, force: bool = False, volumes: bool = False) -> None:
    runner.remove(containers(root), ref, force, volumes)


def pause(root: str, ref: str) -> None:
    with containers(root).get(ref) as c:
        runner.pause(c)


def unpause(root: str, ref: str) -> None:
    with containers(root).get(ref) as c:
        runner.unpause(c)


def rename(root: str, ref: str, name: str) -> None:
    store = containers(root)
    with store.get(ref) as c:
        old = c.name
        store.rename(c, name)
    events.container(c, "rename", oldName=old)


def update(root: str, ref: str, body: dict) -> dict:
    """POST /containers/{id}/update: limits (applied at once to a running container) and the
    restart policy."""
    from runtime.container import control
    from runtime.engine import bundle
    limits = _limits(body)
    policy = _restart_policy(body["RestartPolicy"]) if body.get("RestartPolicy") else None
    with containers(root).get(ref) as c:
        hc = c.config["HostConfig"]
        if policy is not None:
            if policy["Name"] and hc.get("AutoRemove"):
                raise InvalidArgument("Conflicting options: --restart and --rm")
            hc["RestartPolicy"] = policy
        hc.update(limits)
        if limits and c.init_alive():
            res = bundle.resources(hc)
            res.pop("devices", None)
            control.update(runner.core_store(c.root), c.id, res)
        c.save_config()
    events.container(c, "update")
    return {"Warnings": []}


def wait(root: str, ref: str, condition: str = "not-running", give_up=None) -> dict:
    """POST /containers/{id}/wait: blocks until it has stopped ("not-running"), until its next exit
    ("next-exit": one that ends after this call), or until it is removed ("removed"); then
    {"StatusCode": N, "Error": null}. give_up(): the caller left (the wait ends with None)."""
    if condition not in ("not-running", "next-exit", "removed", ""):
        raise InvalidArgument(f"invalid condition: {condition!r} (not-running, next-exit or removed)")
    c = containers(root).get(ref)
    before = c.state.get("FinishedAt") if c.status() not in RUNNING else None
    seen = {"code": c.public_state()["ExitCode"]}
    asked = time.time_ns()

    def done() -> bool:
        if give_up is not None and give_up():
            return True
        try:
            c.load()
        except NotFound:
            return _gone(seen)
        stopped = c.status() in ("exited", "dead")
        if stopped:
            seen["code"] = c.public_state()["ExitCode"]
        if condition == "removed" or not stopped:
            return False
        return condition != "next-exit" or c.state.get("FinishedAt") != before
    wait_until(done, None, 0.05)
    if give_up is not None and give_up():
        return None
    if seen.get("gone"):
        if condition != "removed":
            raise NotFound(f"No such container: {ref}")
        seen["code"] = _last_exit(root, c.id, asked, seen["code"])  # removed (--rm) before we saw it exit
    return {"StatusCode": seen["code"], "Error": None}


def _gone(seen: dict) -> bool:
    seen["gone"] = True
    return True


def _last_exit(root: str, cid: str, since_ns: int, default: int) -> int:
    """The exit code of the container's last "die" event since since_ns (the journal outlives it)."""
    code = default
    for e in events.read(root, since_ns - 10 ** 9, time.time_ns()):
        if e.get("id") == cid and e.get("Action") == "die":
            code = int((e.get("Actor") or {}).get("Attributes", {}).get("exitCode", code))
    return code


def logs(root: str, ref: str, out, err, tail: int | None = None, timestamps: bool = False, since: float | None = None,
         until: float | None = None, follow: bool = False, details: bool = False, give_up=None) -> None:
    """GET /containers/{id}/logs: its json-file log's records to out and err (text writers); with
    follow, new ones as they come until it stops (or give_up() says the reader left)."""
    from runtime.engine import logs as log_files
    c = containers(root).get(ref)

    def still_running() -> bool:
        if give_up is not None and give_up():
            return False
        try:
            c.load()
        except NotFound:
            return False
        return c.status() in RUNNING
    log_files.show(c.path(f"{c.id}-json.log"), out, err, tail, timestamps, since, until,
                   still_running if follow else None, details)


# -- files: docker cp's archive endpoint, export, commit (they fork: a threaded caller runs them
#    through service/child.py) ---------------------------------------------------------------------

def archive_stat(root: str, ref: str, path: str) -> dict:
    """HEAD /containers/{id}/archive: the path's stat (name, size, mode, mtime, linkTarget)."""
    from runtime.engine import copy
    with containers(root).get(ref) as c:
        return copy.stat_path(c, _in_container(path))


def archive_get(root: str, ref: str, path: str) -> None:
    """GET /containers/{id}/archive: the path as a tar, on stdout."""
    import sys
    copy_out(root, ref, path, "-", sys.stdout)


def archive_put(root: str, ref: str, path: str) -> None:
    """PUT /containers/{id}/archive: the tar on stdin, unpacked into the container's path."""
    import sys
    copy_in(root, ref, "-", path, sys.stdin)


def copy_out(root: str, ref: str, path: str, dest: str, stdout=None) -> None:
    """docker cp CONTAINER:PATH DEST (DEST "-": a tar on stdout)."""
    from runtime.engine import copy
    with containers(root).get(ref) as c:
        copy.copy_out(c, _in_container(path), dest, stdout)


def copy_in(root: str, ref: str, src: str, path: str, stdin=None) -> None:
    """docker cp SRC CONTAINER:PATH (SRC "-": a tar on stdin)."""
    from runtime.engine import copy
    with containers(root).get(ref) as c:
        copy.copy_in(c, src, _in_container(path), stdin)


def _in_container(path: str) -> str:
    if not path:
        raise InvalidArgument("a path is required (?path=)")
    return path if path.startswith("/") else "/" + path  # relative to its root, as docker takes it


def export(root: str, ref: str, out_fd: int | None = None) -> None:
    """GET /containers/{id}/export: its filesystem as a tar, to out_fd (closed after; default: a
    copy of stdout)."""
    import sys
    from runtime.engine import copy
    sys.stdout.flush()
    fd = os.dup(1) if out_fd is None else out_fd
    try:
        with containers(root).get(ref) as c:
            copy.export(c, fd)
    finally:
        try:
            os.close(fd)  # (the child that wrote the tar closed its copy; the reader's EOF needs ours gone too)
        except OSError:
            pass


def commit(root: str, ref: str, repository: str | None, message: str = "", author: str = "",
           changes: list | None = None, pause: bool = True) -> str:
    """POST /commit: a new image of the container's layer; its ID."""
    from runtime.engine import commit as commits
    with containers(root).get(ref) as c:
        return commits.commit(c, repository, message, author, changes or [], pause)


def top(root: str, ref: str, ps_args: list | None = None) -> dict:
    """GET /containers/{id}/top: {"Titles": [...], "Processes": [[...], ...]} from the host's ps."""
    from runtime.container.control import ps_table
    c = containers(root).get(ref)
    if not c.init_alive():
        raise Conflict(f"Container {c.id} is not running")
    lines = ps_table(runner.core_pids(c), ps_args or ["-ef"]).splitlines()
    titles = lines[0].split()
    return {"Titles": titles, "Processes": [line.split(None, len(titles) - 1) for line in lines[1:]]}


def running(root: str, ref: str) -> Container:
    """The container, if it runs and is not paused (what exec, top and attach need)."""
    c = containers(root).get(ref)
    if not c.init_alive():
        raise Conflict(f"Container {c.id} is not running")
    if c.state.get("Paused"):
        raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
    return c


def prune(root: str) -> dict:
    """POST /containers/prune: every container that does not run; {"ContainersDeleted", "SpaceReclaimed"}."""
    store = containers(root)
    gone, freed = [], 0
    for c in store.all():
        with c:
            runner.reconcile(c)
        if c.status() in ("exited", "created", "dead") and not c.claimed():  # claimed: a run starts it
            size = du(c.path("upper"))
            try:
                runner.remove(store, c.id, force=False)
                gone.append(c.id)
                freed += size
            except HullError:
                pass  # started meanwhile
    return {"ContainersDeleted": gone, "SpaceReclaimed": freed}
