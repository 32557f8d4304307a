"""The Docker Engine API's HTTP side: `hull system service` listens on a unix socket (or TCP with
TLS client certificates, or a socket systemd passes), and serves each connection in a thread of its
own with h11 doing the HTTP/1.1: keep-alive, chunked streams, the Upgrade hijack of attach and exec.

Why threads, not asyncio: every engine call blocks (locks, mounts, the monitor's socket), attach and
exec become raw two-way byte streams, and a stream such as `logs -f` or `wait` may block for hours.
A thread per connection keeps each of those as plain sequential code, and none blocks another.

A handler (the modules beside this one) takes a Request and returns one of:
    a dict or list        200 (or Reply's status) with the JSON body
    None                  204
    Reply(status, body)   any status; body is JSON, or bytes with a content type
    Stream(type, produce) 200 with a chunked body: produce(write) writes it as it comes
    Hijack(type, run)     101 UPGRADED, then run(sock, already_read) owns the raw connection
Errors are the kinds of runtime/errors.py: their HTTP status, and docker's {"message": ...}.
"""
import json
import os
import re
import socket
import sys
import threading
import time

from runtime.engine.service.system import API_VERSION, MIN_API_VERSION as MIN_VERSION
FALSY = ("", "0", "no", "false", "none")  # moby's BoolValue
HEAD_TIMEOUT = float(os.environ.get("HULL_API_HEAD_TIMEOUT") or 30)  # seconds for a request line and headers
DEBUG = bool(os.environ.get("HULL_API_DEBUG"))  # each request and its answer on stderr


class Reply:
    def __init__(self, status: int, body=None, content_type: str = "application/json", headers=()):
        self.status, self.body, self.content_type, self.headers = status, body, content_type, list(headers)


class Stream:
    def __init__(self, content_type: str, produce, headers=()):
        self.content_type, self.produce, self.headers = content_type, produce, list(headers)


class Hijack:
    def __init__(self, content_type: str, run, close=None):
        """close: what to let go of if the 101 cannot be sent (the client left)."""
        self.content_type, self.run, self.close = content_type, run, close


class Request:
    """One request: method, path (without its /vN.NN prefix), version, query, headers; the body is
    read on demand (body(), json(), chunks())."""

    def __init__(self, server, conn, sock, event, path: str, query: dict, version: str, params: dict):
        self.server, self.root, self.conn, self.sock = server, server.root, conn, sock
        self.method = event.method.decode()
        self.headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        self.path, self.query, self.version, self.params = path, query, version, params
        self.body_done = False

    # -- the query string, as moby reads it -------------------------------------------------------------
    def arg(self, name: str, default=None):
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.arg(name)
        return default if value is None else value.strip().lower() not in FALSY

    def int(self, name: str, default=None):
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            from runtime.errors import InvalidArgument
            raise InvalidArgument(f"invalid value for {name}: {value!r} is not an integer") from None

    def filters(self) -> dict:
        """filters={"status":["exited"]} (or the older {"status":{"exited":true}}) -> {key: [values]}."""
        text = self.arg("filters")
        if not text:
            return {}
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            return {k: [x for x, on in v.items() if on] if isinstance(v, dict) else [str(x) for x in v]
                    for k, v in raw.items()}
        except (ValueError, TypeError, AttributeError) as e:
            from runtime.errors import InvalidArgument
            raise InvalidArgument(f"invalid filter: {e}") from None

    def at_least(self, version: str) -> bool:
        return _version(self.version) >= _version(version)

    # -- the body ----------------------------------------------------------------------------------------
    def chunks(self):
        """The body as it arrives (a build context is never held whole)."""
        import h11
        if self.body_done:
            return
        while True:
            event = self.server.next_event(self.conn, self.sock)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            else:
                self.body_done = True
                return

    def body(self, limit: int = 64 << 20) -> bytes:
        out = bytearray()
        for chunk in self.chunks():
            out += chunk
            if len(out) > limit:
                from runtime.errors import InvalidArgument
                raise InvalidArgument(f"request body larger than {limit} bytes")
        return bytes(out)

    def json(self, required: bool = False) -> dict:
        """The body as a JSON object ({} when empty, unless required)."""
        from runtime.errors import InvalidArgument
        data = self.body()
        if not data.strip():
            if required:
                raise InvalidArgument("a JSON body is required")
            return {}
        try:
            body = json.loads(data)
        except ValueError as e:
            raise InvalidArgument(f"invalid JSON in the request body: {e}") from None
        if not isinstance(body, dict):
            raise InvalidArgument("the request body must be a JSON object")
        return body

    def gone(self) -> bool:
        """Has the client closed its connection (or half-closed it)? Only for requests whose body
        was read: what waits in the socket then is its end, or the next request."""
        from runtime.linux import poll
        try:
            return bool(poll.readable([self.sock], 0)) and self.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


def _version(text: str) -> tuple:
    return tuple(int(x) for x in text.split("."))


class Server:
    def __init__(self, root: str, routes: list, idle: float = 5):
        self.root, self.idle = root, idle
        self.routes = [(method, re.compile("^" + re.sub(r"{(\w+)(:[^}]+)?}", _group, pattern) + "$"), fn)
                       for method, pattern, fn in routes]
        self.active, self.lock = 0, threading.Lock()
        self.last_active = time.monotonic()
        self.tls = self.config_dir = None

    # -- accepting -------------------------------------------------------------------------------------
    def serve(self, listener: socket.socket) -> None:
        """Until stopped (SIGTERM, SIGINT) or idle for self.idle seconds (0: never)."""
        listener.settimeout(0.5)
        while True:
            try:
                sock, _ = listener.accept()
            except socket.timeout:
                with self.lock:
                    idle = self.active == 0 and time.monotonic() - self.last_active >= self.idle
                if self.idle and idle:
                    return
                continue
            with self.lock:
                self.active += 1
            threading.Thread(target=self._connection, args=(sock,), daemon=True).start()

    def _connection(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(None)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)  # the handshake: client certificate required
            self.handle(sock)
        except (OSError, ValueError):
            pass  # the client left (or failed the TLS handshake)
        finally:
            try:
                sock.close()
            except OSError:
                pass
            with self.lock:
                self.active -= 1
                self.last_active = time.monotonic()

    # -- one connection ------------------------------------------------------------------------------
    @staticmethod
    def next_event(conn, sock):
        import h11
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(sock.recv(65536))

    @staticmethod
    def _read_head(conn, sock):
        """The next request: an idle connection may wait for it as long as it likes (clients keep
        them), but once it has begun, its head must come whole within HEAD_TIMEOUT."""
        import h11
        sock.settimeout(None)
        try:
            while True:
                event = conn.next_event()
                if event is not h11.NEED_DATA:
                    return event
                data = sock.recv(65536)
                sock.settimeout(HEAD_TIMEOUT)
                conn.receive_data(data)
        finally:
            sock.settimeout(None)

    def handle(self, sock: socket.socket) -> None:
        import h11
        conn = h11.Connection(h11.SERVER)
        while True:
            try:
                event = self._read_head(conn, sock)
            except h11.RemoteProtocolError as e:
                self._send(conn, sock, Reply(e.error_status_hint, {"message": f"malformed HTTP request: {e}"}))
                return
            except socket.timeout:  # (h11 answers only a request it has read: this one is written by hand)
                body = json.dumps({"message": f"the request's head did not come within {HEAD_TIMEOUT:g} s"}).encode()
                sock.sendall(b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                return
            if not isinstance(event, h11.Request):
                return  # closed
            req = self._request(conn, sock, event)
            if isinstance(req, Reply):
                reply = req
            else:
                reply = self._call(req)
            if DEBUG:
                sys.stderr.write(f"{event.method.decode()} {event.target.decode('latin-1')} -> "
                                 f"{getattr(reply, 'status', type(reply).__name__)}\n")
            if isinstance(reply, Hijack):
                self._hijack(conn, sock, req, reply)
                return
            try:
                self._send(conn, sock, reply, req if not isinstance(req, Reply) else None)
                if not isinstance(req, Reply):
                    for _ in req.chunks():
                        pass  # what the handler left of the body
                    if conn.states[h11.CLIENT] is h11.PAUSED:
                        return
            except h11.LocalProtocolError:
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    def _request(self, conn, sock, event):
        from urllib.parse import parse_qs, unquote, urlsplit
        target = urlsplit(event.target.decode("latin-1"))
        path, version = unquote(target.path), API_VERSION
        m = re.match(r"^/v(\d+\.\d+)(/.*)$", path)
        if m:
            version, path = m.group(1), m.group(2)
            if _version(version) < _version(MIN_VERSION):
                return Reply(400, {"message": f"client version {version} is too old. Minimum supported API "
                                              f"version is {MIN_VERSION}, please upgrade your client to a newer version"})
            if _version(version) > _version(API_VERSION):
                return Reply(400, {"message": f"client version {version} is too new. Maximum supported API "
                                              f"version is {API_VERSION}"})
        path = path.rstrip("/") or "/"
        query = parse_qs(target.query, keep_blank_values=True)
        method = event.method.decode()
        known = False
        for want, pattern, fn in self.routes:
            m = pattern.match(path)
            if m is None:
                continue
            known = True
            if want == method or (want == "GET" and method == "HEAD" and path == "/_ping"):
                req = Request(self, conn, sock, event, path, query, version, m.groupdict())
                req.handler = fn
                return req
        if known:
            return Reply(405, {"message": f"{method} is not allowed on {path}"})
        return Reply(404, {"message": "page not found"})

    @staticmethod
    def _call(req: Request):
        from runtime.errors import HullError
        try:
            return req.handler(req)
        except HullError as e:
            return Reply(e.status, {"message": e.msg})
        except OSError as e:
            return Reply(500, {"message": f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")})
        except Exception as e:  # noqa: BLE001 - a handler's bug is the client's 500, not the server's end
            sys.stderr.write(f"hull system service: {req.method} {req.path}: {type(e).__name__}: {e}\n")
            return Reply(500, {"message": f"{type(e).__name__}: {e}"})

    @staticmethod
    def _headers(content_type: str | None, extra=()) -> list:
        from runtime import __version__
        out = [("Api-Version", API_VERSION), ("Docker-Experimental", "false"), ("Ostype", "linux"),
               ("Server", f"hull/{__version__} (linux)")]
        if content_type:
            out.append(("Content-Type", content_type))
        return out + list(extra)

    def _send(self, conn, sock, reply, req: Request | None = None) -> None:
        import h11
        head = req is not None and req.method == "HEAD"
        if isinstance(reply, Stream):
            sock.sendall(conn.send(h11.Response(status_code=200, headers=self._headers(reply.content_type, reply.headers),
                                                reason=b"OK")))

            def write(data: bytes) -> None:
                if data:
                    sock.sendall(conn.send(h11.Data(data=data)))
            try:
                reply.produce(write)
            except Exception as e:  # noqa: BLE001 - the status is sent: say it in the stream, as moby does
                from runtime.errors import HullError
                if isinstance(e, OSError) and not isinstance(e, HullError) and req is not None and req.gone():
                    raise
                msg = e.msg if isinstance(e, HullError) else f"{type(e).__name__}: {e}"
                write(json.dumps({"errorDetail": {"message": msg}, "error": msg}).encode() + b"\n")
            sock.sendall(conn.send(h11.EndOfMessage()))
            return
        if reply is None:
            reply = Reply(204)
        elif not isinstance(reply, Reply):
            reply = Reply(200, reply)
        if reply.status in (204, 304) or reply.body is None:
            body = b""
        elif isinstance(reply.body, bytes):
            body = reply.body
        else:
            body = json.dumps(reply.body).encode() + b"\n"
        extra = list(reply.headers)
        if reply.status not in (204, 304):
            extra.append(("Content-Length", str(len(body))))
        ctype = reply.content_type if body else None
        sock.sendall(conn.send(h11.Response(status_code=reply.status, headers=self._headers(ctype, extra),
                                            reason=_reason(reply.status))))
        if body and not head:
            sock.sendall(conn.send(h11.Data(data=body)))
        sock.sendall(conn.send(h11.EndOfMessage()))

    def _hijack(self, conn, sock, req: Request, hijack: Hijack) -> None:
        """attach and exec start: 101 UPGRADED, then the raw connection is the handler's (without
        an Upgrade header, as old clients send: 200, then the same raw stream, then close)."""
        try:
            self._switch(conn, sock, req, hijack)
        finally:
            if hijack.close is not None:
                hijack.close()

    def _switch(self, conn, sock, req: Request, hijack: Hijack) -> None:
        import h11
        for _ in req.chunks():
            pass
        if "upgrade" in req.headers:
            sock.sendall(conn.send(h11.InformationalResponse(
                status_code=101, reason=b"UPGRADED",
                headers=[("Content-Type", hijack.content_type), ("Connection", "Upgrade"), ("Upgrade", "tcp")])))
            already, _ = conn.trailing_data
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + hijack.content_type.encode()
                         + b"\r\nConnection: close\r\n\r\n")  # a close-delimited stream: h11 speaks no such reply
            already = b""
        try:
            hijack.run(sock, bytes(already))
        except OSError:
            pass  # the client went away


def _reason(status: int) -> bytes:
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _group(m) -> str:
    return f"(?P<{m.group(1)}>{m.group(2)[1:] if m.group(2) else '[^/]+'})"


# -- listening -----------------------------------------------------------------------------------------

def listen(host: str, group: str | None = None, tls: dict | None = None):
    """(a listening socket, the TLS context or None) for -H unix://PATH | tcp://HOST:PORT | fd://."""
    from runtime.errors import Conflict, InvalidArgument
    if host.startswith("fd://"):
        if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS") or 0) < 1:
            raise InvalidArgument("-H fd:// needs a socket from systemd (LISTEN_FDS)")
        return socket.socket(fileno=3), None
    if host.startswith("tcp://"):
        if not tls or not all(tls.get(k) for k in ("ca", "cert", "key")):
            raise InvalidArgument("the API on TCP needs --tlsverify --tlscacert --tlscert --tlskey: without them, "
                                  "anyone who can reach the port is root on this host")
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(tls["cert"], tls["key"])
        ctx.load_verify_locations(tls["ca"])
        ctx.verify_mode = ssl.CERT_REQUIRED
        addr = host[len("tcp://"):]
        name, _, port = addr.rpartition(":")
        if not port.isdigit():
            raise InvalidArgument(f"invalid -H {host!r}: tcp://HOST:PORT")
        s = socket.socket(socket.AF_INET6 if ":" in name.strip("[]") else socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((name.strip("[]") or "127.0.0.1", int(port)))
        s.listen(128)
        return s, ctx
    if not host.startswith("unix://"):
        raise InvalidArgument(f"invalid -H {host!r}: unix:///PATH, tcp://HOST:PORT or fd://")
    path = host[len("unix://"):]
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        raise Conflict(f"{path} is already served by another process")
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    finally:
        probe.close()
    if os.path.lexists(path):
        os.unlink(path)  # a stale socket of a service that died
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old = os.umask(0o117)
    try:
        s.bind(path)
    finally:
        os.umask(old)
    gid = 0
    if group:
        import grp
        try:
            gid = grp.getgrnam(group).gr_gid if not group.isdigit() else int(group)
        except KeyError:
            s.close()
            os.unlink(path)
            raise InvalidArgument(f"no such group {group!r}") from None
    os.chown(path, 0, gid)
    os.chmod(path, 0o660)  # access to this socket is root on the host
    s.listen(128)
    return s, None
