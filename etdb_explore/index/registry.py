"""Which Index a row came from: every Index tags its tables, so a row of any index opens from that index.

Each :class:`~etdb_explore.index.index.Index` registers itself under a random token and stores the token in its
tables' ``DataFrame.attrs["etdb_index"]``. pandas carries ``attrs`` into rows (``df.iloc[0]``, ``df.loc[i]``),
selections (boolean masks, ``.query``, ``.head``, sorting) and most other results, so a row knows its index for as
long as that Index is alive. Registration is weak: the registry never keeps an Index alive.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from weakref import WeakValueDictionary

import pandas as pd

if TYPE_CHECKING:
    from etdb_explore.index.index import Index

ATTR = "etdb_index"

_live: WeakValueDictionary[str, Index] = WeakValueDictionary()  # insertion order: oldest first


def register(index: Index, *frames: pd.DataFrame) -> str:
    """Register ``index`` (weakly) and tag ``frames`` with its new token.

    Returns:
        The token.
    """
    token = uuid.uuid4().hex
    _live[token] = index
    for frame in frames:
        frame.attrs[ATTR] = token
    return token


def tagged_index(obj: Any) -> Index | None:
    """The live Index a row, Series or DataFrame was taken from, if its tag says and that Index is alive.

    Returns:
        The Index, or None (no tag, or its Index was garbage-collected).
    """
    token = getattr(obj, "attrs", {}).get(ATTR)
    return _live.get(token) if isinstance(token, str) else None


def live_indexes() -> list[Index]:
    """Every Index alive in this process.

    Returns:
        The indexes, newest first.
    """
    return list(_live.values())[::-1]


def index_holding(txid: str) -> Index | None:
    """The newest live Index with a dataset whose txid starts with ``txid``.

    Returns:
        The Index, or None when no live Index has one.
    """
    for index in live_indexes():
        if index.datasets["txid"].str.startswith(txid).fillna(False).any():
            return index
    return None


def untagged(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the tag (a shallow copy), for writing files that outlive this process.

    Returns:
        A DataFrame sharing ``frame``'s data, whose ``attrs`` lack the tag.
    """
    if ATTR not in frame.attrs:
        return frame
    clean = frame.copy(deep=False)
    clean.attrs = {k: v for k, v in frame.attrs.items() if k != ATTR}
    return clean


__all__ = ["ATTR", "index_holding", "live_indexes", "register", "tagged_index", "untagged"]
