"""Concurrent identical reads share one computation. Fifty clients listing containers at once would
otherwise each scan the root under the one interpreter lock (the GIL), one after another.

Fresh, never stale: a request joins only a computation that has not started yet, so what it gets
was read after it arrived. While one scan runs, every request for the same key that comes in waits
for the next one, which starts when the running one ends and serves them all.
"""
import threading

_cond = threading.Condition()
_pending = {}    # key -> the flight that has not started: new requests join it
_running = set()  # keys whose flight is computing now


class _Flight:
    def __init__(self):
        self.done, self.result, self.error = False, None, None

    def value(self):
        if self.error is not None:
            raise self.error
        return self.result


def shared(key, compute):
    """compute()'s result, computed once for every caller of this key that arrived before it began."""
    with _cond:
        flight = _pending.get(key)
        if flight is not None:  # a scan that will start after we arrived: take its answer
            while not flight.done:
                _cond.wait()
            return flight.value()
        flight = _pending[key] = _Flight()
        while key in _running:  # the one under way began before some of us arrived: the next is ours
            _cond.wait()
        del _pending[key]
        _running.add(key)
    try:
        flight.result = compute()
    except BaseException as e:  # noqa: BLE001 - every waiter gets it, as the leader does
        flight.error = e
    with _cond:
        _running.discard(key)
        flight.done = True
        _cond.notify_all()
    return flight.value()
