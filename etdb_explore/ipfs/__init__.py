"""Verified IPFS content: CIDs, UnixFS, CAR, the Kubo-compatible importer, block sources, reader and gateway."""

from etdb_explore.ipfs.build.carfiles import export_car, import_car
from etdb_explore.ipfs.build.importer import (
    KUBO_CIDV1,
    KUBO_DEFAULT,
    Added,
    Profile,
    add_bytes,
    add_directory,
    add_file,
    add_stream,
)
from etdb_explore.ipfs.dag.nodes import NodeCache
from etdb_explore.ipfs.dag.reader import Stat, UnixFSReader
from etdb_explore.ipfs.dag.resolve import DirEntry, PathError
from etdb_explore.ipfs.formats.cid import CID, CIDError
from etdb_explore.ipfs.gateway_server import make_app, start_server
from etdb_explore.ipfs.sources.base import BlockSource, BlockStore, CarStreamSource, MultiSource
from etdb_explore.ipfs.sources.gateway import GatewaySource, discover_gateways
from etdb_explore.ipfs.sources.store import LocalStore, default_store_path

__all__ = [
    "CID",
    "KUBO_CIDV1",
    "KUBO_DEFAULT",
    "Added",
    "BlockSource",
    "BlockStore",
    "CIDError",
    "CarStreamSource",
    "DirEntry",
    "GatewaySource",
    "LocalStore",
    "MultiSource",
    "NodeCache",
    "PathError",
    "Profile",
    "Stat",
    "UnixFSReader",
    "add_bytes",
    "add_directory",
    "add_file",
    "add_stream",
    "default_store_path",
    "discover_gateways",
    "export_car",
    "import_car",
    "make_app",
    "start_server",
]
