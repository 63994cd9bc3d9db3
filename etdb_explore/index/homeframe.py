"""Rows from homes without FLO signatures (CaltechDATA, the CZ cryoET Data Portal) as an Index.

Their datasets table has the ETDB columns plus :data:`HOME_COLUMNS`; ``signature_valid`` is <NA> (nothing was
signed), ``source`` names the home and ``provenance`` the URL each row was read from. ``txid`` is the row's key in
this index (``caltechdata:<record id>``, ``czportal:<run id>``), not a FLO transaction. The files table has the ETDB
file columns plus :data:`HOME_FILE_COLUMNS`: ``url`` (HTTPS), ``md5`` where the home gives one, and ``content``,
what the bytes are: ``mirror`` (copies of the lab's files, not content-addressed) or ``rewritten`` (new files made
from them, e.g. the portal's MRCs and OME-Zarr pyramids).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from etdb_explore.index.build import printable
from etdb_explore.index.frame import DATASET_COLUMNS, FILE_COLUMNS, REJECTED_COLUMNS, typed_frame
from etdb_explore.index.index import Index
from etdb_explore.index.sources.base import Rejection

HOME_COLUMNS: dict[str, str] = {
    "source": "category",
    "tiltid": "string",
    "home_id": "string",
    "doi": "string",
    "provenance": "string",
    "embargoed": "boolean",
    "total_flux": "Float64",
    "pixel_spacing": "Float64",
    "voxel_spacing": "Float64",
    "tilting_scheme": "string",
    "mirror_url": "string",
    "technical_html": "string",
}

HOME_FILE_COLUMNS: dict[str, str] = {"home": "category", "url": "string", "md5": "string", "content": "category"}

HOME_DATASET_COLUMNS = {**DATASET_COLUMNS, **HOME_COLUMNS}
HOME_FILES_COLUMNS = {**FILE_COLUMNS, **HOME_FILE_COLUMNS}


def rows_frame(columns: dict[str, str], rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A typed DataFrame of ``columns`` from dict rows (missing keys: <NA>; dates in seconds since the epoch).

    Returns:
        The DataFrame.
    """
    return typed_frame(columns, [[row.get(name) for name in columns] for row in rows])


def home_index(source: str, datasets: Sequence[dict[str, Any]], files: Sequence[dict[str, Any]],
               rejected: Sequence[Rejection] = ()) -> Index:
    """The Index of one home's rows.

    Returns:
        The :class:`Index` (``signature_valid`` <NA> on every row; no records).
    """
    rows = [dict(row, signature_valid=None, source=source) for row in datasets]
    files = [dict(row, home=source) for row in files]
    reasons = [(printable(r.origin), printable(r.txid), printable(r.reason)) for r in rejected]
    return Index(rows_frame(HOME_DATASET_COLUMNS, rows), rows_frame(HOME_FILES_COLUMNS, files),
                 typed_frame(REJECTED_COLUMNS, reasons), source, {})
