"""hull's image store from the command line: import, images, tag, save/load (docker-archive, OCI layout
directories and oci-archives) with skopeo and umoci as the independent tools, rmi and prune, and bad
input that must leave nothing."""
import json
import os
import subprocess

import pytest

from helpers import Hull, docker_archive, tar_bytes

pytestmark = pytest.mark.root


@pytest.fixture
def hull(tmp_path):
    return Hull(tmp_path / "hull")


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory, busybox_base):
    rootfs, _ = busybox_base
    path = tmp_path_factory.mktemp("rootfs") / "busybox.tgz"
    subprocess.run(["tar", "-C", rootfs, "-czf", str(path), "."], check=True)
    return path


def store_is_empty(store) -> bool:
    return (not os.listdir(store / "blobs" / "sha256") and not os.listdir(store / "layers")
            and not os.listdir(store / "l"))


def test_import_images_tag_inspect(hull, rootfs_tar):
    image_id = hull("import", rootfs_tar, "busybox").stdout.strip()
    assert image_id.startswith("sha256:")
    hull("tag", "busybox", "localhost:5000/tools/bb:v1")
    rows = hull("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.split("\n")
    assert rows[:2] == [f"busybox:latest {image_id[7:19]}", f"localhost:5000/tools/bb:v1 {image_id[7:19]}"]
    assert hull("images", "-q").stdout.split() == [image_id[7:19]]  # one image, two names
    info = json.loads(hull("image", "inspect", "localhost:5000/tools/bb:v1").stdout)[0]
    assert info["Id"] == image_id and info["Config"]["Env"][0].startswith("PATH=")
    lower = info["GraphDriver"]["Data"]["LowerDir"]
    assert os.path.islink(os.path.join(lower, "bin", "sh")) and os.path.isfile(os.path.join(lower, "bin", "busybox"))


def test_save_load_round_trip_with_skopeo_and_umoci(hull, rootfs_tar, tmp_path):
    image_id = hull("import", rootfs_tar, "busybox").stdout.strip()
    ours = tmp_path / "ours.tar"
    hull("save", "-o", ours, "busybox")
    # skopeo reads hull's archive and writes an OCI layout and its own docker-archive from it
    inspected = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{ours}"], check=True,
                                          capture_output=True, text=True).stdout)
    diff_ids = json.loads(hull("image", "inspect", "busybox").stdout)[0]["RootFS"]["Layers"]
    assert inspected["Layers"] == diff_ids  # an uncompressed layer's digest is its diff ID
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{ours}", f"oci:{tmp_path}/layout:bb"], check=True)
    theirs = tmp_path / "theirs.tar"
    subprocess.run(["skopeo", "copy", "-q", f"oci:{tmp_path}/layout:bb", f"docker-archive:{theirs}:busybox:copied"],
                   check=True)
    out = hull("load", "-i", theirs).stdout
    assert out.strip() == "Loaded image: busybox:copied"
    assert json.loads(hull("image", "inspect", "busybox:copied").stdout)[0]["RootFS"]["Layers"] == diff_ids
    # umoci unpacks the same image to the same tree as hull's layer
    subprocess.run(["umoci", "unpack", "--image", f"{tmp_path}/layout:bb", str(tmp_path / "bundle")], check=True,
                   capture_output=True)
    lower = json.loads(hull("image", "inspect", "busybox").stdout)[0]["GraphDriver"]["Data"]["LowerDir"]
    assert tree(tmp_path / "bundle" / "rootfs") == tree(lower)
    # hull's own archive loads back to the same image ID (skopeo rewrites the config, so not via it)
    hull("rmi", "busybox", "busybox:copied")
    assert hull("load", "-i", ours).stdout.strip() == "Loaded image: busybox:latest"
    assert json.loads(hull("image", "inspect", "busybox").stdout)[0]["Id"] == image_id


def test_oci_layouts_with_skopeo_and_umoci(hull, rootfs_tar, tmp_path):
    image_id = hull("import", rootfs_tar, "localhost:5000/tools/bb:v1").stdout.strip()
    lower = json.loads(hull("image", "inspect", "localhost:5000/tools/bb:v1").stdout)[0]["GraphDriver"]["Data"]["LowerDir"]
    # hull's layout directory: the tag is what umoci and skopeo look up
    hull("save", "--format", "oci-dir", "-o", tmp_path / "ours", "localhost:5000/tools/bb:v1")
    subprocess.run(["umoci", "unpack", "--image", f"{tmp_path}/ours:v1", str(tmp_path / "bundle")], check=True,
                   capture_output=True)
    assert tree(tmp_path / "bundle" / "rootfs") == tree(lower)
    # skopeo writes a layout of its own (compressing the layer); hull loads it: same image
    subprocess.run(["skopeo", "copy", "-q", f"oci:{tmp_path}/ours:v1", f"oci:{tmp_path}/boxes:v2"], check=True)
    assert hull("load", "-i", tmp_path / "boxes").stdout == "Loaded image: boxes:v2\n"  # a bare tag: DIR:TAG
    assert json.loads(hull("image", "inspect", "boxes:v2").stdout)[0]["Id"] == image_id
    # an oci-archive out and back, and skopeo reads it
    hull("save", "--format", "oci-archive", "-o", tmp_path / "bb.tar", "localhost:5000/tools/bb:v1")
    inspected = json.loads(subprocess.run(["skopeo", "inspect", f"oci-archive:{tmp_path}/bb.tar:v1"], check=True,
                                          capture_output=True, text=True).stdout)
    assert inspected["Digest"].startswith("sha256:")
    # never pushed or pulled: no repository digests, as docker shows for an imported image
    assert json.loads(hull("image", "inspect", "localhost:5000/tools/bb:v1").stdout)[0]["RepoDigests"] == []
    hull("rmi", "localhost:5000/tools/bb:v1", "boxes:v2")
    assert store_is_empty(hull.store)
    assert hull("load", "-i", tmp_path / "bb.tar").stdout == "Loaded image: localhost:5000/tools/bb:v1\n"
    assert json.loads(hull("image", "inspect", "localhost:5000/tools/bb:v1").stdout)[0]["Id"] == image_id


def test_bad_oci_layouts_leave_nothing(hull, rootfs_tar, tmp_path):
    hull("import", rootfs_tar, "busybox")
    hull("save", "--format", "oci-dir", "-o", tmp_path / "good", "busybox")
    p = hull("save", "--format", "oci-dir", "-o", tmp_path / "good", "busybox", check=False)
    assert p.returncode == 1 and "exists" in p.stderr
    p = hull("save", "--format", "tarball", "-o", tmp_path / "x", "busybox", check=False)
    assert p.returncode == 1 and "unknown --format" in p.stderr
    hull("rmi", "busybox")
    index = json.loads((tmp_path / "good" / "index.json").read_text())
    layer = json.loads((tmp_path / "good" / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())["layers"][0]
    blob = tmp_path / "good" / "blobs" / "sha256" / layer["digest"][7:]
    data = blob.read_bytes()
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    p = hull("load", "-i", tmp_path / "good", check=False)
    assert p.returncode == 1 and "digest mismatch" in p.stderr, p.stderr
    blob.unlink()
    p = hull("load", "-i", tmp_path / "good", check=False)
    assert p.returncode == 1 and "is missing" in p.stderr
    (tmp_path / "good" / "index.json").write_text("{")
    p = hull("load", "-i", tmp_path / "good", check=False)
    assert p.returncode == 1 and "index.json is not JSON" in p.stderr
    assert hull("images", "-q").stdout == ""
    hull("image", "prune", "-f")
    assert store_is_empty(hull.store)


def tree(root) -> dict:
    """path -> (type and mode, owner, symlink target or size)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_uid, st.st_gid,
                                             os.readlink(p) if os.path.islink(p) else
                                             (st.st_size if os.path.isfile(p) else None))
    return out


def test_rmi_and_prune_leave_an_empty_store(hull, rootfs_tar):
    hull("import", rootfs_tar, "busybox")
    hull("tag", "busybox", "other")
    hull("rmi", "busybox")
    assert hull("images", "-q").stdout.strip()  # still named "other"
    hull("rmi", "other")
    assert hull("images", "-q").stdout.strip() == ""
    assert store_is_empty(hull.store)
    p = hull("rmi", "other", check=False)
    assert p.returncode == 1 and "No such image: other" in p.stderr


def archive(tmp_path, layer: bytes, diff_id: str | None = None, tags=("bad:latest",)) -> str:
    """A one-layer docker-archive; diff_id defaults to the layer's true sha256."""
    return docker_archive(tmp_path / "archive.tar", [layer], tags, [diff_id] if diff_id else None)


def layer_tar(name: str, data: bytes = b"x") -> bytes:
    return tar_bytes([(name, data)])


@pytest.mark.parametrize("make, words", [
    (lambda tmp: archive(tmp, layer_tar("ok")), None),
    (lambda tmp: archive(tmp, layer_tar("ok"), diff_id="sha256:" + "0" * 64), "the config says"),
    (lambda tmp: archive(tmp, layer_tar("../escape")), "leaves the layer"),
    (lambda tmp: archive(tmp, b"garbage" * 200), "not a valid tar"),
    (lambda tmp: archive(tmp, layer_tar("ok"), tags=("Bad:Name",)), "must be lowercase"),
    (lambda tmp: str(tmp), "not an OCI image layout"),
])
def test_bad_archives_leave_nothing(hull, tmp_path, make, words):
    path = make(tmp_path)
    p = hull("load", "-i", path, check=False)
    if words is None:
        assert p.returncode == 0, p.stderr
        return
    assert p.returncode == 1 and words in p.stderr, p.stderr
    assert hull("images", "-q").stdout.strip() == ""
    assert not (tmp_path.parent / "escape").exists() and not (hull.store / "escape").exists()
    hull("image", "prune", "-f")
    assert store_is_empty(hull.store)


@pytest.mark.parametrize("args, words", [
    (["import", "MISSING", "x"], "no such file"),
    (["images", "Bad/Ref"], "must be lowercase"),
    (["image", "explode"], "unknown command"),
    (["save", "-o", "/tmp/never.tar", "nothing-here"], "No such image"),
])
def test_bad_commands(hull, args, words):
    p = hull(*args, check=False)
    assert p.returncode == 1 and words in p.stderr, p.stderr
