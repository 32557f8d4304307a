"""The error map: each kind's exit codes and HTTP status, and kinds kept across a process boundary."""
import errno

import pytest

from runtime import errors
from runtime.engine.build.dockerfile import DockerfileError


@pytest.mark.parametrize("kind, exit_code, status", [
    (errors.HullError, 125, 500), (errors.InvalidArgument, 125, 400), (errors.NotFound, 125, 404),
    (errors.Conflict, 125, 409), (errors.NotModified, 125, 304), (errors.CommandNotFound, 127, 400),
    (errors.CommandCannotRun, 126, 400), (errors.CgroupError, 125, 500)])
def test_each_kind_carries_its_codes(kind, exit_code, status):
    e = kind("x")
    assert (e.exit_code, e.status, e.code) == (exit_code, status, 1)


def test_a_kind_survives_the_wire():
    for e in (errors.CommandNotFound("exec: x: not found"), errors.Conflict("busy"), errors.NotFound("gone")):
        back = errors.from_wire(errors.to_wire(e))
        assert type(back) is type(e) and back.msg == e.msg


def test_private_kinds_travel_as_their_public_one_and_strangers_as_internal():
    assert type(errors.from_wire(errors.to_wire(DockerfileError("line 1: bad")))) is errors.InvalidArgument
    assert errors.to_wire(OSError(errno.EIO, "the helper ended")) == {"error": "the helper ended", "kind": "HullError"}
    assert errors.to_wire(ValueError("odd")) == {"error": "odd", "kind": "HullError"}
    for kind in ("NoSuchKind", "ExitStatus", "__builtins__", None):
        assert type(errors.from_wire({"error": "m", "kind": kind})) is errors.HullError


def test_exit_status_sets_its_own_code():
    assert errors.ExitStatus("build failed", 1).exit_code == 1


def test_docker_exit_codes_by_verb():
    """docker's CLI: run's own failure 125; the engine's refusal of any other verb 1; a flag error
    125 whatever the verb; a command that cannot run 126/127 wherever it is reported."""
    from runtime.cli.args import FlagError, UsageError
    from runtime.cli.display import exit_code
    from runtime.errors import CommandNotFound, Conflict, NotFound
    assert exit_code(NotFound("x"), "run") == 125 and exit_code(NotFound("x"), "rm") == 1
    assert exit_code(Conflict("x"), "create") == 1 and exit_code(FlagError("x"), "create") == 125
    assert exit_code(UsageError("x"), None) == 1 and exit_code(FlagError("x"), None) == 125
    assert exit_code(CommandNotFound("x"), "exec") == 127 and exit_code(None, "ps") == 1
