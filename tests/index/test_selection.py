"""Selections: which dataset owns each file, text searched among the rows the other criteria leave, snapshot tables
read in one piece – each the same selection as the plain pandas reading of the tables."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etdb_explore import Index
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.index import filters
from etdb_explore.index.frame import file_owners


@pytest.fixture(scope="module")
def varied(etdb_record) -> list[dict]:
    """The real record among synthetic ones, some without notes, strain or files, one with non-ASCII text."""
    raws = [copy.deepcopy(etdb_record), *synthetic_records(300, seed=5)]
    for i, raw in enumerate(raws[1:], 1):
        details = raw["artifact"]["details"]
        if i % 5 == 0:
            details.pop("artNotes", None)
        if i % 7 == 0:
            details.pop("strain", None)
        if i % 11 == 0:
            raw["artifact"]["storage"]["files"] = []
    raws[3]["artifact"]["details"]["artNotes"] = "Flagellar MOTOR of Ærøskøbing isolates, Öl 5 µm"
    return json.loads(json.dumps(raws))


@pytest.fixture(scope="module")
def index(varied) -> Index:
    return Index.from_records(varied)


def _reference_text(ds: pd.DataFrame, text: str) -> np.ndarray:
    """The plain reading of ``text=``: a substring of title, notes, species, strain or tilt-series id, any case."""
    fields = ds[list(filters.TEXT_COLUMNS)].astype(object).where(ds[list(filters.TEXT_COLUMNS)].notna(), "")
    return np.array(["\n".join(row).lower().find(text.lower()) >= 0 for row in fields.itertuples(index=False)])


def test_file_owners_match_a_lookup_of_each_txid(index):
    ds, files = index.datasets, index.files
    lookup = pd.Index(ds["txid"]).get_indexer(files["txid"])
    assert (file_owners(ds, files) == lookup).all() and len(lookup) > 1000
    shuffled = files.sample(frac=1, random_state=3).reset_index(drop=True)  # not in dataset order
    assert (file_owners(ds, shuffled) == pd.Index(ds["txid"]).get_indexer(shuffled["txid"])).all()
    stranger = files.copy()
    stranger.loc[4, "txid"] = "f" * 64  # a file no dataset lists: owned by none, never selected
    owners = file_owners(ds, stranger)
    assert owners[4] == -1 and (np.delete(owners, 4) == np.delete(lookup, 4)).all()
    miscounted = ds.copy()
    miscounted.loc[0, "n_files"] += 1  # the counts no longer describe the layout: each txid is looked up
    assert (file_owners(miscounted, files) == lookup).all()


def test_selections_keep_exactly_the_files_of_their_datasets(index):
    mask = index.mask(species="Vibrio cholerae") | index.mask(tilt_scheme="dual")
    sel = index.select(mask)
    assert sel.datasets.equals(index.datasets[mask].reset_index(drop=True))
    assert sel.files.equals(index.files[index.files["txid"].isin(sel.datasets["txid"])].reset_index(drop=True))
    assert (sel.file_owner == pd.Index(sel.datasets["txid"]).get_indexer(sel.files["txid"])).all()
    again = sel.filter(tilt_scheme="dual")  # a selection of a selection
    assert set(again.files["txid"]) <= set(again.datasets["txid"]) and len(again.files) == again.datasets.n_files.sum()
    with pytest.raises(ValueError, match=f"{len(index)} datasets"):
        index.select(mask[:-1])


@pytest.mark.parametrize("criteria", [{}, {"species": "Vibrio cholerae"}, {"tilt_scheme": "dual"},
                                      {"defocus": (-8, -4), "date": ("2010", "2015")}])
@pytest.mark.parametrize("text", ["flagellar motor", "ærøskøbing", "öl 5 µm", "\n", "sulfolobus solfataricus ",
                                  "nothing like this"])
def test_text_is_searched_among_the_rows_the_other_criteria_leave(varied, criteria, text):
    fresh = Index.from_records(varied)  # no text lower-cased yet
    others = fresh.mask(**criteria)
    expected = others & _reference_text(fresh.datasets, text)
    assert (fresh.mask(text=text, **criteria) == expected).all()
    assert fresh._haystack is None or others.sum() * 2 > len(fresh)  # a few rows were searched in their own text
    fresh.haystack  # noqa: B018  (the whole index's text, lower-cased once)
    assert (fresh.mask(text=text, **criteria) == expected).all()
    rows = np.flatnonzero(others)
    assert filters.text_haystack(fresh.datasets, rows).equals(filters.text_haystack(fresh.datasets).take(rows))
    assert text != "flagellar motor" or expected.sum() > 0


def test_a_snapshot_read_in_pieces_selects_the_same(index, tmp_path):
    folder = index.to_snapshot(tmp_path / "snap")
    files = pq.read_table(folder / "files.parquet")
    pq.write_table(files, folder / "files.parquet", row_group_size=100)  # another writer's row groups
    assert pa.array(pd.read_parquet(folder / "files.parquet")["fname"]).num_chunks > 10
    loaded = Index.from_snapshot(folder)
    for name in ("txid", "fname", "ipfs_path"):
        assert not isinstance(pa.array(loaded.files[name]), pa.ChunkedArray)  # one piece: selections stay cheap
    assert loaded.files.equals(index.files) and loaded.datasets.equals(index.datasets)
    criteria = {"species": "Vibrio cholerae", "tilt_range": (-60, 60), "text": "flagellar motor"}
    assert loaded.filter(**criteria).files.equals(index.filter(**criteria).files)
