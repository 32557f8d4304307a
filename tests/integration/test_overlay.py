"""A container's root filesystem from the store (runtime/image/rootfs.py): the image's layers as
overlayfs lowerdirs on the real kernel, whiteouts and opaque directories taking effect, writes going
to the container's upper directory only, and 128 layers fitting the one page of mount options."""
import os
import stat

import pytest

from helpers import Hull, docker_archive, tar_bytes as layer
from runtime.image import rootfs
from runtime.image.store import ImageError, Store

pytestmark = pytest.mark.root


@pytest.fixture
def store(tmp_path):
    return Hull(tmp_path / "hull")


def mounted(path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def test_layers_whiteouts_and_the_upper_layer(store, tmp_path):
    layers = [layer([("etc/", None), ("etc/a", b"a"), ("etc/b", b"b"), ("d/", None), ("d/x", b"x")]),
              layer([("etc/.wh.a", b""), ("d/", None), ("d/.wh..wh..opq", b""), ("d/y", b"y")]),
              layer([("etc/c", b"c")])]
    store("load", "-i", docker_archive(tmp_path / "img.tar", layers, ["three:1"]))
    s = Store(store.store)
    _, desc = s.lookup("three:1")
    container = tmp_path / "c1"
    merged = rootfs.mount(s, desc, str(container))
    try:
        assert sorted(os.listdir(os.path.join(merged, "etc"))) == ["b", "c"]  # a is whited out
        assert os.listdir(os.path.join(merged, "d")) == ["y"]  # opaque: x from below is hidden
        with open(os.path.join(merged, "etc", "new"), "w") as f:
            f.write("mine")
        os.unlink(os.path.join(merged, "etc", "b"))
        assert open(container / "upper" / "etc" / "new").read() == "mine"
        st = os.lstat(container / "upper" / "etc" / "b")  # the deletion, recorded as a whiteout
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
        for d in s.layer_dirs(desc):  # the shared layers are untouched
            assert not os.path.exists(os.path.join(d, "etc", "new"))
        assert os.path.exists(s.layer_dirs(desc)[0] + "/etc/b")
    finally:
        rootfs.unmount(str(container))
    assert not mounted(merged)
    rootfs.unmount(str(container))  # twice is fine


def test_128_layers_fit_the_mount_options_and_more_are_refused(store, tmp_path):
    layers = [layer([(f"layer{i:03}", str(i).encode())]) for i in range(128)]
    store("load", "-i", docker_archive(tmp_path / "many.tar", layers, ["many:1"]))
    s = Store(store.store)
    _, desc = s.lookup("many:1")
    absolute = ":".join(s.layer_dirs(desc))
    assert len(absolute) > 4096  # the full paths would not fit: the l/ names are what makes it work
    merged = rootfs.mount(s, desc, str(tmp_path / "c2"))
    try:
        assert sorted(os.listdir(merged)) == [f"layer{i:03}" for i in range(128)]
        assert open(os.path.join(merged, "layer000")).read() == "0"
    finally:
        rootfs.unmount(str(tmp_path / "c2"))
    layers += [layer([(f"more{i:03}", b"m")]) for i in range(40)]
    store("load", "-i", docker_archive(tmp_path / "more.tar", layers, ["more:1"]))
    _, desc = s.lookup("more:1")
    with pytest.raises(ImageError, match="168 layers.*more than a page"):
        rootfs.mount(s, desc, str(tmp_path / "c3"))
    assert not mounted(tmp_path / "c3" / "merged")
