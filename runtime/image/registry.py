"""A registry client (OCI distribution / Docker Registry HTTP API v2) for `hull pull`.

    GET /v2/NAME/manifests/REF   an image manifest, or an index / manifest list to choose from
    GET /v2/NAME/blobs/DIGEST    configs and layers, verified against their digest

Auth: a 401 names its scheme in WWW-Authenticate. Bearer: ask the realm for a token for the scope
(with the user's credentials if any, anonymously otherwise) and retry; Basic: send the credentials.
Like docker, registries on localhost and 127.0.0.0/8 are spoken to over plain HTTP, others over
HTTPS. Transient failures (connection errors, 5xx, 429) are retried a few times.
"""
import base64
import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from runtime import fastjson as json
from runtime.errors import HullError, NotFound
from runtime.image.reference import Reference

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
ACCEPT = ", ".join(MANIFEST_TYPES + INDEX_TYPES)
RETRIES = 3


class RegistryError(HullError):
    """The registry is unreachable, refused us, or sent something that does not verify."""


def is_plain_http(domain: str) -> bool:
    host = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain[1:domain.index("]")]
    return host == "localhost" or host.startswith("127.") or host == "::1"


class Registry:
    def __init__(self, domain: str, credentials: tuple | None = None):
        host = "registry-1.docker.io" if domain == "docker.io" else domain
        self.base = ("http://" if is_plain_http(domain) else "https://") + host
        self.domain, self.credentials, self.token = domain, credentials, None

    # -- HTTP -------------------------------------------------------------------------------------------
    def _open(self, path: str, accept: str = "", scope: str = ""):
        """GET base+path, authenticating on a 401 and retrying transient failures."""
        url = self.base + path
        for attempt in range(RETRIES):
            headers = {"Accept": accept} if accept else {}
            if self.token:
                headers["Authorization"] = self.token
            try:
                return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30)
            except urllib.error.HTTPError as e:
                if e.code == 401 and not (self.token and attempt):
                    self._authenticate(e.headers.get("WWW-Authenticate", ""), scope)
                    continue
                if e.code == 404:
                    raise NotFound(f"{self.domain}{path}: not found") from None
                if e.code in (429, 500, 502, 503, 504) and attempt < RETRIES - 1:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                detail = e.read(2000).decode(errors="replace").strip()
                raise RegistryError(f"{self.domain}: {e.code} {e.reason} for {path}"
                                    + (f": {detail}" if detail else "")) from None
            except (urllib.error.URLError, OSError) as e:
                if attempt < RETRIES - 1:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                reason = getattr(e, "reason", e)
                raise RegistryError(f"cannot reach registry {self.domain} ({self.base}): {reason}") from None
        raise RegistryError(f"{self.domain}: authentication failed for {path}"
                            + ("" if self.credentials else " (no credentials: hull login?)"))

    def _authenticate(self, challenge: str, scope: str) -> None:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if not self.credentials:
                raise RegistryError(f"{self.domain}: 401 Unauthorized: the registry wants a user and "
                                    "password (hull login)")
            self.token = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            return
        if scheme.lower() != "bearer":
            raise RegistryError(f"{self.domain}: unsupported authentication {challenge!r}")
        fields = _parse_challenge(params)
        if "realm" not in fields:
            raise RegistryError(f"{self.domain}: bearer challenge without a realm")
        query = {k: v for k, v in (("service", fields.get("service")), ("scope", fields.get("scope") or scope)) if v}
        req = urllib.request.Request(fields["realm"] + "?" + urllib.parse.urlencode(query))
        if self.credentials:
            req.add_header("Authorization", "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                body = json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise RegistryError(f"{self.domain}: token from {fields['realm']} failed: {getattr(e, 'reason', e)}") from None
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"{self.domain}: the token service gave no token")
        self.token = "Bearer " + token

    # -- content ------------------------------------------------------------------------------------------
    def manifest(self, repo: str, reference: str) -> tuple:
        """(bytes, media type, digest) of a manifest; a digest reference is verified."""
        with self._open(f"/v2/{repo}/manifests/{reference}", ACCEPT, f"repository:{repo}:pull") as r:
            data = r.read()
            media_type = r.headers.get("Content-Type", "").split(";")[0].strip()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"manifest {reference} from {self.domain} has digest {digest}")
        if not media_type or media_type in ("application/json", "text/plain"):
            try:
                media_type = json.loads(data).get("mediaType", "")
            except (ValueError, AttributeError):
                pass
        return data, media_type, digest

    def blob(self, repo: str, digest: str, tmp_dir: str, progress=None) -> str:
        """Download a blob into a temporary file in tmp_dir and verify it; returns the file's path
        (the caller moves it into the store). A failed or interrupted download leaves nothing."""
        fd, path = tempfile.mkstemp(dir=tmp_dir, prefix="blob-")
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, self._open(f"/v2/{repo}/blobs/{digest}", "", f"repository:{repo}:pull") as r:
                total = int(r.headers.get("Content-Length") or 0)
                done = 0
                while chunk := r.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(digest, done, total)
            if "sha256:" + h.hexdigest() != digest:
                raise RegistryError(f"blob {digest} from {self.domain} does not match its digest")
            return path
        except BaseException:
            os.unlink(path)
            raise


def _parse_challenge(params: str) -> dict:
    """realm="...",service="...",scope="..." -> dict (quoted values may hold commas)."""
    import re
    return dict(re.findall(r'(\w+)="([^"]*)"', params))


def choose_platform(index: dict, platform: str) -> dict:
    """The manifest descriptor for os/arch[/variant] from an image index or manifest list."""
    parts = platform.split("/")
    want_os, want_arch = parts[0], parts[1] if len(parts) > 1 else ""
    want_variant = parts[2] if len(parts) > 2 else None
    for desc in index.get("manifests") or []:
        p = desc.get("platform") or {}
        if p.get("os") == want_os and p.get("architecture") == want_arch and \
                (want_variant is None or p.get("variant") == want_variant):
            return desc
    have = sorted({f"{(d.get('platform') or {}).get('os')}/{(d.get('platform') or {}).get('architecture')}"
                   for d in index.get("manifests") or []})
    raise NotFound(f"no image for platform {platform} (the index has {', '.join(have) or 'none'})")


def pull(store, ref: Reference, platform: str = "linux/amd64", credentials=None, say=print) -> dict:
    """Fetch ref into the store and name it; returns the manifest descriptor."""
    from runtime.image import archive
    from runtime.image.store import ImageError
    reg = Registry(ref.domain, credentials)
    data, media_type, digest = reg.manifest(ref.path, ref.digest or ref.tag)
    if media_type in INDEX_TYPES:
        chosen = choose_platform(json.loads(data), platform)
        data, media_type, digest = reg.manifest(ref.path, chosen["digest"])
    if media_type not in MANIFEST_TYPES:
        raise ImageError(f"{ref}: unsupported manifest type {media_type!r}")
    try:
        manifest = json.loads(data)
        config_desc, layers = manifest["config"], manifest["layers"]
    except (ValueError, KeyError, TypeError):
        raise ImageError(f"{ref}: malformed manifest") from None
    tmp = os.path.join(store.root, "tmp")
    for desc in [config_desc] + layers:
        if store.has_blob(desc["digest"]):
            say(f"{desc['digest'][7:19]}: Already exists")
            continue
        path = reg.blob(ref.path, desc["digest"], tmp)  # checked against its digest as it arrived
        store.put_file(path, desc["digest"], move=True, verified=True)
        say(f"{desc['digest'][7:19]}: Pull complete")
    store.put_bytes(data, digest)
    desc = {"mediaType": media_type, "digest": digest, "size": len(data)}
    archive.verify_and_tag(store, desc, ref)
    say(f"Digest: {digest}")
    return desc
