"""A container's OCI config.json, from its image's config and the docker flags it was created with,
with docker's defaults (moby's daemon/oci_linux.go and containerd's default spec, as data here):

    process    Entrypoint + Cmd (docker's merge), image Env + -e, User (names looked up in the
               image's own /etc/passwd and /etc/group), WorkingDir, the 14 default capabilities
               +/- --cap-add/--cap-drop, RLIMIT_NOFILE 1024, no_new_privs only if asked
    mounts     /proc /dev /dev/pts /dev/shm (64m) /dev/mqueue /sys /sys/fs/cgroup, then the
               container's /etc/resolv.conf, /etc/hostname and /etc/hosts (files of its own)
    linux      masked and read-only paths, the default device rules, docker's seccomp profile,
               namespaces (network none|host), cgroup limits from -m/--cpus/--pids-limit ...

--privileged, as docker's: every capability, every host device, no seccomp, no masked paths.
"""
import os

from runtime.container.defaults import ALLOWED_DEVICES, DOCKER_CAPS, seccomp_profile
from runtime.errors import InvalidArgument
from runtime.linux import caps as caps_mod
from runtime.linux import mounts as mounts_mod  # secure_join: the image's files, never followed out

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
INIT_BINARY = "/usr/bin/tini-static"  # Debian's static tini (docker's docker-init is tini too)
INIT_PATH = "/sbin/hull-init"
# files and directories the container's own mounts cover: made in its init layer (below its
# writable one), so they never show up in `hull diff` (docker's init layer)
INIT_LAYER = {"dirs": ["proc", "sys", "dev", "dev/pts", "dev/shm", "dev/mqueue", "etc", "sbin"],
              "files": ["etc/hostname", "etc/hosts", "etc/resolv.conf"]}


def command(image_cfg: dict, entrypoint: list | None, cmd: list | None) -> tuple:
    """(Entrypoint, Cmd) by docker's rules: --entrypoint replaces the image's and drops the image's
    Cmd ('' clears it); arguments after the image replace Cmd."""
    if entrypoint is not None:
        return ([e for e in entrypoint if e != ""] or None), (list(cmd) if cmd else None)
    return (image_cfg.get("Entrypoint") or None), (list(cmd) if cmd else (image_cfg.get("Cmd") or None))


def merge_env(image_env: list, extra: list) -> list:
    """Image Env, then -e/--env-file (a later KEY wins, keeping its first place), PATH if missing."""
    env = {}
    for e in (image_env or []) + extra:
        key, _, _ = e.partition("=")
        env[key] = e
    if "PATH" not in env:
        env = {"PATH": DEFAULT_PATH, **env}
    return list(env.values())


def resolve_user(rootfs: str, user: str, table=None) -> dict:
    """USER[:GROUP] (names or numbers) -> OCI process.user, looked up in the image's files as docker
    does; a user's other groups in /etc/group become additionalGids. table(path) reads a file's
    lines split at colons (default: from the directory rootfs)."""
    name, _, group = (user or "").partition(":")
    table = table or (lambda path: _table(rootfs, path))
    passwd = table("/etc/passwd")
    groups = table("/etc/group")
    if not name:
        name = "0"
    if name.isdigit():
        uid = int(name)
        entry = next((p for p in passwd if len(p) > 3 and p[2] == name), None)
        gid = int(entry[3]) if entry and entry[3].isdigit() else 0
        username = entry[0] if entry else None
    else:
        entry = next((p for p in passwd if p[0] == name and len(p) > 3), None)
        if entry is None:
            raise InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid, username = int(entry[2]), int(entry[3]), name
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((g for g in groups if g[0] == group and len(g) > 2), None)
            if g is None:
                raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
            gid = int(g[2])
    extra = sorted({int(g[2]) for g in groups if len(g) > 3 and username and username in g[3].split(",")
                    and g[2].isdigit() and int(g[2]) != gid})
    if not extra and uid != 0:
        extra = [gid]  # as docker and podman: a user outside /etc/group still has its own group
    return {"uid": uid, "gid": gid, **({"additionalGids": extra} if extra else {})}


def _table(rootfs: str, path: str) -> list:
    """The colon-separated lines of a file inside the rootfs (never followed out of it)."""
    try:
        with open(mounts_mod.secure_join(rootfs, path)) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except (OSError, UnicodeDecodeError):
        return []


def available_caps() -> list:
    """Every capability hull itself may hand on (its bounding set: on this host not CAP_SYS_RESOURCE),
    what --privileged and --cap-add ALL mean (docker's: all the daemon has)."""
    with open("/proc/self/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return [name for i, name in enumerate(caps_mod.NAMES[:caps_mod.last_cap() + 1]) if mask >> i & 1]


def capabilities(cap_add: list, cap_drop: list, privileged: bool) -> list:
    every = available_caps()
    if privileged:
        return list(every)
    norm = [c.upper() if c.upper().startswith("CAP_") or c.upper() == "ALL" else "CAP_" + c.upper()
            for c in cap_add + cap_drop]
    for c in norm:
        if c != "ALL" and c not in caps_mod.NUMBER:
            raise InvalidArgument(f"unknown capability: {c!r}")
    add, drop = norm[:len(cap_add)], norm[len(cap_add):]
    base = [] if "ALL" in drop else [c for c in DOCKER_CAPS if c not in drop]
    if "ALL" in add:
        base = [c for c in every if c not in drop]
    return sorted(set(base) | {c for c in add if c != "ALL"}, key=caps_mod.NUMBER.get)


def resources(hc: dict) -> dict:
    """HostConfig limits -> OCI linux.resources (docker's conversions: --cpus is a CFS quota)."""
    r = {}
    mem = {}
    if hc.get("Memory"):
        mem["limit"] = hc["Memory"]
    if hc.get("MemorySwap"):
        mem["swap"] = hc["MemorySwap"]
    elif hc.get("Memory"):
        mem["swap"] = 2 * hc["Memory"]  # docker: swap defaults to as much again as the memory limit
    if mem:
        r["memory"] = mem
    cpu = {}
    if hc.get("NanoCpus"):
        cpu["period"] = 100000
        cpu["quota"] = hc["NanoCpus"] * 100000 // 10 ** 9
    if hc.get("CpuShares"):
        cpu["shares"] = hc["CpuShares"]
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if cpu:
        r["cpu"] = cpu
    if hc.get("PidsLimit"):
        r["pids"] = {"limit": hc["PidsLimit"]}
    if hc.get("Privileged"):
        r["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        r["devices"] = [{"allow": False, "access": "rwm"}] + ALLOWED_DEVICES
    return r


def _mounts(files: dict, shm_size: int) -> list:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755",
                                                                              "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ] + [{"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}
         for dest, src in files.items()]


def host_devices() -> list:
    """Every character and block device of the host's /dev, for --privileged (as docker lists them)."""
    import stat
    out = []
    for d, dirs, entries in os.walk("/dev"):
        dirs[:] = [x for x in dirs if x not in ("pts", "shm", "fd", "mqueue")]
        for name in entries:
            p = os.path.join(d, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if name != "console" and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
                out.append({"path": p, "type": "c" if stat.S_ISCHR(st.st_mode) else "b", "major": os.major(st.st_rdev),
                            "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
                            "uid": st.st_uid, "gid": st.st_gid})
    return out


def oci_config(cfg: dict, hc: dict, rootfs: str, files: dict, cgroup_v2: bool) -> dict:
    """The config.json of a container: cfg is its docker Config (the image's merged in at create),
    hc its HostConfig, files {destination: host file} for /etc/hostname & co."""
    args = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])  # both as create merged them
    if not args:
        raise InvalidArgument("No command specified")
    if hc.get("Init"):
        args = [INIT_PATH, "--"] + args
    privileged = bool(hc.get("Privileged"))
    cap_list = capabilities(hc.get("CapAdd") or [], hc.get("CapDrop") or [], privileged)
    security = hc.get("SecurityOpt") or []
    network = hc.get("NetworkMode") or "none"
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if network.startswith("container:"):  # its netns, by the init's /proc entry
        namespaces.append({"type": "network", "path": hc["NetworkContainerNs"]})
    elif network != "host":
        namespaces.append({"type": "network"})
    if cgroup_v2:
        namespaces.append({"type": "cgroup"})
    rlimits = {"RLIMIT_NOFILE": (1024, 1024)}
    for u in hc.get("Ulimits") or []:
        rlimits["RLIMIT_" + u["Name"].upper()] = (u["Soft"], u["Hard"])
    mounts = _mounts(files, hc.get("ShmSize") or 64 * 1024 * 1024)
    if hc.get("Init"):
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": INIT_BINARY, "options": ["rbind", "ro"]})
    size = hc.get("ConsoleSize") or [0, 0]
    spec = {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": bool(cfg.get("Tty")), "user": resolve_user(rootfs, cfg.get("User") or ""),
            "args": args, "env": cfg["Env"], "cwd": cfg.get("WorkingDir") or "/",
            "capabilities": {k: list(cap_list) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": k, "soft": s, "hard": h} for k, (s, h) in rlimits.items()],
            "noNewPrivileges": "no-new-privileges" in security or "no-new-privileges:true" in security,
            # the client's terminal size from the start: a first `stty size` or `top` must not see 0x0
            **({"consoleSize": {"height": size[0], "width": size[1]}} if cfg.get("Tty") and all(size) else {}),
        },
        "root": {"path": rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))},
        "hostname": cfg.get("Hostname") or "",
        "mounts": mounts,
        "linux": {
            "resources": resources(hc), "namespaces": namespaces,
            "sysctl": dict(hc.get("Sysctls") or {}),
            "maskedPaths": [] if privileged else list(MASKED),
            "readonlyPaths": [] if privileged else list(READONLY),
        },
    }
    if privileged:
        spec["linux"]["devices"] = host_devices()
    seccomp = seccomp_for(security, privileged, cap_list)
    if seccomp:
        spec["linux"]["seccomp"] = seccomp
    if cfg.get("Domainname"):
        spec["domainname"] = cfg["Domainname"]
    return spec


def seccomp_for(security: list, privileged: bool, cap_list: list) -> dict | None:
    """docker's default profile, another profile in docker's format (seccomp=FILE), or none."""
    for opt in security:
        key, _, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if key == "seccomp":
            if value == "unconfined":
                return None
            import json as json_mod
            try:
                with open(value) as f:
                    profile = json_mod.load(f)
            except (OSError, ValueError) as e:
                raise InvalidArgument(f"opening seccomp profile ({value}) failed: {e}") from None
            return seccomp_profile(cap_list, profile)
    return None if privileged else seccomp_profile(cap_list)


def init_layer(path: str, with_init: bool) -> None:
    """The container's init layer: empty mount points for what it mounts (see INIT_LAYER), made
    below the layer's fd without following links, with explicit modes."""
    from runtime.linux import beneath
    os.makedirs(path, mode=0o755, exist_ok=True)
    root = os.open(path, beneath.DIR)
    try:
        for rel in INIT_LAYER["dirs"] + INIT_LAYER["files"] + (["sbin/hull-init"] if with_init else []):
            parent, name = beneath.parent_of(root, rel, create=True)
            try:
                if rel in INIT_LAYER["dirs"]:
                    beneath.make_dir(parent, name, 0o755)
                elif beneath.lstat(parent, name) is None:
                    fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=parent)
                    os.fchmod(fd, 0o644)
                    os.close(fd)
            finally:
                os.close(parent)
    finally:
        os.close(root)


def resolv_conf(dns: list, search: list, options: list, keep_search: bool = True) -> str:
    """The host's resolv.conf without loopback resolvers (they mean nothing in another netns), or
    what --dns/--dns-search/--dns-option say; docker's public fallbacks if nothing is left.
    keep_search=False: no search domains from the host (hull's resolver answers the names)."""
    servers, searches, opts = [], [], []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                words = line.split()
                if not words or words[0].startswith(("#", ";")):
                    continue
                if words[0] == "nameserver" and len(words) > 1 and not _loopback(words[1]):
                    servers.append(words[1])
                elif words[0] in ("search", "domain"):
                    searches = words[1:]
                elif words[0] == "options":
                    opts += words[1:]
    except OSError:
        pass
    servers = dns or servers or ["8.8.8.8", "8.8.4.4"]
    searches = search or (searches if keep_search else [])
    opts = options or opts
    text = "".join(f"nameserver {s}\n" for s in servers)
    if searches:
        text += "search " + " ".join(searches) + "\n"
    if opts:
        text += "options " + " ".join(opts) + "\n"
    return text


def _loopback(addr: str) -> bool:
    return addr.startswith("127.") or addr == "::1"


def hosts_file(hostname: str, extra: list, own_ip: str | None = None) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    lines += [f"{ip}\t{name}" for name, ip in (h.split(":", 1) for h in extra)]
    if own_ip:
        lines.append(f"{own_ip}\t{hostname}")
    return "\n".join(lines) + "\n"
