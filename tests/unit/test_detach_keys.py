"""docker's detach keys: the bytes that go on, and when the sequence is complete."""
import pytest

from runtime.engine.attach import Detacher, detach_bytes
from runtime.errors import InvalidArgument


def feed_all(keys: bytes, chunks: list) -> tuple:
    d = Detacher(keys)
    out = b""
    for chunk in chunks:
        sent, detached = d.feed(chunk)
        out += sent
        if detached:
            return out, True
    return out, False


@pytest.mark.parametrize("chunks,sent,detached", [
    ([b"ls\r"], b"ls\r", False),
    ([b"a\x10"], b"a", False),              # ctrl-p held back
    ([b"a\x10", b"\x11"], b"a", True),      # ... and never sent when ctrl-q follows
    ([b"\x10\x11"], b"", True),
    ([b"\x10", b"x"], b"\x10x", False),     # a mismatch sends what was held, in order
    ([b"\x10\x10\x11"], b"\x10", True),     # the second ctrl-p may begin the sequence again
    ([b"x\x10", b"y\x10", b"\x11z"], b"x\x10y", True),
])
def test_detacher(chunks, sent, detached):
    assert feed_all(b"\x10\x11", chunks) == (sent, detached)


def test_no_keys_passes_everything():
    assert Detacher(b"").feed(b"\x10\x11") == (b"\x10\x11", False)


def test_detach_key_specs():
    assert detach_bytes("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detach_bytes("ctrl-a,x") == b"\x01x"
    assert detach_bytes("") == b""
    for bad in ("ctrl-", "ctrl-pp", "alt-x", "ctrl-1", "\x01"):
        with pytest.raises(InvalidArgument):
            detach_bytes(bad)
