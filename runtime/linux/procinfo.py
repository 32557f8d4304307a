"""Readers and parsers of what the kernel shows under /proc (pure where they can be: the unit tests
feed them samples). `hull explain` (runtime/engine/explain.py) builds its picture from them."""
import os

SIZE_CAP = 100_000       # files walked per layer before the size is marked approx


def read_text(path: str) -> str | None:
    """A file's text, or None if it (or its process) is gone or unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return None


def read_int(path: str) -> int | None:
    """A file holding one number; "max" and anything unparsable read as None."""
    text = read_text(path)
    try:
        return int(text.split()[0]) if text else None
    except (ValueError, IndexError):
        return None


def unescape(text: str) -> str:
    """mountinfo's octal escapes (\\040 space, \\011 tab, \\012 newline, \\134 backslash, \\054 comma)."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1:i + 4].isdigit() and len(text[i + 1:i + 4]) == 3:
            out.append(chr(int(text[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list:
    """/proc/PID/mountinfo (proc(5)) -> [{id, parent, dev, root, target, options, optional, fstype,
    source, super}], in the file's order (a later mount on the same target covers an earlier one)."""
    out = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
            out.append({"id": int(fields[0]), "parent": int(fields[1]), "dev": fields[2],
                        "root": unescape(fields[3]), "target": unescape(fields[4]), "options": fields[5],
                        "optional": fields[6:sep], "fstype": fields[sep + 1],
                        "source": unescape(fields[sep + 2]), "super": fields[sep + 3] if len(fields) > sep + 3 else ""})
        except (ValueError, IndexError):
            continue
    return out


def propagation(optional: list) -> str:
    """mountinfo's optional fields -> "private", or e.g. "shared:3", "master:7", "shared:3,master:7",
    "unbindable" (see mount_namespaces(7))."""
    kept = [f for f in optional if f.split(":")[0] in ("shared", "master", "propagate_from", "unbindable")]
    return ",".join(kept) or "private"


def parse_status(text: str) -> dict:
    """/proc/PID/status -> {key: value text}."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def cap_names(hex_mask: str) -> list:
    """A Cap* mask of /proc/PID/status -> capability names (numbers this table lacks as CAP_N)."""
    from runtime.linux.caps import NAMES
    mask = int(hex_mask or "0", 16)
    return [NAMES[i] if i < len(NAMES) else f"CAP_{i}" for i in range(mask.bit_length()) if mask >> i & 1]


def split_options(super_options: str) -> dict:
    """Mount options as mountinfo shows them ("a,b=c", a comma inside a value escaped as \\054)
    -> {a: None, b: c}; a key given more than once (lowerdir+=) maps to the list of its values."""
    out = {}
    for item in super_options.split(","):
        key, sep, value = item.partition("=")
        if key:
            out.setdefault(unescape(key), []).append(unescape(value) if sep else None)
    return {k: (v[0] if len(v) == 1 else v) for k, v in out.items()}


def split_lowerdir(value: str) -> list:
    """overlay's lowerdir (top first, ':' between layers, '\\:' inside a name, '::' before the
    data-only layers) -> [(path, data_only)], top first."""
    layers, cur, data_only, i = [], [], False, 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            cur.append(value[i + 1])
            i += 2
            continue
        if ch == ":":
            layers.append(("".join(cur), data_only))
            cur = []
            if value[i + 1:i + 2] == ":":
                data_only = True
                i += 1
        else:
            cur.append(ch)
        i += 1
    if cur:
        layers.append(("".join(cur), data_only))
    return [layer for layer in layers if layer[0]]


def overlay_layers(options: dict) -> dict:
    """overlay's mount options -> {"lower": [(path, data_only)] top first, "upper", "work"}. Both
    the legacy lowerdir=a:b and 6.7's repeated lowerdir+= / datadir+= are read."""
    lower = split_lowerdir(options["lowerdir"]) if isinstance(options.get("lowerdir"), str) else []
    for key, data_only in (("lowerdir+", False), ("datadir+", True)):
        values = options.get(key) or []
        lower += [(v, data_only) for v in ([values] if isinstance(values, str) else values) if v]
    return {"lower": lower, "upper": options.get("upperdir"), "work": options.get("workdir")}


def ns_inode(pid, kind: str) -> int | None:
    """The inode of /proc/PID/ns/KIND ("net:[4026531840]"), None if unreadable."""
    try:
        link = os.readlink(f"/proc/{pid}/ns/{kind}")
        return int(link[link.index("[") + 1:-1])
    except (OSError, ValueError):
        return None


def tree_size(path: str, cap: int = SIZE_CAP) -> dict:
    """{"size": bytes, "files": n, "approx": bool} of the files under path (lstat sizes, links not
    followed, other filesystems not entered); stops after cap entries and says approx."""
    total = count = 0
    try:
        dev = os.lstat(path).st_dev
    except OSError:
        return {"size": None, "files": 0, "approx": False}
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            count += 1
            if count > cap:
                return {"size": total, "files": count - 1, "approx": True}
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if e.is_dir(follow_symlinks=False):
                if st.st_dev == dev:
                    stack.append(e.path)
            else:
                total += st.st_size
    return {"size": total, "files": count, "approx": False}


def parse_cgroup(text: str) -> dict:
    """/proc/PID/cgroup -> {controller: path}; the v2 line ("0::/path") is under ""."""
    out = {}
    for line in text.splitlines():
        _, _, rest = line.partition(":")
        names, _, path = rest.partition(":")
        for name in names.split(",") if names else [""]:
            out[name] = path
    return out
