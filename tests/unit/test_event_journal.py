"""The events journal: appends, bounded rotation, replay windows and docker's filters."""
from runtime.engine import events


def test_rotation_keeps_the_journal_bounded_and_replays_both_files(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_BYTES", 2000)
    for i in range(40):
        events.emit(str(tmp_path), "volume", "create", f"v{i}", {"driver": "local"})
    assert (tmp_path / "events.log").stat().st_size <= 2000 + 400
    replayed = [e["Actor"]["ID"] for e in events.read(str(tmp_path), since=0)]
    assert replayed == [f"v{i}" for i in range(40 - len(replayed), 40)] and len(replayed) >= 10


def test_live_only_without_a_window(tmp_path):
    events.emit(str(tmp_path), "volume", "create", "old")
    assert list(events.read(str(tmp_path))) == []  # no since/until, no follow: nothing old


def test_until_ends_the_replay(tmp_path):
    events.emit(str(tmp_path), "volume", "create", "a")
    cut = next(events.read(str(tmp_path), since=0))["timeNano"]
    events.emit(str(tmp_path), "volume", "create", "b")
    assert [e["Actor"]["ID"] for e in events.read(str(tmp_path), since=0, until=cut)] == ["a"]


def test_filters():
    def ev(type_, action, actor, **attrs):
        return {"Type": type_, "Action": action, "Actor": {"ID": actor, "Attributes": attrs}}
    die = ev("container", "die", "abc123", name="web", image="registry:5000/lab/app:1", tier="front")
    tag = ev("image", "tag", "sha256:feed", name="busybox:latest")
    ex = ev("container", "exec_start: sh -c true", "abc123", name="web", image="busybox")
    m = events.matcher
    assert m({"type": ["container"]})(die) and not m({"type": ["image"]})(die)
    assert m({"event": ["die", "kill"]})(die) and not m({"event": ["die"], "type": ["image"]})(die)
    assert m({"event": ["exec_start"]})(ex) and not m({"event": ["exec"]})(ex)
    assert m({"container": ["web"]})(die) and m({"container": ["abc"]})(die) and not m({"container": ["we"]})(die)
    assert m({"image": ["registry:5000/lab/app"]})(die) and not m({"image": ["registry"]})(die)
    assert m({"image": ["busybox"]})(tag) and m({"image": ["sha256:fe"]})(tag)
    assert m({"label": ["tier"]})(die) and m({"label": ["tier=front"]})(die) and not m({"label": ["tier=back"]})(die)
    assert not m({"network": ["web"]})(die)
