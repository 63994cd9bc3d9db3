"""Publishing a lab's own release: table → records, folders → IPFS, signed floData → the publish log → FLO.

Modules, one job each: :mod:`~etdb_explore.publish.table` (column mapping, validation), ``filetypes`` (file kinds
from the folder layout), ``content`` (folders into IPFS, CARs), ``keys`` (the signing key), ``messages`` (records,
edits, deactivations as signed floData parts), ``estimate`` (bytes → transactions → fee), ``log`` (the durable
publish log), ``broadcast`` (sending through a FLO node, exactly once), ``changes`` (edits, deactivations),
``release`` (the orchestration), ``logsource`` (the publish log as an index source).
"""

from __future__ import annotations

from etdb_explore.util.lazy import lazy_names

# Public names and the modules that define them, imported on first use: publishing offline then starts without
# loading the FLO node's client (and the index it belongs to).
_LAZY = {
    "Broadcaster": ".broadcast", "broadcast": ".broadcast", "deactivate": ".changes", "edit": ".changes",
    "Estimate": ".estimate", "estimate": ".estimate", "KeySourceError": ".keys", "load_key": ".keys",
    "PublishLog": ".log", "PublishLogBusy": ".log", "PublishLogError": ".log", "PublishLogSource": ".logsource",
    "DryRun": ".release", "Release": ".release", "ReleaseProblems": ".release", "FIELDS": ".table",
    "MappingError": ".table", "validate": ".table",
}

__all__ = [
    "FIELDS", "Broadcaster", "DryRun", "Estimate", "KeySourceError", "MappingError", "PublishLog", "PublishLogBusy",
    "PublishLogError", "PublishLogSource", "Release", "ReleaseProblems", "broadcast", "deactivate", "edit",
    "estimate", "load_key", "validate",
]
lazy_names(__name__, _LAZY)
