"""Where records come from: the oipd REST API, a FLO node's JSON-RPC, or a local snapshot."""

from etdb_explore.index.sources.base import Harvest, IndexSource, Rejection

__all__ = ["Harvest", "IndexSource", "Rejection"]
