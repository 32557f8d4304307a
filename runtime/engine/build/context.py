"""A build's context: the directory (or a tar on stdin, unpacked safely) that COPY and ADD read,
seen through .dockerignore, never outside itself.

.dockerignore as moby's patternmatcher reads it: one pattern a line (# comments), anchored at the
context's root (`*.md` does not match `sub/x.md`), `*` and `?` stop at `/`, `**` crosses them, a
pattern that matches a directory excludes what is in it, the last pattern that matches decides,
`!` re-includes. Excluding the Dockerfile and .dockerignore keeps them out of COPY only: the
builder reads them anyway.
"""
import glob
import hashlib
import os
import re
import stat

from runtime.errors import InvalidArgument
from runtime.linux.mounts import secure_join


def _glob(seg: str) -> str:
    """One path component of a pattern as a regex: * and ? never cross /, [...] classes kept."""
    out, i = [], 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = seg.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = seg[i + 1:j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j
        elif c == "\\" and i + 1 < len(seg):
            i += 1
            out.append(re.escape(seg[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def compile_pattern(pattern: str):
    parts = [p for p in os.path.normpath(pattern.lstrip("/")).split("/") if p not in ("", ".")]
    regex = ""
    for k, part in enumerate(parts):
        last = k == len(parts) - 1
        if part == "**":
            regex += ".*" if last else "(?:.*/)?"
        else:
            regex += _glob(part) + ("" if last else "/")
    return re.compile(regex + r"\Z")


class Ignore:
    def __init__(self, lines: list):
        self.rules = []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line[1:].strip() if negate else line
            if pattern:
                self.rules.append((compile_pattern(pattern), negate))

    @classmethod
    def read(cls, context: str) -> "Ignore":
        data = read_file(context, ".dockerignore", missing_ok=True)
        return cls([] if data is None else data.decode("utf-8", errors="replace").splitlines())

    def ignored(self, rel: str) -> bool:
        """Is the context path rel (or a directory it is in) excluded?"""
        parts = rel.strip("/").split("/")
        result = False
        for regex, negate in self.rules:
            for k in range(1, len(parts) + 1):
                if regex.match("/".join(parts[:k])):
                    result = not negate
                    break
        return result


LIMIT = 16 << 20  # a Dockerfile or .dockerignore larger than this is refused, not read into memory


def read_file(context: str, rel: str, missing_ok: bool = False, path: str | None = None) -> bytes | None:
    """A Dockerfile or .dockerignore of the context: a regular file inside it (a link is followed
    only while it stays inside), at most LIMIT bytes; else a clear refusal. path: a file the user
    named (-f), read where it is but by the same rules of kind and size."""
    from runtime.linux import beneath
    where = path or rel
    try:
        if path:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        else:
            root = os.open(context, beneath.DIR & ~os.O_NOFOLLOW)
            try:
                fd = beneath.open_at(root, rel, os.O_RDONLY | os.O_NONBLOCK, in_root=True)
            finally:
                os.close(root)
    except FileNotFoundError:
        if not path and os.path.islink(os.path.join(context, rel)):
            raise InvalidArgument(f"refusing {rel}: a link that leads outside the build context") from None
        if missing_ok:
            return None
        raise
    except OSError as e:
        raise InvalidArgument(f"cannot read {where} from the build context: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidArgument(f"refusing {where}: not a regular file inside the build context")
        data = f.read(LIMIT + 1)
    if len(data) > LIMIT:
        raise InvalidArgument(f"refusing {where}: larger than {LIMIT >> 20} MiB")
    return data


class Context:
    """The context directory; sources are resolved inside it (.. and links never lead out)."""

    def __init__(self, root: str):
        self.root = os.path.realpath(root)
        self.ignore = Ignore.read(self.root)

    def sources(self, pattern: str, line: int) -> list:
        """[(name, resolved relative path)] for a COPY/ADD source: wildcards expanded, a symlink
        followed inside the context (the name is what was written), ignored ones left out."""
        norm = os.path.normpath("/" + pattern).lstrip("/")
        if os.path.normpath(pattern).startswith(".."):
            raise InvalidArgument(f"line {line}: forbidden path outside the build context: {pattern}")
        if any(ch in norm for ch in "*?["):
            found = sorted(os.path.relpath(p, self.root) for p in glob.glob(os.path.join(self.root, norm)))
            found = [(os.path.basename(f), self._resolve(f)) for f in found if not self.ignore.ignored(f)]
            found = [(name, rel) for name, rel in found if os.path.lexists(self.path(rel))]
            if not found:
                raise InvalidArgument(f"line {line}: no source files were specified: {pattern} matches nothing")
            return found
        rel = self._resolve(norm)
        if not os.path.lexists(self.path(rel)) or (norm and self.ignore.ignored(norm)):
            raise InvalidArgument(f"line {line}: COPY failed: file not found in build context or excluded by "
                                  f".dockerignore: stat {pattern}: file does not exist")
        return [(os.path.basename(norm), rel)]

    def _resolve(self, rel: str) -> str:
        out = os.path.relpath(secure_join(self.root, rel), self.root)
        return "" if out == "." else out

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def walk(self, rel: str):
        """(relative path, lstat) of rel and everything under it that is not ignored, parents first."""
        top = self.path(rel)
        st = os.lstat(top)
        yield rel, st
        if not stat.S_ISDIR(st.st_mode):
            return
        for name in sorted(os.listdir(top)):
            child = os.path.join(rel, name) if rel else name
            if self.ignore.ignored(child):
                continue
            yield from self.walk(child)

    def digest(self, rels: list) -> str:
        """What a COPY's cache key covers: content, type, mode, owner, size, link target, not mtime
        (docker's classic builder)."""
        h = hashlib.sha256()
        for rel in rels:
            for path, st in self.walk(rel):
                h.update(f"{path}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0{st.st_uid}\0{st.st_gid}"
                         f"\0{st.st_size}\0".encode())
                full = self.path(path)
                if stat.S_ISLNK(st.st_mode):
                    h.update(os.readlink(full).encode())
                elif stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
        return h.hexdigest()
