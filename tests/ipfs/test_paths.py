"""The one IPFS-path parser: every spelling a user may paste, and what it refuses (naming the input)."""

from __future__ import annotations

import pytest

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.paths import IpfsPath, IpfsPathError, parse_ipfs_path
from etdb_explore.util.base58 import b58encode

V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
V1 = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"
RAW = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
CBOR = str(CID.for_block(b"{}", codec=0x71))  # dag-cbor: bafyrei…, neither Qm, bafy nor bafk
IDENTITY = str(CID(1, 0x55, 0x00, b"tiny"))  # bafkqa…


def _base36(cid: str) -> str:
    value = int.from_bytes(CID.decode(cid).bytes, "big")
    digits = ""
    while value:
        value, d = divmod(value, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + digits
    return "k" + digits


def _base58(cid: str) -> str:
    return "z" + b58encode(CID.decode(cid).bytes)


VALID = [
    # plain CIDs and CID/path
    (V0, V0, ""),
    (f"{V0}/rawdata/ts.mrc", V0, "rawdata/ts.mrc"),
    (V1, V1, ""),
    (f"{V1}/a", V1, "a"),
    (f"{RAW}", RAW, ""),
    (f"{CBOR}/x", CBOR, "x"),
    (IDENTITY, IDENTITY, ""),
    (f"{V1.upper()}/a", V1, "a"),  # multibase B: base32 upper case
    (f"{_base36(V1)}/a", V1, "a"),  # multibase k: base36
    (f"{_base58(V1)}/a", V1, "a"),  # multibase z: base58btc
    ("f" + CID.decode(V1).bytes.hex() + "/a", V1, "a"),  # multibase f: base16
    (f"  {V0}/a/b/\n", V0, "a/b"),  # pasted with blanks
    (f"{V0}//a///b/", V0, "a/b"),  # empty segments dropped
    (f"{V0}/100%25 raw #1?.mrc", V0, "100%25 raw #1?.mrc"),  # plain paths are literal
    # /ipfs/ paths
    (f"/ipfs/{V0}/a/b.mrc", V0, "a/b.mrc"),
    (f"/ipfs/{V1}", V1, ""),
    (f"ipfs/{V0}/a", V0, "a"),
    (f"/IPFS/{V0}/a", V0, "a"),
    # ipfs:// and dweb: URIs are percent-decoded
    (f"ipfs://{V0}/a%20b.mrc", V0, "a b.mrc"),
    (f"ipfs://{V1}/a?filename=x#top", V1, "a"),
    (f"ipfs://{_base36(V1)}", V1, ""),
    (f"dweb:/ipfs/{V0}/a%2Cb", V0, "a,b"),
    # etdb:// is fsspec's: literal
    (f"etdb://{V0}/rawdata/a%20b.mrc", V0, "rawdata/a%20b.mrc"),
    (f"etdb://{V1}/", V1, ""),
    # gateway URLs, path style
    (f"https://ipfs.io/ipfs/{V0}/3dimage_1/a%20b.rec", V0, "3dimage_1/a b.rec"),
    (f"http://127.0.0.1:8080/ipfs/{V1}/x?format=car&dag-scope=entity", V1, "x"),
    (f"https://gw.example.org/ipfs/{V0}", V0, ""),
    # gateway URLs, subdomain style
    (f"https://{V1}.ipfs.dweb.link/rawdata/ts.mrc", V1, "rawdata/ts.mrc"),
    (f"http://{_base36(V1)}.ipfs.localhost:8080/a%23b", V1, "a#b"),
    (f"https://{RAW}.ipfs.w3s.link", RAW, ""),
]

INVALID = [
    ("", "no CID"),
    ("   ", "no CID"),
    ("/ipfs/", "no CID"),
    ("etdb://", "no CID"),
    ("Qm123/a", "is not a CID"),
    ("hello/world", "is not a CID"),
    ("8a07e957deadbeef", "is not a CID"),  # a txid prefix is not a path
    (f"{V0[:-1]}O/a", "is not a CID"),  # base58 has no O
    (f"/ipns/{V1}/a", "IPNS"),
    (f"ipns://{V1}", "IPNS"),
    (f"https://{V1}.ipns.dweb.link/a", "IPNS"),
    ("https://example.org/index.html", "gateway URL"),
    ("https://example.org/ipfs/notacid/a", "is not a CID"),
    (f"{V0}/a/../b", "cannot name"),
    (f"/ipfs/{V0}/./b", "cannot name"),
    (f"ipfs://{V0}/a%2Fb", "cannot name"),  # a decoded slash inside one name
    (f"ipfs://{V0}/%ff", "percent-encoding"),
    (None, "NoneType"),
    (42, "int"),
]


@pytest.mark.parametrize(("text", "cid", "path"), VALID, ids=[repr(v[0])[:60] for v in VALID])
def test_parses_every_accepted_spelling(text, cid, path):
    parsed = parse_ipfs_path(text)
    assert parsed == IpfsPath(CID.decode(cid), path)
    assert parse_ipfs_path(str(parsed)) == parsed  # the canonical form reads back unchanged


@pytest.mark.parametrize(("text", "why"), INVALID, ids=[repr(v[0])[:60] for v in INVALID])
def test_refuses_and_names_the_input(text, why):
    with pytest.raises(IpfsPathError, match=why) as caught:
        parse_ipfs_path(text)
    assert repr(text) in str(caught.value) and isinstance(caught.value, (EtdbError, ValueError))


def test_cids_and_parsed_paths_pass_through():
    cid = CID.decode(V1)
    assert parse_ipfs_path(cid) == IpfsPath(cid) and str(IpfsPath(cid)) == V1
    parsed = IpfsPath(cid, "a/b")
    assert parse_ipfs_path(parsed) is parsed and parsed.segments == ("a", "b") and IpfsPath(cid).segments == ()
    with pytest.raises(AttributeError):
        parsed.path = "c"  # frozen


def test_a_huge_hostile_cid_is_refused_quickly_with_a_short_message():
    from etdb_explore.ipfs.formats.cid import CID, CIDError

    with pytest.raises(CIDError) as err:
        CID.decode("z" + "1" * 200_000)
    assert len(str(err.value)) < 400
