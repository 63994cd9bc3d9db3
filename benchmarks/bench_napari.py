"""napari benchmarks (issue: napari, notebooks, Binder). Plain script printing numbers and ratios.

1. Time to the first rendered frame of a 1024×1024×300 int16 tomogram in napari, streamed lazily through
   ``etdb-explore serve`` on 127.0.0.1 and through the 50 ms round-trip delaying proxy
   (``etdb_explore.napari.view``: open, multiscale layer, contrast from one section, ``viewer.screenshot``), vs the
   baseline: download the whole file, then ``mrcfile.mmap`` it into ``viewer.add_image`` (napari itself reads no
   MRC files) and render.
2. The plugin's index browser listing the 11,293-record ETDB from a snapshot: snapshot load, table filled, first
   paint (target < 1 s).

Each measurement runs in a fresh process under its own Xvfb (``xvfb-run``); in both arms the viewer is made, and
has drawn a small image once, before the clock starts.

    python benchmarks/bench_napari.py [--repeat N]
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).resolve().parent
MiB = 1 << 20


# ---- clients (each in its own process, under Xvfb) ----------------------------------------------------------------

def _viewer():
    """A shown viewer that has drawn a small dask-backed image once: napari, vispy and dask have loaded their
    modules and shaders, so the clock measures getting the data to the screen, in both arms alike."""
    import dask.array as da
    import napari

    viewer = napari.Viewer(show=True)
    viewer.add_image(da.from_array(np.random.default_rng(1).normal(size=(4, 64, 64)), chunks=(1, 64, 64)))
    _drawn(viewer)
    viewer.layers.clear()
    return viewer


def _drawn(viewer) -> float:
    """Render now; the standard deviation of the frame (a blank frame has none)."""
    return float(viewer.screenshot(canvas_only=True, flash=False)[..., :3].std())


def client_lazy(url: str, path: str) -> dict:
    from etdb_explore.content.client import Client
    from etdb_explore.napari import view
    from etdb_explore.volumes.open import open_tomogram

    viewer = _viewer()
    with tempfile.TemporaryDirectory() as tmp, Client(Path(tmp) / "store", [url]) as client:
        start = time.perf_counter()
        volume = open_tomogram("/ipfs/" + path, client=client)
        view(volume, viewer)
        std = _drawn(viewer)
        seconds = time.perf_counter() - start
        moved = client.source.sources[1].bytes_received
    viewer.close()
    return {"seconds": seconds, "bytes": moved, "frame_std": std}


def client_download(url: str, path: str) -> dict:
    from bench_volumes import fetch_whole  # the same plain download as bench_volumes' baseline

    viewer = _viewer()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "tomo.rec"
        start = time.perf_counter()
        n = asyncio.run(fetch_whole(url, path, target))
        with mrcfile.mmap(target, permissive=True) as mrc:
            viewer.add_image(mrc.data, name="tomo")
            std = _drawn(viewer)
            seconds = time.perf_counter() - start
            viewer.layers.clear()
    viewer.close()
    return {"seconds": seconds, "bytes": n, "frame_std": std}


def client_browser(snapshot: str) -> dict:
    from qtpy.QtWidgets import QApplication

    from etdb_explore.index.index import Index
    from etdb_explore.napari.browser import IndexDock

    viewer = _viewer()
    start = time.perf_counter()
    index = Index.from_snapshot(snapshot)
    loaded = time.perf_counter() - start
    widget = IndexDock(viewer, index)
    viewer.window.add_dock_widget(widget, name="ETDB browser")
    QApplication.processEvents()
    widget.table.viewport().repaint()
    seconds = time.perf_counter() - start
    rows = widget.model.rowCount()
    t = time.perf_counter()
    widget.text.setText("motor")
    QApplication.processEvents()
    filtered = time.perf_counter() - t
    viewer.close()
    return {"seconds": seconds, "load": loaded, "rows": rows, "filter": filtered}


CLIENTS = {"lazy": client_lazy, "download": client_download, "browser": client_browser}


def run(kind: str, *args: str, repeat: int) -> list[dict]:
    """The client's results, each run in a fresh process under its own Xvfb."""
    results = []
    for _ in range(repeat):
        out = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", sys.executable, __file__,
                              "--client", kind, *args], capture_output=True, text=True, check=False)
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def _median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def _spread(results: list[dict], key: str, scale: float = 1e3) -> str:
    values = sorted(r[key] * scale for r in results)
    return f"{statistics.median(values):7.0f} ms (range {values[0]:.0f}–{values[-1]:.0f})"


# ---- the benchmark -----------------------------------------------------------------------------------------------

def bench_frames(tmp: Path, repeat: int) -> tuple[float, float]:
    from etdb_explore.ipfs import KUBO_DEFAULT, LocalStore, add_directory

    data_dir = tmp / "dataset"
    (data_dir / "3dimage_1").mkdir(parents=True)
    zz, yy, xx = np.ogrid[:300, :1024, :1024]
    rng = np.random.default_rng(0)
    with mrcfile.new(data_dir / "3dimage_1" / "tomo.rec") as mrc:
        mrc.set_data((300 * np.sin(xx / 40 + zz / 30) * np.cos(yy / 55) + rng.normal(0, 80, (300, 1024, 1024)))
                     .astype(np.int16))
        mrc.voxel_size = 8.0
    size = (data_dir / "3dimage_1" / "tomo.rec").stat().st_size
    store = LocalStore(tmp / "store")
    location = str(add_directory(data_dir, KUBO_DEFAULT, store).cid)
    shutil.rmtree(data_dir)
    server = subprocess.Popen([sys.executable, "-m", "etdb_explore", "serve", "--store", str(store.path), "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().split(" at ")[1].split("/ipfs/")[0]
    proxy = subprocess.Popen([sys.executable, str(HERE / "delay_proxy.py"), url.rsplit(":", 1)[1], "0.025"],
                             stdout=subprocess.PIPE, text=True)
    proxy_url = "http://" + proxy.stdout.readline().split()[2]
    ratios = []
    try:
        path = f"{location}/3dimage_1/tomo.rec"
        print(f"tomogram 1024x1024x300 int16 ({size / MiB:.0f} MiB), first rendered frame in napari "
              f"({repeat} fresh processes each)")
        for label, via in (("loopback serve", url), ("50 ms RTT (delaying proxy)", proxy_url)):
            lazy = run("lazy", via, path, repeat=repeat)
            whole = run("download", via, path, repeat=repeat)
            assert all(r["frame_std"] > 5 for r in lazy + whole), "a blank frame"
            ratio = _median(whole, "seconds") / _median(lazy, "seconds")
            ratios.append(ratio)
            print(f"\n[{label}]")
            print(f"  etdb_explore.napari.view, lazy    : {_spread(lazy, 'seconds')}, "
                  f"{_median(lazy, 'bytes') / MiB:6.1f} MiB transferred")
            print(f"  download + mrcfile + add_image    : {_spread(whole, 'seconds')}, "
                  f"{_median(whole, 'bytes') / MiB:6.1f} MiB transferred")
            print(f"  first frame sooner by             : {ratio:.1f}x")
    finally:
        for p in (proxy, server):
            p.terminate()
            p.wait()
    return ratios[0], ratios[1]


def bench_browser(tmp: Path, repeat: int) -> float:
    from etdb_explore.demo.sample import ETDB_SIZE, synthetic_records
    from etdb_explore.index.index import Index

    cached = HERE / "out" / f"oipd_{ETDB_SIZE}.json"  # shared with bench_index.py
    raws = json.loads(cached.read_text()) if cached.exists() else synthetic_records(ETDB_SIZE)
    Index.from_records(raws).to_snapshot(tmp / "snapshot")
    results = run("browser", str(tmp / "snapshot"), repeat=repeat)
    print(f"\n[index browser, {results[0]['rows']:,} records from a snapshot]")
    print(f"  snapshot load + table + first paint: {_spread(results, 'seconds')} "
          f"(snapshot load {_median(results, 'load') * 1e3:.0f} ms; target < 1000 ms)")
    print(f"  text filter 'motor', table redrawn: {_spread(results, 'filter')}")
    return _median(results, "seconds")


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 5
    if shutil.which("xvfb-run") is None:
        sys.exit("xvfb-run is needed (apt-get install xvfb)")
    with tempfile.TemporaryDirectory() as tmp:
        loopback, delayed = bench_frames(Path(tmp), repeat)
        browser = bench_browser(Path(tmp), repeat)
    print(f"\nsummary: first napari frame {loopback:.1f}x sooner than download + open on loopback, {delayed:.1f}x at "
          f"50 ms RTT; 11,293-record browser ready in {browser:.2f} s")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        print(json.dumps(CLIENTS[sys.argv[2]](*sys.argv[3:])))
    else:
        main()
