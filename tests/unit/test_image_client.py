"""Registry client pieces that need no registry: the credentials file, login server names, the
WWW-Authenticate parser and platform choice from an index."""
import os
import stat

import pytest

from runtime.image.config import login_server as _server
from runtime.errors import InvalidArgument, NotFound
from runtime.image.config import Config
from runtime.image.registry import _parse_challenge, choose_platform, is_plain_http


def test_credentials_round_trip_in_a_private_file(tmp_path):
    c = Config(str(tmp_path / "cfg"))
    assert c.credentials("localhost:5000") is None
    c.set_credentials("localhost:5000", "me", "pa:ss")  # a colon in the password survives
    assert stat.S_IMODE(os.stat(tmp_path / "cfg").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "cfg" / "config.json").st_mode) == 0o600
    assert Config(str(tmp_path / "cfg")).credentials("localhost:5000") == ("me", "pa:ss")
    assert Config(str(tmp_path / "cfg")).remove_credentials("localhost:5000")
    assert not Config(str(tmp_path / "cfg")).remove_credentials("localhost:5000")
    assert os.listdir(tmp_path / "cfg") == ["config.json"]  # no temporary files left


def test_malformed_config(tmp_path):
    (tmp_path / "config.json").write_text('{"auths": {"r": {"auth": 5}}, "insecure-registries": ["r"]}')
    c = Config(str(tmp_path))
    assert c.insecure("r") and not c.insecure("s")
    with pytest.raises(InvalidArgument, match="malformed"):
        c.credentials("r")
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(InvalidArgument, match="not a JSON object"):
        Config(str(tmp_path))


@pytest.mark.parametrize("text,domain", [
    (None, "docker.io"), ("https://index.docker.io/v1/", "docker.io"), ("registry-1.docker.io", "docker.io"),
    ("localhost:5000", "localhost:5000"), ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
])
def test_login_server_names(text, domain):
    assert _server(text) == domain


def test_challenge_and_plain_http():
    fields = _parse_challenge('realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"')
    assert fields == {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"}
    assert is_plain_http("localhost:5000") and is_plain_http("127.1.2.3") and is_plain_http("[::1]:5000")
    assert not is_plain_http("10.0.0.1:5000") and not is_plain_http("docker.io")


def test_choose_platform():
    index = {"manifests": [
        {"digest": "a", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"digest": "b", "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
        {"digest": "c", "platform": {"os": "linux", "architecture": "amd64"}}]}
    assert choose_platform(index, "linux/amd64")["digest"] == "c"
    assert choose_platform(index, "linux/arm/v6")["digest"] == "b"
    assert choose_platform(index, "linux/arm")["digest"] == "a"
    with pytest.raises(NotFound, match="linux/amd64, linux/arm"):
        choose_platform(index, "windows/amd64")
