"""One vocabulary of file kinds: the records' subtypes, with the spellings users write accepted as aliases."""

from __future__ import annotations

import pytest

from etdb_explore.errors import EtdbError
from etdb_explore.records.kinds import SUBTYPES, KindError, normalize_kinds

ALIASES = [
    ("tiltSeries", ("tiltseries",)),  # as records spell it
    ("tiltseries", ("tiltseries",)),  # as the index spells it
    ("tilt-series", ("tiltseries",)),  # as downloads used to
    ("Tilt_Series", ("tiltseries",)),
    ("reconstructions", ("reconstruction",)),
    ("Reconstruction", ("reconstruction",)),
    ("keyimgs", ("keyimg",)),
    ("snapshots", ("snapshot",)),
    ("thumbnails", ("thumbnail",)),
    ("keymovs", ("keymov",)),
    ("subvolumes", ("subvolume",)),
    ("previews", ("preview",)),
    ("other", ("other",)),
    ("images", ("keyimg", "snapshot", "thumbnail")),
    ("image", ("keyimg", "snapshot", "thumbnail")),
    ("videos", ("keymov",)),
    ("others", ("subvolume", "preview", "other")),
    (["reconstructions", "reconstruction", "tilt-series"], ("tiltseries", "reconstruction")),
    ([], ()),
    (None, None),
]


@pytest.mark.parametrize(("kinds", "subtypes"), ALIASES, ids=[repr(a[0]) for a in ALIASES])
def test_every_spelling_means_record_subtypes(kinds, subtypes):
    assert normalize_kinds(kinds) == subtypes


@pytest.mark.parametrize("bad", ["tomograms", "movie", "recon", "", "s", ["images", "nope"], [3]])
def test_unknown_kinds_name_themselves_and_the_valid_ones(bad):
    with pytest.raises(KindError) as caught:
        normalize_kinds(bad)
    message = str(caught.value)
    culprit = bad[-1] if isinstance(bad, list) else bad
    assert repr(culprit) in message and all(s in message for s in SUBTYPES) and "images" in message
    assert isinstance(caught.value, EtdbError)
