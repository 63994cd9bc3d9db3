"""OIP 0.42 Research-Tomogram records: parsing, go-etdb serialization, signatures, multipart, edits."""

from __future__ import annotations

from etdb_explore.util.lazy import lazy_names

# Public names and the modules that define them, imported on first use: a module needing only the file kinds or
# bounded JSON then starts without loading the signature code (coincurve).
_LAZY = {
    "normalize_artifact": ".artifact", "serialize_artifact": ".artifact", "MultipartAssembler": ".multipart",
    "Part": ".multipart", "is_multipart": ".multipart", "parse_part": ".multipart", "sign_parts": ".multipart",
    "split_flodata": ".multipart", "Change": ".record", "Deactivate": ".record", "Edit": ".record",
    "Message": ".record", "Record": ".record", "parse_message": ".record", "parse_record": ".record",
}

__all__ = [
    "Change", "Deactivate", "Edit", "Message", "MultipartAssembler", "Part", "Record", "is_multipart",
    "normalize_artifact", "parse_message", "parse_part", "parse_record", "serialize_artifact", "sign_parts",
    "split_flodata",
]
lazy_names(__name__, _LAZY)
