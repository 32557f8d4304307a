"""Image references: docker's normalisation and its refusals."""
import pytest

from runtime.image.reference import InvalidReference, parse

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app:1.0", "docker.io/user/app:1.0", "user/app:1.0"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
    ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:latest"),
    ("quay.io/x/y@" + D, "quay.io/x/y@" + D, "quay.io/x/y@" + D),
    ("a/b:t@" + D, "docker.io/a/b:t@" + D, "a/b:t@" + D),
    ("org/my-app_v2.x/sub__dir/c--d", "docker.io/org/my-app_v2.x/sub__dir/c--d:latest",
     "org/my-app_v2.x/sub__dir/c--d:latest"),
    ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"),  # name localhost, tag 5000
])
def test_normalise(text, full, familiar):
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize("text, words", [
    ("", "invalid reference"), (" busybox", "invalid reference"), ("Busybox", "must be lowercase"),
    ("busybox:", "bad tag"), ("busybox:-x", "bad tag"), ("busybox:" + "t" * 129, "bad tag"),
    ("a//b", "invalid reference"), ("a/b/", "invalid reference"), ("-a", "invalid reference"),
    ("a@sha256:abc", "bad digest"), ("a@sha256:" + "A" * 64, "64 lowercase hex"),
    ("a..b", "invalid reference"), ("my_host.io/a", "bad registry"), ("x" * 300, "longer than"),
    ("bad_host!:5000/a", "invalid reference"),
])
def test_refused(text, words):
    with pytest.raises(InvalidReference, match=words):
        parse(text)
