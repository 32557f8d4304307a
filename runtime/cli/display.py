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


def error(msg: str) -> None:
    """docker's one line on stderr; a control character the user typed is shown escaped (\\n), never
    as a second line."""
    sys.stderr.write("Error: " + "".join(c if " " <= c != "\x7f" else repr(c)[1:-1] for c in msg) + "\n")
