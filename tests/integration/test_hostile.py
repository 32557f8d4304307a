"""hull against a hostile container, a hostile build context and a hostile local user (issue 23).

Each test reproduces what a probe did to hull: a directory swapped for a symlink while root copies
into it (docker's CVE-2018-15664), links to host files in a build context, a log too large to hold
in memory, other users reading a root's volumes, files made under the monitor's umask, files that
vanish during a copy. The roots live in a directory other users can reach (pytest's own tmp is
0700), so a refusal is hull's doing, not the test directory's.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from helpers import reap, wait_for

pytestmark = pytest.mark.root

NOBODY = 65534
ROUNDS = int(os.environ.get("HULL_RACE_ROUNDS", "200"))


@pytest.fixture
def tmp_path(tmp_path):
    """A directory under /tmp that other users can traverse (the engine fixture's root goes here)."""
    d = tempfile.mkdtemp(prefix="hull-hostile-", dir="/tmp")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def _as_nobody(script: str, **kw):
    return subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                             "sh", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def _stop(p) -> None:
    p.kill()
    p.wait()
    reap()


def _tree_in(engine, name: str) -> None:
    """A running container `name` holding /big: 10 directories of 2 files each."""
    engine("run", "-d", "--name", name, "busybox", "sh", "-c",
           "for i in 0 1 2 3 4 5 6 7 8 9; do mkdir -p /big/s$i; echo a > /big/s$i/a; echo b > /big/s$i/b; done; "
           "touch /ready; exec sleep 1000")
    wait_for(lambda: engine("exec", name, "test", "-e", "/ready", check=False).returncode == 0, "the tree")


def _race_cp_out(engine, dest, victim) -> None:
    """ROUNDS copies of /big into dest while it is being swapped; nothing may land in victim."""
    errors = []
    for _ in range(ROUNDS):
        p = engine("cp", "src:/big", f"{dest}/", check=False)
        assert os.listdir(victim) == [], f"cp wrote through a swapped link into {victim}: {os.listdir(victim)}"
        if p.returncode:
            errors.append(p.stderr)
    assert len(errors) < ROUNDS, errors[0]  # the race was run, not only refused
    for e in errors:  # a lost race is one clear line
        assert len(e.splitlines()) == 1 and "internal error" not in e, e


def test_cp_out_races_a_container_swapping_a_directory(engine, tmp_path):
    shared, victim = tmp_path / "shared", tmp_path / "target"
    shared.mkdir()
    victim.mkdir(mode=0o700)
    _tree_in(engine, "src")
    engine("run", "-d", "--name", "swapper", "-v", f"{shared}:/data", "busybox", "sh", "-c",
           f"cd /data; while :; do n=$((n+1)); [ -d big ] && [ ! -L big ] && mv big o$n && ln -s {victim} big; "
           "done")
    _race_cp_out(engine, shared, victim)
    engine("rm", "-f", "swapper", "src")


def test_cp_out_races_a_local_user_swapping_a_directory(engine, tmp_path):
    dest, victim = tmp_path / "dest", tmp_path / "root-only"
    dest.mkdir()
    os.chown(dest, NOBODY, NOBODY)
    victim.mkdir(mode=0o700)
    _tree_in(engine, "src")
    swapper = _as_nobody(f"cd {dest}; while :; do n=$((n+1)); [ -d big ] && [ ! -L big ] && mv big o$n && "
                         f"ln -s {victim} big; done")
    try:
        _race_cp_out(engine, dest, victim)
    finally:
        _stop(swapper)
    engine("rm", "-f", "src")


def test_diff_and_commit_never_read_through_a_swapped_link(engine, tmp_path):
    secret = tmp_path / "host-secret"
    secret.mkdir()
    (secret / "secret-marker").write_text("host data\n")
    engine("run", "-d", "--name", "churn", "busybox", "sh", "-c",
           f"mkdir /w; while :; do mkdir /w/d; touch /w/d/own; rm -rf /w/d; ln -s {secret} /w/d; rm /w/d; done")
    for _ in range(ROUNDS // 2):
        p = engine("diff", "churn", check=False)
        assert "secret-marker" not in p.stdout, p.stdout
        assert p.returncode == 0, p.stderr
    for i in range(10):
        engine("commit", "--pause=false", "churn", f"leak:{i}")
        listed = engine("run", "--rm", "--entrypoint", "sh", f"leak:{i}", "-c", "ls -R /w 2>/dev/null").stdout
        assert "secret-marker" not in listed, listed
        engine("rmi", f"leak:{i}")
    engine("rm", "-f", "churn")


def test_cp_of_files_that_vanish_and_refusals_that_leave_nothing(engine, tmp_path):
    engine("run", "-d", "--name", "c1", "busybox", "sh", "-c",
           "ln -s / /rootlink; touch /afile; mkdir /d; "
           "while :; do for i in 1 2 3 4 5 6 7 8; do echo x > /d/f$i; done; rm -f /d/f*; done")
    for _ in range(15):  # files created and deleted under the copy: skipped, never an error
        assert engine("export", "-o", tmp_path / "fs.tar", "c1", check=False).stderr == ""
        engine("cp", "c1:/d", tmp_path / "d-copy")
        shutil.rmtree(tmp_path / "d-copy")
    p = engine("cp", "c1:/nonexistent", tmp_path / "out", check=False)
    assert p.returncode != 0 and p.stderr.splitlines() == ["Error: Could not find the file /nonexistent in container c1"]
    assert not (tmp_path / "out").exists()
    # a link in the destination is followed inside the container, as docker does: /rootlink/ is /
    (tmp_path / "dd").write_text("dd\n")
    engine("cp", tmp_path / "dd", "c1:/rootlink/")
    assert engine("exec", "c1", "cat", "/dd").stdout == "dd\n"
    # a directory onto a file is refused before anything is written
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inner").write_text("i\n")
    p = engine("cp", tmp_path / "dir", "c1:/afile", check=False)
    assert p.returncode != 0 and len(p.stderr.splitlines()) == 1, p.stderr
    assert engine("exec", "c1", "sh", "-c", "test -f /afile && ! test -s /afile && ! test -e /inner && echo intact"
                  ).stdout == "intact\n"
    engine("rm", "-f", "c1")


# -- build contexts ---------------------------------------------------------------------------------

def _build(engine, context, stdin=None, timeout=60):
    return subprocess.run(engine.cmd("build", "-t", "ctx:1", context), input=stdin, capture_output=True,
                          env=engine.env, timeout=timeout)


def _tar_of(directory) -> bytes:
    return subprocess.run(["tar", "-C", directory, "-cf", "-", "."], capture_output=True, check=True).stdout


def test_build_context_links_to_host_files_are_refused(engine, tmp_path):
    secret = tmp_path / "host-file"
    secret.write_text("HOST-SECRET-LINE\n")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").symlink_to(secret)
    for p in (_build(engine, ctx), _build(engine, "-", _tar_of(ctx))):
        assert p.returncode == 1 and b"HOST-SECRET" not in p.stderr + p.stdout, p.stderr
    # a link that stays inside the context is fine
    (ctx / "Dockerfile").unlink()
    (ctx / "real").write_text("FROM busybox\nRUN true\n")
    (ctx / "Dockerfile").symlink_to("real")
    (ctx / ".dockerignore").symlink_to("/dev/zero")
    p = _build(engine, ctx)
    assert p.returncode == 1 and b".dockerignore" in p.stderr and b"outside the build context" in p.stderr, p.stderr
    (ctx / ".dockerignore").unlink()
    assert _build(engine, ctx).returncode == 0
    engine("rmi", "ctx:1")


def test_build_context_fifo_and_huge_dockerignore(engine, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\n")
    os.mkfifo(ctx / ".dockerignore")
    before = set(os.listdir(tempfile.gettempdir()))
    for p in (_build(engine, "-", _tar_of(ctx), timeout=30), _build(engine, ctx, timeout=30)):
        assert p.returncode == 1 and b"not a regular file" in p.stderr, p.stderr
    assert not [n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("hull-build-")]
    os.unlink(ctx / ".dockerignore")
    with open(ctx / ".dockerignore", "wb") as f:
        f.truncate(17 << 20)  # sparse: 17 MiB of nothing
    p = _build(engine, ctx)
    assert p.returncode == 1 and b"larger than" in p.stderr, p.stderr


# -- logs, permissions ------------------------------------------------------------------------------

def _max_rss_kb(argv, env) -> tuple:
    """(stdout, the peak RSS in KiB of the command), measured in a fresh child of its own."""
    code = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True); "
            "sys.stdout.write(p.stdout.decode() + '\\0' + str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))")
    out = subprocess.run([sys.executable, "-c", code] + [str(a) for a in argv], capture_output=True, text=True,
                         env=env, check=True).stdout
    text, _, rss = out.rpartition("\0")
    return text, int(rss)


def test_logs_tail_reads_from_the_end(engine):
    engine("run", "--name", "loud", "busybox", "seq", "1", "1500000", timeout=300)
    log = os.path.join(engine.root, "containers", engine("inspect", "-f", "{{.Id}}", "loud").stdout.strip())
    size = sum(os.path.getsize(os.path.join(log, n)) for n in os.listdir(log) if "-json.log" in n)
    assert size > 80 << 20
    out, rss = _max_rss_kb(engine.cmd("logs", "--tail", "2", "loud"), engine.env)
    assert out == "1499999\n1500000\n"
    assert rss < 80 << 10, f"hull logs --tail 2 of a {size >> 20} MB log peaked at {rss >> 10} MB"
    out, rss = _max_rss_kb(engine.cmd("logs", "loud"), engine.env)  # streamed, not held
    assert out.count("\n") == 1500000 and rss < 80 << 10, rss
    engine("rm", "loud")


def test_logs_tail_across_rotated_files(engine):
    engine("run", "--name", "rot", "--log-opt", "max-size=100k", "--log-opt", "max-file=3", "busybox", "sh", "-c",
           "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); echo line-$i; done")
    logs = engine("logs", "rot").stdout.split()
    assert logs[-1] == "line-5000" and len(logs) < 5000  # the oldest rotated away
    assert engine("logs", "--tail", str(len(logs) - 1), "rot").stdout.split() == logs[1:]
    assert engine("logs", "--tail", "0", "rot").stdout == ""
    engine("rm", "rot")


def test_other_users_cannot_read_a_root(engine, tmp_path):
    engine("volume", "create", "db")
    engine("run", "--rm", "-v", "db:/data", "busybox", "sh", "-c",
           "echo DB_PASSWORD=hunter2 > /data/env; chmod 644 /data/env")
    secret = os.path.join(engine.root, "volumes", "db", "_data", "env")
    with open(secret) as f:
        assert f.read() == "DB_PASSWORD=hunter2\n"  # root reads it
    for path in (secret, os.path.join(engine.root, "containers")):
        p = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "ls", "-l", path],
                           capture_output=True, text=True)
        assert p.returncode != 0 and "Permission denied" in p.stderr, p.stdout
    assert os.stat(engine.root).st_mode & 0o077 == 0
    engine("volume", "rm", "db")


def test_what_hull_makes_for_containers_ignores_the_umask(engine):
    """A caller's umask 077 reaches neither a foreground run nor the monitor it starts."""
    def as_umask_077(*args):
        return subprocess.run(["sh", "-c", 'umask 077; exec "$@"', "sh"] + engine.cmd(*args), capture_output=True,
                              text=True, env=engine.env, timeout=60)
    check = "ls /bin/sh && cat /etc/hosts /etc/resolv.conf /etc/hostname >/dev/null && echo readable"
    p = as_umask_077("run", "--rm", "-u", "1000", "busybox", "sh", "-c", check)
    assert p.returncode == 0 and "readable" in p.stdout, p.stdout + p.stderr
    assert as_umask_077("run", "-d", "--name", "bg", "-u", "1000", "busybox", "sh", "-c", check).returncode == 0
    wait_for(lambda: engine("inspect", "-f", "{{.State.Status}}", "bg").stdout.strip() == "exited", "bg to exit")
    logs = engine("logs", "bg")
    assert "readable" in logs.stdout and "Permission denied" not in logs.stderr, logs.stdout + logs.stderr
    engine("rm", "bg")
