"""Containers as records on disk; nothing here runs a process (runner.py does).

    ROOT/containers/ID/config.json  what the container is: image, Config, HostConfig, name (fixed
                                    after create, but for rename)
    ROOT/containers/ID/state.json   what happened: Running, Pid (+ start time), ExitCode, OOMKilled,
                                    StartedAt/FinishedAt, RestartCount, who watches it (Monitor)
    ROOT/containers/ID/lock         flock'ed by every command that changes the container
    ROOT/names/NAME -> ID           the name index: a symlink, so two `--name x` can never both win

There is no daemon, so no process's memory is the truth: every command re-reads the files, and the
status a user sees is derived (moby's way) from a few stored facts and from whether the init
process still is the one that was started (its start time, against PID reuse).
"""
import fcntl
import os
import shutil
import time

from runtime import fastjson as json
from runtime.clock import now_rfc3339
from runtime.files import flock_held, write_atomic, write_record
from runtime.engine import names
from runtime.errors import Conflict, InvalidArgument, NotFound
from runtime.linux import proc

_CLAIMS = []  # the claim fds this process holds (Container.claim): released when it exits

ZERO_TIME = "0001-01-01T00:00:00Z"


def fresh_state() -> dict:
    return {"Running": False, "Paused": False, "Restarting": False, "OOMKilled": False, "Dead": False,
            "Pid": 0, "PidStart": None, "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME,
            "FinishedAt": ZERO_TIME, "RestartCount": 0, "Monitor": None, "StoppedByUser": False}


class Container:
    """One container's directory: its config, its state, its lock."""

    def __init__(self, root: str, cid: str):
        self.id, self.root = cid, root
        self.dir = os.path.join(root, "containers", cid)
        self.config: dict = {}
        self.state: dict = {}
        self._lock = None

    def path(self, *parts) -> str:
        return os.path.join(self.dir, *parts)

    @property
    def name(self) -> str:
        return self.config.get("Name", "")

    # -- files ----------------------------------------------------------------------------------------
    def load(self) -> "Container":
        try:
            with open(self.path("config.json"), "rb") as f:
                self.config = json.load(f)
            with open(self.path("state.json"), "rb") as f:
                self.state = json.load(f)
        except FileNotFoundError:
            raise NotFound(f"No such container: {self.id[:12]}") from None
        except ValueError as e:
            raise Conflict(f"container {self.id[:12]}: damaged record ({e}); remove it with hull rm -f") from None
        return self

    def save_state(self) -> None:
        write_record(self.path("state.json"), json.dumps(self.state))

    def save_config(self) -> None:
        write_atomic(self.path("config.json"), json.dumps(self.config))

    def lock(self) -> "Container":
        """Hold the container's lock (released by unlock or exit); reloads what it protects."""
        self.hold()
        if not self.complete():  # removed while we waited
            self.unlock()
            raise NotFound(f"No such container: {self.id[:12]}")
        return self.load()

    def hold(self, wait: bool = True) -> bool:
        """The lock alone, whatever the record holds; False if wait is off and someone has it."""
        try:
            fd = os.open(self.path("lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise NotFound(f"No such container: {self.id[:12]}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock = fd
        return True

    def complete(self) -> bool:
        """Both files written? (create writes them while it holds the lock: a record without them
        and without a lock holder is what a killed create left)"""
        return os.path.exists(self.path("config.json")) and os.path.exists(self.path("state.json"))

    def claim(self) -> None:
        """This process is making the container (hull run, from its create to its start): prune
        leaves it. The claim ends with the process, however it ends."""
        fd = os.open(self.path("claim"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        _CLAIMS.append(fd)

    def claimed(self) -> bool:
        return flock_held(self.path("claim"), shared_too=True)

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self):
        return self.lock()

    def __exit__(self, *exc):
        self.unlock()

    # -- status ----------------------------------------------------------------------------------------
    def init_alive(self) -> bool:
        s = self.state
        return bool(s.get("Running")) and proc.is_alive(s.get("Pid", 0), s.get("PidStart"))

    def owner_alive(self) -> bool:
        """Is the process that waits for the init (the monitor, or a foreground `hull run`) alive?"""
        m = self.state.get("Monitor") or {}
        return bool(m) and proc.is_alive(m.get("pid", 0), m.get("start"))

    def lost(self) -> bool:
        """Recorded as running, but its init is gone and so is what was to record its exit."""
        return bool(self.state.get("Running")) and not self.init_alive() and not self.owner_alive()

    def status(self) -> str:
        """created | running | paused | restarting | removing | exited | dead (docker's words)."""
        return self._status(self.state.get("Running") and self.init_alive())

    def _status(self, alive: bool) -> str:
        s = self.state
        if s.get("Removing"):
            return "removing"
        if s.get("Dead"):
            return "dead"
        if s.get("Running"):
            if alive or self.owner_alive():  # the owner records an exit it has seen
                return "paused" if s.get("Paused") else "running"
            return "exited"
        if s.get("Restarting"):
            return "restarting"
        if s.get("StartedAt", ZERO_TIME) == ZERO_TIME:
            return "created"
        return "exited"

    def public_state(self) -> dict:
        """docker's State object."""
        s = self.state
        alive = bool(s.get("Running")) and self.init_alive()  # (/proc read once: ps lists many)
        status = self._status(alive)
        lost = bool(s.get("Running")) and not alive and status == "exited"
        return {"Status": status, "Running": status in ("running", "paused"), "Paused": status == "paused",
                "Restarting": status == "restarting", "OOMKilled": bool(s.get("OOMKilled")),
                "Dead": status == "dead", "Pid": s.get("Pid", 0) if status in ("running", "paused") else 0,
                "ExitCode": -1 if lost else s.get("ExitCode", 0),
                "Error": LOST if lost else s.get("Error", ""),
                "StartedAt": s.get("StartedAt", ZERO_TIME), "FinishedAt": s.get("FinishedAt", ZERO_TIME)}


LOST = "hull lost this container's exit status: the process watching it ended first (its code is unknown)"


class Containers:
    """The containers of one hull root."""

    def __init__(self, root: str):
        self.root = root
        self.dir = os.path.join(root, "containers")
        self.names = os.path.join(root, "names")

    def create(self, config: dict, name: str | None, claim: bool = False) -> Container:
        """A new container record (status created), its name reserved atomically; claim: see
        Container.claim, taken before the record is complete, so no prune sees it unclaimed."""
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        os.makedirs(self.names, mode=0o700, exist_ok=True)
        cid = os.urandom(32).hex()  # (the secrets module costs ~5 ms to import for the same)
        while cid[:12].isdigit():  # docker's rule: a short ID is never all digits (it would read as a number)
            cid = os.urandom(32).hex()
        c = Container(self.root, cid)
        os.mkdir(c.dir, 0o700)
        c.hold()  # held until both files are there: see complete() and half_made()
        try:
            c.config = {**config, "Id": cid, "Created": now_rfc3339(),
                        "Name": self._reserve(name, cid)}
            c.state = fresh_state()
            if claim:
                c.claim()
            c.save_config()
            c.save_state()
        except BaseException:
            self._release(c.config.get("Name", ""), cid)
            shutil.rmtree(c.dir, ignore_errors=True)
            raise
        finally:
            c.unlock()
        return c

    def _reserve(self, name: str | None, cid: str) -> str:
        if name is not None:
            name = names.validate(name)
            try:
                os.symlink(cid, os.path.join(self.names, name))
            except FileExistsError:
                if self._reclaim(name, cid):
                    return name
                owner = os.readlink(os.path.join(self.names, name))
                raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                               f'"{owner}". You have to remove (or rename) that container to be able to reuse '
                               "that name.") from None
            return name
        for attempt in range(20):
            candidate = names.generate(attempt)
            try:
                os.symlink(cid, os.path.join(self.names, candidate))
                return candidate
            except FileExistsError:
                continue
        raise Conflict("could not find a free container name")

    def _reclaim(self, name: str, cid: str) -> bool:
        """Take over a name whose container a killed create left half-made (or that is gone), under
        the names lock, so of two takers one wins; a plain symlink() may still win meanwhile."""
        link = os.path.join(self.names, name)
        fd = os.open(self.names, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                owner = os.readlink(link)
            except FileNotFoundError:
                owner = None
            if owner is not None:
                if not (self.discard_half_made(owner) or not os.path.isdir(os.path.join(self.dir, owner))):
                    return False
                self._release(name, owner)
            try:
                os.symlink(cid, link)
                return True
            except FileExistsError:
                return False
        finally:
            os.close(fd)

    def discard_half_made(self, cid: str) -> bool:
        """Remove the record if a killed create left it half-made (no create holds its lock and a
        file is missing), with the names pointing to it; True if it did."""
        c = Container(self.root, cid)
        try:
            if not os.path.isdir(c.dir) or c.complete() or not c.hold(wait=False):
                return False
        except NotFound:
            return False
        try:
            if c.complete():
                return False
            for name in self._names_of(cid):
                self._release(name, cid)
            self._drop(cid)
            return True
        finally:
            c.unlock()

    def _names_of(self, cid: str) -> list:
        out = []
        for name in os.listdir(self.names) if os.path.isdir(self.names) else []:
            try:
                if os.readlink(os.path.join(self.names, name)) == cid:
                    out.append(name)
            except OSError:
                pass
        return out

    def rename(self, c: Container, new: str) -> None:
        new = names.validate(new)
        try:
            os.symlink(c.id, os.path.join(self.names, new))
        except FileExistsError:
            raise Conflict(f'Error when allocating new name: Conflict. The container name "/{new}" is already in '
                           "use") from None
        old = c.name
        c.config["Name"] = new
        c.save_config()
        self._release(old, c.id)

    def _release(self, name: str, cid: str) -> None:
        link = os.path.join(self.names, name)
        try:
            if os.readlink(link) == cid:
                os.unlink(link)
        except OSError:
            pass

    def ids(self) -> list:
        try:
            return [d for d in os.listdir(self.dir) if len(d) == 64]
        except FileNotFoundError:
            return []

    def resolve(self, ref: str) -> str:
        """A full ID, a name, or an unambiguous ID prefix -> the ID (docker's lookup order)."""
        if not ref:
            raise InvalidArgument("a container name or ID is required")
        if len(ref) == 64 and os.path.isdir(os.path.join(self.dir, ref)):
            return ref
        try:
            target = os.readlink(os.path.join(self.names, ref.lstrip("/")))
            if os.path.isdir(os.path.join(self.dir, target)):
                return target
        except OSError:
            pass
        if all(c in "0123456789abcdef" for c in ref):
            matches = [i for i in self.ids() if i.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise Conflict(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def get(self, ref: str) -> Container:
        return Container(self.root, self.resolve(ref)).load()

    def all(self) -> list:
        """Every container, newest first; records removed meanwhile are skipped."""
        out = []
        for cid in self.ids():
            try:
                out.append(Container(self.root, cid).load())
            except (NotFound, Conflict):
                continue
        out.sort(key=lambda c: c.config.get("Created", ""), reverse=True)
        return out

    def remove(self, c: Container) -> None:
        """Drop the record (the caller holds its lock and has released what it used)."""
        self._release(c.name, c.id)
        self._drop(c.id)

    def _drop(self, cid: str) -> None:
        """Rename the directory away, then delete it: nobody ever sees a record half removed (it
        would look like one a killed create left). A killed rmtree leaves .gone-ID for prune."""
        gone = os.path.join(self.dir, f".gone-{cid}")
        os.rename(os.path.join(self.dir, cid), gone)
        shutil.rmtree(gone, ignore_errors=True)

    def sweep_removed(self) -> list:
        """Finish removals that were killed half way."""
        try:
            left = [n for n in os.listdir(self.dir) if n.startswith(".gone-")]
        except FileNotFoundError:
            return []
        for name in left:
            shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)
        return [n[len(".gone-"):] for n in left]


def image_users(root: str) -> dict:
    """{image ID: [container IDs]}: what `rmi` and `image prune` must not take away."""
    users = {}
    for c in Containers(root).all():
        users.setdefault(c.config.get("ImageID", ""), []).append(c.id)
    return users


def du(path: str) -> int:
    """Bytes of the files under path (lstat sizes; what docker's size columns add up)."""
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
            except OSError:
                pass
    return total


def wait_until(check, timeout: float | None, interval: float = 0.02) -> bool:
    """Poll check() until true or timeout (None: forever); True if it became true."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not check():
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
