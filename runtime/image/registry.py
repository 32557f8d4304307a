"""A registry client: the OCI distribution API (Docker Registry HTTP API v2) over urllib.

    GET  /v2/                          is it there, and which authentication does it want
    GET  /v2/NAME/manifests/REF        an image manifest, or an index / manifest list to choose from
    GET  /v2/NAME/blobs/DIGEST         configs and layers, verified against their digest
    HEAD /v2/NAME/blobs/DIGEST         does the repository have it (push skips it then)
    POST /v2/NAME/blobs/uploads/       start an upload, or ?mount=DIGEST&from=OTHER to reuse a blob
    PUT  LOCATION?digest=DIGEST        finish an upload with the whole blob
    PUT  /v2/NAME/manifests/TAG        name the image

Auth: a 401 names its scheme in WWW-Authenticate. Bearer: ask the realm for a token for the scopes
(with the user's credentials if any, anonymously otherwise) and retry; Basic: send the credentials.
Like docker, registries on localhost and 127.0.0.0/8 are spoken to over plain HTTP, others over
HTTPS; a registry the user lists as insecure gets HTTPS without verification, else plain HTTP.
Transient failures (connection errors, 5xx, 429) are retried a few times.
"""
import base64
import hashlib
import http.client
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from runtime import fastjson as json, trace
from runtime.errors import HullError, NotFound

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
ACCEPT = ", ".join(MANIFEST_TYPES + INDEX_TYPES)
RETRIES = 3
# seconds without an answer before a registry is given up on (a stopped one would hang us forever)
TIMEOUT = float(os.environ.get("HULL_REGISTRY_TIMEOUT") or 30)
TRANSIENT = (429, 500, 502, 503, 504)


class RegistryError(HullError):
    """The registry is unreachable, refused us, or sent something that does not verify."""


def is_plain_http(domain: str) -> bool:
    host = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain[1:domain.index("]")]
    return host == "localhost" or host.startswith("127.") or host == "::1"


class _RedirectWithoutCredentials(urllib.request.HTTPRedirectHandler):
    """Follow redirects (registries send blobs to storage), but not with our credentials to
    another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


class Registry:
    def __init__(self, domain: str, credentials: tuple | None = None, insecure: bool = False, warn=None):
        """credentials: (user, password) or None; insecure: the user listed this registry as such."""
        self.domain, self.credentials, self.token = domain, credentials, None
        host = "registry-1.docker.io" if domain == "docker.io" else domain
        context = None
        if is_plain_http(domain):
            scheme = "http"
        elif insecure:
            scheme = self._insecure_scheme(host)
            context = ssl._create_unverified_context()
            if warn:
                warn(f"WARNING: {domain} is an insecure registry: {scheme.upper()} without certificate checks")
        else:
            scheme = "https"
        self.base = f"{scheme}://{host}"
        self.opener = urllib.request.build_opener(_RedirectWithoutCredentials,
                                                  urllib.request.HTTPSHandler(context=context))

    @staticmethod
    def _insecure_scheme(host: str) -> str:
        """HTTPS (unverified) if the registry speaks TLS, else plain HTTP — as docker does."""
        try:
            urllib.request.urlopen(f"https://{host}/v2/", timeout=5, context=ssl._create_unverified_context())
        except urllib.error.HTTPError:
            return "https"  # it answered over TLS (a 401 is an answer)
        except (urllib.error.URLError, OSError):
            return "http"
        return "https"

    # -- HTTP -------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, scopes=(), headers=None, body=None, ok=(200,), progress=None):
        """One request (path may be a full URL), authenticating on a 401 and retrying transient
        failures; returns the open response. body: bytes, or a file path opened per attempt (whose
        upload calls progress(done, total))."""
        url = path if "://" in path else self.base + path
        authenticated = False
        for attempt in range(RETRIES + 1):
            h = dict(headers or {})
            if self.token:
                h["Authorization"] = self.token
            data = body
            if isinstance(body, str):
                data = _Upload(body, progress)
                h["Content-Length"] = str(data.total)
            started = time.perf_counter()
            try:
                r = self.opener.open(urllib.request.Request(url, data=data, headers=h, method=method), timeout=TIMEOUT)
                if trace.enabled:
                    trace.emit(f"{method} {url}", str(r.status), started, kind="http")
            except urllib.error.HTTPError as e:
                if trace.enabled:
                    trace.emit(f"{method} {url}", f"{e.code} {e.reason}", started, kind="http")
                if e.code == 401 and not authenticated:
                    self._authenticate(e.headers.get("WWW-Authenticate", ""), scopes)
                    authenticated = True
                    continue
                if e.code in ok:
                    return e  # e.g. 404 asked for by a HEAD that checks existence
                if e.code == 401:
                    raise RegistryError(f"{self.domain}: 401 Unauthorized for {method} {path}"
                                        + ("" if self.credentials else " (no credentials: hull login?)")) from None
                if e.code == 404:
                    raise NotFound(f"{self.domain}{urllib.parse.urlsplit(url).path}: not found") from None
                if e.code in TRANSIENT and attempt < RETRIES:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                detail = e.read(2000).decode(errors="replace").strip()
                raise RegistryError(f"{self.domain}: {e.code} {e.reason} for {method} {urllib.parse.urlsplit(url).path}"
                                    + (f": {detail}" if detail else "")) from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                if isinstance(reason, TimeoutError):
                    raise RegistryError(f"registry {self.domain} did not answer {method} {urllib.parse.urlsplit(url).path} "
                                        f"within {TIMEOUT:g} s (is it stopped or overloaded?)") from None
                if isinstance(reason, ssl.SSLError):
                    raise RegistryError(f"{self.domain}: TLS failed ({reason}); if this registry is "
                                        "yours and speaks plain HTTP, list it in insecure-registries") from None
                if attempt < RETRIES:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise RegistryError(f"cannot reach registry {self.domain} ({self.base}): {reason}") from None
            finally:
                if data is not body:
                    data.close()
            if r.status in ok:
                return r
            r.close()
            raise RegistryError(f"{self.domain}: unexpected {r.status} for {method} {path}")
        raise RegistryError(f"{self.domain}: giving up on {method} {path}")

    def _basic(self) -> str:
        return "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()

    def _authenticate(self, challenge: str, scopes) -> None:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if not self.credentials:
                raise RegistryError(f"{self.domain}: 401 Unauthorized: the registry wants a user and "
                                    "password (hull login)")
            self.token = self._basic()
            return
        if scheme.lower() != "bearer":
            raise RegistryError(f"{self.domain}: unsupported authentication {challenge!r}")
        fields = _parse_challenge(params)
        if "realm" not in fields:
            raise RegistryError(f"{self.domain}: bearer challenge without a realm")
        query = [("service", fields["service"])] if fields.get("service") else []
        query += [("scope", s) for s in (list(scopes) or [fields.get("scope")]) if s]
        if self.credentials:
            query.append(("account", self.credentials[0]))
        req = urllib.request.Request(fields["realm"] + "?" + urllib.parse.urlencode(query))
        if self.credentials:
            req.add_header("Authorization", self._basic())
        try:
            with self.opener.open(req, timeout=TIMEOUT) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RegistryError(f"{self.domain}: the token service {fields['realm']} said {e.code} {e.reason}"
                                + ("" if self.credentials else " (no credentials: hull login?)")) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise RegistryError(f"{self.domain}: token from {fields['realm']} failed: "
                                f"{getattr(e, 'reason', e)}") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise RegistryError(f"{self.domain}: the token service gave no token")
        self.token = "Bearer " + token

    # -- reading ----------------------------------------------------------------------------------------
    def ping(self) -> None:
        """GET /v2/ with the credentials: raises unless the registry accepts them (hull login)."""
        self.request("GET", "/v2/").close()

    def manifest(self, repo: str, reference: str) -> tuple:
        """(bytes, media type, digest) of a manifest; a digest reference is verified."""
        with self.request("GET", f"/v2/{repo}/manifests/{reference}", [f"repository:{repo}:pull"],
                          {"Accept": ACCEPT}) as r:
            data = r.read()
            media_type = r.headers.get("Content-Type", "").split(";")[0].strip()
            claimed = r.headers.get("Docker-Content-Digest", "")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        # by digest, the name is the check; by tag, the digest the registry says it holds
        want = reference if reference.startswith("sha256:") else claimed if claimed.startswith("sha256:") else digest
        if digest != want:
            raise RegistryError(f"manifest {reference} from {self.domain}: content has digest {digest}, "
                                f"expected {want}")
        if not media_type or media_type in ("application/json", "text/plain"):
            try:
                media_type = json.loads(data).get("mediaType", "")
            except (ValueError, AttributeError):
                pass
        return data, media_type, digest

    def blob(self, repo: str, digest: str, tmp_dir: str, progress=None) -> str:
        """Download a blob into a temporary file in tmp_dir and verify it; returns the file's path
        (the caller moves it into the store). A download that breaks off is started again; a
        failed or interrupted one leaves nothing."""
        fd, path = tempfile.mkstemp(dir=tmp_dir, prefix="blob-")
        try:
            with os.fdopen(fd, "wb") as out:
                for attempt in range(RETRIES + 1):
                    out.seek(0)
                    out.truncate()
                    h, done, total = hashlib.sha256(), 0, 0
                    try:
                        with self.request("GET", f"/v2/{repo}/blobs/{digest}", [f"repository:{repo}:pull"]) as r:
                            total = int(r.headers.get("Content-Length") or 0)
                            while chunk := r.read(1 << 20):
                                h.update(chunk)
                                out.write(chunk)
                                done += len(chunk)
                                if progress:
                                    progress(done, total)
                        break
                    except TimeoutError:
                        raise RegistryError(f"blob {digest} from {self.domain}: no data for {TIMEOUT:g} s after "
                                            f"{done} of {total} bytes (is the registry stopped?)") from None
                    except (http.client.HTTPException, ConnectionError) as e:
                        if attempt == RETRIES:
                            raise RegistryError(f"blob {digest} from {self.domain}: the download broke off "
                                                f"after {done} of {total} bytes ({e!r})") from None
                        time.sleep(0.5 * (attempt + 1))
            if "sha256:" + h.hexdigest() != digest:
                raise RegistryError(f"blob {digest} from {self.domain} does not match its digest "
                                    f"({done} bytes received)")
            return path
        except BaseException:
            os.unlink(path)
            raise

    # -- writing ----------------------------------------------------------------------------------------
    def has_blob(self, repo: str, digest: str) -> bool:
        scopes = [f"repository:{repo}:pull,push"]
        with self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scopes, ok=(200, 404)) as r:
            return r.status == 200

    def mount_blob(self, repo: str, digest: str, source: str) -> str | None:
        """Ask the registry to link a blob it holds for repository source into repo (no upload).
        Returns None if it did, else the upload location it opened instead."""
        scopes = [f"repository:{repo}:pull,push", f"repository:{source}:pull"]
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        with self.request("POST", f"/v2/{repo}/blobs/uploads/?{query}", scopes, body=b"", ok=(201, 202)) as r:
            return None if r.status == 201 else self._location(r)

    def upload_blob(self, repo: str, digest: str, path: str, location: str | None = None, progress=None) -> None:
        """Monolithic upload: POST opens a session (unless location is one), PUT sends it all."""
        scopes = [f"repository:{repo}:pull,push"]
        if location is None:
            with self.request("POST", f"/v2/{repo}/blobs/uploads/", scopes, body=b"", ok=(202,)) as r:
                location = self._location(r)
        sep = "&" if "?" in location else "?"
        with self.request("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", scopes,
                          {"Content-Type": "application/octet-stream"}, body=path, ok=(201,), progress=progress):
            pass

    def put_manifest(self, repo: str, tag: str, data: bytes, media_type: str) -> str:
        """Name the manifest tag in repo; returns the digest the registry computed."""
        with self.request("PUT", f"/v2/{repo}/manifests/{tag}", [f"repository:{repo}:pull,push"],
                          {"Content-Type": media_type}, body=data, ok=(201,)) as r:
            return r.headers.get("Docker-Content-Digest", "")

    def _location(self, r) -> str:
        location = r.headers.get("Location")
        if not location:
            raise RegistryError(f"{self.domain}: an upload without a Location")
        return urllib.parse.urljoin(self.base + "/", location)


class _Upload:
    """A file http.client reads in blocks as a request body, reporting how far it got."""

    def __init__(self, path: str, progress=None):
        self.f = open(path, "rb")
        self.total, self.done, self.progress = os.fstat(self.f.fileno()).st_size, 0, progress

    def read(self, n: int = -1) -> bytes:
        chunk = self.f.read(n)
        self.done += len(chunk)
        if self.progress:
            self.progress(self.done, self.total)
        return chunk

    def close(self) -> None:
        self.f.close()


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
