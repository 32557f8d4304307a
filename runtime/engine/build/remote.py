"""ADD's extras over COPY: URLs fetched (with a clear error when unreachable) and local tar archives
(plain, gzip, bzip2, xz, zstd) unpacked with the layer unpacker's no-escape rules."""
import hashlib
import os
import tarfile

from runtime.errors import HullError

TIMEOUT = float(os.environ.get("HULL_REGISTRY_TIMEOUT") or 30)


class FetchError(HullError):
    exit_code = 1


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def fetch(url: str, work: str, line: int) -> tuple:
    """(file path, name) of the URL's content downloaded into the directory work. The name is the
    URL path's last part (docker's rule when the destination is a directory)."""
    import email.utils
    import shutil
    import urllib.error
    import urllib.parse
    import urllib.request
    name = os.path.basename(urllib.parse.urlparse(url).path) or "index.html"
    path = os.path.join(work, "content")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r, open(path, "wb") as f:
            shutil.copyfileobj(r, f)
            modified = r.headers.get("Last-Modified")
    except urllib.error.HTTPError as e:
        raise FetchError(f"line {line}: ADD {url}: the server answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise FetchError(f"line {line}: ADD {url}: cannot fetch it: {reason}") from None
    if modified:  # docker keeps the server's Last-Modified as the file's mtime
        try:
            t = email.utils.parsedate_to_datetime(modified).timestamp()
            os.utime(path, (t, t))
        except (TypeError, ValueError):
            pass
    return path, name


def digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def is_archive(path: str) -> bool:
    try:
        return tarfile.is_tarfile(path) or _magic(path) == "zstd"
    except OSError:
        return False


def _magic(path: str) -> str | None:
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return None


def extract(path: str, dest: str, line: int) -> None:
    """Unpack the archive into the (empty) directory dest, as a layer is unpacked: nothing lands
    outside it, whatever its names and links say."""
    from runtime.image import layer
    kind = _magic(path)
    with open(path, "rb") as raw:
        f = raw
        if kind == "bzip2":
            import bz2
            f = bz2.BZ2File(raw)
        elif kind == "xz":
            import lzma
            f = lzma.LZMAFile(raw)
        try:
            layer.unpack(f, dest)
        except (layer.LayerError, EOFError, OSError) as e:
            raise FetchError(f"line {line}: ADD {os.path.basename(path)}: {getattr(e, 'msg', e)}") from None
