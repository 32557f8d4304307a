"""Networking on the real kernel, all inside network namespaces the tests make (hull runs in the
`engine` fixture's): the default bridge, published ports reached from loopback, from another
namespace through a veth, and from a container (hairpin); user networks with names; outbound
NAT to an "outside" namespace; isolation between networks; leases; leaks after kill -9.
Traffic goes only to loopback and to addresses inside these namespaces."""
import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import inspect, wait_for

pytestmark = pytest.mark.root
HTTPD = ["sh", "-c", "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"]


def fetch(ns, url: str) -> str:
    """GET url from inside a namespace (Python: busybox's static wget cannot resolve)."""
    p = ns.run("python3", "-c", f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read()"
                                ".decode(), end='')", capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def serving(engine, name):
    return lambda: engine("exec", name, "sh", "-c", "netstat -ltn | grep -q ':80 '", check=False).returncode == 0


class Peer:
    """Another namespace joined to the test's by a veth: 10.77.N.1 (the test's side), 10.77.N.2."""

    def __init__(self, ns, name: str, n: int):
        from helpers import NetNS
        self.ns = NetNS(name)
        self.near, self.far = f"10.77.{n}.1", f"10.77.{n}.2"
        here, there = f"vp{n}a{os.getpid() % 1000}", f"vp{n}b{os.getpid() % 1000}"
        ns.run("ip", "link", "add", here, "type", "veth", "peer", "name", there, check=True)
        ns.run("ip", "link", "set", there, "netns", self.ns.path, check=True)
        ns.run("ip", "addr", "add", f"{self.near}/24", "dev", here, check=True)
        ns.run("ip", "link", "set", here, "up", check=True)
        self.ns.run("ip", "addr", "add", f"{self.far}/24", "dev", there, check=True)
        self.ns.run("ip", "link", "set", there, "up", check=True)

    def delete(self):
        self.ns.delete()


def test_published_port_from_loopback_another_netns_and_a_container(engine):
    engine("run", "-d", "--name", "web", "-p", "8080:80", "-h", "webhost", "busybox", *HTTPD)
    wait_for(serving(engine, "web"), "httpd")
    assert fetch(engine.netns, "http://127.0.0.1:8080/") == "hello-from-webhost\n"
    ip = inspect(engine, "web", "{{.NetworkSettings.IPAddress}}")
    assert fetch(engine.netns, f"http://{ip}:80/") == "hello-from-webhost\n"
    client = Peer(engine.netns, f"{engine.netns.name}-c", 1)
    try:
        assert fetch(client.ns, f"http://{client.near}:8080/") == "hello-from-webhost\n"
    finally:
        client.delete()
    gateway = inspect(engine, "web", "{{.NetworkSettings.Gateway}}")
    out = engine("run", "--rm", "busybox", "sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc {gateway} 8080").stdout
    assert out.endswith("hello-from-webhost\n")  # hairpin: through the host port, back on the bridge
    assert engine("ps", "--format", "{{.Ports}}").stdout == "0.0.0.0:8080->80/tcp\n"
    assert engine("port", "web").stdout == "80/tcp -> 0.0.0.0:8080\n"
    assert engine("port", "web", "80").stdout == "0.0.0.0:8080\n"
    ports = json.loads(inspect(engine, "web", "{{json .NetworkSettings.Ports}}"))
    assert ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    p = engine("run", "-d", "--name", "clash", "-p", "8080:80", "busybox", *HTTPD, check=False)
    assert p.returncode == 125 and "port is already allocated" in p.stderr
    assert inspect(engine, "clash", "{{.State.Status}}") == "created"  # as docker leaves it; nothing half set up:
    net = json.loads(engine("network", "inspect", "bridge").stdout)[0]
    assert [c["Name"] for c in net["Containers"].values()] == ["web"]  # no lease of clash's left
    engine("rm", "-f", "web", "clash")
    assert "8080" not in engine.netns.run("nft", "list", "ruleset", capture_output=True, text=True).stdout


def test_publish_all_random_ports_and_loopback_only(engine):
    engine("run", "-d", "--name", "pa", "--expose", "80", "-P", "-p", "127.0.0.1::80/udp", "busybox", *HTTPD)
    wait_for(serving(engine, "pa"), "httpd")
    lines = engine("port", "pa").stdout.splitlines()
    tcp = next(line for line in lines if line.startswith("80/tcp"))
    host_port = int(tcp.rsplit(":", 1)[1])
    assert host_port >= 1024 and any(line.startswith("80/udp -> 127.0.0.1:") for line in lines)
    assert fetch(engine.netns, f"http://127.0.0.1:{host_port}/").startswith("hello-from-")


def test_user_network_names_and_isolation(engine):
    engine("network", "create", "app")
    engine("network", "create", "--subnet", "10.66.0.0/24", "other")
    engine("run", "-d", "--name", "db", "--network", "app", "--network-alias", "database", "busybox", *HTTPD)
    wait_for(serving(engine, "db"), "httpd")
    db_ip = inspect(engine, "db", "{{.NetworkSettings.Networks.app.IPAddress}}")
    resolve = "nslookup {0} | awk '/^Address/ && !/#53/ {{print $2}}' | tail -1"
    assert engine("run", "--rm", "--network", "app", "busybox", "sh", "-c", resolve.format("db")).stdout.strip() == db_ip
    assert engine("run", "--rm", "--network", "app", "busybox", "sh", "-c",
                  resolve.format("database")).stdout.strip() == db_ip
    out = engine("run", "--rm", "--network", "app", "busybox", "sh", "-c",
                 "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc $(" + resolve.format("db") + ") 80").stdout
    assert out.endswith("hello-from-" + inspect(engine, "db", "{{.Config.Hostname}}") + "\n")
    # a container started later is found at once (TTL 0)
    engine("run", "-d", "--name", "late", "--network", "app", "busybox", "sleep", "100")
    late_ip = inspect(engine, "late", "{{.NetworkSettings.Networks.app.IPAddress}}")
    assert engine("exec", "db", "sh", "-c", resolve.format("late")).stdout.strip() == late_ip
    # another network reaches neither the name nor the address
    p = engine("run", "--rm", "--network", "other", "busybox", "sh", "-c",
               f"nslookup db >/dev/null 2>&1 && echo named; ping -c1 -W1 {db_ip} >/dev/null 2>&1 && echo reached; true")
    assert p.stdout == ""
    # connect: now it does
    engine("run", "-d", "--name", "both", "--network", "other", "busybox", "sleep", "100")
    engine("network", "connect", "--alias", "bridgeman", "app", "both")
    assert engine("exec", "both", "ping", "-c1", "-W2", db_ip, check=False).returncode == 0
    assert engine("exec", "db", "sh", "-c", resolve.format("bridgeman")).stdout.strip() == \
        inspect(engine, "both", "{{.NetworkSettings.Networks.app.IPAddress}}")
    engine("network", "disconnect", "app", "both")
    assert engine("exec", "both", "ping", "-c1", "-W1", db_ip, check=False).returncode != 0
    info = json.loads(engine("network", "inspect", "app").stdout)[0]
    assert {c["Name"] for c in info["Containers"].values()} == {"db", "late"}
    assert info["IPAM"]["Config"][0]["Subnet"] != "10.66.0.0/24"
    p = engine("network", "rm", "app", check=False)
    assert p.returncode == 1 and "active endpoints" in p.stderr
    engine("rm", "-f", "db", "late", "both")
    engine("network", "rm", "app", "other")
    assert engine("network", "ls", "--format", "{{.Name}}").stdout.split() == ["bridge", "host", "none"]


def test_outbound_masquerade_and_internal_networks(engine, tmp_path):
    outside = Peer(engine.netns, f"{engine.netns.name}-o", 2)
    server = None
    try:
        log = tmp_path / "clients"
        server = subprocess.Popen(outside.ns.enter + ["python3", "-c", f"""
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        open({str(log)!r}, "a").write(self.client_address[0] + "\\n")
        self.send_response(200); self.end_headers(); self.wfile.write(b"outside")
    def log_message(self, *a): pass
http.server.HTTPServer(({outside.far!r}, 8000), H).serve_forever()
"""])
        wait_for(lambda: outside.ns.run("python3", "-c", f"import socket; socket.create_connection(({outside.far!r}, "
                                        "8000), 1)", capture_output=True).returncode == 0, "the outside server")
        get = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {outside.far} 8000 | tail -1"
        assert engine("run", "--rm", "busybox", "sh", "-c", get).stdout == "outside"
        assert log.read_text() == f"{outside.near}\n"  # masqueraded: the server sees the host's address
        forwarding = engine.netns.run("cat", "/proc/sys/net/ipv4/ip_forward", capture_output=True, text=True).stdout
        assert forwarding.strip() == "1" and "IPv4 Forwarding: enabled" in engine("info").stdout
        engine("network", "create", "--internal", "sealed")
        assert engine("run", "--rm", "--network", "sealed", "busybox", "sh", "-c", get, check=False).stdout == ""
        engine("network", "rm", "sealed")
    finally:
        if server:
            server.terminate()
            server.wait()
        outside.delete()


def test_fifty_parallel_runs_get_fifty_addresses(engine):
    with ThreadPoolExecutor(10) as pool:
        ids = list(pool.map(lambda i: engine("run", "-d", "busybox", "sleep", "100").stdout.strip(), range(50)))
    addresses = {inspect(engine, cid, "{{.NetworkSettings.IPAddress}}") for cid in ids}
    assert len(addresses) == 50 and "" not in addresses
    engine("rm", "-f", *ids)
    net = json.loads(engine("network", "inspect", "bridge").stdout)[0]
    assert net["Containers"] == {}  # every lease back


def test_container_network_mode_and_none(engine):
    engine("run", "-d", "--name", "base", "busybox", "sleep", "100")
    ours = engine("run", "--rm", "--network", "container:base", "busybox", "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert inspect(engine, "base", "{{.NetworkSettings.IPAddress}}") in ours
    links = engine("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net").stdout.split()
    assert links == ["lo"]


def test_leaks_after_kill_9_are_found_by_prune(engine):
    engine("run", "-d", "--name", "leaky", "-p", "9090:80", "busybox", *HTTPD)
    cid = inspect(engine, "leaky", "{{.Id}}")
    state = json.load(open(os.path.join(engine.root, "containers", cid, "state.json")))
    os.kill(state["Monitor"]["pid"], signal.SIGKILL)  # the watcher goes first: nobody records the end
    os.kill(state["Pid"], signal.SIGKILL)
    wait_for(lambda: inspect(engine, "leaky", "{{.State.Status}}") == "exited", "the lost exit")
    out = engine("system", "prune", "-f").stdout
    assert "Deleted Containers" in out
    rules = engine.netns.run("nft", "list", "ruleset", capture_output=True, text=True).stdout
    assert "9090" not in rules
    assert json.loads(engine("network", "inspect", "bridge").stdout)[0]["Containers"] == {}


def test_system_reset_takes_the_bridges_and_the_table_too(engine):
    """prune keeps the default bridge and the root's nftables table (as docker keeps docker0);
    podman's `system reset` is what takes a root away: then nothing of it stays in the namespace."""
    engine("network", "create", "resetnet")
    engine("run", "-d", "-p", "127.0.0.1::80", "busybox", "sleep", "100")
    engine("run", "-d", "--network", "resetnet", "busybox", "sleep", "100")
    tables = lambda: engine.netns.run("nft", "list", "tables", capture_output=True, text=True).stdout.split()
    links = lambda: [line.split(": ")[1].split("@")[0] for line in engine.netns.run(
        "ip", "-o", "link", capture_output=True, text=True, check=True).stdout.splitlines()]
    assert any(t.startswith("hull") for t in tables()) and len(links()) > 1
    p = engine("system", "reset", input="n\n")
    assert "WARNING" in p.stdout and os.path.isdir(engine.root)  # asked, and kept
    engine("system", "reset", "-f")
    assert not any(t.startswith("hull") for t in tables())
    assert links() == ["lo"]
    assert not os.path.exists(engine.root)
