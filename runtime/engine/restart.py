"""Restart policies (docker's rules), as pure functions the monitor applies.

    wants_restart   should a container that exited with code start again?
    back_off        how long to wait first: 100 ms, doubling to a minute, back to 100 ms once a
                    run lasted 10 s (docker's restartmanager)
"""
FIRST, LONGEST, RESET_AFTER = 0.1, 60.0, 10.0


def wants_restart(policy: dict | None, state: dict, code: int) -> bool:
    name = (policy or {}).get("Name") or "no"
    if state.get("StoppedByUser") or state.get("Removing") or name == "no":
        return False
    if name == "on-failure":
        limit = (policy or {}).get("MaximumRetryCount") or 0
        return code != 0 and (limit == 0 or state.get("RestartCount", 0) < limit)
    return name in ("always", "unless-stopped")


def back_off(pending: float | None, ran: float) -> tuple:
    """(the wait before this restart, the one to keep for the next): pending is what the last
    failure left (None: none yet), ran how long the run that just ended lasted."""
    delay = FIRST if ran >= RESET_AFTER or pending is None else pending
    return delay, min(delay * 2, LONGEST)
