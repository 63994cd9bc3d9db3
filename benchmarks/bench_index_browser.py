"""IndexBrowser benchmark (issue 10 §3): a filter change on an 11,293-dataset index → table updated in the browser.

Real JupyterLab on 127.0.0.1 and headless Chromium (the test harness, tests/widgets/lab.py). Each measurement starts
in the page (a click, a slider release, Enter in the text box) and ends at the first animation frame after the new
table is in the DOM: the kernel's filtering, the round trip over the widget comm and the drawing all count.
Target: ≤ 200 ms. Baseline: what a notebook user has without the widget, a species dropdown in
``ipywidgets.interact`` re-displaying ``idx.filter(species=...).datasets`` (pandas' HTML of the filtered table).
The kernel-side share (the same changes made from Python, no front end) is printed as well.

    python benchmarks/bench_index_browser.py         # 11,293 datasets, 15 repetitions per measurement
    python benchmarks/bench_index_browser.py 2000 5  # a quick run
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etdb_explore import Index  # noqa: E402
from etdb_explore.demo.sample import ETDB_SIZE, synthetic_records  # noqa: E402
from etdb_explore.widgets.index_browser import IndexBrowser  # noqa: E402
from tests.widgets.lab import Lab  # noqa: E402

OUT = Path(__file__).parent / "out"
BROWSER = ".etdb-index-browser"
TARGET_MS = 200

# In the page: do one change, then wait for the table to be drawn again and for the next frame; milliseconds.
TIMED_CHANGE = """async ([how, selector, value]) => {
  const root = document.querySelector('.etdb-index-browser');
  const before = root.dataset.tableVersion;
  const drawn = new Promise((resolve) => {
    const seen = new MutationObserver(() => {
      if (root.dataset.tableVersion !== before) { seen.disconnect(); resolve(); }
    });
    seen.observe(root, { attributes: true, attributeFilter: ['data-table-version'] });
  });
  const target = document.querySelector(selector);
  const start = performance.now();
  if (how === 'click') target.click();
  else if (how === 'range') { target.value = value; target.dispatchEvent(new Event('change')); }
  else if (how === 'enter') {
    target.value = value;
    target.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
  }
  await Promise.race([drawn, new Promise((_, fail) => setTimeout(() => fail(new Error('no new table')), 20000))]);
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  return performance.now() - start;
}"""

# The baseline: pick another species in the interact dropdown, wait until the output shows its table, next frame.
TIMED_INTERACT = """async ([species]) => {
  const box = document.querySelector('.widget-interact');
  const select = box.querySelector('select');
  const output = () => box.querySelector('.widget-output') || box;
  const before = output().textContent;
  const shown = () => output().querySelector('table') && output().textContent !== before;
  const drawn = new Promise((resolve) => {
    const seen = new MutationObserver(() => { if (shown()) { seen.disconnect(); resolve(); } });
    seen.observe(box, { childList: true, subtree: true, characterData: true });
  });
  const start = performance.now();
  select.selectedIndex = [...select.options].findIndex((o) => o.value === species);
  select.dispatchEvent(new Event('change', { bubbles: true }));
  await Promise.race([drawn, new Promise((_, fail) => setTimeout(() => fail(new Error('no new output')), 60000))]);
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  return performance.now() - start;
}"""


def snapshot(n: int) -> Path:
    path = OUT / f"index_snapshot_{n}"
    if not path.exists():
        start = time.perf_counter()
        Index.from_records(synthetic_records(n)).to_snapshot(path)
        print(f"  made a snapshot of {n} signed records in {time.perf_counter() - start:.1f} s -> {path}")
    return path


def kernel_side(index: Index, repeat: int) -> dict[str, float]:
    """The same changes made from Python: the kernel's share, in ms (median)."""
    browser = IndexBrowser(index)
    names = [name for name, _ in browser.facets["species"]]
    changes = {
        "species": lambda i: setattr(browser, "filters", {"species": [names[i % 3]]} if i % 2 == 0 else {}),
        "tilt range": lambda i: setattr(browser, "filters", {"tilt_range": [-40 - i % 20, 40 + i % 20]}),
        "text": lambda i: setattr(browser, "filters", {"text": ["motor", "pilus", "array"][i % 3]}),
        "sort": lambda i: setattr(browser, "sort", {"column": ["title", "date", "defocus"][i % 3],
                                                    "ascending": i % 2 == 0}),
        "next page": lambda i: setattr(browser, "page", i + 1),
    }
    out = {}
    for name, change in changes.items():
        times = []
        for i in range(repeat):
            start = time.perf_counter()
            change(i)
            times.append((time.perf_counter() - start) * 1e3)
        out[name] = statistics.median(times)
    browser.close()
    return out


def in_browser(path: Path, repeat: int) -> tuple[dict[str, list[float]], list[float], int, list[str]]:
    cells = [
        f"import etdb_explore as etdb\nidx = etdb.Index.from_snapshot({str(path)!r})\n"
        "browser = etdb.IndexBrowser(idx)\nbrowser",
        "import ipywidgets as w\nfrom IPython.display import display\n"
        "names = [n for n, _ in browser.facets['species']][:3]\n"
        "@w.interact(species=w.Dropdown(options=names))\n"
        "def show(species):\n    display(idx.filter(species=species).datasets)",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        env = {"XDG_CACHE_HOME": f"{tmp}/cache", "XDG_DATA_HOME": f"{tmp}/data", "IPFS_GATEWAY": "http://127.0.0.1:9"}
        with Lab(Path(tmp) / "lab", env) as lab:
            page = lab.run(cells, "bench_index_browser.ipynb")
            page.wait_for_selector(f"{BROWSER} .ib-table tbody tr", timeout=180_000)
            page.wait_for_selector(".widget-interact table", timeout=180_000)
            lab.wait_idle(page)
            names = page.eval_on_selector_all(f"{BROWSER} .ib-facet[data-facet=species] input",
                                              "inputs => inputs.slice(0, 3).map(i => i.value)")
            rows_before = page.inner_text(f"{BROWSER} .ib-summary")
            species = f"{BROWSER} .ib-facet[data-facet=species] input[value='{names[0]}']"
            scope = f"{BROWSER} .ib-facet[data-facet=microscope] input"
            results: dict[str, list[float]] = {k: [] for k in (
                "species checkbox", "microscope checkbox", "tilt-range slider", "text (Enter)", "clear filters",
                "sort by a column", "next page")}
            timed = lambda how, sel, value=None: page.evaluate(TIMED_CHANGE, [how, sel, value])  # noqa: E731
            for i in range(repeat):
                page.click(f"{BROWSER} .ib-range[data-range=tilt_range] legend input")  # the tilt filter on
                lab.wait_idle(page, settle=0.3)
                results["species checkbox"].append(timed("click", species))
                results["microscope checkbox"].append(timed("click", scope))
                results["tilt-range slider"].append(timed(
                    "range", f"{BROWSER} .ib-range[data-range=tilt_range] input[data-end=lo]", -30 - i % 30))
                results["text (Enter)"].append(timed("enter", f"{BROWSER} .ib-text", ["motor", "a"][i % 2]))
                results["clear filters"].append(timed("click", f"{BROWSER} .ib-reset"))
            for i in range(repeat):  # on the whole index: the largest sort, and many pages
                results["sort by a column"].append(timed(
                    "click", f"{BROWSER} .ib-table th[data-column={['title', 'date', 'defocus'][i % 3]}]"))
                results["next page"].append(timed("click", f"{BROWSER} .ib-next"))
            shown_after = page.inner_text(f"{BROWSER} .ib-summary")
            baseline = []
            for i in range(repeat):
                baseline.append(page.evaluate(TIMED_INTERACT, [names[(i + 1) % 3]]))
            lab.screenshot(page, "bench_index_browser")
            if lab.errors:
                raise SystemExit(f"JavaScript errors: {lab.errors}")
            total = int(rows_before.split(" of ")[1].split()[0])
            print(f"  table before: {rows_before!r}; after the changes: {shown_after!r}")
    return results, baseline, total, names


def main(n: int, repeat: int) -> None:
    path = snapshot(n)
    index = Index.from_snapshot(path)
    print(f"\nIndexBrowser on {len(index)} datasets ({repeat} repetitions each; medians, [min–max])")
    kernel = kernel_side(index, repeat)
    results, baseline, total, _ = in_browser(path, repeat)
    assert total == n, (total, n)
    worst = 0.0
    print(f"  {'change':24} {'in the browser':>26} {'kernel share':>13}")
    for name, times in results.items():
        med = statistics.median(times)
        worst = max(worst, med)
        share = {"species checkbox": "species", "microscope checkbox": "species", "tilt-range slider": "tilt range",
                 "text (Enter)": "text", "clear filters": "species", "sort by a column": "sort",
                 "next page": "next page"}[name]
        print(f"  {name:24} {med:8.1f} ms [{min(times):6.1f}–{max(times):6.1f}] {kernel[share]:10.2f} ms")
    base = statistics.median(baseline)
    print(f"  baseline: interact dropdown → pandas table: {base:.1f} ms [{min(baseline):.1f}–{max(baseline):.1f}]")
    species = statistics.median(results["species checkbox"])
    print(f"\nsummary: filter change on {n} datasets → table updated in {species:.0f} ms median (species), slowest "
          f"control {worst:.0f} ms (target ≤ {TARGET_MS} ms: {'met' if worst <= TARGET_MS else 'MISSED'}); "
          f"interact + pandas baseline {base:.0f} ms ({base / species:.1f}× the browser's time)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(args[0] if args else ETDB_SIZE, args[1] if len(args) > 1 else 15)
