"""Typed errors: the one error map. Every failure a user can cause is one of these kinds, with a
message that says what to do; the kind, not the message, decides what each door answers:

    kind               hull-oci exit   hull exit   Docker API status
    HullError (any)    1               125         500
    InvalidArgument    1               125         400
    NotFound           1               125         404
    Conflict           1               125         409
    NotModified        1               125         304   (start of a running container, stop of a stopped one)
    CommandNotFound    1               127         400   (the container's command does not exist)
    CommandCannotRun   1               126         400   (it exists but cannot be run)

Kinds cross process boundaries (the container's init, an exec's joiner, the monitor's socket) as
{"error": msg, "kind": name} (to_wire/from_wire), so they arrive as they left.
"""


class HullError(Exception):
    code = 1          # hull-oci's exit code: runc exits 1 for nearly everything
    exit_code = 125   # hull's: docker's "the engine failed"
    status = 500      # the Docker API's answer: an internal error

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


class InvalidArgument(HullError):
    """Bad input: unknown flag value, malformed ID or reference, bad signal name, a bad request body."""
    status = 400


class InvalidSpec(HullError):
    """config.json is missing, not JSON, or violates the OCI runtime spec."""
    status = 400


class NotFound(HullError):
    """No such container, image, volume, network or bundle."""
    status = 404


class Conflict(HullError):
    """The object exists already or is in the wrong state for the operation."""
    status = 409


class NotModified(HullError):
    """Nothing to do: the container already is in the state asked for (the API answers 304; the CLI
    says nothing and exits 0 where docker's does)."""
    status = 304


class ExecFailed(HullError):
    """The container process could not be started."""
    status = 400


class CommandNotFound(ExecFailed):
    """No such executable in the container (docker's exit code 127)."""
    exit_code = 127


class CommandCannotRun(ExecFailed):
    """The executable exists but cannot be invoked: a directory, no permission (docker's 126)."""
    exit_code = 126


class HookFailed(HullError):
    """An OCI hook exited non-zero or timed out."""


class MountFailed(HullError):
    """A mount or the working directory could not be made in the container's root (runc's
    "error mounting ... to rootfs at ...")."""


class CgroupError(HullError):
    """The kernel refused a cgroup operation (a limit it does not accept, a controller that is missing)."""


class ExitStatus(HullError):
    """A command that ends with a given exit code and a message (docker build's 1, a container's own)."""

    def __init__(self, msg: str, exit_code: int):
        super().__init__(msg)
        self.exit_code = exit_code


def to_wire(e: BaseException) -> dict:
    """An error as one JSON-able dict; a failure that is not ours becomes an internal one."""
    if isinstance(e, HullError):
        kind = next(c for c in type(e).__mro__ if c.__module__ == __name__)  # the map's kind, not a private one
        return {"error": e.msg, "kind": kind.__name__}
    if isinstance(e, OSError) and e.strerror and not e.filename:
        return {"error": str(e.args[1]) if len(e.args) > 1 else str(e), "kind": "HullError"}
    return {"error": str(e) or type(e).__name__, "kind": "HullError"}


def from_wire(reply: dict) -> HullError:
    """The error that to_wire described, of the same kind."""
    kind = globals().get(reply.get("kind") or "")
    if not (isinstance(kind, type) and issubclass(kind, HullError)) or kind is ExitStatus:
        kind = HullError
    return kind(reply["error"])
