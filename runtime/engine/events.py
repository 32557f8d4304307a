"""Events: what happened to containers, images, volumes and networks, in the Docker API's shape.

dockerd keeps its last 256 events in memory and streams them to `docker events`. hull has no daemon:
whichever process makes a change (the CLI, the monitor) appends one JSON line to the root's journal,
ROOT/events.log, and `hull events` reads and follows that file. One write(2) with O_APPEND per
event, so lines of concurrent writers never interleave. The journal is bounded: past MAX_BYTES it
becomes events.log.1, replacing the one before (a reader that follows notices the new file).
"""
import os
import time

from runtime import fastjson as json

MAX_BYTES = 1 << 20


def journal(root: str) -> str:
    return os.path.join(root, "events.log")


def emit(root: str, type_: str, action: str, actor: str, attributes: dict | None = None) -> None:
    """Record one event. Never fails the operation it describes: an event that cannot be written
    is lost, as dockerd's are when nobody listens."""
    now = time.time_ns()
    attrs = {k: str(v) for k, v in (attributes or {}).items()}
    actor = str(actor)  # a Reference, an ID
    event = {"Type": type_, "Action": action, "Actor": {"ID": actor, "Attributes": attrs}, "scope": "local",
             "time": now // 10 ** 9, "timeNano": now}
    if type_ == "container":  # the fields of API < 1.22, which docker still sends
        event.update(status=action, id=actor, **({"from": attrs["image"]} if "image" in attrs else {}))
    path = journal(root)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, (json.dumps(event) + "\n").encode())
        if os.fstat(fd).st_size > MAX_BYTES:
            os.rename(path, path + ".1")
    except OSError:
        pass
    finally:
        os.close(fd)


def container(c, action: str, **extra) -> None:
    """A container's event: its labels, image and name as attributes (docker's), and extra."""
    cfg = c.config.get("Config") or {}
    attrs = {**(cfg.get("Labels") or {}), "image": cfg.get("Image", ""), "name": c.name.lstrip("/"), **extra}
    emit(c.root, "container", action, c.id, attrs)


def read(root: str, since: int | None = None, until: int | None = None, follow: bool = False,
         poll: float = 0.1, give_up=None):
    """Events in order (nanosecond times). With since or until, those already in the journal in
    that window first (docker's replay); without, only new ones. With follow, new ones as they are
    written, until the time until has passed."""
    path = journal(root)
    replay = since is not None or until is not None
    lo = since or 0
    if replay:
        for event in _lines(path + ".1"):
            if lo <= event["timeNano"] and (until is None or event["timeNano"] <= until):
                yield event
    f, ino = _open(path)
    if f is not None and not replay:
        f.seek(0, os.SEEK_END)
    if f is None:
        f, ino = _wait_for(path, until, follow, poll)
    buf = b""
    try:
        while f is not None:
            chunk = f.read(65536)
            if chunk:
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    event = _parse(line)
                    if event is None or event["timeNano"] < lo:
                        continue
                    if until is not None and event["timeNano"] > until:
                        return
                    yield event
                continue
            if not follow or (until is not None and time.time_ns() > until) or (give_up and give_up()):
                return  # (give_up: the reader left; a follow would otherwise wait for the next event)
            if _rotated(path, ino):  # the rest of the old file was read: go on in the new one
                f.close()
                f, ino = _wait_for(path, until, follow, poll)
                continue
            time.sleep(poll)
    finally:
        if f is not None:
            f.close()


def _open(path: str):
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None, None
    return f, os.fstat(f.fileno()).st_ino


def _wait_for(path: str, until, follow: bool, poll: float):
    while follow and (until is None or time.time_ns() <= until):
        f, ino = _open(path)
        if f is not None:
            return f, ino
        time.sleep(poll)
    return None, None


def _rotated(path: str, ino) -> bool:
    try:
        return os.stat(path).st_ino != ino
    except FileNotFoundError:
        return True


def _lines(path: str):
    try:
        with open(path, "rb") as f:
            for line in f:
                event = _parse(line)
                if event is not None:
                    yield event
    except FileNotFoundError:
        return


def _parse(line: bytes):
    try:
        return json.loads(line)
    except ValueError:
        return None  # a line cut by a full disk: skip it


# -- filters (docker's: the same key ORs its values, different keys AND) --------------------------------

def matcher(filters: dict):
    """A predicate for GET /events' filters: type, event, container, image, volume, network, label."""
    def by(key, test):
        values = filters.get(key) or []
        return lambda e: not values or any(test(e, v) for v in values)
    tests = [
        by("type", lambda e, v: e["Type"] == v),
        by("event", lambda e, v: e["Action"] == v or (v.startswith(("exec_", "health_status"))
                                                      and e["Action"].startswith(v))),
        by("container", lambda e, v: e["Type"] == "container" and _names(e, v)),
        by("network", lambda e, v: e["Type"] == "network" and _names(e, v)),
        by("volume", lambda e, v: e["Type"] == "volume" and _names(e, v)),
        by("image", _image),
        lambda e: all(_label(e["Actor"]["Attributes"], v) for v in filters.get("label") or []),  # labels: all
    ]
    unknown = set(filters) - {"type", "event", "container", "network", "volume", "image", "label"}
    if unknown:
        from runtime.errors import InvalidArgument
        raise InvalidArgument(f"invalid filter '{sorted(unknown)[0]}'")
    return lambda e: all(t(e) for t in tests)


def _names(e: dict, v: str) -> bool:
    return e["Actor"]["ID"].startswith(v) or e["Actor"]["Attributes"].get("name") == v


def _image(e: dict, v: str) -> bool:
    """By ID, or by the image a container event names (an image event's name), with or without its tag."""
    attrs = e["Actor"]["Attributes"]
    if e["Type"] == "image" and e["Actor"]["ID"].removeprefix("sha256:").startswith(v.removeprefix("sha256:")):
        return True
    named = attrs.get("image") if e["Type"] == "container" else attrs.get("name") if e["Type"] == "image" else None
    return bool(named) and v in (named, _untagged(named))


def _untagged(ref: str) -> str:
    name, sep, tag = ref.rpartition(":")
    return name if sep and "/" not in tag else ref


def _label(attrs: dict, v: str) -> bool:
    key, eq, value = v.partition("=")
    return key in attrs and (not eq or attrs[key] == value)
