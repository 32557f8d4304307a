"""Layer unpacking (runtime/image/layer.py) on the real filesystem, as root: ownership, whiteouts as
overlayfs devices and xattrs, and hostile tars that try to write outside the layer."""
import gzip
import io
import os
import stat
import tarfile

import pytest

from runtime.image.layer import LayerError, unpack

pytestmark = pytest.mark.root


def make_tar(entries, compress=None) -> io.BufferedReader:
    """entries: (name, kind, extra) with kind file/dir/sym/link/chr/fifo; returns a readable stream."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            data = b""
            if kind == "file":
                data = extra if isinstance(extra, bytes) else b"x"
                info.size, info.mode = len(data), 0o644
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, extra
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, extra
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            if isinstance(extra, dict):
                for k, v in extra.items():
                    setattr(info, k, v)
            t.addfile(info, io.BytesIO(data) if kind == "file" else None)
    raw = buf.getvalue()
    if compress == "gzip":
        raw = gzip.compress(raw)
    elif compress == "zstd":
        import zstandard
        raw = zstandard.ZstdCompressor().compress(raw)
    return io.BufferedReader(io.BytesIO(raw))


@pytest.fixture
def dest(tmp_path):
    d = tmp_path / "layer"
    d.mkdir()
    return d


@pytest.mark.parametrize("compress", [None, "gzip", "zstd"])
def test_tree_owners_modes_links(dest, compress):
    if compress == "zstd":
        pytest.importorskip("zstandard")
    entries = [("etc/", "dir", None), ("etc/passwd", "file", b"root:x:0:0::/root:/bin/sh\n"),
               ("bin/", "dir", None), ("bin/tool", "file", {"mode": 0o4755, "uid": 1000, "gid": 100}),
               ("bin/sh", "sym", "tool"), ("bin/hard", "link", "bin/tool"), ("run/fifo", "fifo", None)]
    stream = make_tar(entries, compress)
    diff_id, _, notes = unpack(stream, str(dest))
    assert notes == []
    import hashlib
    assert diff_id == "sha256:" + hashlib.sha256(make_tar(entries).read()).hexdigest()  # of the plain tar
    assert (dest / "etc/passwd").read_bytes().startswith(b"root:x")
    st = os.lstat(dest / "bin/tool")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o4755, 1000, 100)
    assert os.readlink(dest / "bin/sh") == "tool"
    assert os.stat(dest / "bin/hard").st_ino == st.st_ino
    assert stat.S_ISFIFO(os.lstat(dest / "run/fifo").st_mode)
    assert os.stat(dest / "etc").st_mtime == 1_600_000_000


def test_whiteouts_become_overlayfs_whiteouts(dest):
    entries = [("gone/", "dir", None), (".wh.removed", "file", b""), ("gone/.wh..wh..opq", "file", b""),
               ("gone/new", "file", b"n")]
    unpack(make_tar(entries), str(dest))
    st = os.lstat(dest / "removed")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(dest / "gone", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(dest)) == ["gone", "removed"]


def test_device_nodes_are_skipped(dest):
    assert unpack(make_tar([("dev/null", "chr", None)]), str(dest))[2] == ["skipped device node dev/null"]
    assert not (dest / "dev/null").exists()


@pytest.mark.parametrize("entries, words", [
    ([("../evil", "file", b"x")], "leaves the layer"),
    ([("a/../../evil", "file", b"x")], "leaves the layer"),
    ([("/etc/evil", "file", b"x")], "absolute path"),
    ([("escape", "sym", "OUTSIDE"), ("escape/evil", "file", b"x")], "never followed"),
    ([("escape", "sym", "OUTSIDE"), ("evil", "link", "escape/victim")], "never followed"),
    ([("evil", "link", "../outside/victim")], "leaves the layer"),
    ([("evil", "link", "nothing-here")], "no such entry"),
])
def test_hostile_entries_are_refused(tmp_path, dest, entries, words):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("safe")
    entries = [(n, k, str(outside) if e == "OUTSIDE" else e) for n, k, e in entries]
    with pytest.raises(LayerError, match=words):
        unpack(make_tar(entries), str(dest))
    assert sorted(os.listdir(outside)) == ["victim"] and (outside / "victim").read_text() == "safe"
    assert not (tmp_path / "evil").exists()


def test_directory_times_never_follow_a_later_symlink(tmp_path, dest):
    outside = tmp_path / "outside"
    (outside / "e").mkdir(parents=True)
    os.utime(outside / "e", (5, 5))
    entries = [("d/", "dir", None), ("d/e/", "dir", None), ("d", "sym", str(outside))]
    unpack(make_tar(entries), str(dest))
    assert os.readlink(dest / "d") == str(outside)
    assert os.stat(outside / "e").st_mtime == 5


@pytest.mark.parametrize("data", [b"not a tar at all" * 100, gzip.compress(b"garbage" * 100)])
def test_garbage_is_a_clear_error(dest, data):
    with pytest.raises(LayerError, match="not a valid tar|unpacking layer"):
        unpack(io.BufferedReader(io.BytesIO(data)), str(dest))


def test_truncated_layer(dest):
    raw = make_tar([("big", "file", b"y" * 100_000)]).read()
    with pytest.raises(LayerError):
        unpack(io.BufferedReader(io.BytesIO(raw[:30_000])), str(dest))
