"""IPFS paths as users paste them: one parser for every spelling etdb-explore accepts (no I/O).

    parse_ipfs_path("Qmat8i…/rawdata/ts.mrc")                  # a CID, then a path inside it
    parse_ipfs_path("bafybei…")                                 # any CID alone (v0, or v1 in any multibase)
    parse_ipfs_path("/ipfs/Qmat8i…/rawdata/ts.mrc")             # also "ipfs/…"
    parse_ipfs_path("ipfs://bafybei…/a%20b.mrc")                # also "dweb:/ipfs/…"
    parse_ipfs_path("etdb://Qmat8i…/rawdata/ts.mrc")            # the fsspec protocol
    parse_ipfs_path("https://ipfs.io/ipfs/Qmat8i…/a.mrc?x=1")   # a path-style gateway URL
    parse_ipfs_path("https://bafybei….ipfs.dweb.link/a.mrc")    # a subdomain gateway URL

URLs (``ipfs://``, ``dweb:``, ``http(s)://``) are percent-decoded and lose their ``?query`` and ``#fragment``, as a
browser would send them; plain paths (``Qm…/x``, ``/ipfs/…``, ``etdb://…``) are taken literally, as fsspec takes
its paths, so a file name may contain ``%``, ``?`` or ``#``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.formats.cid import CID, CIDError

_LITERAL_PREFIXES = ("etdb://", "/ipfs/", "ipfs/")
_URL_PREFIXES = ("ipfs://", "dweb:/ipfs/")


class IpfsPathError(EtdbError, ValueError):
    """A string is not an IPFS path etdb-explore can read (bad CID, IPNS name, ``..`` segment, …)."""


@dataclass(frozen=True)
class IpfsPath:
    """A CID and a ``/``-separated path inside it (``""`` for the CID itself), without empty segments.

    ``str()`` gives the canonical ``<cid>/<path>`` form, which :func:`parse_ipfs_path` reads back unchanged.
    """

    cid: CID
    path: str = ""

    @property
    def segments(self) -> tuple[str, ...]:
        """The path's names, outermost first (empty for the CID itself)."""
        return tuple(self.path.split("/")) if self.path else ()

    def __str__(self) -> str:
        return f"{self.cid}/{self.path}" if self.path else str(self.cid)


def _fail(text: object, why: str) -> IpfsPathError:
    return IpfsPathError(f"not an IPFS path: {text!r} ({why})")


def _from_parts(original: object, cid_text: str, path: str, decode: bool) -> IpfsPath:
    try:
        cid = CID.decode(cid_text)
    except CIDError as exc:
        raise _fail(original, f"{cid_text!r} is not a CID") from exc
    segments = []
    for raw in path.split("/"):
        name = unquote(raw, errors="strict") if decode else raw
        if not name:
            continue
        if name in (".", "..") or "/" in name:
            raise _fail(original, f"{name!r} cannot name a file or folder")
        segments.append(name)
    return IpfsPath(cid, "/".join(segments))


def _from_url(original: str, text: str) -> IpfsPath:
    """``http(s)://`` gateway URLs, path style (``host/ipfs/<cid>/…``) or subdomain style (``<cid>.ipfs.host/…``)."""
    try:
        url = urlsplit(text)
        host = url.hostname or ""
    except ValueError as exc:
        raise _fail(original, str(exc)) from None
    labels = host.split(".")
    if len(labels) > 2 and labels[1] == "ipfs":
        return _from_parts(original, labels[0], url.path, decode=True)
    if len(labels) > 2 and labels[1] == "ipns":
        raise _fail(original, "IPNS names are not supported; use the /ipfs/ path it points to")
    scheme, _, rest = url.path.lstrip("/").partition("/")
    if scheme != "ipfs":
        raise _fail(original, "a gateway URL has /ipfs/<cid> in its path or <cid>.ipfs. in its host")
    cid_text, _, path = rest.partition("/")
    return _from_parts(original, unquote(cid_text), path, decode=True)


def parse_ipfs_path(value: str | CID | IpfsPath) -> IpfsPath:
    """Read any accepted spelling of an IPFS path (see the module docstring).

    Returns:
        The :class:`IpfsPath` (a CID and a path inside it).

    Raises:
        IpfsPathError: ``value`` is not an IPFS path (not a string, no valid CID, an IPNS name, a ``.`` or ``..``
            segment, bad percent-encoding); the message names ``value``.
    """
    if isinstance(value, IpfsPath):
        return value
    if isinstance(value, CID):
        return IpfsPath(value)
    if not isinstance(value, str):
        raise _fail(value, f"a {type(value).__name__}, not a string")
    text = value.strip()
    lowered = text.lower()
    if lowered.startswith(("/ipns/", "ipns://", "ipns/", "dweb:/ipns/")):
        raise _fail(value, "IPNS names are not supported; use the /ipfs/ path it points to")
    try:
        if lowered.startswith(("http://", "https://")):
            return _from_url(value, text)
        url_prefix = next((p for p in _URL_PREFIXES if lowered.startswith(p)), None)
        if url_prefix is not None:
            rest = text[len(url_prefix):].split("#", 1)[0].split("?", 1)[0]
            cid_text, _, path = rest.lstrip("/").partition("/")
            return _from_parts(value, unquote(cid_text), path, decode=True)
    except UnicodeDecodeError:
        raise _fail(value, "bad percent-encoding") from None
    literal = next((p for p in _LITERAL_PREFIXES if lowered.startswith(p)), "")
    cid_text, _, path = text[len(literal):].lstrip("/").partition("/")
    if not cid_text:
        raise _fail(value, "no CID")
    return _from_parts(value, cid_text, path, decode=False)


__all__ = ["IpfsPath", "IpfsPathError", "parse_ipfs_path"]
