"""Volumes: directories that outlive containers, and the mounts a container asks for.

    ROOT/volumes/NAME/_data       what the container sees (docker's layout)
    ROOT/volumes/NAME/meta.json   CreatedAt, Labels, Anonymous

A container's mounts come from -v, --mount, --tmpfs, --volumes-from and the image's VOLUME entries
(anonymous volumes), all resolved at create into docker's MountPoint records (config "Mounts"),
which bundle.py turns into OCI mounts at every start. A new volume mounted where the image has
content is filled with it first (docker's copy-up).
"""
import os
import shutil

from runtime import fastjson as json
from runtime.clock import now_rfc3339
from runtime.files import write_atomic
from runtime.errors import Conflict, InvalidArgument, NotFound


def validate_name(name: str) -> str:
    ok = len(name) >= 2 and name[0].isascii() and name[0].isalnum() and all(
        c.isascii() and (c.isalnum() or c in "_.-") for c in name)
    if not ok:
        raise InvalidArgument(f'"{name}" includes invalid characters for a local volume name, only '
                              '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
                              "use absolute path")
    return name


class Volumes:
    def __init__(self, root: str):
        self.root = root
        self.dir = os.path.join(root, "volumes")

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name, "_data")

    def create(self, name: str | None = None, labels: dict | None = None) -> str:
        """Create a volume (an existing name is fine, as docker); an anonymous one without a name."""
        anonymous = name is None
        name = os.urandom(32).hex() if anonymous else validate_name(name)
        home = os.path.join(self.dir, name)
        os.makedirs(self.dir, mode=0o701, exist_ok=True)
        try:
            os.mkdir(home, 0o701)
        except FileExistsError:
            return name
        os.mkdir(os.path.join(home, "_data"), 0o755)
        write_atomic(os.path.join(home, "meta.json"), json.dumps(
            {"CreatedAt": now_rfc3339(), "Labels": labels or {}, "Anonymous": anonymous}))
        from runtime.engine import events
        events.emit(self.root, "volume", "create", name, {"driver": "local"})
        return name

    def names(self) -> list:
        try:
            return sorted(n for n in os.listdir(self.dir) if os.path.isdir(os.path.join(self.dir, n, "_data")))
        except FileNotFoundError:
            return []

    def exists(self, name: str) -> bool:
        return os.path.isdir(self.path(name))

    def inspect(self, name: str) -> dict:
        """docker's volume inspect object."""
        if not self.exists(name):
            raise NotFound(f"no such volume: {name}")
        try:
            with open(os.path.join(self.dir, name, "meta.json"), "rb") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            meta = {}
        return {"CreatedAt": meta.get("CreatedAt", ""), "Driver": "local", "Labels": meta.get("Labels") or {},
                "Mountpoint": self.path(name), "Name": name, "Options": {}, "Scope": "local"}

    def anonymous(self, name: str) -> bool:
        try:
            with open(os.path.join(self.dir, name, "meta.json"), "rb") as f:
                return bool(json.load(f).get("Anonymous"))
        except (OSError, ValueError):
            return False

    def remove(self, name: str, users: dict, force: bool = False) -> None:
        if not self.exists(name):
            if force:
                return
            raise NotFound(f"get {name}: no such volume")
        if users.get(name):
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users[name])}]")
        shutil.rmtree(os.path.join(self.dir, name))
        from runtime.engine import events
        events.emit(self.root, "volume", "destroy", name, {"driver": "local"})

    def size(self, name: str) -> int:
        from runtime.engine.containers import du
        return du(self.path(name))


def users(root: str) -> dict:
    """{volume name: [container IDs]} of every container's volume mounts."""
    from runtime.engine.containers import Containers
    out = {}
    for c in Containers(root).all():
        for m in c.config.get("Mounts") or []:
            if m.get("Type") == "volume":
                out.setdefault(m["Name"], []).append(c.id)
    return out


# -- a container's mounts from its flags ----------------------------------------------------------------

def _point(kind: str, dest: str, source: str = "", name: str = "", rw: bool = True, mode: str = "",
           propagation: str = "rprivate", **extra) -> dict:
    """docker's MountPoint as inspect shows it."""
    point = {"Type": kind, "Source": source, "Destination": dest, "Mode": mode, "RW": rw,
             "Propagation": propagation if kind == "bind" else ""}
    if kind == "volume":
        point.update(Name=name, Driver="local")
    point.update(extra)
    return point


def _absolute(dest: str, spec: str) -> str:
    if not dest.startswith("/"):
        raise InvalidArgument(f"invalid mount config: the mount destination {dest!r} of {spec!r} must be an "
                              "absolute path")
    if os.path.normpath(dest) == "/":
        raise InvalidArgument(f"invalid mount config for {spec!r}: the destination cannot be /")
    return os.path.normpath(dest)


def parse_volume_flag(spec: str) -> dict:
    """-v HOST:CTR[:OPTS] (a bind), NAME:CTR[:OPTS] (a named volume), CTR (an anonymous volume)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return {"kind": "volume", "name": None, "dest": _absolute(parts[0], spec), "rw": True, "mode": ""}
    if len(parts) > 3:
        raise InvalidArgument(f"invalid volume specification: {spec!r}")
    source, dest = parts[0], _absolute(parts[1], spec)
    opts = parts[2].split(",") if len(parts) == 3 else []
    for o in opts:
        if o not in ("ro", "rw", "z", "Z", "private", "rprivate", "shared", "rshared", "slave", "rslave",
                     "nocopy"):
            raise InvalidArgument(f"invalid mode: {o} (in {spec!r})")
    rw = "ro" not in opts
    propagation = next((o for o in opts if o.endswith(("private", "shared", "slave"))), "rprivate")
    mode = parts[2] if len(parts) == 3 else ""
    if source.startswith("/"):
        return {"kind": "bind", "source": os.path.normpath(source), "dest": dest, "rw": rw, "mode": mode,
                "propagation": propagation}
    if source.startswith("."):
        raise InvalidArgument(f"invalid volume specification {spec!r}: a host path must be absolute")
    return {"kind": "volume", "name": validate_name(source), "dest": dest, "rw": rw, "mode": mode,
            "nocopy": "nocopy" in opts}


def parse_api_mount(m: dict) -> dict:
    """HostConfig.Mounts' entry (docker's API: {Type, Source, Target, ReadOnly, BindOptions,
    VolumeOptions, TmpfsOptions}; what --mount becomes)."""
    kind, target = m.get("Type") or "volume", m.get("Target") or ""
    where = f"{kind} mount to {target!r}" if target else f"{kind} mount"
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(f"invalid mount type {kind!r} (bind, volume, tmpfs)")
    if not target:
        raise InvalidArgument(f"invalid mount config: target is required ({where})")
    dest, rw = _absolute(target, where), not m.get("ReadOnly")
    if kind == "tmpfs":
        t = m.get("TmpfsOptions") or {}
        opts = ([f"size={t['SizeBytes']}"] if t.get("SizeBytes") else []) + \
               ([f"mode={t['Mode']:o}"] if t.get("Mode") else [])
        return {"kind": "tmpfs", "dest": dest, "rw": rw, "options": opts}
    source = m.get("Source") or ""
    if kind == "bind":
        if not source.startswith("/"):
            raise InvalidArgument(f"invalid mount config for type \"bind\": the source {source!r} must be absolute")
        if not os.path.exists(source):  # --mount, unlike -v, does not create it (docker's rule)
            raise InvalidArgument(f"invalid mount config for type \"bind\": bind source path does not exist: {source}")
        return {"kind": "bind", "source": os.path.normpath(source), "dest": dest, "rw": rw, "mode": "",
                "propagation": (m.get("BindOptions") or {}).get("Propagation") or "rprivate"}
    return {"kind": "volume", "name": validate_name(source) if source else None, "dest": dest, "rw": rw, "mode": "",
            "nocopy": bool((m.get("VolumeOptions") or {}).get("NoCopy"))}


def parse_tmpfs_flag(spec: str) -> dict:
    """--tmpfs /run[:size=64m,mode=1777]"""
    dest, _, opts = spec.partition(":")
    return {"kind": "tmpfs", "dest": _absolute(dest, spec), "rw": True, "options": [o for o in opts.split(",") if o]}


def resolve(root: str, specs: list, image_volumes: dict | None, volumes_from: list) -> list:
    """The container's MountPoints, creating what they need: named volumes that do not exist yet,
    anonymous ones, host directories of -v binds (docker creates them). Later entries win for the
    same destination, the image's VOLUMEs come last and only where nothing else mounts."""
    from runtime.engine.containers import Containers
    vols = Volumes(root)
    points = {}
    for ref in volumes_from or []:
        name, _, mode = ref.partition(":")
        if mode not in ("", "ro", "rw"):
            raise InvalidArgument(f"invalid mode for volumes-from: {mode}")
        source = Containers(root).get(name)
        for m in source.config.get("Mounts") or []:
            if m["Type"] == "tmpfs":
                continue
            points[m["Destination"]] = {**m, "RW": m["RW"] if not mode else mode == "rw",
                                        "Mode": mode or m.get("Mode", "")}
    for s in specs:
        if s["kind"] == "bind":
            if not os.path.exists(s["source"]):
                os.makedirs(s["source"], exist_ok=True)  # -v creates a missing host directory
            points[s["dest"]] = _point("bind", s["dest"], s["source"], rw=s["rw"], mode=s["mode"],
                                       propagation=s["propagation"])
        elif s["kind"] == "volume":
            name = vols.create(s["name"])
            points[s["dest"]] = _point("volume", s["dest"], vols.path(name), name, s["rw"], s["mode"],
                                       **({"NoCopy": True} if s.get("nocopy") else {}))
        else:
            points[s["dest"]] = _point("tmpfs", s["dest"], rw=s["rw"], Options=s["options"])
    for dest in image_volumes or {}:
        dest = os.path.normpath(dest)
        if dest not in points:
            name = vols.create()
            points[dest] = _point("volume", dest, vols.path(name), name)
    return sorted(points.values(), key=lambda m: m["Destination"].count("/"))


def oci_mounts(points: list) -> list:
    """The MountPoints as OCI mounts (binds rprivate unless asked otherwise; tmpfs as docker mounts it)."""
    out = []
    for m in points:
        if m["Type"] == "tmpfs":
            opts = ["nosuid", "nodev", "noexec"] + list(m.get("Options") or []) + (["ro"] if not m["RW"] else [])
            out.append({"destination": m["Destination"], "type": "tmpfs", "source": "tmpfs", "options": opts})
        else:
            out.append({"destination": m["Destination"], "type": "bind", "source": m["Source"],
                        "options": ["rbind", "rw" if m["RW"] else "ro", m.get("Propagation") or "rprivate"]})
    return out


def copy_up(points: list, rootfs: str) -> None:
    """Fill each new (empty) volume with what the image has at its destination, owners and modes
    kept (docker's copy-up). Both sides are walked by fds: a link in the image never leads out of
    the rootfs, and one that another container using the volume plants meanwhile is replaced,
    never written through (runtime/linux/beneath.py)."""
    from runtime.linux import beneath
    root = None
    try:
        for m in points:
            if m["Type"] != "volume" or m.get("NoCopy"):
                continue
            dst = os.open(m["Source"], beneath.DIR)
            try:
                if os.listdir(dst):
                    continue
                root = root if root is not None else os.open(rootfs, beneath.DIR)
                try:
                    src = beneath.open_dir(root, m["Destination"], in_root=True)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                try:
                    st = os.fstat(src)
                    beneath.copy_tree(src, dst)
                    beneath.set_attrs(dst, st.st_uid, st.st_gid, st.st_mode)
                finally:
                    os.close(src)
            finally:
                os.close(dst)
    finally:
        if root is not None:
            os.close(root)
