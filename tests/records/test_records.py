"""Parsing every record shape, go-etdb-exact serialization and signatures, on the real ETDB record."""

from __future__ import annotations

import copy
import json

import pytest

from etdb_explore.errors import RecordError
from etdb_explore.records import (
    Record,
    flo,
    parse_message,
    parse_record,
    serialize_artifact,
)
from etdb_explore.records.schema import ARTIFACT_KEYS, DETAILS_KEYS, FILE_KEYS

TXID = "8a07e957cce6473887e8f9d042b0a3b95fc7dd2b9110b4a37890887de6528f10"


def test_real_record_parses_and_verifies(etdb_record):
    record = parse_record(etdb_record)
    assert record.source == "oipd"
    assert record.txid == TXID and record.block == 2783156
    assert record.location == "Qmat8i2pn4WnnMiPQcKsKJZahr1scUbuUyXjgSuCPBcsYY"
    assert record.preimage == "Qmat8i2pn4WnnMiPQcKsKJZahr1scUbuUyXjgSuCPBcsYY-FTSTq8xx8yWUKJA5E3bgXLzZqqG9V6dvnr-1528156632"
    assert record.verify()
    assert len(record.files) == 10 and record.details["NCBItaxID"] == 273057


def _keys_in_order(text: str, keys: tuple[str, ...], within: str) -> list[str]:
    present = [k for k in keys if f'"{k}":' in within]
    positions = [within.index(f'"{k}":') for k in present]
    assert positions == sorted(positions), f"keys out of Go order: {present}"
    return present


def test_serialization_follows_go_etdb(etdb_record):
    text = parse_record(etdb_record).to_json()
    assert text.startswith('{"floAddress":"FTSTq8xx8yWUKJA5E3bgXLzZqqG9V6dvnr","timestamp":1528156632,'
                           '"type":"research","subtype":"tomogram","info":{"title":"Sulfolobus solfac.P2+STIV",')
    assert text.endswith('"signature":"IEoXQRwrF5AqT8imORattfcyin2xGDBHx2vpSLZf6+NHPT6G/TMhrDmWXyN8FasxV9zP9hopExx/'
                         'yuFFrqoEsdM="}')
    details = text[text.index('"details":'):text.index('"storage":')]
    assert _keys_in_order(text, ARTIFACT_KEYS, text)[-1] == "signature"
    _keys_in_order(text, DETAILS_KEYS, details)
    assert '"tiltSingleDual":1,"defocus":-10,"dosage":180,"tiltConstant":1,"tiltMin":-55,"tiltMax":55,"tiltStep":1,' \
           '"magnification":22500,' in details
    assert '\\r\\nicosahedral virus' in details and "\n" not in text
    first_file = text[text.index('"files":[{') + 9:text.index("}", text.index('"files":[{'))]
    assert first_file == ('{"dname":"rr2014-01-14-5_slicer3727.jpg","fname":"AutoCaps/rr2014-01-14-5_slicer3727.jpg",'
                          '"fsize":157176,"type":"tomogram","subtype":"snapshot","fNotes":"STIV turrets"')
    for f in json.loads(text)["storage"]["files"]:
        order = [k for k in FILE_KEYS if k in f]
        assert list(f) == order
    # compact separators, raw non-ASCII: the same bytes as a compact re-dump (the record has no < > &)
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def test_go_escaping_and_numbers():
    artifact = {"floAddress": "F", "timestamp": 1, "type": "research", "subtype": "tomogram",
                "info": {"title": "a<b>&c é\u2028", "nsfw": False},
                "details": {"defocus": "-7.5", "dosage": 0, "magnification": 27500.0, "tiltStep": 0.1,
                            "NCBItaxID": "666", "speciesName": "V"}}
    text = serialize_artifact(parse_record(artifact).artifact)
    assert '"title":"a\\u003cb\\u003e\\u0026c é\\u2028"' in text
    assert '"NCBItaxID":666' in text and '"defocus":-7.5' in text and '"magnification":27500' in text
    assert '"tiltStep":0.1' in text
    assert "dosage" not in text and "nsfw" not in text  # omitempty


def test_round_trip_is_lossless(etdb_record):
    first = parse_record(etdb_record)
    for shape in (first.to_flodata(), first.to_json(), {"oip042": {"artifact": json.loads(first.to_json())},
                                                       "txid": TXID, "publisher": first.publisher}):
        again = parse_record(shape)
        assert again.artifact == first.artifact
        assert again.to_json() == first.to_json()
        assert again.verify()


def test_key_spellings_and_string_numbers(etdb_record):
    art = copy.deepcopy(etdb_record["artifact"])
    details = art["details"]
    details["NCBITaxID"] = str(details.pop("NCBItaxID"))
    details["tiltMin"] = "-55"
    details["magnification"] = "22500"
    art["type"], art["subtype"] = "Research", "Tomogram"
    for f in art["storage"]["files"]:
        if "cType" in f:
            f["ctype"] = f.pop("cType")
        f["fName"] = f.pop("fname")
        f["fsize"] = str(f["fsize"])
    record = parse_record({"oip042": {"artifact": art}, "txid": TXID, "publisher": art["floAddress"]})
    assert record.source == "v2"
    assert record.details["NCBItaxID"] == 273057 and record.details["tiltMin"] == -55.0
    assert record.files[-1]["cType"] == "video/x-flv" and record.files[4]["fsize"] == 623617024
    assert record.is_tomogram() and record.verify()


def test_legacy_nbci_spelling_kept_distinct():
    record = parse_record({"floAddress": "F", "details": {"NBCItaxID": 666}})
    assert record.details == {"NBCItaxID": 666}
    assert '"NBCItaxID":666' in record.to_json()


def test_metadata_json_shape(etdb_record):
    record = parse_record(json.dumps(etdb_record["artifact"]))
    assert record.source == "metadata" and record.verify()


@pytest.mark.parametrize("bad, match", [
    ("json:{not json", "malformed JSON"),
    ('{"foo": 1}', "unknown record shape"),
    ("[1, 2]", "expected a JSON object"),
    ('json:{"oip042":{"register":{}}}', "unknown OIP 0.42 message"),
    ("hello", "malformed JSON"),
    ('{"artifact": {"details": {"tiltMin": "steep"}}, "meta": {"txid": "ab"}}', r"record ab: .*tiltMin.*not a valid number"),
    ('{"artifact": {"storage": {"files": {"fname": "x"}}}, "meta": {}}', "files must be a list"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"floAddress": 5}', "floAddress: 5 is not a string"),
    ("[" * 100, "nests deeper than 64"),
    ('{"oip042": [1]}', "oip042 must be a JSON object"),
    ('{"oip042": {"publish": "x"}}', "publish must be a JSON object"),
    ('{"artifact": {}, "meta": {"txid": ["x"]}}', "txid must be a string"),
    ('{"artifact": {}, "meta": {"block": "x"}}', "block must be an integer"),
    ('{"artifact": {"x": -Infinity}, "meta": {}}', "-Infinity is not JSON"),
    (3.5, "expected a JSON object, got 3.5"),
])
def test_bad_input_names_the_culprit(bad, match):
    with pytest.raises(RecordError, match=match):
        parse_record(bad)


def test_changed_field_breaks_signature(etdb_record):
    for path, value in ((("storage", "location"), "QmOther"), (("floAddress",), "FDxa2dUXPw592svsebdHfGRHxB46DKWVUy"),
                        (("timestamp",), 1528156633)):
        art = copy.deepcopy(etdb_record["artifact"])
        node = art
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        assert not parse_record(art).verify(), path
    art = copy.deepcopy(etdb_record["artifact"])
    art["info"]["title"] = "changed"  # the title is not covered by the OIP 0.42 signature
    assert parse_record(art).verify()


def test_sign_and_publish_message_round_trip(etdb_record):
    key = flo.PrivateKey.from_seed("lab", "testnet")
    record = parse_record(etdb_record).signed(key)
    assert record.publisher == key.address and record.verify()
    message = parse_message(record.to_flodata(), txid="ff" * 32, block=10)
    assert isinstance(message, Record) and message.txid == "ff" * 32 and message.verify()


@pytest.mark.parametrize("flodata, match", [
    (b"json:\xff", "not UTF-8"),
    (None, "must be text"),
    ('json:{"oip042":{"edit":{"artifact":{"txid":"ab","patch":{"replace":[1]}}}}}', "list of objects"),
    ('json:{"oip042":{"edit":{"artifact":{"txid":["ab"],"patch":[]}}}}', "edit txid must be a string"),
    ('json:{"oip042":{"edit":{"artifact":{"txid":"ab","patch":[]},"signature":7}}}', "signature must be a string"),
    ('json:{"oip042":{"deactivate":{"artifact":{"artifactID":"ab","timestamp":1e400}}}}', "does not fit a float64"),
    ('json:{"oip042":{"deactivate":{"artifact":{"artifactID":"ab","timestamp":1.5}}}}', "not a valid integer"),
])
def test_bad_messages_name_the_transaction(flodata, match):
    with pytest.raises(RecordError, match=match):
        parse_message(flodata, txid="ab" * 32)
