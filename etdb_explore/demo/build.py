"""Building the embedded demo ETDB: synthetic datasets laid out like real ETDB ones, in the local store, signed.

Each dataset: a cell phantom; its tilt-series, projected over the record's tilt scheme with shot noise
(``rawdata/<sid>.mrc`` plus ``rawdata/<sid>.rawtlt``); a weighted back-projection of that tilt-series
(``3dimage_<n>/<sid>_full.rec``); key image and thumbnail JPEGs. Each folder is added to the store with Kubo's
default profile (so locations are ``Qm…`` as in the real archive) and described by a Research-Tomogram record
signed with the demo testnet key and tagged as demo. Everything is seeded: the same seed builds the same CIDs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np

from etdb_explore.demo.phantom import PhantomSpec, make_phantom
from etdb_explore.demo.sample import DEMO_TAGS
from etdb_explore.demo.tomography import back_project, project
from etdb_explore.ipfs.build.importer import KUBO_DEFAULT, add_directory
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.records import Record, normalize_artifact
from etdb_explore.records.flo import PrivateKey
from etdb_explore.util.files import atomic_write

DEMO_KEY_SEED = "etdb-explore demo ETDB key"
DEMO_SPECIES: tuple[tuple[str, int, str], ...] = (
    ("Vibrio cholerae", 666, "flagellar motor"), ("Caulobacter crescentus", 155892, "chemoreceptor array"),
    ("Escherichia coli", 562, "cell division"), ("Bdellovibrio bacteriovorus", 959, "predation"),
    ("Helicobacter pylori", 210, "flagellar motor"), ("Treponema primitia", 88058, "periplasmic flagella"),
    ("Legionella pneumophila", 446, "type IV secretion system"), ("Myxococcus xanthus", 34, "type IV pilus"),
    ("Borrelia burgdorferi", 139, "periplasmic flagella"), ("Sulfolobus solfataricus", 2287, "S-layer"),
)
SCOPES = ("Caltech Polara", "Caltech Titan Krios")
DATASETS = 32


@dataclass(frozen=True)
class DemoDataset:
    """The parameters of one demo dataset (everything else follows from its seed)."""

    index: int
    seed: int
    species: str
    taxid: int
    topic: str
    tilt_max: float
    tilt_step: float
    dual: bool
    defocus: float
    dosage: float
    scope: str
    date: int

    @property
    def sid(self) -> str:
        """The dataset's sample id, as ETDB ones are made (``demo<day>-<n>``); its file names start with it."""
        return f"demo{self.date // 86400 % 10000:04d}-{self.index + 1}"

    @property
    def angles(self) -> np.ndarray:
        """The tilt angles (degrees), -tilt_max to tilt_max by tilt_step."""
        return np.arange(-self.tilt_max, self.tilt_max + self.tilt_step / 2, self.tilt_step)


def plan(seed: int = 2018, count: int = DATASETS) -> list[DemoDataset]:
    """The parameters of ``count`` demo datasets, species in turn, the rest drawn from ``seed``.

    Returns:
        The datasets, the same for the same seed and count.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        species, taxid, topic = DEMO_SPECIES[i % len(DEMO_SPECIES)]
        out.append(DemoDataset(
            i, int(rng.integers(1 << 31)), species, taxid, topic,
            float(rng.choice([60, 60, 57, 54, 66])), float(rng.choice([2, 3, 3])), bool(rng.random() < 0.15),
            -float(rng.choice(np.arange(3, 12.5, 0.5))), float(rng.integers(60, 180)), str(rng.choice(SCOPES)),
            int(rng.integers(1230768000, 1514764800))))
    return out


def _write_mrc(path: Path, data: np.ndarray, pixel: float, label: str, when: int) -> None:
    """Write an MRC file whose bytes follow from its arguments alone: mrcfile's own first label, which holds the
    time of writing, is replaced by one dated ``when`` (UTC seconds), in mrcfile's layout."""
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = pixel
        stamp = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        mrc.header.label[0] = f"{'Created by etdb-explore demo':40s}{stamp:>39s} "
        mrc.header.nlabl = 1
        mrc.add_label(label)


def _jpeg(path: Path, image: np.ndarray, size: int | None = None) -> None:
    from matplotlib.figure import Figure

    lo, hi = np.percentile(image, [1, 99])
    scaled = np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)
    if size:
        step = max(1, image.shape[0] // size)
        scaled = scaled[::step, ::step]
    fig = Figure(figsize=(scaled.shape[1] / 100, scaled.shape[0] / 100), dpi=100)
    fig.figimage(scaled, cmap="gray", vmin=0, vmax=1)
    fig.savefig(path, format="jpg", dpi=100, pil_kwargs={"quality": 85})


# numpy's SIMD exp and log differ from its scalar ones in the last bits, so a CPU with other instructions would
# draw other counts from float32 exponentials: the two steps below keep the demo's bytes the same on every CPU.

def _expected_counts(line_integrals: np.ndarray, electrons: float) -> np.ndarray:
    """Mean electron counts behind ``line_integrals``, in float64 rounded to 1/1024 (a last-bit difference of
    ``exp`` then changes no count drawn)."""
    return np.round(electrons * np.exp(-line_integrals.astype(np.float64)) * 1024) / 1024


def _attenuation(counts: np.ndarray, electrons: float) -> np.ndarray:
    """-log(counts / electrons) as float32, through a table of the few distinct counts (each rounded once)."""
    values, inverse = np.unique(np.maximum(counts, 1), return_inverse=True)
    table = (-np.log(values / electrons)).astype(np.float32)
    return table[inverse].reshape(counts.shape)


def make_dataset(ds: DemoDataset, folder: Path, spec: PhantomSpec = PhantomSpec()) -> list[dict[str, Any]]:
    """Write one dataset's files under ``folder`` (which must not hold a ``rawdata`` folder yet).

    Returns:
        Their record file entries (``fname``, ``fsize``, ``type``, ``subtype``, ...), in the record's order.

    Raises:
        OSError: ``folder`` cannot be written, or already has ``rawdata`` (FileExistsError).
    """
    rng = np.random.default_rng(ds.seed)
    phantom = make_phantom(spec, rng)
    angles = ds.angles
    line_integrals = project(phantom, angles) * 0.04
    electrons = 80.0  # per pixel per image at zero tilt
    counts = rng.poisson(_expected_counts(line_integrals, electrons)).astype(np.int16)
    attenuation = _attenuation(counts, electrons)
    volume = back_project(attenuation, angles, spec.shape[0])
    lo, hi = np.percentile(volume, [0.1, 99.9])
    rec = (-(volume - lo) / max(hi - lo, 1e-6) * 2000 + 1000).astype(np.int16)  # dense = dark, as in cryo-ET
    (folder / "rawdata").mkdir(parents=True)
    recdir = folder / f"3dimage_{30000 + ds.index}"
    recdir.mkdir()
    _write_mrc(folder / "rawdata" / f"{ds.sid}.mrc", counts, spec.pixel, f"etdb-explore demo tilt-series {ds.sid}",
               ds.date)
    (folder / "rawdata" / f"{ds.sid}.rawtlt").write_text("".join(f"{a:.2f}\n" for a in angles))
    _write_mrc(recdir / f"{ds.sid}_full.rec", rec, spec.pixel, f"etdb-explore demo WBP of {ds.sid}", ds.date)
    _jpeg(folder / f"keyimg_{ds.sid}.jpg", rec[rec.shape[0] // 2])
    _jpeg(folder / f"keyimg_{ds.sid}_s.jpg", rec[rec.shape[0] // 2], size=64)

    def entry(rel: str, type_: str, subtype: str, **extra: Any) -> dict[str, Any]:
        return {"fname": rel, "fsize": (folder / rel).stat().st_size, "type": type_, "subtype": subtype, **extra}

    return [
        entry(f"rawdata/{ds.sid}.mrc", "tomogram", "tiltSeries", dname=f"{ds.sid}.mrc", software="etdb-explore"),
        entry(f"rawdata/{ds.sid}.rawtlt", "tomogram", "other", dname=f"{ds.sid}.rawtlt", fNotes="tilt angles"),
        entry(f"{recdir.name}/{ds.sid}_full.rec", "tomogram", "reconstruction", dname=f"{ds.sid}_full.rec",
              software="etdb-explore WBP"),
        entry(f"keyimg_{ds.sid}.jpg", "tomogram", "keyimg", cType="image/jpeg"),
        entry(f"keyimg_{ds.sid}_s.jpg", "image", "thumbnail", cType="image/jpeg"),
    ]


def _build_one(args: tuple[DemoDataset, str, PhantomSpec]) -> list[dict[str, Any]]:
    ds, folder, spec = args
    return make_dataset(ds, Path(folder), spec)


def demo_record(ds: DemoDataset, location: str, files: list[dict[str, Any]], key: PrivateKey) -> dict[str, Any]:
    """The record of one dataset stored at ``location``, signed with ``key``.

    Returns:
        The record in oipd's ``{"artifact", "meta"}`` form, its txid the double SHA-256 of its floData.
    """
    details = {
        "date": ds.date, "NCBItaxID": ds.taxid, "artNotes": f"Tilt series notes: {ds.species} {ds.topic} (demo)\n",
        "scopeName": ds.scope, "speciesName": ds.species, "tiltSingleDual": 2 if ds.dual else 1,
        "defocus": ds.defocus, "dosage": ds.dosage, "tiltConstant": 1, "tiltMin": -ds.tilt_max,
        "tiltMax": ds.tilt_max, "tiltStep": ds.tilt_step, "magnification": 22500.0, "microscopist": "demo",
        "institution": "etdb-explore", "lab": "demo lab", "sid": ds.sid,
    }
    artifact = {"timestamp": 1700000000 + ds.index, "type": "research", "subtype": "tomogram",
                "info": {"title": f"{ds.species} {ds.topic} (demo {ds.index + 1})", "tags": DEMO_TAGS,
                         "description": "etdb-explore demo dataset: synthetic phantom, not real data"},
                "details": details, "storage": {"network": "ipfs", "location": location, "files": files}}
    record = Record(normalize_artifact(artifact)).signed(key)
    txid = hashlib.sha256(hashlib.sha256(record.to_flodata().encode()).digest()).hexdigest()
    return {"artifact": record.artifact, "meta": {"txid": txid, "block": 3_000_000 + ds.index,
                                                  "time": record.timestamp + 20, "type": "oip042"}}


def build_demo(folder: Path, store: LocalStore, seed: int = 2018, count: int = DATASETS,
               workers: int | None = None, spec: PhantomSpec = PhantomSpec()) -> list[dict]:
    """Generate ``count`` datasets of ``spec``'s size (in parallel, under ``folder``) and add each to ``store``.

    Returns:
        The signed records, in oipd's ``{"artifact", "meta"}`` form (also written to ``folder/records.json``).

    Raises:
        OSError: ``folder`` or the store cannot be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    key = PrivateKey.from_seed(DEMO_KEY_SEED, "testnet")
    datasets = plan(seed, count)
    records = []
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        jobs = [(ds, str(Path(tmp) / ds.sid), spec) for ds in datasets]
        with ProcessPoolExecutor(workers or min(2, os.cpu_count() or 1)) as pool:
            for (ds, path, _), files in zip(jobs, pool.map(_build_one, jobs)):
                added = add_directory(Path(path), KUBO_DEFAULT, store)
                records.append(demo_record(ds, str(added.cid), files, key))
                shutil.rmtree(path)
    atomic_write(folder / "records.json", json.dumps(records))
    return records
