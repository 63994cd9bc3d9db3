"""FLO keys and message signatures against the real signatures in tests/vectors/flo_signatures.json."""

from __future__ import annotations

import base64
import json

import pytest

from etdb_explore.records import flo


def _vectors(vectors):
    return json.loads((vectors / "flo_signatures.json").read_text())["vectors"]


def test_every_real_signature_verifies(vectors):
    for v in _vectors(vectors):
        assert flo.verify_message(v["address"], v["signature"], v["message"]), v["source"]
        assert flo.address_network(v["address"]) == v["network"]


def _flip_char(text: str, i: int) -> str:
    ch = text[i]
    return text[:i] + ("A" if ch != "A" else "B") + text[i + 1:]


def test_any_changed_character_fails(vectors):
    for v in _vectors(vectors):
        for i in range(0, len(v["message"]), 5):
            assert not flo.verify_message(v["address"], v["signature"], _flip_char(v["message"], i))
        for i in range(1, len(v["address"])):
            assert not flo.verify_message(_flip_char(v["address"], i), v["signature"], v["message"])
        for i in range(len(v["signature"]) - 2):  # the last chars may be base64 padding bits
            assert not flo.verify_message(v["address"], _flip_char(v["signature"], i), v["message"])


def test_garbage_signatures_are_false_not_exceptions():
    addr = flo.PrivateKey.from_seed("x").address
    for sig in ["", "not base64!", base64.b64encode(b"\x1f" + b"\0" * 64).decode(), base64.b64encode(b"x" * 10).decode()]:
        assert flo.verify_message(addr, sig, "m") is False
    assert flo.verify_message("not-an-address", "IMjn", "m") is False


@pytest.mark.parametrize("network", ["mainnet", "testnet"])
@pytest.mark.parametrize("compressed", [True, False])
def test_sign_verify_and_wif_round_trip(network, compressed):
    key = flo.PrivateKey(flo.PrivateKey.from_seed(f"k{network}").secret, network, compressed)
    assert key.address[0] == ("F" if network == "mainnet" else "o")
    again = flo.PrivateKey.from_wif(key.to_wif())
    assert again == key
    sig = key.sign_message("Qm…-address-123 ünïcode")
    header = base64.b64decode(sig)[0]
    assert (31 <= header <= 34) if compressed else (27 <= header <= 30)
    assert flo.verify_message(key.address, sig, "Qm…-address-123 ünïcode")
    assert not flo.verify_message(key.address, sig, "Qm…-address-124 ünïcode")
    other = flo.PrivateKey.from_seed("other", network)
    assert not flo.verify_message(other.address, sig, "Qm…-address-123 ünïcode")


def test_wif_rejects_other_coins_and_bad_checksum():
    key = flo.PrivateKey.from_seed("w")
    raw = flo.b58check_decode(key.to_wif())
    with pytest.raises(ValueError, match="version byte 128"):
        flo.PrivateKey.from_wif(flo.b58check_encode(b"\x80" + raw[1:]))  # a Bitcoin mainnet WIF
    with pytest.raises(ValueError, match="checksum"):
        flo.PrivateKey.from_wif(_flip_char(key.to_wif(), 10))


def test_known_mainnet_wif_prefix():
    # FLO mainnet WIF version 163 gives keys starting with 'R' (compressed); testnet 239 gives 'c'.
    assert flo.PrivateKey.from_seed("a", "mainnet").to_wif()[0] == "R"
    assert flo.PrivateKey.from_seed("a", "testnet").to_wif()[0] == "c"
