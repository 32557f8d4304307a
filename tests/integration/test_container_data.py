"""A container's data: volumes, binds, tmpfs, --volumes-from, diff, commit, cp, export, prune and
df; compared with podman (its own storage, runc) where the issue names it, and hostile cases."""
import io
import json
import os
import subprocess
import tarfile

import pytest

from peers.engines import BUSYBOX

pytestmark = pytest.mark.root


def on_both(engine, podman, *args):
    return engine(*args, check=False), podman(*[BUSYBOX if a == "busybox" else a for a in args])


CHANGES = ("echo x > /etc/newfile; rm /etc/group; mkdir -p /tmp/d/e; echo y > /tmp/d/e/f; rm -rf /home; "
           "mkdir /home; touch /home/new; ln -s /etc/passwd /root/link; chmod 600 /etc/passwd")


def test_diff_like_podman(engine, podman):
    ours, theirs = on_both(engine, podman, "run", "--name", "chg", "--network", "none", "busybox", "sh", "-c", CHANGES)
    assert ours.returncode == theirs.returncode == 0
    ours, theirs = on_both(engine, podman, "diff", "chg")
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    assert "D /etc/group" in ours.stdout and "A /home/new" in ours.stdout
    podman("rm", "chg")


def test_cp_both_ways_like_podman(engine, podman, tmp_path):
    for e, image in ((engine, "busybox"), (podman, BUSYBOX)):
        e("run", "--name", "cpc", "--network", "none", image, "sh", "-c",
          "mkdir -p /data/sub; echo one > /data/a; echo two > /data/sub/b; ln -s a /data/la; chmod 751 /data/sub",
          check=True)
    host = tmp_path / "host"
    (host / "tree" / "deep").mkdir(parents=True)
    (host / "tree" / "deep" / "f").write_text("host file\n")
    os.symlink("deep/f", host / "tree" / "lnk")
    (host / "single").write_text("single\n")
    cases = [("cpc:/data/a", "OUT/a-file"), ("cpc:/data", "OUT/datadir"), ("cpc:/data/.", "OUT/contents"),
             ("cpc:/data/la", "OUT/link"), (str(host / "tree"), "cpc:/tmp/"), (str(host / "single"), "cpc:/tmp/renamed"),
             (str(host / "tree") + "/.", "cpc:/root")]
    for src, dst in cases:
        results = {}
        for name, e in (("hull", engine), ("podman", podman)):
            out = tmp_path / name
            out.mkdir(exist_ok=True)
            p = e("cp", src, dst.replace("OUT", str(out)))
            results[name] = p.returncode
        assert results["hull"] == results["podman"] == 0, (src, dst, results)
    for rel in ("a-file", "datadir/a", "datadir/sub/b", "contents/sub/b", "datadir/la"):
        ours, theirs = tmp_path / "hull" / rel, tmp_path / "podman" / rel
        assert ours.is_symlink() == theirs.is_symlink() and (ours.read_text() == theirs.read_text())
    # a link given as the source: docker copies the link (-L would follow it); podman follows it
    assert os.readlink(tmp_path / "hull" / "link") == "a"
    assert oct(os.stat(tmp_path / "hull" / "datadir" / "sub").st_mode) == oct(os.stat(tmp_path / "podman" / "datadir" / "sub").st_mode)
    check = "cat /tmp/tree/deep/f /tmp/renamed /root/deep/f; readlink /tmp/tree/lnk"
    for e in (engine, podman):
        e("commit", "cpc", "lab/cpc:1", check=True)
    ours = engine("run", "--rm", "lab/cpc:1", "sh", "-c", check).stdout
    theirs = podman("run", "--rm", "--network", "none", "lab/cpc:1", "sh", "-c", check, check=True).stdout
    assert ours == theirs == "host file\nsingle\nhost file\ndeep/f\n"
    podman("rm", "cpc")
    podman("rmi", "lab/cpc:1")


def test_volumes_like_podman(engine, podman, tmp_path):
    """Named volumes outlive their containers and are shared by --volumes-from; an image's VOLUME is
    an anonymous volume filled from the image (copy-up); prune removes the unused ones."""
    results = {}
    for name, e, image in (("hull", engine, "busybox"), ("podman", podman, BUSYBOX)):
        net = ["--network", "none"]
        e("run", "--name", "writer", *net, "-v", "shared:/data", image, "sh", "-c", "echo kept > /data/f", check=True)
        e("rm", "writer", check=True)
        again = e("run", "--rm", *net, "-v", "shared:/data", image, "cat", "/data/f", check=True).stdout
        e("run", "-d", "--name", "owner", *net, "-v", "shared:/data", "-v", "/anon", image, "sleep", "100", check=True)
        from_ = e("run", "--rm", *net, "--volumes-from", "owner:ro", image, "sh", "-c",
                  "cat /data/f; ls -d /anon; touch /data/x 2>/dev/null || echo read-only").stdout
        # an image with a VOLUME over content: copy-up
        e("run", "--name", "seed", *net, image, "sh", "-c", "mkdir /content && echo from-image > /content/file",
          check=True)
        e("commit", "-c", 'VOLUME ["/content"]', "seed", "lab/withvol:1", check=True)
        up = e("run", "--rm", *net, "lab/withvol:1", "cat", "/content/file", check=True).stdout
        e("rm", "-f", "owner", "seed", check=True)
        vols = sorted(e("volume", "ls", "-q", check=True).stdout.split())
        pruned = e("volume", "prune", "-f", check=True).stdout
        left = e("volume", "ls", "-q", check=True).stdout.split()
        e("rmi", "lab/withvol:1", check=True)
        results[name] = (again, from_, up, len(vols), left, "shared" in pruned)
    assert results["hull"] == results["podman"]
    assert results["hull"][:3] == ("kept\n", "kept\n/anon\nread-only\n", "from-image\n")


def test_binds_tmpfs_and_read_only(engine, tmp_path):
    host = tmp_path / "made-by-run"  # -v creates a missing host directory, as docker
    out = engine("run", "--rm", "--read-only", "-v", f"{host}:/data", "--tmpfs", "/run:size=1m",
                 "--mount", f"type=bind,source={tmp_path},target=/ro,readonly", "busybox", "sh", "-c",
                 "echo ok > /data/f && echo wrote; touch /x 2>/dev/null || echo root-ro; "
                 "touch /ro/y 2>/dev/null || echo bind-ro; echo t > /run/t && echo tmpfs-rw; "
                 "grep ' /run ' /proc/self/mountinfo | cut -d' ' -f6").stdout
    assert out.split() == ["wrote", "root-ro", "bind-ro", "tmpfs-rw", "rw,nosuid,nodev,noexec,relatime"]
    assert (host / "f").read_text() == "ok\n"
    p = engine("run", "--rm", "--mount", f"type=bind,source={tmp_path}/nope,target=/x", "busybox", "true",
               check=False)
    assert p.returncode == 125 and "does not exist" in p.stderr  # --mount does not create it
    engine("run", "--name", "withanon", "-v", "/anon", "busybox", "true")
    name = json.loads(engine("inspect", "withanon").stdout)[0]["Mounts"][0]["Name"]
    engine("rm", "-v", "withanon")  # -v takes its anonymous volume
    assert name not in engine("volume", "ls", "-q").stdout
    engine("volume", "create", "busy")
    engine("create", "--name", "user", "-v", "busy:/b", "busybox", "true")
    p = engine("volume", "rm", "busy", check=False)
    assert p.returncode == 1 and "volume is in use" in p.stderr
    engine("rm", "user")
    engine("volume", "rm", "busy")


@pytest.mark.parametrize("bad", ["a/b", "..", "x/../y", "/abs:/data"])
def test_bad_volume_names(engine, bad):
    if bad.startswith("/"):
        return  # an absolute source is a bind mount, not a name
    p = engine("volume", "create", bad, check=False)
    assert p.returncode == 1 and "invalid characters" in p.stderr
    p = engine("run", "--rm", "-v", f"{bad}:/data", "busybox", "true", check=False)
    assert p.returncode == 125 and not os.path.exists(os.path.join(engine.root, "volumes", bad))


def test_commit_layer_is_a_valid_oci_layer(engine, tmp_path):
    engine("run", "--name", "c1", "busybox", "sh", "-c", "rm /etc/group; mkdir /made; echo hi > /made/f")
    engine("commit", "-m", "a message", "-a", "me", "c1", "lab/committed:1")
    engine("save", "--format", "oci-dir", "-o", tmp_path / "layout", "lab/committed:1")
    subprocess.run(["umoci", "unpack", "--image", f"{tmp_path}/layout:1", str(tmp_path / "bundle")], check=True,
                   capture_output=True)
    root = tmp_path / "bundle" / "rootfs"
    assert (root / "made" / "f").read_text() == "hi\n" and not (root / "etc" / "group").exists()
    subprocess.run(["skopeo", "inspect", f"oci:{tmp_path}/layout:1"], check=True, capture_output=True)
    info = json.loads(engine("image", "inspect", "lab/committed:1").stdout)[0]
    assert info["Comment"] == "a message" and info["Author"] == "me" and len(info["RootFS"]["Layers"]) == 2
    assert engine("run", "--rm", "lab/committed:1", "cat", "/made/f").stdout == "hi\n"
    engine("rm", "c1")
    engine("rmi", "lab/committed:1")


def test_commit_pauses_a_running_container(engine):
    engine("run", "-d", "--name", "busy", "busybox", "sh", "-c", "while :; do date > /tmp/now; done")
    image = engine("commit", "busy").stdout.strip()
    assert image.startswith("sha256:")
    assert engine("inspect", "-f", "{{.State.Status}}", "busy").stdout.strip() == "running"  # paused, then thawed
    rows = engine("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "<none>:<none>" in rows  # committed without a name: untagged, as docker
    engine("rm", "-f", "busy")
    engine("rmi", image)


def test_export_and_import_back(engine, tmp_path):
    engine("run", "--name", "ex", "busybox", "sh", "-c", "echo exported > /etc/marker")
    engine("export", "-o", tmp_path / "fs.tar", "ex")
    names = tarfile.open(tmp_path / "fs.tar").getnames()
    assert "etc/marker" in names and "bin/busybox" in names and not any(n.startswith("proc/") for n in names)
    engine("image", "import", tmp_path / "fs.tar", "lab/flat:1")
    assert engine("run", "--rm", "lab/flat:1", "cat", "/etc/marker").stdout == "exported\n"
    engine("rm", "ex")
    engine("rmi", "lab/flat:1")


# -- hostile containers and archives ------------------------------------------------------------------

def test_cp_never_leaves_the_container(engine, tmp_path):
    engine("run", "-d", "--name", "evil", "busybox", "sh", "-c",
           "rm -rf /etc && ln -s / /etc; ln -s / /escape; ln -s /etc/shadow /shadowlink; sleep 100")
    # /etc/passwd through an /etc that is a link to / is the container's /passwd (none): not the host's
    p = engine("cp", "evil:/etc/passwd", tmp_path / "got", check=False)
    assert p.returncode == 1 and not (tmp_path / "got").exists()
    engine("cp", "evil:/shadowlink", tmp_path / "link")
    assert os.path.islink(tmp_path / "link")  # copied as the link it is, not the host's /etc/shadow
    (tmp_path / "payload").write_text("pwned\n")
    engine("cp", tmp_path / "payload", "evil:/escape/tmp/")  # / of the container, not the host's
    assert not os.path.exists("/tmp/payload") or open("/tmp/payload").read() != "pwned\n"
    assert engine("exec", "evil", "cat", "/tmp/payload").stdout == "pwned\n"
    engine("rm", "-f", "evil")


def test_a_tar_on_stdin_cannot_climb_out(engine, tmp_path):
    engine("run", "-d", "--name", "target", "busybox", "sleep", "100")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name in ("../../../../tmp/hull-climbed", "ok"):
            info = tarfile.TarInfo(name)
            info.size = 2
            t.addfile(info, io.BytesIO(b"x\n"))
    p = subprocess.run(engine.cmd("cp", "-", "target:/tmp"), input=buf.getvalue(), capture_output=True,
                       env=engine.env)
    assert p.returncode == 1 and b"leaves the destination" in p.stderr
    assert not os.path.exists("/tmp/hull-climbed")
    engine("rm", "-f", "target")


def test_the_scenario_and_system_prune(engine, tmp_path):
    """run -v, write, rm, run again with the volume, --volumes-from, diff, commit, run the commit,
    system prune: as in docker, and nothing of them left."""
    engine("run", "--name", "one", "-v", "appdata:/data", "busybox", "sh", "-c", "echo v1 > /data/state")
    engine("rm", "one")
    engine("run", "-d", "--name", "two", "-v", "appdata:/data", "busybox", "sh", "-c",
           "cat /data/state >> /data/log; echo changed > /etc/motd; sleep 100")
    assert engine("run", "--rm", "--volumes-from", "two", "busybox", "cat", "/data/state").stdout == "v1\n"
    assert "A /etc/motd" in engine("diff", "two").stdout
    engine("commit", "two", "lab/app:1")
    assert engine("run", "--rm", "lab/app:1", "cat", "/etc/motd").stdout == "changed\n"
    engine("stop", "-t", "0", "two")
    df = engine("system", "df").stdout
    assert df.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    out = engine("system", "prune", "-f", "-a", "--volumes").stdout
    assert "Deleted Containers:" in out and "Deleted Volumes:" in out and "appdata" in out
    assert "Total reclaimed space" in out
    assert engine("ps", "-aq").stdout == "" and engine("volume", "ls", "-q").stdout == ""
    assert engine("images", "-q").stdout == ""
    assert os.listdir(os.path.join(engine.root, "containers")) == []
    info = engine("info", "--format", "{{.Containers}} {{.Images}} {{.CgroupDriver}}").stdout
    assert info == "0 0 cgroupfs\n"


def test_prune_finds_what_a_crash_left(engine):
    engine("run", "-d", "--name", "crashy", "busybox", "sleep", "100")
    cid = engine("inspect", "-f", "{{.Id}}", "crashy").stdout.strip()
    # a crash between the mount and the record: the container record is gone, its mount and the
    # core's state and cgroup are still there (what prune must find without the record)
    cdir = os.path.join(engine.root, "containers", cid)
    state = json.load(open(os.path.join(cdir, "state.json")))
    os.kill(state["Monitor"]["pid"], 9)
    os.kill(state["Pid"], 9)
    os.unlink(os.path.join(cdir, "config.json"))
    out = engine("system", "prune", "-f").stdout
    assert "unmounted" in out and "runtime state" in out, out
    with open("/proc/self/mountinfo") as f:
        assert cid not in f.read()
    assert not os.path.exists(cdir)  # a record without its config: removed too
