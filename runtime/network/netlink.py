"""Links, addresses and routes through pyroute2's IPRoute (netlink; no `ip` processes).

pyroute2 takes ~95 ms to import here even without its package __init__ (which alone adds ~60 ms:
it loads ndb, ipdb and a console we do not use, so the package is stubbed and only
pyroute2.iproute.linux loaded). A short `hull run` cannot wait for that, so it starts an Agent
first: a forked child that imports pyroute2 on the other core while the parent mounts the
rootfs and creates the container, then does the netlink work when asked. The monitor, which lives
long, calls the same functions in-process.
"""
import os

from runtime import fastjson as json

_IPRoute = None


def iproute():
    """pyroute2's IPRoute class, imported without the package's own __init__."""
    global _IPRoute
    if _IPRoute is None:
        import importlib.util
        import sys
        import types
        if "pyroute2" not in sys.modules:
            spec = importlib.util.find_spec("pyroute2")
            stub = types.ModuleType("pyroute2")
            stub.__path__ = list(spec.submodule_search_locations)
            sys.modules["pyroute2"] = stub
        from pyroute2.iproute.linux import IPRoute
        _IPRoute = IPRoute
    return _IPRoute


# what each pyroute2 call asks of the kernel, for --trace
RTM = {("link", "add"): "RTM_NEWLINK", ("link", "set"): "RTM_NEWLINK", ("link", "del"): "RTM_DELLINK",
       ("addr", "add"): "RTM_NEWADDR", ("route", "add"): "RTM_NEWROUTE", ("brport", "set"): "RTM_NEWLINK"}


class _Traced:
    """An IPRoute that narrates every change it asks of the kernel (under --trace only)."""

    def __init__(self, ip, netns):
        self.ip, self.where = ip, f" in netns {netns}" if netns else ""

    def __enter__(self):
        self.ip.__enter__()
        return self

    def __exit__(self, *exc):
        return self.ip.__exit__(*exc)

    def __getattr__(self, name):
        real = getattr(self.ip, name)
        if name not in ("link", "addr", "route", "brport"):
            return real

        def call(command, **kw):
            import time
            from runtime import trace
            shown = dict(kw)
            if "net_ns_fd" in shown:  # moved to the namespace that fd names
                shown["net_ns_fd"] = os.readlink(f"/proc/self/fd/{kw['net_ns_fd']}")
            started = time.perf_counter()
            try:
                result = real(command, **kw)
            except Exception as e:
                trace.emit(f"{RTM.get((name, command), name + ' ' + command)} {shown}{self.where}", f"error {e}",
                           started, kind="netlink")
                raise
            trace.emit(f"{RTM.get((name, command), name + ' ' + command)} {shown}{self.where}", "ok", started,
                       kind="netlink")
            return result
        return call


def traced_iproute(**kw):
    from runtime import trace
    ip = iproute()(**kw)
    return _Traced(ip, kw.get("netns")) if trace.enabled else ip


def _link_index(ip, name: str):
    found = ip.link_lookup(ifname=name)
    return found[0] if found else None


def ensure_bridge(name: str, gateway: str, prefix: int, mac: str) -> bool:
    """The bridge with its gateway address, up; True if it was made now. Its MAC is pinned (a
    bridge takes its lowest port's otherwise, and a changing gateway MAC leaves stale ARP entries)."""
    with traced_iproute() as ip:
        index = _link_index(ip, name)
        made = index is None
        if made:
            ip.link("add", ifname=name, kind="bridge", address=mac)
            index = _link_index(ip, name)
        if not any(a.get_attr("IFA_ADDRESS") == gateway for a in ip.get_addr(index=index)):
            ip.addr("add", index=index, address=gateway, prefixlen=prefix)
        ip.link("set", index=index, state="up")
    _sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")  # 127.0.0.1:PORT can be DNATed to a container
    return made


def remove_link(name: str) -> bool:
    with traced_iproute() as ip:
        index = _link_index(ip, name)
        if index is None:
            return False
        ip.link("del", index=index)
        return True


def attach(bridge: str, host_if: str, netns: str, ifname: str, address: str, prefix: int, gateway: str | None,
           mac: str, mtu: int) -> None:
    """A veth pair: host_if on the bridge (hairpin on, so a container reaches itself through a
    published port), its peer moved into the container's netns as ifname, with the address, up,
    and the default route via the gateway."""
    with traced_iproute() as ip:
        br = _link_index(ip, bridge)
        if _link_index(ip, host_if) is not None:
            ip.link("del", ifname=host_if)  # a leftover of a crashed run with this name
        ip.link("add", ifname=host_if, kind="veth", peer={"ifname": "hull-tmp" + host_if[-6:]})
        try:
            peer = _link_index(ip, "hull-tmp" + host_if[-6:])
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                ip.link("set", index=peer, net_ns_fd=fd)
            finally:
                os.close(fd)
        except BaseException:  # the container is gone meanwhile (rm -f of a killed run): both ends are ours
            try:
                ip.link("del", ifname=host_if)
            except Exception:  # noqa: BLE001 - pyroute2's NetlinkError is no OSError
                pass
            raise
        host = _link_index(ip, host_if)
        ip.link("set", index=host, master=br, mtu=mtu, state="up")
        try:
            ip.brport("set", index=host, hairpin_mode=1)
        except Exception:  # noqa: BLE001 - an older kernel without it: hairpin to itself is lost, nothing else
            pass
    with traced_iproute(netns=netns) as ns:
        tmp = _link_index(ns, "hull-tmp" + host_if[-6:])
        ns.link("set", index=tmp, ifname=ifname, address=mac, mtu=mtu)
        ns.addr("add", index=tmp, address=address, prefixlen=prefix)
        ns.link("set", index=tmp, state="up")
        lo = _link_index(ns, "lo")
        ns.link("set", index=lo, state="up")
        if gateway:
            ns.route("add", dst="0.0.0.0/0", gateway=gateway)


def _sysctl(key: str, value: str) -> None:
    """/proc/sys/net is the calling process's netns's (unlike /sys/class/net, which is the one
    that mounted /sys)."""
    with open(f"/proc/sys/{key}", "w") as f:
        f.write(value)


def enable_forwarding() -> bool:
    """Turn on IPv4 forwarding (a network's outbound NAT needs it); True if it was off."""
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        if f.read().strip() == "1":
            return False
    _sysctl("net/ipv4/ip_forward", "1")
    return True


FUNCTIONS = {"ensure_bridge": ensure_bridge, "attach": attach, "remove_link": remove_link}


class Agent:
    """The netlink calls of one command, in a child that imports pyroute2 meanwhile (see above);
    in_process=True does them here (the monitor)."""

    def __init__(self, in_process: bool = False):
        self.pid = None
        if in_process:
            return
        down_r, self.down = os.pipe2(os.O_CLOEXEC)
        self.up, up_w = os.pipe2(os.O_CLOEXEC)
        me = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            from runtime.linux import libc
            libc.die_with_parent(me)  # never go on changing links for a command that was killed
            os.close(self.down)
            os.close(self.up)
            self._serve(down_r, up_w)
        os.close(down_r)
        os.close(up_w)
        self.buf = b""

    @staticmethod
    def _serve(rfd: int, wfd: int) -> None:
        code = 0
        try:
            iproute()
            buf = b""
            while True:
                while b"\n" not in buf:
                    chunk = os.read(rfd, 65536)
                    if not chunk:
                        os._exit(0)
                    buf += chunk
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                try:
                    reply = {"ok": FUNCTIONS[msg["op"]](**msg["args"])}
                except Exception as e:  # noqa: BLE001 - the caller reports it
                    reply = {"error": f"{msg['op']}: {e}", "errno": getattr(e, "errno", None) or 5}
                os.write(wfd, json.dumps(reply).encode() + b"\n")
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)

    def call(self, op: str, **args):
        if self.pid is None:
            return FUNCTIONS[op](**args)
        os.write(self.down, json.dumps({"op": op, "args": args}).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = os.read(self.up, 65536)
            if not chunk:
                raise OSError(5, "the network helper ended")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        reply = json.loads(line)
        if "error" in reply:
            raise OSError(reply["errno"], reply["error"])
        return reply["ok"]

    def close(self) -> None:
        if self.pid is not None:
            os.close(self.down)
            os.close(self.up)
            os.waitpid(self.pid, 0)
            self.pid = None
