"""`hull pull`, `hull push`, `hull login` against real registries (Debian's docker-registry, the CNCF
distribution) started on 127.0.0.1 by the tests — open, htpasswd basic auth, bearer tokens — with
skopeo as the independent client on the other side, and a registry that misbehaves because its
storage was damaged on disk."""
import hashlib
import io
import json
import os
import signal
import stat
import subprocess
import tarfile
import time
import urllib.request

import pytest

from helpers import Hull, hull_cmd, tar_bytes
from registries import RegistryServer, TokenServer, basic_auth, free_port, htpasswd

pytestmark = pytest.mark.root
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    server = RegistryServer(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def archive(tmp_path_factory, busybox_base):
    rootfs, _ = busybox_base
    path = tmp_path_factory.mktemp("archive") / "busybox.tar"
    subprocess.run([os.path.join(REPO, "rootfs", "docker-archive.py"), rootfs, str(path),
                    "docker.io/library/busybox:latest"], check=True)
    return path


@pytest.fixture(scope="module")
def big_tar(tmp_path_factory):
    """A root filesystem tar with 48 MB that does not compress: a pull of it takes long enough to
    be interrupted, and fills a small disk."""
    path = tmp_path_factory.mktemp("big") / "big.tar"
    with tarfile.open(path, "w") as t:
        for i in range(3):
            data = os.urandom(16 << 20)
            info = tarfile.TarInfo(f"data/chunk{i}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def hull(tmp_path):
    return Hull(tmp_path / "hull", tmp_path / "config")


def skopeo_push(src: str, dest: str, *extra):
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", *extra, src, f"docker://{dest}"],
                   check=True, capture_output=True)


def skopeo_digest(ref: str, *extra) -> str:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{ref}"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["Digest"]


def lower_dir(hull, name) -> str:
    return json.loads(hull("image", "inspect", name).stdout)[0]["GraphDriver"]["Data"]["LowerDir"]


def nothing_left(hull) -> None:
    assert hull("images", "-q").stdout.strip() == ""
    assert os.listdir(hull.store / "tmp") == []
    hull("image", "prune", "-f")
    assert os.listdir(hull.store / "blobs" / "sha256") == [] and os.listdir(hull.store / "layers") == []


def test_pull_what_skopeo_pushed(registry, archive, hull):
    skopeo_push(f"docker-archive:{archive}", f"{registry.addr}/tools/busybox:1")
    out = hull("pull", f"{registry.addr}/tools/busybox:1").stdout
    assert "Pull complete" in out and f"Status: Downloaded newer image for {registry.addr}/tools/busybox:1" in out
    assert out.startswith("1: Pulling from tools/busybox\n") and out.endswith(f"\n{registry.addr}/tools/busybox:1\n")
    again = hull("pull", f"{registry.addr}/tools/busybox:1").stdout
    assert ": Already exists" in again and f"Status: Image is up to date for {registry.addr}/tools/busybox:1" in again
    assert "\r" not in out and "Downloading" not in out  # no bar when not on a terminal
    assert os.path.isfile(os.path.join(lower_dir(hull, f"{registry.addr}/tools/busybox:1"), "bin", "busybox"))
    # the digest hull recorded is the registry's (what skopeo reports)
    digest = skopeo_digest(f"{registry.addr}/tools/busybox:1")
    info = json.loads(hull("image", "inspect", f"{registry.addr}/tools/busybox:1").stdout)[0]
    assert info["RepoDigests"] == [f"{registry.addr}/tools/busybox@{digest}"]
    # a second name for the same content downloads nothing
    skopeo_push(f"docker-archive:{archive}", f"{registry.addr}/tools/other:1")
    assert "Pull complete" not in hull("pull", f"{registry.addr}/tools/other:1").stdout
    # by digest; -q prints only the name
    p = hull("pull", "-q", f"{registry.addr}/tools/busybox@{digest}")
    assert p.stdout == f"{registry.addr}/tools/busybox@{digest}\n"


def test_push_is_read_by_skopeo_and_mounts_across_repositories(registry, archive, hull, tmp_path):
    hull("load", "-i", archive)
    name = f"{registry.addr}/pushed/busybox:v1"
    hull("tag", "busybox", name)
    out = hull("push", name).stdout
    assert out.count(": Pushed") == 1, out  # the layer; the config goes up unlisted, as docker's
    # skopeo reads back the same manifest, byte for byte (same digest) ...
    info = json.loads(hull("image", "inspect", name).stdout)[0]
    digest = info["RepoDigests"][0].split("@")[1]
    assert skopeo_digest(name) == digest and f"digest: {digest}" in out
    # ... and the same image: through a docker-archive into another store, the same image ID
    copy = tmp_path / "copy.tar"
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{name}",
                    f"docker-archive:{copy}:busybox:copy"], check=True, capture_output=True)
    other = Hull(tmp_path / "other")
    other("load", "-i", copy)
    assert json.loads(other("image", "inspect", "busybox:copy").stdout)[0]["Id"] == info["Id"]
    # another repository of the same registry: the blobs are mounted, not sent again
    second = f"{registry.addr}/second/busybox:v1"
    hull("tag", name, second)
    out = hull("push", second).stdout
    assert out.count("Mounted from pushed/busybox") == 1 and "Pushed" not in out, out
    for blob in json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{second}"],
                                          check=True, capture_output=True, text=True).stdout)["layers"]:
        req = urllib.request.Request(f"http://{registry.addr}/v2/second/busybox/blobs/{blob['digest']}", method="HEAD")
        assert urllib.request.urlopen(req, timeout=5).status == 200
    # a push of what is there sends nothing
    assert hull("push", second).stdout.count("Layer already exists") == 1
    # a name without a registry part goes to docker.io: refused here before any traffic
    p = hull("push", "no-such-image:1", check=False)
    assert p.returncode == 1 and "No such image" in p.stderr


def oci_index_layout(tmp_path, archive) -> str:
    """An OCI layout whose tag names an image index of two platforms (linux/amd64 and linux/arm64,
    distinguishable by a file in their own top layer)."""
    layout = tmp_path / "multi"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    with tarfile.open(archive) as t:
        manifest = json.load(t.extractfile("manifest.json"))[0]
        base = t.extractfile(manifest["Layers"][0]).read()
    manifests = []
    for arch in ("arm64", "amd64"):
        top = tar_bytes([("etc/arch", f"{arch}\n".encode())])
        layers = [put(base), put(top)]
        config = put(json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
                                 "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode())
        m = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **l}
                                       for l in layers]}).encode())
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **m,
                          "platform": {"architecture": arch, "os": "linux"}})
    index = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": manifests}).encode())
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", **index,
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
    return str(layout)


def test_multi_arch_index_resolves_to_amd64(registry, archive, hull, tmp_path):
    layout = oci_index_layout(tmp_path, archive)
    skopeo_push(f"oci:{layout}:multi", f"{registry.addr}/multi:latest", "--all")
    hull("pull", f"{registry.addr}/multi")
    top = lower_dir(hull, f"{registry.addr}/multi").split(":")[0]
    assert open(os.path.join(top, "etc", "arch")).read() == "amd64\n"
    p = hull("pull", "--platform", "linux/s390x", f"{registry.addr}/multi", check=False)
    assert p.returncode == 1 and "no image for platform linux/s390x" in p.stderr
    assert "linux/amd64" in p.stderr and "linux/arm64" in p.stderr


def test_progress_bar_on_a_terminal(registry, archive, hull):
    skopeo_push(f"docker-archive:{archive}", f"{registry.addr}/tools/tty:1")
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        argv = hull_cmd() + [f"--root={hull.root}", f"--config={hull.config}", "pull", f"{registry.addr}/tools/tty:1"]
        os.execv(argv[0], argv)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out
    text = out.decode()
    assert "Downloading [" in text and "\r\x1b[K" in text and "Pull complete" in text, text


def test_pull_failures_are_clear_and_leave_nothing(registry, hull):
    p = hull("pull", f"{registry.addr}/does/not/exist", check=False)
    assert p.returncode == 1 and "not found" in p.stderr
    down = free_port()
    p = hull("pull", f"127.0.0.1:{down}/busybox", check=False)
    assert p.returncode == 1 and "cannot reach registry" in p.stderr
    p = hull("pull", "127.0.0.1:5000/Bad", check=False)
    assert p.returncode == 1 and "invalid reference format" in p.stderr
    nothing_left(hull)


def corrupt(path: str, how: str) -> bytes:
    """Damage a file in the registry's storage; returns the original bytes."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        if how == "truncate":
            f.write(data[:len(data) // 2])
        elif how == "flip":
            f.write(data[:100] + bytes([data[100] ^ 1]) + data[101:])
        else:  # "respace": still JSON, another digest
            f.write(data.replace(b'"schemaVersion": 2', b'"schemaVersion":  2').replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
    return data


@pytest.mark.parametrize("what,how,words", [
    ("layer", "truncate", "does not match its digest"),
    ("layer", "flip", "does not match its digest"),
    ("manifest", "respace", "content has digest"),
])
def test_a_registry_serving_bad_content_is_caught(registry, hull, tmp_path, what, how, words):
    seed = Hull(tmp_path / "seed")
    seed("import", "-c", 'CMD ["sh"]', _rootfs_tar(tmp_path, how), f"{registry.addr}/bad/{how}:1")
    seed("push", f"{registry.addr}/bad/{how}:1")
    manifest = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                                          f"docker://{registry.addr}/bad/{how}:1"],
                                         check=True, capture_output=True).stdout)
    digest = manifest["layers"][0]["digest"] if what == "layer" else skopeo_digest(f"{registry.addr}/bad/{how}:1")
    corrupt(registry.blob_file(digest), how)
    p = hull("pull", f"{registry.addr}/bad/{how}:1", check=False)
    assert p.returncode == 1 and words in p.stderr, p.stderr
    assert not os.path.exists(hull.store / "blobs" / "sha256" / digest[7:])
    nothing_left(hull)


def _rootfs_tar(tmp_path, salt: str) -> str:
    """A small rootfs tar whose content (and so every digest) differs per salt."""
    path = tmp_path / f"{salt}.tar"
    path.write_bytes(tar_bytes([("etc/salt", (salt * 2000).encode())]))
    return str(path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_pull_leaves_no_blob_under_its_final_name(registry, hull, tmp_path, big_tar, sig):
    seed = Hull(tmp_path / "seed")
    name = f"{registry.addr}/big/{sig.name.lower()}:1"
    seed("import", big_tar, name)
    seed("push", name)
    layer = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{name}"],
                                      check=True, capture_output=True, text=True).stdout)["layers"][0]["digest"]
    proc = subprocess.Popen(hull_cmd() + [f"--root={hull.root}", f"--config={hull.config}", "pull", name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tmp = hull.store / "tmp"
    for _ in range(2000):  # until the big blob is on its way
        if any(f.startswith("blob-") and _size(tmp / f) > 0 for f in _ls(tmp)) or proc.poll() is not None:
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the pull ended before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == (130 if sig == signal.SIGINT else -9), err
    assert not os.path.exists(hull.store / "blobs" / "sha256" / layer[7:])
    assert hull("images", "-q").stdout == ""
    if sig == signal.SIGINT:
        assert os.listdir(tmp) == []  # Ctrl-C cleans up; after a SIGKILL, prune does
    # the store is still good: the pull runs again, and prune removes what the kill left
    hull("pull", name)
    assert os.path.getsize(os.path.join(lower_dir(hull, name), "data", "chunk2")) == 16 << 20
    hull("rmi", name)
    nothing_left(hull)


def _ls(d):
    try:
        return os.listdir(d)
    except FileNotFoundError:
        return []


def _size(path) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0  # a small blob, renamed into place between the listing and now


def test_disk_full_leaves_a_consistent_store(registry, archive, tmp_path, big_tar):
    root = tmp_path / "small"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(root)], check=True)
    try:
        seed = Hull(tmp_path / "seed")
        name = f"{registry.addr}/big/full:1"
        seed("import", big_tar, name)
        seed("push", name)
        hull = Hull(root, tmp_path / "config")
        p = hull("pull", name, check=False)
        assert p.returncode == 1 and "No space left on device" in p.stderr, p.stderr
        nothing_left(hull)
        # and the store still works: a small image fits
        skopeo_push(f"docker-archive:{archive}", f"{registry.addr}/tools/small:1")
        hull("pull", f"{registry.addr}/tools/small:1")
        hull("rmi", f"{registry.addr}/tools/small:1")
        nothing_left(hull)
    finally:
        subprocess.run(["umount", str(root)], check=True)


def test_login_basic_auth_then_pull_push_logout(tmp_path, archive, hull):
    server = RegistryServer(tmp_path, basic_auth(htpasswd(tmp_path / "htpasswd", "hull", "secret")))
    try:
        skopeo_push(f"docker-archive:{archive}", f"{server.addr}/private:1", "--dest-creds", "hull:secret")
        p = hull("pull", f"{server.addr}/private:1", check=False)
        assert p.returncode == 1 and "401" in p.stderr and "hull login" in p.stderr, p.stderr
        p = hull("login", "-u", "hull", "--password-stdin", server.addr, input="wrong\n", check=False)
        assert p.returncode == 1 and "401" in p.stderr
        assert not os.path.exists(tmp_path / "config" / "config.json")
        assert hull("login", "-u", "hull", "--password-stdin", server.addr, input="secret\n").stdout == "Login Succeeded\n"
        assert stat.S_IMODE(os.stat(tmp_path / "config" / "config.json").st_mode) == 0o600
        assert stat.S_IMODE(os.stat(tmp_path / "config").st_mode) == 0o700
        hull("pull", f"{server.addr}/private:1")
        hull("tag", f"{server.addr}/private:1", f"{server.addr}/private:2")
        hull("push", f"{server.addr}/private:2")
        assert skopeo_digest(f"{server.addr}/private:2", "--creds", "hull:secret")
        assert hull("logout", server.addr).stdout == f"Removing login credentials for {server.addr}\n"
        assert hull("logout", server.addr).stdout == f"Not logged in to {server.addr}\n"
        p = hull("pull", f"{server.addr}/private:2", check=False)
        assert p.returncode == 1 and "401" in p.stderr
    finally:
        server.stop()


def test_bearer_tokens_from_a_token_service(tmp_path, archive, hull):
    tokens = TokenServer(tmp_path, "hull", "secret")
    server = RegistryServer(tmp_path, tokens.auth_yaml())
    try:
        skopeo_push(f"docker-archive:{archive}", f"{server.addr}/team/app:1", "--dest-creds", "hull:secret")
        # anonymous: the token service hands out a token that grants nothing
        p = hull("pull", f"{server.addr}/team/app:1", check=False)
        assert p.returncode == 1 and "401" in p.stderr and "hull login" in p.stderr, p.stderr
        hull("login", "-u", "hull", "--password-stdin", server.addr, input="secret\n")
        hull("pull", f"{server.addr}/team/app:1")
        hull("tag", f"{server.addr}/team/app:1", f"{server.addr}/team/copy:1")
        out = hull("push", f"{server.addr}/team/copy:1").stdout
        assert out.count("Mounted from team/app") == 1, out
        # the mount asked for push on the target and pull on the source, in one token
        assert (True, ["repository:team/copy:pull,push", "repository:team/app:pull"]) in tokens.scopes
        assert skopeo_digest(f"{server.addr}/team/copy:1", "--creds", "hull:secret") == \
            skopeo_digest(f"{server.addr}/team/app:1", "--creds", "hull:secret")
    finally:
        server.stop()
        tokens.stop()


def test_bad_login_and_config(hull, tmp_path):
    p = hull("login", "--password-stdin", "127.0.0.1:1", input="x\n", check=False)
    assert p.returncode == 1 and "--username" in p.stderr
    p = hull("login", "-u", "a", "-p", "b", "--password-stdin", "127.0.0.1:1", input="x\n", check=False)
    assert p.returncode == 1 and "mutually exclusive" in p.stderr
    os.makedirs(hull.config)
    with open(os.path.join(hull.config, "config.json"), "w") as f:
        f.write("{not json")
    p = hull("pull", "127.0.0.1:1/x", check=False)
    assert p.returncode == 1 and "config.json: not JSON" in p.stderr
