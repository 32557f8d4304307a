"""Typed errors. Every failure a user can cause is one of these, with a message that says what to do.

`code` is the exit code for hull-oci (runc exits 1 for nearly everything); the docker-style
cli maps kinds to its own codes (125/126/127).
"""


class HullError(Exception):
    code = 1

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


class InvalidArgument(HullError):
    """Bad command line: unknown flag value, malformed ID, bad signal name."""


class InvalidSpec(HullError):
    """config.json is missing, not JSON, or violates the OCI runtime spec."""


class NotFound(HullError):
    """No such container, bundle or executable."""


class Conflict(HullError):
    """The object exists already or is in the wrong state for the operation."""


class ExecFailed(HullError):
    """The container process could not be started (no such executable, permission denied)."""


class HookFailed(HullError):
    """An OCI hook exited non-zero or timed out."""


class CgroupError(HullError):
    """The kernel refused a cgroup operation (a limit it does not accept, a controller that is missing)."""
