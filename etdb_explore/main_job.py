"""The main job a new user meets: load the embedded demo ETDB, filter it, show what it holds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .demo import demo_dir, demo_index

EXAMPLE_FILTER: dict[str, Any] = {"species": "Vibrio cholerae", "tilt_range": (-60, 60), "defocus": (-8, -4),
                                  "date": ("2010", "2018")}


def run_main_job(rebuild: bool = False, quiet: bool = False, out: Path | None = None) -> dict[str, Any]:
    """Load (building once) the demo index, print a filtered table and save a tilt-coverage figure."""
    started = time.perf_counter()
    index = demo_index(rebuild=rebuild)
    selection = index.filter(**EXAMPLE_FILTER)
    out = out or demo_dir() / "output"
    out.mkdir(parents=True, exist_ok=True)
    figure = out / "tilt_coverage.png"
    index.plot_tilt_coverage().savefig(figure, dpi=100)
    if not quiet:
        print(f"{index!r}  (signatures verified: {int(index.datasets['signature_valid'].sum())})")
        print(f"\nidx.filter({', '.join(f'{k}={v!r}' for k, v in EXAMPLE_FILTER.items())}):")
        columns = ["txid", "species", "date", "tilt_min", "tilt_max", "defocus", "microscope", "title"]
        table = selection.datasets[columns].assign(txid=selection.datasets["txid"].str.slice(0, 10))
        print(table.to_string(index=False, max_colwidth=32))
        print(f"\n{len(selection)} of {len(index)} datasets match. Datasets per species:")
        print(index.counts("species").head(8).to_string())
        print(f"\nTilt-coverage figure: {figure}")
    return {"datasets": len(index), "matching": len(selection), "rejected": len(index.rejected),
            "figure": str(figure), "seconds": round(time.perf_counter() - started, 3)}
