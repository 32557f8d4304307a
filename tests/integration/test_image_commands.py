"""The image commands as a docker user meets them: the bugs of issue 13, and the output shapes
scripts rely on, compared with podman (its own private storage, runc as its runtime) on the same
image. docker's shapes are the reference where podman's differ (podman puts a space in "4.26 MB"
and shows docker.io/library/busybox where docker says busybox)."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from helpers import Hull, hull_cmd
from peers.engines import Podman, busybox_image
from registries import RegistryServer

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return busybox_image(str(tmp_path_factory.mktemp("images")))


@pytest.fixture(scope="module")
def podman(images):
    rootfs_tar, archive = images
    engine = Podman("/usr/bin/runc", archive, rootfs_tar)
    engine("rmi", "-af")
    engine("load", "-i", archive, check=True)
    yield engine
    assert engine.stop() == []


@pytest.fixture
def hull(tmp_path, images):
    h = Hull(tmp_path / "hull")
    h("load", "-i", images[1])
    return h


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    server = RegistryServer(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


def table(text: str) -> list:
    """A docker table as rows of cells (columns are 3+ spaces apart)."""
    return [re.split(r"\s{3,}|\s{2,}(?=\S)", line.strip()) for line in text.strip().splitlines()]


def megabytes(size: str) -> float:
    n, unit = re.fullmatch(r"([\d.]+)\s?([kMG]?B)", size).groups()
    return float(n) * {"B": 1e-6, "kB": 1e-3, "MB": 1, "GB": 1e3}[unit]


# -- shapes, against podman ------------------------------------------------------------------------

def test_images_table_as_docker_prints_it(hull, podman):
    ours, theirs = table(hull("images").stdout), table(podman("images", check=True).stdout)
    assert ours[0] == theirs[0] == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    row = ours[1]
    their_row = next(r for r in theirs[1:] if r[0].endswith("busybox"))
    assert row[:3] == ["busybox", "latest", their_row[2]]  # the same image ID
    assert re.fullmatch(r"(\d+ \w+|About an? \w+|Less than a second) ago", row[3]), row
    assert abs(megabytes(row[4]) - megabytes(their_row[4])) <= 0.02 * megabytes(their_row[4])  # uncompressed
    assert re.fullmatch(r"\d+(\.\d+)?[kMG]?B", row[4])  # docker's "2.21MB": no space


def test_images_format_and_filters(hull):
    hull("tag", "busybox", "lab/box:1")
    rows = [json.loads(line) for line in hull("images", "--format", "json").stdout.splitlines()]
    assert {r["Repository"] for r in rows} == {"busybox", "lab/box"}
    assert set(rows[0]) == {"Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize",
                            "Size", "Tag", "UniqueSize", "VirtualSize"}
    assert hull("images", "--format", "{{json .}}").stdout.splitlines()[0] == json.dumps(rows[0], separators=(",", ":"))
    out = hull("images", "--format", "table {{.Repository}}\t{{.Tag}}").stdout
    assert out.splitlines()[0] == "REPOSITORY   TAG" and "lab/box      1" in out
    assert hull("images", "--format", "{{.CreatedSince}}").stdout.strip().endswith("ago")
    assert hull("images", "--filter", "reference=lab/*", "--format", "{{.Repository}}").stdout == "lab/box\n"
    assert hull("images", "--filter", "dangling=true", "-q").stdout == ""
    p = hull("images", "--format", "{{.Nope}}", check=False)
    assert p.returncode == 1 and "can't evaluate field Nope" in p.stderr


def test_history_columns(hull, podman):
    ours, theirs = table(hull("history", "busybox").stdout), table(podman("history", "busybox", check=True).stdout)
    assert ours[0] == ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]  # docker's; podman says ID
    assert theirs[0][1:] == ours[0][1:]
    assert len(ours) == len(theirs)
    assert ours[1][0] == theirs[1][0]  # the image's ID on the top row
    assert hull("history", "-q", "busybox").stdout.split()[0] == ours[1][0]
    rows = hull("history", "--format", "{{.ID}}|{{.Size}}", "-H=false", "busybox").stdout.split()
    assert rows[0].split("|")[1].isdigit()


def test_image_inspect_shape(hull, podman):
    ours = json.loads(hull("image", "inspect", "busybox").stdout)[0]
    theirs = json.loads(podman("image", "inspect", "busybox", check=True).stdout)[0]
    for key in ("Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Author", "Config", "Architecture",
                "Os", "Size", "VirtualSize", "GraphDriver", "RootFS", "Metadata"):
        assert key in ours, key
    assert ours["Id"].removeprefix("sha256:") == theirs["Id"]
    assert ours["RootFS"] == {"Type": "layers", "Layers": theirs["RootFS"]["Layers"]}
    assert ours["RepoDigests"] == []  # loaded, never pulled or pushed: docker shows none (podman invents one)
    assert ours["Config"]["Cmd"] == theirs["Config"]["Cmd"] and ours["Architecture"] == theirs["Architecture"]
    assert ours["RepoTags"] == ["busybox:latest"]
    assert hull("image", "inspect", "-f", "{{.Os}}/{{.Architecture}} {{json .RootFS.Layers}}", "busybox").stdout == \
        f"linux/amd64 {json.dumps(theirs['RootFS']['Layers'], separators=(',', ':'))}\n"
    p = hull("image", "inspect", "busybox", "nothere", check=False)  # found ones printed, then the error
    assert p.returncode == 1 and json.loads(p.stdout)[0]["Id"] == ours["Id"] and "No such image: nothere" in p.stderr


# -- the six bugs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_truncated_archive_is_one_line(hull, tmp_path, fmt):
    out = tmp_path / "x.tar"
    hull("save", "--format", fmt, "-o", out, "busybox")
    cut = tmp_path / "t.tar"
    cut.write_bytes(out.read_bytes()[:1500000])
    fresh = Hull(tmp_path / "fresh")
    p = fresh("load", "-i", cut, check=False)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "truncated or damaged" in p.stderr and str(cut) in p.stderr
    assert fresh("images", "-q").stdout == ""


def test_a_closed_pipe_is_quiet(hull):
    for i in range(30):
        hull("tag", "busybox", f"many:{i}")
    p = subprocess.run(" ".join(hull_cmd() + [f"--root={hull.root}", "images"]) + " | head -1", shell=True,
                       capture_output=True, text=True)
    assert p.stdout.startswith("REPOSITORY") and p.stderr == "", p.stderr


def test_pull_by_tag_and_digest_is_by_digest(hull, registry, tmp_path):
    name = f"{registry.addr}/x:1"
    hull("tag", "busybox", name)
    digest = hull("push", "-q", name).stdout.strip()
    fresh = Hull(tmp_path / "fresh")
    fresh("pull", f"{name}@{digest}")
    info = json.loads(fresh("image", "inspect", f"{registry.addr}/x@{digest}").stdout)[0]
    assert info["RepoTags"] == [] and info["RepoDigests"] == [f"{registry.addr}/x@{digest}"]
    rows = table(fresh("images").stdout)
    assert rows[1][:2] == [f"{registry.addr}/x", "<none>"]
    assert "No such image" in fresh("image", "inspect", name, check=False).stderr


def test_oci_save_of_a_docker_v2_image(tmp_path, registry, images):
    """What registries serve is mostly docker v2 schema 2: a layout of it must be OCI for skopeo and umoci."""
    name = f"{registry.addr}/dockerv2/busybox:1"
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-archive:{images[1]}", f"docker://{name}"],
                   check=True)
    h = Hull(tmp_path / "hull")
    h("pull", "-q", name)
    h("save", "--format", "oci-dir", "-o", tmp_path / "layout", name)
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    subprocess.run(["skopeo", "inspect", f"oci:{tmp_path}/layout:1"], check=True, capture_output=True)
    subprocess.run(["umoci", "unpack", "--image", f"{tmp_path}/layout:1", str(tmp_path / "bundle")], check=True,
                   capture_output=True)
    assert (tmp_path / "bundle" / "rootfs" / "bin" / "busybox").is_file()
    h("save", "--format", "oci-archive", "-o", tmp_path / "oci.tar", name)
    subprocess.run(["skopeo", "inspect", f"oci-archive:{tmp_path}/oci.tar:1"], check=True, capture_output=True)


def test_rmi_of_an_id_with_two_names_needs_force(hull, podman):
    hull("tag", "busybox", "second:1")
    image_id = hull("images", "-q").stdout.split()[0]
    p = hull("rmi", image_id, check=False)
    assert p.returncode == 1 and "image is referenced in multiple repositories" in p.stderr
    podman("tag", "busybox", "second:1", check=True)
    assert podman("rmi", image_id).returncode != 0  # podman refuses too
    podman("rmi", "second:1", check=True)
    assert len(hull("images", "-q").stdout.split()) == 1
    out = hull("rmi", "-f", image_id).stdout
    assert "Untagged: busybox:latest" in out and "Untagged: second:1" in out and f"Deleted: sha256:{image_id}" in out
    assert hull("images", "-q").stdout == ""


def test_login_with_an_empty_password_on_stdin(tmp_path):
    p = Hull(tmp_path)("login", "-u", "me", "--password-stdin", "127.0.0.1:1", input="", check=False)
    assert p.returncode == 1 and "password on stdin is empty" in p.stderr


# -- other shapes and gaps ---------------------------------------------------------------------------------

def test_save_to_stdout_and_load_from_stdin(hull, tmp_path):
    data = subprocess.run(hull_cmd() + [f"--root={hull.root}", "save", "busybox"], capture_output=True).stdout
    assert len(data) > 100000
    fresh = Hull(tmp_path / "fresh")
    p = subprocess.run(hull_cmd() + [f"--root={fresh.root}", "load"], input=data, capture_output=True)
    assert p.returncode == 0 and p.stdout == b"Loaded image: busybox:latest\n", p.stderr
    assert not os.listdir(fresh.store / "tmp")


def test_load_of_an_archive_without_repotags_is_untagged(hull, tmp_path):
    image_id = json.loads(hull("image", "inspect", "busybox").stdout)[0]["Id"]
    hull("save", "-o", tmp_path / "b.tar", image_id)  # by ID: no RepoTags, as docker writes it
    fresh = Hull(tmp_path / "fresh")
    assert fresh("load", "-i", tmp_path / "b.tar").stdout == f"Loaded image ID: {image_id}\n"
    assert table(fresh("images").stdout)[1][:3] == ["<none>", "<none>", image_id[7:19]]
    assert fresh("images", "--filter", "dangling=true", "-q").stdout.strip() == image_id[7:19]
    # image prune removes dangling images only; -a every image no container uses
    assert "Total reclaimed space" in fresh("image", "prune", "-f").stdout
    assert fresh("images", "-q").stdout == ""


def test_prune_asks_without_force(hull):
    hull("tag", "busybox", "keep:1")
    out = hull("image", "prune", "-a", input="n\n").stdout
    assert "Are you sure you want to continue? [y/N]" in out
    assert len(hull("images", "-q").stdout.split()) == 1
    out = hull("image", "prune", "-a", input="y\n").stdout
    assert "untagged: busybox:latest" in out and "untagged: keep:1" in out and "Total reclaimed space" in out
    assert hull("images", "-q").stdout == ""


def test_retag_leaves_the_old_image_dangling(hull, tmp_path, images):
    tar = tmp_path / "other.tar"
    subprocess.run(["tar", "-C", tmp_path, "-cf", tar, "--files-from", "/dev/null"], check=True)
    hull("import", tar, "busybox:latest")  # the name moves to a new image
    rows = table(hull("images").stdout)
    assert [r[:2] for r in rows[1:]] == [["busybox", "latest"], ["<none>", "<none>"]]  # newest first


def test_push_gzips_plain_layers_once(hull, registry):
    name = f"{registry.addr}/gz/busybox:1"
    hull("tag", "busybox", name)
    out = hull("push", name).stdout
    assert out.count(": Pushed") == 1  # the layer: docker lists no config blob
    manifest = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{name}"],
                                         check=True, capture_output=True, text=True).stdout)
    assert manifest["layers"][0]["mediaType"].endswith("gzip")
    again = hull("push", name).stdout
    assert again.count(": Layer already exists") == 1 and "Pushed" not in again


def test_a_stopped_registry_times_out(hull, tmp_path):
    (tmp_path / "reg").mkdir()
    server = RegistryServer(tmp_path / "reg")
    try:
        name = f"{server.addr}/slow/busybox:1"
        hull("tag", "busybox", name)
        hull("push", "-q", name)
        os.kill(server.proc.pid, signal.SIGSTOP)
        started = time.monotonic()
        env = {**os.environ, "HULL_REGISTRY_TIMEOUT": "2"}
        p = subprocess.run(hull_cmd() + [f"--root={tmp_path / 'fresh'}", "pull", name], env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 1 and "did not answer" in p.stderr, p.stderr
        assert time.monotonic() - started < 30
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()


@pytest.mark.parametrize("args, words", [
    ([], "usage: hull"), (["image", "rm", "--help"], "usage: hull image rm [flags] IMAGE [IMAGE...]"),
    (["image"], "Usage:  hull image COMMAND"), (["tag", "--help"], "usage: hull tag [flags] SOURCE_IMAGE TARGET_IMAGE"),
])
def test_help(tmp_path, args, words):
    p = Hull(tmp_path)(*args)
    assert p.returncode == 0 and words in p.stdout


def test_errors_name_the_users_path(hull, tmp_path):
    p = hull("save", "-o", tmp_path / "no" / "such" / "x.tar", "busybox", check=False)
    assert p.returncode == 1 and str(tmp_path / "no" / "such" / "x.tar") + ":" in p.stderr and ".tmp" not in p.stderr
