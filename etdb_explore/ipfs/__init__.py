"""Verified IPFS content: CIDs, UnixFS, CAR, the Kubo-compatible importer, block sources, reader and gateway."""

from __future__ import annotations

from etdb_explore.util.lazy import lazy_names

# Public names and the modules that define them, imported on first use: a CID or the importer then starts without
# loading the gateway server (aiohttp.web) or the block sources' HTTP client.
_LAZY = {
    "export_car": ".build.carfiles", "import_car": ".build.carfiles", "KUBO_CIDV1": ".build.importer",
    "KUBO_DEFAULT": ".build.importer", "Added": ".build.importer", "Profile": ".build.importer",
    "add_bytes": ".build.importer", "add_directory": ".build.importer", "add_file": ".build.importer",
    "add_stream": ".build.importer", "NodeCache": ".dag.nodes", "Stat": ".dag.reader", "UnixFSReader": ".dag.reader",
    "DirEntry": ".dag.resolve", "PathError": ".dag.resolve", "CID": ".formats.cid", "CIDError": ".formats.cid",
    "make_app": ".gateway_server", "start_server": ".gateway_server", "BlockSource": ".sources.base",
    "BlockStore": ".sources.base", "CarStreamSource": ".sources.base", "MultiSource": ".sources.base",
    "GatewaySource": ".sources.gateway", "discover_gateways": ".sources.gateway", "LocalStore": ".sources.store",
    "default_store_path": ".sources.store",
}

__all__ = [
    "CID", "KUBO_CIDV1", "KUBO_DEFAULT", "Added", "BlockSource", "BlockStore", "CIDError", "CarStreamSource",
    "DirEntry", "GatewaySource", "LocalStore", "MultiSource", "NodeCache", "PathError", "Profile", "Stat",
    "UnixFSReader", "add_bytes", "add_directory", "add_file", "add_stream", "default_store_path", "discover_gateways",
    "export_car", "import_car", "make_app", "start_server",
]
lazy_names(__name__, _LAZY)
