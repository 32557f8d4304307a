"""`hull explain`: what it says a running container is made of, checked against what this test
reads from /proc, /sys, the container's network namespace and nftables itself; the SVG drawn by
Graphviz parses and names every object; --diff tells shared from own."""
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from helpers import inspect

pytestmark = pytest.mark.root

CAPS = ["chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
        "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
        "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
        "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap"]


def status(pid: int) -> dict:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def cap_names(mask: str) -> set:
    bits = int(mask, 16)
    return {f"CAP_{name.upper()}" for i, name in enumerate(CAPS) if bits >> i & 1}


def memory_limit(pid: int) -> int:
    """The memory limit of pid's cgroup, read as this test finds it (v2 or v1)."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        path = next(p for h, c, p in lines if h == "0")
        with open(f"/sys/fs/cgroup{path}/memory.max") as f:
            return int(f.read())
    path = next(p for h, c, p in lines if "memory" in c.split(","))
    with open(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes") as f:
        return int(f.read())


@pytest.mark.v2  # the cgroup v2 readers too (scripts/vm-test)
def test_explain_matches_what_the_kernel_says(engine, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    engine("run", "-d", "--name", "web", "-m", "48m", "-p", "127.0.0.1:18081:80", "-v", f"{vol}:/data",
           "busybox", "httpd", "-f", "-p", "80")
    engine("run", "-d", "--name", "db", "--network", "none", "busybox", "sleep", "300")
    pid = int(inspect(engine, "web", "{{.State.Pid}}"))
    ip = inspect(engine, "web", "{{.NetworkSettings.IPAddress}}")
    info = json.loads(engine("explain", "--format", "json", "web").stdout)

    assert info["container"]["pid"] == pid and info["container"]["name"] == "web"
    init = info["processes"][0]
    assert init["pid"] == pid and init["nspid"] == int(status(pid)["NSpid"].split()[-1]) == 1
    assert init["cmd"].startswith("httpd -f -p 80")
    for kind, ns in info["namespaces"].items():
        assert ns["inode"] == os.stat(f"/proc/{pid}/ns/{kind}").st_ino, kind
    for kind in ("pid", "mnt", "uts", "ipc", "net"):
        assert not info["namespaces"][kind]["host"], kind
    assert info["cgroup"]["limits"]["memory"] == memory_limit(pid) == 48 * 2 ** 20
    assert info["cgroup"]["usage"]["pids"] >= 1

    # the overlay as the kernel mounted it: the container's "/" on the host's merged directory
    with open(f"/proc/{pid}/mountinfo") as f:
        root = next(line.split() for line in f if line.split()[4] == "/")
    options = root[root.index("-") + 3]
    upper = re.search(r"upperdir=([^,]+)", options).group(1)
    assert info["overlay"]["upper"]["path"] == upper and info["overlay"]["fstype"] == "overlay"
    kinds = [layer["kind"] for layer in info["overlay"]["lower"]]
    assert kinds[0] == "image layer" and kinds[-1] == "init layer"  # bottom first
    assert info["overlay"]["merged"].endswith("/merged") and os.path.ismount(info["overlay"]["merged"])
    data = next(m for m in info["mounts"] if m["target"] == "/data")
    assert data["propagation"] and data["fstype"] and data["root"].endswith(str(vol).rsplit("/", 1)[1])

    st = status(pid)
    assert set(info["security"]["cap_eff"]) == cap_names(st["CapEff"])
    assert set(info["security"]["cap_bnd"]) == cap_names(st["CapBnd"])
    assert info["security"]["no_new_privs"] == (st["NoNewPrivs"] == "1")
    assert info["security"]["seccomp"] == "filter" and st["Seccomp"] == "2"
    assert info["security"]["seccomp_filters"] == int(st["Seccomp_filters"]) >= 1
    assert info["security"]["seccomp_syscalls"] > 100

    # the network, as `ip` in the test's namespace and in the container's sees it
    eth0 = next(i for i in info["network"]["interfaces"] if i["name"] == "eth0")
    assert f"{ip}/16" in eth0["addresses"]
    inside = json.loads(subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-j", "link", "show", "eth0"],
                                       capture_output=True, text=True, check=True).stdout)[0]
    peer = json.loads(subprocess.run(engine.netns.enter + ["ip", "-j", "link", "show", eth0["peer"]["name"]],
                                     capture_output=True, text=True, check=True).stdout)[0]
    assert inside["link_index"] == peer["ifindex"] == eth0["peer"]["ifindex"]
    assert peer["master"] == eth0["peer"]["bridge"]
    port = info["network"]["ports"][0]
    assert (port["host_ip"], port["host_port"], port["container_ip"], port["container_port"]) == \
        ("127.0.0.1", 18081, ip, 80)
    ruleset = subprocess.run(engine.netns.enter + ["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    assert f"127.0.0.1 . tcp . 18081 : {ip} . 80" in ruleset
    assert any("18081" in e["element"] for e in info["network"]["nft"])

    # the terminal tree says the same, and the SVG names each object
    text = engine("explain", "web").stdout
    for word in (f"{pid} (pid 1 in the container)", "48.0MiB limit", "image layer", "init layer", "upper",
                 eth0["peer"]["name"], eth0["peer"]["bridge"], f"127.0.0.1:18081 → {ip}:80/tcp", "seccomp filter"):
        assert word in text, word
    assert "\033[" not in text  # no colour when stdout is not a terminal
    svg = tmp_path / "web.svg"
    engine("explain", "--svg", svg, "web")
    drawn = " ".join(t.text or "" for t in ET.parse(svg).iter() if t.tag.endswith("text"))
    for word in ("httpd", "pid", "net", "mnt", "cgroup", "upper", "merged", "eth0", eth0["peer"]["name"],
                 eth0["peer"]["bridge"], "18081", "mount /data", "capabilities", "seccomp filter"):
        assert word in drawn, word

    # --diff: own namespaces and layers apart, the image's layer shared
    d = json.loads(engine("explain", "--diff", "--format", "json", "web", "db").stdout)
    shared = {r["object"] for r in d["shared"]}
    separate = {r["object"] for r in d["separate"]}
    assert {"pid namespace", "net namespace", "mnt namespace", "upper layer"} <= separate
    assert any(o.startswith("image layer") for o in shared)
    assert "pid namespace" in engine("explain", "--diff", "web", "db").stdout

    engine("stop", "-t", "1", "db")
    p = engine("explain", "db", check=False)
    assert p.returncode == 1 and p.stderr.strip().endswith("is not running"), p.stderr
    p = engine("explain", "nosuch", check=False)
    assert p.returncode == 1 and "No such container" in p.stderr, p.stderr
    engine("rm", "-f", "web", "db")
