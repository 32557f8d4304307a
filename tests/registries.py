"""Real registries for the tests and the bench: Debian's docker-registry (the CNCF distribution)
on 127.0.0.1 with a temporary config — open, htpasswd basic auth, or bearer tokens from a small
token service run here (JWTs signed with openssl, as a real auth server would sign them)."""
import base64
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import warnings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(host: str, port: int, proc=None) -> None:
    for _ in range(200):  # bounded wait for the listener
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def htpasswd(path, user: str, password: str) -> str:
    """An htpasswd file with a bcrypt hash (the registry takes only bcrypt; libcrypt makes it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    with open(path, "w") as f:
        f.write(f"{user}:" + crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH)) + "\n")
    return str(path)


class RegistryServer:
    """docker-registry serving work/data. auth: "" (open), a YAML `auth:` block, or None."""

    def __init__(self, work, auth: str = "", host: str = "127.0.0.1", tls: tuple | None = None, netns=None,
                 port: int = 0):
        """tls: (certificate, key) files; netns: a network namespace path to serve in (then host/port)."""
        self.port = port or free_port()
        self.host, self.addr, self.work = host, f"{host}:{self.port}", work
        tls_yaml = f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else ""
        config = os.path.join(work, f"config-{self.port}.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {work}/data-{self.port}\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.addr}\n{tls_yaml}{auth}")
        prefix = ["nsenter", f"--net={netns}"] if netns else []
        self.proc = subprocess.Popen(prefix + ["docker-registry", "serve", config], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(work, f"registry-{self.port}.log"), "w"))
        try:
            if netns is None:
                wait_listening(host, self.port, self.proc)
            else:
                subprocess.run(prefix + ["python3", "-c", f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r});"
                                         f"import registries; registries.wait_listening({host!r}, {self.port})"],
                               check=True, timeout=30)
        except BaseException:
            self.stop()
            raise

    def blob_file(self, digest: str) -> str:
        """Where the registry keeps a blob's bytes (tests corrupt it to play a bad registry)."""
        hexpart = digest.removeprefix("sha256:")
        return os.path.join(self.work, f"data-{self.port}", "docker", "registry", "v2", "blobs", "sha256", hexpart[:2],
                            hexpart, "data")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def basic_auth(htpasswd_path: str) -> str:
    return f"auth:\n  htpasswd:\n    realm: hull-test\n    path: {htpasswd_path}\n"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A bearer token service for docker-registry's `auth: token`: GET /token?service=&scope=... with
    Basic credentials gets a JWT granting the asked actions; anonymous gets one granting none.
    `scopes` records what each request asked for."""

    SERVICE, ISSUER = "hull-test-registry", "hull-test-issuer"

    def __init__(self, work, user: str, password: str):
        self.key, self.cert = os.path.join(work, "token.key"), os.path.join(work, "token.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                        "-out", self.cert, "-days", "2", "-subj", "/CN=hull-test-token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.secret = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.user, self.scopes = user, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                scopes = query.get("scope", [])
                authorized = self.headers.get("Authorization") == server.secret
                if self.headers.get("Authorization") and not authorized:
                    self.send_response(401)
                    self.end_headers()
                    return
                server.scopes.append((authorized, scopes))
                body = json.dumps({"token": server.token(scopes if authorized else [])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, scopes: list) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")[0], ":".join(scope.split(":")[1:-1]), scope.split(":")[-1]
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = _b64url(json.dumps({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}).encode())
        claims = _b64url(json.dumps({"iss": self.ISSUER, "sub": self.user, "aud": self.SERVICE,
                                     "exp": now + 3600, "nbf": now - 600, "iat": now,
                                     "jti": base64.b32encode(os.urandom(10)).decode(), "access": access}).encode())
        signed = f"{header}.{claims}".encode()
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signed,
                                   check=True, capture_output=True).stdout
        return f"{header}.{claims}.{_b64url(signature)}"

    def auth_yaml(self) -> str:
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {self.SERVICE}\n"
                f"    issuer: {self.ISSUER}\n    rootcertbundle: {self.cert}\n")

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
