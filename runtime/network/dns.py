"""Names on user networks: a small DNS server of hull's own, run by the shared monitor (which lives
as long as any container does), listening on each user network's gateway address, as aardvark-dns
does for podman. It answers A queries for the names, aliases and short IDs of the containers on
the network the query came in on (TTL 0, so a container started later is found at once), an empty
answer for other record types of those names, and forwards every other query to the host's
resolvers. Why in the monitor: one process already watches every detached container and knows
when networks are in use; a process per network (aardvark) or per container (docker's 127.0.0.11
inside each netns) would add memory and bookkeeping for nothing here.
"""
import socket
import struct
import time

from runtime.network.networks import DEFAULT, Networks

FORWARD_TIMEOUT = 3.0


def parse_query(data: bytes):
    """(id, flags, name, qtype, end of the question) of a one-question query, or None."""
    if len(data) < 12:
        return None
    qid, flags, qdcount = struct.unpack(">HHH", data[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels, i = [], 12
    while i < len(data):
        n = data[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 or i + 1 + n > len(data):
            return None
        labels.append(data[i + 1:i + 1 + n].decode("ascii", errors="replace"))
        i += 1 + n
    if i + 4 > len(data):
        return None
    qtype, _ = struct.unpack(">HH", data[i:i + 4])
    return qid, flags, ".".join(labels).lower(), qtype, i + 4


def answer(data: bytes, parsed, addresses: list) -> bytes:
    """A response to the query with these A records (none: NOERROR with no answer)."""
    qid, flags, _, qtype, end = parsed
    records = addresses if qtype in (1, 255) else []
    header = struct.pack(">HHHHHH", qid, 0x8180 | (flags & 0x0100), 1, len(records), 0, 0)
    body = data[12:end]
    for addr in records:
        body += struct.pack(">HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(addr)
    return header + body


def host_resolvers() -> list:
    out = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                words = line.split()
                if len(words) > 1 and words[0] == "nameserver" and ":" not in words[1]:
                    out.append(words[1])
    except OSError:
        pass
    return out


class Resolver:
    """The monitor's DNS: sockets on the gateways of user networks that have live containers."""

    def __init__(self, root: str, selector, alive):
        self.root, self.sel, self.alive = root, selector, alive
        self.sockets = {}   # network name -> (socket, gateway)
        self.pending = {}   # forwarding socket -> (client socket, client address, deadline)
        self.checked = 0.0

    def busy(self) -> bool:
        return bool(self.sockets)

    def refresh(self, force: bool = False) -> None:
        """Serve the user networks with a live endpoint, stop serving the others (at most once a second)."""
        if not force and time.monotonic() - self.checked < 1:
            return
        self.checked = time.monotonic()
        nets = Networks(self.root)
        wanted = {}
        for name in nets.names():
            if name == DEFAULT:
                continue
            try:
                net = nets.load(name)
            except Exception:  # noqa: BLE001 - removed meanwhile
                continue
            if any(self.alive(cid) for cid in net["Endpoints"]):
                wanted[name] = net["Gateway"]
        for name in list(self.sockets):
            if wanted.get(name) != self.sockets[name][1]:
                sock, _ = self.sockets.pop(name)
                self.sel.unregister(sock)
                sock.close()
        for name, gateway in wanted.items():
            if name in self.sockets:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
            try:
                sock.bind((gateway, 53))
            except OSError:
                sock.close()  # the bridge is not up yet: the next refresh tries again
                continue
            self.sockets[name] = (sock, gateway)
            self.sel.register(sock, 1, ("dns", name))

    def on_query(self, sock, name: str) -> None:
        try:
            data, client = sock.recvfrom(4096)
        except BlockingIOError:
            return
        parsed = parse_query(data)
        if parsed is None:
            return
        found = self._lookup(name, parsed[2])
        if found is not None:
            sock.sendto(answer(data, parsed, found), client)
            return
        self._forward(sock, client, data)

    def _lookup(self, network: str, qname: str):
        """Addresses of the live containers on network named qname, or None if none is."""
        try:
            net = Networks(self.root).load(network)
        except Exception:  # noqa: BLE001
            return None
        qname = qname.rstrip(".")
        found = []
        for cid, e in net["Endpoints"].items():
            names = {e["Name"].lower(), cid[:12]} | {a.lower() for a in e.get("Aliases") or []}
            if qname in names and self.alive(cid):
                found.append(e["IPv4Address"])
        return found or None

    def _forward(self, sock, client, data: bytes) -> None:
        servers = host_resolvers()
        if not servers:
            return
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        try:
            out.sendto(data, (servers[0], 53))
        except OSError:
            out.close()
            return
        self.pending[out] = (sock, client, time.monotonic() + FORWARD_TIMEOUT)
        self.sel.register(out, 1, ("dns_reply", None))

    def on_reply(self, out, _) -> None:
        sock, client, _ = self.pending.pop(out)
        try:
            data = out.recv(4096)
            sock.sendto(data, client)
        except OSError:
            pass
        self.sel.unregister(out)
        out.close()

    def expire(self) -> None:
        now = time.monotonic()
        for out, (_, _, deadline) in list(self.pending.items()):
            if deadline < now:
                del self.pending[out]
                self.sel.unregister(out)
                out.close()

    def close(self) -> None:
        for sock, _ in self.sockets.values():
            sock.close()
        for out in self.pending:
            out.close()
