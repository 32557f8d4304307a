"""Packet filtering and NAT in an nftables table of hull's own (one per root: `hull`, or
`hull_HASH`), never touching anyone else's rules. Everything that changes per container or network
is an element of a map or set, so adding and removing needs no rule handles:

    ports_any / ports_ip   published ports: PROTO . PORT (or HOSTIP . PROTO . PORT) -> ADDR . PORT,
                           DNAT from prerouting and (for the host's own connections, 127.0.0.1
                           included: route_localnet is on for the bridges) from output
    bridges, masq          the bridges, and the subnets masqueraded on their way out
    forwards               bridge -> its forward chain: same bridge or DNAT accepted, other hull
                           bridges dropped (networks do not reach each other), internal ones
                           never leave their bridge
    guard                  nothing addressed to 127.0.0.0/8 comes in from outside (moby 41872)
"""
from runtime import fastjson as json
from runtime.linux import nft

TABLE_TEMPLATE = """
table ip {t} {{
  map ports_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  map ports_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
  set bridges {{ type ifname; }}
  set masq {{ type ipv4_addr; flags interval; }}
  map forwards {{ type ifname : verdict; }}
  chain ports {{
    dnat ip addr . port to ip daddr . meta l4proto . th dport map @ports_ip
    dnat ip addr . port to meta l4proto . th dport map @ports_any
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump ports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local jump ports
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 127.0.0.0/8 oifname @bridges masquerade
    ct status dnat iifname @bridges oifname @bridges masquerade
    ip saddr @masq oifname != @bridges masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname vmap @forwards
  }}
  chain guard {{
    type filter hook prerouting priority raw; policy accept;
    iifname != "lo" ip daddr 127.0.0.0/8 drop
  }}
}}
"""


def table(tag: str) -> str:
    return "hull" + (f"_{tag.lstrip('@')}" if tag else "")


def ensure(t: str) -> None:
    """The table, made once (the caller holds the networks lock, so two hulls do not race)."""
    try:
        nft.run(f"list table ip {t}")
    except OSError:
        nft.run(TABLE_TEMPLATE.format(t=t))


def add_network(t: str, bridge: str, subnet: str, internal: bool) -> None:
    chain = f"net_{bridge}"
    rules = [f'add chain ip {t} {chain}', f'flush chain ip {t} {chain}',
             f'add rule ip {t} {chain} ct status dnat accept',
             f'add rule ip {t} {chain} oifname "{bridge}" accept']
    rules.append(f'add rule ip {t} {chain} drop' if internal else f'add rule ip {t} {chain} oifname @bridges drop')
    rules += [f'add element ip {t} bridges {{ "{bridge}" }}',
              f'add element ip {t} forwards {{ "{bridge}" : jump {chain} }}']
    if not internal:
        rules.append(f"add element ip {t} masq {{ {subnet} }}")
    nft.run("\n".join(rules))


def remove_network(t: str, bridge: str, subnet: str) -> None:
    for cmd in (f'delete element ip {t} forwards {{ "{bridge}" }}', f'delete element ip {t} bridges {{ "{bridge}" }}',
                f"delete element ip {t} masq {{ {subnet} }}", f"delete chain ip {t} net_{bridge}"):
        try:
            nft.run(cmd)
        except OSError:
            pass  # never there (an internal network has no masq element), or gone already


def _element(p: dict) -> tuple:
    key = f"{p['proto']} . {p['host_port']}"
    if p["host_ip"] not in ("", "0.0.0.0"):
        return "ports_ip", f"{p['host_ip']} . {key}"
    return "ports_any", key


def publish(t: str, ports: list, address: str) -> None:
    """DNAT each binding {proto, host_ip, host_port, container_port} to the container's address."""
    if not ports:
        return
    cmds = []
    for p in ports:
        m, key = _element(p)
        cmds.append(f"add element ip {t} {m} {{ {key} : {address} . {p['container_port']} }}")
    nft.run("\n".join(cmds))


def unpublish(t: str, ports: list) -> None:
    for p in ports:
        m, key = _element(p)
        try:
            nft.run(f"delete element ip {t} {m} {{ {key} }}")
        except OSError:
            pass


def published(t: str) -> list:
    """[(map, key text, target address)] of every published port in the table (for prune)."""
    try:
        data = json.loads(nft.run(f"list table ip {t}", json_output=True))
    except (OSError, ValueError):
        return []
    out = []
    for item in data.get("nftables", []):
        m = item.get("map")
        if not m or m.get("name") not in ("ports_any", "ports_ip"):
            continue
        for key, value in m.get("elem") or []:
            keys = key["concat"] if isinstance(key, dict) else [key]
            out.append((m["name"], " . ".join(str(k) for k in keys), value["concat"][0]))
    return out


def delete_element(t: str, m: str, key: str) -> None:
    nft.run(f"delete element ip {t} {m} {{ {key} }}")


def drop_table(t: str) -> None:
    try:
        nft.run(f"delete table ip {t}")
    except OSError:
        pass
