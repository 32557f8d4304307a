"""kill -9 at random moments, then the engine's recovery call, then: is anything of ours left?

The loops behind tests/integration/test_kill9.py. Each verb is first timed once unkilled; each
round then kills it after a random delay within that time, checks that what the runtime reports
is the truth, recovers as an engine would, and looks for what could be left: the state directory,
cgroups, mounts and processes. No hook in the code under test: only real SIGKILLs.

Run as a script (`python3 tests/killing.py oci ARGS_JSON`) it prints the problems as JSON: the
test runs it that way inside a private mount namespace, for bundles without one of their own.
"""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # helpers, and the code under test (its naming rules)
from helpers import reap  # noqa: E402
from runtime import cgroups  # noqa: E402

DEVNULL = subprocess.DEVNULL
CGROUP_ROOT = "/sys/fs/cgroup"


def killed_after(cmd: list, delay: float, **kw) -> None:
    p = subprocess.Popen(cmd, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, **kw)
    try:
        p.wait(timeout=delay)  # finished before its moment came: that round kills nothing
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()


def timed(cmd: list, **kw) -> float:
    t = time.monotonic()
    subprocess.run(cmd, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, check=True, **kw)
    return time.monotonic() - t


def quiet(cmd: list, **kw) -> subprocess.CompletedProcess:
    """Run with output in memory; stdio of any container it starts goes to /dev/null (a pipe
    held open by a container would never reach EOF)."""
    return subprocess.run(cmd, stdin=DEVNULL, capture_output=True, text=True, timeout=60, **kw)


def root_tag(state_root: str) -> str:
    """'@HASH' of a runtime root; the rule of the code under test names its cgroups /hull/@HASH-ID."""
    return cgroups.root_tag(state_root)


def cgroups_of(name: str) -> list:
    """Cgroup directories named name below hull's parent /hull, in every hierarchy."""
    found = []
    for top in [CGROUP_ROOT] + [os.path.join(CGROUP_ROOT, d) for d in os.listdir(CGROUP_ROOT)]:
        base = os.path.join(top, "hull")
        if os.path.isdir(base):
            found += [d for d, _, _ in os.walk(base) if os.path.basename(d) == name]
    return found


def processes(cmdline_has: str, cgroup: str | None = None) -> list:
    """Live (not zombie) processes whose command line contains cmdline_has, or that are in a
    cgroup of that name: 'PID command line' each."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/cgroup") as f:
                groups = [line.rstrip("\n") for line in f]
        except OSError:
            continue
        if stat[stat.rindex(b")") + 2:][:1] in (b"Z", b"X"):
            continue
        if cmdline_has in cmdline or (cgroup and any(g.rsplit("/", 1)[-1] == cgroup for g in groups)):
            found.append(f"{pid} {cmdline}")
    return found


def mounts_at(path: str) -> int:
    with open("/proc/self/mountinfo") as f:
        return sum(1 for line in f if line.split()[4] == path or line.split()[4].startswith(path + "/"))


class OciKills:
    """hull-oci create/start/exec/delete killed; `delete --force` recovers (as containerd's shim
    and podman do after a runtime died)."""

    VERBS = ("create", "start", "exec", "delete")

    def __init__(self, oci: list, root: str, bundle: str, rootfs: str, check_mounts: bool = False):
        self.oci, self.root, self.bundle, self.rootfs = list(oci), root, bundle, rootfs
        self.check_mounts = check_mounts
        self.tag = root_tag(root)
        self.mounts_before = mounts_at(rootfs)

    def _run(self, *args) -> subprocess.CompletedProcess:
        return quiet(self.oci + ["--root", self.root] + list(args))

    def _cmd(self, verb: str, cid: str) -> list:
        return self.oci + ["--root", self.root] + {
            "create": ["create", "-b", self.bundle, cid], "start": ["start", cid],
            "exec": ["exec", cid, "sleep", "50"], "delete": ["delete", "--force", cid]}[verb]

    def _prepare(self, verb: str, cid: str) -> None:
        if verb != "create":
            subprocess.run(self._cmd("create", cid), stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, check=True)
        if verb in ("exec", "delete"):
            subprocess.run(self._cmd("start", cid), stdin=DEVNULL, stdout=DEVNULL, check=True)

    def _duration(self, verb: str) -> float:
        cid = f"{verb}-timed"
        self._prepare(verb, cid)
        cmd = self._cmd(verb, cid)
        if verb == "exec":
            cmd = self.oci + ["--root", self.root, "exec", "--detach", cid, "sleep", "50"]
        t = timed(cmd)
        self._run("delete", "--force", cid)
        return t

    def rounds(self, verb: str, n: int, rng: random.Random) -> list:
        longest = self._duration(verb) * 1.2
        problems = []
        for i in range(n):
            cid = f"{verb}{i}"
            self._prepare(verb, cid)
            delay = rng.uniform(0, longest)
            killed_after(self._cmd(verb, cid), delay)
            problems += [f"{verb} killed after {delay * 1000:.0f} ms: {p}" for p in self._check(cid)]
            reap()
        return problems

    def _check(self, cid: str) -> list:
        """What list says must be true; after delete --force nothing may be left."""
        problems = []
        listed = {c["id"]: c for c in json.loads(self._run("list", "--format", "json").stdout or "null") or []}
        c = listed.get(cid)
        if c and c["status"] == "creating":
            problems.append("listed as creating though no create runs")
        elif c and c["status"] == "created":
            p = self._run("start", cid)
            if p.returncode:
                problems.append(f"listed as created, but start failed: {p.stderr.strip()}")
        elif c and c["status"] == "running":
            try:
                with open(f"/proc/{c['pid']}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                argv = [b""]
            if argv[0] != b"sleep":
                problems.append(f"listed as running, but pid {c['pid']} runs {argv[0]!r}")
        p = self._run("delete", "--force", cid)
        if p.returncode:
            problems.append(f"delete --force exited {p.returncode}: {p.stderr.strip()}")
        if os.path.exists(os.path.join(self.root, cid)):
            problems.append("state directory left")
        problems += [f"cgroup left: {d}" for d in cgroups_of(f"{self.tag}-{cid}")]
        for _ in range(50):  # SIGKILLed processes take a moment to become zombies
            left = processes(f"--root {self.root} ", f"{self.tag}-{cid}")
            if not left:
                break
            time.sleep(0.01)
        problems += [f"process left: {p[:100]}" for p in left]
        if self.check_mounts and mounts_at(self.rootfs) != self.mounts_before:
            problems.append(f"mounts left at {self.rootfs}")
        return problems


class EngineKills:
    """hull's commands killed; `hull rm -f` of every container, then `hull system prune -f`,
    recover. Afterwards the root holds exactly what it held before the round, and nothing of it
    runs, is mounted, has a cgroup, a veth, an address lease or a published port."""

    VERBS = ("run", "run-d", "rm", "pull", "build", "commit", "network")

    def __init__(self, hull, image: str, work: str, registry: str | None = None):
        self.hull, self.image, self.work, self.registry = hull, image, work, registry
        self.root = hull.root
        self.context = os.path.join(work, "context")
        os.makedirs(self.context, exist_ok=True)
        with open(os.path.join(self.context, "Dockerfile"), "w") as f:
            f.write(f"FROM {image}\nRUN echo built > /built\nCOPY . /ctx\nENV K=V\nRUN ls /ctx > /listing\n")
        for i in range(20):
            with open(os.path.join(self.context, f"f{i}"), "w") as f:
                f.write(f"file {i}\n")
        self.pushed = None
        if registry:
            self.pushed = f"{registry}/kill/busybox:1"
            hull("tag", image, self.pushed)
            hull("push", self.pushed)
            hull("rmi", self.pushed)
        hull("network", "create", "killnet")
        self.baseline = set()

    def _cmd(self, verb: str, name: str) -> list:
        args = {"run": ["run", "--rm", self.image, "true"],
                "run-d": ["run", "-d", "--name", name, self.image, "sleep", "100"],
                "rm": ["rm", "-f", name],
                "pull": ["pull", "-q", self.pushed or ""],
                "build": ["build", "--no-cache", "-q", "-t", "kill/built", self.context],
                "commit": ["commit", name, "kill/committed"],
                "network": ["run", "-d", "--name", name, "--network", "killnet", "-p", "127.0.0.1::80",
                            self.image, "sleep", "100"]}[verb]
        return self.hull.cmd(*args)

    def _prepare(self, verb: str, name: str) -> None:
        if verb in ("rm", "commit"):
            self.hull("run", "-d", "--name", name, self.image, "sh", "-c", "echo x > /changed; sleep 100")

    def _duration(self, verb: str) -> float:
        self._prepare(verb, "timed")
        t = timed(self._cmd(verb, "timed"), env=self.hull.env)
        self._recover(verb)
        self._wait_for_monitor()
        return t

    def rounds(self, verb: str, n: int, rng: random.Random, kill_monitor: float = 0.2) -> list:
        """kill_monitor: the share of rounds in which the root's monitor is killed too."""
        longest = self._duration(verb) * 1.2
        self.baseline = self._snapshot()  # after one whole unkilled round: what a clean root holds
        problems = []
        for i in range(n):
            name = f"{verb}{i}"
            self._prepare(verb, name)
            delay = rng.uniform(0, longest)
            monitor = rng.random() < kill_monitor
            if monitor:
                threading.Timer(rng.uniform(0, longest), self._kill_monitor).start()
            killed_after(self._cmd(verb, name), delay, env=self.hull.env)
            what = f"{verb} killed after {delay * 1000:.0f} ms{' (and the monitor)' if monitor else ''}"
            problems += [f"{what}: {p}" for p in self._check(verb)]
            reap()
        if not self._wait_for_monitor():
            problems.append("the monitor stays with nothing to watch")
        problems += [f"cgroup left at the end: {d}" for d in root_cgroups(self.root)]
        return problems

    def _wait_for_monitor(self, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while monitors(self.root):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _kill_monitor(self) -> None:
        for pid in monitors(self.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _recover(self, verb: str) -> list:
        """As a user would: remove every container, the image the command made, then prune
        (which also takes the build cache and whatever no container accounts for)."""
        problems = []
        left = self.hull("ps", "-aq", "--no-trunc", check=False).stdout.split()
        if left:
            p = self.hull("rm", "-f", *left, check=False)
            if p.returncode:
                problems.append(f"rm -f exited {p.returncode}: {p.stderr.strip()}")
        made = {"pull": self.pushed, "build": "kill/built", "commit": "kill/committed"}.get(verb)
        if made:
            self.hull("rmi", "-f", made, check=False)
        p = self.hull("system", "prune", "-f", check=False)
        if p.returncode:
            problems.append(f"system prune exited {p.returncode}: {p.stderr.strip()}")
        return problems

    def _check(self, verb: str) -> list:
        problems = self._recover(verb)
        for _ in range(50):  # SIGKILLed processes take a moment to become zombies
            # (the monitor may stay a moment with nothing to watch: rounds() waits for it at the end)
            left = [p for p in processes(self.root) if "monitor" not in p]
            if not left:
                break
            time.sleep(0.01)
        problems += [f"process left: {p[:100]}" for p in left]
        problems += [f"mount left: {m}" for m in mounts_under(self.root)]
        problems += [f"cgroup left: {d}" for d in root_cgroups(self.root) if "@monitor" not in d]
        now = self._snapshot()
        problems += [f"file left: {f}" for f in sorted(now - self.baseline)]
        problems += [f"file gone: {f}" for f in sorted(self.baseline - now)]
        problems += [f"link left: {name}" for name in self._links() if name.startswith("vh") or "tmp" in name]
        leases = {n: e for n, e in self._leases().items() if e}
        if leases:
            problems.append(f"address leases left: {leases}")
        published = self._published()
        if published:
            problems.append(f"published ports left: {published}")
        return problems

    def _snapshot(self) -> set:
        """Every file and directory of the root, but logs, locks and network records (checked
        apart: they change content, not names)."""
        out = set()
        for d, dirs, files in os.walk(self.root):
            rel = os.path.relpath(d, self.root)
            for name in dirs + files:
                path = os.path.normpath(os.path.join(rel, name))
                if name.endswith((".log", "lock", ".sock")) or path.startswith(("networks", "config")):
                    continue
                out.add(path)
        return out

    def _links(self) -> list:
        p = subprocess.run(self.hull.prefix + ["ip", "-o", "link"], capture_output=True, text=True, check=True)
        return [line.split(": ")[1].split("@")[0] for line in p.stdout.splitlines()]

    def _leases(self) -> dict:
        out = {}
        d = os.path.join(self.root, "networks")
        for name in os.listdir(d) if os.path.isdir(d) else []:
            if name.endswith(".json"):
                with open(os.path.join(d, name)) as f:
                    out[name[:-5]] = json.load(f).get("Endpoints") or {}
        return out

    def _published(self) -> list:
        p = subprocess.run(self.hull.prefix + ["nft", "-j", "list", "ruleset"], capture_output=True, text=True)
        found = []
        for item in json.loads(p.stdout or "{}").get("nftables", []):
            m = item.get("map")
            if m and m.get("table", "").startswith("hull") and m["name"].startswith("ports") and m.get("elem"):
                found.append(f"{m['table']} {m['name']}: {m['elem']}")
        return found


def monitors(root: str) -> list:
    return [int(p.split()[0]) for p in processes(root) if "monitor" in p]


def mounts_under(path: str) -> list:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path + "/")]


def root_cgroups(root: str) -> list:
    """Cgroups of a hull root: /hull/@HASH-ID and its monitor's /hull/@monitor@HASH."""
    tag = root_tag(os.path.join(root, "run", "oci"))
    found = []
    for top in [CGROUP_ROOT] + [os.path.join(CGROUP_ROOT, d) for d in os.listdir(CGROUP_ROOT)]:
        base = os.path.join(top, "hull")
        try:
            names = os.listdir(base)
        except (FileNotFoundError, NotADirectoryError):
            continue  # none, or the last container elsewhere just took the empty parent away
        found += [os.path.join(base, n) for n in names if n.startswith(tag + "-") or n.endswith(tag)]
    return found


if __name__ == "__main__":
    kind, raw = sys.argv[1], json.loads(sys.argv[2])
    assert kind == "oci"
    kills = OciKills(raw["oci"], raw["root"], raw["bundle"], raw["rootfs"], check_mounts=True)
    rng = random.Random(raw["seed"])
    out = []
    for verb in raw["verbs"]:
        out += kills.rounds(verb, raw["n"], rng)
    print(json.dumps(out))
