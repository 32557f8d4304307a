"""The Docker Engine API (issue 26): `hull system service` on a unix socket, driven by the real
clients people use (Debian's docker CLI, docker-py) and by raw HTTP for what clients never send.
Everything runs in the test's own root and network namespace."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from helpers import wait_for


DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")


class Service:
    """`hull system service` on ROOT/api.sock, started and stopped by the test."""

    def __init__(self, engine, path=None, *flags):
        self.engine, self.flags = engine, flags
        self.path = path or os.path.join(engine.root, "api.sock")
        self.host = f"unix://{self.path}"
        self.proc = None

    def start(self) -> "Service":
        log = open(os.path.join(self.engine.root, "api.log"), "ab")
        self.proc = subprocess.Popen(self.engine.cmd("system", "service", "-H", self.host, "--time", "0", *self.flags),
                                     stdout=log, stderr=log, env=self.engine.env)
        wait_for(lambda: self.ping() == b"OK", "the API socket")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)

    def ping(self):
        try:
            return self.http(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")[2]
        except OSError:
            return None

    def http(self, raw: bytes, sock=None) -> tuple:
        """Send one raw request; (status, headers, body) of the answer (Content-Length or chunked)."""
        s = sock or socket.socket(socket.AF_UNIX)
        if sock is None:
            s.connect(self.path)
        s.settimeout(20)
        s.sendall(raw)
        f = s.makefile("rb")
        status = int(f.readline().split()[1])
        headers = {}
        while (line := f.readline()) not in (b"\r\n", b""):
            k, v = line.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = f.read(int(headers["content-length"])) if not raw.startswith(b"HEAD") else b""
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while (n := int(f.readline().strip(), 16)):
                body += f.read(n)
                f.readline()
            f.readline()
        else:
            body = b""
        if sock is None:
            s.close()
        return status, headers, body

    def call(self, method: str, path: str, body=None) -> tuple:
        data = json.dumps(body).encode() if body is not None else b""
        status, headers, out = self.http(f"{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                                         f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        return status, (json.loads(out) if out.strip() and "json" in headers.get("content-type", "") else out)


@pytest.fixture
def api(engine):
    service = Service(engine).start()
    yield service
    service.stop()


def docker_cli(api, tmp_path):
    """Debian's docker CLI (docker.io) on our socket, with a config dir of the test's own."""
    exe = DOCKER
    if exe is None:
        pytest.skip("no docker CLI (scripts/setup installs docker.io)")

    def run(*args, input=None, check=True, cwd=None):
        p = subprocess.run([exe, "-H", api.host, *args], capture_output=True, text=True, input=input, timeout=120,
                           cwd=cwd, env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker-config"),
                                         "DOCKER_BUILDKIT": "0"})  # (the classic builder: /build)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p
    return run


def test_http_versions_errors_and_keep_alive(api, engine):
    st = os.stat(api.path)
    assert stat.S_IMODE(st.st_mode) == 0o660 and (st.st_uid, st.st_gid) == (0, 0)  # access to it is root
    status, headers, body = api.http(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
    assert (status, body) == (200, b"OK") and headers["api-version"] == "1.43" and headers["ostype"] == "linux"
    status, headers, body = api.http(b"HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
    assert status == 200 and headers["api-version"] == "1.43"
    status, version = api.call("GET", "/version")
    assert status == 200 and version["ApiVersion"] == "1.43" and version["MinAPIVersion"] == "1.24"
    assert api.call("GET", "/v1.24/version")[1] == version  # versioned and unversioned paths
    status, err = api.call("GET", "/v1.12/info")
    assert status == 400 and "too old" in err["message"]
    status, err = api.call("GET", "/v9.99/info")
    assert status == 400 and "too new" in err["message"]
    status, headers, body = api.http(b"GET /nope HTTP/1.1\r\nHost: docker\r\n\r\n")
    assert status == 404 and headers["content-type"] == "application/json" and json.loads(body) == {"message": "page not found"}
    assert api.call("GET", "/containers/nosuch/json") == (404, {"message": "No such container: nosuch"})
    # bad bodies: not JSON, not an object, a wrongly typed field; each a 400 that names it, nothing made
    status, err = api.http(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\n{nope")[::2]
    assert status == 400 and "invalid JSON" in json.loads(err)["message"]
    assert api.call("POST", "/containers/create", [1, 2])[0] == 400
    assert api.call("POST", "/containers/create", {"Image": "busybox", "HostConfig": "x"})[0] == 400
    assert api.call("POST", "/containers/create", {"Image": "nosuch:1"}) == (404, {"message": "No such image: nosuch:1"})
    assert api.call("GET", "/containers/json?all=1") == (200, [])
    # malformed HTTP: a 400, and the service goes on serving
    status, _, _ = api.http(b"GARBAGE\r\n\r\n")
    assert status == 400 and api.ping() == b"OK"
    # keep-alive: two requests on one connection
    s = socket.socket(socket.AF_UNIX)
    s.connect(api.path)
    assert api.http(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n", sock=s)[2] == b"OK"
    assert api.http(b"GET /version HTTP/1.1\r\nHost: d\r\n\r\n", sock=s)[0] == 200
    s.close()
    # TCP only with TLS client certificates
    p = engine("system", "service", "-H", "tcp://127.0.0.1:2375", check=False)
    assert p.returncode == 1 and "--tlsverify" in p.stderr and "root on this host" in p.stderr


def test_the_docker_cli_runs_containers_through_hull(api, engine, tmp_path):
    docker = docker_cli(api, tmp_path)
    for _ in range(3):  # attach comes before start: the first line is never missed, the exit code is kept
        p = docker("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
        assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
    assert docker("run", "-i", "--rm", "--network", "none", "busybox", "cat", input="from stdin\n").stdout == "from stdin\n"
    # -it under script(1), a terminal of its own: the keys typed go to the container's shell
    typed = "(sleep 1; echo 'echo typed-$((6*7)); exit 7'; sleep 2)"
    p = subprocess.run(["sh", "-c", f"{typed} | script -qec '{DOCKER} -H {api.host} run -it --rm --network none busybox sh' "
                                    "/dev/null"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "dc")})
    assert p.returncode == 7 and "typed-42" in p.stdout, p
    cid = docker("run", "-d", "--name", "web", "--network", "none", "busybox", "sh", "-c",
                 "echo started; exec sleep 60").stdout.strip()
    assert len(cid) == 64
    assert "web" in docker("ps").stdout and engine("ps", "--format", "{{.Names}}").stdout.split() == ["web"]
    assert docker("exec", "web", "cat", "/etc/hostname").stdout == cid[:12] + "\n"
    assert docker("exec", "web", "sh", "-c", "exit 5", check=False).returncode == 5
    assert docker("exec", "-i", "web", "cat", input="piped\n").stdout == "piped\n"
    wait_for(lambda: docker("logs", "web").stdout == "started\n", "the log")
    assert docker("inspect", "-f", "{{.State.Running}} {{.Name}}", "web").stdout == "true /web\n"
    docker("stop", "-t", "1", "web")
    assert docker("inspect", "-f", "{{.State.ExitCode}}", "web").stdout == "137\n"
    p = docker("exec", "web", "true", check=False)
    assert p.returncode == 1 and "is not running" in p.stderr
    docker("rm", "web")
    p = docker("rm", "web", check=False)
    assert p.returncode == 1 and "No such container: web" in p.stderr
    p = docker("run", "--pull", "never", "--rm", "nosuch:1", check=False)  # (never a pull: tests stay offline)
    assert p.returncode == 125 and "No such image" in p.stderr
    assert docker("ps", "-aq").stdout == "" and engine("ps", "-aq").stdout == ""


DOCKERFILE = """FROM busybox
ARG GREETING=hi
ADD added.tar /opt/
COPY copied.txt /opt/copied.txt
RUN echo "$GREETING from RUN" > /opt/run.txt
EXPOSE 8080
CMD ["cat", "/opt/a.txt", "/opt/copied.txt", "/opt/run.txt"]
"""


def test_docker_cli_builds_copies_commits_saves(api, engine, tmp_path):
    import tarfile
    docker = docker_cli(api, tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile.web").write_text(DOCKERFILE)
    (ctx / "copied.txt").write_text("copied\n")
    (tmp_path / "a.txt").write_text("from a tar\n")
    with tarfile.open(ctx / "added.tar", "w") as t:
        t.add(tmp_path / "a.txt", "a.txt")
    out = docker("build", "-t", "built:1", "-f", "Dockerfile.web", "--build-arg", "GREETING=hello", ".", cwd=ctx).stdout
    assert "Step 7/7" in out and "Successfully tagged built:1" in out
    assert docker("run", "--rm", "--network", "none", "built:1").stdout == "from a tar\ncopied\nhello from RUN\n"
    assert docker("inspect", "-f", "{{json .Config.ExposedPorts}}", "built:1").stdout.strip() == '{"8080/tcp":{}}'
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    p = docker("build", "-t", "broken", ".", cwd=ctx, check=False)
    assert p.returncode == 1 and "returned a non-zero code: 3" in p.stderr
    # cp both ways (the archive endpoint), diff, commit
    docker("create", "--name", "box", "--network", "none", "busybox", "sh", "-c", "cat /tmp/in.txt")
    (tmp_path / "in.txt").write_text("copied in\n")
    docker("cp", str(tmp_path / "in.txt"), "box:/tmp/")
    assert docker("start", "-a", "box").stdout == "copied in\n"  # create + start -a
    docker("cp", "box:/tmp/in.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "copied in\n"
    p = docker("cp", "box:/nope", str(tmp_path), check=False)
    assert p.returncode == 1 and "box:/nope" in p.stderr or "file /nope in container box" in p.stderr
    assert "A /tmp/in.txt" in docker("diff", "box").stdout
    docker("commit", "-c", 'CMD ["cat", "/tmp/in.txt"]', "box", "committed:1")
    assert docker("run", "--rm", "--network", "none", "committed:1").stdout == "copied in\n"
    names = tarfile.open(fileobj=__import__("io").BytesIO(
        subprocess.run(["sh", "-c", f'DOCKER_CONFIG={tmp_path}/dc {DOCKER} -H {api.host} export box'],
                       capture_output=True, check=True).stdout)).getnames()
    assert "tmp/in.txt" in names and "bin/busybox" in names
    docker("rm", "box")
    # save, rmi, load, import, tag
    docker("save", "-o", str(tmp_path / "saved.tar"), "built:1")
    docker("rmi", "built:1")
    assert "Loaded image: built:1" in docker("load", "-i", str(tmp_path / "saved.tar")).stdout
    with tarfile.open(tmp_path / "rootfs.tar", "w") as t:
        t.add(tmp_path / "a.txt", "a.txt")
    image_id = docker("import", str(tmp_path / "rootfs.tar"), "imported:1").stdout.strip()
    assert image_id.startswith("sha256:") and "imported" in docker("images", "--format", "{{.Repository}}").stdout
    docker("tag", "imported:1", "imported:2")
    docker("rmi", "imported:1", "imported:2", "committed:1", "built:1")
    assert docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == "busybox:latest\n"
    assert "Images" in docker("system", "df").stdout and "hull" in docker("version").stdout
    assert docker("info", "-f", "{{.Driver}} {{.OSType}}").stdout == "overlay linux\n"
    p = docker("search", "busybox", check=False)
    assert p.returncode == 1 and "no registry search" in p.stderr


def test_docker_py_drives_hull(api, engine):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=api.host)
    assert client.ping() and client.version()["ApiVersion"] == "1.43"
    assert client.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2"], remove=True,
                                 network_mode="none") == b"a\n"
    c = client.containers.run("busybox", "sleep 60", detach=True, name="py", labels={"k": "v"}, network_mode="none")
    c.reload()
    assert (c.status, c.name, c.labels) == ("running", "py", {"k": "v"})
    assert c.exec_run("sh -c 'echo exec; exit 2'") == (2, b"exec\n")
    assert c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True) == (0, (b"o\n", b"e\n"))
    code, out = c.exec_run("nosuchcmd")
    assert code == 127 and b"nosuchcmd" in out
    assert [x.name for x in client.containers.list(filters={"label": "k=v"})] == ["py"]
    assert "PID" in c.top()["Titles"]
    assert "cpu_stats" in c.stats(stream=False)
    # an exec on a terminal: the size it was created with (ConsoleSize), then the size a resize sets
    ex = client.api.exec_create(c.id, ["sh", "-c", "stty size; read x; stty size"], tty=True, stdin=True)
    client.api.exec_resize(ex["Id"], height=33, width=99)  # (before start: what the child reads first)
    conn = client.api.exec_start(ex["Id"], tty=True, socket=True)._sock
    first = b""
    while b"\n" not in first:
        first += conn.recv(4096)
    client.api.exec_resize(ex["Id"], height=40, width=120)
    conn.sendall(b"go\r")
    rest = b""
    while chunk := conn.recv(4096):
        rest += chunk
    conn.close()
    assert first.split(b"\r\n")[0] == b"33 99" and rest.replace(b"\r", b"").endswith(b"40 120\n"), (first, rest)
    assert client.api.exec_inspect(ex["Id"])["ExitCode"] == 0
    c.kill()
    assert c.wait() == {"StatusCode": 137, "Error": None}
    c.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("py")
    vol = client.volumes.create("pyvol")
    assert "pyvol" in [v.name for v in client.volumes.list()]
    vol.remove()
    net = client.networks.create("pynet")
    assert "pynet" in [n.name for n in client.networks.list()]
    net.remove()
    # files in and out (put_archive / get_archive), logs as a stream, a build, save
    import io
    import tarfile
    from helpers import tar_bytes
    c = client.containers.create("busybox", ["sh", "-c", "cat /in/note; for i in 1 2 3; do echo line$i; done"],
                                 network_mode="none")
    assert c.put_archive("/", tar_bytes([("in", None), ("in/note", b"put by docker-py\n")]))
    c.start()
    assert b"".join(c.logs(stream=True, follow=True)) == b"put by docker-py\nline1\nline2\nline3\n"
    chunks, stat_ = c.get_archive("/in/note")
    assert stat_["name"] == "note" and stat_["size"] == 17
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
        assert t.extractfile("note").read() == b"put by docker-py\n"
    assert c.wait()["StatusCode"] == 0
    c.remove()
    context = io.BytesIO(tar_bytes([("Dockerfile", b"FROM busybox\nRUN echo built > /b\nCMD [\"cat\", \"/b\"]\n")]))
    built, log = client.images.build(fileobj=context, custom_context=True, tag="pybuilt:1")
    assert "pybuilt:1" in built.tags and any("Successfully built" in x.get("stream", "") for x in log)
    assert client.containers.run("pybuilt:1", remove=True, network_mode="none") == b"built\n"
    saved = b"".join(built.save())
    assert tarfile.open(fileobj=io.BytesIO(saved)).getmember("manifest.json")
    client.images.remove("pybuilt:1")
    image = client.images.get("busybox")
    image.tag("bb", "two")
    assert "bb:two" in client.images.get("bb:two").tags
    client.images.remove("bb:two")
    assert client.images.get("busybox").tags == ["busybox:latest"]


def test_stopping_the_service_loses_no_container(api, engine):
    """Containers belong to the monitor: the service stops and comes back, the container runs on,
    its log and its exit code are kept."""
    status, made = api.call("POST", "/containers/create?name=keep", {"Image": "busybox", "Cmd": [
        "sh", "-c", "echo before; exec sleep 60"], "HostConfig": {"NetworkMode": "none"}})
    assert status == 201
    assert api.call("POST", "/containers/keep/start")[0] == 204
    assert api.call("POST", "/containers/keep/start")[0] == 304  # running already
    api.stop()
    assert engine("inspect", "-f", "{{.State.Status}}", "keep").stdout == "running\n"
    api.start()
    status, headers, body = api.http(b"GET /containers/keep/logs?stdout=1 HTTP/1.1\r\nHost: d\r\n\r\n")
    assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    assert body == b"\x01\x00\x00\x00\x00\x00\x00\x07before\n"  # one stdout frame
    assert api.call("POST", "/containers/keep/kill")[0] == 204
    status, result = api.call("POST", "/containers/keep/wait")
    assert result == {"StatusCode": 137, "Error": None}
    assert api.call("DELETE", "/containers/keep")[0] == 204
    assert engine("ps", "-aq").stdout == ""


COMPOSE = """services:
  web:
    image: busybox
    command: sh -c "echo hello from web > /srv/index.html; echo web up; exec httpd -f -p 8080 -h /srv"
    labels: {tier: front}
    ports: ["18081:8080"]
    volumes: ["site:/srv"]
  worker:
    image: busybox
    command: sh -c "echo worker up; exec sleep 300"
    depends_on: [web]
volumes:
  site: {}
"""


def test_docker_compose_up_exec_logs_down(api, engine, tmp_path):
    """Two services (a busybox httpd and a client fetching from it by service name), a named volume
    and a published port; `down -v` leaves nothing of the project."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("no docker-compose (scripts/setup installs it)")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "docker-compose.yml").write_text(COMPOSE)

    def compose(*args):
        p = subprocess.run([exe, "-p", "proj", *args], cwd=tmp_path / "proj", capture_output=True, text=True,
                           timeout=120, env={**os.environ, "DOCKER_HOST": api.host,
                                             "DOCKER_CONFIG": str(tmp_path / "docker-config")})
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p.stdout
    compose("up", "-d")
    listed = [line.split()[0] for line in compose("ps").splitlines()[2:]]
    assert listed == ["proj_web_1", "proj_worker_1"]  # each once: every label filter must match
    # on the project's network, by service name (compose's aliases through hull's DNS)
    got = compose("exec", "-T", "worker", "sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc web 8080")
    assert "200 OK" in got and got.endswith("hello from web\n")
    # the published port, from the test's network namespace (where hull runs)
    fetch = engine.netns.run("sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | busybox nc 127.0.0.1 18081",
                             capture_output=True, text=True, timeout=30)
    assert fetch.stdout.endswith("hello from web\n"), fetch
    wait_for(lambda: "worker up" in compose("logs", "--no-color", "worker"), "worker's log")
    assert engine("inspect", "-f", "{{.Config.Labels.tier}}", "proj_web_1").stdout == "front\n"
    assert "proj_site" in engine("volume", "ls", "-q").stdout
    compose("down", "-v", "-t", "1")
    assert engine("ps", "-aq").stdout == "" and "proj_site" not in engine("volume", "ls", "-q").stdout
    assert "proj_default" not in engine("network", "ls").stdout


def test_login_push_pull_through_the_api(api, engine, tmp_path):
    """A registry with htpasswd auth in the test's network namespace: docker login (POST /auth),
    push and pull with the credentials the CLI sends in X-Registry-Auth; docker-py the same."""
    from registries import RegistryServer, basic_auth, htpasswd
    registry = RegistryServer(tmp_path, basic_auth(htpasswd(tmp_path / "htpasswd", "hull", "secret")),
                              netns=engine.netns.path)
    try:
        docker = docker_cli(api, tmp_path)
        image = f"{registry.addr}/team/bb:1"
        p = docker("login", "-u", "hull", "--password-stdin", registry.addr, input="wrong\n", check=False)
        assert p.returncode == 1 and "unauthorized" in p.stderr.lower()
        assert "Login Succeeded" in docker("login", "-u", "hull", "--password-stdin", registry.addr, input="secret\n").stdout
        docker("tag", "busybox", image)
        out = docker("push", image).stdout
        assert "Pushed" in out and "digest: sha256:" in out
        docker("rmi", image)
        out = docker("pull", image).stdout
        assert f"Downloaded newer image for {image}" in out
        assert docker("run", "--rm", "--network", "none", image, "echo", "pulled").stdout == "pulled\n"
        docker("rmi", image)
        docker("logout", registry.addr)
        p = docker("pull", image, check=False)  # no credentials sent now
        assert p.returncode == 1 and "unauthorized" in p.stderr.lower(), p.stderr
        dpy = pytest.importorskip("docker")
        client = dpy.DockerClient(base_url=api.host)
        auth = {"username": "hull", "password": "secret"}
        pulled = client.images.pull(f"{registry.addr}/team/bb", tag="1", auth_config=auth)
        assert image in pulled.tags
        pulled.tag(f"{registry.addr}/team/bb", "2")
        result = client.images.push(f"{registry.addr}/team/bb", tag="2", auth_config=auth)
        assert '"Digest"' in result and "error" not in result
        client.images.remove(image)
        client.images.remove(f"{registry.addr}/team/bb:2")
    finally:
        registry.stop()


def test_networks_volumes_ports_logs_events_through_the_cli(api, engine, tmp_path):
    docker = docker_cli(api, tmp_path)
    t0 = int(time.time()) - 1
    docker("network", "create", "appnet")
    docker("volume", "create", "data")
    docker("run", "-d", "--name", "db", "--network", "appnet", "-v", "data:/data", "-p", "18080:80", "-P",
           "--expose", "90", "busybox", "sh", "-c", "echo stored > /data/f; echo one; exec httpd -f -p 80 -h /data")
    assert docker("port", "db", "80").stdout.strip().endswith(":18080")
    assert "90/tcp" in docker("port", "db").stdout
    assert docker("run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                  "printf 'GET /f HTTP/1.0\\r\\n\\r\\n' | nc db 80").stdout.endswith("stored\n")  # by name
    assert docker("run", "--rm", "--volumes-from", "db", "--network", "none", "busybox", "cat", "/data/f").stdout == "stored\n"
    assert docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout.startswith("db Up")
    assert docker("ps", "-a", "-q").stdout == docker("inspect", "-f", "{{.Id}}", "db").stdout[:12] + "\n"
    follow = subprocess.Popen([DOCKER, "-H", api.host, "logs", "-f", "db"], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "dc")})
    assert follow.stdout.readline() == "one\n"
    stats = docker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "db").stdout
    assert stats.startswith("db ")
    docker("kill", "db")
    follow.wait(20)  # logs -f ends with the container
    assert follow.returncode == 0
    events = docker("events", "--since", str(t0), "--until", str(int(time.time()) + 1), "--filter", "container=db",
                    "--format", "{{.Action}}").stdout.split()
    assert events[:2] == ["create", "start"] and "die" in events and "kill" in events
    docker("rm", "db")
    out = docker("system", "prune", "-f", "--volumes").stdout
    assert "Total reclaimed space" in out
    assert "appnet" not in docker("network", "ls").stdout and "data" not in docker("volume", "ls", "-q").stdout


TESTCONTAINERS = """
import urllib.request
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy
server = ("echo hello from testcontainers > /tmp/index.html; echo ready; exec httpd -f -p 8080 -h /tmp")
with DockerContainer("busybox").with_command(["sh", "-c", server]).with_exposed_ports(8080).waiting_for(
        LogMessageWaitStrategy("ready")) as c:
    host, port = c.get_container_host_ip(), c.get_exposed_port(8080)
    print(urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=10).read().decode(), end="")
    print(c.get_wrapped_container().id)
"""


def test_testcontainers_starts_waits_reaches_and_removes(api, engine, tmp_path):
    """The way most test suites start their databases. Its reaper (ryuk) is a Docker Hub image:
    disabled, as tests are offline. It runs in the test's network namespace, so the mapped port it
    reaches is on that namespace's own addresses."""
    pytest.importorskip("testcontainers")
    script = tmp_path / "tc.py"
    script.write_text(TESTCONTAINERS)
    p = subprocess.run([*engine.netns.enter, sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "DOCKER_HOST": api.host, "TESTCONTAINERS_RYUK_DISABLED": "true"})
    assert p.returncode == 0, p.stderr
    text, cid = p.stdout.rsplit("\n", 2)[:2]
    assert text == "hello from testcontainers" and len(cid) == 64
    assert engine("ps", "-aq").stdout == ""  # stopped and removed


def test_the_socket_is_root_only_unless_a_group_is_given(engine, tmp_path):
    import grp
    import tempfile
    probe = ("import socket, sys; s = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(sys.argv[1]); print('connected')\nexcept PermissionError: print('refused')\n")

    def as_nobody(path) -> str:
        return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c",
                               probe, path], capture_output=True, text=True, check=True).stdout.strip()
    where = tempfile.mkdtemp(prefix="hull-api-test-", dir="/run")
    os.chmod(where, 0o755)  # nobody may reach the sockets: only their own modes decide
    services = [Service(engine, os.path.join(where, "root.sock")),
                Service(engine, os.path.join(where, "group.sock"), "--group", "nogroup")]
    try:
        for service in services:
            service.start()
        st = os.stat(services[0].path), os.stat(services[1].path)
        assert [(stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid) for s in st] == [
            (0o660, 0, 0), (0o660, 0, grp.getgrnam("nogroup").gr_gid)]
        assert as_nobody(services[0].path) == "refused"  # access to the API is root on the host
        assert as_nobody(services[1].path) == "connected"
    finally:
        for service in services:
            service.stop()
        assert os.listdir(where) == []  # each service took its socket away
        os.rmdir(where)


def _certificates(d) -> dict:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=hull test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(ext + "\n")
        ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return {k: str(d / v) for k, v in (("ca", "ca.pem"), ("cert", "server.pem"), ("key", "server.key"),
                                        ("client_cert", "client.pem"), ("client_key", "client.key"))}


TLS_CLIENT = """
import json, socket, ssl, sys
ca, cert, key, port = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
if cert != "-":
    ctx.load_cert_chain(cert, key)
try:
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port)), timeout=10), server_hostname="127.0.0.1") as s:
        s.sendall(b"GET /_ping HTTP/1.1\\r\\nHost: d\\r\\nConnection: close\\r\\n\\r\\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        print(data.split(b"\\r\\n")[0].decode(), data.rsplit(b"\\r\\n", 1)[-1].decode())
except (ssl.SSLError, ConnectionError, OSError) as e:
    print("refused", type(e).__name__)
"""


def test_tcp_needs_tls_with_client_certificates(engine, tmp_path):
    from registries import free_port
    certs = _certificates(tmp_path)
    port = free_port()
    p = subprocess.Popen(engine.cmd("system", "service", "-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert",
                                    certs["ca"], "--tlscert", certs["cert"], "--tlskey", certs["key"], "--time", "0"),
                         env=engine.env)
    try:
        (tmp_path / "client.py").write_text(TLS_CLIENT)

        def client(cert, key):  # in the test's network namespace, where the service listens
            return subprocess.run([*engine.netns.enter, sys.executable, str(tmp_path / "client.py"), certs["ca"], cert,
                                   key, str(port)], capture_output=True, text=True, timeout=30).stdout.strip()
        wait_for(lambda: not client(certs["client_cert"], certs["client_key"]).startswith("refused ConnectionRefused"),
                 "the TLS port")
        assert client(certs["client_cert"], certs["client_key"]) == "HTTP/1.1 200 OK OK"
        assert client("-", "-").startswith("refused")  # no client certificate: the handshake fails
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(20)


def test_the_service_killed_with_9_loses_nothing(api, engine, tmp_path):
    docker = docker_cli(api, tmp_path)
    docker("network", "create", "keepnet")
    docker("volume", "create", "keepvol")
    docker("run", "-d", "--name", "kept", "--network", "keepnet", "-v", "keepvol:/v", "busybox", "sh", "-c",
           "echo alive; exec sleep 60")
    before = docker("ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}").stdout
    api.proc.kill()
    api.proc.wait()
    api.start()  # a stale socket of a dead service is replaced
    assert docker("ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}").stdout.split()[:3] == before.split()[:3]
    assert docker("logs", "kept").stdout == "alive\n"
    assert "keepnet" in docker("network", "ls").stdout and "keepvol" in docker("volume", "ls").stdout
    assert "busybox" in docker("images").stdout
    docker("rm", "-f", "kept")
    docker("network", "rm", "keepnet")
    docker("volume", "rm", "keepvol")


def test_bad_clients_never_stop_the_service(engine, tmp_path):
    """A request head that never ends (408 after HULL_API_HEAD_TIMEOUT), 200 idle connections, a
    client leaving in the middle of a stream, a build context and an image archive of garbage:
    each gets its answer (or its connection closed) while everyone else is served; nothing is left."""
    engine.env["HULL_API_HEAD_TIMEOUT"] = "1"
    api = Service(engine).start()
    try:
        slow = socket.socket(socket.AF_UNIX)
        slow.connect(api.path)
        slow.sendall(b"GET /_ping HTTP/1.1\r\nHost: d")  # and nothing more
        idle = []
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX)
            s.connect(api.path)
            idle.append(s)
        assert api.ping() == b"OK"  # served meanwhile
        slow.settimeout(10)
        assert slow.recv(4096).startswith(b"HTTP/1.1 408")
        for s in idle:
            s.close()
        # a follower that leaves mid-stream
        engine("run", "-d", "--name", "talker", "--network", "none", "busybox", "sh", "-c",
               "while true; do echo tick; sleep 0.05; done")
        s = socket.socket(socket.AF_UNIX)
        s.connect(api.path)
        s.sendall(b"GET /containers/talker/logs?stdout=1&follow=1 HTTP/1.1\r\nHost: d\r\n\r\n")
        got = b""
        while b"tick" not in got:
            got += s.recv(4096)
        s.close()
        assert api.call("GET", "/containers/talker/json")[0] == 200
        engine("rm", "-f", "talker")
        # garbage in: 20 MB that is no tar, as a build context and as an image archive
        garbage = os.urandom(1 << 20) * 20
        head = (f"POST /images/load HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\n"
                f"Content-Length: {len(garbage)}\r\n\r\n").encode()
        status, _, body = api.http(head + garbage)
        assert status == 400 and json.loads(body)["message"]
        head = head.replace(b"/images/load", b"/build?t=junk:1")
        status, _, body = api.http(head + garbage)
        last = json.loads(body.splitlines()[-1])
        assert status == 200 and "error" in last and "errorDetail" in last  # (a stream: the error is its last message)
        assert api.call("GET", "/images/junk:1/json")[0] == 404
        assert os.listdir(engine.store / "tmp") == []  # the spooled bodies are gone
        assert api.ping() == b"OK"
    finally:
        api.stop()


def test_socket_activation_as_systemd_does_it(engine, tmp_path):
    """contrib/systemd: the units verify, and the service takes the socket systemd passes (fd 3,
    LISTEN_PID, LISTEN_FDS), as hull.socket + hull.service start it."""
    units = os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "systemd")
    if shutil.which("systemd-analyze") and shutil.which("hull"):  # (ExecStart names the installed launcher)
        p = subprocess.run(["systemd-analyze", "verify", os.path.join(units, "hull.socket"),
                            os.path.join(units, "hull.service")], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    path = str(tmp_path / "activated.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    fd = listener.fileno()  # becomes the service's fd 3, in the shell that execs it (as systemd passes it)
    cmd = ["bash", "-c", f'exec 3<&{fd} {fd}<&-; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "bash",
           *engine.cmd("system", "service", "-H", "fd://", "--time", "1")]
    p = subprocess.Popen(cmd, env=engine.env, pass_fds=(fd,))
    listener.close()
    try:
        api = Service(engine, path)
        assert api.ping() == b"OK" and api.call("GET", "/containers/json")[0] == 200
        assert p.wait(20) == 0  # idle for --time seconds: it exits, and systemd would start it again
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
