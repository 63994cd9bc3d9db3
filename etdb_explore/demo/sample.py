"""A synthetic, signed ETDB-scale index in the raw oipd JSON form (seeded and deterministic).

Used for the sample index of the main job, the tests and the benchmarks. The species, taxids, microscopes and
file layout follow real ETDB records; tilt schemes, defocus, dosage and dates follow the archive's spread.
Records are signed with a demo testnet key derived from the seed and marked as demo in their tags.
"""

from __future__ import annotations

import random
from typing import Any

from etdb_explore.records import Record, normalize_artifact
from etdb_explore.records.flo import PrivateKey

ETDB_SIZE = 11_293

# (species name, NCBI taxid, relative weight) — species frequently imaged in the ETDB.
SPECIES: tuple[tuple[str, int, int], ...] = (
    ("Vibrio cholerae", 666, 14), ("Caulobacter crescentus", 155892, 16), ("Escherichia coli", 562, 12),
    ("Helicobacter pylori", 210, 7), ("Bdellovibrio bacteriovorus", 959, 6), ("Treponema primitia", 88058, 4),
    ("Borrelia burgdorferi", 139, 5), ("Myxococcus xanthus", 34, 6), ("Legionella pneumophila", 446, 6),
    ("Salmonella enterica", 28901, 5), ("Campylobacter jejuni", 197, 5), ("Hylemonella gracilis", 80880, 3),
    ("Sulfolobus solfataricus", 2287, 2), ("Thermococcus kodakarensis", 311400, 2), ("Pseudomonas aeruginosa", 287, 5),
    ("Shewanella oneidensis", 70863, 4), ("Chlamydomonas reinhardtii", 3055, 3), ("Mycoplasma pneumoniae", 2104, 3),
    ("Acetonema longum", 2374, 2), ("Magnetospirillum magneticum", 84159, 3), ("Bacillus subtilis", 1423, 4),
    ("Proteus mirabilis", 584, 2), ("Agrobacterium tumefaciens", 358, 2), ("Hydrogenobacter thermophilus", 940, 1),
)
MICROSCOPES = (("Caltech Polara", 55), ("Caltech Titan Krios", 30), ("Caltech CM300", 10), ("Caltech Tecnai T12", 5))
MICROSCOPISTS = ("M. Beeby", "A. Briegel", "D. Ortega", "C. Oikonomou", "Y. Chang", "S. Chen", "P. Dalia", "B. Hu",
                 "E. Tocheva", "G. Murphy", "M. Swulius", "W. Yang", "J. Ding", "L. Pilhofer", "D. Rasika")
STRAINS = ("", "", "WT", "N16961", "CB15N", "MG1655", "26695", "K-12", "P2", "DK1622", "Lp02", "LT2", "81-176")
DEMO_TAGS = "etdb,jensen.lab,tomogram,electron.tomography,etdb-explore-demo"
DEMO_SEED = "etdb-explore demo ETDB"


def _weighted(rng: random.Random, items: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return rng.choices(items, weights=[i[-1] for i in items])[0]


def _files(rng: random.Random, sid: str, rec_id: int) -> list[dict[str, Any]]:
    nx = rng.choice((1024, 2048, 4096))
    tilts = rng.randint(41, 141)
    files = [
        {"fname": f"rawdata/{sid}.mrc", "dname": f"{sid}.mrc", "fsize": nx * nx * 2 * tilts + 1024,
         "software": rng.choice(("UCSFTomo", "SerialEM", "Leginon")), "type": "tomogram", "subtype": "tiltSeries"},
        {"fname": f"3dimage_{rec_id}/{sid}_full.rec", "dname": f"{sid}_full.rec",
         "fsize": (nx // 2) ** 2 * rng.randint(150, 400) * 2 + 1024, "software": rng.choice(("Raptor", "IMOD")),
         "type": "tomogram", "subtype": "reconstruction"},
        {"fname": f"keyimg_{sid}_s.jpg", "fsize": rng.randint(8000, 30000), "type": "image", "subtype": "thumbnail",
         "cType": "image/jpeg"},
        {"fname": f"keyimg_{sid}.jpg", "fsize": rng.randint(200_000, 1_500_000), "type": "tomogram",
         "subtype": "keyimg", "cType": "image/jpeg"},
    ]
    for _ in range(rng.choice((0, 0, 1, 2, 3))):
        n = rng.randint(1000, 20000)
        files.append({"fname": f"AutoCaps/{sid}_slicer{n}.jpg", "dname": f"{sid}_slicer{n}.jpg",
                      "fsize": rng.randint(100_000, 400_000), "type": "tomogram", "subtype": "snapshot"})
    if rng.random() < 0.5:
        files.append({"fname": f"keymov_{sid}.mp4", "fsize": rng.randint(5_000_000, 40_000_000), "type": "tomogram",
                      "subtype": "keymov", "cType": "video/mp4"})
    return files


def synthetic_artifact(rng: random.Random, i: int, publisher: str) -> dict[str, Any]:
    """One unsigned Research-Tomogram artifact with realistic values, the ``i``-th of ``publisher``.

    Returns:
        The artifact, normalized (see :func:`~etdb_explore.records.normalize_artifact`).
    """
    species, taxid, _ = _weighted(rng, SPECIES)
    date = rng.randint(1104537600, 1514764800)  # 2005 .. 2018
    initials = "".join(w[0] for w in rng.choice(MICROSCOPISTS).replace(".", "").split()).lower()
    sid = f"{initials}{(date // 86400) % 10000:04d}-{i % 97 + 1}"
    dual = rng.random() < 0.12
    tilt_max = rng.choice((55, 60, 60, 60, 63, 65, 65, 70))
    tilt_min = -tilt_max + rng.choice((0, 0, 0, 5, 10))
    step = rng.choice((1, 1, 1.5, 2, 2, 3))
    scope = _weighted(rng, MICROSCOPES)[0]
    return normalize_artifact({
        "floAddress": publisher,
        "timestamp": 1528000000 + i * 7,
        "type": "research",
        "subtype": "tomogram",
        "info": {"title": f"{species.split()[0][:6]}. {species.split()[1][:5]} {rng.choice(STRAINS)}".strip(),
                 "tags": DEMO_TAGS, "description": "etdb-explore synthetic record"},
        "details": {
            "date": date, "NCBItaxID": taxid, "artNotes": f"Tilt series notes: {species} "
            f"{rng.choice(('flagellar motor', 'chemoreceptor array', 'cell division', 'S-layer', 'phage infection', 'sporulation', 'cytoskeleton'))}\n",
            "scopeName": scope, "speciesName": species + (" " if rng.random() < 0.05 else ""),
            "strain": rng.choice(STRAINS), "tiltSingleDual": 2 if dual else 1,
            "defocus": -round(rng.uniform(2, 14) * 2) / 2, "dosage": float(rng.randint(40, 220)),
            "tiltConstant": 1, "tiltMin": float(tilt_min), "tiltMax": float(tilt_max), "tiltStep": float(step),
            "magnification": float(rng.choice((18000, 22500, 27500, 34000, 41000))),
            "microscopist": rng.choice(MICROSCOPISTS), "institution": "Caltech", "lab": "Jensen Lab", "sid": sid,
        },
        "storage": {"network": "ipfs", "location": "Qm" + "".join(rng.choices(
            "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", k=44)),
            "files": _files(rng, sid, 30000 + i)},
    })


def synthetic_records(n: int = ETDB_SIZE, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` signed records, deterministic for a seed (the key too is derived from it).

    Returns:
        The records in oipd's ``{"artifact", "meta"}`` form.
    """
    rng = random.Random(seed)
    key = PrivateKey.from_seed(f"{DEMO_SEED} {seed}", "testnet")
    out = []
    for i in range(n):
        record = Record(synthetic_artifact(rng, i, key.address)).signed(key)
        txid = f"{rng.getrandbits(256):064x}"
        out.append({"artifact": record.artifact, "meta": {"txid": txid, "block": 2_700_000 + i,
                                                          "time": record.timestamp + 14, "type": "oip042"}})
    return out
