"""go-etdb serialization has two paths (Python's C encoder for plain artifacts, gojson for the rest): they must give
the same bytes for every artifact, tricky strings and floats included."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from etdb_explore.demo.sample import synthetic_records
from etdb_explore.records import normalize_artifact
from etdb_explore.records.artifact import _go_object, serialize_artifact
from etdb_explore.records.flo import PrivateKey

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["<>&", "\u2028\u2029", "\b\f\x01\x1f", 'q"\\b', "\\f", "é 日本", "\\u003c"])
FLOAT = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e-7, 1e-4, 9.99e-5, 1e16, 1e21, 22500.0,
                                                                           -4.5, 123456789012345.6])


@settings(max_examples=300, deadline=None)
@given(title=TEXT, notes=TEXT, defocus=FLOAT, dosage=FLOAT, fname=TEXT, extra=st.none() | TEXT,
       payment=st.none() | st.dictionaries(TEXT, st.integers(-(2**63), 2**63 - 1) | TEXT, max_size=2))
def test_both_paths_agree(title, notes, defocus, dosage, fname, extra, payment):
    raw = {"floAddress": "FTSTq8xx8yWUKJA5E3bgXLzZqqG9V6dvnr", "timestamp": 1, "info": {"title": title},
           "details": {"artNotes": notes, "defocus": defocus, "dosage": dosage},
           "storage": {"location": "Qm", "files": [{"fname": fname, "fsize": 5, **({"x": extra} if extra else {})}]}}
    if payment:
        raw["payment"] = payment
    artifact = normalize_artifact(raw)
    assert serialize_artifact(artifact) == _go_object(artifact, "artifact")


def test_synthetic_records_agree_and_keys_pickle():
    for raw in synthetic_records(300, seed=3):
        artifact = normalize_artifact(raw["artifact"])
        assert serialize_artifact(artifact) == _go_object(artifact, "artifact")
    key = PrivateKey.from_seed("pickled", "testnet")
    assert key.address  # caches the secp256k1 key
    again = pickle.loads(pickle.dumps(key))
    assert "_signer" not in again.__dict__
    assert again == key and again.sign_message("m") == key.sign_message("m")
