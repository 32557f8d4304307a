"""The state store: one directory per container under the root (default /run/hull).

    ROOT/ID/state.json   what `state` prints, plus the init's start time and the config's hooks
    ROOT/ID/exec.fifo    exists between create and start; the init blocks opening it

state.json also keeps the container's cgroup (version, path, what create made) and its current
resources, which `update` merges into.

There is no daemon, so every mutating verb takes a flock on ROOT/ID for its whole run; JSON is
written to a temp file, fsynced and renamed so a reader never sees half a file. The status is never
trusted from the file alone: it is derived from the init process (alive? same start time?) and
the fifo.

Every mutating step writes what it is about to make before making it, so a verb killed at any
instant leaves a record from which `delete --force` finds and removes all of it; the state
directory itself goes last.
"""
import fcntl
import os

from runtime import fastjson as json  # json without its imports (see fastjson)
from runtime import OCI_VERSION
from runtime.clock import now_rfc3339  # noqa: F401 - hull-oci's modules take it from here
from runtime.errors import Conflict, InvalidArgument, NotFound
from runtime.files import flock_held, write_atomic  # noqa: F401 - likewise
from runtime.container import valid_id
from runtime.linux import proc

DEFAULT_ROOT = "/run/hull"
INIT_NAME = "hull:init"  # the init's process name until it execs the container's program

def validate_id(cid: str) -> str:
    if not valid_id(cid):
        raise InvalidArgument(f"invalid container ID {cid!r}: use letters, digits and _ + - . only")
    return cid


class Container:
    """One container's directory, its lock and its recorded state."""

    def __init__(self, root: str, cid: str):
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.state_file = os.path.join(self.dir, "state.json")
        self.fifo = os.path.join(self.dir, "exec.fifo")
        self.record: dict = {}
        self._lock_fd = None

    # -- locking --------------------------------------------------------------------------------
    def lock(self) -> None:
        """Exclusive flock on the container directory, held until unlock() or process exit."""
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- the record -----------------------------------------------------------------------------
    def load(self) -> "Container":
        try:
            with open(self.state_file) as f:
                self.record = json.load(f)
        except FileNotFoundError:
            # the directory exists but create has not written state yet (or died before it did)
            self.record = {"id": self.id, "pid": 0, "status": "creating", "annotations": {}}
        return self

    def save(self) -> None:
        write_atomic(self.state_file, json.dumps(self.record))

    @property
    def pid(self) -> int:
        return self.record.get("pid", 0)

    def status(self) -> str:
        """creating | created | running | paused | stopped, from the processes, not the file."""
        rec = self.record
        if rec.get("status") == "creating":
            # create holds the directory's lock until it returns: a free lock means it died
            return "creating" if self._creator_alive() else "stopped"
        if not proc.is_alive(self.pid, rec.get("init_start")):
            return "stopped"
        # the fifo is unlinked by start once the init is released; a start killed in between
        # leaves it behind, but the init has exec'd and its name is no longer INIT_NAME
        if os.path.exists(self.fifo) and proc.name(self.pid) == INIT_NAME:
            return "created"
        cgroup = self.cgroup()
        if cgroup is not None and cgroup.frozen():
            return "paused"
        return "running"

    def _creator_alive(self) -> bool:
        if self._lock_fd is not None:
            return False  # we hold the lock ourselves, so no create is running
        return flock_held(self.dir)

    def cgroup(self):
        """The container's cgroup Manager, or None (a container created before it had one)."""
        rec = self.record.get("cgroup")
        if not rec:
            return None
        from runtime import cgroups
        return cgroups.load(rec)

    def oom_killed(self) -> bool:
        """Did the kernel OOM-kill a process in the container's cgroup? (Known until delete.)"""
        cgroup = self.cgroup()
        return cgroup is not None and cgroup.exists() and cgroup.oom_kills() > 0

    def oci_state(self, status: str | None = None) -> dict:
        """The state as the OCI runtime spec (and runc) print it; hooks pass the status they report."""
        status = status or self.status()
        rec = self.record
        return {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": self.pid if status != "stopped" else 0,
            "status": status,
            "bundle": rec.get("bundle", ""),
            "rootfs": rec.get("rootfs", ""),
            "created": rec.get("created", ""),
            "owner": rec.get("owner", ""),
            "annotations": rec.get("annotations") or {},
        }

    def open_init(self) -> int | None:
        """A pidfd for the init if it is still our process (start time checked), else None."""
        return proc.open_pidfd(self.pid, self.record.get("init_start")) if self.pid else None

    def destroy(self) -> None:
        """Remove the directory; it holds only flat files (state.json, exec.fifo, temp files)."""
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


class Store:
    def __init__(self, root: str = DEFAULT_ROOT):
        self.root = os.path.abspath(root)

    def new(self, cid: str) -> Container:
        """Claim ID: mkdir is atomic, so two concurrent creates cannot both win."""
        validate_id(cid)
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        c = Container(self.root, cid)
        try:
            os.mkdir(c.dir, 0o711)
        except FileExistsError:
            raise Conflict(f"container with id {cid!r} already exists") from None
        c.lock()
        return c

    def get(self, cid: str, lock: bool = False) -> Container:
        validate_id(cid)
        c = Container(self.root, cid)
        if not os.path.isdir(c.dir):
            raise NotFound(f"container {cid!r} does not exist")
        if lock:
            c.lock()
            if not os.path.isdir(c.dir):  # deleted while we waited for the lock
                c.unlock()
                raise NotFound(f"container {cid!r} does not exist")
        return c.load()

    def list(self) -> list:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if valid_id(name) and os.path.isdir(os.path.join(self.root, name)):
                out.append(Container(self.root, name).load())
        return out
