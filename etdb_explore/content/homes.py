"""Files from homes that are not content-addressed: the Open Storage Network's anonymous S3 (where CaltechDATA's
large files lie) and the CZ cryoET Data Portal's HTTPS file server.

Their bytes cannot be checked against a CID on the way in, so they are labelled, never passed off as verified:

- ``mirror-unverified``: copies of the lab's files on OSN, read as they are;
- ``mirror-verified``: an OSN file whose UnixFS CID, recomputed with go-etdb's ``ipfs add`` settings (raw leaves,
  CIDv0 nodes: :data:`~etdb_explore.ipfs.build.importer.GO_ETDB`) or Kubo's defaults (:data:`MIRROR_PROFILES`),
  equals the CID the ETDB record's DAG gives it (:func:`verify_mirror`), or every leaf a read touches hashes to the
  DAG's leaf (:class:`LeafCheckedFile`, for ranged reads of large files);
- ``rewritten``: the portal's new MRC files and OME-Zarr pyramids, made from the lab's files (never ETDB bytes).

OSN is read path-style (``https://<host>/<bucket>/<key>``) on a list of hosts, the first that answers serving: the
archive moved from ``renc.osn.xsede.org`` to ``sdsc.osn.xsede.org`` in 2025, so a link to either is tried on every
host of :data:`OSN_HOSTS` (or ``$ETDB_EXPLORE_OSN_HOSTS``, comma-separated, or ``HomeReader(osn_hosts=…)``), in
order. Reads are HTTP ranges (206 with a matching ``Content-Range``; a 200 only for a range from byte 0, cut at its
end); folders are listed with ListObjectsV2 (``prefix`` and ``delimiter``, following continuation tokens, the XML
bounded). ETags are never taken for MD5s (multipart uploads make them ``<md5>-<parts>``).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

import aiohttp

from etdb_explore.content.client import Client
from etdb_explore.errors import EtdbError, SourceError
from etdb_explore.ipfs.build.importer import GO_ETDB, KUBO_DEFAULT, StreamHasher
from etdb_explore.ipfs.dag.local import verified_range
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.paths import parse_ipfs_path
from etdb_explore.util import bridge
from etdb_explore.util.bodies import read_at_most
from etdb_explore.util.loopbound import LoopBound

OSN_HOSTS = ("https://sdsc.osn.xsede.org", "https://renc.osn.xsede.org")
KNOWN_OSN = {"sdsc.osn.xsede.org", "renc.osn.xsede.org", "caltech2.osn.mghpcc.org"}
HOSTS_VARIABLE = "ETDB_EXPLORE_OSN_HOSTS"
MAX_LISTING = 16 << 20  # bytes of one ListObjectsV2 page
MAX_OBJECTS = 100_000  # objects of one folder listing
VERIFY_PIECE = 4 << 20

MIRROR_UNVERIFIED = "mirror-unverified"
MIRROR_VERIFIED = "mirror-verified"
REWRITTEN = "rewritten"
IPFS_VERIFIED = "ipfs-verified"
MIRROR_PROFILES = (GO_ETDB, KUBO_DEFAULT)  # go-etdb's `ipfs add -r --nocopy`, then Kubo's defaults


class MirrorHasher:
    """The UnixFS CIDs of bytes fed in pieces, as each profile of :data:`MIRROR_PROFILES` adds them, in one pass
    (the ETDB's folders were added by go-etdb; a lab's own by Kubo's defaults)."""

    def __init__(self) -> None:
        self._hashers = [StreamHasher(profile) for profile in MIRROR_PROFILES]

    def feed(self, data: bytes) -> None:
        """Add the next bytes of the file."""
        for hasher in self._hashers:
            hasher.feed(data)

    def finish(self, expected: CID | None = None) -> CID:
        """The file's CID (call once, after the last ``feed``).

        Returns:
            ``expected`` when a profile gives it, else the CID go-etdb's settings give.
        """
        cids = [hasher.finish() for hasher in self._hashers]
        return expected if expected is not None and expected in cids else cids[0]


@dataclass(frozen=True)
class MirrorObject:
    """One object of a listed folder: its URL (on the first OSN host), key below the folder, size and ETag."""

    url: str
    key: str
    size: int
    etag: str


def configured_osn_hosts(hosts: list[str] | tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The OSN hosts to try, in order: ``hosts``, else ``$ETDB_EXPLORE_OSN_HOSTS``, else :data:`OSN_HOSTS`.

    Returns:
        Base URLs without a trailing slash.
    """
    if hosts is None:
        hosts = [h for h in os.environ.get(HOSTS_VARIABLE, "").split(",") if h.strip()] or OSN_HOSTS
    return tuple(h.strip().rstrip("/") for h in hosts)


class HomeReader:
    """Ranged reads, sizes and folder listings over HTTP(S), with fail-over between OSN hosts.

    Args:
        osn_hosts: OSN base URLs to try in order (see :func:`configured_osn_hosts`).
        timeout: seconds to connect and between bytes.
    """

    def __init__(self, osn_hosts: list[str] | tuple[str, ...] | None = None, timeout: float = 30.0) -> None:
        self.hosts = configured_osn_hosts(osn_hosts)
        self.timeout = timeout
        self._session = LoopBound("the HTTP session of the OSN and portal reader", self._new_session,
                                  aiohttp.ClientSession.close)

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(self.timeout, 10),
                                                                   sock_read=self.timeout), auto_decompress=False)

    async def close(self) -> None:
        """Close the HTTP session (a later request opens a new one)."""
        await self._session.aclose()

    def candidates(self, url: str) -> list[str]:
        """Where ``url`` may be read: on every OSN host when it is an OSN link (or on a configured host), else itself.

        Returns:
            The URLs, in the order tried.
        """
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.hostname in KNOWN_OSN or origin in self.hosts:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            return [host + path for host in self.hosts]
        return [url]

    async def _each(self, url: str, attempt: Any) -> Any:
        """``attempt(session, candidate)`` on each candidate until one answers; SourceError naming them all."""
        failures = []
        session = self._session.get()
        for candidate in self.candidates(url):
            try:
                return await attempt(session, candidate)
            except (aiohttp.ClientError, asyncio.TimeoutError, SourceError) as exc:
                failures.append(f"{candidate}: {exc if isinstance(exc, SourceError) else type(exc).__name__}")
        raise SourceError(f"{url}: no host could serve it ({'; '.join(failures)})")

    async def size(self, url: str) -> tuple[str, int]:
        """The size of the file at ``url`` (a HEAD, following redirects).

        Returns:
            ``(url that answered, size)``.

        Raises:
            SourceError: no host answered with a size (naming each).
        """
        async def head(session: aiohttp.ClientSession, candidate: str) -> tuple[str, int]:
            async with session.head(candidate, allow_redirects=True) as response:
                length = response.headers.get("Content-Length", "")
                if response.status != 200 or not length.isdigit():
                    raise SourceError(f"HTTP {response.status}" + ("" if length.isdigit() else ", no size"))
                return str(response.url), int(length)

        return await self._each(url, head)

    async def read(self, url: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file at ``url``.

        Returns:
            Exactly ``end - start`` bytes.

        Raises:
            SourceError: no host delivered the range (wrong status, a ``Content-Range`` for other bytes, too few or
                too many bytes), naming each.
        """
        if start < 0 or end < start:
            raise SourceError(f"{url}: bad range [{start}, {end})")
        if end == start:
            return b""

        async def get(session: aiohttp.ClientSession, candidate: str) -> bytes:
            async with session.get(candidate, headers={"Range": f"bytes={start}-{end - 1}"}) as response:
                if response.status == 206:
                    expected = f"bytes {start}-{end - 1}/"
                    if not response.headers.get("Content-Range", "").startswith(expected):
                        raise SourceError(f"Content-Range {response.headers.get('Content-Range')!r} is not "
                                          f"{expected}…")
                elif not (response.status == 200 and start == 0):
                    raise SourceError(f"HTTP {response.status} for a range")
                data = await read_at_most(response.content, end - start)
                if len(data) != end - start:
                    raise SourceError(f"{len(data)} bytes for a range of {end - start}")
                return data

        return await self._each(url, get)

    async def listdir(self, folder_url: str) -> list[MirrorObject]:
        """The objects below an S3 folder URL (``https://host/<bucket>/<prefix>/``), with ListObjectsV2.

        Returns:
            Every object below the folder, keys relative to it, largest listings cut at 100,000 objects.

        Raises:
            SourceError: no host listed it, or a listing is not ListObjectsV2 XML within 16 MiB.
        """
        path = urlsplit(folder_url).path.lstrip("/")
        bucket, _, prefix = path.partition("/")

        async def listing(session: aiohttp.ClientSession, candidate: str) -> list[MirrorObject]:
            base = candidate[: candidate.index("/", candidate.index("//") + 2)]
            objects: list[MirrorObject] = []
            token = None
            while len(objects) < MAX_OBJECTS:
                params = {"list-type": "2", "prefix": prefix}
                if token:
                    params["continuation-token"] = token
                async with session.get(f"{base}/{bucket}", params=params) as response:
                    body = await read_at_most(response.content, MAX_LISTING + 1)
                    if response.status != 200 or len(body) > MAX_LISTING:
                        raise SourceError(f"listing: HTTP {response.status}, {len(body)} bytes")
                page, token = _listing(body, folder_url)
                objects += [MirrorObject(f"{self.hosts[0] if self.hosts else base}/{bucket}/{quote(key)}",
                                         key[len(prefix):], size, etag) for key, size, etag in page]
                if not token:
                    break
            return objects

        return await self._each(folder_url, listing)


def _listing(body: bytes, what: str) -> tuple[list[tuple[str, int, str]], str | None]:
    """The (key, size, etag) entries and the continuation token of a ListObjectsV2 page."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SourceError(f"{what}: a listing with a DTD")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise SourceError(f"{what}: the listing is not XML ({exc})") from None
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if root.tag != f"{ns}ListBucketResult":
        raise SourceError(f"{what}: the answer is not a ListBucketResult")
    entries = []
    for item in root.iter(f"{ns}Contents"):
        key, size = item.findtext(f"{ns}Key"), item.findtext(f"{ns}Size") or ""
        if key and size.isdigit():
            entries.append((key, int(size), item.findtext(f"{ns}ETag") or ""))
    truncated = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
    return entries, (root.findtext(f"{ns}NextContinuationToken") if truncated else None)


class HttpFile:
    """One file of a home read over HTTP(S) as :class:`etdb_explore.volumes.ByteRanges`; ``content`` says what its
    bytes are (:data:`MIRROR_UNVERIFIED`, :data:`MIRROR_VERIFIED`, :data:`REWRITTEN`)."""

    def __init__(self, reader: HomeReader, url: str, size: int, content: str) -> None:
        self.reader = reader
        self.name = url
        self.url = url
        self.size = size
        self.content = content

    async def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file (from any event loop).

        Returns:
            The bytes.

        Raises:
            SourceError: no host delivered them.
        """
        return await bridge.arun(self.reader.read(self.url, start, end))


class LeafCheckedFile(HttpFile):
    """A mirror file read range by range, every leaf a read touches checked against the ETDB DAG of ``cid`` before
    its bytes are used (:func:`~etdb_explore.ipfs.dag.local.verified_range`): ``mirror-verified`` without reading
    the whole file first. Only the DAG's interior nodes come from IPFS (through ``ipfs``)."""

    def __init__(self, reader: HomeReader, url: str, size: int, ipfs: UnixFSReader, cid: CID) -> None:
        super().__init__(reader, url, size, MIRROR_VERIFIED)
        self.ipfs = ipfs
        self.cid = cid

    async def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file, each leaf checked (from any event loop).

        Returns:
            The bytes.

        Raises:
            VerificationError: the mirror's bytes of a leaf differ from the DAG's (naming the leaf).
            SourceError: no host delivered them; EtdbError: a node of the DAG is unavailable.
        """
        async def fetch(a: int, b: int) -> bytes:
            return await self.reader.read(self.url, a, b)

        return await bridge.arun(verified_range(self.ipfs, self.cid, start, min(end, self.size), fetch))


async def verify_mirror(file: HttpFile, expected: CID) -> bool:
    """Whether a mirror file's UnixFS CID, recomputed with go-etdb's ``ipfs add`` settings or Kubo's defaults, is
    ``expected``; when it is, ``file.content`` becomes :data:`MIRROR_VERIFIED`. The whole file is read, in 4 MiB
    ranges.

    Returns:
        True when the CIDs are equal.

    Raises:
        SourceError: the file could not be read.
    """
    hasher = MirrorHasher()
    for start in range(0, file.size, VERIFY_PIECE):
        hasher.feed(await file.read(start, min(file.size, start + VERIFY_PIECE)))
    if hasher.finish(expected) == expected:
        file.content = MIRROR_VERIFIED
        return True
    return False


async def dag_cid(client: Client, ipfs_path: str, timeout: float = 30.0) -> CID | None:
    """The CID the ETDB DAG gives the file at ``ipfs_path``, read from its directories (the file itself is not
    fetched: a one-chunk file's CID is its only block), or None when they cannot be fetched within ``timeout``.

    Returns:
        The CID, or None.
    """
    try:
        where = parse_ipfs_path(ipfs_path)
        return await asyncio.wait_for(client.reader.resolve(where.cid, where.path), timeout)
    except (EtdbError, OSError, asyncio.TimeoutError):
        return None


_default: HomeReader | None = None


def default_reader() -> HomeReader:
    """This process's reader of the homes (its session is closed at exit).

    Returns:
        The reader.
    """
    global _default
    if _default is None:
        _default = HomeReader()
    return _default


__all__ = ["HomeReader", "HttpFile", "LeafCheckedFile", "MirrorHasher", "MirrorObject", "configured_osn_hosts", "dag_cid", "default_reader", "verify_mirror"]
