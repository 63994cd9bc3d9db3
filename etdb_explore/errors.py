"""Exceptions raised by etdb-explore; each names the culprit (record, CID, source, file).

Every error raised on purpose is an :class:`EtdbError`. The ones users meet everywhere are here; those of one layer
live next to the code raising them: ``MrcError`` (:mod:`etdb_explore.volumes.header`), ``KindError``
(:mod:`etdb_explore.records.kinds`), ``IpfsPathError``, ``CIDError``, ``CarError``, ``DagPbError``, ``UnixFSError``
(:mod:`etdb_explore.ipfs.formats`), ``PathError``, ``ByteRangeError``, ``ScopeError`` (:mod:`etdb_explore.ipfs.dag`).
Most also derive from the built-in exception they refine (ValueError, KeyError, FileNotFoundError, IOError).
"""

from __future__ import annotations


class EtdbError(Exception):
    """Base class of every error etdb-explore raises on purpose."""


class RecordError(EtdbError, ValueError):
    """An OIP record is malformed, incomplete or of an unknown type."""


class SignatureError(EtdbError, ValueError):
    """A FLO message signature does not verify against its address."""


class MultipartError(RecordError):
    """Multipart floData parts are missing, duplicated, conflicting or oversized."""


class SourceError(EtdbError, IOError):
    """An index or content source failed (HTTP error, JSON-RPC error, time-out)."""


class VerificationError(EtdbError):
    """Bytes received for a CID do not hash to that CID."""


class BlockNotFoundError(EtdbError, KeyError):
    """No source could provide a block."""


class UnsafePathError(EtdbError, ValueError):
    """A file name from an untrusted record would escape its target folder."""


class RunTimeoutError(EtdbError, TimeoutError):
    """A plain call did not finish within its ``timeout`` (the work it waited on was cancelled)."""


class ClientClosedError(EtdbError, RuntimeError):
    """A content client was used after ``close()``."""


class NotPicklableError(EtdbError, TypeError):
    """An object cannot be pickled (for dask workers) because a part of it cannot."""
