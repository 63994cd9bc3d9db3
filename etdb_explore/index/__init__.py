"""The ETDB index as pandas DataFrames: built from records, filtered, summarised, saved as snapshots.

Index sources (oipd REST, flod JSON-RPC) live in :mod:`etdb_explore.index.sources`; which index a user gets by
default (the demo ETDB) is chosen by :func:`etdb_explore.load_index`, not here.
"""

from __future__ import annotations

from etdb_explore.util.lazy import lazy_names

# Public names and the modules that define them, imported on first use: an index source (a FLO node's client for
# publishing) then starts without loading pandas.
_LAZY = {"Index": ".index", "load_source": ".loading"}

__all__ = ["Index", "load_source"]
lazy_names(__name__, _LAZY)
