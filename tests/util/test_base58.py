"""Base58: round trips, and texts too long to decode refused at once, whoever asks (issue 9, Low)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etdb_explore.ipfs.formats.cid import CID, CIDError
from etdb_explore.records import flo
from etdb_explore.util.base58 import MAX_LENGTH, b58decode, b58encode


@given(st.binary(max_size=700))
def test_round_trip(data):
    assert b58decode(b58encode(data)) == data


def test_leading_zeros_and_bad_characters():
    assert b58decode("11") == b"\0\0" and b58encode(b"\0\0\1") == "112"
    for text, bad in (("0abc", "'0' at 0"), ("abIc", "'I' at 2"), ("ab\ud800", "'\\ud800' at 2"), ("aé", "'é' at 1")):
        with pytest.raises(ValueError, match=re.escape(bad)):
            b58decode(text)


def test_a_text_too_long_is_refused_by_every_caller():
    huge = "z" * 200_000
    with pytest.raises(ValueError, match=f"200000 characters is longer than {MAX_LENGTH}"):
        b58decode(huge)
    b58decode("z" * MAX_LENGTH)
    with pytest.raises(ValueError, match="longer than"):
        flo.address_network(huge)
    with pytest.raises(CIDError, match="longer than"):
        CID.decode("z" + huge)
    assert not flo.verify_message(huge, "H" + "A" * 87, "message")


def test_base58_and_flo_key_errors_are_etdb_errors():
    from etdb_explore.errors import EtdbError
    from etdb_explore.records.flo import PrivateKey, address_network
    from etdb_explore.util.base58 import b58decode

    for bad in (lambda: b58decode("0OIl"), lambda: b58decode("1" * 5000), lambda: address_network("1" * 34),
                lambda: PrivateKey.from_wif("5" * 51)):
        with pytest.raises(EtdbError):
            bad()
