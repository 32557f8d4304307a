"""config.json: parse and validate an OCI runtime spec (1.0 - 1.2) into plain dataclasses.

Validation happens once, here, before anything is created, so a bad bundle fails with one clear line
("config.json: process.cwd must be an absolute path") and leaves nothing behind. The rest of the
runtime trusts these objects. The raw dict is kept too (`Spec.raw`): later layers (cgroups,
seccomp) read their own sections from it.
"""
import os
from runtime import fastjson as json  # json without its imports (see fastjson)
from runtime.cgroups import resources
from runtime.errors import InvalidSpec
from runtime.linux import caps, userns

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")
RLIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
           "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
           "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK")


class Record:
    """A plain record: keyword arguments become attributes. (dataclasses would cost ~5 ms of
    start-up for importing inspect; hull-oci is started several times per container.)"""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __repr__(self):
        return f"{type(self).__name__}({self.__dict__})"

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__


class Mount(Record):
    """destination (absolute, normalised), type, source, options (list of str)"""


class Hook(Record):
    """path (absolute), args (argv, args[0] included), env (KEY=VALUE list), timeout (seconds or None)"""


class User(Record):
    """uid, gid, umask (None: 022), additional_gids"""


class Rlimit(Record):
    """type (RLIMIT_*), soft, hard"""


class Process(Record):
    """args, env, cwd, user, terminal, console_size ((height, width) or None), rlimits, no_new_privileges,
    capabilities ({set: [names]} or None: keep the caller's), notes (what is accepted but not done),
    oom_score_adj, apparmor_profile, selinux_label"""


class Namespace(Record):
    """type (one of NAMESPACE_TYPES), path ("" = create a new one)"""


class Device(Record):
    """path, type (c, b, u or p), major, minor, file_mode, uid, gid (None = default)"""


class Spec(Record):
    """The validated config.json. raw: the decoded JSON, for sections other layers read themselves.
    root_path is absolute (resolved against the bundle); hooks maps kind -> [Hook]."""

    def namespace(self, kind: str) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.type == kind), None)

    def creates(self, kind: str) -> bool:
        """Does the container get a new namespace of this kind (listed, without a path)?"""
        ns = self.namespace(kind)
        return ns is not None and not ns.path


# -- small typed accessors; `where` is the dotted path used in error messages -------------------

def _get(obj: dict, key: str, types, where: str, required=False, default=None):
    if key not in obj or obj[key] is None:
        if required:
            raise InvalidSpec(f"config.json: {where}{key} is required")
        return default
    value = obj[key]
    # bool is an int in Python; never accept true where a number is expected
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        raise InvalidSpec(f"config.json: {where}{key} must be {_type_name(types)}, "
                          f"not {type(value).__name__} {json.dumps(value)[:40]}")
    return value


def _tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _type_name(types) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "an object"}
    return " or ".join(names.get(t, t.__name__) for t in _tuple(types))


def _strings(obj: dict, key: str, where: str, required=False) -> list:
    values = _get(obj, key, list, where, required, [])
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise InvalidSpec(f"config.json: {where}{key}[{i}] must be a string")
    return values


def _uint(obj: dict, key: str, where: str, default=None, bits=32):
    value = _get(obj, key, int, where, default=default)
    if value is not None and not 0 <= value < 2 ** bits:
        raise InvalidSpec(f"config.json: {where}{key} must be between 0 and {2 ** bits - 1}, not {value}")
    return value


def _absolute(path: str, what: str) -> str:
    if not path.startswith("/"):
        raise InvalidSpec(f"config.json: {what} must be an absolute path, not {path!r}")
    return path


# -- sections ----------------------------------------------------------------------------------

def _parse_process(p: dict) -> Process:
    w = "process."
    args = _strings(p, "args", w)
    cwd = _absolute(_get(p, "cwd", str, w, required=True), "process.cwd")
    env = _strings(p, "env", w)
    for e in env:
        if "=" not in e:
            raise InvalidSpec(f"config.json: process.env entry {e!r} is not KEY=VALUE")
    u = _get(p, "user", dict, w, default={})
    user = User(uid=_uint(u, "uid", "process.user.", 0), gid=_uint(u, "gid", "process.user.", 0),
                umask=_uint(u, "umask", "process.user.", None),
                additional_gids=[int(g) for g in _get(u, "additionalGids", list, "process.user.", default=[])])
    for g in user.additional_gids:
        if g < 0:
            raise InvalidSpec("config.json: process.user.additionalGids must be unsigned")
    size = _get(p, "consoleSize", dict, w)
    console = None
    if size is not None:
        console = (_uint(size, "height", "process.consoleSize.", 0), _uint(size, "width", "process.consoleSize.", 0))
    rlimits, seen = [], set()
    for i, r in enumerate(_get(p, "rlimits", list, w, default=[])):
        rw = f"process.rlimits[{i}]."
        if not isinstance(r, dict):
            raise InvalidSpec(f"config.json: process.rlimits[{i}] must be an object")
        kind = _get(r, "type", str, rw, required=True)
        if kind not in RLIMITS:
            raise InvalidSpec(f"config.json: {rw}type {kind!r} is not a known rlimit ({', '.join(RLIMITS)})")
        if kind in seen:
            raise InvalidSpec(f"config.json: rlimit {kind} is given twice")
        seen.add(kind)
        soft = _uint(r, "soft", rw, 0, bits=64)
        hard = _uint(r, "hard", rw, 0, bits=64)
        if soft > hard:
            raise InvalidSpec(f"config.json: {kind} soft limit {soft} is above its hard limit {hard}")
        rlimits.append(Rlimit(type=kind, soft=soft, hard=hard))
    oom = _get(p, "oomScoreAdj", int, w)
    if oom is not None and not -1000 <= oom <= 1000:
        raise InvalidSpec(f"config.json: process.oomScoreAdj must be -1000..1000 (got {oom})")
    capabilities, notes = _parse_capabilities(_get(p, "capabilities", dict, w))
    return Process(args=args, env=env, cwd=cwd, user=user,
                   terminal=_get(p, "terminal", bool, w, default=False), console_size=console,
                   rlimits=rlimits, no_new_privileges=_get(p, "noNewPrivileges", bool, w, default=False),
                   capabilities=capabilities, notes=notes, oom_score_adj=oom,
                   apparmor_profile=_get(p, "apparmorProfile", str, w, default=""),
                   selinux_label=_get(p, "selinuxLabel", str, w, default=""))


def parse_process(raw) -> Process:
    """An OCI process object on its own (exec --process)."""
    if not isinstance(raw, dict):
        raise InvalidSpec("process must be a JSON object")
    p = _parse_process(raw)
    if not p.args:
        raise InvalidSpec("process.args must name the program to run")
    return p


def _parse_capabilities(raw) -> tuple[dict | None, list]:
    """({set: [names]} for the five sets, notes). Unknown names are an error (runc accepts them
    silently); ambient ones the kernel cannot raise are dropped with a note, as runc goes on."""
    if raw is None:
        return None, []
    out = {}
    for key in caps.SETS:
        names = _strings(raw, key, "process.capabilities.")
        for n in names:
            if n not in caps.NUMBER:
                raise InvalidSpec(f"config.json: process.capabilities.{key}: unknown capability {n!r}")
        out[key] = names
    for key in raw:
        if key not in caps.SETS:
            raise InvalidSpec(f"config.json: process.capabilities.{key} is not a capability set "
                              f"({', '.join(caps.SETS)})")
    dropped = caps.unraisable_ambient(out)
    if not dropped:
        return out, []
    out["ambient"] = [n for n in out["ambient"] if n not in dropped]
    return out, [f"process.capabilities.ambient: {', '.join(dropped)} not raised: an ambient capability "
                 "must also be permitted and inheritable"]


def _parse_id_mappings(linux: dict, key: str) -> list:
    """[(containerID, hostID, size)]; ranges may not overlap on either side."""
    out = []
    for i, m in enumerate(_get(linux, key, list, "linux.", default=[])):
        w = f"linux.{key}[{i}]."
        if not isinstance(m, dict):
            raise InvalidSpec(f"config.json: linux.{key}[{i}] must be an object")
        c, h, n = (_uint(m, f, w, None) for f in ("containerID", "hostID", "size"))
        if None in (c, h, n) or n == 0:
            raise InvalidSpec(f"config.json: {w[:-1]} needs containerID, hostID and a size of at least 1")
        if c + n > 2 ** 32 - 1 or h + n > 2 ** 32 - 1:
            raise InvalidSpec(f"config.json: {w[:-1]} runs past the 32-bit ID space")
        out.append((c, h, n))
    if len(out) > userns.MAX_LINES:
        raise InvalidSpec(f"config.json: linux.{key} has {len(out)} ranges; the kernel takes {userns.MAX_LINES}")
    for index, side in ((0, "container"), (1, "host")):
        if userns.overlaps(out, index):
            raise InvalidSpec(f"config.json: linux.{key} ranges overlap on the {side} side")
    return out


# sysctls that a namespace isolates, and which namespace (runc's list)
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                "kernel.shmmni", "kernel.shm_rmid_forced")


def sysctl_namespace(key: str) -> str | None:
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return "ipc"
    if key.startswith("net."):
        return "network"
    if key in ("kernel.hostname", "kernel.domainname"):
        return "uts"
    return None


def _parse_sysctl(raw: dict, namespaces: list) -> dict:
    for key, value in raw.items():
        if not isinstance(value, str):
            raise InvalidSpec(f"config.json: linux.sysctl[{key!r}] must be a string")
        if "/" in key or ".." in key or not key:
            raise InvalidSpec(f"config.json: linux.sysctl key {key!r} is not a sysctl name")
        ns = sysctl_namespace(key)
        if ns is None:
            raise InvalidSpec(f"config.json: linux.sysctl {key!r} is not namespaced: it would change the host")
        if not any(n.type == ns for n in namespaces):
            raise InvalidSpec(f"config.json: linux.sysctl {key!r} needs a {ns} namespace")
    return dict(raw)


def _parse_mounts(raw: list) -> list:
    mounts = []
    for i, m in enumerate(raw):
        w = f"mounts[{i}]."
        if not isinstance(m, dict):
            raise InvalidSpec(f"config.json: mounts[{i}] must be an object")
        dest = _get(m, "destination", str, w, required=True)
        # runc accepts relative destinations (relative to /); so do we, but never '..' escapes
        dest = "/" + os.path.normpath("/" + dest).lstrip("/")
        mounts.append(Mount(destination=dest, type=_get(m, "type", str, w, default=""),
                            source=_get(m, "source", str, w, default=""), options=_strings(m, "options", w)))
    return mounts


def parse_hooks(raw: dict) -> dict:
    hooks = {}
    for kind, entries in raw.items():
        if kind not in HOOK_KINDS:
            raise InvalidSpec(f"config.json: unknown hook kind {kind!r} (one of {', '.join(HOOK_KINDS)})")
        if not isinstance(entries, list):
            raise InvalidSpec(f"config.json: hooks.{kind} must be a list")
        parsed = []
        for i, h in enumerate(entries):
            w = f"hooks.{kind}[{i}]."
            if not isinstance(h, dict):
                raise InvalidSpec(f"config.json: hooks.{kind}[{i}] must be an object")
            timeout = _get(h, "timeout", int, w)
            if timeout is not None and timeout <= 0:
                raise InvalidSpec(f"config.json: {w}timeout must be greater than zero")
            parsed.append(Hook(path=_absolute(_get(h, "path", str, w, required=True), f"{w}path"),
                               args=_strings(h, "args", w), env=_strings(h, "env", w), timeout=timeout))
        hooks[kind] = parsed
    return hooks


def _parse_namespaces(raw: list) -> list:
    namespaces, seen = [], set()
    for i, n in enumerate(raw):
        w = f"linux.namespaces[{i}]."
        if not isinstance(n, dict):
            raise InvalidSpec(f"config.json: linux.namespaces[{i}] must be an object")
        kind = _get(n, "type", str, w, required=True)
        if kind not in NAMESPACE_TYPES:
            raise InvalidSpec(f"config.json: unknown namespace type {kind!r} (one of {', '.join(NAMESPACE_TYPES)})")
        if kind in seen:
            raise InvalidSpec(f"config.json: namespace {kind!r} is listed twice")
        seen.add(kind)
        path = _get(n, "path", str, w, default="")
        if path:
            _absolute(path, f"{w}path")
        namespaces.append(Namespace(type=kind, path=path))
    return namespaces


def _parse_devices(raw: list) -> list:
    devices = []
    for i, d in enumerate(raw):
        w = f"linux.devices[{i}]."
        if not isinstance(d, dict):
            raise InvalidSpec(f"config.json: linux.devices[{i}] must be an object")
        kind = _get(d, "type", str, w, required=True)
        if kind not in ("c", "b", "u", "p"):
            raise InvalidSpec(f"config.json: {w}type must be one of c, b, u, p, not {kind!r}")
        devices.append(Device(path=_absolute(_get(d, "path", str, w, required=True), f"{w}path"), type=kind,
                              major=_get(d, "major", int, w, default=0), minor=_get(d, "minor", int, w, default=0),
                              file_mode=_uint(d, "fileMode", w), uid=_uint(d, "uid", w), gid=_uint(d, "gid", w)))
    return devices


def parse(raw, bundle: str) -> Spec:
    """Validate a decoded config.json; `bundle` anchors a relative root.path."""
    if not isinstance(raw, dict):
        raise InvalidSpec("config.json: the top level must be a JSON object")
    version = _get(raw, "ociVersion", str, "", required=True)
    if not version.startswith("1."):
        raise InvalidSpec(f"config.json: ociVersion {version!r} is not supported (1.0 to 1.2)")
    root = _get(raw, "root", dict, "", required=True)
    root_path = _get(root, "path", str, "root.", required=True)
    root_path = os.path.normpath(os.path.join(bundle, root_path))
    proc = _get(raw, "process", dict, "")
    linux = _get(raw, "linux", dict, "", default={})
    annotations = _get(raw, "annotations", dict, "", default={})
    for k, v in annotations.items():
        if not isinstance(v, str):
            raise InvalidSpec(f"config.json: annotations[{k!r}] must be a string")
    propagation = _get(linux, "rootfsPropagation", str, "linux.")
    if propagation is not None and propagation not in PROPAGATIONS:
        raise InvalidSpec(f"config.json: linux.rootfsPropagation {propagation!r} is not one of {', '.join(PROPAGATIONS)}")
    for key in ("maskedPaths", "readonlyPaths"):
        for p in _strings(linux, key, "linux."):
            _absolute(p, f"linux.{key} entry")
    spec = Spec(
        raw=raw, oci_version=version, root_path=root_path,
        root_readonly=_get(root, "readonly", bool, "root.", default=False),
        process=_parse_process(proc) if proc is not None else None,
        hostname=_get(raw, "hostname", str, ""), domainname=_get(raw, "domainname", str, ""),
        mounts=_parse_mounts(_get(raw, "mounts", list, "", default=[])),
        hooks=parse_hooks(_get(raw, "hooks", dict, "", default={})),
        annotations=annotations,
        namespaces=_parse_namespaces(_get(linux, "namespaces", list, "linux.", default=[])),
        devices=_parse_devices(_get(linux, "devices", list, "linux.", default=[])),
        masked_paths=_strings(linux, "maskedPaths", "linux."),
        readonly_paths=_strings(linux, "readonlyPaths", "linux."),
        rootfs_propagation=propagation,
        cgroups_path=_get(linux, "cgroupsPath", str, "linux."),
        seccomp=None,
    )
    spec.uid_mappings = _parse_id_mappings(linux, "uidMappings")
    spec.gid_mappings = _parse_id_mappings(linux, "gidMappings")
    user = spec.namespace("user")
    if (spec.uid_mappings or spec.gid_mappings) and (user is None or user.path):
        raise InvalidSpec("config.json: linux.uidMappings/gidMappings need a new user namespace "
                          "(linux.namespaces: {\"type\": \"user\"} without a path)")
    if user is not None and not user.path and not (spec.uid_mappings and spec.gid_mappings):
        raise InvalidSpec("config.json: a new user namespace needs linux.uidMappings and linux.gidMappings")
    spec.sysctl = _parse_sysctl(_get(linux, "sysctl", dict, "linux.", default={}), spec.namespaces)
    raw_seccomp = _get(linux, "seccomp", dict, "linux.")
    if raw_seccomp is not None:
        from runtime.linux import seccomp  # ctypes and libseccomp: only configs that have seccomp
        try:
            spec.seccomp = seccomp.parse(raw_seccomp)
        except seccomp.SeccompError as e:
            raise InvalidSpec(str(e)) from None
    spec.resources, spec.resource_notes = resources.parse(_get(linux, "resources", dict, "linux."),
                                                          "config.json: linux.resources")
    if (spec.masked_paths or spec.readonly_paths) and spec.namespace("mount") is None:
        # as runc: masking would mount over the caller's own /proc and /sys
        raise InvalidSpec("config.json: linux.maskedPaths/readonlyPaths need a mount namespace "
                          "(linux.namespaces: {\"type\": \"mount\"})")
    if (spec.hostname or spec.domainname) and spec.namespace("uts") is None:
        # as runc: a uts namespace joined by path is fine, the host's own is not
        raise InvalidSpec("config.json: hostname/domainname need a uts namespace (linux.namespaces: {\"type\": \"uts\"})")
    return spec


def load(bundle: str) -> Spec:
    """Read BUNDLE/config.json; every way that can fail becomes one InvalidSpec line."""
    bundle = os.path.abspath(bundle)
    if not os.path.isdir(bundle):
        raise InvalidSpec(f"bundle {bundle!r} does not exist or is not a directory")
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise InvalidSpec(f"{path}: no such file or directory (run 'hull-oci spec' in the bundle to make one)") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidSpec(f"{path}: not valid JSON: {e}") from None
    spec = parse(raw, bundle)
    if not os.path.isdir(spec.root_path):
        raise InvalidSpec(f"config.json: root.path {spec.root_path!r} does not exist or is not a directory")
    return spec
