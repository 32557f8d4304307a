"""A container on a network, from its init's netns being there to its end:

    connect()     an address (networks.join), the bridge and its firewall chain (made once), a
                  veth into the container's netns as eth0 (netlink, through the Agent), its
                  published ports held (ports.Reservation) and DNATed (firewall)
    disconnect()  the DNAT rules and the address go; the veth goes by itself with the netns

What connect() made is recorded in the container's state ("Network"), so whoever ends the
container, or `hull system prune` after a crash, knows what to take back.
"""
import os

from runtime.errors import HullError
from runtime.network import firewall, netlink, ports as ports_mod
from runtime.network.networks import Networks


def table_for(root: str) -> str:
    from runtime import cgroups
    return firewall.table(cgroups.root_tag(os.path.join(root, "run", "oci")))


def host_if(cid: str, index: int = 0) -> str:
    return f"vh{cid[:10]}{index:x}" if index else f"vh{cid[:12]}"


def connect(c, pid: int, agent, name: str, aliases: list, wanted_ip: str | None, bindings: list,
            reservation, alive, index: int = 0) -> dict:
    """Put the container (its init is pid, waiting to be started) on network name; returns what
    to record: {network, endpoint, gateway, bridge, ports}."""
    nets = Networks(c.root)
    net, ep = nets.join(name, c.id, c.name, aliases, wanted_ip, alive)
    t = table_for(c.root)
    try:
        subnet = net["Subnet"]
        prefix = int(subnet.split("/")[1])
        with nets.lock():
            agent.call("ensure_bridge", name=net["Bridge"], gateway=net["Gateway"], prefix=prefix,
                       mac=_bridge_mac(net["Gateway"]))
            firewall.ensure(t)
            firewall.add_network(t, net["Bridge"], subnet, net["Internal"])
            if not net["Internal"]:
                netlink.enable_forwarding()
        agent.call("attach", bridge=net["Bridge"], host_if=host_if(c.id, index), netns=f"/proc/{pid}/ns/net",
                   ifname=f"eth{index}", address=ep["IPv4Address"], prefix=prefix,
                   gateway=None if index else net["Gateway"], mac=ep["MacAddress"], mtu=1500)
        held = reservation.take(bindings) if bindings else []
        firewall.publish(t, held, ep["IPv4Address"])
    except BaseException:
        nets.leave(name, c.id)
        remove_veth(c.id, index)  # an attach cut short (its agent, or the monitor, died) leaves it here
        raise
    return {"network": name, "endpoint": ep, "gateway": net["Gateway"], "bridge": net["Bridge"],
            "network_id": net["Id"], "ports": held, "internal": net["Internal"]}


def _bridge_mac(gateway: str) -> str:
    from runtime.network.networks import mac_for
    return mac_for(gateway)


def disconnect(root: str, cid: str, attached: dict) -> None:
    """Take back what connect() made (the veth went with the netns)."""
    firewall.unpublish(table_for(root), attached.get("ports") or [])
    Networks(root).leave(attached["network"], cid)


def forget(root: str, cid: str) -> list:
    """Take back what a container holds that its state may not record (a command killed between
    making it and saving the state): its leases, ports published to their addresses, and a veth
    left in this namespace. Cheap when there is nothing: rm calls it every time. [(network, address)]"""
    nets = Networks(root)
    gone = []
    for name in nets.names():
        try:
            ep = nets.load(name)["Endpoints"].get(cid)
        except (OSError, ValueError, HullError):
            continue
        if ep:
            t = table_for(root)
            for m, key, address in firewall.published(t):
                if address == ep["IPv4Address"]:
                    firewall.delete_element(t, m, key)
            nets.leave(name, cid)
            gone.append((name, ep["IPv4Address"]))
    # a veth the attach left in this namespace (killed before it moved the peer): only then, as the
    # veth of a container just killed is still there a moment, going away by itself
    for i in range(len(gone) + 1 if gone else 0):
        remove_veth(cid, i)
    return gone


def remove_veth(cid: str, index: int) -> None:
    """The container's host-side veth, if it is in this namespace (cheap when it is not)."""
    import socket
    try:
        socket.if_nametoindex(host_if(cid, index))  # an ioctl in our netns (/sys/class/net may be another's)
        netlink.remove_link(host_if(cid, index))
    except Exception:  # noqa: BLE001 - not there, or gone meanwhile (pyroute2's NetlinkError is no OSError)
        pass


def ports_of(state_network: list) -> list:
    return [p for a in state_network or [] for p in a.get("ports") or []]


def settings(c) -> dict:
    """docker's NetworkSettings for inspect."""
    attached = c.state.get("Network") or []
    mode = c.config["HostConfig"].get("NetworkMode") or "none"
    exposed = c.config["Config"].get("ExposedPorts") or {}
    first = attached[0] if attached else None
    networks = {}
    for a in attached:
        e = a["endpoint"]
        networks[a["network"]] = {"IPAMConfig": None, "Links": None, "Aliases": e.get("Aliases") or None,
                                  "NetworkID": a["network_id"], "EndpointID": e["EndpointID"],
                                  "Gateway": a["gateway"], "IPAddress": e["IPv4Address"],
                                  "IPPrefixLen": e["PrefixLen"], "MacAddress": e["MacAddress"]}
    if not networks:
        networks[mode] = {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "", "EndpointID": "",
                          "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": ""}
    return {"Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
            "Ports": ports_mod.docker_ports(ports_of(attached), exposed if c.init_alive() else {}),
            "SandboxKey": f"/proc/{c.state['Pid']}/ns/net" if c.init_alive() else "",
            "IPAddress": first["endpoint"]["IPv4Address"] if first else "",
            "IPPrefixLen": first["endpoint"]["PrefixLen"] if first else 0,
            "Gateway": first["gateway"] if first else "", "MacAddress": first["endpoint"]["MacAddress"] if first else "",
            "Networks": networks}
