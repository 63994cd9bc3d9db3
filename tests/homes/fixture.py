"""One tilt series in all three homes, plus a few more rows, written to a folder for the stand-ins.

- ETDB: a record with the 2-letter sid ``rr2014-01-14-5`` (signed by the test lab's key), its lab folder added to
  a local IPFS store as go-etdb added it (raw leaves, CIDv0 nodes); metadata-only records ``lg2007-08-11-14``,
  ``ycw2012-12-05-10``, ``sc2011-03-02-1`` (two archive candidates) and an ETDB-only ``zz2010-01-01-1``.
- CaltechDATA: InvenioRDM records for the 3-letter ids (``rra2014-01-14-5`` linking the OSN folder on renc,
  ``lga2007-08-11-14`` on sdsc, ``ycw2012-12-05-10`` without a description, ``sca``/``scb2011-03-02-1``), an
  embargoed 2021 record without links, messy technical HTML, a key image in the files API and a remote file whose
  content link redirects to OSN.
- OSN: the same bytes as the ETDB folder, under ``ini210004tommorrell/tomography_archive/rra2014-01-14-5/``.
- The portal: dataset 10112 with run ``rra2014-01-14-5``, its tilt series and tomogram rewritten as new MRCs
  (float32, new labels) and the tomogram as an OME-Zarr pyramid (v0.4, three levels).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from etdb_explore.demo import DEMO_SIZES
from etdb_explore.demo.build import DemoDataset, demo_record, make_dataset
from etdb_explore.demo.homes import ARCHIVE, BUCKET, rewrite_mrc, write_omezarr
from etdb_explore.index.index import Index
from etdb_explore.ipfs.build.importer import GO_ETDB, add_bytes, add_directory
from etdb_explore.ipfs.sources.store import LocalStore

from ..lab import LAB_KEY
from .invenio_standin import invenio_record

COMMUNITY = "0497183f-f3b1-483d-b8bb-133c731c939a"
SID, TILTID = "rr2014-01-14-5", "rra2014-01-14-5"
RENC, SDSC = "https://renc.osn.xsede.org", "https://sdsc.osn.xsede.org"
MESSY_TECHNICAL = (
    "&lt;strong&gt;Tilt Series Settings:&lt;/strong&gt;<br/>Tilt Range: -54° to 54°<br>"
    "Tilt Step:&nbsp;3°<br/><p>Dosage: 180 eV/&Aring;&sup2;</p>Defocus: -10 &mu;m<br>"
    "Magnification: 22500x<br>Microscope: Caltech Polara<br>Tilt Scheme: Single<br>")


@dataclass(frozen=True)
class NamedDataset(DemoDataset):
    """A demo dataset under a real-looking ETDB sid."""

    name: str = ""

    @property
    def sid(self) -> str:
        return self.name


def _date(text: str) -> int:
    return int(np.datetime64(text, "s").astype(np.int64))


@dataclass
class Homes:
    folder: Path
    store: LocalStore
    etdb: Index
    location: str
    invenio: list[dict[str, Any]]
    osn_root: Path
    portal_tables: dict[str, list[dict]]
    portal_files: Path

    def portal(self, base: str) -> dict[str, list[dict]]:
        """The portal's tables with file URLs under ``base`` (the file server's URL)."""
        out = {}
        for name, rows in self.portal_tables.items():
            out[name] = [{k: v.replace("{files}", base) if isinstance(v, str) else v for k, v in row.items()}
                         for row in rows]
        return out

    def caltech(self, osn: str) -> list[dict[str, Any]]:
        """The CaltechDATA records, remote file links redirecting to the OSN server at ``osn``."""
        out = []
        for record in self.invenio:
            files = [dict(f, remote=f["remote"].replace("{osn}", osn)) if "remote" in f else f
                     for f in record["_files"]]
            out.append(dict(record, _files=files))
        return out


def build_homes(folder: Path) -> Homes:
    folder.mkdir(parents=True, exist_ok=True)
    store = LocalStore(folder / "ipfs-store")
    ds = NamedDataset(0, 7, "Sulfolobus solfataricus", 273057, "STIV infection", 54.0, 3.0, False, -10.0, 180.0,
                      "Caltech Polara", _date("2014-01-14"), name=SID)
    lab = folder / "lab" / SID
    files = make_dataset(ds, lab, DEMO_SIZES["small"].phantom)
    location = str(add_directory(lab, GO_ETDB, store).cid)
    other = str(add_bytes(b"metadata-only dataset", GO_ETDB).cid)
    records = [demo_record(ds, location, files, LAB_KEY)]
    for i, (sid, species, taxid, date) in enumerate((
            ("lg2007-08-11-14", "Caulobacter crescentus", 155892, "2007-08-11"),
            ("ycw2012-12-05-10", "Vibrio cholerae", 666, "2012-12-05"),
            ("sc2011-03-02-1", "Vibrio cholerae", 666, "2011-03-02"),
            ("zz2010-01-01-1", "Escherichia coli", 562, "2010-01-01")), 1):
        meta = NamedDataset(i, 8 + i, species, taxid, "cells", 60.0, 2.0, False, -8.0, 120.0, "Caltech Polara",
                            _date(date), name=sid)
        records.append(demo_record(meta, other, [{"fname": f"rawdata/{sid}.mrc", "fsize": 1000, "type": "tomogram",
                                                  "subtype": "tiltSeries"}], LAB_KEY))
    etdb = Index.from_records(records, source="etdb fixture")

    osn_root = folder / "osn"
    shutil.copytree(lab, osn_root / BUCKET / ARCHIVE / TILTID)
    keyimg = (lab / f"keyimg_{SID}.jpg").read_bytes()
    folder_link = f"{RENC}/{BUCKET}/{ARCHIVE}/{TILTID}/"
    invenio = [
        invenio_record("rc4m6-8qj12", TILTID, title="Sulfolobus solfataricus STIV infection",
                       subjects=("Sulfolobus solfataricus", "strain: P2", "Caltech Polara", "Electron Tomography"),
                       collected="2014-01-14", technical=MESSY_TECHNICAL,
                       files_description=f'Files available via S3 at <a href="{folder_link}">{folder_link}</a>',
                       files=[{"key": f"keyimg_{SID}.jpg", "data": keyimg},
                              {"key": f"rawdata/{SID}.rawtlt", "size": (lab / f"rawdata/{SID}.rawtlt").stat().st_size,
                               "remote": f"{{osn}}/{BUCKET}/{ARCHIVE}/{TILTID}/rawdata/{SID}.rawtlt"}]),
        invenio_record("2c61m-8fs76", "lga2007-08-11-14", title="Caulobacter crescentus cells",
                       subjects=("Caulobacter crescentus",), collected="2007-08-11",
                       technical="<b>Tilt range:</b> -60 to 60<br><b>Dosage:</b> 120 eV/Å²",
                       files_description=(f'Files available via S3 at <a href="{SDSC}/{BUCKET}/{ARCHIVE}/'
                                          f'lga2007-08-11-14/rawdata/lga2007-08-11-14.mrc">tilt series</a>')),
        invenio_record("trk2n-crd64", "ycw2012-12-05-10", title="Vibrio cholerae", subjects=("Vibrio cholerae",),
                       collected="2012-12-05", description=None),
        invenio_record("aaaa1-00001", "sca2011-03-02-1", title="Vibrio cholerae cells", subjects=("Vibrio cholerae",),
                       collected="2011-03-02"),
        invenio_record("aaaa2-00002", "scb2011-03-02-1", title="Escherichia coli minicells",
                       subjects=("Escherichia coli",), collected="2011-03-02"),
        invenio_record("emb21-00003", "gca2021-09-10-347", title="Embargoed 2021 series",
                       subjects=("Bdellovibrio bacteriovorus",), collected="2021-09-10", restricted=True),
    ]

    portal_files = folder / "portal"
    run_dir = portal_files / "10112" / TILTID
    ts = rewrite_mrc(lab / f"rawdata/{SID}.mrc", run_dir / f"TiltSeries/{TILTID}.mrc", "portal rewrite")
    tomo_name = next(p for p in (lab).rglob("*_full.rec"))
    tomo = rewrite_mrc(tomo_name, run_dir / f"Tomograms/100/{TILTID}.mrc", "portal rewrite")
    write_omezarr(run_dir / f"Tomograms/100/{TILTID}.zarr", tomo, 10.0)
    tables = {
        "datasets": [{"id": 10112, "title": "STIV infection of Sulfolobus solfataricus",
                      "description": "part of Caltech Jensen lab etdb", "organismName": "Sulfolobus solfataricus",
                      "organismTaxid": 273057}],
        "runs": [{"id": 5001, "name": TILTID, "datasetId": 10112},
                 {"id": 5002, "name": "gca2021-09-10-347", "datasetId": 10112}],
        "tiltseries": [{"id": 9001, "runId": 5001, "tiltMin": -54.0, "tiltMax": 54.0, "tiltStep": 3.0,
                        "totalFlux": 150.0, "pixelSpacing": 10.0, "microscopeManufacturer": "FEI",
                        "microscopeModel": "Polara", "tiltingScheme": "min to max tilt",
                        "httpsMrcFile": f"{{files}}/10112/{TILTID}/TiltSeries/{TILTID}.mrc", "httpsOmezarrDir": None,
                        "fileSizeMrc": float((run_dir / f"TiltSeries/{TILTID}.mrc").stat().st_size)}],
        "tomograms": [{"id": 7001, "runId": 5001, "voxelSpacing": 10.0,
                       "httpsMrcFile": f"{{files}}/10112/{TILTID}/Tomograms/100/{TILTID}.mrc",
                       "httpsOmezarrDir": f"{{files}}/10112/{TILTID}/Tomograms/100/{TILTID}.zarr",
                       "fileSizeMrc": float((run_dir / f"Tomograms/100/{TILTID}.mrc").stat().st_size)}],
    }
    assert ts.shape[0] == len(ds.angles)
    return Homes(folder, store, etdb, location, invenio, osn_root, tables, portal_files)
