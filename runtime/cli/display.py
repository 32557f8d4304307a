"""How docker prints sizes, durations, times and errors (docker/go-units), for every verb's output."""
import sys
import time

from runtime.clock import parse_time
from runtime.units import human_duration, human_size  # noqa: F401 - the verbs print with them


def since(text: str, now: float | None = None) -> str:
    """'5 minutes ago' for an RFC 3339 time (docker's CreatedSince), '' if there is none."""
    t = parse_time(text)
    if t is None:
        return ""
    return human_duration((now or time.time()) - t) + " ago"


def go_time(text: str) -> str:
    """docker's CreatedAt: "2026-12-01 08:40:29 +0000 UTC" (Go's time.Time String, to the second)."""
    t = parse_time(text)
    if t is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(t))


def deleted(what: str, ids: list) -> None:
    """docker's prune report: a block per kind of thing removed ("Deleted Images:" ...)."""
    if ids:
        print(f"Deleted {what}:\n" + "\n".join(ids) + "\n")


def reclaimed(freed: int) -> None:
    print(f"Total reclaimed space: {human_size(max(freed, 0))}")


REFUSED = 1  # docker's CLI when the engine refuses (no such container, a conflict); 125 is run's own


def exit_code(e, verb: str | None) -> int:
    """docker's exit codes: a flag error 125 (any verb), run's failure 125; whatever the engine
    refuses for any other verb 1; a command that could not run 126/127, a build step its own code."""
    code = getattr(e, "exit_code", 125)
    if code != 125 or verb in (None, "run") or getattr(e, "flag_error", False):
        return code
    return REFUSED


def error(msg: str) -> None:
    """docker's one line on stderr; a control character the user typed is shown escaped (\\n), never
    as a second line."""
    sys.stderr.write("Error: " + "".join(c if " " <= c != "\x7f" else repr(c)[1:-1] for c in msg) + "\n")


def time_arg(text: str | None, now: float) -> float | None:
    """docker's --since/--until: RFC 3339, a duration before now (10m), or a Unix time."""
    if not text:
        return None
    t = parse_time(text)
    if t is not None:
        return t
    from runtime.container.control import parse_duration
    from runtime.errors import HullError, InvalidArgument
    try:
        return now - parse_duration(text)
    except (HullError, ValueError):
        if text[-1:] in "smh" and not text.rstrip("smhu").replace(".", "").strip("0"):
            return now  # 0s: now (parse_duration wants a timeout, never 0)
    try:
        return float(text)  # a Unix timestamp
    except ValueError:
        raise InvalidArgument(f"invalid time {text!r}: use RFC 3339, a duration (10m) or a Unix time") from None
