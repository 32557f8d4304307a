"""How docker prints sizes, durations and times (docker/go-units), for every verb's output."""
import time


def human_size(n: float) -> str:
    """docker's HumanSizeWithPrecision(n, 3): decimal units, three significant digits: 4.26MB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}"
        n /= 1000


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "5 minutes", "About an hour", "3 weeks"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def parse_time(text: str) -> float | None:
    """Seconds since the epoch from an RFC 3339 time ("2026-12-01T08:40:29.123456789Z", offsets
    allowed), or None."""
    if not text:
        return None
    import calendar
    t = text.strip()
    offset = 0
    if t.endswith("Z"):
        t = t[:-1]
    elif len(t) > 6 and t[-6] in "+-" and t[-3] == ":":
        sign = 1 if t[-6] == "+" else -1
        offset = sign * (int(t[-5:-3]) * 3600 + int(t[-2:]) * 60)
        t = t[:-6]
    base, _, frac = t.partition(".")
    try:
        secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return secs - offset + (float("0." + frac) if frac.isdigit() else 0.0)


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
