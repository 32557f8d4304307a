"""Registries that are not on loopback: HTTPS by default, plain HTTP or unverified HTTPS only when the
user lists them in insecure-registries (with a warning). The registries listen on 10.254.0.1 inside
a network namespace the test made, and hull runs in it too: no traffic leaves that namespace."""
import json
import os
import subprocess

import pytest

from helpers import Hull
from registries import RegistryServer

pytestmark = pytest.mark.root
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDR = "10.254.0.1"


@pytest.fixture(scope="module")
def netns():
    name = f"hull-reg-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", name, "addr", "add", f"{ADDR}/32", "dev", "lo"], check=True)
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.fixture(scope="module")
def registries(tmp_path_factory, netns, busybox_base):
    """(plain HTTP registry, TLS registry with a self-signed certificate), both holding busybox:1."""
    work = tmp_path_factory.mktemp("insecure")
    cert, key = str(work / "cert.pem"), str(work / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=hull-test", "-addext", f"subjectAltName=IP:{ADDR}"],
                   check=True, capture_output=True)
    plain = RegistryServer(work, host=ADDR, netns=netns)
    try:
        tls = RegistryServer(work, host=ADDR, netns=netns, tls=(cert, key))
    except BaseException:
        plain.stop()
        raise
    try:
        archive = work / "busybox.tar"
        subprocess.run([os.path.join(REPO, "rootfs", "docker-archive.py"), busybox_base[0], str(archive),
                        "busybox:1"], check=True)
        for server in (plain, tls):
            subprocess.run(["nsenter", f"--net={netns}", "skopeo", "copy", "-q", "--dest-tls-verify=false",
                            f"docker-archive:{archive}", f"docker://{server.addr}/busybox:1"],
                           check=True, capture_output=True)
        yield plain, tls
    finally:
        plain.stop()
        tls.stop()


def test_https_by_default_and_insecure_only_when_listed(registries, netns, tmp_path):
    plain, tls = registries
    hull = Hull(tmp_path / "hull", tmp_path / "config", prefix=["nsenter", f"--net={netns}"])
    # not listed: HTTPS with verification, which both refuse, with a hint
    p = hull("pull", f"{plain.addr}/busybox:1", check=False)
    assert p.returncode == 1 and "TLS failed" in p.stderr and "insecure-registries" in p.stderr, p.stderr
    p = hull("pull", f"{tls.addr}/busybox:1", check=False)
    assert p.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in p.stderr, p.stderr
    assert hull("images", "-q").stdout == ""
    # listed: plain HTTP for the one without TLS, unverified HTTPS for the other, each with a warning
    os.makedirs(tmp_path / "config")
    with open(tmp_path / "config" / "config.json", "w") as f:
        json.dump({"insecure-registries": [plain.addr, tls.addr]}, f)
    p = hull("pull", f"{plain.addr}/busybox:1")
    assert f"WARNING: {plain.addr} is an insecure registry: HTTP" in p.stderr
    p = hull("pull", f"{tls.addr}/busybox:1")
    assert f"WARNING: {tls.addr} is an insecure registry: HTTPS without certificate checks" in p.stderr
    # and push goes the same way
    hull("tag", f"{plain.addr}/busybox:1", f"{tls.addr}/pushed:1")
    assert "Pushed" not in hull("push", f"{tls.addr}/pushed:1").stdout  # mounted from busybox
    assert len(hull("images", "-q").stdout.split()) == 1
