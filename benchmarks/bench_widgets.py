"""SliceViewer benchmark (issue 10 §3, the viewer's part). Plain script printing numbers and ratios.

A 1024×1024×300 int16 tomogram is served by ``etdb-explore serve`` on 127.0.0.1 and read through it directly
(loopback) and through ``benchmarks/delay_proxy.py`` (50 ms round trip), each by a kernel of a real JupyterLab shown
in headless Chromium (the widget tests' harness, ``tests/widgets/lab.py``). Measured in the page:

  1. slider move → new frame painted, for sections not read yet (uncached) and read before (cached);
     targets ≤ 250 ms uncached on loopback, ≤ 400 ms at 50 ms RTT, ≤ 50 ms cached;
  2. the frame's size in bytes;
  3. a sweep of 100 slider positions 5 ms apart: the last position is painted how long after the last move
     (target ≤ 500 ms);
  4. the baseline a user has today: matplotlib ``imshow`` of the same section re-rendered in ``ipywidgets.interact``
     (slider move → new PNG shown), on the same volume and link.

    python benchmarks/bench_widgets.py [--moves N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.widgets.lab import Lab  # the test harness: JupyterLab + Chromium on 127.0.0.1

SHAPE = (300, 1024, 1024)
VIEWER = ".etdb-slice-viewer"


def make_tomogram(folder: Path) -> tuple[Path, str]:
    """A smooth 1024×1024×300 int16 volume plus noise (every section differs), imported into a store."""
    from etdb_explore.ipfs import KUBO_DEFAULT, LocalStore, add_directory

    data_dir = folder / "dataset"
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SHAPE[1], 0:SHAPE[2]].astype(np.float32)
    with mrcfile.new_mmap(data_dir / "tomo.rec", shape=SHAPE, mrc_mode=1) as mrc:
        for z in range(SHAPE[0]):
            wave = 300 * np.sin((xx + 3 * z) / 40) * np.cos((yy - 2 * z) / 55)
            mrc.data[z] = (wave + rng.normal(0, 60, wave.shape)).astype(np.int16)
        mrc.voxel_size = 10.0
    store = LocalStore(folder / "store")
    location = str(add_directory(data_dir, KUBO_DEFAULT, store).cid)
    (data_dir / "tomo.rec").unlink()
    return store.path, f"/ipfs/{location}/tomo.rec"


def open_cells(url: str, path: str, store: Path) -> list[str]:
    return [(f"import etdb_explore as etdb\nclient = etdb.Client(store={str(store)!r}, gateways=[{url!r}])\n"
             f"vol = etdb.open_tomogram({path!r}, client=client)")]


def click_at(page, selector: str, fraction: float) -> None:
    box = page.locator(selector).first.bounding_box()
    page.mouse.click(box["x"] + 8 + (box["width"] - 16) * fraction, box["y"] + box["height"] / 2)


def viewer_moves(page, fractions: list[float]) -> list[float]:
    """Click the slider at each fraction; the page's own time from the move to the frame painted (ms)."""
    times = []
    for f in fractions:
        click_at(page, f"{VIEWER} .sv-slider", f)
        z = page.eval_on_selector(f"{VIEWER} .sv-slider", "s => s.value")
        page.wait_for_selector(f"{VIEWER}[data-z='{z}']", timeout=60_000)
        page.wait_for_function(f"document.querySelector('{VIEWER}').dataset.paintMs !== undefined")
        times.append(float(page.get_attribute(VIEWER, "data-paint-ms")))
        page.evaluate(f"delete document.querySelector('{VIEWER}').dataset.paintMs")
    return times


def viewer_sweep(page, start: int) -> tuple[int, float]:
    """100 slider positions 5 ms apart (fresh sections); ms from the last move until it is painted."""
    return tuple(page.evaluate("""async ([sel, start]) => {
        const root = document.querySelector(sel), slider = root.querySelector('.sv-slider');
        let last = start;
        for (let i = 0; i < 100; i++) {
            last = start + i * 2;
            slider.value = String(last); slider.dispatchEvent(new Event('input', {bubbles: true}));
            await new Promise(r => setTimeout(r, 5));
        }
        const moved = performance.now();
        while (root.dataset.z !== String(last)) await new Promise(r => requestAnimationFrame(r));
        return [last, performance.now() - moved];
    }""", [VIEWER, start]))


def baseline_moves(page, fractions: list[float]) -> tuple[list[float], int]:
    """Click the interact slider at each fraction: ms from the click until the new PNG is in the page."""
    page.evaluate("""() => {
        window.__bench = {asked: 0, painted: 0, src: ''};
        document.addEventListener('pointerdown', () => { __bench.asked = performance.now(); __bench.painted = 0; },
                                  true);
        new MutationObserver(() => {
            const img = document.querySelector('.widget-interact .jp-OutputArea-output img');
            if (img && img.src !== __bench.src && __bench.asked && !__bench.painted) {
                __bench.painted = performance.now(); __bench.src = img.src; }
        }).observe(document.body, {subtree: true, childList: true, attributes: true});
        const img = document.querySelector('.widget-interact .jp-OutputArea-output img');
        __bench.src = img ? img.src : '';
    }""")
    times = []
    for f in fractions:
        click_at(page, ".widget-interact .noUi-target", f)
        page.wait_for_function("window.__bench.painted > 0", timeout=300_000)
        times.append(page.evaluate("window.__bench.painted - window.__bench.asked"))
        page.wait_for_timeout(300)  # interact's kernel queue drained
    png = page.evaluate("document.querySelector('.widget-interact .jp-OutputArea-output img').src.length")
    return times, int(png * 3 / 4)


def measure(lab: Lab, label: str, url: str, path: str, folder: Path, moves: int) -> dict:
    fractions = [(i + 0.5) / moves for i in range(moves)]
    viewer_page = lab.run([*open_cells(url, path, folder / f"{label}-v"), "viewer = vol.view()\nviewer"],
                          f"viewer-{label}.ipynb")
    viewer_page.wait_for_selector(f"{VIEWER}[data-z='{SHAPE[0] // 2}']", timeout=120_000)
    uncached = viewer_moves(viewer_page, fractions)
    cached = viewer_moves(viewer_page, fractions)
    width, height = viewer_page.eval_on_selector(f"{VIEWER} canvas", "c => [c.width, c.height]")
    last, sweep_ms = viewer_sweep(viewer_page, 1)
    viewer_page.close()

    interact = ("import ipywidgets, matplotlib.pyplot as plt\n"
                "def show(z):\n    plt.figure(figsize=(6, 6)); plt.imshow(vol[z], cmap='gray'); plt.show()\n"
                "ipywidgets.interact(show, z=ipywidgets.IntSlider(150, 0, 299, layout={'width': '900px'}))")
    base_page = lab.run([*open_cells(url, path, folder / f"{label}-b"), interact],
                        f"baseline-{label}.ipynb")
    base_page.wait_for_selector(".widget-interact .jp-OutputArea-output img", timeout=600_000)
    base_uncached, png_bytes = baseline_moves(base_page, [f + 0.5 / (moves * 2) for f in fractions])
    base_cached, _ = baseline_moves(base_page, [f + 0.5 / (moves * 2) for f in fractions])
    base_page.close()
    return {"uncached": uncached, "cached": cached, "frame": width * height, "sweep": sweep_ms, "last": last,
            "base_uncached": base_uncached, "base_cached": base_cached, "png": png_bytes}


def main(moves: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        store, path = make_tomogram(folder)
        print(f"tomogram {SHAPE[2]}×{SHAPE[1]}×{SHAPE[0]} int16 (600 MiB) made and imported in "
              f"{time.perf_counter() - t:.0f} s")
        server = subprocess.Popen([sys.executable, "-m", "etdb_explore", "serve", "--store", str(store),
                                   "--port", "0"], stdout=subprocess.PIPE, text=True)
        url = server.stdout.readline().split(" at ")[1].split("/ipfs/")[0]
        proxy = subprocess.Popen([sys.executable, str(HERE / "delay_proxy.py"), url.rsplit(":", 1)[1], "0.025"],
                                 stdout=subprocess.PIPE, text=True)
        proxy_url = "http://" + proxy.stdout.readline().split()[2]
        env = {"XDG_DATA_HOME": str(folder / "data"), "XDG_CACHE_HOME": str(folder / "cache"),
               "IPFS_GATEWAY": "http://127.0.0.1:9", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
        results = {}
        try:
            with Lab(folder / "lab", env) as lab:
                for label, via in (("loopback", url), ("50 ms RTT", proxy_url)):
                    results[label] = measure(lab, label.split()[0], via, path, folder, moves)
                if lab.errors:
                    print("page errors:", *lab.errors, sep="\n  ")
        finally:
            for p in (proxy, server):
                p.terminate()
                p.wait()
    med = statistics.median
    for label, r in results.items():
        print(f"\n[{label}] medians of {moves} slider clicks, in the page (move → picture painted)")
        print(f"  SliceViewer uncached : {med(r['uncached']):7.1f} ms   (max {max(r['uncached']):.1f})")
        print(f"  SliceViewer cached   : {med(r['cached']):7.1f} ms   (max {max(r['cached']):.1f})")
        print(f"  interact + imshow uncached : {med(r['base_uncached']):7.1f} ms   ratio "
              f"{med(r['base_uncached']) / med(r['uncached']):.1f}x")
        print(f"  interact + imshow cached   : {med(r['base_cached']):7.1f} ms   ratio "
              f"{med(r['base_cached']) / med(r['cached']):.1f}x")
        print(f"  frame: {r['frame']:,} bytes uint8 (binary buffer); imshow PNG {r['png']:,} bytes")
        print(f"  sweep of 100 positions: last ({r['last']}) painted {r['sweep']:.0f} ms after the last move")
    lo, far = results["loopback"], results["50 ms RTT"]
    print(f"\nsummary: SliceViewer move→paint {med(lo['uncached']):.0f} ms uncached / {med(lo['cached']):.0f} ms "
          f"cached on loopback, {med(far['uncached']):.0f} ms uncached at 50 ms RTT, sweep end "
          f"{max(lo['sweep'], far['sweep']):.0f} ms; interact+imshow "
          f"{med(lo['base_cached']) / med(lo['cached']):.1f}x slower cached on loopback")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--moves") + 1]) if "--moves" in sys.argv else 10)
