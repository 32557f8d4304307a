"""hull's client configuration: registry credentials and insecure registries.

    CONFIG_DIR/config.json  (CONFIG_DIR: --config, else $HULL_CONFIG, else ~/.hull; docker's is ~/.docker)
    {"auths": {"localhost:5000": {"auth": "base64(user:password)"}},
     "insecure-registries": ["registry.lab:5000"]}

The file holds passwords (base64 is not encryption, as in docker's config.json), so it is written
0600 in a 0700 directory, replaced atomically, and only `hull login` / `hull logout` write it.
"""
import base64
import os
import tempfile

from runtime import fastjson as json
from runtime.errors import InvalidArgument


def login_server(text: str | None) -> str:
    """A login server as the domain image references use: docker.io for Docker Hub's spellings."""
    if not text:
        return "docker.io"
    host = text.split("://", 1)[-1].split("/", 1)[0]
    if host in ("index.docker.io", "registry-1.docker.io", "docker.io"):
        return "docker.io"
    if not host or host != host.lower():
        raise InvalidArgument(f"invalid registry {text!r}")
    return host


def default_dir() -> str:
    return os.environ.get("HULL_CONFIG") or os.path.join(os.path.expanduser("~"), ".hull")


class Config:
    def __init__(self, directory: str | None = None):
        self.dir = directory or default_dir()
        self.path = os.path.join(self.dir, "config.json")
        try:
            with open(self.path, "rb") as f:
                self.data = json.load(f)
        except FileNotFoundError:
            self.data = {}
        except ValueError as e:
            raise InvalidArgument(f"{self.path}: not JSON: {e}") from None
        if not isinstance(self.data, dict):
            raise InvalidArgument(f"{self.path}: not a JSON object")

    def credentials(self, domain: str) -> tuple | None:
        entry = (self.data.get("auths") or {}).get(domain)
        if not entry:
            return None
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument(f"{self.path}: the entry for {domain} is malformed (hull login again)") from None
        return user, password

    def insecure(self, domain: str) -> bool:
        return domain in (self.data.get("insecure-registries") or [])

    def set_credentials(self, domain: str, user: str, password: str) -> None:
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.data.setdefault("auths", {})[domain] = {"auth": auth}
        self._save()

    def remove_credentials(self, domain: str) -> bool:
        if domain not in (self.data.get("auths") or {}):
            return False
        del self.data["auths"][domain]
        self._save()
        return True

    def _save(self) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".config-")  # mkstemp files are 0600
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.data, f, indent=2)
            os.rename(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
