"""runtime/api/shared.py: concurrent identical reads share a computation that began after each
of them arrived (never an older answer)."""
import threading
import time

from runtime.api.shared import shared


def test_waiters_share_the_next_computation_never_an_older_one():
    calls, started = [], threading.Event()
    release = threading.Event()

    def compute():
        calls.append(len(calls))
        if len(calls) == 1:
            started.set()
            release.wait(5)  # the first scan is under way while the others arrive
        return len(calls)
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", shared("k", compute)))
    first.start()
    started.wait(5)
    late = [threading.Thread(target=lambda i=i: results.setdefault(i, shared("k", compute))) for i in range(10)]
    for t in late:
        t.start()
    time.sleep(0.2)  # (they queue behind the running scan; none may take its answer)
    release.set()
    for t in [first] + late:
        t.join(5)
    assert results["first"] == 1
    assert all(results[i] >= 2 for i in range(10))  # none took the answer of the scan begun before it came
    assert len(calls) < 11  # they shared (here: one more scan served all ten)


def test_an_error_reaches_every_waiter_and_other_keys_are_apart():
    def boom():
        raise ValueError("nope")
    try:
        shared("bad", boom)
    except ValueError as e:
        assert str(e) == "nope"
    else:
        raise AssertionError("no error")
    assert shared("a", lambda: 1) == 1 and shared("b", lambda: 2) == 2
