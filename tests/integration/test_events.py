"""hull events (issue 25): what each command did, from the root's journal, in docker's words and
order, replayed with --since/--until and followed as it happens."""
import subprocess
import time

import pytest


def events(engine, since, *args) -> list:
    return engine("events", "--since", str(since), "--until", "0s", *args).stdout.splitlines()


def test_a_containers_life_in_events(engine):
    t0 = time.time()
    assert engine("run", "--rm", "--network", "none", "busybox", "sh", "-c", "exit 3", check=False).returncode == 3
    engine("network", "create", "evnet")
    engine("volume", "create", "evvol")
    engine("run", "-d", "--name", "ev1", "-l", "tier=front", "--network", "evnet", "-v", "evvol:/d", "busybox",
           "sleep", "30")
    engine("exec", "ev1", "true")
    engine("rename", "ev1", "ev2")
    engine("stop", "-t", "1", "ev2")
    engine("rm", "ev2")
    engine("network", "rm", "evnet")
    engine("volume", "rm", "evvol")
    engine("tag", "busybox", "bb:two")
    engine("rmi", "bb:two")
    fmt = "{{.Type}} {{.Action}} {{or .Actor.Attributes.name .Actor.ID}}"  # a volume is named by its ID
    seen = events(engine, t0, "--format", fmt)
    assert seen == [
        "container create " + seen[0].split()[-1], "container attach " + seen[0].split()[-1],
        "container start " + seen[0].split()[-1],
        "container die " + seen[0].split()[-1], "container destroy " + seen[0].split()[-1],
        "network create evnet", "volume create evvol", "container create ev1", "network connect evnet",
        "container start ev1", "container exec_create: true ev1", "container exec_start: true ev1",
        "container exec_die ev1", "container rename ev2", "container kill ev2", "container kill ev2",
        "network disconnect evnet", "container die ev2", "container stop ev2", "container destroy ev2",
        "network destroy evnet", "volume destroy evvol", "image tag bb:two", "image untag bb:two",
    ], seen
    # docker's default line, filters (same key ORs, different keys AND), and the JSON message
    die = events(engine, t0, "--filter", "event=die")
    assert len(die) == 2 and die[0].split()[1:3] == ["container", "die"] and "(exitCode=3, image=busybox" in die[0]
    assert events(engine, t0, "-f", "container=ev2", "-f", "event=kill", "--format", "{{.Actor.Attributes.signal}}") \
        == ["15", "9"]
    assert events(engine, t0, "-f", "label=tier=front", "-f", "event=create", "--format", "{{.Status}}") == ["create"]
    assert len(events(engine, t0, "-f", "type=volume", "-f", "type=network")) == 6
    assert len(events(engine, t0, "-f", "image=busybox", "-f", "event=start")) == 2
    import json
    message = json.loads(events(engine, t0, "-f", "event=die", "--format", "{{json .}}")[1])
    assert message["Actor"]["Attributes"]["exitCode"] == "137" and message["status"] == "die"
    assert message["scope"] == "local" and message["timeNano"] // 10 ** 9 == message["time"]
    assert events(engine, time.time(), "-f", "event=die") == []  # nothing after `since`
    p = engine("events", "--since", "1h", "--until", "2h", check=False)
    assert p.returncode != 0 and "cannot be after" in p.stderr
    p = engine("events", "--until", "0s", "-f", "nope=1", check=False)
    assert p.returncode != 0 and "invalid filter 'nope'" in p.stderr


def test_events_follow(engine):
    """Without --until, events streams what happens from now on, through a pipe, line by line."""
    follower = subprocess.Popen(engine.cmd("events", "--filter", "event=die", "--format",
                                           "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"),
                                stdout=subprocess.PIPE, text=True, env=engine.env)
    try:
        time.sleep(1)  # it has opened the journal
        engine("run", "--name", "one", "--network", "none", "busybox", "sh", "-c", "exit 4", check=False)
        assert follower.stdout.readline() == "one 4\n"
        engine("run", "-d", "--name", "two", "--network", "none", "busybox", "true")
        assert follower.stdout.readline() == "two 0\n"  # recorded by the monitor
        assert follower.poll() is None
    finally:
        follower.terminate()
        follower.wait(10)


@pytest.mark.parametrize("since", ["10m", "2000-01-01T00:00:00Z", "946684800"])
def test_since_forms(engine, since):
    engine("create", "--name", "made", "busybox")
    assert engine("events", "--since", since, "--until", "0s", "--format", "{{.Type}} {{.Action}}").stdout \
        == "image import\ncontainer create\n"  # the fixture imported busybox
