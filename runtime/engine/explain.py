"""`hull explain`: what the kernel holds for a running container, read back from /proc and /sys
(not from hull's records: those give only the header, and which of hull's objects is which); the
parsers of /proc's files are runtime/linux/procinfo.py.

    processes   /proc/*/status (PPid, NSpid), /proc/*/ns/pid, /proc/*/cmdline
    namespaces  /proc/PID/ns/* inodes, against /proc/self/ns/* and every other process's
    cgroup      /proc/PID/cgroup -> /sys/fs/cgroup/...: limits and usage files
    overlay     /proc/PID/mountinfo's "/" (lowerdir=, upperdir=, workdir=), /proc/self/mountinfo
                for where it is mounted on the host, sizes by walking each layer
    mounts      /proc/PID/mountinfo with propagation (shared:N, master:N, unbindable)
    security    /proc/PID/status (Cap*, NoNewPrivs, Seccomp); the filtered syscalls' count from
                the bundle's config.json (the kernel shows a filter's rules only to ptrace)
    network     links and addresses in the container's netns (a forked child that setns()es),
                the veth's peer and its bridge here, published ports from hull's nftables table

explain(c) returns one JSON-able dict; diff(a, b) compares two of them. A process that exits while
it is read is skipped; a file that is missing reads as None.
"""
import os

from runtime.errors import Conflict
from runtime.linux.procinfo import (cap_names, ns_inode, overlay_layers, parse_cgroup, parse_mountinfo, parse_status,
                                    propagation, read_int, read_text, split_options, tree_size)

NS_TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
SHARED_LISTED = 5        # other processes named per namespace (the rest are counted)
CMD_WIDTH = 80
UNLIMITED_V1 = 2 ** 62   # memory.limit_in_bytes at or above this means no limit


# -- processes -------------------------------------------------------------------------------------

def _cmdline(pid) -> str:
    """/proc/PID/cmdline joined with spaces (shortened), or [comm] for kernel threads and zombies."""
    raw = read_text(f"/proc/{pid}/cmdline")
    text = " ".join(a for a in (raw or "").split("\0") if a)
    if not text:
        comm = (read_text(f"/proc/{pid}/comm") or "?").strip()
        text = f"[{comm}]"
    return text if len(text) <= CMD_WIDTH else text[:CMD_WIDTH - 1] + "…"


def snapshot() -> dict:
    """Every process now: {pid: {"ppid", "nspid", "ns": {type: inode}}} from /proc/*/status and
    /proc/*/ns (processes that exit meanwhile are left out; commands are read later, only for
    the processes shown)."""
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        status = read_text(f"/proc/{entry}/status")
        if status is None:
            continue
        s = parse_status(status)
        nspid = (s.get("NSpid") or entry).split()
        procs[int(entry)] = {"ppid": int(s.get("PPid") or 0), "nspid": int(nspid[-1]),
                             "ns": {t: ns_inode(entry, t) for t in NS_TYPES}}
    return procs


def members(init: int, procs: dict) -> set:
    """The container's processes: those in the init's pid namespace (unless that is ours), and the
    init's descendants."""
    own = ns_inode("self", "pid")
    pidns = procs.get(init, {}).get("ns", {}).get("pid")
    out = {p for p, info in procs.items() if pidns is not None and pidns != own and info["ns"]["pid"] == pidns}
    out.add(init)
    children = {}
    for p, info in procs.items():
        children.setdefault(info["ppid"], []).append(p)
    stack = [init]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def process_tree(init: int, procs: dict, member: set) -> list:
    """The container's processes as trees: the init's first, then any whose parent is outside the
    container (an exec's process, whose parent is the hull that joined it)."""
    def node(pid):
        info = procs[pid]
        kids = sorted(p for p in member if procs[p]["ppid"] == pid and p != init)
        return {"pid": pid, "nspid": info["nspid"], "ppid": info["ppid"], "cmd": _cmdline(pid),
                "children": [node(k) for k in kids]}
    roots = [init] + sorted(p for p in member if p != init and procs[p]["ppid"] not in member)
    return [node(p) for p in roots if p in procs]


# -- namespaces ------------------------------------------------------------------------------------

def namespaces(init: int, procs: dict, member: set, others: dict) -> dict:
    """/proc/INIT/ns/*: each type's inode, whether it is the explaining process's own (not isolated),
    and the processes outside the container that share it (others: {pid ns inode: container name}
    of hull's other running containers, to name them)."""
    out = {}
    for kind in NS_TYPES:
        inode = procs.get(init, {}).get("ns", {}).get(kind)
        if inode is None:
            continue
        sharers = sorted((p for p, info in procs.items() if info["ns"].get(kind) == inode and p not in member),
                         key=lambda p: (p == 2 or procs[p]["ppid"] == 2, p))  # kernel threads last
        listed = [{"pid": p, "cmd": _cmdline(p)} for p in sharers[:SHARED_LISTED]]
        containers = sorted({others[procs[p]["ns"]["pid"]] for p in sharers if procs[p]["ns"]["pid"] in others})
        out[kind] = {"inode": inode, "host": inode == ns_inode("self", kind), "shared_with": listed,
                     "shared_count": len(sharers), "shared_containers": containers}
    return out


def other_containers(c) -> dict:
    """{pid namespace inode: name} of the root's other running containers (hull's records say which
    process is whose; the inodes are read from /proc)."""
    from runtime.engine.containers import Containers
    out = {}
    try:
        everyone = Containers(c.root).all()
    except OSError:
        return out
    for other in everyone:
        if other.id != c.id and other.state.get("Running") and other.state.get("Pid"):
            inode = ns_inode(other.state["Pid"], "pid")
            if inode is not None:
                out[inode] = other.name.lstrip("/") or other.id[:12]
    return out


# -- cgroup ----------------------------------------------------------------------------------------

def cgroup_dir(path: str, controller: str, mounts: list) -> str | None:
    """Where the cgroup `path` of a controller ("" for v2) is in /sys/fs/cgroup, from our own
    mountinfo's cgroup mounts (a mount's root may be a sub-cgroup)."""
    for m in mounts:
        if controller == "" and m["fstype"] != "cgroup2":
            continue
        if controller and (m["fstype"] != "cgroup" or controller not in m["super"].split(",")):
            continue
        root = m["root"].rstrip("/")
        if path == root or path.startswith(root + "/"):
            return os.path.join(m["target"], path[len(root):].lstrip("/")).rstrip("/")
    return None


def cgroup(pid: int) -> dict | None:
    """/proc/PID/cgroup and the limit/usage files of its directories (v2: memory.max, pids.max,
    cpu.max, cpu.weight, memory.current, pids.current, cpu.stat; v1: the memory, pids, cpu and
    cpuacct controllers' own files)."""
    text = read_text(f"/proc/{pid}/cgroup")
    if text is None:
        return None
    paths = parse_cgroup(text)
    mounts = [m for m in parse_mountinfo(read_text("/proc/self/mountinfo") or "") if m["fstype"] in ("cgroup", "cgroup2")]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        d = cgroup_dir(paths.get("", ""), "", mounts)
        return {"version": 2, "path": paths.get(""), "dir": d, **_limits_v2(d)}
    dirs = {ctl: cgroup_dir(paths[ctl], ctl, mounts) for ctl in ("memory", "pids", "cpu", "cpuacct") if ctl in paths}
    return {"version": 1, "path": paths.get("memory"), "dir": dirs.get("memory"), "dirs": dirs,
            **_limits_v1(dirs)}


def _limits_v2(d: str | None) -> dict:
    """v2's files of one directory."""
    f = (lambda name: os.path.join(d, name)) if d else (lambda name: "/nonexistent")
    cpu = (read_text(f("cpu.max")) or "").split()
    usage_usec = next((int(line.split()[1]) for line in (read_text(f("cpu.stat")) or "").splitlines()
                       if line.startswith("usage_usec ")), None)
    return {"limits": {"memory": read_int(f("memory.max")), "pids": read_int(f("pids.max")),
                       "cpu": {"quota_us": int(cpu[0]), "period_us": int(cpu[1])}
                       if len(cpu) == 2 and cpu[0].isdigit() else None,
                       "cpu_weight": read_int(f("cpu.weight"))},
            "usage": {"memory": read_int(f("memory.current")), "pids": read_int(f("pids.current")), "cpu_usec": usage_usec}}


def _limits_v1(dirs: dict) -> dict:
    """v1's files, each in its controller's directory."""
    def f(ctl, name):
        return os.path.join(dirs[ctl], name) if dirs.get(ctl) else "/nonexistent"
    memory = read_int(f("memory", "memory.limit_in_bytes"))
    quota, period = read_int(f("cpu", "cpu.cfs_quota_us")), read_int(f("cpu", "cpu.cfs_period_us"))
    cpuacct = read_int(f("cpuacct", "cpuacct.usage"))
    return {"limits": {"memory": memory if memory is not None and memory < UNLIMITED_V1 else None,
                       "pids": read_int(f("pids", "pids.max")),
                       "cpu": {"quota_us": quota, "period_us": period} if quota and quota > 0 and period else None,
                       "cpu_shares": read_int(f("cpu", "cpu.shares"))},
            "usage": {"memory": read_int(f("memory", "memory.usage_in_bytes")), "pids": read_int(f("pids", "pids.current")),
                      "cpu_usec": cpuacct // 1000 if cpuacct is not None else None}}


# -- overlay and mounts ----------------------------------------------------------------------------

def root_mount(entries: list) -> dict | None:
    """The mount a process sees as "/" (the last one listed on "/": it covers the others)."""
    roots = [m for m in entries if m["target"] == "/"]
    return roots[-1] if roots else None


def layer_kind(path: str, c) -> tuple:
    """(label, chain ID or None) of a lower directory, from where hull keeps layers: the image
    store's layers/CHAIN/diff, or the container's own init directory."""
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    if real == os.path.realpath(c.path("init")) or parts[-1:] == ["init"] and parts[-3:-2] == ["containers"]:
        return "init layer", None
    if len(parts) > 2 and parts[-1] == "diff" and parts[-3] == "layers":
        return "image layer", "sha256:" + parts[-2]
    return "layer", None


def overlay(pid: int, c) -> dict | None:
    """/proc/PID/mountinfo's root mount: overlay's lower layers (bottom first: image layers, then
    the init layer), upper and work directories, and (from /proc/self/mountinfo, the mount with the
    same device number) where it is mounted here."""
    entries = parse_mountinfo(read_text(f"/proc/{pid}/mountinfo") or "")
    root = root_mount(entries)
    if root is None:
        return None
    out = {"fstype": root["fstype"], "source": root["source"], "dev": root["dev"], "lower": [], "upper": None,
           "work": None, "merged": None}
    if root["fstype"] != "overlay":
        return out
    layers = overlay_layers(split_options(root["super"]))
    store_root = os.path.join(c.root, "images")  # hull mounts with l/SHORT names relative to it
    for written, data_only in reversed(layers["lower"]):
        path = written if os.path.isabs(written) else os.path.join(store_root, written)
        kind, chain = layer_kind(path, c)
        out["lower"].append({"path": os.path.realpath(path), "as_mounted": written, "kind": kind, "chain": chain,
                             "data_only": data_only, **tree_size(path)})
    if layers["upper"]:
        out["upper"] = {"path": layers["upper"], **tree_size(layers["upper"])}
    out["work"] = layers["work"]
    here = [m for m in parse_mountinfo(read_text("/proc/self/mountinfo") or "")
            if m["dev"] == root["dev"] and m["fstype"] == "overlay" and m["root"] == "/"]
    out["merged"] = here[0]["target"] if here else None
    return out


def mounts(pid: int) -> list:
    """/proc/PID/mountinfo: each mount's target, type, source, the path within its file system
    (a bind mount's host directory, relative to that file system), options and propagation."""
    return [{"target": m["target"], "fstype": m["fstype"], "source": m["source"], "root": m["root"],
             "options": m["options"], "propagation": propagation(m["optional"])}
            for m in parse_mountinfo(read_text(f"/proc/{pid}/mountinfo") or "")]


# -- security --------------------------------------------------------------------------------------

SECCOMP_MODES = {"0": "disabled", "1": "strict", "2": "filter"}


def seccomp_rules(config: dict) -> tuple:
    """(syscalls whose action differs from the default, the default action) of an OCI config's
    linux.seccomp; (None, None) if it has none."""
    sc = (config.get("linux") or {}).get("seccomp")
    if not sc:
        return None, None
    default = sc.get("defaultAction")
    names = {n for rule in sc.get("syscalls") or [] if rule.get("action") != default for n in rule.get("names") or []}
    return len(names), default


def security(pid: int, c) -> dict | None:
    """/proc/PID/status: capability sets, NoNewPrivs, Seccomp and Seccomp_filters; the bundle's
    config.json for how many syscalls the filter treats otherwise than its default."""
    text = read_text(f"/proc/{pid}/status")
    if text is None:
        return None
    s = parse_status(text)
    out = {"cap_eff": cap_names(s.get("CapEff")), "cap_prm": cap_names(s.get("CapPrm")),
           "cap_bnd": cap_names(s.get("CapBnd")), "no_new_privs": s.get("NoNewPrivs") == "1",
           "seccomp": SECCOMP_MODES.get(s.get("Seccomp", ""), "unknown"),
           "seccomp_filters": int(s["Seccomp_filters"]) if s.get("Seccomp_filters", "").isdigit() else None,
           "seccomp_syscalls": None, "seccomp_default_action": None, "seccomp_syscalls_from": None}
    from runtime import fastjson as json
    try:
        with open(c.path("bundle", "config.json"), "rb") as f:
            count, default = seccomp_rules(json.load(f))
    except (OSError, ValueError):
        return out
    if count is not None:
        out.update(seccomp_syscalls=count, seccomp_default_action=default, seccomp_syscalls_from="config.json")
    return out


# -- network ---------------------------------------------------------------------------------------

def dump_links() -> list:
    """Links and addresses of the calling process's netns (netlink RTM_GETLINK/GETADDR), as
    [{"name", "ifindex", "mac", "kind", "link", "master", "addresses"}]."""
    from runtime.network import netlink
    with netlink.iproute()() as ip:
        links = {m["index"]: {"name": m.get_attr("IFLA_IFNAME"), "ifindex": m["index"],
                              "mac": m.get_attr("IFLA_ADDRESS"), "link": m.get_attr("IFLA_LINK"),
                              "master": m.get_attr("IFLA_MASTER"), "kind": _kind(m), "addresses": []}
                 for m in ip.get_links()}
        for a in ip.get_addr():
            if a["index"] in links and a.get_attr("IFA_ADDRESS"):
                links[a["index"]]["addresses"].append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    return sorted(links.values(), key=lambda link: link["ifindex"])


def _kind(msg) -> str | None:
    info = msg.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info else None


def port_elements(nft_json: dict, table: str, addresses: set) -> tuple:
    """hull's ports_any / ports_ip maps (`nft -j list table`) -> (ports, elements) whose target
    address is one of addresses."""
    ports, elements = [], []
    for item in nft_json.get("nftables", []):
        m = item.get("map")
        if not m or m.get("name") not in ("ports_any", "ports_ip"):
            continue
        for pair in m.get("elem") or []:
            try:
                key, value = pair
                key = key.get("elem", {}).get("val", key) if isinstance(key, dict) and "elem" in key else key
                keys = key["concat"] if isinstance(key, dict) else [key]
                addr, cport = value["concat"]
            except (ValueError, TypeError, KeyError):
                continue
            if addr not in addresses:
                continue
            host_ip, proto, hport = (keys if len(keys) == 3 else ["0.0.0.0"] + list(keys))
            ports.append({"host_ip": host_ip, "host_port": hport, "proto": proto, "container_ip": addr,
                          "container_port": cport})
            elements.append({"table": table, "map": m["name"],
                             "element": f"{' . '.join(str(k) for k in keys)} : {addr} . {cport}"})
    return ports, elements


def network(pid: int, c, ns: dict) -> dict:
    """The container's links (dumped inside its netns by a forked child), each veth's peer here
    (its IFLA_LINK) and the bridge it is enslaved to (IFLA_MASTER), and the ports hull's nftables
    table maps to the container's addresses."""
    out = {"mode": None, "configured": (c.config.get("HostConfig") or {}).get("NetworkMode"),
           "interfaces": [], "ports": [], "nft": []}
    net = ns.get("net") or {}
    if net.get("host"):
        out["mode"] = "host"
        return out
    from runtime.linux import namespaces as ns_mod
    try:
        inside = ns_mod.call_in("network", f"/proc/{pid}/ns/net", dump_links)
    except OSError as e:
        out["error"] = f"cannot read the container's links: {e.strerror or e}"
        return out
    try:
        host = {link["ifindex"]: link for link in dump_links()}
    except Exception:  # noqa: BLE001 - pyroute2's NetlinkError is no OSError; the peers are then unknown
        host = {}
    for link in inside:
        out["interfaces"].append({k: link[k] for k in ("name", "ifindex", "mac", "kind", "addresses")}
                                 | {"peer": _peer(link, host)})
    out["mode"] = ("none" if all(link["name"] == "lo" for link in inside) else
                   "bridge" if any(i["peer"] for i in out["interfaces"]) else "own netns")
    out["shared_with"] = net.get("shared_containers") or []  # --network container:X, either way round
    _ports(c, out)
    return out


def _peer(link: dict, host: dict) -> dict | None:
    """The host end of a veth: the link here whose index is the veth's IFLA_LINK and whose own
    IFLA_LINK points back (indexes of another netns could match an unrelated link)."""
    if link["kind"] != "veth" or not link["link"]:
        return None
    peer = host.get(link["link"])
    if not peer or peer["kind"] != "veth" or peer["link"] != link["ifindex"]:
        return None
    bridge = host.get(peer["master"]) if peer["master"] else None
    return {"name": peer["name"], "ifindex": peer["ifindex"], "bridge": bridge["name"] if bridge else None,
            "bridge_addresses": bridge["addresses"] if bridge else []}


def _ports(c, out: dict) -> None:
    """Fill out["ports"] and out["nft"] from hull's table (its name follows the root)."""
    addresses = {a.split("/")[0] for i in out["interfaces"] for a in i["addresses"] if ":" not in a}
    if not addresses:
        return
    from runtime import fastjson as json
    from runtime.linux import nft
    from runtime.network.endpoint import table_for
    table = table_for(c.root)
    try:
        data = json.loads(nft.run(f"list table ip {table}", json_output=True))
    except (OSError, ValueError):
        return
    out["ports"], out["nft"] = port_elements(data, table, addresses)


# -- the whole picture -----------------------------------------------------------------------------

def explain(c) -> dict:
    """What the kernel holds for the running container c (an engine Container, loaded)."""
    from runtime.linux import proc
    pid = c.state.get("Pid") or 0
    if not (c.state.get("Running") and proc.is_alive(pid, c.state.get("PidStart"))):
        raise Conflict(f"container {c.name.lstrip('/') or c.id[:12]} is not running")
    procs = snapshot()
    if pid not in procs:
        raise Conflict(f"container {c.name.lstrip('/') or c.id[:12]} is not running")
    member = members(pid, procs)
    ns = namespaces(pid, procs, member, other_containers(c))
    return {"container": {"id": c.id, "name": c.name.lstrip("/"), "image": c.config["Config"].get("Image") or c.config.get("Image"), "pid": pid},
            "processes": process_tree(pid, procs, member), "namespaces": ns, "cgroup": cgroup(pid),
            "overlay": overlay(pid, c), "mounts": mounts(pid), "security": security(pid, c),
            "network": network(pid, c, ns)}


def diff(a: dict, b: dict) -> dict:
    """What two explained containers share and what they do not: namespaces (same inode), cgroup
    and its parent, lower layers (same directory), bridge. Records: {"object", "a", "b"}."""
    shared, separate = [], []

    def put(same, obj, va, vb):
        (shared if same else separate).append({"object": obj, "a": va, "b": vb})

    na, nb = a.get("namespaces") or {}, b.get("namespaces") or {}
    for kind in NS_TYPES:
        if kind in na and kind in nb:
            put(na[kind]["inode"] == nb[kind]["inode"], f"{kind} namespace", na[kind]["inode"], nb[kind]["inode"])
    ca, cb = a.get("cgroup") or {}, b.get("cgroup") or {}
    if ca.get("path") and cb.get("path"):
        put(ca["path"] == cb["path"], "cgroup", ca["path"], cb["path"])
        pa, pb = os.path.dirname(ca["path"]), os.path.dirname(cb["path"])
        put(pa == pb, "cgroup parent", pa, pb)
    _diff_layers(a, b, put)
    ba, bb = _bridges(a), _bridges(b)
    if ba or bb:
        put(bool(ba & bb) and ba == bb, "bridge", sorted(ba), sorted(bb))
    return {"a": (a.get("container") or {}).get("name"), "b": (b.get("container") or {}).get("name"),
            "shared": shared, "separate": separate}


def _diff_layers(a: dict, b: dict, put) -> None:
    """Image layers by directory (the store keeps one per chain, shared by every container); the
    init and upper layers, one of each per container, paired."""
    def lower(info, kind):
        return {l["path"]: l for l in (info.get("overlay") or {}).get("lower") or [] if l["kind"] == kind}
    la, lb = lower(a, "image layer"), lower(b, "image layer")
    for path in sorted(la.keys() | lb.keys(), key=lambda p: (p not in la, p)):
        layer = la.get(path) or lb[path]
        put(path in la and path in lb, f"image layer {layer.get('chain') or path}",
            path if path in la else None, path if path in lb else None)
    ia, ib = sorted(lower(a, "init layer")), sorted(lower(b, "init layer"))
    if ia or ib:
        put(ia == ib, "init layer", ia, ib)
    ua, ub = ((x.get("overlay") or {}).get("upper") or {} for x in (a, b))
    if ua or ub:
        put(ua.get("path") == ub.get("path"), "upper layer", ua.get("path"), ub.get("path"))


def _bridges(info: dict) -> set:
    return {i["peer"]["bridge"] for i in (info.get("network") or {}).get("interfaces") or []
            if i.get("peer") and i["peer"].get("bridge")}
