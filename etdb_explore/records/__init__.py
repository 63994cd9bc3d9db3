"""OIP 0.42 Research-Tomogram records: parsing, go-etdb serialization, signatures, multipart, edits."""

from etdb_explore.records.artifact import normalize_artifact, serialize_artifact
from etdb_explore.records.multipart import (
    MultipartAssembler,
    Part,
    is_multipart,
    parse_part,
    sign_parts,
    split_flodata,
)
from etdb_explore.records.record import (
    Change,
    Deactivate,
    Edit,
    Message,
    Record,
    parse_message,
    parse_record,
)

__all__ = [
    "Change", "Deactivate", "Edit", "Message", "MultipartAssembler", "Part", "Record", "is_multipart",
    "normalize_artifact", "parse_message", "parse_part", "parse_record", "serialize_artifact", "sign_parts",
    "split_flodata",
]
