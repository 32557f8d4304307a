"""`hull pull` against a real registry (Debian's docker-registry, the CNCF distribution) started on
127.0.0.1 by the tests, with skopeo as the independent client that pushes: plain images, a
multi-arch index resolved to linux/amd64, and the failures (unknown image, registry down, 401)."""
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
import urllib.request
import warnings

import pytest

from helpers import hull_cmd

pytestmark = pytest.mark.root
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegistryServer:
    def __init__(self, work, htpasswd: str | None = None):
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        auth = f"auth:\n  htpasswd:\n    realm: hull-test\n    path: {htpasswd}\n" if htpasswd else ""
        config = work / "config.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                          f"    rootdirectory: {work}/data\nhttp:\n  addr: {self.addr}\n{auth}")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):  # bounded wait for the listener
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


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


@pytest.fixture
def hull(tmp_path):
    def run(*args, check=True):
        p = subprocess.run(hull_cmd() + [f"--root={tmp_path}/hull"] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=120)
        if check:
            assert p.returncode == 0, p.stderr
        return p
    run.store = tmp_path / "hull" / "images"
    return run


def skopeo_push(src: str, dest: str, *extra):
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", *extra, src, f"docker://{dest}"],
                   check=True, capture_output=True)


def test_pull_what_skopeo_pushed(registry, archive, hull):
    skopeo_push(f"docker-archive:{archive}", f"{registry.addr}/tools/busybox:1")
    out = hull("pull", f"{registry.addr}/tools/busybox:1").stdout
    assert "Pull complete" in out and out.strip().endswith(f"Downloaded {registry.addr}/tools/busybox:1")
    info = json.loads(hull("image", "inspect", f"{registry.addr}/tools/busybox:1").stdout)[0]
    lower = info["GraphDriver"]["Data"]["LowerDir"]
    assert os.path.isfile(os.path.join(lower, "bin", "busybox"))
    # the digest hull recorded is the registry's (what skopeo reports)
    digest = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{registry.addr}/tools/busybox:1"],
                                       check=True, capture_output=True, text=True).stdout)["Digest"]
    assert info["RepoDigests"] == [f"{registry.addr}/tools/busybox@{digest}"]
    # a second name for the same content downloads nothing
    skopeo_push(f"docker-archive:{archive}", f"{registry.addr}/tools/other:1")
    assert "Pull complete" not in hull("pull", f"{registry.addr}/tools/other:1").stdout
    # by digest
    hull("pull", f"{registry.addr}/tools/busybox@{digest}")


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
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = f"{arch}\n".encode()
            info = tarfile.TarInfo("etc/arch")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        top = buf.getvalue()
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
    lower = json.loads(hull("image", "inspect", f"{registry.addr}/multi").stdout)[0]["GraphDriver"]["Data"]["LowerDir"]
    top = lower.split(":")[0]
    assert open(os.path.join(top, "etc", "arch")).read() == "amd64\n"
    p = hull("pull", "--platform", "linux/s390x", f"{registry.addr}/multi", check=False)
    assert p.returncode == 125 and "no image for platform linux/s390x" in p.stderr
    assert "linux/amd64" in p.stderr and "linux/arm64" in p.stderr


def test_pull_failures_are_clear_and_leave_nothing(registry, hull, tmp_path):
    p = hull("pull", f"{registry.addr}/does/not/exist", check=False)
    assert p.returncode == 125 and "not found" in p.stderr
    down = free_port()
    p = hull("pull", f"127.0.0.1:{down}/busybox", check=False)
    assert p.returncode == 125 and "cannot reach registry" in p.stderr
    p = hull("pull", "127.0.0.1:5000/Bad", check=False)
    assert p.returncode == 125 and "invalid reference format" in p.stderr
    assert hull("images", "-q").stdout.strip() == ""
    assert os.listdir(hull.store / "tmp") == []


def test_401_without_credentials(tmp_path, archive, hull):
    with warnings.catch_warnings():  # the registry's htpasswd wants bcrypt, which libcrypt makes
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("hull:" + crypt.crypt("secret", crypt.mksalt(crypt.METHOD_BLOWFISH)) + "\n")
    server = RegistryServer(tmp_path, str(htpasswd))
    try:
        skopeo_push(f"docker-archive:{archive}", f"{server.addr}/private:1", "--dest-creds", "hull:secret")
        p = hull("pull", f"{server.addr}/private:1", check=False)
        assert p.returncode == 125 and "401" in p.stderr and "hull login" in p.stderr, p.stderr
        # the registry really does hold it: an authenticated client gets the manifest
        req = urllib.request.Request(f"http://{server.addr}/v2/private/manifests/1",
                                     headers={"Authorization": "Basic aHVsbDpzZWNyZXQ="})
        assert urllib.request.urlopen(req, timeout=5).status == 200
    finally:
        server.stop()
