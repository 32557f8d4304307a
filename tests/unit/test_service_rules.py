"""The engine's pure rules, which every door shares: the Status text, restart policies and their
back-off, rmi's refusals, the checks on a create body's restart policy and limits."""
import pytest

from runtime.engine import restart
from runtime.engine.build.stage import cache_key
from runtime.engine.service import containers, images
from runtime.errors import Conflict, InvalidArgument

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
ZERO = "0001-01-01T00:00:00Z"


def state(status, started=ZERO, finished=ZERO, code=0):
    return {"Status": status, "StartedAt": started, "FinishedAt": finished, "ExitCode": code}


@pytest.mark.parametrize("s, text", [
    (state("running", started="2027-01-15T07:59:57Z"), "Up 3 seconds"),
    (state("paused", started="2027-01-15T07:58:00Z"), "Up 2 minutes (Paused)"),
    (state("exited", finished="2027-01-15T07:00:00Z", code=137), "Exited (137) About an hour ago"),
    (state("restarting", finished="2027-01-15T07:59:59.5Z", code=1), "Restarting (1) Less than a second ago"),
    (state("exited", code=-1), "Exited (-1)"),  # never finished as far as we know: no "2027 years ago"
    (state("created"), "Created"), (state("dead"), "Dead"), (state("removing"), "Removal In Progress")])
def test_status_text(s, text):
    assert containers.status_text(s, NOW) == text


@pytest.mark.parametrize("policy, st, code, want", [
    (None, {}, 1, False), ({"Name": "no"}, {}, 1, False),
    ({"Name": "always"}, {}, 0, True), ({"Name": "always"}, {"StoppedByUser": True}, 1, False),
    ({"Name": "unless-stopped"}, {"Removing": True}, 1, False),
    ({"Name": "on-failure"}, {}, 0, False), ({"Name": "on-failure"}, {}, 3, True),
    ({"Name": "on-failure", "MaximumRetryCount": 2}, {"RestartCount": 1}, 3, True),
    ({"Name": "on-failure", "MaximumRetryCount": 2}, {"RestartCount": 2}, 3, False)])
def test_wants_restart(policy, st, code, want):
    assert restart.wants_restart(policy, st, code) is want


def test_back_off_doubles_to_a_minute_and_resets_after_a_long_run():
    pending, waits = None, []
    for _ in range(12):
        wait, pending = restart.back_off(pending, ran=0.5)
        waits.append(wait)
    assert waits[:4] == [0.1, 0.2, 0.4, 0.8] and waits[-1] == 60.0 and max(waits) == 60.0
    assert restart.back_off(pending, ran=10.0) == (0.1, 0.2)


@pytest.mark.parametrize("by_name, names, using, force, want", [
    (True, 2, [], False, "untag"), (True, 2, ["c1"], False, "untag"), (True, 2, [], True, "untag"),
    (True, 1, [], False, "delete"),
    (True, 1, ["c1"], False, Conflict), (True, 1, ["c1"], True, "delete"),
    (False, 2, [], False, Conflict), (False, 2, [], True, "delete"), (False, 1, [], False, "delete")])
def test_rmi_rules(by_name, names, using, force, want):
    if want is Conflict:
        with pytest.raises(Conflict):
            images.removal(by_name, names, using, force)
    else:
        assert images.removal(by_name, names, using, force) == want


def test_a_create_body_is_checked_as_docker_checks_it():
    assert containers._restart_policy({"Name": "on-failure", "MaximumRetryCount": 3}) == \
        {"Name": "on-failure", "MaximumRetryCount": 3}
    assert containers._restart_policy(None) == {"Name": "", "MaximumRetryCount": 0}
    for bad in ({"Name": "sometimes"}, {"Name": "always", "MaximumRetryCount": 2},
                {"Name": "on-failure", "MaximumRetryCount": -1}):
        with pytest.raises(InvalidArgument):
            containers._restart_policy(bad)
    assert containers._limits({"Memory": 64 << 20, "PidsLimit": 0, "CpuShares": 0}) == \
        {"Memory": 64 << 20, "PidsLimit": 0}
    for bad in ({"Memory": 1 << 20}, {"Memory": "64m"}, {"NanoCpus": 10 ** 15}):
        with pytest.raises(InvalidArgument):
            containers._limits(bad)


def test_the_build_cache_key_changes_with_the_parent_and_each_part_only():
    key = cache_key("sha256:" + "a" * 64, "RUN", "echo hi", False)
    assert key == cache_key("sha256:" + "a" * 64, "RUN", "echo hi", False) and key.startswith("sha256:")
    assert key != cache_key("sha256:" + "b" * 64, "RUN", "echo hi", False)
    assert key != cache_key("sha256:" + "a" * 64, "RUN", "echo hi", True)
    assert key != cache_key("sha256:" + "a" * 64, "RUN", "echo ho", False)
    assert cache_key(None, "COPY") == cache_key("scratch", "COPY")
