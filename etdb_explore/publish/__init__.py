"""Publishing a lab's own release: table → records, folders → IPFS, signed floData → the publish log → FLO.

Modules, one job each: :mod:`~etdb_explore.publish.table` (column mapping, validation), ``filetypes`` (file kinds
from the folder layout), ``content`` (folders into IPFS, CARs), ``keys`` (the signing key), ``messages`` (records,
edits, deactivations as signed floData parts), ``estimate`` (bytes → transactions → fee), ``log`` (the durable
publish log), ``broadcast`` (sending through a FLO node, exactly once), ``changes`` (edits, deactivations),
``release`` (the orchestration), ``logsource`` (the publish log as an index source).
"""

from etdb_explore.publish.broadcast import Broadcaster, broadcast
from etdb_explore.publish.changes import deactivate, edit
from etdb_explore.publish.estimate import Estimate, estimate
from etdb_explore.publish.keys import KeySourceError, load_key
from etdb_explore.publish.log import PublishLog, PublishLogBusy, PublishLogError
from etdb_explore.publish.logsource import PublishLogSource
from etdb_explore.publish.release import DryRun, Release, ReleaseProblems
from etdb_explore.publish.table import FIELDS, MappingError, validate

__all__ = [
    "FIELDS", "Broadcaster", "DryRun", "Estimate", "KeySourceError", "MappingError", "PublishLog", "PublishLogBusy",
    "PublishLogError", "PublishLogSource", "Release", "ReleaseProblems", "broadcast", "deactivate", "edit",
    "estimate", "load_key", "validate",
]
