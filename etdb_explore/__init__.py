"""etdb-explore: a verified, notebook-first workbench for the Electron Tomography Database.

The ETDB's metadata are signed OIP 0.42 Research-Tomogram records on the FLO blockchain; its files live on IPFS.
"""

from .errors import (
    BlockNotFoundError,
    EtdbError,
    MultipartError,
    RecordError,
    SignatureError,
    SourceError,
    UnsafePathError,
    VerificationError,
)
from .benchmark_set import BenchmarkSet
from .content import Client
from .download import download
from .flo import PrivateKey, verify_message
from .index.index import Index
from .records import Record, parse_record
from .volumes import MrcError, TiltSeries, Volume, preview
from .volumes.open import open_tiltseries, open_tomogram

__version__ = "0.1.0"


def load_index(source=None, *, refresh: bool = False, verified_only: bool = True) -> Index:  # noqa: ANN001
    """Load the ETDB index: from the demo ETDB (default), an index source, or a snapshot folder."""
    return Index.load(source, refresh=refresh, verified_only=verified_only)


__all__ = [
    "BenchmarkSet", "BlockNotFoundError", "Client", "EtdbError", "Index", "MrcError", "MultipartError", "PrivateKey",
    "Record", "RecordError", "SignatureError", "SourceError", "TiltSeries", "UnsafePathError", "VerificationError",
    "Volume", "download", "load_index", "open_tiltseries", "open_tomogram", "parse_record", "preview",
    "verify_message",
]
