"""hull's container verbs, in docker's words: run, create, start, stop, restart, kill, rm, ps, logs,
exec, inspect, wait, top, stats, rename, pause, unpause, attach, update. Parsing and output only:
the work is in runtime/engine.

`hull run` in the foreground is its own container's watcher (it creates the container in-process,
relays its output to the terminal and the log, and records the exit): follow it from cmd_run to
runner.launch to the core's lifecycle.create and init.py's execve. Detached containers (`run -d`,
`start`) are watched by the root's shared monitor (runtime/engine/monitor.py).
"""
import os
import sys
import time

from runtime import fastjson as json
from runtime.cli import display
from runtime.cli.args import Flag, Verb
from runtime.errors import Conflict, ExecFailed, HullError, InvalidArgument, NotFound

RUN_FLAGS = [
    Flag("detach", "d", help="run in the background; print the container ID"),
    Flag("interactive", "i", help="keep stdin open"), Flag("tty", "t", help="a terminal for the container"),
    Flag("rm", help="remove the container when it exits"), Flag("name", value=True, help="the container's name"),
    Flag("env", "e", value=True, many=True, help="KEY=VALUE (or KEY: from hull's environment)"),
    Flag("env-file", value=True, many=True, help="a file of KEY=VALUE lines"),
    Flag("workdir", "w", value=True, help="working directory in the container"),
    Flag("user", "u", value=True, help="USER[:GROUP], names or numbers"),
    Flag("hostname", "h", value=True, help="the container's hostname (default: its short ID)"),
    Flag("entrypoint", value=True, help="replace the image's entrypoint ('' clears it)"),
    Flag("read-only", help="a read-only root filesystem"),
    Flag("label", "l", value=True, many=True, help="KEY=VALUE"),
    Flag("restart", value=True, default="no", help="no, on-failure[:N], always, unless-stopped"),
    Flag("memory", "m", value=True, help="memory limit (64m, 1g)"),
    Flag("memory-swap", value=True, help="memory + swap limit (-1: unlimited)"),
    Flag("cpus", value=True, help="CPUs (1.5)"), Flag("cpu-shares", "c", value=True, help="relative CPU weight"),
    Flag("cpuset-cpus", value=True, help="CPUs to run on (0-1)"),
    Flag("pids-limit", value=True, help="maximum number of processes"),
    Flag("ulimit", value=True, many=True, help="nofile=SOFT[:HARD]"),
    Flag("cap-add", value=True, many=True, help="add a capability"),
    Flag("cap-drop", value=True, many=True, help="drop a capability (ALL for every one)"),
    Flag("privileged", help="every capability and device, no seccomp"),
    Flag("security-opt", value=True, many=True, help="seccomp=unconfined|FILE, no-new-privileges"),
    Flag("sysctl", value=True, many=True, help="KEY=VALUE (namespaced ones)"),
    Flag("stop-signal", value=True, help="signal to stop the container (default SIGTERM)"),
    Flag("stop-timeout", value=True, help="seconds to wait before SIGKILL on stop (default 10)"),
    Flag("init", help="a tiny init (tini) as pid 1 that reaps and forwards signals"),
    Flag("pull", value=True, default="missing", help="missing, always or never"),
    Flag("network", value=True, default="bridge", help="bridge (default), NETWORK, none, host, container:NAME"),
    Flag("net", value=True),
    Flag("publish", "p", value=True, many=True, help="[IP:][HOST:]CTR[/udp]: publish a port (ranges too)"),
    Flag("publish-all", "P", help="publish every exposed port on a free host port"),
    Flag("expose", value=True, many=True, help="PORT[/proto]: expose a port (for -P)"),
    Flag("ip", value=True, help="the container's address on its network"),
    Flag("network-alias", value=True, many=True, help="another name for it on a user network"), Flag("log-driver", value=True, help="json-file (the only one)"),
    Flag("log-opt", value=True, many=True, help="max-size=10m, max-file=3"),
    Flag("shm-size", value=True, help="size of /dev/shm (default 64m)"),
    Flag("dns", value=True, many=True, help="a DNS server for resolv.conf"),
    Flag("dns-search", value=True, many=True, help="a DNS search domain"),
    Flag("dns-option", value=True, many=True, help="a resolv.conf option"),
    Flag("add-host", value=True, many=True, help="HOST:IP in /etc/hosts"),
    Flag("volume", "v", value=True, many=True, help="HOST:CTR[:ro], NAME:CTR[:ro] or CTR (a new anonymous volume)"),
    Flag("mount", value=True, many=True, help="type=bind|volume|tmpfs,source=,target=,readonly,tmpfs-size="),
    Flag("tmpfs", value=True, many=True, help="CTR[:size=64m,mode=1777]"),
    Flag("volumes-from", value=True, many=True, help="CONTAINER[:ro|rw]: all its mounts"),
    Flag("platform", value=True, default="linux/amd64", help="for a pull"),
    Flag("quiet", "q", help="no pull progress"),
]
FORMAT = Flag("format", value=True, help="a Go template, or json")
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Labels": "LABELS",
              "Size": "SIZE", "Mounts": "MOUNTS", "Networks": "NETWORKS", "State": "STATE",
              "LocalVolumes": "LOCAL VOLUMES"}

VERBS = [
    Verb("run", "run a command in a new container", RUN_FLAGS, ["image"], rest=True, rest_name="COMMAND [ARG...]"),
    Verb("create", "create a container (start runs it)", RUN_FLAGS, ["image"], rest=True,
         rest_name="COMMAND [ARG...]"),
    Verb("start", "start stopped containers", [Flag("attach", "a", help="attach to its output and wait"),
                                               Flag("interactive", "i", help="attach stdin too")],
         ["container"], rest=True, rest_name="CONTAINER..."),
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
        Flag("filter", "f", value=True, many=True, help="status=, name=, label=, ancestor=, id=, exited="),
        FORMAT]),
    Verb("logs", "a container's output", [
        Flag("follow", "f", help="keep printing new output until the container stops"),
        Flag("tail", "n", value=True, help="only the last N lines"), Flag("timestamps", "t", help="show times"),
        Flag("since", value=True, help="from this time (RFC 3339, or a duration like 10m)"),
        Flag("until", value=True, help="up to this time")], ["container"]),
    Verb("exec", "run a command in a running container", [
        Flag("interactive", "i", help="keep stdin open"), Flag("tty", "t", help="a terminal"),
        Flag("detach", "d", help="do not wait"), Flag("env", "e", value=True, many=True, help="KEY=VALUE"),
        Flag("workdir", "w", value=True, help="working directory"), Flag("user", "u", value=True, help="USER[:GROUP]"),
        Flag("privileged", help="every capability")], ["container"], rest=True, rest_name="COMMAND [ARG...]"),
    Verb("inspect", "details of containers or images as JSON", [
        Flag("format", "f", value=True, help="a Go template: {{.State.Status}}"),
        Flag("type", value=True, help="container or image"), Flag("size", "s", help="with sizes")],
         ["name"], rest=True, rest_name="NAME..."),
    Verb("wait", "wait for containers to stop; print their exit codes", [], ["container"], rest=True,
         rest_name="CONTAINER..."),
    Verb("top", "a container's processes", [], ["container"], rest=True, rest_name="[ps OPTIONS]"),
    Verb("stats", "CPU, memory, I/O and process counts", [
        Flag("no-stream", help="print once and exit"), Flag("all", "a", help="stopped containers too"), FORMAT,
        Flag("no-trunc", help="full IDs")], [], ["container"]),
    Verb("rename", "rename a container", [], ["container", "new_name"]),
    Verb("pause", "freeze every process of containers", [], ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("unpause", "thaw paused containers", [], ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("attach", "connect the terminal to a running container (ctrl-p ctrl-q detaches)", [
        Flag("no-stdin", help="do not send stdin"), Flag("detach-keys", value=True, default="ctrl-p,ctrl-q",
                                                         help="the keys that detach")], ["container"]),
    Verb("port", "a container's published ports (docker's format)", [], ["container"], ["private_port"]),
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
    Verb("update", "change the limits of containers", [
        Flag("memory", "m", value=True, help="memory limit"), Flag("memory-swap", value=True, help="memory + swap"),
        Flag("cpus", value=True, help="CPUs"), Flag("cpu-shares", "c", value=True, help="CPU weight"),
        Flag("cpuset-cpus", value=True, help="CPUs to run on"), Flag("pids-limit", value=True, help="processes"),
        Flag("restart", value=True, help="a new restart policy")], ["container"], rest=True, rest_name="CONTAINER..."),
]


def _containers(args):
    from runtime.engine.containers import Containers
    if os.geteuid() != 0:
        raise InvalidArgument("hull runs containers as root")
    return Containers(args.root)


# -- building a container from flags -----------------------------------------------------------------------

def _env(args) -> list:
    out = []
    for path in args.env_file or []:
        try:
            with open(path) as f:
                lines = [line.strip() for line in f]
        except OSError as e:
            raise InvalidArgument(f"open {path}: {e.strerror}") from None
        out += [line for line in lines if line and not line.startswith("#")]
    out += args.env or []
    env = []
    for e in out:
        if "=" not in e:  # docker: KEY alone takes hull's own value, or is dropped
            if e in os.environ:
                env.append(f"{e}={os.environ[e]}")
            continue
        if e.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {e}")
        env.append(e)
    return env


def _restart_policy(text: str) -> dict:
    name, _, count = text.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure") or (count and name != "on-failure"):
        raise InvalidArgument(f"invalid restart policy {text!r} (no, always, unless-stopped, on-failure[:N])")
    if count and not count.isdigit():
        raise InvalidArgument(f"maximum retry count must be an integer: {count!r}")
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count or 0)}


def _limits(args) -> dict:
    from runtime.cgroups.resources import MIN_MEMORY, parse_bytes
    hc = {}
    if getattr(args, "memory", None):
        hc["Memory"] = parse_bytes(args.memory, "memory")
        if 0 < hc["Memory"] < MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if getattr(args, "memory_swap", None):
        hc["MemorySwap"] = parse_bytes(args.memory_swap, "memory-swap")
    if getattr(args, "cpus", None):
        try:
            cpus = float(args.cpus)
        except ValueError:
            raise InvalidArgument(f"invalid argument {args.cpus!r} for --cpus: not a number") from None
        n = os.cpu_count() or 1
        if not 0.01 <= cpus <= n:
            raise InvalidArgument(f"range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available")
        hc["NanoCpus"] = int(cpus * 10 ** 9)
    for flag, key in (("cpu_shares", "CpuShares"), ("pids_limit", "PidsLimit")):
        v = getattr(args, flag, None)
        if v:
            try:
                hc[key] = int(v)
            except ValueError:
                raise InvalidArgument(f"invalid argument {v!r} for --{flag.replace('_', '-')}") from None
    if getattr(args, "cpuset_cpus", None):
        hc["CpusetCpus"] = args.cpuset_cpus
    return hc


def _ulimits(specs: list) -> list:
    out = []
    for u in specs or []:
        name, _, values = u.partition("=")
        soft, _, hard = values.partition(":")
        try:
            out.append({"Name": name, "Soft": int(soft), "Hard": int(hard or soft)})
        except ValueError:
            raise InvalidArgument(f"invalid ulimit argument: {u!r} (NAME=SOFT[:HARD])") from None
    return out


def _key_values(items: list, what: str) -> dict:
    out = {}
    for item in items or []:
        k, eq, v = item.partition("=")
        if not k:
            raise InvalidArgument(f"invalid {what}: {item!r}")
        out[k] = v
    return out


def image_for_run(args, st) -> tuple:
    """(reference text, manifest descriptor) of the image to run, pulled if the policy says so."""
    if args.pull not in ("missing", "always", "never"):
        raise InvalidArgument(f'invalid pull option: "{args.pull}" (missing, always, never)')
    have = None
    try:
        have = st.lookup(args.image)
    except NotFound:
        pass
    if have and args.pull != "always":
        return have
    if args.pull == "never" or (have is None and _looks_like_id(args.image)):
        raise NotFound(f"No such image: {args.image}")
    # only now: the registry client imports http, ssl and email (~30 ms)
    from runtime.image import transfer
    from runtime.image.config import Config
    from runtime.image.reference import parse as parse_ref
    ref = parse_ref(args.image)
    if have is None:
        sys.stderr.write(f"Unable to find image '{ref.familiar()}' locally\n")
    # the pull's progress goes to stderr: stdout is the container's
    transfer.pull(st, ref, args.platform, Config(args.config), transfer.Progress(sys.stderr, quiet=args.quiet))
    return st.lookup(args.image)


def _looks_like_id(text: str) -> bool:
    t = text.removeprefix("sha256:")
    return len(t) == 64 and all(c in "0123456789abcdef" for c in t)


def create_container(args):
    """`hull create` and the first half of `hull run`: the record, the image resolved (pulled)."""
    from runtime.cli.images import store
    from runtime.engine import bundle
    containers = _containers(args)
    network = args.net or args.network
    if network.startswith("container:"):
        containers.resolve(network.split(":", 1)[1])
    elif network not in ("none", "host", "bridge"):
        from runtime.network.networks import Networks
        network = Networks(args.root).find(network)["Name"]
    from runtime.network import ports
    bindings = [b for spec in args.publish or [] for b in ports.parse(spec)]
    if network in ("none", "host") or network.startswith("container:"):
        if bindings or args.publish_all:
            sys.stderr.write(f"WARNING: published ports are discarded with --network {network}\n")
        bindings, args.publish_all = [], False
    if (args.network_alias or args.ip) and network in ("none", "host", "bridge"):
        raise InvalidArgument("network-scoped aliases and --ip are only supported for user-defined networks")
    if args.rm and args.restart not in ("no", ""):
        raise InvalidArgument("Conflicting options: --restart and --rm")
    if args.log_driver not in (None, "json-file"):
        raise InvalidArgument(f"log driver {args.log_driver!r} is not supported (json-file)")
    from runtime.engine import logs
    log_opts = _key_values(args.log_opt, "log-opt")
    logs.parse_options(log_opts)
    policy = _restart_policy(args.restart or "no")
    limits = _limits(args)
    shm = None
    if args.shm_size:
        from runtime.cgroups.resources import parse_bytes
        shm = parse_bytes(args.shm_size, "shm-size")
    stop_timeout = None
    if args.stop_timeout is not None:
        try:
            stop_timeout = int(args.stop_timeout)
        except ValueError:
            raise InvalidArgument(f"invalid --stop-timeout {args.stop_timeout!r}") from None
    if args.stop_signal:
        from runtime.container.lifecycle import parse_signal
        parse_signal(args.stop_signal)
    env = _env(args)
    ulimits = _ulimits(args.ulimit)
    sysctls = _key_values(args.sysctl, "sysctl")
    labels = _key_values(args.label, "label")
    entrypoint = None
    if args.entrypoint is not None:
        entrypoint = [args.entrypoint] if args.entrypoint else [""]
    with store(args) as st:
        _, desc = image_for_run(args, st)
        manifest = st.manifest(desc)
        image_id = manifest["config"]["digest"]
        image_cfg = st.config(manifest).get("config") or {}
    exposed = dict(image_cfg.get("ExposedPorts") or {})
    for e in args.expose or []:
        for b in ports.parse(e):
            exposed[f"{b['container_port']}/{b['proto']}"] = {}
    for b in bindings:
        exposed[f"{b['container_port']}/{b['proto']}"] = {}
    ep, cmd = bundle.command(image_cfg, entrypoint, args.command)
    if not ep and not cmd:
        raise InvalidArgument("No command specified")
    config = {
        "Image": image_id, "ImageID": image_id,
        "Config": {"Hostname": args.hostname or "", "Domainname": "", "User": args.user or image_cfg.get("User", ""),
                   "AttachStdin": bool(args.interactive), "AttachStdout": not args.detach,
                   "AttachStderr": not args.detach, "Tty": bool(args.tty), "OpenStdin": bool(args.interactive),
                   "StdinOnce": bool(args.interactive) and not args.detach,
                   "Env": bundle.merge_env(image_cfg.get("Env") or [], env), "Cmd": cmd, "Image": args.image,
                   "Volumes": image_cfg.get("Volumes"), "WorkingDir": args.workdir or image_cfg.get("WorkingDir", ""),
                   "Entrypoint": ep, "OnBuild": None, **({"ExposedPorts": exposed} if exposed else {}),
                   "Labels": {**(image_cfg.get("Labels") or {}), **labels},
                   **({"StopSignal": args.stop_signal or image_cfg.get("StopSignal")}
                      if args.stop_signal or image_cfg.get("StopSignal") else {}),
                   **({"StopTimeout": stop_timeout} if stop_timeout is not None else {})},
        "HostConfig": {"NetworkMode": network, "PortBindings": ports.to_docker(bindings),
                       "PublishAllPorts": bool(args.publish_all), "NetworkAliases": args.network_alias or [],
                       "IPAddress": args.ip, "RestartPolicy": policy, "AutoRemove": bool(args.rm),
                       "CapAdd": args.cap_add, "CapDrop": args.cap_drop, "Privileged": bool(args.privileged),
                       "ReadonlyRootfs": bool(args.read_only), "SecurityOpt": args.security_opt,
                       "Ulimits": ulimits, "Sysctls": sysctls, "Init": bool(args.init), "ShmSize": shm or 67108864,
                       "LogConfig": {"Type": "json-file", "Config": log_opts}, "Dns": args.dns or [],
                       "DnsSearch": args.dns_search or [], "DnsOptions": args.dns_option or [],
                       "ExtraHosts": args.add_host, "Memory": 0, "MemorySwap": 0, "NanoCpus": 0, "CpuShares": 0,
                       "CpusetCpus": "", "PidsLimit": None, **limits},
    }
    for h in args.add_host or []:
        if ":" not in h:
            raise InvalidArgument(f"invalid argument {h!r} for --add-host: use HOST:IP")
    # checked now, so a bad flag fails create rather than start: capabilities, seccomp profile
    bundle.capabilities(args.cap_add or [], args.cap_drop or [], bool(args.privileged))
    bundle.seccomp_for(args.security_opt or [], bool(args.privileged), [])
    from runtime.engine import volumes
    specs = [volumes.parse_volume_flag(v) for v in args.volume or []]
    specs += [volumes.parse_mount_flag(m) for m in args.mount or []]
    specs += [volumes.parse_tmpfs_flag(t) for t in args.tmpfs or []]
    for ref in args.volumes_from or []:
        containers.resolve(ref.split(":")[0])  # a clear error before anything is made
    config["HostConfig"].update(Binds=args.volume, VolumesFrom=args.volumes_from,
                                Tmpfs={t.partition(":")[0]: t.partition(":")[2] for t in args.tmpfs or []} or None)
    c = containers.create(config, args.name)
    try:
        c.config["Mounts"] = volumes.resolve(args.root, specs, image_cfg.get("Volumes"), args.volumes_from)
    except BaseException:
        containers.remove(c)
        raise
    if not c.config["Config"]["Hostname"]:  # docker: the short ID, or the host's name on its network
        c.config["Config"]["Hostname"] = os.uname().nodename if network == "host" else c.id[:12]
        c.save_config()
    c.config["LogPath"] = c.path(f"{c.id}-json.log")
    c.save_config()
    return containers, c


def cmd_create(args):
    _, c = create_container(args)
    print(c.id)
    return 0


def cmd_run(args):
    agent = None
    network = args.net or args.network
    if not args.detach and network not in ("none", "host") and not network.startswith("container:"):
        from runtime.engine import monitor
        agent = monitor.NetlinkClient(args.root)  # the monitor sets the network up (and starts meanwhile)
    try:
        containers, c = create_container(args)
        if args.detach:
            _start_detached(c)
            print(c.id)
            return 0
        return run_attached(containers, c, bool(args.interactive), bool(args.tty), agent)
    finally:
        if agent is not None:
            agent.close()


def _start_detached(c) -> None:
    from runtime.engine import monitor, runner
    reply = monitor.request(c.root, op="start", id=c.id)
    if "error" in reply:
        err = ExecFailed(reply["error"]) if reply.get("kind") == "ExecFailed" else HullError(reply["error"])
        code = runner.exit_code_of_start_error(err)
        if c.config["HostConfig"].get("AutoRemove"):
            try:
                runner.remove(_containers_of(c), c.id, force=True)
            except HullError:
                pass
        raise _Exit(code, reply["error"])


class _Exit(HullError):
    """A failure with docker's exit code (126, 127) rather than 125."""

    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.exit_code = code


def _containers_of(c):
    from runtime.engine.containers import Containers
    return Containers(c.root)


def run_attached(containers, c, interactive: bool, tty: bool, agent=None) -> int:
    """The foreground run: this process starts the container, relays its output (to the terminal
    and to its log), and records its exit. Returns the container's exit code (docker's)."""
    from runtime.engine import attach, runner
    try:
        code = attach.run_in_foreground(c, interactive, tty, agent)
    except ExecFailed as e:
        with c:
            runner.finish(c, runner.exit_code_of_start_error(e), e.msg)
        raise _Exit(runner.exit_code_of_start_error(e), e.msg) from None
    return code


def cmd_start(args):
    containers = _containers(args)
    refs = [args.container] + args.command
    if args.attach or args.interactive:
        if len(refs) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        c = containers.get(refs[0])
        if c.init_alive():
            return 0
        return run_attached(containers, c, bool(args.interactive), bool(c.config["Config"].get("Tty")))
    failed = 0
    for ref in refs:
        try:
            c = containers.get(ref)
            if not c.init_alive():
                with c:
                    c.state["StoppedByUser"] = False
                    c.save_state()
                _start_detached(c)
            print(ref)
        except HullError as e:
            sys.stderr.write(f"Error: {e.msg}\n")
            failed = getattr(e, "exit_code", 125)
    return failed


def _each(args, fn) -> int:
    """docker's multi-container verbs: each one, print its name, report failures, exit 1 if any."""
    containers = _containers(args)
    failed = 0
    for ref in [args.container] + args.command:
        try:
            fn(containers, ref)
            print(ref)
        except HullError as e:
            sys.stderr.write(f"Error: {e.msg}\n")
            failed = 125
    return failed


def _timeout(args):
    if args.time is None:
        return None
    try:
        return int(args.time)
    except ValueError:
        raise InvalidArgument(f"invalid --time {args.time!r}") from None


def cmd_stop(args):
    from runtime.engine import runner
    timeout = _timeout(args)

    def stop(containers, ref):
        c = containers.get(ref)
        if args.signal:
            c.config["Config"]["StopSignal"] = args.signal
        runner.stop(containers, c, timeout)
    return _each(args, stop)


def cmd_restart(args):
    from runtime.engine import runner
    timeout = _timeout(args)

    def restart(containers, ref):
        c = containers.get(ref)
        runner.stop(containers, c, timeout)
        with c:
            c.state["StoppedByUser"] = False
            c.save_state()
        _start_detached(c)
    return _each(args, restart)


def cmd_kill(args):
    from runtime.container.lifecycle import parse_signal
    from runtime.engine import runner
    sig = parse_signal(args.signal)

    def kill(containers, ref):
        c = containers.get(ref)
        with c:
            runner.reconcile(c)
            runner.signal_container(c, sig)
    return _each(args, kill)


def cmd_rm(args):
    from runtime.engine import runner
    return _each(args, lambda containers, ref: runner.remove(containers, ref, args.force, args.volumes))


def cmd_pause(args):
    from runtime.engine import runner

    def pause(containers, ref):
        with containers.get(ref) as c:
            runner.pause(c)
    return _each(args, pause)


def cmd_unpause(args):
    from runtime.engine import runner

    def unpause(containers, ref):
        with containers.get(ref) as c:
            runner.unpause(c)
    return _each(args, unpause)


def cmd_rename(args):
    containers = _containers(args)
    with containers.get(args.container) as c:
        containers.rename(c, args.new_name)
    return 0


def cmd_wait(args):
    """Block until each container has stopped; print its exit code."""
    from runtime.engine import runner
    from runtime.engine.containers import wait_until
    containers = _containers(args)
    failed = 0
    for ref in [args.container] + args.command:
        try:
            c = containers.get(ref)
            wait_until(lambda: c.load().status() in ("exited", "dead"), None, 0.05)
            with c:
                runner.reconcile(c)
            print(c.public_state()["ExitCode"])
        except HullError as e:
            sys.stderr.write(f"Error: {e.msg}\n")
            failed = 125
    return failed


# -- ps, inspect ------------------------------------------------------------------------------------------

def status_text(c, now: float) -> str:
    """docker's STATUS column: Up 3 seconds, Up 2 minutes (Paused), Exited (0) 5 seconds ago, Created."""
    status = c.status()
    s = c.public_state()
    if status in ("running", "paused"):
        started = display.parse_time(s["StartedAt"]) or now
        return f"Up {display.human_duration(now - started)}" + (" (Paused)" if status == "paused" else "")
    if status == "restarting":
        finished = display.parse_time(s["FinishedAt"]) or now
        return f"Restarting ({s['ExitCode']}) {display.human_duration(now - finished)} ago"
    if status == "exited":
        finished = display.parse_time(s["FinishedAt"]) or now
        return f"Exited ({s['ExitCode']}) {display.human_duration(now - finished)} ago"
    return {"created": "Created", "removing": "Removal In Progress", "dead": "Dead"}[status]


def command_text(c) -> str:
    cfg = c.config["Config"]
    return " ".join((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or []))


def ps_row(c, now: float, no_trunc: bool, size: bool):
    from runtime.cli.template import Struct
    cmd = command_text(c)
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    labels = c.config["Config"].get("Labels") or {}
    row = Struct({
        "Command": json.compact(cmd), "CreatedAt": display.go_time(c.config["Created"]),
        "ID": c.id if no_trunc else c.id[:12], "Image": c.config["Config"]["Image"],
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "LocalVolumes": str(sum(m["Type"] == "volume" for m in c.config.get("Mounts") or [])),
        "Mounts": ",".join(m.get("Name") or m["Source"] for m in c.config.get("Mounts") or [] if m["Type"] != "tmpfs"),
        "Names": c.name, "Networks": ",".join(a["network"] for a in c.state.get("Network") or []) or
        c.config["HostConfig"].get("NetworkMode", ""), "Ports": _ports_text(c),
        "RunningFor": display.since(c.config["Created"], now), "Size": "", "State": c.status(),
        "Status": status_text(c, now)})
    if size:
        row["Size"] = _size_text(c)
    return row


def _ports_text(c) -> str:
    from runtime.network import endpoint, ports
    return ports.ps_column(endpoint.ports_of(c.state.get("Network"))) if c.init_alive() else ""


def _size_text(c) -> str:
    from runtime.engine import runner
    from runtime.engine.containers import du
    upper = du(c.path("upper"))
    try:
        with runner.image_store(c.root) as st:
            _, desc = st.lookup(c.config["ImageID"])
            virtual = st.size(desc)
    except HullError:
        virtual = 0
    return f"{display.human_size(upper)} (virtual {display.human_size(upper + virtual)})"


def _ps_filters(filters: list) -> list:
    out = []
    for f in filters or []:
        key, eq, value = f.partition("=")
        if not eq:
            raise InvalidArgument(f"bad format of filter (expected name=value): {f!r}")
        if key == "status":
            if value not in ("created", "restarting", "running", "removing", "paused", "exited", "dead"):
                raise InvalidArgument(f"invalid filter 'status={value}'")
            out.append(lambda c, v=value: c.status() == v)
        elif key == "name":
            out.append(lambda c, v=value: v in c.name)
        elif key == "id":
            out.append(lambda c, v=value: c.id.startswith(v))
        elif key == "label":
            k, has, v = value.partition("=")
            out.append(lambda c, k=k, v=v, h=has: k in (c.config["Config"].get("Labels") or {}) and
                       (not h or c.config["Config"]["Labels"][k] == v))
        elif key == "ancestor":
            out.append(lambda c, v=value: c.config["Config"]["Image"] == v or c.config["ImageID"][7:].startswith(
                v.removeprefix("sha256:")) or _same_image(c, v))
        elif key == "exited":
            out.append(lambda c, v=value: c.status() == "exited" and str(c.public_state()["ExitCode"]) == v)
        else:
            raise InvalidArgument(f"invalid filter {key!r}")
    return out


def _same_image(c, name: str) -> bool:
    from runtime.image.reference import parse as parse_ref
    try:
        return parse_ref(c.config["Config"]["Image"]) == parse_ref(name)
    except HullError:
        return False


def cmd_ps(args):
    from runtime.cli.template import format_rows
    containers = _containers(args)
    filters = _ps_filters(args.filter)
    listed = containers.all()
    if args.latest or args.last:
        listed = listed[:1 if args.latest else args.last]
    elif not args.all and not any(f.startswith("status=") for f in args.filter or []):
        listed = [c for c in listed if c.status() in ("running", "paused", "restarting")]
    listed = [c for c in listed if all(f(c) for f in filters)]
    if args.quiet:
        for c in listed:
            print(c.id if args.no_trunc else c.id[:12])
        return 0
    now = time.time()
    rows = [ps_row(c, now, args.no_trunc, args.size) for c in listed]
    fmt = args.format or ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t"
                          + ("{{.Names}}\t{{.Size}}" if args.size else "{{.Names}}"))
    sys.stdout.write(format_rows(fmt, rows, PS_HEADERS))
    return 0


def inspect_container(c, size: bool = False) -> dict:
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
        "NetworkSettings": _network_settings(c),
    }
    if size:
        from runtime.engine.containers import du
        out["SizeRw"] = out["SizeRootFs"] = du(c.path("upper"))
    return out


def _network_settings(c) -> dict:
    from runtime.network import endpoint
    return endpoint.settings(c)


def cmd_inspect(args):
    """Containers first, then images (docker's order), unless --type says which."""
    from runtime.cli.images import inspect_image, print_inspect, store
    if args.type not in (None, "container", "image"):
        raise InvalidArgument(f'"{args.type}" is not a valid value for --type')
    out, missing = [], []
    containers = _containers(args) if args.type != "image" else None
    for name in [args.name] + args.command:
        found = None
        if containers is not None:
            try:
                found = inspect_container(containers.get(name), args.size)
            except NotFound:
                pass
        if found is None and args.type != "container":
            try:
                with store(args) as st:
                    found = inspect_image(st, name)
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
    return 125 if missing else 0


# -- logs, exec, top, stats, update, attach --------------------------------------------------------------

def _time_arg(text: str | None, now: float):
    if not text:
        return None
    t = display.parse_time(text)
    if t is not None:
        return t
    from runtime.container.control import parse_duration
    try:
        return now - parse_duration(text)
    except (HullError, ValueError):
        pass
    try:
        return float(text)  # a Unix timestamp
    except ValueError:
        raise InvalidArgument(f"invalid time {text!r}: use RFC 3339, a duration (10m) or a Unix time") from None


def cmd_logs(args):
    from runtime.engine import logs
    c = _containers(args).get(args.container)
    tail = None
    if args.tail not in (None, "all"):
        try:
            tail = int(args.tail)
        except ValueError:
            raise InvalidArgument(f"invalid --tail {args.tail!r}") from None
    now = time.time()

    def still_running():
        try:
            c.load()
        except NotFound:
            return False
        return c.status() in ("running", "paused", "restarting")
    logs.show(c.path(f"{c.id}-json.log"), sys.stdout, sys.stderr, tail, args.timestamps, _time_arg(args.since, now),
              _time_arg(args.until, now), still_running if args.follow else None)
    return 0


def cmd_exec(args):
    from runtime.engine import attach
    c = _containers(args).get(args.container)
    if not c.init_alive():
        raise Conflict(f"Container {c.id} is not running")
    if c.state.get("Paused"):
        raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
    if not args.command:
        raise InvalidArgument("exec: give a command to run")
    try:
        return attach.exec_in(c, args.command, bool(args.interactive), bool(args.tty), bool(args.detach),
                              args.env or [], args.workdir, args.user, bool(args.privileged))
    except ExecFailed as e:
        from runtime.engine import runner
        raise _Exit(runner.exit_code_of_start_error(e), e.msg) from None


def cmd_top(args):
    from runtime.container.control import ps_table
    from runtime.engine import runner
    c = _containers(args).get(args.container)
    if not c.init_alive():
        raise Conflict(f"Container {c.id} is not running")
    sys.stdout.write(ps_table(runner.core_pids(c), args.command or ["-ef"]))
    return 0


STATS_HEADERS = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                 "PIDs": "PIDS"}


def cmd_stats(args):
    from runtime.cli.template import Struct, format_rows
    from runtime.engine import runner
    containers = _containers(args)
    if args.container:
        listed = [containers.get(args.container)]
    else:
        listed = [c for c in containers.all() if args.all or c.init_alive()]
    if not args.no_stream:
        sys.stderr.write("hull stats: only --no-stream is supported; printing once\n")

    def sample():
        out = {}
        for c in listed:
            try:
                out[c.id] = (runner.core_store(c.root).get(c.id).cgroup().stats(), time.monotonic())
            except (HullError, AttributeError, OSError):
                out[c.id] = None
        return out
    first = sample()
    time.sleep(0.5)
    second = sample()
    rows = []
    for c in listed:
        a, b = first.get(c.id), second.get(c.id)
        if not b:
            rows.append(Struct({"ID": c.id[:12], "Container": c.id[:12], "Name": c.name, "CPUPerc": "0.00%",
                                "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B", "BlockIO": "0B / 0B",
                                "PIDs": "0"}))
            continue
        st = b[0]
        cpu = 0.0
        if a:
            cpu = (st["cpu"]["usage"]["total"] - a[0]["cpu"]["usage"]["total"]) / ((b[1] - a[1]) * 1e9) * 100
        usage = st["memory"]["usage"]["usage"] - st["memory"].get("cache", 0)
        limit = st["memory"]["usage"]["limit"] or 0
        host_mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if not limit or limit > host_mem:
            limit = host_mem
        rows.append(Struct({"ID": c.id[:12], "Container": c.id[:12], "Name": c.name, "CPUPerc": f"{cpu:.2f}%",
                            "MemUsage": f"{_binary(usage)} / {_binary(limit)}",
                            "MemPerc": f"{usage / limit * 100:.2f}%", "NetIO": "0B / 0B", "BlockIO": "0B / 0B",
                            "PIDs": str(st["pids"]["current"])}))
    fmt = args.format or "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t" \
                         "{{.BlockIO}}\t{{.PIDs}}"
    sys.stdout.write(format_rows(fmt, rows, STATS_HEADERS))
    return 0


def _binary(n: float) -> str:
    """docker stats' memory sizes: binary units, MiB and GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}"
        n /= 1024


def cmd_update(args):
    from runtime.container import control
    from runtime.engine import bundle, runner
    limits = _limits(args)
    policy = _restart_policy(args.restart) if args.restart else None

    def update(containers, ref):
        with containers.get(ref) as c:
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
    return _each(args, update)


def cmd_attach(args):
    from runtime.engine import attach
    c = _containers(args).get(args.container)
    if not c.init_alive():
        raise Conflict("You cannot attach to a stopped container, start it first")
    return attach.attach(c, not args.no_stdin, args.detach_keys)


def cmd_port(args):
    from runtime.network import endpoint
    c = _containers(args).get(args.container)
    bindings = endpoint.ports_of(c.state.get("Network")) if c.init_alive() else []
    if args.private_port:
        port, _, proto = args.private_port.partition("/")
        mine = [b for b in bindings if str(b["container_port"]) == port and b["proto"] == (proto or "tcp")]
        if not mine:
            raise NotFound(f"No public port '{port}/{proto or 'tcp'}' published for {args.container}")
        for b in mine:
            print(f"{b['host_ip']}:{b['host_port']}")
        return 0
    for b in sorted(bindings, key=lambda b: (b["container_port"], b["proto"])):
        print(f"{b['container_port']}/{b['proto']} -> {b['host_ip']}:{b['host_port']}")
    return 0


def cmd_diff(args):
    from runtime.engine import changes, runner
    c = _containers(args).get(args.container)
    with runner.image_store(c.root) as st:
        _, desc = st.lookup(c.config["ImageID"])
        lower = list(reversed(st.layer_dirs(desc)))
    init = [c.path("init")] if os.path.isdir(c.path("init")) else []
    for kind, path in changes.diff(c.path("upper"), changes.Lower(init + lower)):
        print(f"{kind} {path}")
    return 0


def cmd_commit(args):
    from runtime.engine import commit
    c = _containers(args).get(args.container)
    with c:
        image_id = commit.commit(c, args.repository, args.message or "", args.author or "", args.change or [],
                                 str(args.pause).lower() not in ("false", "0"))
    print(image_id)
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
    from runtime.engine import copy
    containers = _containers(args)
    (src_c, src), (dst_c, dst) = _split_cp(args.source), _split_cp(args.destination)
    if (src_c is None) == (dst_c is None):
        raise InvalidArgument("copying between containers is not supported" if src_c else
                              "must specify at least one container source (CONTAINER:PATH)")
    c = containers.get(src_c or dst_c)
    path = src if src_c else dst
    if not path.startswith("/"):
        path = "/" + path  # relative to the container's root, as docker takes it
    with c:
        if src_c:
            copy.copy_out(c, path, dst, sys.stdout)
        else:
            copy.copy_in(c, src, path, sys.stdin)
    return 0


def cmd_export(args):
    from runtime.engine import copy
    c = _containers(args).get(args.container)
    if not args.output and sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    with c:
        if args.output:
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                copy.export(c, fd)
            finally:
                try:
                    os.close(fd)
                except OSError:
                    pass
        else:
            sys.stdout.flush()
            copy.export(c, os.dup(1))
    return 0


HANDLERS = {"port": cmd_port, "diff": cmd_diff, "commit": cmd_commit, "cp": cmd_cp, "export": cmd_export, "run": cmd_run, "create": cmd_create, "start": cmd_start, "stop": cmd_stop, "restart": cmd_restart,
            "kill": cmd_kill, "rm": cmd_rm, "ps": cmd_ps, "logs": cmd_logs, "exec": cmd_exec, "inspect": cmd_inspect,
            "wait": cmd_wait, "top": cmd_top, "stats": cmd_stats, "rename": cmd_rename, "pause": cmd_pause,
            "unpause": cmd_unpause, "attach": cmd_attach, "update": cmd_update}
