"""`hull explain`'s pictures of what runtime.engine.explain read from the kernel: a terminal tree,
a Graphviz DOT graph (drawn to SVG/PNG by Debian's graphviz), and the text of a --diff. Pure
rendering: nothing here reads /proc or /sys.
"""
import os
import re
import shutil
import subprocess
import sys

from runtime.cli.args import Flag, UsageError, Verb
from runtime.errors import HullError, InvalidArgument

BOLD, GREEN, YELLOW, DIM, RESET = "\033[1m", "\033[32m", "\033[33m", "\033[2m", "\033[0m"
NS_ORDER = ("pid", "net", "mnt", "ipc", "uts", "cgroup", "user", "time")


def human(n) -> str:
    """Bytes in binary units, as the kernel's own files count them: 4.0KiB, 8.0MiB."""
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n}B" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024


def short(text, n: int = 12) -> str:
    """An ID or digest cut to n characters after its algorithm (sha256:0123456789ab)."""
    if not text:
        return ""
    algo, sep, rest = str(text).rpartition(":")
    return f"{algo}{sep}{rest[:n]}"


def short_ids(text: str) -> str:
    """Every 64-hex ID or digest in text cut to 12 characters (summary lines; full paths stay in
    the lines below them)."""
    return re.sub(r"[0-9a-f]{64}", lambda m: m.group(0)[:12] + "…", str(text))


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color else text


# -- the terminal tree -----------------------------------------------------------------------------

def _draw(nodes: list, prefix: str = "") -> list:
    """[(label, [children])] -> lines with ├─ └─ │ branches."""
    lines = []
    for i, (label, children) in enumerate(nodes):
        last = i == len(nodes) - 1
        lines.append(f"{prefix}{'└─' if last else '├─'} {label}")
        lines += _draw(children, prefix + ("   " if last else "│  "))
    return lines


def tree(info: dict, color: bool = False) -> str:
    """The whole picture as a tree: one branch per kind of kernel object."""
    c = info.get("container") or {}
    head = f"container {c.get('name')} ({short(c.get('id'))}) image {c.get('image')}"
    sections = [_processes_node(info, color), _namespaces_node(info, color), _cgroup_node(info, color),
                _overlay_node(info, color), _mounts_node(info, color), _security_node(info, color),
                _network_node(info, color)]
    return "\n".join([_paint(head, BOLD, color)] + _draw([s for s in sections if s])) + "\n"


def _process_label(p: dict) -> str:
    return f"{p['pid']} (pid {p['nspid']} in the container) {p['cmd']}"


def _processes_node(info: dict, color: bool) -> tuple:
    def node(p):
        return _process_label(p), [node(k) for k in p.get("children") or []]
    return _paint("processes", BOLD, color), [node(p) for p in info.get("processes") or []]


def namespace_text(kind: str, ns: dict, color: bool = False) -> str:
    """`net  4026532504  own, shared with 2 processes (4301 sleep 1, ...)`."""
    state = _paint("host", YELLOW, color) if ns.get("host") else _paint("own", GREEN, color)
    text = f"{kind:<6} {ns['inode']}  {state}"
    if ns.get("shared_containers"):
        text += ", shared with container " + ", ".join(ns["shared_containers"])
    if ns.get("shared_count"):
        listed = (ns.get("shared_with") or [])[:3]
        named = ", ".join(f"{p['pid']} {_cut(p['cmd'], 24)}" for p in listed)
        more = ns["shared_count"] - len(listed)
        text += f", shared with {ns['shared_count']} processes outside ({named}{f', +{more} more' if more > 0 else ''})"
    return text


def _namespaces_node(info: dict, color: bool) -> tuple:
    ns = info.get("namespaces") or {}
    kinds = [k for k in NS_ORDER if k in ns] + sorted(k for k in ns if k not in NS_ORDER)
    return _paint("namespaces", BOLD, color), [(namespace_text(k, ns[k], color), []) for k in kinds]


def cgroup_text(cg: dict) -> str:
    """`memory 8.0MiB limit, 1.2MiB used; pids 3/100; cpu 50000/100000 us`."""
    lim, use = cg.get("limits") or {}, cg.get("usage") or {}
    limit = f"{human(lim['memory'])} limit" if lim.get("memory") else "no limit"
    memory = f"memory {limit}, {human(use.get('memory'))} used"
    pids = f"pids {use.get('pids') if use.get('pids') is not None else '?'}/{lim.get('pids') or 'max'}"
    cpu = lim.get("cpu")
    cpu_text = f"cpu {cpu['quota_us']}/{cpu['period_us']} us" if cpu else "cpu no quota"
    if lim.get("cpu_weight") is not None:
        cpu_text += f", weight {lim['cpu_weight']}"
    elif lim.get("cpu_shares") is not None:
        cpu_text += f", shares {lim['cpu_shares']}"
    if use.get("cpu_usec") is not None:
        cpu_text += f", {use['cpu_usec'] / 1e6:.2f}s used"
    return f"{memory}; {pids}; {cpu_text}"


def _cgroup_node(info: dict, color: bool) -> tuple | None:
    cg = info.get("cgroup")
    if not cg:
        return None
    dirs = cg.get("dirs") or {"": cg.get("dir")}
    children = [(f"{k + ' ' if k else ''}{d}", []) for k, d in dirs.items() if d]
    head = f"{_paint('cgroup', BOLD, color)} v{cg.get('version')} {short_ids(cg.get('path'))}  {cgroup_text(cg)}"
    return head, children


def _size(entry: dict) -> str:
    return ("~" if entry.get("approx") else "") + human(entry.get("size"))


def layer_text(layer: dict) -> str:
    """`image layer sha256:abababababab 1.2MiB`, `init layer 0B` (the path is on a line of its own)."""
    name = f" {short(layer['chain'])}" if layer.get("chain") else ""
    if not name and layer.get("kind") == "layer":
        name = f" {short_ids(layer.get('path'))}"
    data = " (data-only)" if layer.get("data_only") else ""
    return f"{layer.get('kind')}{name} {_size(layer)}{data}"


def _overlay_node(info: dict, color: bool) -> tuple | None:
    ov = info.get("overlay")
    if not ov:
        return None
    if ov.get("fstype") != "overlay":
        return f"{_paint('root', BOLD, color)}  {ov.get('fstype')} {ov.get('source')} (not an overlay)", []
    chain = [layer_text(layer) for layer in ov.get("lower") or []]
    if ov.get("upper"):
        chain.append(f"upper {_size(ov['upper'])}")
    chain.append(f"merged {short_ids(ov.get('merged') or '(not mounted here)')}")
    children = [(f"{layer_text(layer)}  {layer.get('path')}", []) for layer in ov.get("lower") or []]
    if ov.get("upper"):
        children.append((f"upper {_size(ov['upper'])}  {ov['upper'].get('path')}", []))
    children += [(f"work {ov.get('work')}", []), (f"merged {ov.get('merged') or '(not mounted here)'}", [])]
    return f"{_paint('overlay', BOLD, color)}  {' → '.join(chain)}", children


def _root(m: dict) -> str:
    """A bind mount's directory within its file system (the host path bound in), when not its root."""
    return f":{m['root']}" if m.get("root") not in (None, "", "/") else ""


def _mounts_node(info: dict, color: bool) -> tuple:
    ms = info.get("mounts") or []
    children = [(f"{m['target']} {m['fstype']} {m['source']}{_root(m)} {m['options']} {m['propagation']}", [])
                for m in ms]
    first = f"  {ms[0]['target']} {ms[0]['fstype']} {ms[0]['propagation']}" if ms else ""
    return f"{_paint('mounts', BOLD, color)} ({len(ms)}){first}", children


def seccomp_text(s: dict) -> str:
    """`seccomp filter (1 filter, 300 syscalls from config.json)`."""
    text = f"seccomp {s.get('seccomp')}"
    if s.get("seccomp") == "filter":
        parts = [f"{s.get('seccomp_filters')} filter{'s' if s.get('seccomp_filters') != 1 else ''}"]
        if s.get("seccomp_syscalls") is not None:
            parts.append(f"{s['seccomp_syscalls']} syscalls from {s.get('seccomp_syscalls_from')}"
                         + (f", default {s['seccomp_default_action']}" if s.get("seccomp_default_action") else ""))
        text += f" ({', '.join(parts)})"
    return text


def _caps(names: list) -> str:
    return f"{len(names)} caps [{' '.join(n.removeprefix('CAP_').lower() for n in names)}]"


def _security_node(info: dict, color: bool) -> tuple | None:
    s = info.get("security")
    if not s:
        return None
    nnp = "yes" if s.get("no_new_privs") else "no"
    children = [(f"effective {_caps(s.get('cap_eff') or [])}", []),
                (f"permitted {_caps(s.get('cap_prm') or [])}", []),
                (f"bounding {_caps(s.get('cap_bnd') or [])}", [])]
    head = (f"{_paint('security', BOLD, color)}  CapEff {len(s.get('cap_eff') or [])} caps, bounding "
            f"{len(s.get('cap_bnd') or [])}, no_new_privs {nnp}, {seccomp_text(s)}")
    return head, children


def interface_text(i: dict) -> str:
    """`eth0 10.88.0.2/16 ⇄ veth1234 ⇄ bridge hull0 10.88.0.1/16`."""
    text = f"{i['name']} {' '.join(i.get('addresses') or []) or '(no address)'}"
    peer = i.get("peer")
    if peer:
        text += f" ⇄ {peer['name']}"
        if peer.get("bridge"):
            text += f" ⇄ bridge {peer['bridge']} {' '.join(peer.get('bridge_addresses') or [])}".rstrip()
    return text


def port_text(p: dict, element: dict | None = None) -> str:
    """`127.0.0.1:8080 → 10.88.0.2:80/tcp (nft map ports_ip)`."""
    text = f"{p['host_ip']}:{p['host_port']} → {p['container_ip']}:{p['container_port']}/{p['proto']}"
    return text + (f" (nft {element['table']} map {element['map']})" if element else "")


def _network_node(info: dict, color: bool) -> tuple | None:
    n = info.get("network")
    if not n:
        return None
    head = f"{_paint('network', BOLD, color)}  {n.get('mode')}"
    if n.get("mode") == "host":
        head += " (the host's network namespace: no isolation)"
    if n.get("shared_with"):
        head += f", netns shared with container {', '.join(n['shared_with'])}"
    if n.get("error"):
        head += f" ({n['error']})"
    nft = n.get("nft") or []
    children = [(interface_text(i), []) for i in n.get("interfaces") or []]
    children += [(port_text(p, nft[k] if k < len(nft) else None), []) for k, p in enumerate(n.get("ports") or [])]
    return head, children


# -- Graphviz --------------------------------------------------------------------------------------

def _q(text) -> str:
    """A DOT string literal (label text: newlines become centred line breaks)."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Graph:
    """DOT statements with generated node IDs (labels carry the names)."""

    def __init__(self):
        self.lines, self.count = [], 0

    def node(self, label: str, **attrs) -> str:
        self.count += 1
        nid = f"n{self.count}"
        extra = "".join(f", {k}={_q(v)}" for k, v in attrs.items())
        self.lines.append(f"  {nid} [label={_q(short_ids(label))}{extra}];")
        return nid

    def edge(self, a: str, b: str, **attrs) -> None:
        extra = ", ".join(f"{k}={_q(v)}" for k, v in attrs.items())
        self.lines.append(f"  {a} -> {b}" + (f" [{extra}]" if extra else "") + ";")


def dot(info: dict) -> str:
    """A Graphviz digraph of every object: processes (parent → child), each process's namespaces,
    the cgroup, the overlay stack (lower → upper → merged), capabilities and seccomp, the mount
    table (bound-in host paths one by one), interfaces → veth → bridge → ports."""
    g = _Graph()
    c = info.get("container") or {}
    init = _dot_processes(g, info.get("processes") or [])
    ns = _dot_namespaces(g, init, info.get("namespaces") or {}) if init else {}
    if init:
        _dot_cgroup(g, init, info.get("cgroup"))
        _dot_overlay(g, init, info.get("overlay"))
        _dot_security(g, init, info.get("security"))
    _dot_mounts(g, info.get("mounts") or [], ns.get("mnt"))
    _dot_network(g, info.get("network") or {}, ns.get("net"))
    title = f"container {c.get('name')} ({short(c.get('id'))}) image {c.get('image')}"
    return ("digraph explain {\n  rankdir=LR;\n  labelloc=t;\n"
            f"  label={_q(title)};\n"
            '  node [shape=box, fontname="monospace", fontsize=10];\n'
            + "\n".join(g.lines) + "\n}\n")


def _dot_processes(g: _Graph, roots: list) -> str | None:
    """Process nodes and parent → child edges; returns the init's node."""
    def walk(p):
        nid = g.node(f"{_process_label(p)}", shape="box", style="rounded")
        for k in p.get("children") or []:
            g.edge(nid, walk(k))
        return nid
    ids = [walk(p) for p in roots]
    return ids[0] if ids else None


def _dot_namespaces(g: _Graph, init: str, namespaces: dict) -> dict:
    """A node per namespace, the init → each; returns {type: node}."""
    out = {}
    for kind in [k for k in NS_ORDER if k in namespaces]:
        ns = namespaces[kind]
        state = "host" if ns.get("host") else "own"
        out[kind] = g.node(f"{kind} namespace\n{ns['inode']}\n{state}", shape="ellipse",
                           color="orange" if ns.get("host") else "darkgreen")
        g.edge(init, out[kind], style="dashed")
    return out


def bound_in(m: dict) -> bool:
    """A host file or directory bound into the container (a volume, -v, /etc/hosts): a mount of
    part of a file system (its root is not "/"), outside the runtime's /proc, /sys and /dev."""
    return m.get("root") not in (None, "", "/") and m["target"] != "/" and \
        not m["target"].startswith(("/proc", "/sys", "/dev"))


def _dot_mounts(g: _Graph, ms: list, mnt: str | None) -> None:
    """The mount namespace's table: host files and directories bound in one node each, the rest
    (the root, the kernel's file systems, masked paths) summed up in one."""
    if not ms or mnt is None:
        return
    binds = [m for m in ms if bound_in(m)]
    for m in binds:
        where = f"{m['source']} {m.get('root') or ''}".rstrip()
        g.edge(mnt, g.node(f"mount {m['target']}\n{m['fstype']} {where}\n{m['propagation']}", shape="tab"))
    rest = [m for m in ms if not bound_in(m)]
    if rest:
        kinds = sorted({m["fstype"] for m in rest})
        g.edge(mnt, g.node(f"{len(rest)} more mounts\n{' '.join(kinds)}", shape="tab"))


def _dot_security(g: _Graph, init: str, s: dict | None) -> None:
    if s:
        nnp = "yes" if s.get("no_new_privs") else "no"
        label = (f"capabilities: effective {len(s.get('cap_eff') or [])}, bounding {len(s.get('cap_bnd') or [])}\n"
                 f"no_new_privs {nnp}\n{seccomp_text(s)}")
        g.edge(init, g.node(label, shape="octagon"), style="dashed")


def _dot_cgroup(g: _Graph, init: str, cg: dict | None) -> None:
    if cg:
        nid = g.node(f"cgroup v{cg.get('version')}\n{cg.get('path')}\n{cgroup_text(cg)}", shape="component")
        g.edge(init, nid, style="dashed")


def _dot_overlay(g: _Graph, init: str, ov: dict | None) -> None:
    """Layers bottom first, each → the next, → upper → merged ← the init (its root)."""
    if not ov:
        return
    if ov.get("fstype") != "overlay":
        g.edge(init, g.node(f"root {ov.get('fstype')}\n{ov.get('source')}", shape="folder"), label="root")
        return
    prev = None
    stack = [(f"{layer_text(layer)}\n{layer.get('path')}", "folder") for layer in ov.get("lower") or []]
    if ov.get("upper"):
        stack.append((f"upper {_size(ov['upper'])}\n{ov['upper'].get('path')}", "folder"))
    stack.append((f"merged\n{ov.get('merged') or '(not mounted here)'}", "box3d"))
    for label, shape in stack:
        nid = g.node(label, shape=shape)
        if prev:
            g.edge(prev, nid)
        prev = nid
    g.edge(init, prev, label="root", style="dashed")


def _dot_network(g: _Graph, n: dict, netns: str | None) -> None:
    """net namespace → its interfaces; eth0 → veth → bridge → each published port (labelled with
    its nft map element)."""
    bridges = {}
    for i in n.get("interfaces") or []:
        nid = g.node(f"{i['name']}\n{' '.join(i.get('addresses') or [])}", shape="cds")
        if netns:
            g.edge(netns, nid, style="dotted")
        peer = i.get("peer")
        if not peer:
            continue
        vid = g.node(f"{peer['name']}\n(veth, host side)", shape="cds")
        g.edge(nid, vid, dir="both")
        if peer.get("bridge"):
            if peer["bridge"] not in bridges:
                addresses = " ".join(peer.get("bridge_addresses") or [])
                bridges[peer["bridge"]] = g.node(f"bridge {peer['bridge']}\n{addresses}", shape="hexagon")
            g.edge(vid, bridges[peer["bridge"]])
    nft = n.get("nft") or []
    for k, p in enumerate(n.get("ports") or []):
        element = nft[k] if k < len(nft) else None
        label = port_text(p) + (f"\nnft {element['table']} {element['map']}\n{element['element']}" if element else "")
        port_id = g.node(label, shape="note")
        for bid in bridges.values():
            g.edge(bid, port_id)


def render_svg(dot_text: str, path: str, fmt: str = "svg") -> None:
    """Draw dot_text to path with Graphviz's dot (-Tsvg or -Tpng)."""
    if fmt not in ("svg", "png"):
        raise InvalidArgument(f"unknown picture format {fmt!r}: use svg or png")
    exe = shutil.which("dot")
    if exe is None:
        raise HullError("drawing needs Graphviz's dot, which is not installed: apt-get install graphviz "
                        "(or use --format json)")
    try:
        r = subprocess.run([exe, f"-T{fmt}", "-o", os.fspath(path)], input=dot_text.encode(),
                           capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HullError(f"dot -T{fmt} -o {path}: {e}") from None
    if r.returncode != 0:
        raise HullError(f"dot -T{fmt} -o {path} failed: {r.stderr.decode(errors='replace').strip()}")


# -- --diff ----------------------------------------------------------------------------------------

def _value(v) -> str:
    if isinstance(v, list):
        return ", ".join(str(x) for x in v) or "-"
    return "-" if v is None else str(v)


def diff_text(d: dict) -> str:
    """What two containers share and what they do not, one object a line."""
    a, b = d.get("a") or "A", d.get("b") or "B"
    lines = [f"{a} and {b} share:"]
    lines += [f"  {r['object']}  {_value(r['a'])}" for r in d.get("shared") or []] or ["  nothing"]
    lines.append(f"{a} and {b} do not share:")
    lines += [f"  {r['object']}  {a}: {_value(r['a'])}  {b}: {_value(r['b'])}" for r in d.get("separate") or []] \
        or ["  nothing"]
    return short_ids("\n".join(lines)) + "\n"


# -- the verb ---------------------------------------------------------------------------------------

VERBS = [Verb("explain", "what the kernel holds for a running container, read from /proc and /sys", [
    Flag("format", "f", value=True, help="json: the whole picture as JSON"),
    Flag("svg", value=True, help="draw it to this SVG file (Graphviz)"),
    Flag("png", value=True, help="draw it to this PNG file (Graphviz)"),
    Flag("diff", help="two containers: what they share and what they do not")], ["container"], ["other"])]


def cmd_explain(args):
    from runtime import fastjson as json
    from runtime.engine.service import explain as service
    if args.diff:
        if not args.other:
            raise UsageError('"explain --diff" requires exactly 2 arguments')
        d = service.diff(args.root, args.container, args.other)
        d["a"], d["b"] = args.container, args.other
        sys.stdout.write(json.dumps(d, indent=2) + "\n" if args.format == "json" else diff_text(d))
        return 0
    if args.other:
        raise UsageError('"explain" requires exactly 1 argument (--diff compares two)')
    if args.format not in (None, "json"):
        raise InvalidArgument(f"unknown --format {args.format!r}: json, or none for the tree")
    info = service.explain(args.root, args.container)
    for path, fmt in ((args.svg, "svg"), (args.png, "png")):
        if path:
            render_svg(dot(info), path, fmt)
    if args.format == "json":
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
    elif not (args.svg or args.png):
        sys.stdout.write(tree(info, color=sys.stdout.isatty() and not os.environ.get("NO_COLOR")))
    return 0


HANDLERS = {"explain": cmd_explain}
