"""Published ports: docker's -p/-P syntax, and holding the host ports while a container runs.

    -p 8080:80   -p 127.0.0.1:8080:80/udp   -p 80 (a free host port)   -p 127.0.0.1::80
    -p 8080-8081:80-81   -P (every port the image EXPOSEs, each on a free host port)

A host port is reserved by binding it (podman's way): the process that watches the container
holds the socket, so nothing else on the host takes the port meanwhile, and a taken one fails
before anything is set up. The packets themselves go through nftables' DNAT, not a proxy.
"""
import socket

from runtime.errors import Conflict, InvalidArgument


def _port_range(text: str, spec: str) -> list:
    lo, dash, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi) if dash else int(lo)
    except ValueError:
        raise InvalidArgument(f"invalid port {text!r} in {spec!r}") from None
    if not (0 < a <= b < 65536):
        raise InvalidArgument(f"invalid port range {text!r} in {spec!r}")
    return list(range(a, b + 1))


def parse(spec: str) -> list:
    """[{proto, host_ip, host_ports (candidates; [0]: any free), container_port}] for one -p."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto {proto!r} in {spec!r}")
    parts = body.rsplit(":", 2)
    if len(parts) == 3:
        host_ip, host, ctr = parts
    elif len(parts) == 2:
        host_ip, (host, ctr) = "", parts
    else:
        host_ip, host, ctr = "", "", parts[0]
    if host_ip:
        try:
            socket.inet_aton(host_ip)
        except OSError:
            raise InvalidArgument(f"invalid IP address {host_ip!r} in {spec!r} (IPv4 only)") from None
    ctr_ports = _port_range(ctr, spec)
    host_ports = _port_range(host, spec) if host else [0] * len(ctr_ports)
    if len(ctr_ports) == 1 and len(host_ports) > 1:  # one container port, a range to choose from
        pairs = [(host_ports, ctr_ports[0])]
    elif len(host_ports) == len(ctr_ports):
        pairs = [([h], c) for h, c in zip(host_ports, ctr_ports)]
    else:
        raise InvalidArgument(f"invalid ranges in {spec!r}: the host and container ranges differ in size")
    return [{"proto": proto, "host_ip": host_ip or "0.0.0.0", "host_ports": h, "container_port": c}
            for h, c in pairs]


def exposed(ports: dict) -> list:
    """-P: the image's (and --expose's) ports, each on a free host port."""
    out = []
    for key in ports or {}:
        port, _, proto = key.partition("/")
        out.append({"proto": proto or "tcp", "host_ip": "0.0.0.0", "host_ports": [0], "container_port": int(port)})
    return out


class Reservation:
    """Bound sockets for the host ports of a container (a port 0 gets the kernel's choice)."""

    def __init__(self):
        self.sockets = []

    def take(self, bindings: list) -> list:
        """The bindings with the host port each got ({..., host_port}); Conflict if one is taken
        (then all are released)."""
        out = []
        try:
            for b in bindings:
                got = {k: v for k, v in b.items() if k != "host_ports"}
                got["host_port"] = self._bind(b)
                out.append(got)
        except BaseException:
            self.release()
            raise
        return out

    def _bind(self, b: dict) -> int:
        kind = socket.SOCK_DGRAM if b["proto"] == "udp" else socket.SOCK_STREAM
        last = None
        for port in b["host_ports"]:
            s = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
            try:
                s.bind((b["host_ip"], port))
            except OSError as e:
                s.close()
                last = e
                continue
            self.sockets.append(s)
            return s.getsockname()[1]
        ports = b["host_ports"]
        shown = ports[0] if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"
        raise Conflict(f"Bind for {b['host_ip']}:{shown} failed: port is already allocated "
                       f"({getattr(last, 'strerror', last)})")

    def release(self) -> None:
        for s in self.sockets:
            s.close()
        self.sockets = []


def to_docker(specs: list) -> dict:
    """Parsed -p bindings as HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}."""
    out = {}
    for b in specs:
        ports = b["host_ports"]
        host = "" if ports == [0] else str(ports[0]) if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"
        out.setdefault(f"{b['container_port']}/{b['proto']}", []).append(
            {"HostIp": "" if b["host_ip"] == "0.0.0.0" else b["host_ip"], "HostPort": host})
    return out


def from_docker(port_bindings: dict) -> list:
    out = []
    for key, entries in (port_bindings or {}).items():
        port, _, proto = key.partition("/")
        for e in entries or [{}]:
            host = e.get("HostPort") or ""
            ports = [0] if not host else _port_range(host, host)
            out.append({"proto": proto or "tcp", "host_ip": e.get("HostIp") or "0.0.0.0", "host_ports": ports,
                        "container_port": int(port)})
    return out


def docker_ports(bindings: list, exposed_ports: dict | None = None) -> dict:
    """NetworkSettings.Ports: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null}."""
    out = {key: None for key in exposed_ports or {}}
    for b in bindings:
        out.setdefault(f"{b['container_port']}/{b['proto']}", [])
        if out[f"{b['container_port']}/{b['proto']}"] is None:
            out[f"{b['container_port']}/{b['proto']}"] = []
        out[f"{b['container_port']}/{b['proto']}"].append({"HostIp": b["host_ip"], "HostPort": str(b["host_port"])})
    return out


def ps_column(bindings: list) -> str:
    """ps's PORTS: 0.0.0.0:8080->80/tcp, docker's order (by container port)."""
    return ", ".join(f"{b['host_ip']}:{b['host_port']}->{b['container_port']}/{b['proto']}"
                     for b in sorted(bindings, key=lambda b: (b["container_port"], b["proto"])))
