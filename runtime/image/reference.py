"""Image references with docker's rules (distribution/reference's grammar and normalisation).

    busybox                       -> docker.io/library/busybox:latest
    user/app:1.0                  -> docker.io/user/app:1.0
    localhost:5000/a/b:tag        -> localhost:5000/a/b:tag
    quay.io/x/y@sha256:<64 hex>   -> a digest reference (a tag may come with it; the digest wins)

The first path component is a registry host if it has a '.' or a ':' or is 'localhost'; otherwise
the image lives on Docker Hub, where one-component names get 'library/'.
"""
import re

from runtime.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
                     r"(?::[0-9]+)?\Z|\[[0-9a-fA-F:.]+\](?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}\Z")
MAX_NAME = 255


class InvalidReference(InvalidArgument):
    """A name that docker would refuse."""


class Reference:
    """domain/path[:tag][@digest]; str() gives the full form, familiar() docker's short one."""

    def __init__(self, domain: str, path: str, tag: str | None = None, digest: str | None = None):
        self.domain, self.path, self.tag, self.digest = domain, path, tag, digest

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __eq__(self, other) -> bool:
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return f"Reference({str(self)!r})"

    def familiar(self) -> str:
        """How docker prints it: busybox:latest, user/app:1.0, localhost:5000/a:b."""
        name = self.name
        if self.domain == DEFAULT_DOMAIN:
            name = self.path[len("library/"):] if self.path.startswith("library/") else self.path
        return name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def with_tag(self, tag: str) -> "Reference":
        return Reference(self.domain, self.path, tag, None)


def parse(text: str, default_tag: str | None = "latest") -> Reference:
    """Parse and normalise; a name with neither tag nor digest gets default_tag."""
    if not text or text != text.strip():
        raise InvalidReference(f"invalid reference format: {text!r}")
    rest, digest = text, None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        if not _DIGEST.match(digest):
            raise InvalidReference(f"invalid reference format: {text!r}: bad digest {digest!r}")
        algo, _, hexpart = digest.partition(":")
        if algo == "sha256" and not re.fullmatch(r"[a-f0-9]{64}", hexpart):
            raise InvalidReference(f"invalid reference format: {text!r}: sha256 digests are 64 lowercase hex digits")
    tag = None
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:  # a ':' after the last '/' separates the tag (before it, a registry port)
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid reference format: {text!r}: bad tag {tag!r}")
    domain, path = _split_domain(rest, text)
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            if component.lower() != component and _COMPONENT.match(component.lower()):
                raise InvalidReference(f"invalid reference format: repository name must be lowercase: {text!r}")
            raise InvalidReference(f"invalid reference format: {text!r}")
    if len(f"{domain}/{path}") > MAX_NAME:
        raise InvalidReference(f"invalid reference format: {text!r}: repository name longer than {MAX_NAME}")
    if tag is None and digest is None:
        tag = default_tag
    return Reference(domain, path, tag, digest)


def _split_domain(name: str, text: str) -> tuple:
    first, sep, remainder = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.match(first):
            raise InvalidReference(f"invalid reference format: {text!r}: bad registry {first!r}")
        domain, path = first, remainder
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    if not path:
        raise InvalidReference(f"invalid reference format: {text!r}")
    return domain, path
