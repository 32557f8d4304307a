"""`hull-oci features`: what this runtime supports, in the shape of the OCI runtime spec's
features.md (the document runc prints), so engines can ask before they try."""
from runtime import OCI_VERSION, __version__
from runtime.container.spec import HOOK_KINDS
from runtime.linux import caps, lsm, mounts, seccomp


def features() -> dict:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": mounts.option_names(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": list(caps.NAMES[:caps.last_cap() + 1]),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {"enabled": True, "actions": sorted(seccomp.ACTIONS),
                        "operators": sorted(seccomp.OPERATORS), "archs": list(seccomp.ARCHES),
                        "knownFlags": list(seccomp.FLAGS), "supportedFlags": list(seccomp.FLAGS)},
            "apparmor": {"enabled": lsm.apparmor_enabled()},
            "selinux": {"enabled": lsm.selinux_enabled()},
            "intelRdt": {"enabled": False},
        },
        "annotations": {"org.hull.version": __version__},
    }
