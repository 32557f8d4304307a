"""runtime/linux/beneath.py and runtime/image/tartree.py on plain directories: with openat2 and
with the walk that kernels before 5.6 get (forced here), the same answers."""
import errno
import io
import os
import tarfile

import pytest

from runtime.errors import InvalidArgument
from runtime.image import tartree
from runtime.linux import beneath, libc


@pytest.fixture(params=["openat2", "walk"])
def tree(request, tmp_path, monkeypatch):
    """root/{a/b/file, link-out -> OUTSIDE, a/link-in -> /a/b, a/up -> ../..}, and OUTSIDE/secret."""
    if request.param == "walk":
        monkeypatch.setattr(libc, "_openat2_missing", True)
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "file").write_text("inside\n")
    outside.mkdir()
    (outside / "secret").write_text("outside\n")
    (root / "link-out").symlink_to(outside)
    (root / "a" / "link-in").symlink_to("/a/b")
    (root / "a" / "up").symlink_to("../..")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def _read(fd: int) -> str:
    with os.fdopen(fd) as f:
        return f.read()


def test_strict_opens_refuse_every_link_and_dotdot(tree):
    assert _read(beneath.open_at(tree, "a/b/file")) == "inside\n"
    for path, err in (("link-out/secret", errno.ELOOP), ("a/link-in/file", errno.ELOOP), ("link-out", errno.ELOOP),
                      ("a/../../outside/secret", errno.EXDEV)):
        with pytest.raises(OSError) as e:
            beneath.open_at(tree, path)
        assert e.value.errno == err, path


def test_in_root_follows_links_but_never_above_the_root(tree):
    assert _read(beneath.open_at(tree, "a/link-in/file", in_root=True)) == "inside\n"  # /a/b from the root
    assert _read(beneath.open_at(tree, "a/up/a/b/file", in_root=True)) == "inside\n"  # ../.. stops at the root
    with pytest.raises(FileNotFoundError):  # an absolute target outside is looked up inside
        beneath.open_at(tree, "link-out/secret", in_root=True)


def test_parent_of_creates_directories_but_not_through_links(tree):
    parent, name = beneath.parent_of(tree, "new/dirs/file", create=True)
    os.close(parent)
    assert name == "file" and os.path.isdir(f"/proc/self/fd/{tree}/new/dirs")
    with pytest.raises(OSError) as e:
        beneath.parent_of(tree, "link-out/x", create=True)
    assert e.value.errno in (errno.ELOOP, errno.ENOTDIR)


def test_copy_tree_replaces_a_planted_link_instead_of_writing_through_it(tree, tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "file").symlink_to(tmp_path / "outside" / "secret")  # planted by whoever shares dst
    src = beneath.open_dir(tree, "a/b")
    out = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    beneath.copy_tree(src, out)
    os.close(src)
    os.close(out)
    assert (dst / "file").read_text() == "inside\n" and not (dst / "file").is_symlink()
    assert (tmp_path / "outside" / "secret").read_text() == "outside\n"


def test_extractor_refuses_a_member_below_a_link(tree, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("link-out/planted")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r|") as t:
        out = tartree.Extractor(tree)
        with pytest.raises(InvalidArgument, match="never followed"):
            for m in t:
                out.extract(t, m, tartree.clean_name(m.name))
    assert not (tmp_path / "outside" / "planted").exists()


def test_a_file_that_shrinks_while_packed_is_padded(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = tartree._Exactly(fd, 10)  # the header said 10 bytes; 3 are left
        assert reader.read(4) == b"abc\0" and reader.read(100) == b"\0" * 6 and reader.read(1) == b""
    finally:
        os.close(fd)
