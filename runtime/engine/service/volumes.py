"""Volumes, as docker's API answers for them (see service/__init__.py): local volumes of
runtime/engine/volumes.py."""
from runtime.errors import InvalidArgument


def _vols(root: str):
    from runtime.engine.volumes import Volumes
    return Volumes(root)


def create(root: str, body: dict) -> dict:
    """POST /volumes/create: the Volume."""
    if body.get("Driver") not in (None, "", "local"):
        raise InvalidArgument(f"volume driver {body['Driver']!r} is not available (local)")
    vols = _vols(root)
    return vols.inspect(vols.create(body.get("Name") or None, body.get("Labels") or {}))


def summaries(root: str, filters: dict | None = None) -> dict:
    """GET /volumes: {"Volumes": [Volume], "Warnings": []}; filters {"dangling": ["true"], "name": [...]}."""
    from runtime.engine.volumes import users
    vols, used = _vols(root), users(root)
    names = vols.names()
    for key, values in (filters or {}).items():
        for value in values:
            if key == "dangling":
                want = value in ("true", "1")
                names = [n for n in names if (n not in used) == want]
            elif key == "name":
                names = [n for n in names if value in n]
            else:
                raise InvalidArgument(f"invalid filter {key!r} (dangling, name)")
    return {"Volumes": [vols.inspect(n) for n in names], "Warnings": []}


def inspect(root: str, name: str) -> dict:
    """GET /volumes/{name}."""
    return _vols(root).inspect(name)


def remove(root: str, name: str, force: bool = False) -> None:
    """DELETE /volumes/{name}: one no container uses (force: no error if it is missing)."""
    from runtime.engine.volumes import users
    _vols(root).remove(name, users(root), force)


def prune(root: str) -> dict:
    """POST /volumes/prune: every volume no container uses; {"VolumesDeleted", "SpaceReclaimed"}."""
    from runtime.engine.volumes import users
    vols, used = _vols(root), users(root)
    gone, freed = [], 0
    for name in vols.names():
        if name not in used:
            freed += vols.size(name)
            vols.remove(name, used)
            gone.append(name)
    return {"VolumesDeleted": gone, "SpaceReclaimed": freed}
