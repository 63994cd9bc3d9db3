"""The main job a new user meets: the embedded demo ETDB loaded, filtered, and one tomogram opened lazily."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from etdb_explore.demo import demo_dir, demo_index
from etdb_explore.volumes.open import open_tomogram
from etdb_explore.volumes.preview import preview

EXAMPLE_FILTER: dict[str, Any] = {"tilt_range": (-57, 57), "defocus": (-10, -3), "date": ("2009", "2017")}
COLUMNS = ["txid", "species", "date", "tilt_min", "tilt_max", "defocus", "microscope", "title"]


def run_main_job(rebuild: bool = False, quiet: bool = False, out: Path | None = None,
                 size: str | None = None) -> dict[str, Any]:
    """Load (building once) the demo ETDB of ``size`` (see :func:`~etdb_explore.demo.demo_size`), print a filtered
    table, open a tomogram and save its central slice and the tilt coverage as PNGs (under ``out``).

    Returns:
        A summary: dataset counts, the tomogram opened, its shape, the bytes read of it, the PNGs, the seconds taken.

    Raises:
        EtdbError: an unknown size, or a demo file unreadable from the local store.
    """
    from matplotlib.figure import Figure

    started = time.perf_counter()
    index = demo_index(rebuild=rebuild, size=size)
    selection = index.filter(**EXAMPLE_FILTER)
    out = out or demo_dir(size) / "output"
    out.mkdir(parents=True, exist_ok=True)
    row = selection.datasets.iloc[0]
    volume = open_tomogram(row, index=index)
    header_bytes = volume.source.size - volume.header.slice_bytes * volume.shape[0]
    middle = volume[volume.shape[0] // 2]
    slice_png = out / f"{row['sid']}_central_slice.png"
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(preview(middle), cmap="gray")
    ax.set_title(f"{row['species']} — z {volume.shape[0] // 2} of {volume.shape[0]}")
    ax.set_axis_off()
    fig.savefig(slice_png, dpi=100)
    coverage_png = out / "tilt_coverage.png"
    index.plot_tilt_coverage().savefig(coverage_png, dpi=100)
    if not quiet:
        print(f"{index!r}  (every record's FLO signature verified: {bool(index.datasets['signature_valid'].all())})")
        print(f"\nidx.filter({', '.join(f'{k}={v!r}' for k, v in EXAMPLE_FILTER.items())}):")
        table = selection.datasets[COLUMNS].assign(txid=selection.datasets["txid"].str.slice(0, 10))
        print(table.to_string(index=False, max_colwidth=40))
        print(f"\n{len(selection)} of {len(index)} datasets match.")
        print(f"\nopen_tomogram({row['txid'][:10]}…): {volume!r}")
        print(f"  read {header_bytes + volume.bytes_read:,} of {volume.source.size:,} bytes for the central slice, "
              "every block verified against its CID")
        print(f"\nCentral slice: {slice_png}\nTilt coverage: {coverage_png}")
    return {"datasets": len(index), "matching": len(selection), "rejected": len(index.rejected),
            "tomogram": str(volume.source.name), "shape": list(volume.shape), "bytes_read": volume.bytes_read,
            "file_bytes": volume.source.size, "slice_png": str(slice_png), "figure": str(coverage_png),
            "seconds": round(time.perf_counter() - started, 3)}
