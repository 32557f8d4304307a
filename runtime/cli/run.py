"""hull run, create, start and attach: flags -> the body docker's CLI would send to
POST /containers/create -> runtime/engine/service/containers.py. Translation and output only.

Every container is watched by the root's shared monitor (runtime/engine/monitor/), which starts
it, logs its output, records its exit and applies --rm; a foreground `hull run` attaches to it as
docker's CLI does to dockerd. Follow it from cmd_run to service.containers.create, then
service.containers.run_foreground, attach.attach, the monitor's start (monitor/loop.py),
runner.launch, the core's lifecycle.create and init.py's execve.
"""
import os
import sys

from runtime.cli import display
from runtime.cli.args import Flag, FlagError, Verb
from runtime.engine.service import containers as service
from runtime.errors import Conflict, HullError, InvalidArgument, NotFound, NotModified

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
    Flag("network-alias", value=True, many=True, help="another name for it on a user network"),
    Flag("log-driver", value=True, help="json-file (the only one)"),
    Flag("log-opt", value=True, many=True, help="max-size=10m, max-file=3, labels=K,.., env=K,.., env-regex=RE"),
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

DETACH_KEYS = "ctrl-p,ctrl-q"


def _detach_keys() -> Flag:
    return Flag("detach-keys", value=True, default=DETACH_KEYS, help="the keys that detach (ctrl-p,ctrl-q)")


VERBS = [
    Verb("run", "run a command in a new container", RUN_FLAGS + [_detach_keys()], ["image"], rest=True,
         rest_name="COMMAND [ARG...]"),
    Verb("create", "create a container (start runs it)", RUN_FLAGS, ["image"], rest=True,
         rest_name="COMMAND [ARG...]"),
    Verb("start", "start stopped containers", [Flag("attach", "a", help="attach to its output and wait"),
                                               Flag("interactive", "i", help="attach stdin too"), _detach_keys()],
         ["container"], rest=True, rest_name="CONTAINER..."),
    Verb("attach", "connect the terminal to a running container (ctrl-p ctrl-q detaches)", [
        Flag("no-stdin", help="do not send stdin"), _detach_keys()], ["container"]),
]


# -- flags -> docker's create body ---------------------------------------------------------------------

def create_body(args) -> dict:
    """The body of POST /containers/create, as the docker CLI builds it from the same flags."""
    from runtime.network import ports
    network = args.net or args.network
    bindings = [b for spec in args.publish or [] for b in ports.parse(spec)]
    exposed = {f"{b['container_port']}/{b['proto']}": {} for e in args.expose or [] for b in ports.parse(e)}
    endpoint = {}
    if args.network_alias:
        endpoint["Aliases"] = list(args.network_alias)
    if args.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": args.ip}
    entrypoint = None
    if args.entrypoint is not None:
        entrypoint = [args.entrypoint] if args.entrypoint else [""]
    stop_timeout = None
    if args.stop_timeout is not None:
        try:
            stop_timeout = int(args.stop_timeout)
        except ValueError:
            raise InvalidArgument(f"invalid --stop-timeout {args.stop_timeout!r}") from None
    host = {
        "Binds": args.volume, "Mounts": [mount_flag(m) for m in args.mount or []] or None,
        "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in args.tmpfs or []} or None,
        "VolumesFrom": args.volumes_from, "NetworkMode": network, "PortBindings": ports.to_docker(bindings),
        "PublishAllPorts": bool(args.publish_all), "RestartPolicy": restart_policy(args.restart or "no"),
        "AutoRemove": bool(args.rm), "CapAdd": args.cap_add, "CapDrop": args.cap_drop,
        "Privileged": bool(args.privileged), "ReadonlyRootfs": bool(args.read_only),
        "SecurityOpt": args.security_opt, "Ulimits": _ulimits(args.ulimit), "Sysctls": key_values(args.sysctl, "sysctl"),
        "Init": bool(args.init), "LogConfig": {"Type": args.log_driver or "", "Config": key_values(args.log_opt, "log-opt")},
        "Dns": args.dns or [], "DnsSearch": args.dns_search or [], "DnsOptions": args.dns_option or [],
        "ExtraHosts": args.add_host, **limits_body(args),
    }
    if args.tty and os.isatty(0):
        from runtime.linux import tty
        host["ConsoleSize"] = list(tty.get_winsize(0) or (0, 0))  # as docker's CLI sends it
    if args.shm_size:
        from runtime.units import parse_bytes
        host["ShmSize"] = parse_bytes(args.shm_size, "shm-size")
    return {
        "Hostname": args.hostname or "", "User": args.user or "", "AttachStdin": bool(args.interactive) and not args.detach,
        "AttachStdout": not args.detach, "AttachStderr": not args.detach, "Tty": bool(args.tty),
        "OpenStdin": bool(args.interactive), "StdinOnce": bool(args.interactive) and not args.detach,
        "Env": _env(args), "Cmd": list(args.command) or None, "Image": args.image, "WorkingDir": args.workdir or "",
        "Entrypoint": entrypoint, "Labels": key_values(args.label, "label"), "ExposedPorts": exposed or None,
        "StopSignal": args.stop_signal or None, "StopTimeout": stop_timeout,
        "HostConfig": host,
        "NetworkingConfig": {"EndpointsConfig": {network: endpoint}} if endpoint else None,
    }


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
        if "=" not in e:  # docker: KEY alone takes the client's own value, or is dropped
            if e in os.environ:
                env.append(f"{e}={os.environ[e]}")
            continue
        if e.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {e}")
        env.append(e)
    return env


def restart_policy(text: str) -> dict:
    name, _, count = text.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure") or (count and name != "on-failure"):
        raise InvalidArgument(f"invalid restart policy {text!r} (no, always, unless-stopped, on-failure[:N])")
    if count and not count.isdigit():
        raise InvalidArgument(f"maximum retry count must be an integer: {count!r}")
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count or 0)}


def limits_body(args) -> dict:
    """--memory, --cpus ... as HostConfig's (and the update body's) fields."""
    from runtime.units import parse_bytes
    out = {}
    if getattr(args, "memory", None):
        out["Memory"] = parse_bytes(args.memory, "memory")
    if getattr(args, "memory_swap", None):
        out["MemorySwap"] = parse_bytes(args.memory_swap, "memory-swap")
    if getattr(args, "cpus", None):
        try:
            out["NanoCpus"] = round(float(args.cpus) * 10 ** 9)  # 2.01 -> 2010000000, not ...999
        except ValueError:
            raise InvalidArgument(f"invalid argument {args.cpus!r} for --cpus: not a number") from None
    for flag, key in (("cpu_shares", "CpuShares"), ("pids_limit", "PidsLimit")):
        v = getattr(args, flag, None)
        if v:
            try:
                out[key] = int(v)
            except ValueError:
                raise InvalidArgument(f"invalid argument {v!r} for --{flag.replace('_', '-')}") from None
    if getattr(args, "cpuset_cpus", None):
        out["CpusetCpus"] = args.cpuset_cpus
    return out


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


def key_values(items: list, what: str) -> dict:
    out = {}
    for item in items or []:
        k, eq, v = item.partition("=")
        if not k:
            raise InvalidArgument(f"invalid {what}: {item!r}")
        out[k] = v
    return out


def mount_flag(spec: str) -> dict:
    """--mount type=bind|volume|tmpfs,source=,target=,readonly,... -> an API Mount object."""
    fields = {}
    for item in spec.split(","):
        k, eq, v = item.partition("=")
        k = k.strip().lower()
        fields[{"src": "source", "dst": "target", "destination": "target", "ro": "readonly"}.get(k, k)] = \
            v if eq else "true"
    m = {"Type": fields.get("type", "volume"), "Source": fields.get("source", ""), "Target": fields.get("target", ""),
         "ReadOnly": fields.get("readonly", "false") in ("true", "1")}
    if "bind-propagation" in fields:
        m["BindOptions"] = {"Propagation": fields["bind-propagation"]}
    if fields.get("volume-nocopy") == "true":
        m["VolumeOptions"] = {"NoCopy": True}
    if "tmpfs-size" in fields or "tmpfs-mode" in fields:
        from runtime.units import parse_bytes
        try:
            m["TmpfsOptions"] = {**({"SizeBytes": parse_bytes(fields["tmpfs-size"], "mount")} if "tmpfs-size" in fields else {}),
                                 **({"Mode": int(fields["tmpfs-mode"], 8)} if "tmpfs-mode" in fields else {})}
        except ValueError:
            raise InvalidArgument(f"invalid tmpfs-mode in --mount {spec!r}: an octal mode like 1777") from None
    return m


# -- create, run, start, attach -------------------------------------------------------------------------

def create(args, starting: bool = False) -> str:
    """The container's ID; the image pulled first if --pull says so (docker's CLI: create, and on
    'No such image' pull and create again). starting: run starts it next (prune leaves it)."""
    if args.pull not in ("missing", "always", "never"):
        raise FlagError(f'invalid pull option: "{args.pull}" (missing, always, never)')
    try:
        body = create_body(args)
    except InvalidArgument as e:
        raise FlagError(e.msg) from None  # the docker CLI's own checks: 125 for create too
    if args.pull == "always":
        _pull(args)
    try:
        made = service.create(args.root, body, args.name, starting)
    except service.ImageNotFound:
        if args.pull != "missing" or _looks_like_id(args.image):
            raise NotFound(f"No such image: {args.image}") from None
        _pull(args)
        made = service.create(args.root, body, args.name, starting)
    for w in made["Warnings"]:
        sys.stderr.write(f"WARNING: {w}\n")
    return made["Id"]


def _pull(args) -> None:
    # only now: the registry client imports http, ssl and email (~30 ms)
    from runtime.engine.service import images
    from runtime.image import transfer
    from runtime.image.reference import parse as parse_ref
    try:
        images.inspect(args.root, args.image)
    except NotFound:
        sys.stderr.write(f"Unable to find image '{parse_ref(args.image).familiar()}' locally\n")
    # the pull's progress goes to stderr: stdout is the container's
    images.pull(args.root, args.image, args.platform, args.config, transfer.Progress(sys.stderr, quiet=args.quiet))


def _looks_like_id(text: str) -> bool:
    t = text.removeprefix("sha256:")
    return len(t) == 64 and all(c in "0123456789abcdef" for c in t)


def cmd_create(args):
    print(create(args))
    return 0


def _not_a_tty(interactive: bool, tty: bool) -> bool:
    """docker's CLI refuses -it when stdin is not a terminal, before anything is made."""
    if interactive and tty and not os.isatty(0):
        sys.stderr.write("the input device is not a TTY\n")
        return True
    return False


def cmd_run(args):
    if not args.detach and _not_a_tty(args.interactive, args.tty):
        return 1
    from runtime.engine.attach import detach_bytes
    detach_bytes(args.detach_keys)  # refused before anything is made
    from runtime.engine import monitor
    monitor.warm(args.root)  # the monitor starts the container: if none runs, one starts during create
    cid = create(args, starting=True)
    if args.detach:
        service.start(args.root, cid)
        print(cid)
        return 0
    return service.run_foreground(args.root, cid, bool(args.interactive), args.detach_keys)


def cmd_start(args):
    refs = [args.container] + args.command
    if args.attach or args.interactive:
        if len(refs) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        c = service.containers(args.root).get(refs[0])
        if c.init_alive():
            return 0
        if _not_a_tty(args.interactive, bool(c.config["Config"].get("Tty"))):
            return 1
        return service.run_foreground(args.root, c.id, bool(args.interactive), args.detach_keys)
    failed = 0
    for ref in refs:
        try:
            service.start(args.root, ref)
            print(ref)
        except NotModified:
            print(ref)  # docker's CLI: the API's 304 is a success
        except HullError as e:
            display.error(e.msg)
            failed = display.REFUSED
    return failed


def cmd_attach(args):
    from runtime.engine import attach
    c = service.containers(args.root).get(args.container)
    if not c.init_alive():
        raise Conflict("You cannot attach to a stopped container, start it first")
    return attach.attach(c, not args.no_stdin, args.detach_keys)


HANDLERS = {"run": cmd_run, "create": cmd_create, "start": cmd_start, "attach": cmd_attach}
