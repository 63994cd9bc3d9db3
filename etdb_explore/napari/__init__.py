"""etdb-explore in napari (the ``napari`` extra): tomograms and tilt-series as lazy multiscale image layers, a reader
for ``etdb://`` and ``/ipfs/`` paths, and a dock widget that browses the index (``napari.yaml``, the npe2 manifest).
"""

from __future__ import annotations

from etdb_explore.util.lazy import lazy_names

# Public names and the module that defines them, imported on first use: npe2 reading the manifest or opening the
# reader then does not load the layers' code first.
_LAZY = {"layer_data": ".layers", "pyramid": ".layers", "view": ".layers"}

__all__ = ["layer_data", "pyramid", "view"]
lazy_names(__name__, _LAZY)
