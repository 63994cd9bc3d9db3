"""Verified IPFS content: CIDs, UnixFS, CAR, the Kubo-compatible importer, block sources, reader and gateway."""

from .carfiles import export_car, import_car
from .cid import CID, CIDError
from .gateway import GatewaySource, discover_gateways
from .importer import KUBO_CIDV1, KUBO_DEFAULT, Added, Profile, add_bytes, add_directory, add_file, add_stream
from .reader import DirEntry, PathError, Stat, UnixFSReader
from .server import make_app, start_server
from .sources import BlockSource, MultiSource
from .store import LocalStore, default_store_path

__all__ = [
    "Added", "BlockSource", "CID", "CIDError", "DirEntry", "GatewaySource", "KUBO_CIDV1", "KUBO_DEFAULT",
    "LocalStore", "MultiSource", "PathError", "Profile", "Stat", "UnixFSReader", "add_bytes", "add_directory",
    "add_file", "add_stream", "default_store_path", "discover_gateways", "export_car", "import_car", "make_app",
    "start_server",
]
