"""The ETDB index as pandas DataFrames: built from records, filtered, summarised, saved as snapshots.

Index sources (oipd REST, flod JSON-RPC) live in :mod:`etdb_explore.index.sources`; which index a user gets by
default (the demo ETDB) is chosen by :func:`etdb_explore.load_index`, not here.
"""

from etdb_explore.index.index import Index
from etdb_explore.index.loading import load_source

__all__ = ["Index", "load_source"]
