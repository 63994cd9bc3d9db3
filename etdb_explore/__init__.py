"""etdb-explore: a verified, notebook-first workbench for the Electron Tomography Database.

The ETDB's metadata are signed OIP 0.42 Research-Tomogram records on the FLO blockchain; its files live on IPFS.
The public API is ``__all__`` (listed in README.md); its names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etdb_explore.errors import (
    BlockNotFoundError,
    ClientClosedError,
    EtdbError,
    MultipartError,
    NotPicklableError,
    RecordError,
    RunTimeoutError,
    SignatureError,
    SourceError,
    UnsafePathError,
    VerificationError,
)
from etdb_explore.util.lazy import lazy_names

if TYPE_CHECKING:
    from pathlib import Path

    from etdb_explore.index.index import Index  # noqa: TC004 – at run time lazy_names imports it on first use
    from etdb_explore.index.sources.base import IndexSource

__version__ = "0.1.0"

# Public names and the modules that define them, imported on first use: `import etdb_explore.ipfs` (the gateway
# server, the importer) then starts without loading pandas.
_LAZY = {
    "BenchmarkSet": ".datasets.benchmark_set", "Client": ".content.client", "download": ".datasets.download",
    "PrivateKey": ".records.flo", "verify_message": ".records.flo", "Index": ".index.index", "Record": ".records",
    "parse_record": ".records", "MrcError": ".volumes", "TiltSeries": ".volumes", "Volume": ".volumes",
    "preview": ".volumes", "open_tiltseries": ".volumes.open", "open_tomogram": ".volumes.open",
    "Release": ".publish.release", "PublishLog": ".publish.log", "PublishLogSource": ".publish.logsource",
    "load_key": ".publish.keys",
    "IndexBrowser": ".widgets.index_browser",
    "SliceViewer": ".widgets.slice_viewer", "TiltSeriesViewer": ".widgets.slice_viewer",
}


lazy_names(__name__, _LAZY)


def load_index(source: IndexSource | str | Path | None = None, *, refresh: bool = False,
               verified_only: bool = True) -> Index:
    """Load the ETDB index: the local demo ETDB (``None``, the default), an index source, or a snapshot folder.

    Remote sources (:class:`~etdb_explore.index.sources.oipd.OipdSource`, ``FlodSource``) are harvested once and
    cached as snapshots in the user cache dir (read back verified); ``refresh=True`` harvests again. Every record's
    signature is checked; with ``verified_only`` records that fail go to :attr:`Index.rejected`, as do malformed
    ones: no record stops a load.

    Returns:
        The :class:`Index`.

    Raises:
        SourceError: a remote source failed.
        EtdbError: a snapshot folder is missing, not a snapshot, or has an unreadable table (naming the file).
    """
    if source is None:
        from etdb_explore.demo import demo_index

        return demo_index()
    from etdb_explore.index.loading import load_source

    return load_source(source, refresh=refresh, verified_only=verified_only)


__all__ = [
    "BenchmarkSet", "BlockNotFoundError", "Client", "ClientClosedError", "EtdbError", "Index", "IndexBrowser",
    "MrcError", "MultipartError", "NotPicklableError", "PrivateKey", "PublishLog", "PublishLogSource", "Record",
    "RecordError", "Release", "RunTimeoutError", "SignatureError", "SliceViewer", "SourceError", "TiltSeries", "TiltSeriesViewer", "UnsafePathError",
    "VerificationError", "Volume", "download", "load_index", "load_key", "open_tiltseries", "open_tomogram",
    "parse_record", "preview", "verify_message",
]
