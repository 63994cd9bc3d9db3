"""The columnar build (pyarrow) gives the same typed tables as the per-record build it replaced.

The reference below is that build: each column a Python list per record, typed by pandas' own constructors. Both
run on the real ETDB record (tests/vectors), the demo's records and synthetic ones made to reach every branch
(missing optional fields, a padded species name, a float field given as a string, a deactivated record, a bad
signature, a duplicate txid, a record with no files).
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from etdb_explore import Index
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.index.build import check_records
from etdb_explore.index.frame import DATASET_COLUMNS, FILE_COLUMNS, normalize_species, typed_array

_LAST_SECOND = np.iinfo(np.int64).max // 1000


def _date(seconds):
    return seconds if isinstance(seconds, int) and 0 < seconds <= _LAST_SECOND else None


def _reference_frames(records, valid):
    """The per-record build, as etdb-explore made the tables before the columnar one."""
    datasets = []
    for r, ok in zip(records, valid):
        d, files = r.details, r.files
        datasets.append([
            r.txid, r.title, normalize_species(d.get("speciesName")), d.get("speciesName"), d.get("strain"),
            d.get("NCBItaxID") or d.get("NBCItaxID"), _date(d.get("date")), d.get("tiltMin"), d.get("tiltMax"),
            d.get("tiltStep"), {1: "single", 2: "dual"}.get(d.get("tiltSingleDual")), d.get("defocus"),
            d.get("dosage"), d.get("magnification"), d.get("scopeName"), d.get("microscopist"),
            d.get("institution"), d.get("lab"), d.get("sid"), d.get("emdb"), d.get("artNotes"), r.publisher or None,
            _date(r.timestamp), r.block, ok, r.deactivated, r.location or None, len(files),
            sum(f.get("fsize", 0) for f in files)])
    rows = [[r.txid, f.get("fname"), f.get("dname") or (f["fname"].rpartition("/")[2] if f.get("fname") else None),
             (f.get("type") or None) and f["type"].lower(), (f.get("subtype") or None) and f["subtype"].lower(),
             f.get("cType"), f.get("fsize"), f.get("software"), f.get("fNotes"),
             f"{r.location}/{f['fname']}" if r.location and f.get("fname") else None]
            for r in records for f in r.files]
    return _frame(DATASET_COLUMNS, datasets), _frame(FILE_COLUMNS, rows)


def _frame(columns, rows):
    data = list(zip(*rows)) if rows else [[] for _ in columns]
    out = {}
    for (name, dtype), values in zip(columns.items(), data):
        if dtype.startswith("datetime64"):
            seconds = np.array([v if v is not None else np.iinfo(np.int64).min for v in values], dtype=np.int64)
            out[name] = pd.Series(seconds.astype("datetime64[s]").astype(dtype))
        else:
            out[name] = pd.Series(list(values), dtype=dtype)
    return pd.DataFrame(out)


def _assert_same(new: pd.DataFrame, old: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    for name in old.columns:
        if isinstance(old[name].dtype, pd.CategoricalDtype):
            assert list(new[name].cat.categories) == list(old[name].cat.categories), name
            assert new[name].cat.categories.dtype == old[name].cat.categories.dtype, name


def _varied(etdb_record: dict) -> list[dict]:
    items = [copy.deepcopy(etdb_record)] + json.loads(json.dumps(synthetic_records(60, seed=21)))
    details = items[1]["artifact"]["details"]
    details["speciesName"] = "  Vibrio   cholerae "
    details["tiltMin"] = "-61.5"  # a float given as text (the signature does not cover details)
    for key in ("strain", "NCBItaxID", "tiltStep", "scopeName", "defocus"):
        items[2]["artifact"]["details"].pop(key, None)
    items[3]["artifact"]["details"]["NBCItaxID"] = items[3]["artifact"]["details"].pop("NCBItaxID", 562)
    items[4]["artifact"]["details"]["tiltSingleDual"] = 2
    items[5]["artifact"]["storage"]["files"][0]["type"] = "TomoGram"
    items[5]["artifact"]["storage"]["files"][1].pop("dname", None)
    items[6]["artifact"]["signature"] = items[7]["artifact"]["signature"]  # fails
    items.append(copy.deepcopy(items[8]))  # the same txid twice
    items[9]["artifact"]["details"]["date"] = 2**62  # beyond datetime64[ms]
    return items


@pytest.mark.parametrize("verified_only", [True, False])
def test_columnar_build_equals_the_per_record_build(etdb_record, verified_only):
    items = _varied(etdb_record)
    checked = check_records(items, "varied", verified_only)
    assert 0 < len(checked.kept) < len(items) or not verified_only
    index = Index.from_records(items, "varied", verified_only=verified_only)
    datasets, files = _reference_frames(list(checked.kept.values()), checked.valid)
    _assert_same(index.datasets, datasets)
    _assert_same(index.files, files)


def test_columnar_build_equals_the_per_record_build_on_the_demo(demo):
    records = list(demo.records.values())
    rebuilt = Index.from_records(records, "demo again")
    datasets, files = _reference_frames(records, [True] * len(records))
    _assert_same(rebuilt.datasets, datasets)
    _assert_same(rebuilt.files, files)
    _assert_same(rebuilt.datasets, demo.datasets)


@pytest.mark.parametrize("dtype, values", [
    ("string", ["a", None, "b"]), ("string", [1, "a"]), ("string", []), ("category", ["b", None, "a", "b"]),
    ("category", [None, None]), ("category", []), ("category", ["é", "e", "z", "É"]), ("Int64", [1, None, 2**62]),
    ("Int64", [1.0, None]), ("Float64", [1.5, None, 2]), ("Float64", [float("nan"), 1.0]), ("boolean", [True, None]),
])
def test_typed_array_is_what_pandas_makes(dtype, values):
    new, old = pd.Series(typed_array(values, dtype)), pd.Series(list(values), dtype=dtype)
    pd.testing.assert_series_equal(new, old, check_exact=True)
    if dtype == "category":
        assert new.cat.categories.dtype == old.cat.categories.dtype
