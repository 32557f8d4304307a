"""hull-oci against runc on the same bundles: what a user of runc observes must be the same (exit
codes, /proc/self/status, hostname, devices, mounts seen from outside). Each test runs runc (the
reference, installed by scripts/setup) and hull-oci, each with a private --root, and compares.
Scenarios that change mounts outside the container run in a throw-away mount namespace
(`unshare -m`), so the host's own mount table is never touched."""
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile

import pytest

from helpers import hull_oci_cmd
from runtime import cgroups

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not shutil.which("runc"), reason="runc not installed (scripts/setup does)")]
V2 = cgroups.detect() == 2
STATUS_LINES = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")


class Runtime:
    """One runtime's command line with a private state root; returns CompletedProcess (text)."""

    def __init__(self, name, cmd, root):
        self.name, self.cmd, self.root = name, list(cmd), str(root)

    def argv(self, *args) -> list:
        return self.cmd + ["--root", self.root] + [str(a) for a in args]

    def shell(self) -> str:
        """The command as a shell word list, for scenario scripts."""
        return " ".join(shlex.quote(a) for a in self.argv())

    def __call__(self, *args, timeout=30):
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            rc = subprocess.run(self.argv(*args), stdout=out, stderr=err, timeout=timeout).returncode
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(args, rc, out.read(), err.read())


@pytest.fixture
def runtimes(oci):
    """(runc, hull-oci); hull's root is the oci fixture's (it fails the test on leftovers)."""
    runc_root = tempfile.mkdtemp(prefix="runc-test-", dir="/run")
    runc = Runtime("runc", ["runc"], runc_root)
    yield runc, Runtime("hull-oci", hull_oci_cmd(), oci.root)
    for cid in os.listdir(runc_root):
        runc("delete", "--force", cid)
    shutil.rmtree(runc_root, ignore_errors=True)


def both(runtimes, bundle, cid="cmp"):
    """Run the saved bundle in the foreground under each runtime: {name: (exit code, stdout)}."""
    path = bundle.save()
    return {rt.name: (p.returncode, p.stdout) for rt in runtimes for p in [rt("run", "-b", path, cid)]}


def status_lines(text: str) -> list:
    return [line for line in text.splitlines() if line.split(":")[0] in STATUS_LINES]


def in_mount_namespace(script: str) -> str:
    """Run a bash script in a new private mount namespace; its stdout (the namespace dies with it)."""
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-euc", script],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


# -- 1. the bundle `runc spec` writes ------------------------------------------------------------

def test_runc_spec_bundle_runs_as_under_runc(runtimes, bundle, tmp_path):
    """runc 1.1's default config asks for ambient caps without an inheritable set: the kernel
    refuses to raise them, runc goes on without them, and so does hull-oci (with a warning)."""
    subprocess.run(["runc", "spec", "--bundle", str(tmp_path)], check=True)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["capabilities"]["ambient"] and "inheritable" not in config["process"]["capabilities"]
    config["process"]["terminal"] = False
    config["process"]["args"] = ["sh", "-c", "grep -E '^(Cap|NoNew)' /proc/self/status; hostname"]
    config["root"]["path"] = bundle.config["root"]["path"]
    bundle.config = config
    results = both(runtimes, bundle)
    assert results["hull-oci"] == results["runc"]
    code, out = results["runc"]
    assert code == 0 and "CapAmb:\t0000000000000000" in out and out.endswith("runc\n")
    p = runtimes[1]("run", "-b", bundle.path, "warn")
    assert "ambient: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE not raised" in p.stderr


# -- 2. no_new_privs exactly as asked ------------------------------------------------------------

@pytest.mark.parametrize("nnp", [True, False, None])
@pytest.mark.parametrize("with_seccomp", [True, False])
def test_no_new_privs_as_the_config_says(runtimes, bundle, nnp, with_seccomp):
    from runtime.container import defaults
    process = bundle.config["process"]
    process.pop("noNewPrivileges", None)
    if nnp is not None:
        process["noNewPrivileges"] = nnp
    if with_seccomp:
        bundle.config["linux"]["seccomp"] = defaults.seccomp_profile(process["capabilities"]["bounding"])
    bundle.args("sh", "-c", "grep -E '^(Cap|NoNew)' /proc/self/status")
    results = both(runtimes, bundle)
    assert results["hull-oci"] == results["runc"]
    assert f"NoNewPrivs:\t{int(bool(nnp))}" in results["runc"][1]
    # and a process exec'd into the container gets the same
    bundle.args("sleep", "100")
    seen = {}
    for rt in runtimes:
        assert rt("run", "-d", "-b", bundle.save(), "nnp").returncode == 0
        p = rt("exec", "nnp", "grep", "NoNewPrivs", "/proc/self/status")
        seen[rt.name] = (p.returncode, p.stdout)
        rt("delete", "--force", "nnp")
    assert seen["hull-oci"] == seen["runc"] == (0, f"NoNewPrivs:\t{int(bool(nnp))}\n")


# -- 3. namespaces runc accepts -------------------------------------------------------------------

NO_MOUNT_NS = r"""
rt=({rt}); b={bundle}; r={rootfs}
stat -c %i / > {work}/root-before; grep -E '^[0-9]+ [0-9]+ [^ ]+ / / ' /proc/self/mountinfo | cut -d' ' -f7 > {work}/prop-before
"${{rt[@]}}" run -d -b "$b" nomnt
sleep 0.3
echo "during: $(grep -c " $r" /proc/self/mountinfo)"
echo "exec: $("${{rt[@]}}" exec nomnt sh -c 'ls /bin/busybox; cat /proc/1/comm' | tr '\n' ' ')"
"${{rt[@]}}" kill nomnt KILL; sleep 0.3; "${{rt[@]}}" delete nomnt
echo "after: $(grep -c " $r" /proc/self/mountinfo || true)"
echo "root kept: $([ "$(stat -c %i /)" = "$(cat {work}/root-before)" ] && echo yes)"
echo "propagation kept: $([ "$(grep -E '^[0-9]+ [0-9]+ [^ ]+ / / ' /proc/self/mountinfo | cut -d' ' -f7)" = "$(cat {work}/prop-before)" ] && echo yes)"
"""


@pytest.mark.parametrize("keep", [["pid", "ipc", "uts", "network"], []], ids=["no-mount-ns", "no-namespaces"])
def test_without_a_mount_namespace(runtimes, bundle, tmp_path, keep):
    """runc mounts into the caller's namespace and enters the root with chroot; hull-oci does the
    same on one private bind of the rootfs, never touching the caller's / and leaving nothing."""
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] in keep]
    for key in ("maskedPaths", "readonlyPaths"):  # both refuse them without a mount namespace
        bundle.config["linux"].pop(key, None)
    if "uts" not in keep:
        bundle.config.pop("hostname", None)
    path = bundle.args("sleep", "100").save()
    seen = {}
    for rt in runtimes:
        work = tmp_path / rt.name
        work.mkdir()
        # the bundle's rootfs is shared: give each runtime its own bundle dir pointing at it
        b = tmp_path / f"bundle-{rt.name}"
        shutil.copytree(path, b)
        out = in_mount_namespace(NO_MOUNT_NS.format(rt=rt.shell(), bundle=shlex.quote(str(b)), work=work,
                                                    rootfs=bundle.config["root"]["path"]))
        seen[rt.name] = dict(line.split(": ", 1) for line in out.splitlines())
    hull, runc = seen["hull-oci"], seen["runc"]
    # exec runs in the container's root: its /proc is the container's (runc 1.1's exec stays in the
    # caller's root here, so it sees the caller's pid 1: the one place hull differs, on purpose)
    with open("/proc/1/comm") as f:
        pid1 = "sleep" if "pid" in keep else f.read().strip()
    assert hull["exec"] == f"/bin/busybox {pid1} "
    assert runc["during"] != "0"  # runc mounted into the caller's namespace too
    assert hull["root kept"] == hull["propagation kept"] == "yes"
    assert int(hull["during"]) > 0 and hull["after"] == "0"  # runc leaves its mounts behind: hull does not


def test_masked_paths_need_a_mount_namespace(runtimes, bundle):
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != "mount"]
    results = both(runtimes, bundle.args("true"))
    assert results["runc"][0] == results["hull-oci"][0] == 1


def test_joining_a_mount_namespace_by_path(runtimes, bundle, tmp_path):
    """The container joins another process's mount namespace; its mounts stay in that namespace
    (none reach ours), and hull-oci removes them again at delete."""
    path = bundle.args("sh", "-c", "ls /bin/busybox; readlink /proc/self/ns/mnt >/dev/null && echo ok").save()
    script = r"""
unshare -m --propagation private sleep 600 & holder=$!
while [ "$(readlink /proc/$holder/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ]; do sleep 0.01; done
python3 - {bundle} /proc/$holder/ns/mnt <<'PY'
import json, sys
p = sys.argv[1] + "/config.json"
c = json.load(open(p))
c["linux"]["namespaces"] = [n if n["type"] != "mount" else {{"type": "mount", "path": sys.argv[2]}}
                            for n in c["linux"]["namespaces"]]
json.dump(c, open(p, "w"))
PY
{rt} run -b {bundle} joined; echo "rc: $?"
echo "ours: $(grep -c ' {rootfs}' /proc/self/mountinfo || true)"
echo "theirs after: $(nsenter -t $holder -m grep -c ' {rootfs}' /proc/self/mountinfo || true)"
kill $holder
"""
    seen = {}
    for rt in runtimes:
        work = tmp_path / rt.name
        b = tmp_path / f"bundle-{rt.name}"
        shutil.copytree(path, b)
        out = in_mount_namespace(script.format(rt=rt.shell(), bundle=b, work=work, rootfs=bundle.config["root"]["path"]))
        seen[rt.name] = out.splitlines()
    hull, runc = seen["hull-oci"], seen["runc"]
    assert hull[:3] == runc[:3] == ["/bin/busybox", "ok", "rc: 0"]
    assert hull[3] == runc[3] == "ours: 0"
    assert hull[4] == "theirs after: 0"


def test_joined_uts_namespace_gets_the_hostname(runtimes, bundle):
    """A uts namespace given by path with a hostname: the hostname is set in the joined namespace."""
    seen = {}
    for rt in runtimes:
        host_bundle = bundle.args("sleep", "100").save()
        assert rt("run", "-d", "-b", host_bundle, "utshost").returncode == 0
        pid = json.loads(rt("state", "utshost").stdout)["pid"]
        guest = json.loads(json.dumps(bundle.config))
        guest["hostname"] = "joined"
        guest["linux"]["namespaces"] = [n if n["type"] != "uts" else {"type": "uts", "path": f"/proc/{pid}/ns/uts"}
                                        for n in guest["linux"]["namespaces"]]
        guest["process"]["args"] = ["hostname"]
        with open(os.path.join(bundle.path, "config.json"), "w") as f:
            json.dump(guest, f)
        p = rt("run", "-b", bundle.path, "utsguest")
        seen[rt.name] = (p.returncode, p.stdout, rt("exec", "utshost", "hostname").stdout)
        rt("delete", "--force", "utshost")
    assert seen["hull-oci"] == seen["runc"] == (0, "joined\n", "joined\n")


# -- 4. limits of net_cls, net_prio and hugetlb -----------------------------------------------------

@pytest.mark.parametrize("section, value", [
    ("network", {"classID": 1048577, "priorities": [{"name": "lo", "priority": 3}]}),
    ("hugepageLimits", [{"pageSize": "2MB", "limit": 4194304}]),
])
def test_limits_a_host_cannot_apply_fail_create(runtimes, bundle, section, value):
    """On this hybrid host net_cls/net_prio are not mounted and hugetlb lives only in the cgroup2
    tree, which runc's v1 manager does not use: runc fails create, and so does hull-oci."""
    have = cgroups.detect() == 2 or any(
        os.path.isdir(f"/sys/fs/cgroup/{c}") for c in (["net_cls", "net_prio"] if section == "network" else ["hugetlb"]))
    if have:
        pytest.skip(f"this host has the controller for {section}")
    bundle.config["linux"].setdefault("resources", {})[section] = value
    results = both(runtimes, bundle.args("true"))
    assert results["runc"][0] == results["hull-oci"][0] == 1
    p = runtimes[1]("run", "-b", bundle.path, "again")
    assert "hierarchy is not mounted" in p.stderr and ("net_cls" in p.stderr or "hugetlb" in p.stderr)


@pytest.mark.v2
@pytest.mark.skipif(not V2, reason="hugetlb limits are applied on cgroup v2 (the VM subset)")
def test_hugetlb_limit_on_v2(runtimes, bundle):
    sizes = os.listdir("/sys/kernel/mm/hugepages")
    if "hugepages-2048kB" not in sizes:
        pytest.skip("no 2 MB huge pages on this kernel")
    bundle.config["linux"]["resources"] = {"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}
    seen = {}
    for rt in runtimes:
        cgroup = f"/hull-test-huge/{rt.name}"
        bundle.config["linux"]["cgroupsPath"] = cgroup
        assert rt("run", "-d", "-b", bundle.args("sleep", "100").save(), "huge").returncode == 0
        with open(f"/sys/fs/cgroup{cgroup}/hugetlb.2MB.max") as f:
            seen[rt.name] = f.read().strip()
        rt("delete", "--force", "huge")
    if os.path.isdir("/sys/fs/cgroup/hull-test-huge"):
        os.rmdir("/sys/fs/cgroup/hull-test-huge")
    assert seen["hull-oci"] == seen["runc"] == "4194304"


# -- 5. two state roots, one container ID -------------------------------------------------------------

def test_two_roots_same_id_do_not_share_a_cgroup(oci, bundle):
    other = tempfile.mkdtemp(prefix="hull-test-", dir="/run")
    second = Runtime("hull-oci", hull_oci_cmd(), other)
    path = bundle.args("sleep", "100").save()
    try:
        oci("run", "-d", "-b", path, "same", check=True)
        p = second("run", "-d", "-b", path, "same")
        assert p.returncode == 0, p.stderr
        ours = json.loads(open(f"{oci.root}/same/state.json").read())["cgroup"]["path"]
        theirs = json.loads(open(f"{other}/same/state.json").read())["cgroup"]["path"]
        assert ours != theirs and ours.endswith("same") and theirs.endswith("same")
    finally:
        second("delete", "--force", "same")
        oci("delete", "--force", "same")
        shutil.rmtree(other, ignore_errors=True)


# -- issue 19: privileged containers, rshared bind mounts, kill/delete exit codes ----------------------

def host_devices() -> list:
    """Every character and block device under the host's /dev, as a privileged pod lists them
    (containerd's HostDevices skips pts, shm, fd, mqueue and console)."""
    import stat
    out = []
    for d, dirs, files in os.walk("/dev"):
        dirs[:] = [x for x in dirs if x not in ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts")]
        for name in files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            if name == "console" or not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
                continue
            out.append({"path": p, "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                        "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                        "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    return out


def test_privileged_devices(runtimes, bundle):
    devices = host_devices()
    assert any(d["path"] == "/dev/ptmx" for d in devices)
    bundle.config["linux"]["devices"] = devices
    bundle.config["linux"]["resources"] = {"devices": [{"allow": True, "access": "rwm"}]}
    bundle.args("sh", "-c", "cd /dev && for f in $(find . | sort); do stat -c '%n %F %t:%T %a' $f; done")
    results = both(runtimes, bundle)
    assert results["runc"][0] == 0
    assert results["hull-oci"] == results["runc"]
    assert "./ptmx symbolic link" in results["runc"][1]


BIND_PROPAGATION = r"""
w={work}; rt=({rt}); mkdir -p $w/src
mount -t tmpfs src $w/src; mount --make-shared $w/src
"${{rt[@]}}" run -d -b {bundle} prop
"${{rt[@]}}" exec prop sh -c 'mkdir -p /mnt/c && mount -t tmpfs c /mnt/c'
mkdir -p $w/src/h; mount -t tmpfs h $w/src/h
echo "host sees the container's mount: $(grep -c " $w/src/c " /proc/self/mountinfo || true)"
echo "container sees the host's mount: $("${{rt[@]}}" exec prop sh -c 'grep -c " /mnt/h " /proc/self/mountinfo || true')"
"${{rt[@]}}" delete --force prop
"""


@pytest.mark.parametrize("root_prop, bind_prop", [("rshared", "rshared"), ("rslave", "rslave"),
                                                  ("rprivate", "rprivate"), ("rprivate", "rshared")])
def test_bind_mount_propagation(runtimes, bundle, tmp_path, root_prop, bind_prop):
    """Kubernetes' Bidirectional / HostToContainer / None mount propagation: a host-side shared
    mount bound into the container, mounts made on either side after start."""
    seen = {}
    for rt in runtimes:
        work = tmp_path / rt.name
        b = json.loads(json.dumps(bundle.config))
        b["linux"]["rootfsPropagation"] = root_prop
        b["mounts"].append({"destination": "/mnt", "type": "bind", "source": str(work / "src"),
                            "options": ["rbind", bind_prop]})
        for key in ("bounding", "effective", "permitted"):
            b["process"]["capabilities"][key].append("CAP_SYS_ADMIN")
        b["process"]["args"] = ["sleep", "100"]
        d = tmp_path / f"bundle-{rt.name}"
        d.mkdir()
        (d / "config.json").write_text(json.dumps(b))
        seen[rt.name] = in_mount_namespace(BIND_PROPAGATION.format(work=work, rt=rt.shell(), bundle=d))
    assert seen["hull-oci"] == seen["runc"]
    shared = root_prop == bind_prop == "rshared"
    assert f"host sees the container's mount: {int(shared)}" in seen["runc"]


def test_kill_and_delete_exit_codes(runtimes, bundle):
    """Every kill/delete case on created, running, stopped and missing containers, as runc exits."""
    path = bundle.args("sleep", "100").save()
    steps = [("create", "-b", path, "k1"), ("kill", "k1", "0"), ("start", "k1"), ("kill", "k1", "KILL"),
             ("wait",), ("kill", "k1", "KILL"), ("kill", "--all", "k1", "KILL"), ("kill", "-a", "k1", "TERM"),
             ("delete", "k1"), ("delete", "k1"), ("delete", "--force", "k1"), ("kill", "nope", "KILL"),
             ("kill", "--all", "nope", "KILL"), ("state", "nope"), ("create", "-b", path, "k2"),
             ("delete", "k2"), ("delete", "--force", "k2"), ("create", "-b", path, "k3"), ("kill", "--all", "k3", "KILL"),
             ("wait",), ("kill", "k3", "KILL"), ("delete", "k3")]
    codes = {}
    for rt in runtimes:
        out = []
        for step in steps:
            if step == ("wait",):
                import time
                time.sleep(0.3)
                continue
            out.append((step, rt(*step).returncode))
        codes[rt.name] = out
    assert codes["hull-oci"] == codes["runc"]


# -- 9. the last differences (issue 28): runc's output byte for byte, crun where runc is the outlier --

def crun(root) -> Runtime:
    """Debian's crun (1.8) refuses hybrid cgroups: run it with the cgroup2 mount hidden, in a
    private mount namespace of each call's own (the host's mounts are not touched)."""
    return Runtime("crun", ["unshare", "-m", "--propagation", "private", "sh", "-c",
                            'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"', "crun"], root)


@pytest.fixture
def with_crun(oci, bundle):
    """(crun, hull-oci), each with a private root; the bundle says spec 1.1.0 (crun 1.8 knows no later)."""
    if not shutil.which("crun"):
        pytest.skip("crun not installed (scripts/setup does)")
    bundle.config["ociVersion"] = "1.1.0"
    root = tempfile.mkdtemp(prefix="crun-test-", dir="/run")
    ref = crun(root)
    yield ref, Runtime("hull-oci", hull_oci_cmd(), oci.root)
    for cid in os.listdir(root):
        ref("delete", "--force", cid)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(V2, reason="memory.kmem.tcp.limit_in_bytes is cgroup v1's")
def test_kernel_tcp_limit_on_v1(runtimes, with_crun, bundle):
    """runc 1.1 leaves it unlimited; crun writes it, and so does hull-oci."""
    bundle.config["linux"]["resources"] = {"memory": {"limit": 64 << 20, "kernelTCP": 16 << 20}}
    bundle.args("cat", "/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes")
    results = both(with_crun, bundle)
    assert results["hull-oci"] == results["crun"] == (0, f"{16 << 20}\n")
    assert both(runtimes[:1], bundle)["runc"] == (0, "9223372036854771712\n")  # runc: the outlier


HOOK = "#!/bin/sh\ncat > {out}/$1.json\n[ \"$2\" = fail ] && echo 'hook says no' && exit 3\nexit 0\n"


def _hooked(bundle, tmp_path, name: str, fail: tuple = ()) -> str:
    out = tmp_path / name
    out.mkdir()
    script = tmp_path / f"hook-{name}.sh"
    script.write_text(HOOK.format(out=out))
    script.chmod(0o755)
    hooks = {}
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        if kind in fail:  # a failing hook first: the ones after it must still run
            hooks[kind] = [{"path": str(script), "args": [str(script), f"{kind}-failed", "fail"]}]
        hooks.setdefault(kind, []).append({"path": str(script), "args": [str(script), kind]})
    bundle.config["hooks"] = hooks
    bundle.args("sleep", "100")
    d = tmp_path / f"bundle-{name}"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(bundle.config))
    return str(d)


def _lifecycle(rt, path: str) -> list:
    steps = []
    for step in (("create", "-b", path, "hk"), ("start", "hk"), ("state", "hk"), ("kill", "hk", "KILL")):
        p = rt(*step)
        steps.append((step[0], p.returncode, json.loads(p.stdout)["status"] if step[0] == "state" else None))
    import time
    time.sleep(0.3)
    p = rt("delete", "hk")
    steps.append(("delete", p.returncode, None))
    return steps


def test_hooks_read_the_status_crun_gives_them(with_crun, bundle, tmp_path):
    seen = {}
    for rt in with_crun:
        path = _hooked(bundle, tmp_path, rt.name)
        assert all(code == 0 for _, code, _ in _lifecycle(rt, path))
        seen[rt.name] = {p.stem: json.loads(p.read_text())["status"] for p in (tmp_path / rt.name).glob("*.json")}
    assert seen["hull-oci"] == seen["crun"]
    assert seen["crun"] == {"prestart": "created", "createRuntime": "created", "poststart": "running",
                            "poststop": "stopped"}


def test_failing_poststart_and_poststop_hooks_warn_and_the_lifecycle_goes_on(with_crun, bundle, tmp_path):
    """The spec: a poststart or poststop hook that fails MUST be logged as a warning; the remaining
    hooks and the lifecycle go on as if it had succeeded."""
    seen = {}
    for rt in with_crun:
        path = _hooked(bundle, tmp_path, rt.name, fail=("poststart", "poststop"))
        steps = _lifecycle(rt, path)
        ran = sorted(p.stem for p in (tmp_path / rt.name).glob("*.json"))
        seen[rt.name] = (steps, ran)
    assert seen["hull-oci"] == seen["crun"]
    steps, ran = seen["hull-oci"]
    assert [code for _, code, _ in steps] == [0, 0, 0, 0, 0] and steps[2][2] == "running"
    assert ran == ["createRuntime", "poststart", "poststart-failed", "poststop", "poststop-failed", "prestart"]
    path = _hooked(bundle, tmp_path, "again", fail=("poststart",))
    hull = with_crun[1]
    assert hull("create", "-b", path, "warned").returncode == 0
    p = hull("start", "warned")
    assert p.returncode == 0 and "warning: poststart hook" in p.stderr and "hook says no" in p.stderr
    hull("delete", "--force", "warned")


def test_rootfs_propagation_unbindable(with_crun, bundle):
    bundle.config["linux"]["rootfsPropagation"] = "unbindable"
    bundle.args("sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo | grep -o unbindable")
    results = both(with_crun, bundle)
    assert results["hull-oci"] == results["crun"] == (0, "unbindable\n")


def _shape(text: str) -> str:
    """The text with every value replaced (keys, layout and order kept): what must be byte-equal."""
    def value(m):
        return m.group(0) if text[m.end():].lstrip().startswith(":") else '"V"'
    return re.sub(r"-?\b\d+\b", "N", re.sub(r'"(?:[^"\\]|\\.)*"', value, text))


def test_json_output_is_runcs_byte_for_byte(runtimes, bundle, tmp_path):
    """state (MarshalIndent, two spaces), list and ps --format json (compact), --log-format json
    lines (compact, logrus's keys): what scripts written against runc grep for."""
    path = bundle.args("sleep", "100").save()
    out = {}
    for rt in runtimes:
        log = tmp_path / f"{rt.name}.log"
        assert rt("--log", log, "--log-format", "json", "run", "-d", "-b", path, "js").returncode == 0
        texts = [rt("state", "js").stdout, rt("list", "--format", "json").stdout, rt("ps", "--format", "json", "js").stdout]
        rt("--log", log, "--log-format", "json", "state", "nosuch")
        rt("delete", "--force", "js")
        texts.append(rt("list", "--format", "json").stdout)  # none: runc prints null
        texts.append(log.read_text().splitlines()[-1] + "\n")
        out[rt.name] = texts
    for hull, runc in zip(out["hull-oci"], out["runc"]):
        assert _shape(hull) == _shape(runc), (hull, runc)
    assert out["runc"][1].startswith('[{"ociVersion":') and out["runc"][2].startswith("[")
    assert out["hull-oci"][3] == out["runc"][3] == "null\n"
    # features: runc's four-space MarshalIndent; the keys both have, in runc's order
    ours, theirs = (rt("features").stdout for rt in runtimes)
    assert ours == json.dumps(json.loads(ours), indent=4, ensure_ascii=False) + "\n"
    a, b = json.loads(ours), json.loads(theirs)
    assert [k for k in a if k in b] == [k for k in b if k in a]
    for k in a:
        if isinstance(a[k], dict) and isinstance(b.get(k), dict):
            assert [x for x in a[k] if x in b[k]] == [x for x in b[k] if x in a[k]], k


SIGNALS = "grep -E '^Sig(Ign|Blk)' /proc/self/status; yes | head -c 100000 > /dev/null; echo piped"


def test_processes_start_with_no_signal_ignored_or_blocked(runtimes, bundle):
    """runc starts every process with no signal ignored and none blocked; an interpreter's SIGPIPE
    ignored would leave `yes` spinning after `head` exits (and this test hanging)."""
    bundle.args("sh", "-c", SIGNALS)
    results = both(runtimes, bundle)
    assert results["hull-oci"] == results["runc"]
    assert results["runc"] == (0, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\npiped\n")
    bundle.args("sleep", "100")
    seen = {}
    for rt in runtimes:
        assert rt("run", "-d", "-b", bundle.save(), "sig").returncode == 0
        p = rt("exec", "sig", "sh", "-c", SIGNALS, timeout=20)
        seen[rt.name] = (p.returncode, p.stdout)
        rt("delete", "--force", "sig")
    assert seen["hull-oci"] == seen["runc"] == results["runc"]
