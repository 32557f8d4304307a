"""The json-file writer (runtime/engine/logs.py) on its own: the records of a read, whole or not at
all, rotation at record boundaries, and the escapes docker's encoder makes."""
import json
import os

from runtime.engine import logs


def _records(path) -> list:
    return [json.loads(line) for p in logs._files(path) for line in open(p, "rb")]


def test_lines_partial_lines_and_escapes(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.Writer(path, attrs={"app": "<web>"})
    w.write("stdout", b"hello\nwor")
    w.write("stdout", b'ld "q" <b> & \\ \t\n\xff\xfeok\n')
    w.write("stdout", b"a\n\nb")
    w.write("stderr", b"prompt> ")
    w.close()
    recs = _records(path)
    assert [(r["log"], r["stream"]) for r in recs] == [
        ("hello\n", "stdout"), ('world "q" <b> & \\ \t\n', "stdout"), ("\ufffd\ufffdok\n", "stdout"),
        ("a\n", "stdout"), ("\n", "stdout"), ("b", "stdout"), ("prompt> ", "stderr")]
    assert all(r["attrs"] == {"app": "<web>"} and r["time"].endswith("Z") for r in recs)
    text = open(path).read()
    assert "<" not in text and "\\u003cb\\u003e" in text  # Go's HTML-safe escapes, as docker writes
    assert text.startswith('{"log":"hello\\n","stream":"stdout","attrs"')  # compact, docker's order


def test_a_long_line_is_cut_into_16k_records(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.Writer(path)
    w.write("stdout", b"x" * (logs.PARTIAL * 2 + 5) + b"\n")
    w.close()
    assert [len(r["log"]) for r in _records(path)] == [logs.PARTIAL, logs.PARTIAL, 6]


def test_rotation_cuts_a_read_at_record_boundaries(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.Writer(path, max_size=4096, max_files=3)
    for i in range(0, 2000, 100):  # reads of 100 lines each, every read larger than max-size
        w.write("stdout", b"".join(b"%d\n" % n for n in range(i, i + 100)))
    w.close()
    files = logs._files(path)
    assert len(files) == 3 and all(os.path.getsize(p) <= 4096 for p in files)
    kept = [int(r["log"]) for r in _records(path)]
    assert kept[-1] == 1999 and kept == list(range(kept[0], 2000))  # no gap: only rotation let go


class _FullDisk:
    """A log file on a disk with `room` bytes left: short writes, then ENOSPC."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        if self.room <= 0:
            raise OSError(28, "No space left on device")
        n = self.f.write(data[:self.room])
        self.room -= n
        return n

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_a_full_disk_keeps_whole_records_only(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.Writer(path)
    w.f = _FullDisk(w.f, 1000)
    w.write("stdout", b"".join(b"line-%d\n" % n for n in range(100)))
    w.write("stdout", b"more\n")
    w.f = w.f.f  # space again
    w.write("stdout", b"after\n")
    w.close()
    logged = [r["log"] for r in _records(path)]
    assert logged[-1] == "after\n" and logged[:-1] == [f"line-{n}\n" for n in range(len(logged) - 1)]
    assert w.dropped == 100 - (len(logged) - 1) + 1


def test_long_lines_between_short_ones(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.Writer(path)
    long = b"L" * (logs.PARTIAL + 10)
    exact = b"E" * logs.PARTIAL
    w.write("stdout", b"a\n" + long + b"\nb\n" + exact + b"\nc")
    w.write("stdout", b"\n")
    w.close()
    assert [r["log"] for r in _records(path)] == [
        "a\n", "L" * logs.PARTIAL, "L" * 10 + "\n", "b\n", "E" * logs.PARTIAL, "\n", "c\n"]
