"""Container logs in docker's json-file format: one JSON object a line,

    {"log":"hello\\n","stream":"stdout","time":"2026-12-01T08:40:29.123456789Z"}

stdout and stderr kept apart; a chunk without a newline (a prompt, or 16 KiB of one long line) is
written as it came, as docker does. Rotation as --log-opt max-size=10m,max-file=3 asks: ID-json.log
is renamed .1 (.1 to .2 ...) when it would pass max-size, and the oldest beyond max-file goes.
--log-opt labels=a,b / env=X,Y / env-regex=^X add the container's values as "attrs" to each record,
which `logs --details` prints before each line.
"""
import os
import time

from runtime import fastjson as json
from runtime.clock import now_rfc3339
from runtime.errors import InvalidArgument

PARTIAL = 16 * 1024  # docker's json-file splits longer lines


OPTIONS = {"max-size", "max-file", "labels", "labels-regex", "env", "env-regex"}


def parse_options(opts: dict) -> tuple:
    """(max bytes or None, max files) from --log-opt max-size=10m,max-file=3."""
    import re
    from runtime.units import parse_bytes
    for key in ("labels-regex", "env-regex"):
        try:
            re.compile(opts.get(key) or "")
        except re.error as e:
            raise InvalidArgument(f"invalid log opt {key}={opts[key]!r}: {e}") from None
    unknown = set(opts) - OPTIONS
    if unknown:
        raise InvalidArgument(f"unknown log opt '{sorted(unknown)[0]}' for json-file log driver")
    size = parse_bytes(opts["max-size"], "log-opt max-size") if opts.get("max-size") else None
    try:
        files = int(opts.get("max-file", "1"))
    except ValueError:
        raise InvalidArgument(f"invalid value for max-file: {opts['max-file']!r}") from None
    if files < 1:
        raise InvalidArgument("max-file cannot be less than 1")
    return size, files


def attrs(opts: dict, labels: dict, env: list) -> dict:
    """The extra attributes json-file gives each record: the labels and environment variables the
    log options name (docker's logger.Info.ExtraAttributes)."""
    import re
    out = {}
    named = set(filter(None, (opts.get("labels") or "").split(",")))
    pattern = opts.get("labels-regex")
    out.update({k: v for k, v in labels.items() if k in named or (pattern and re.search(pattern, k))})
    variables = dict(e.partition("=")[::2] for e in env)
    named = set(filter(None, (opts.get("env") or "").split(",")))
    pattern = opts.get("env-regex")
    out.update({k: v for k, v in variables.items() if k in named or (pattern and re.search(pattern, k))})
    return out


def writer_for(c) -> "Writer":
    """The log writer of a container, as its create options ask."""
    opts = c.config["HostConfig"].get("LogConfig", {}).get("Config") or {}
    cfg = c.config["Config"]
    return Writer(c.path(f"{c.id}-json.log"), *parse_options(opts),
                  attrs(opts, cfg.get("Labels") or {}, cfg.get("Env") or []))


# Bytes a record can carry as they are: printable ASCII but for what JSON or docker's encoder
# escapes (", \, and <, >, & as Go's HTML-safe \u003c ...), and the newlines between lines.
_PLAIN = bytes([b for b in range(0x20, 0x7f) if b not in b'"\\<>&']) + b"\n"


class Writer:
    """Appends a container's output to its log, a line per record. The lines of one read of plain
    text are encoded together (one bytes.replace, not a JSON call a line): a flood of `yes` is
    131,072 lines a read."""

    def __init__(self, path: str, max_size: int | None = None, max_files: int = 1, attrs: dict | None = None):
        self.path, self.max_size, self.max_files = path, max_size, max_files
        self.attrs = {"attrs": attrs} if attrs else {}
        self.f = open(path, "ab", buffering=0)
        self.pending = {"stdout": b"", "stderr": b""}
        self.dropped = 0  # records the disk refused

    def write(self, stream: str, data: bytes) -> None:
        """Bytes from one stream: complete lines are written now, the rest when more comes (or at close).
        A line longer than PARTIAL goes in PARTIAL pieces, as docker's 16 KiB buffer cuts it."""
        buf = self.pending[stream] + data
        start = pos = 0  # buf[start:pos]: whole lines not written yet
        while len(buf) - pos > PARTIAL:  # a window at a time: one rfind per 16 KiB, not a step a line
            last = buf.rfind(b"\n", pos, pos + PARTIAL)
            if last >= 0:
                pos = last + 1
                continue
            if pos > start:
                self._append(self._encode(stream, buf[start:pos]))
            self._append(self._encode(stream, buf[pos:pos + PARTIAL], lines=False))
            start = pos = pos + PARTIAL
        end = max(pos, buf.rfind(b"\n", pos) + 1)
        if end > start:
            self._append(self._encode(stream, buf[start:end]))
        self.pending[stream] = buf[end:]
        if len(self.pending[stream]) >= PARTIAL:
            self.flush(stream)

    def flush(self, stream: str | None = None) -> None:
        """A partial line is written as it is (a prompt waiting for input, or the end)."""
        for s in [stream] if stream else list(self.pending):
            if self.pending[s]:
                self._append(self._encode(s, self.pending[s], lines=False))
                self.pending[s] = b""

    def _encode(self, stream: str, text: bytes, lines: bool = True) -> bytes:
        """Records, as docker's json-file writes them: {"log":...,"stream":...,"attrs":...,"time":...},
        one a line of text (lines: it ends with a newline) or one for all of it."""
        t = now_rfc3339()
        if not text.translate(None, _PLAIN):  # plain text: the same record around every line
            head, _, tail = json.compact({"log": "", "stream": stream, **self.attrs, "time": t}, html=True).partition('""')
            head, tail = (head + '"').encode(), ('"' + tail + "\n").encode()
            if not lines:
                return head + text + tail
            tail = b"\\n" + tail
            return head + text[:-1].replace(b"\n", tail + head) + tail
        parts = text[:-1].split(b"\n") if lines else [text]
        end = b"\n" if lines else b""
        return b"".join((json.compact({"log": (part + end).decode("utf-8", errors="replace"), "stream": stream,
                                       **self.attrs, "time": t}, html=True) + "\n").encode() for part in parts)

    def _append(self, blob: bytes) -> None:
        """Whole records to the log, rotating where the next would pass max-size."""
        while blob:
            at = self.f.tell()
            if self.max_size and at + len(blob) > self.max_size:
                cut = blob.rfind(b"\n", 0, max(0, self.max_size - at)) + 1
                if cut == 0 and at > 0:
                    self._rotate()
                    continue
                cut = cut or blob.find(b"\n") + 1  # one record larger than max-size: alone in its file
                self._write(blob[:cut])
                blob = blob[cut:]
                if blob:
                    self._rotate()
            else:
                self._write(blob)
                return

    def _write(self, part: bytes) -> None:
        at = self.f.tell()
        try:
            n = self.f.write(part)
        except OSError:  # ENOSPC, EDQUOT, EIO: the records are lost, as docker's json-file loses them
            n = 0
        if n < len(part):  # never half a record: the next one would be unreadable too
            keep = part.rfind(b"\n", 0, n) + 1
            self.dropped += part.count(b"\n", keep)
            try:
                self.f.truncate(at + keep)
                self.f.seek(at + keep)
            except OSError:
                pass

    def _rotate(self) -> None:
        self.f.close()
        if self.max_files <= 1:
            os.truncate(self.path, 0)  # docker keeps nothing old with max-file=1
        else:
            for i in range(self.max_files - 1, 0, -1):
                older = f"{self.path}.{i}"
                if os.path.exists(older):
                    if i + 1 >= self.max_files:
                        os.unlink(older)
                    else:
                        os.rename(older, f"{self.path}.{i + 1}")
            os.rename(self.path, f"{self.path}.1")
        self.f = open(self.path, "ab", buffering=0)

    def close(self) -> None:
        self.flush()
        self.f.close()


def _files(path: str) -> list:
    """The log and its rotated copies, oldest first."""
    old = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        old.append(f"{path}.{i}")
        i += 1
    return list(reversed(old)) + ([path] if os.path.exists(path) else [])


def records(path: str):
    """Every record, oldest first, read as a stream (memory stays bounded whatever the log's size)."""
    for p in _files(path):
        with open(p, "rb") as f:
            for line in f:
                r = _parse(line)
                if r:
                    yield r


def last_records(path: str, n: int) -> list:
    """The last n records, read backwards from the end of the newest file (--tail)."""
    out = []
    for p in reversed(_files(path)):
        for line in _backwards(p):
            if len(out) >= n:
                return out[::-1]
            r = _parse(line)
            if r:
                out.append(r)
    return out[:n][::-1]


def _backwards(path: str, block: int = 1 << 16):
    """The file's lines, last first, a block at a time."""
    with open(path, "rb") as f:
        pos, rest = f.seek(0, os.SEEK_END), b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            lines = (f.read(step) + rest).split(b"\n")
            rest = lines[0]
            yield from (line for line in reversed(lines[1:]) if line)
        if rest:
            yield rest


def _parse(line: bytes):
    try:
        r = json.loads(line)
        return r if isinstance(r, dict) and "log" in r else None
    except ValueError:
        return None  # a line cut short by a crash


def details(r: dict) -> str:
    """--details: the record's attrs as docker prints them, k=v sorted and query-escaped, then a space."""
    from urllib.parse import quote_plus
    return ",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted((r.get("attrs") or {}).items())) + " "


def show(path: str, out, err, tail: int | None = None, timestamps: bool = False, since: float | None = None,
         until: float | None = None, follow=None, with_details: bool = False) -> None:
    """Write the log's records to out (stdout) and err (stderr); with follow(), keep reading new
    records while it returns True."""
    from runtime.clock import parse_time

    def emit(r) -> None:
        t = parse_time(r.get("time", "")) or 0
        if (since is not None and t < since) or (until is not None and t > until):
            return
        text = (r["time"] + " " if timestamps else "") + (details(r) if with_details else "") + r["log"]
        (err if r.get("stream") == "stderr" else out).write(text)
    recs = records(path) if tail is None else last_records(path, tail) if tail > 0 else []
    for r in recs:
        emit(r)
    out.flush()
    err.flush()
    if follow is None:
        return
    f = open(path, "rb") if os.path.exists(path) else None
    if f:
        f.seek(0, os.SEEK_END)
    rest, last = b"", False
    while True:
        if f is None and os.path.exists(path):
            f = open(path, "rb")
        chunk = f.read(1 << 20) if f else b""
        if chunk:
            rest += chunk
            *lines, rest = rest.split(b"\n")
            for line in lines:
                r = _parse(line)
                if r:
                    emit(r)
            out.flush()
            err.flush()
            continue
        if f and os.path.exists(path) and os.stat(path).st_ino != os.fstat(f.fileno()).st_ino:
            f.close()
            f = open(path, "rb")  # rotated: go on in the new file
            continue
        if last:
            return
        if not follow():
            last = True  # one more read: what was written before it ended
            continue
        time.sleep(0.05)
