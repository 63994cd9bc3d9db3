"""The installed wheel, not only a checkout, carries the widgets' front-end files where the widgets look for them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_every_front_end_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=600)
    (wheel,) = tmp_path.glob("etdb_explore-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"etdb_explore/widgets/frontend/{f.name}" for f in (ROOT / "widgets").iterdir()
              if f.suffix in (".js", ".css")}
    assert {"etdb_explore/widgets/frontend/slice_viewer.js", "etdb_explore/widgets/frontend/index_browser.js"} <= wanted
    assert wanted <= names, wanted - names
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("etdb_explore/widgets/frontend/slice_viewer.js") == (ROOT / "widgets/slice_viewer.js").read_bytes()
