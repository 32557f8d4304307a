"""`hull explain` without a container: the renderers (tree, DOT, diff text, SVG through Graphviz
when it is installed) on a hand-made picture, and the parsers of /proc files on literal samples."""
import os
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from runtime.cli import explain as render
from runtime.engine import explain as ex
from runtime.linux import procinfo
from runtime.errors import HullError, InvalidArgument

CID = "3f2a1c" + "0" * 58
LAYER0 = "/var/lib/hull/images/layers/" + "ab" * 32 + "/diff"
LAYER1 = "/var/lib/hull/images/layers/" + "cd" * 32 + "/diff"
INIT = f"/var/lib/hull/containers/{CID}/init"
MERGED = f"/var/lib/hull/containers/{CID}/merged"


def _ns(inode, host=False, **extra):
    return {"inode": inode, "host": host, "shared_with": [], "shared_count": 0, "shared_containers": [], **extra}


def sample(name="web", cid=CID, net=4026532504, layers=(LAYER0, LAYER1), address="10.88.0.2"):
    """One explained container, shaped as runtime.engine.explain.explain returns it."""
    return {
        "container": {"id": cid, "name": name, "image": "busybox:latest", "pid": 4242},
        "processes": [{"pid": 4242, "nspid": 1, "ppid": 4200, "cmd": "sh -c sleep 100", "children": [
            {"pid": 4250, "nspid": 7, "ppid": 4242, "cmd": "sleep 100", "children": []}]}],
        "namespaces": {
            "pid": _ns(4026532501), "mnt": _ns(4026532500), "ipc": _ns(4026532502), "uts": _ns(4026532503),
            "net": _ns(net, shared_with=[{"pid": 5000, "cmd": "sleep 1"}], shared_count=2,
                       shared_containers=["db"]),
            "user": _ns(4026531837, host=True, shared_with=[{"pid": 1, "cmd": "/sbin/init"}], shared_count=90),
            "cgroup": _ns(4026531835, host=True), "time": _ns(4026531834, host=True),
        },
        "cgroup": {"version": 1, "path": f"/hull/{cid}", "dir": f"/sys/fs/cgroup/memory/hull/{cid}",
                   "dirs": {"memory": f"/sys/fs/cgroup/memory/hull/{cid}", "pids": f"/sys/fs/cgroup/pids/hull/{cid}"},
                   "limits": {"memory": 8 * 2 ** 20, "pids": 100, "cpu": {"quota_us": 50000, "period_us": 100000},
                              "cpu_shares": 1024},
                   "usage": {"memory": 1258291, "pids": 3, "cpu_usec": 120000}},
        "overlay": {"fstype": "overlay", "source": "overlay", "dev": "0:99",
                    "lower": [{"path": p, "as_mounted": "l/x", "kind": "image layer",
                               "chain": "sha256:" + p.split("/")[-2], "data_only": False, "size": 1258291,
                               "files": 400, "approx": False} for p in layers]
                    + [{"path": f"/var/lib/hull/containers/{cid}/init", "as_mounted": "init", "kind": "init layer",
                        "chain": None, "data_only": False,
                        "size": 0, "files": 12, "approx": False}],
                    "upper": {"path": f"/var/lib/hull/containers/{cid}/upper", "size": 4096, "files": 1,
                              "approx": False},
                    "work": f"/var/lib/hull/containers/{cid}/work",
                    "merged": f"/var/lib/hull/containers/{cid}/merged"},
        "mounts": [{"target": "/", "fstype": "overlay", "source": "overlay", "options": "rw,relatime",
                    "propagation": "private"},
                   {"target": "/proc", "fstype": "proc", "source": "proc", "options": "rw,nosuid",
                    "propagation": "shared:5"}],
        "security": {"cap_eff": ["CAP_CHOWN", "CAP_KILL"], "cap_prm": ["CAP_CHOWN", "CAP_KILL"],
                     "cap_bnd": ["CAP_CHOWN", "CAP_KILL"], "no_new_privs": True, "seccomp": "filter",
                     "seccomp_filters": 1, "seccomp_syscalls": 300, "seccomp_default_action": "SCMP_ACT_ERRNO",
                     "seccomp_syscalls_from": "config.json"},
        "network": {"mode": "bridge", "configured": "bridge", "shared_with": [],
                    "interfaces": [
                        {"name": "lo", "ifindex": 1, "mac": "00:00:00:00:00:00", "kind": None,
                         "addresses": ["127.0.0.1/8"], "peer": None},
                        {"name": "eth0", "ifindex": 2, "mac": "02:42:0a:58:00:02", "kind": "veth",
                         "addresses": [f"{address}/16"],
                         "peer": {"name": "vh3f2a1c000000", "ifindex": 17, "bridge": "hull0",
                                  "bridge_addresses": ["10.88.0.1/16"]}}],
                    "ports": [{"host_ip": "127.0.0.1", "host_port": 8080, "proto": "tcp", "container_ip": address,
                               "container_port": 80}],
                    "nft": [{"table": "hull", "map": "ports_ip",
                             "element": f"127.0.0.1 . tcp . 8080 : {address} . 80"}]},
    }


# -- tree ------------------------------------------------------------------------------------------

def test_tree_names_every_object():
    text = render.tree(sample(), color=False)
    assert text.splitlines()[0] == "container web (3f2a1c000000) image busybox:latest"
    for part in ("4242 (pid 1 in the container) sh -c sleep 100", "4250 (pid 7 in the container) sleep 100",
                 "pid    4026532501  own", "user   4026531837  host", "shared with container db",
                 "shared with 2 processes outside (5000 sleep 1, +1 more)",
                 f"memory /sys/fs/cgroup/memory/hull/{CID}", "memory 8.0MiB limit, 1.2MiB used", "pids 3/100",
                 "cpu 50000/100000 us", "shares 1024",
                 "overlay  image layer sha256:abababababab 1.2MiB → image layer sha256:cdcdcdcdcdcd 1.2MiB"
                 " → init layer 0B → upper 4.0KiB → merged /var/lib/hull/containers/3f2a1c000000…/merged",
                 f"init layer 0B  {INIT}", f"merged {MERGED}", "cgroup v1 /hull/3f2a1c000000…  memory",
                 "mounts (2)", "/proc proc proc rw,nosuid shared:5",
                 "no_new_privs yes", "seccomp filter (1 filter, 300 syscalls from config.json",
                 "effective 2 caps [chown kill]",
                 "eth0 10.88.0.2/16 ⇄ vh3f2a1c000000 ⇄ bridge hull0 10.88.0.1/16",
                 "127.0.0.1:8080 → 10.88.0.2:80/tcp (nft hull map ports_ip)"):
        assert part in text, part
    assert "\033[" not in text


def test_tree_branches_are_drawn():
    lines = render.tree(sample()).splitlines()
    assert lines[1] == "├─ processes"
    assert lines[2] == "│  └─ 4242 (pid 1 in the container) sh -c sleep 100"
    assert lines[3] == "│     └─ 4250 (pid 7 in the container) sleep 100"
    assert lines[-1].startswith("   └─ 127.0.0.1:8080")
    assert any(line.startswith("└─ network  bridge") for line in lines)


def test_tree_colour():
    text = render.tree(sample(), color=True)
    assert f"{render.BOLD}processes{render.RESET}" in text
    assert f"4026532501  {render.GREEN}own{render.RESET}" in text
    assert f"4026531837  {render.YELLOW}host{render.RESET}" in text


def test_tree_of_a_host_network_and_plain_root():
    info = sample()
    info["network"] = {"mode": "host", "interfaces": [], "ports": [], "nft": []}
    info["overlay"] = {"fstype": "ext4", "source": "/dev/vda", "lower": [], "upper": None, "work": None,
                       "merged": None}
    text = render.tree(info)
    assert "network  host (the host's network namespace: no isolation)" in text
    assert "root  ext4 /dev/vda (not an overlay)" in text


def test_human_sizes():
    assert render.human(0) == "0B"
    assert render.human(4096) == "4.0KiB"
    assert render.human(8 * 2 ** 20) == "8.0MiB"
    assert render.human(None) == "?"


# -- dot / svg -------------------------------------------------------------------------------------

NAMES = ("4242", "4250", "pid namespace", "net namespace", "4026532504", "cgroup v1", "sha256:abababababab",
         "sha256:cdcdcdcdcdcd", "init layer", "upper", "merged", "/var/lib/hull/containers/3f2a1c000000…/merged",
         "eth0", "vh3f2a1c000000", "bridge hull0",
         "127.0.0.1:8080", "ports_ip")


def test_dot_graph():
    text = render.dot(sample())
    assert text.startswith("digraph explain {") and text.rstrip().endswith("}")
    for name in NAMES:
        assert name in text, name
    edges = re.findall(r"^\s+(n\d+) -> (n\d+)", text, re.M)
    labels = dict(re.findall(r"^\s+(n\d+) \[label=\"([^\"]*)", text, re.M))

    def edge(a, b):
        return any(labels[x].startswith(a) and labels[y].startswith(b) for x, y in edges)
    assert edge("4242", "4250") and edge("4242", "net namespace") and edge("4242", "cgroup v1")
    assert edge("image layer sha256:abab", "image layer sha256:cdcd") and edge("image layer sha256:cdcd", "init layer")
    assert edge("init layer", "upper") and edge("upper", "merged") and edge("4242", "merged")
    assert edge("net namespace", "eth0") and edge("eth0", "vh3f2a1c000000") and edge("vh3f2a1c000000", "bridge hull0")
    assert edge("bridge hull0", "127.0.0.1:8080")


def test_dot_quotes_labels():
    info = sample()
    info["processes"][0]["cmd"] = 'sh -c "echo \\ hi"'
    assert 'sh -c \\"echo \\\\ hi\\"' in render.dot(info)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_names_each_object(tmp_path):
    path = tmp_path / "web.svg"
    render.render_svg(render.dot(sample()), str(path))
    root = ET.parse(path).getroot()
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for name in NAMES:
        assert name in texts, name


def test_render_refuses_unknown_format(tmp_path):
    with pytest.raises(InvalidArgument):
        render.render_svg("digraph {}", str(tmp_path / "x.gif"), fmt="gif")


def test_render_without_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    with pytest.raises(HullError, match="apt-get install graphviz"):
        render.render_svg("digraph {}", str(tmp_path / "x.svg"))


# -- diff ------------------------------------------------------------------------------------------

def test_diff_and_its_text():
    a = sample()
    b = sample(name="db", cid="9" * 64, net=4026532504, layers=(LAYER0,), address="10.88.0.3")
    b["namespaces"]["pid"] = _ns(4026532601)
    d = ex.diff(a, b)
    shared = {r["object"] for r in d["shared"]}
    separate = {r["object"] for r in d["separate"]}
    assert {"net namespace", "user namespace", "cgroup parent", "bridge",
            "image layer sha256:" + "ab" * 32} <= shared
    assert {"pid namespace", "cgroup", "image layer sha256:" + "cd" * 32, "init layer", "upper layer"} <= separate
    text = render.diff_text(d)
    assert text.startswith("web and db share:\n")
    assert "  net namespace  4026532504" in text
    assert "web and db do not share:" in text
    assert "  pid namespace  web: 4026532501  db: 4026532601" in text
    assert "  image layer sha256:abababababab…  /var/lib/hull/images/layers/abababababab…/diff" in text
    assert ("  init layer  web: /var/lib/hull/containers/3f2a1c000000…/init"
            "  db: /var/lib/hull/containers/999999999999…/init") in text


# -- parsers ---------------------------------------------------------------------------------------

MOUNTINFO = (
    "612 540 0:65 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/hull/containers/x/init:"
    "l/AAAA:l/BBBB,upperdir=/var/lib/hull/containers/x/upper,workdir=/var/lib/hull/containers/x/work,uuid=on\n"
    "613 612 0:66 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
    "614 612 0:67 / /dev rw,nosuid shared:4 master:2 - tmpfs tmpfs rw,size=65536k,mode=755\n"
    "615 612 254:0 /a\\040dir /mnt/with\\040space rw unbindable - ext4 /dev/vda rw\n"
)


def test_parse_mountinfo():
    ms = procinfo.parse_mountinfo(MOUNTINFO)
    assert [m["target"] for m in ms] == ["/", "/proc", "/dev", "/mnt/with space"]
    root = ex.root_mount(ms)
    assert root["fstype"] == "overlay" and root["dev"] == "0:65" and root["optional"] == ["master:1"]
    assert ms[3]["root"] == "/a dir" and ms[3]["source"] == "/dev/vda"
    assert [procinfo.propagation(m["optional"]) for m in ms] == ["master:1", "private", "shared:4,master:2", "unbindable"]


def test_overlay_options():
    layers = procinfo.overlay_layers(procinfo.split_options(procinfo.parse_mountinfo(MOUNTINFO)[0]["super"]))
    assert layers["lower"] == [("/var/lib/hull/containers/x/init", False), ("l/AAAA", False), ("l/BBBB", False)]
    assert layers["upper"] == "/var/lib/hull/containers/x/upper"
    assert layers["work"] == "/var/lib/hull/containers/x/work"


def test_lowerdir_escapes_and_data_only():
    assert procinfo.split_lowerdir("/a:/b\\:c::/d:/e") == [("/a", False), ("/b:c", False), ("/d", True), ("/e", True)]
    opts = procinfo.split_options("rw,lowerdir+=/l1,lowerdir+=/l2,datadir+=/d1,upperdir=/u,workdir=/w")
    assert procinfo.overlay_layers(opts)["lower"] == [("/l1", False), ("/l2", False), ("/d1", True)]
    # mountinfo shows a comma as \054 and a backslash (overlay's escape of ':') as \134
    assert procinfo.split_options("rw,lowerdir=/a\\054b:/c")["lowerdir"] == "/a,b:/c"
    lower = procinfo.split_options("rw,lowerdir=/a\\134:b:/c,upperdir=/u")["lowerdir"]
    assert procinfo.split_lowerdir(lower) == [("/a:b", False), ("/c", False)]


STATUS = """Name:\tsh
State:\tS (sleeping)
PPid:\t4200
NSpid:\t4242\t1
CapPrm:\t00000000a80425fb
CapEff:\t00000000a80425fb
CapBnd:\t00000000a80425fb
NoNewPrivs:\t1
Seccomp:\t2
Seccomp_filters:\t1
"""


def test_parse_status_and_caps():
    s = procinfo.parse_status(STATUS)
    assert s["NSpid"].split()[-1] == "1" and s["PPid"] == "4200"
    caps = procinfo.cap_names(s["CapEff"])
    assert len(caps) == 14  # docker's default set
    assert caps[0] == "CAP_CHOWN" and "CAP_NET_BIND_SERVICE" in caps and "CAP_SYS_ADMIN" not in caps
    assert procinfo.cap_names("0") == []


def test_parse_cgroup_and_dirs():
    paths = procinfo.parse_cgroup("9:name=systemd:/\n8:pids:/hull/x\n4:memory:/hull/x\n2:cpu,cpuacct:/hull/x\n0::/\n")
    assert paths["memory"] == "/hull/x" and paths["cpuacct"] == "/hull/x" and paths[""] == "/"
    mounts = procinfo.parse_mountinfo(
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    assert ex.cgroup_dir("/hull/x", "memory", mounts) == "/sys/fs/cgroup/memory/hull/x"
    assert ex.cgroup_dir("/hull/x", "cpuacct", mounts) == "/sys/fs/cgroup/cpu,cpuacct/hull/x"
    assert ex.cgroup_dir("/", "", mounts) == "/sys/fs/cgroup/unified"
    assert ex.cgroup_dir("/hull/x", "pids", mounts) is None


def test_limits_from_a_fake_cgroupfs(tmp_path):
    mem, cpu, pids, acct = (tmp_path / d for d in ("memory", "cpu", "pids", "cpuacct"))
    for d, files in ((mem, {"memory.limit_in_bytes": "9223372036854771712\n", "memory.usage_in_bytes": "4096\n"}),
                     (cpu, {"cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n", "cpu.shares": "512\n"}),
                     (pids, {"pids.max": "max\n", "pids.current": "3\n"}), (acct, {"cpuacct.usage": "2500000\n"})):
        d.mkdir()
        for name, value in files.items():
            (d / name).write_text(value)
    v1 = ex._limits_v1({"memory": str(mem), "cpu": str(cpu), "pids": str(pids), "cpuacct": str(acct)})
    assert v1 == {"limits": {"memory": None, "pids": None, "cpu": None, "cpu_shares": 512},
                  "usage": {"memory": 4096, "pids": 3, "cpu_usec": 2500}}
    v2dir = tmp_path / "v2"
    v2dir.mkdir()
    for name, value in {"memory.max": "8388608\n", "pids.max": "100\n", "cpu.max": "50000 100000\n",
                        "cpu.weight": "100\n", "memory.current": "1024\n", "pids.current": "2\n",
                        "cpu.stat": "usage_usec 777\nuser_usec 700\n"}.items():
        (v2dir / name).write_text(value)
    v2 = ex._limits_v2(str(v2dir))
    assert v2["limits"] == {"memory": 8388608, "pids": 100, "cpu": {"quota_us": 50000, "period_us": 100000},
                            "cpu_weight": 100}
    assert v2["usage"] == {"memory": 1024, "pids": 2, "cpu_usec": 777}
    assert ex._limits_v2(None)["limits"]["memory"] is None  # missing files read as None


def test_seccomp_count_from_config():
    cfg = {"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["write", "clone"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]}}}
    assert ex.seccomp_rules(cfg) == (3, "SCMP_ACT_ERRNO")
    assert ex.seccomp_rules({"linux": {}}) == (None, None)


def test_port_elements():
    data = {"nftables": [
        {"table": {"family": "ip", "name": "hull"}},
        {"map": {"family": "ip", "name": "ports_any", "table": "hull", "elem": [
            [{"concat": ["tcp", 8080]}, {"concat": ["10.88.0.2", 80]}],
            [{"concat": ["udp", 53]}, {"concat": ["10.88.0.9", 53]}]]}},
        {"map": {"family": "ip", "name": "ports_ip", "table": "hull", "elem": [
            [{"concat": ["127.0.0.1", "tcp", 8443]}, {"concat": ["10.88.0.2", 443]}]]}},
        {"set": {"family": "ip", "name": "bridges", "table": "hull", "elem": ["hull0"]}}]}
    ports, elements = ex.port_elements(data, "hull", {"10.88.0.2"})
    assert ports == [{"host_ip": "0.0.0.0", "host_port": 8080, "proto": "tcp", "container_ip": "10.88.0.2",
                      "container_port": 80},
                     {"host_ip": "127.0.0.1", "host_port": 8443, "proto": "tcp", "container_ip": "10.88.0.2",
                      "container_port": 443}]
    assert elements[0] == {"table": "hull", "map": "ports_any", "element": "tcp . 8080 : 10.88.0.2 . 80"}
    assert elements[1]["element"] == "127.0.0.1 . tcp . 8443 : 10.88.0.2 . 443"


def test_tree_size_caps_and_counts(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x" * 10)
    (tmp_path / "g").write_bytes(b"y" * 5)
    os.symlink("/etc/passwd", tmp_path / "link")  # its own size, not its target's
    assert procinfo.tree_size(str(tmp_path)) == {"size": 15 + len("/etc/passwd"), "files": 4, "approx": False}
    assert procinfo.tree_size(str(tmp_path), cap=2)["approx"] is True
    assert procinfo.tree_size(str(tmp_path / "missing"))["size"] is None


def test_unescape():
    assert procinfo.unescape("a\\040b\\011c\\134d") == "a b\tc\\d"
    assert procinfo.unescape("plain") == "plain"
