"""Real engines wired to an OCI runtime: podman, containerd (driven by ctr) and dockerd.

Each engine lives in a temporary directory (storage, state, sockets, config) and its container
networks live in a network namespace made for it, so nothing reaches the host's interfaces or
firewall. stop() removes the containers, ends the daemon, and deletes what the engine made on the
host outside that directory (cgroup parents, /var/lib/cni, ...). Used by tests/peers and
scripts/bench (which passes runc as the runtime to compare).
"""
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time

from helpers import processes_mentioning

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUSYBOX = "docker.io/library/busybox:latest"
CGROUP_ROOT = "/sys/fs/cgroup"


def busybox_image(work: str) -> tuple:
    """(rootfs tar, docker-archive) of rootfs/busybox.sh's tree, for `podman import` / `load`."""
    bundle = os.path.join(work, "busybox")
    subprocess.run([os.path.join(REPO, "rootfs", "busybox.sh"), bundle], check=True,
                   stdout=subprocess.DEVNULL)
    rootfs_tar = os.path.join(work, "busybox-rootfs.tar")
    subprocess.run(["tar", "-C", os.path.join(bundle, "rootfs"), "-cf", rootfs_tar, "."], check=True)
    archive = os.path.join(work, "busybox-archive.tar")
    subprocess.run([os.path.join(REPO, "rootfs", "docker-archive.py"), os.path.join(bundle, "rootfs"),
                    archive, BUSYBOX], check=True)
    shutil.rmtree(bundle)
    return rootfs_tar, archive


class HostPaths:
    """Paths an engine creates on the host outside its own directory: those absent at start are
    removed at the end. Cgroup directories are removed bottom-up with rmdir (never rm -r)."""

    def __init__(self, paths, cgroups=()):
        self.paths = [p for p in paths if not os.path.lexists(p)]
        self.cgroups = [os.path.join(base, name) for base in _hierarchies() for name in cgroups
                        if not os.path.exists(os.path.join(base, name))]

    def remove(self) -> list:
        """Remove them; return the cgroup directories that would not go (still in use)."""
        for path in self.paths:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)
        stuck = []
        for top in self.cgroups:
            for d, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    pass
                except OSError:
                    stuck.append(d)
        return stuck


def _hierarchies() -> list:
    """Every mounted cgroup hierarchy: the root itself on pure v2, each v1 controller and the
    unified mount on a hybrid host."""
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        return [CGROUP_ROOT]
    return [os.path.join(CGROUP_ROOT, d) for d in sorted(os.listdir(CGROUP_ROOT))
            if os.path.isdir(os.path.join(CGROUP_ROOT, d)) and not os.path.islink(os.path.join(CGROUP_ROOT, d))]


class NetNS:
    """A network namespace under /run/netns with loopback up; `enter` prefixes a command with it."""

    def __init__(self, name: str):
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        # nsenter, not `ip netns exec`: the latter mounts a new /sys, hiding /sys/fs/cgroup
        self.enter = ["nsenter", f"--net=/run/netns/{name}"]

    def delete(self):
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


def unmount_under(path: str) -> None:
    """Lazily unmount anything still mounted below path (deepest first) before it is removed."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


class Engine:
    """Common parts: a private directory, a netns, the command prefix, cleanup."""

    name = "engine"
    host_paths = ()
    cgroup_parents = ()

    def __init__(self, runtime: str, archive: str, rootfs_tar: str):
        self.runtime = runtime
        self.dir = tempfile.mkdtemp(prefix=f"hull-{self.name}-", dir="/tmp")
        self.host = HostPaths(self.host_paths, self.cgroup_parents)
        self.netns = NetNS(os.path.basename(self.dir))
        self.daemon = None
        self.env = dict(os.environ)
        self.archive, self.rootfs_tar = archive, rootfs_tar

    def cmd(self, *args) -> list:
        raise NotImplementedError

    def __call__(self, *args, check=False, timeout=60, **kw) -> subprocess.CompletedProcess:
        """Run the engine's client; text output captured."""
        p = subprocess.run(self.cmd(*args), env=self.env, timeout=timeout, text=True,
                           capture_output=True, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(self.cmd(*args))} exited {p.returncode}: {p.stderr}")
        return p

    def start_daemon(self, argv: list, ready: list, log: str, timeout=30):
        """Start a daemon inside the netns and wait until `ready` (a client command) succeeds."""
        with open(os.path.join(self.dir, log), "w") as out:
            self.daemon = subprocess.Popen(self.netns.enter + argv, stdout=out, stderr=subprocess.STDOUT,
                                           env=self.env, start_new_session=True)
        deadline = time.time() + timeout
        while subprocess.run(ready, env=self.env, capture_output=True).returncode != 0:
            if self.daemon.poll() is not None or time.time() > deadline:
                with open(os.path.join(self.dir, log)) as f:
                    raise RuntimeError(f"{argv[0]} did not start: {f.read()[-2000:]}")
            time.sleep(0.1)

    def remove_containers(self):
        raise NotImplementedError

    def stop(self) -> list:
        """Remove everything; return what could not be cleaned (for the tests to report)."""
        problems = []
        try:
            self.remove_containers()
        finally:
            if self.daemon:
                self.daemon.send_signal(signal.SIGTERM)
                try:
                    self.daemon.wait(30)
                except subprocess.TimeoutExpired:
                    problems.append(f"{self.name} daemon did not stop on SIGTERM")
                    self.daemon.kill()
                    self.daemon.wait()
            deadline = time.time() + 10
            while processes_mentioning(self.dir) and time.time() < deadline:
                time.sleep(0.1)
            for pid in processes_mentioning(self.dir):
                problems.append(f"process left behind: {pid}")
                os.kill(pid, signal.SIGKILL)
            unmount_under(self.dir)
            self.netns.delete()
            problems += [f"cgroup left behind: {d}" for d in self.host.remove()]
            shutil.rmtree(self.dir, ignore_errors=True)
        return problems


class Podman(Engine):
    """podman with its own containers.conf and storage.conf (CONTAINERS_CONF, ..._STORAGE_CONF)."""

    name = "podman"
    host_paths = ("/var/lib/containers", "/var/lib/cni", "/run/hull", "/run/containers", "/run/libpod")
    cgroup_parents = ("libpod_parent",)
    hull_root = "/run/hull"  # podman passes no --root: the runtime's default
    bridge = "cni-podman0"

    def __init__(self, runtime, archive, rootfs_tar):
        super().__init__(runtime, archive, rootfs_tar)
        d = self.dir
        runtime_name = os.path.basename(runtime)
        with open(os.path.join(d, "containers.conf"), "w") as f:
            f.write(textwrap.dedent(f"""\
                [containers]
                # this host's hard limits (no CAP_SYS_RESOURCE): podman's default 1048576 fails
                default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
                [network]
                network_backend = "cni"
                network_config_dir = "{d}/net"
                default_subnet = "10.88.77.0/24"
                [engine]
                cgroup_manager = "cgroupfs"
                events_logger = "file"
                events_logfile_path = "{d}/events.log"
                tmp_dir = "{d}/tmp"
                volume_path = "{d}/volumes"
                image_copy_tmp_dir = "{d}/tmp"
                pull_policy = "never"  # images come from rootfs/; nothing is fetched
                runtime = "{runtime_name}"
                # podman gives --log-format=json only to runtimes named here
                runtime_supports_json = ["crun", "runc", "hull-oci"]
                [engine.runtimes]
                {runtime_name} = ["{runtime}"]
                """))
        with open(os.path.join(d, "storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{d}/storage"\nrunroot = "{d}/run"\n')
        self.env.update(CONTAINERS_CONF=f"{d}/containers.conf", CONTAINERS_STORAGE_CONF=f"{d}/storage.conf")
        self("import", "-q", rootfs_tar, BUSYBOX, check=True)

    def cmd(self, *args) -> list:
        return self.netns.enter + ["podman"] + [str(a) for a in args]

    def remove_containers(self):
        self("rm", "-af", "-t", "0")
        self("rmi", "-af")


class Dockerd(Engine):
    """dockerd on a private socket, data root and exec root, with hull-oci added as runtime `hull`.
    It runs inside the netns, so its bridge, iptables rules and port proxies stay there."""

    name = "dockerd"
    # its shims' sockets go to /run/containerd/s whatever the exec root; 20.10 writes a trust key
    host_paths = ("/run/docker", "/run/containerd", "/var/lib/docker", "/etc/docker/key.json")
    cgroup_parents = ("hull-peer-docker",)
    bridge = "docker0"

    def __init__(self, runtime, archive, rootfs_tar):
        super().__init__(runtime, archive, rootfs_tar)
        d = self.dir
        self.env["DOCKER_HOST"] = f"unix://{d}/docker.sock"
        self.hull_root = f"{d}/exec/runtime-runc/moby"  # dockerd's name for any runc-like runtime
        self.start_daemon(["dockerd", "--data-root", f"{d}/data", "--exec-root", f"{d}/exec",
                           "-H", f"unix://{d}/docker.sock", "--pidfile", f"{d}/docker.pid",
                           "--add-runtime", f"hull={runtime}", "--default-runtime", "hull",
                           "--cgroup-parent", "/hull-peer-docker", "--bip", "10.88.78.1/24",
                           "--default-ulimit", "nofile=20000:20000", "--userland-proxy=false"],
                          self.cmd("version"), "dockerd.log")
        self("load", "-q", "-i", archive, check=True)

    def cmd(self, *args) -> list:
        return ["/usr/bin/docker"] + [str(a) for a in args]  # Debian's client, matching the daemon

    def remove_containers(self):
        ids = self("ps", "-aq").stdout.split()
        if ids:
            self("rm", "-f", *ids)


class Containerd(Engine):
    """containerd on a private socket, root and state (no CRI plugin); ctr in namespace hull-peer
    with --runc-binary pointing at the runtime, as the runc shim's BinaryName does under k8s."""

    name = "containerd"
    namespace = "hull-peer"
    host_paths = ("/run/containerd",)
    cgroup_parents = (namespace,)
    hull_root = f"/run/containerd/runc/{namespace}"  # the runc shim's default --root

    def __init__(self, runtime, archive, rootfs_tar):
        super().__init__(runtime, archive, rootfs_tar)
        d = self.dir
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(textwrap.dedent(f"""\
                version = 2
                root = "{d}/root"
                state = "{d}/state"
                disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
                  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
                [grpc]
                  address = "{d}/containerd.sock"
                [ttrpc]
                  address = "{d}/containerd.sock.ttrpc"
                """))
        self.start_daemon(["containerd", "--config", f"{d}/config.toml"], self.cmd("version"),
                          "containerd.log")
        self("images", "import", archive, check=True)

    def cmd(self, *args) -> list:
        return ["ctr", "-a", f"{self.dir}/containerd.sock", "-n", self.namespace] + [str(a) for a in args]

    def run_cmd(self, *args) -> list:
        """`ctr run` with the runtime binary, the way a RuntimeClass's BinaryName selects it."""
        return ["run", "--runc-binary", self.runtime] + [str(a) for a in args]

    def remove_containers(self):
        for cid in self("tasks", "ls", "-q").stdout.split():
            self("tasks", "delete", "--force", cid)
        for cid in self("containers", "ls", "-q").stdout.split():
            self("containers", "delete", cid)


class Buildah(Engine):
    """buildah with its own storage and containers.conf, runc as its runtime; its RUN steps live in
    the engine's netns (tests build with --network none). busybox is pulled from the docker-archive."""

    name = "buildah"
    host_paths = ("/var/lib/containers", "/run/containers", "/run/buildah")

    def __init__(self, runtime, archive, rootfs_tar):
        super().__init__(runtime, archive, rootfs_tar)
        d = self.dir
        with open(os.path.join(d, "containers.conf"), "w") as f:
            f.write(textwrap.dedent(f"""\
                [containers]
                default_ulimits = ["nofile=20000:20000"]
                [network]
                network_backend = "cni"
                network_config_dir = "{d}/net"
                [engine]
                cgroup_manager = "cgroupfs"
                events_logger = "file"
                events_logfile_path = "{d}/events.log"
                tmp_dir = "{d}/tmp"
                runtime = "{os.path.basename(runtime)}"
                [engine.runtimes]
                {os.path.basename(runtime)} = ["{runtime}"]
                """))
        with open(os.path.join(d, "storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{d}/storage"\nrunroot = "{d}/run"\n')
        self.env.update(CONTAINERS_CONF=f"{d}/containers.conf", CONTAINERS_STORAGE_CONF=f"{d}/storage.conf",
                        TMPDIR=f"{d}/tmp")
        os.makedirs(f"{d}/tmp", exist_ok=True)
        self("pull", "-q", f"docker-archive:{archive}", check=True)

    def cmd(self, *args) -> list:
        return self.netns.enter + ["buildah"] + [str(a) for a in args]

    def remove_containers(self):
        self("rm", "--all")
        self("rmi", "-af")
