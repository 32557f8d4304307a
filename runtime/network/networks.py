"""Networks and their address leases, on disk under the hull root:

    ROOT/networks/NAME.json   the network: Id, subnet, gateway, bridge, Internal, Labels, and its
                              endpoints {container ID: name, aliases, address, MAC} (+ the last
                              address handed out)
    ROOT/networks/lock        flock'ed around every change, so parallel `hull run`s get distinct
                              addresses (podman's way: one small database, one lock)

`bridge` is the default network, made on first use on a subnet that does not collide with the
host's routes (docker's pool: 172.17.0.0/16, 172.18 ... 172.31, then 192.168.N.0/20). Names of
links follow the root (hull0 for the default one), so two hulls never share a bridge.
"""
import fcntl
import ipaddress
import os
import zlib

from runtime import fastjson as json
from runtime.clock import now_rfc3339
from runtime.files import write_atomic
from runtime.errors import Conflict, InvalidArgument, NotFound

DEFAULT = "bridge"
BUILTIN = ("bridge", "host", "none")
POOL = [f"172.{n}.0.0/16" for n in range(17, 32)] + [f"192.168.{n}.0/20" for n in range(0, 256, 16)]


class Networks:
    def __init__(self, root: str):
        self.root = root
        self.dir = os.path.join(root, "networks")

    # -- records ------------------------------------------------------------------------------------
    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name + ".json")

    def lock(self):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        return _Lock(os.path.join(self.dir, "lock"))

    def load(self, name: str) -> dict:
        try:
            with open(self._path(name), "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            if name == DEFAULT:
                return self.create(DEFAULT)
            raise NotFound(f"network {name} not found") from None

    def save(self, net: dict) -> None:
        write_atomic(self._path(net["Name"]), json.dumps(net))

    def names(self) -> list:
        try:
            return sorted(f[:-5] for f in os.listdir(self.dir) if f.endswith(".json"))
        except FileNotFoundError:
            return []

    def find(self, ref: str) -> dict:
        """By name, full ID or ID prefix."""
        if ref == DEFAULT:
            return self.load(DEFAULT)
        if ref in self.names():
            return self.load(ref)
        matches = [n for n in self.names() if self.load(n)["Id"].startswith(ref)]
        if len(matches) == 1:
            return self.load(matches[0])
        raise NotFound(f"network {ref} not found")

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
               labels: dict | None = None) -> dict:
        _validate(name)
        with self.lock():
            if os.path.exists(self._path(name)):
                if name == DEFAULT:
                    with open(self._path(name), "rb") as f:
                        return json.load(f)
                raise Conflict(f"network with name {name} already exists")
            taken = [ipaddress.ip_network(self.load(n)["Subnet"]) for n in self.names()]
            net = ipaddress.ip_network(subnet, strict=False) if subnet else _free_subnet(taken)
            if subnet and net.version != 4:
                raise InvalidArgument("only IPv4 subnets are supported")
            if any(net.overlaps(t) for t in taken):
                raise Conflict(f"Pool overlaps with other one on this address space: {net}")
            gw = ipaddress.ip_address(gateway) if gateway else net.network_address + 1
            if gw not in net or gw in (net.network_address, net.broadcast_address):
                raise InvalidArgument(f"gateway {gw} is not a host address of {net}")
            record = {"Name": name, "Id": os.urandom(32).hex(), "Created": now_rfc3339(), "Driver": "bridge",
                      "Subnet": str(net), "Gateway": str(gw), "Internal": internal, "Labels": labels or {},
                      "Bridge": bridge_name(self.root, name), "Endpoints": {}, "Last": str(gw)}
            self.save(record)
            return record

    def remove(self, name: str) -> dict:
        if name in BUILTIN:
            raise Conflict(f"{name} is a pre-defined network and cannot be removed")
        with self.lock():
            net = self.load(name)
            if net["Endpoints"]:
                raise Conflict(f"error while removing network: network {name} id {net['Id']} has active "
                               f"endpoints ({', '.join(e['Name'] for e in net['Endpoints'].values())})")
            os.unlink(self._path(name))
        return net

    # -- leases --------------------------------------------------------------------------------------
    def join(self, name: str, cid: str, container_name: str, aliases: list, wanted: str | None = None,
             alive=None) -> tuple:
        """The container's endpoint: an address (wanted, or the one after the last handed out);
        endpoints of containers alive() says are gone are taken back first. (network, endpoint)."""
        if name == DEFAULT:
            self.load(DEFAULT)  # made first: not under the lock it takes itself
        with self.lock():
            net = self.load(name)
            if alive is not None:
                net["Endpoints"] = {c: e for c, e in net["Endpoints"].items() if c == cid or alive(c)}
            if cid in net["Endpoints"] and not wanted:
                return net, net["Endpoints"][cid]
            subnet = ipaddress.ip_network(net["Subnet"])
            reserved = {subnet.network_address, subnet.broadcast_address, ipaddress.ip_address(net["Gateway"])}
            used = {e["IPv4Address"]: c for c, e in net["Endpoints"].items()}
            if wanted:
                ip = ipaddress.ip_address(wanted)
                if ip not in subnet or ip in reserved:
                    raise InvalidArgument(f"address {wanted} is not free for containers in {subnet}")
                if used.get(str(ip), cid) != cid:
                    raise Conflict(f"Address already in use: {wanted}")
            else:
                ip = _next_free(subnet, reserved, used, ipaddress.ip_address(net["Last"]))
                net["Last"] = str(ip)
            endpoint = {"Name": container_name, "Aliases": list(aliases), "IPv4Address": str(ip),
                        "PrefixLen": subnet.prefixlen, "MacAddress": mac_for(str(ip)),
                        "EndpointID": os.urandom(32).hex()}
            net["Endpoints"][cid] = endpoint
            self.save(net)
            return net, endpoint

    def leave(self, name: str, cid: str) -> None:
        with self.lock():
            try:
                net = self.load(name)
            except NotFound:
                return
            if net["Endpoints"].pop(cid, None) is not None:
                self.save(net)


def _validate(name: str) -> None:
    ok = len(name) >= 1 and name[0].isascii() and name[0].isalnum() and all(
        c.isascii() and (c.isalnum() or c in "_.-") for c in name)
    if not ok or name in ("host", "none"):
        raise InvalidArgument(f"invalid network name {name!r}: [a-zA-Z0-9][a-zA-Z0-9_.-]*, not host or none")


def _next_free(subnet, reserved: set, used: dict, last):
    """After the last one handed out, wrapping around, skipping the reserved and leased ones."""
    size = subnet.num_addresses
    start = int(last) - int(subnet.network_address)
    for step in range(1, size):
        ip = subnet.network_address + (start + step) % size
        if ip not in reserved and str(ip) not in used:
            return ip
    raise Conflict(f"no free address left in {subnet}")


def _free_subnet(taken: list):
    routes = host_routes()
    for candidate in POOL:
        net = ipaddress.ip_network(candidate)
        if not any(net.overlaps(t) for t in taken + routes):
            return net
    raise Conflict("no free subnet in the pool (172.17-31.0.0/16, 192.168.0.0/16 in /20s): give --subnet")


def host_routes() -> list:
    """The networks of this netns's IPv4 routes (/proc/net/route: no netlink needed), not the default."""
    out = []
    try:
        with open("/proc/net/route") as f:
            next(f)
            for line in f:
                fields = line.split()
                dest, mask = int(fields[1], 16), int(fields[7], 16)
                if mask:
                    addr = ipaddress.ip_address(dest.to_bytes(4, "little"))
                    out.append(ipaddress.ip_network(f"{addr}/{bin(mask).count('1')}", strict=False))
    except (OSError, StopIteration):
        pass
    return out


def bridge_name(root: str, network: str) -> str:
    """hull0 for the default root's default network; else hl + 8 hex of (root, network): link
    names are 15 bytes at most, and every root and network gets its own."""
    if root == "/var/lib/hull" and network == DEFAULT:
        return "hull0"
    return "hl" + f"{zlib.crc32(f'{os.path.abspath(root)}:{network}'.encode()):08x}"


def mac_for(address: str) -> str:
    """docker's MACs: 02:42 and the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed)


class _Lock:
    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
