"""Images, as docker's API answers for them (see service/__init__.py)."""
import os

from runtime.errors import Conflict


def store(root: str):
    from runtime.image.store import Store
    return Store(os.path.join(root, "images"))


def removal(by_name: bool, names: int, using: list, force: bool) -> str:
    """docker's rmi rules: "untag" (a name of an image that has others), "delete" (every name and,
    when no container uses it, the image), or a Conflict that -f overrides."""
    if by_name and names > 1 and not force:
        return "untag"
    if using and not force:
        raise Conflict(f"container {using[0][:12]} is using it")
    if not by_name and names > 1 and not force:
        raise Conflict("image is referenced in multiple repositories")
    return "delete"


def remove(root: str, text: str, force: bool = False, users: dict | None = None) -> list:
    """DELETE /images/{name}: docker's report, [{"Untagged": NAME}, ..., {"Deleted": ID}]. users
    ({image ID: [container IDs]}) saves a scan when many are removed at once."""
    from runtime.engine import containers
    from runtime.image.reference import parse as parse_ref
    users = containers.image_users(root) if users is None else users
    report = []
    with store(root) as st:
        ref, desc = st.resolve(text)
        image_id = st.image_id(desc)
        names = st.names_of(image_id)
        using = users.get(image_id, [])
        try:
            rule = removal(ref is not None, len(names), using, force)
        except Conflict as e:
            what = f"repository reference {text!r}" if ref is not None else image_id[7:19]
            if using:
                raise Conflict(f"conflict: unable to remove {what} (must force) - container {using[0][:12]} is "
                               f"using its referenced image {image_id[7:19]}") from None
            raise Conflict(f"conflict: unable to delete {image_id[7:19]} (must be forced) - {e.msg}") from None
        if rule == "untag":
            st.untag(ref)
            return [{"Untagged": ref.familiar()}]
        digests = st.repo_digests(image_id)
        report += [{"Untagged": r.familiar()} for r in st.remove(image_id)]
        report += [{"Untagged": parse_ref(d).familiar()} for d in digests if parse_ref(d) not in names]
        if not using:
            report.append({"Deleted": image_id})
        st.prune()
    return report
