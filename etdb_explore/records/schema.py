"""The Research-Tomogram artifact as go-etdb defined it: key order, Go types, and the key spellings met in the wild."""

from __future__ import annotations

# Go struct field order of go-etdb's artifact (all fields omitempty).
ARTIFACT_KEYS = ("floAddress", "timestamp", "type", "subtype", "info", "details", "storage", "payment", "signature")
INFO_KEYS = ("title", "tags", "description", "year", "nsfw")
DETAILS_KEYS = (
    "date", "NCBItaxID", "NBCItaxID", "artNotes", "scopeName", "roles", "speciesName", "strain", "tiltSingleDual",
    "defocus", "dosage", "tiltConstant", "tiltMin", "tiltMax", "tiltStep", "magnification", "emdb", "microscopist",
    "institution", "lab", "sid",
)
STORAGE_KEYS = ("network", "location", "files")
FILE_KEYS = (
    "software", "disBuy", "dname", "duration", "fname", "fsize", "minPlay", "sugPlay", "promo", "retail", "ptpFT",
    "ptpDT", "ptpDA", "type", "tokenlyID", "disPlay", "minBuy", "sugBuy", "subtype", "cType", "fNotes",
)

# Go types of the fields that are not strings: values given as strings are converted to these.
INT_FIELDS = {"timestamp", "date", "NCBItaxID", "NBCItaxID", "tiltSingleDual", "tiltConstant", "year", "fsize",
              "ptpFT", "ptpDT", "ptpDA"}
FLOAT_FIELDS = {"defocus", "dosage", "tiltMin", "tiltMax", "tiltStep", "magnification", "duration", "minPlay",
                "sugPlay", "minBuy", "sugBuy"}
BOOL_FIELDS = {"nsfw", "disBuy", "promo", "retail", "disPlay"}

# Every other field is a string, except the nested objects, storage.files (a list) and payment (any JSON).
STRING_FIELDS = set(ARTIFACT_KEYS + INFO_KEYS + DETAILS_KEYS + STORAGE_KEYS + FILE_KEYS) - INT_FIELDS - FLOAT_FIELDS \
    - BOOL_FIELDS - {"info", "details", "storage", "files", "payment"}

# Spelling (exact, and lower-cased) -> canonical key, per object.
ALIASES: dict[str, dict[str, str]] = {
    "artifact": {k.lower(): k for k in ARTIFACT_KEYS} | {"flo_address": "floAddress", "publisher": "floAddress"},
    "info": {k.lower(): k for k in INFO_KEYS},
    "details": {k.lower(): k for k in DETAILS_KEYS},  # also folds NCBITaxID onto NCBItaxID
    "storage": {k.lower(): k for k in STORAGE_KEYS},
    "file": {k.lower(): k for k in FILE_KEYS} | {"filename": "fname", "displayname": "dname", "filesize": "fsize",
                                                "contenttype": "cType", "filenotes": "fNotes"},
}

ORDERS = {"artifact": ARTIFACT_KEYS, "info": INFO_KEYS, "details": DETAILS_KEYS, "storage": STORAGE_KEYS,
          "file": FILE_KEYS}
for _kind, _keys in ORDERS.items():
    ALIASES[_kind].update({k: k for k in _keys})
RANKS = {kind: {k: i for i, k in enumerate(keys)} for kind, keys in ORDERS.items()}
NESTED = ("info", "details", "storage")  # artifact members that are objects of their own kind

# Table 1 of the ETDB paper: what a Research-Tomogram record must hold.
MANDATORY = ("floAddress", "timestamp", "type", "info.title", "details.date", "details.speciesName",
             "storage.network", "storage.location", "storage.files")
