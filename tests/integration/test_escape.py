"""The escape suite: from inside a container with docker's defaults (its 14 capabilities,
no_new_privs, the default seccomp profile, masked and read-only paths, its own namespaces), every
classic way out must fail with the specific errno. Each attempt is one raw syscall made by
tests/escape/probe.c (built statically, bind-mounted read-only at /probe).

Also: config.json's security sections are applied exactly (the five capability sets,
NoNewPrivs, Seccomp mode, sysctl, oomScoreAdj), and bad ones are refused."""
import os
import shutil
import subprocess

import pytest

from helpers import create_refused
from runtime.cgroups import detect
from runtime.container.defaults import DOCKER_CAPS, seccomp_profile
from runtime.linux.caps import mask

pytestmark = pytest.mark.root
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("probe")
    os.chmod(d, 0o755)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(d / "probe"), os.path.join(HERE, "..", "escape", "probe.c")],
                   check=True)
    shutil.copy(d / "probe", d / "probe-suid")
    os.chmod(d / "probe-suid", 0o4755)  # setuid root
    return str(d)


def docker_like(bundle, probe_dir, script):
    c = bundle.config
    c["process"]["args"] = ["sh", "-c", script]
    c["process"]["capabilities"] = {k: list(DOCKER_CAPS) for k in ("bounding", "effective", "permitted")}
    c["process"]["noNewPrivileges"] = True
    c["linux"]["seccomp"] = seccomp_profile(DOCKER_CAPS)
    c["mounts"] += [{"destination": "/probe", "type": "bind", "source": probe_dir, "options": ["rbind", "ro"]},
                    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}]
    return bundle


def results(oci, bundle, cid="esc") -> dict:
    """Run the container; its script prints `name: outcome` lines."""
    p = oci("run", "--bundle", bundle.save(), cid)
    assert p.returncode == 0, p.stderr
    return dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line)


def status_fields(text) -> dict:
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


ATTEMPTS = {
    "mount": "/probe/probe mount /mnt",
    "load_module": "/probe/probe finit_module",
    "write_proc_sys": "/probe/probe write /proc/sys/kernel/shmmax 1",
    "sysrq": "/probe/probe write /proc/sysrq-trigger b",
    "kcore": "/probe/probe read /proc/kcore",
    "raw_block_device": "/probe/probe mknod-open /tmp/sda 8 0",
    "ptrace": "/probe/probe ptrace 1",
    "host_pid": "/probe/probe kill0 {host_pid}",
    "own_cgroup_limits": "/probe/probe write {cgroup_file} 1",
    "setns_host": "/probe/probe setns /proc/1/ns/mnt",
    "keyctl": "/probe/probe keyctl",
    "userns": "/probe/probe unshare-user",
    "rewrite_exe": "/probe/probe exe",
}
EXPECTED = {
    "mount": "EPERM",                 # no CAP_SYS_ADMIN, and seccomp
    "load_module": "EPERM",           # seccomp (and no CAP_SYS_MODULE)
    "write_proc_sys": "EROFS",        # /proc/sys is read-only
    # kernels without magic SysRq or /proc/kcore (like the development VM's) say ENOENT; the cgroup
    # v2 VM's Debian kernel has both, so there the read-only and masked paths are what answer
    "sysrq": {"EROFS", "ENOENT"},     # read-only path
    "kcore": {"read 0", "ENOENT"},    # masked: /dev/null is bound over it
    "raw_block_device": "EPERM",      # mknod is allowed, opening is not (devices cgroup / eBPF)
    "ptrace": "EPERM",                # seccomp without CAP_SYS_PTRACE
    "host_pid": "ESRCH",              # the host's processes do not exist in the pid namespace
    "own_cgroup_limits": "EROFS",     # /sys/fs/cgroup is mounted read-only
    "setns_host": "EPERM",            # seccomp: setns needs CAP_SYS_ADMIN
    "keyctl": "EPERM",                # seccomp: the kernel keyring is not namespaced
    "userns": "EPERM",                # seccomp: unshare(CLONE_NEWUSER) is blocked
    "rewrite_exe": {"ETXTBSY", "EROFS"},  # the running binary, on a read-only mount
}


@pytest.mark.v2
def test_every_escape_attempt_fails_with_its_errno(oci, bundle, probe_dir):
    cgroup_file = "/sys/fs/cgroup/memory.max" if detect() == 2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    lines = [f"echo {name}: $({cmd.format(host_pid=os.getpid(), cgroup_file=cgroup_file)})"
             for name, cmd in ATTEMPTS.items()]
    lines.append("echo exes: $(ls -l /proc/[0-9]*/exe 2>/dev/null | grep -c -e python -e hull)")
    lines.append("grep -E '^(Cap[a-zA-Z]+|NoNewPrivs|Seccomp):' /proc/self/status | sed 's/:\t*/: /'")
    r = results(oci, docker_like(bundle, probe_dir, "; ".join(lines)))
    for name, want in EXPECTED.items():
        got = r.get(name)
        assert (got in want) if isinstance(want, set) else (got == want), f"{name}: got {got!r}, want {want!r}"
    assert r["exes"] == "0"  # no runtime process is left inside the container
    docker_mask = f"{mask(DOCKER_CAPS):016x}"
    assert (r["CapEff"], r["CapPrm"], r["CapBnd"]) == (docker_mask,) * 3
    assert (r["CapInh"], r["CapAmb"]) == ("0" * 16,) * 2
    assert (r["NoNewPrivs"], r["Seccomp"]) == ("1", "2")


def test_hostname_cannot_change_when_uts_is_shared(oci, bundle, probe_dir):
    docker_like(bundle, probe_dir, "echo sethostname: $(/probe/probe sethostname pwned)")
    bundle.config.pop("hostname", None)
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != "uts"]
    assert results(oci, bundle)["sethostname"] == "EPERM"
    assert os.uname().nodename != "pwned"


def test_no_new_privs_stops_a_setuid_binary(oci, bundle, probe_dir):
    docker_like(bundle, probe_dir, "echo euid: $(/probe/probe-suid euid)")
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    assert results(oci, bundle, "nnp")["euid"] == "1000"
    # the control: the same binary without no_new_privs (and so without seccomp) does become root
    bundle.config["process"]["noNewPrivileges"] = False
    del bundle.config["linux"]["seccomp"]
    assert results(oci, bundle, "suid")["euid"] == "0"


def test_capability_sets_are_applied_exactly_for_a_non_root_user(oci, bundle, probe_dir):
    bind = ["CAP_NET_BIND_SERVICE"]
    docker_like(bundle, probe_dir, "grep -E '^Cap' /proc/self/status | sed 's/:\t*/: /'")
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["capabilities"] = {"bounding": list(DOCKER_CAPS), "effective": bind, "permitted": bind,
                                                "inheritable": bind, "ambient": bind}
    r = results(oci, bundle)
    want = f"{mask(bind):016x}"
    assert r == {"CapInh": want, "CapPrm": want, "CapEff": want, "CapBnd": f"{mask(DOCKER_CAPS):016x}",
                 "CapAmb": want}


def test_sysctl_and_oom_score_adj_are_applied(oci, bundle):
    bundle.args("sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/self/oom_score_adj")
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1000"}
    bundle.config["process"]["oomScoreAdj"] = 500
    p = oci("run", "--bundle", bundle.save(), "sys")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "1000", "500"]


def _host_has_cap(name) -> bool:
    with open("/proc/self/status") as f:
        eff = int(status_fields(f.read())["CapEff"], 16)
    from runtime.linux.caps import NUMBER
    return bool(eff >> NUMBER[name] & 1)


@pytest.mark.skipif(_host_has_cap("CAP_SYS_RESOURCE"), reason="this host may lower oom_score_adj")
def test_lowering_oom_score_adj_without_cap_sys_resource_is_a_clear_error(oci, bundle):
    bundle.args("true")
    bundle.config["process"]["oomScoreAdj"] = -900
    p = oci("create", "--bundle", bundle.save(), "oom")
    assert p.returncode == 1 and "oomScoreAdj -900: not permitted" in p.stderr and "CAP_SYS_RESOURCE" in p.stderr


@pytest.mark.parametrize("change, words", [
    (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_PWN"), "unknown capability 'CAP_PWN'"),
    (lambda c: c["process"]["capabilities"].update(superpowers=[]), "is not a capability set"),
    (lambda c: c["linux"].update(sysctl={"kernel.panic": "1"}), "is not namespaced"),
    (lambda c: c["linux"].update(sysctl={"net.ipv4.ip_forward": 1}), "must be a string"),
    (lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_PWN"}), "unknown action 'SCMP_ACT_PWN'"),
    (lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
     "index must be 0..5"),
    (lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
     "unknown architecture"),
    (lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_NOTIFY"}), "not supported"),
    (lambda c: c["process"].update(oomScoreAdj=5000), "-1000..1000"),
])
def test_bad_security_config_is_refused(oci, bundle, change, words):
    bundle.args("true")
    change(bundle.config)
    create_refused(oci, bundle, words)


def test_unknown_syscall_names_are_skipped_and_the_rest_applies(oci, bundle, probe_dir):
    docker_like(bundle, probe_dir, "echo keyctl: $(/probe/probe keyctl)")
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["no_such_syscall", "keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}
    assert results(oci, bundle)["keyctl"] == "ENOSYS"


def test_the_runtime_binary_cannot_be_run_in_the_container(oci, bundle):
    # CVE-2019-5736: /proc/self/exe in the init is the host's Python interpreter
    bundle.args("/proc/self/exe", "-c", "print('host python inside')")
    p = oci("create", "--bundle", bundle.save(), "exe")
    assert p.returncode == 1 and "CVE-2019-5736" in p.stderr, p.stderr
    assert oci("list", "-q").stdout == ""


@pytest.mark.parametrize("propagation, tag, sees_host_mount", [
    ("private", None, False), ("rslave", "master:", True), ("rshared", "shared:", False),
    ("unbindable", "unbindable", False),
])
def test_rootfs_propagation(oci, bundle, busybox_base, tmp_path, propagation, tag, sees_host_mount):
    """The rootfs is a shared bind on the host; a mount made there after the container started
    reaches it only through slave propagation. With rshared the rootfs mount is made private
    before it is bound (pivot_root refuses a shared parent), then shared in a group of its own:
    runc 1.1 shows the same (seen= for rshared; tests/integration/test_runc_conformance.py has
    the host-to-container cases through bind mounts)."""
    root = tmp_path / "shared-root"
    root.mkdir()
    subprocess.run(["mount", "--bind", busybox_base[0], str(root)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(root)], check=True)
        bundle.config["root"]["path"] = str(root)
        bundle.config["linux"]["rootfsPropagation"] = propagation
        bundle.args("sh", "-c", "awk '$5==\"/\"' /proc/self/mountinfo; while [ ! -e /home/flag ]; do "
                                "[ -e /tmp/stop ] && break; sleep 0.05; done; echo seen=$(test -e /home/flag && echo y)")
        bundle.config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
        out = open(tmp_path / "out", "w+")
        oci("run", "-d", "--bundle", bundle.save(), "prop", check=True, stdout=out)
        pid = oci.state("prop")["pid"]
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "flag", str(root / "home")], check=True)
        try:
            (root / "home" / "flag").write_text("x")
            import time
            time.sleep(0.5)  # give a propagated mount time to be seen; then tell it to stop looking
            try:
                open(f"/proc/{pid}/root/tmp/stop", "w").close()
            except FileNotFoundError:
                pass  # it saw the flag and is gone already
            deadline = time.monotonic() + 10
            while oci.state("prop")["status"] != "stopped" and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            subprocess.run(["umount", "-l", str(root / "home")], check=True)
        out.seek(0)
        lines = out.read().splitlines()
        assert (tag in lines[0]) if tag else ("shared:" not in lines[0] and "master:" not in lines[0]), lines[0]
        assert lines[-1] == ("seen=y" if sees_host_mount else "seen=")
        oci("delete", "--force", "prop", check=True)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


@pytest.fixture
def userns_bundle(bundle, busybox_base):
    """The busybox rootfs copied and owned by host IDs 100000+, which become 0+ in the container
    (rootfs ownership is the user's business, as with runc). /tmp/pytest-of-root is 0700, so the
    copy lives where the mapped root can reach it."""
    import tempfile
    d = tempfile.mkdtemp(prefix="hull-userns-", dir="/tmp")
    os.chmod(d, 0o755)
    rootfs = os.path.join(d, "rootfs")
    subprocess.run(["cp", "-a", busybox_base[0], rootfs], check=True)
    subprocess.run(["chown", "-R", "100000:100000", rootfs], check=True)
    c = bundle.config
    c["root"]["path"] = rootfs
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]})
    yield bundle
    shutil.rmtree(d)


def test_user_namespace_maps_root_to_an_unprivileged_host_id(oci, userns_bundle):
    userns_bundle.args("sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map; touch /tmp/f; "
                                   "stat -c %u /tmp/f; exec sleep 60")
    out = open(os.path.join(userns_bundle.path, "out"), "w+")
    oci("run", "-d", "--bundle", userns_bundle.save(), "uns", check=True, stdout=out)
    pid = oci.state("uns")["pid"]
    import time
    deadline = time.monotonic() + 30
    while "sleep" not in open(f"/proc/{pid}/cmdline").read() and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(f"/proc/{pid}/status") as f:
        st = status_fields(f.read())
    assert st["Uid"].split() == ["100000"] * 4 and st["Gid"].split() == ["100000"] * 4  # as the host sees it
    out.seek(0)
    assert out.read().split() == ["0", "0", "100000", "65536", "0", "100000", "65536", "0"]
    oci("delete", "--force", "uns", check=True)


@pytest.mark.parametrize("change, words", [
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 100000, "size": 10},
                                             {"containerID": 5, "hostID": 200000, "size": 10}]),
     "overlap on the container side"),
    (lambda c: c["linux"].update(gidMappings=[{"containerID": 0, "hostID": 100000, "size": 10},
                                             {"containerID": 20, "hostID": 100005, "size": 10}]),
     "overlap on the host side"),
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 100000, "size": 0}]), "size of at least 1"),
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 4294967000, "size": 65536}]),
     "32-bit ID space"),
    (lambda c: c["linux"].update(uidMappings=[{"containerID": i * 2, "hostID": 100000 + i * 2, "size": 1}
                                              for i in range(341)]), "the kernel takes 340"),
    (lambda c: c["linux"].update(namespaces=[n for n in c["linux"]["namespaces"] if n["type"] != "user"]),
     "need a new user namespace"),
    (lambda c: c["linux"].pop("gidMappings"), "needs linux.uidMappings and linux.gidMappings"),
])
def test_bad_id_mappings_are_refused(oci, userns_bundle, change, words):
    userns_bundle.args("true")
    change(userns_bundle.config)
    create_refused(oci, userns_bundle, words)


def test_features_lists_what_is_supported(oci):
    import json
    f = json.loads(oci("features", check=True).stdout)
    assert f["ociVersionMax"] == "1.2.0" and "createRuntime" in f["hooks"] and "rbind" in f["mountOptions"]
    linux = f["linux"]
    assert {"user", "pid", "cgroup"} <= set(linux["namespaces"]) and "CAP_SYS_ADMIN" in linux["capabilities"]
    assert "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"] and "SCMP_CMP_MASKED_EQ" in linux["seccomp"]["operators"]
    assert linux["cgroup"]["v1"] and linux["cgroup"]["v2"] and not linux["cgroup"]["systemd"]


def test_lsm_labels_are_skipped_with_a_warning_where_the_lsm_is_off(oci, bundle):
    from runtime.linux import lsm
    if lsm.apparmor_enabled() or lsm.selinux_enabled():
        pytest.skip("an LSM is enabled here: the label would be applied")
    bundle.args("true")
    bundle.config["process"]["apparmorProfile"] = "docker-default"
    bundle.config["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    p = oci("run", "--bundle", bundle.save(), "lsm")
    assert p.returncode == 0
    assert "apparmorProfile 'docker-default' skipped" in p.stderr and "selinuxLabel" in p.stderr
