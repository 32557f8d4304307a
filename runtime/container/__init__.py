"""The OCI core: config.json to a running container, and the verbs runc has (see lifecycle.py)."""

_ID_PUNCTUATION = set("_+-.")


def valid_id(cid: str) -> bool:
    """A container ID runc accepts: letters, digits and _ + - . (here, where `delete --force` of a
    gone container can check it without importing the state machinery)."""
    return bool(cid) and cid not in (".", "..") and all(ch.isalnum() or ch in _ID_PUNCTUATION for ch in cid)
