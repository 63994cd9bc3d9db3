"""The homes of the ETDB data: harvest throughput, the joined index, and a first look from an OME-Zarr pyramid.

1. Harvest throughput per source from the stand-ins on 127.0.0.1 (tests/homes): CaltechDATA (InvenioRDM, pages of
   100, the files API for one record in ten) and the CZ portal (GraphQL, pages of 500): records per second.
2. The joined index from snapshots of 45,000 CaltechDATA + 12,757 portal + 11,293 ETDB rows (the real homes'
   sizes; ids as they are spelled there: 3-letter archive ids, 2-letter ETDB sids for most): reading the three
   snapshots and ``join_homes``. Target ≤ 2 s.
3. Time to a first look at a 128×1024×1024 float32 tomogram (512 MiB) from the portal's file server: the central
   section of the coarsest OME-Zarr level (``open_pyramid(...).preview()``) vs downloading the full MRC and reading
   its central section with mrcfile (the baseline), and vs the MRC's central section read lazily by HTTP ranges.

Prints medians of 3 runs and ends with a one-line summary.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import mrcfile  # noqa: E402
import numpy as np  # noqa: E402

from etdb_explore.content.homes import HomeReader, HttpFile  # noqa: E402
from etdb_explore.demo.sample import synthetic_records  # noqa: E402
from etdb_explore.index.homeframe import home_index  # noqa: E402
from etdb_explore.index.index import Index  # noqa: E402
from etdb_explore.index.joined import join_homes  # noqa: E402
from etdb_explore.index.loading import load_home  # noqa: E402
from etdb_explore.index.sources.caltechdata import CaltechDataSource  # noqa: E402
from etdb_explore.index.sources.czportal import CzPortalSource  # noqa: E402
from etdb_explore.util import bridge  # noqa: E402
from etdb_explore.volumes.omezarr import open_pyramid  # noqa: E402
from etdb_explore.volumes.volume import Volume  # noqa: E402
from etdb_explore.demo.homes import write_omezarr  # noqa: E402
from tests.homes.fixture import COMMUNITY, MESSY_TECHNICAL  # noqa: E402
from tests.homes.invenio_standin import InvenioStandIn, invenio_record  # noqa: E402
from tests.homes.portal_standin import PortalStandIn  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyz"



class Background:
    """An event loop in a thread, for the stand-ins."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def archive_ids(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out = set()
    while len(out) < n:
        day = rng.randint(0, 16 * 365)
        date = time.strftime("%Y-%m-%d", time.gmtime(1072915200 + day * 86400))
        out.add(f"{rng.choice(LETTERS)}{rng.choice(LETTERS)}{rng.choice(LETTERS)}{date}-{rng.randint(1, 400)}")
    return sorted(out)


def median(fn, runs: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def harvest(bg: Background) -> tuple[float, float]:
    ids = archive_ids(3000)
    records = [invenio_record(f"r{i:05d}", t, title=f"series {t}", subjects=("Vibrio cholerae",),
                              collected=t[3:13], technical=MESSY_TECHNICAL,
                              files=[{"key": f"keyimg_{t}.jpg", "data": b"x" * 100}] if i % 10 == 0 else None)
               for i, t in enumerate(ids)]
    invenio = bg.run(InvenioStandIn(records, COMMUNITY).__aenter__())
    try:
        seconds, idx = median(lambda: load_home(CaltechDataSource(invenio.url, COMMUNITY, size=100)))
        assert len(idx.datasets) == len(ids)
        caltech_rate = len(ids) / seconds
        print(f"CaltechDATA harvest: {len(ids)} records (+{len(ids) // 10} files API calls) in {seconds:.2f} s "
              f"= {caltech_rate:,.0f} records/s")
    finally:
        bg.run(invenio.__aexit__(None, None, None))
    runs = [{"id": i, "name": t, "datasetId": 10014 + i % 287} for i, t in enumerate(ids)]
    tables = {"datasets": [{"id": 10014 + i, "title": f"d{i}", "description": "etdb", "organismName": "Vibrio cholerae",
                            "organismTaxid": 666} for i in range(287)],
              "runs": runs,
              "tiltseries": [{"id": r["id"], "runId": r["id"], "tiltMin": -60.0, "tiltMax": 60.0, "tiltStep": 1.0,
                              "totalFlux": 120.0, "pixelSpacing": 10.0, "microscopeManufacturer": "FEI",
                              "microscopeModel": "Polara", "tiltingScheme": "min to max tilt",
                              "httpsMrcFile": f"http://x/{r['name']}.mrc", "httpsOmezarrDir": None,
                              "fileSizeMrc": 1e9} for r in runs],
              "tomograms": [{"id": r["id"], "runId": r["id"], "voxelSpacing": 10.0, "httpsMrcFile": None,
                             "httpsOmezarrDir": f"http://x/{r['name']}.zarr", "fileSizeMrc": None} for r in runs]}
    with tempfile.TemporaryDirectory() as tmp:
        portal = bg.run(PortalStandIn(tables, Path(tmp)).__aenter__())
        try:
            seconds, idx = median(lambda: load_home(CzPortalSource(portal.graphql_url, page=500)))
            assert len(idx.datasets) == len(ids)
            portal_rate = len(ids) / seconds
            print(f"CZ portal harvest: {len(ids)} runs in {seconds:.2f} s = {portal_rate:,.0f} runs/s")
        finally:
            bg.run(portal.__aexit__(None, None, None))
    return caltech_rate, portal_rate


def joined(folder: Path) -> float:
    ids = archive_ids(45_000)
    caltech = home_index("caltechdata", [
        {"txid": f"caltechdata:r{i}", "tiltid": t, "title": f"series {t}", "species": "Vibrio cholerae",
         "tilt_min": -60.0, "tilt_max": 60.0, "dosage": 120.0, "mirror_url": f"https://sdsc.osn.xsede.org/b/{t}/"}
        for i, t in enumerate(ids)], [])
    portal_ids = random.Random(2).sample(ids, 12_757)
    portal = home_index("czportal", [
        {"txid": f"czportal:{i}", "tiltid": t, "species": "Vibrio cholerae", "ncbi_taxid": 666, "tilt_min": -60.0,
         "tilt_max": 60.0, "total_flux": 120.0 if i % 7 else 90.0} for i, t in enumerate(portal_ids)], [])
    etdb = Index.from_records(synthetic_records(11_293, seed=5))
    rng = random.Random(3)
    sids = [t[:2] + t[3:] if rng.random() < 0.8 else t for t in rng.sample(ids, 11_293)]
    etdb.datasets["sid"] = pd_string(sids)
    for name, index in (("caltech", caltech), ("portal", portal), ("etdb", etdb)):
        index.to_snapshot(folder / name)

    def build():
        parts = [Index.from_snapshot(folder / name) for name in ("etdb", "caltech", "portal")]
        return join_homes(*parts)

    build()  # warm the imports
    cpu = time.process_time()
    seconds, idx = median(build, runs=5)
    cpu = (time.process_time() - cpu) / 5
    ds = idx.datasets
    print(f"joined index from snapshots of 45,000 + 12,757 + 11,293 rows: {seconds:.2f} s median of 5 "
          f"({cpu:.2f} s CPU each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores) "
          f"({len(ds):,} rows; matches: {ds['match'].value_counts().to_dict()}; "
          f"{ds['conflicts'].notna().sum():,} rows with conflicts)")
    return seconds


def pd_string(values):
    import pandas as pd

    return pd.Series(values, dtype="string")


def preview(bg: Background, folder: Path) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    data = rng.standard_normal((128, 1024, 1024), dtype=np.float32)
    files = folder / "portal"
    (files / "t").mkdir(parents=True)
    with mrcfile.new(files / "t" / "tomo.mrc") as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 10.0
    write_omezarr(files / "t" / "tomo.zarr", data, 10.0, levels=4)
    server = bg.run(PortalStandIn({}, files).__aenter__())
    try:
        url = f"{server.files_url}/t"

        def first_look_zarr():
            return open_pyramid(f"{url}/tomo.zarr").preview()

        def first_look_lazy_mrc():
            reader = HomeReader()
            try:
                source = HttpFile(reader, f"{url}/tomo.mrc", (files / "t" / "tomo.mrc").stat().st_size, "rewritten")
                volume = Volume.open(source)
                return volume[volume.shape[0] // 2]
            finally:
                bridge.run(reader.close())

        def first_look_mrc():
            async def fetch() -> None:
                async with aiohttp.ClientSession() as session, session.get(f"{url}/tomo.mrc") as response:
                    with open(folder / "download.mrc", "wb") as out:  # noqa: ASYNC230 (the baseline: a plain fetch)
                        async for chunk in response.content.iter_chunked(4 << 20):
                            out.write(chunk)

            asyncio.run(fetch())
            with mrcfile.mmap(folder / "download.mrc") as mrc:
                return np.array(mrc.data[mrc.data.shape[0] // 2])

        zarr_s, small = median(first_look_zarr)
        lazy_s, full_section = median(first_look_lazy_mrc)
        mrc_s, section = median(first_look_mrc)
        assert small.shape == (128, 128) and section.shape == full_section.shape == (1024, 1024)
        print(f"first look at a 128×1024×1024 float32 tomogram (512 MiB): OME-Zarr coarsest level "
              f"{zarr_s * 1000:.0f} ms (64 KiB section); MRC central section by HTTP ranges {lazy_s * 1000:.0f} ms "
              f"(4 MiB); full MRC download + mrcfile {mrc_s * 1000:.0f} ms ({mrc_s / zarr_s:.0f}× and "
              f"{lazy_s / zarr_s:.1f}× slower than the pyramid)")
    finally:
        bg.run(server.__aexit__(None, None, None))
    return zarr_s, lazy_s, mrc_s


def main() -> None:
    bg = Background()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            caltech_rate, portal_rate = harvest(bg)
            join_s = joined(Path(tmp))
            zarr_s, lazy_s, mrc_s = preview(bg, Path(tmp))
    finally:
        bg.close()
    print(f"summary: harvest {caltech_rate:,.0f} CaltechDATA records/s, {portal_rate:,.0f} portal runs/s; joined "
          f"index of 69,050 rows in {join_s:.2f} s (target ≤ 2 s); first look {mrc_s / zarr_s:.0f}× sooner from "
          f"OME-Zarr than from the full MRC ({lazy_s / zarr_s:.1f}× sooner than its central section by ranges)")


if __name__ == "__main__":
    main()
