"""Croissant 1.0 (MLCommons) JSON-LD for a set of ETDB files: FileObjects with their sha256 and CID, and one
RecordSet with a record per file, its data inline, so ``mlcroissant`` reads it without downloading anything.

Files of other homes have no CID: their FileObject points at their HTTPS URL, carries the md5 their home gives
where there is one, and says in its description that it is not content-addressed (and its label); the dataset's
description counts them.

Spec: https://docs.mlcommons.org/croissant/docs/croissant-spec.html (the ``@context`` below is the spec's).
"""

from __future__ import annotations

import mimetypes
from typing import Any

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"

CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

RECORD_SET = "files"

# (field name, Croissant data type, where its value comes from: the file entry or the record's details)
FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("path", "sc:Text", "file", "path"),
    ("cid", "sc:Text", "file", "cid"),
    ("size", "sc:Integer", "file", "size"),
    ("kind", "sc:Text", "file", "subtype"),
    ("sha256", "sc:Text", "file", "sha256"),
    ("txid", "sc:Text", "file", "txid"),
    ("home", "sc:Text", "file", "home"),
    ("content", "sc:Text", "file", "content"),
    ("species", "sc:Text", "details", "speciesName"),
    ("tilt_min", "sc:Float", "details", "tiltMin"),
    ("tilt_max", "sc:Float", "details", "tiltMax"),
    ("defocus", "sc:Float", "details", "defocus"),
    ("microscope", "sc:Text", "details", "scopeName"),
)

_TEXT_SUFFIXES = (".rawtlt", ".tlt", ".txt")


def _file_object(f: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The FileObject of one file: at ``base_url`` + its IPFS path when it has a CID, else at its own URL."""
    obj = {"@type": "cr:FileObject", "@id": f["path"], "name": f["path"],
           "contentUrl": f"{base_url}{f['path']}" if f["cid"] else f["url"], "contentSize": f"{f['size']} B",
           "encodingFormat": encoding_format(f["path"]), "sha256": f["sha256"]}
    if f["cid"]:
        obj["identifier"] = f"ipfs://{f['cid']}"
    else:
        obj["description"] = f"not content-addressed ({f['content']}, from {f['home']})"
        if f.get("md5"):
            obj["md5"] = f["md5"]
    return obj


def encoding_format(name: str) -> str:
    """The media type of a file of the ETDB by its name: MRC volumes and unknown files are octet streams.

    Returns:
        The media type.
    """
    if name.lower().endswith(_TEXT_SUFFIXES):
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _value(kind: str, value: Any) -> Any:
    """A record's value as its Croissant type wants it (records may hold numbers as text); None when missing."""
    if value is None or value == "":
        return None
    if kind == "sc:Float":
        return float(value)
    if kind == "sc:Integer":
        return int(value)
    return str(value).strip()


def croissant_document(*, name: str, description: str, url: str, license: str, published: str,
                       files: list[dict[str, Any]], records: dict[str, dict[str, Any]], base_url: str
                       ) -> dict[str, Any]:
    """The Croissant 1.0 document of ``files`` (dicts with ``txid``, ``path``, ``cid``, ``size``, ``subtype``,
    ``sha256``, ``home``, ``content``, and for a file without a CID its ``url`` and ``md5``) whose datasets'
    records (txid → artifact JSON, or a dict with the records' ``details``) are ``records``.

    Returns:
        The JSON-LD document; ``license`` and ``published`` (``datePublished``) are left out when empty.

    Raises:
        ValueError: a record holds a number field that is not a number.
    """
    distribution = [_file_object(f, base_url) for f in files]
    loose = [f for f in files if not f["cid"]]
    if loose:
        labels = ", ".join(sorted({f["content"] for f in loose}))
        description += (f". {len(loose)} of its {len(files)} files are not content-addressed ({labels}: read from "
                        "another home over HTTPS, their bytes checked only by size, md5 and sha256)")
    fields = [{"@type": "cr:Field", "@id": f"{RECORD_SET}/{field}", "name": field, "dataType": kind}
              for field, kind, _, _ in FIELDS]
    data = []
    for f in files:
        details = records.get(f["txid"], {}).get("details", {})
        data.append({f"{RECORD_SET}/{field}": _value(kind, f[key] if origin == "file" else details.get(key))
                     for field, kind, origin, key in FIELDS})
    doc: dict[str, Any] = {
        "@context": CONTEXT, "@type": "sc:Dataset", "conformsTo": CONFORMS_TO, "name": name,
        "description": description, "url": url, "license": license, "datePublished": published,
        "distribution": distribution,
        "recordSet": [{"@type": "cr:RecordSet", "@id": RECORD_SET, "name": RECORD_SET,
                       "description": "one record per file of the set", "key": {"@id": f"{RECORD_SET}/path"},
                       "field": fields, "data": data}],
    }
    return {k: v for k, v in doc.items() if v != ""}
