"""etdb-explore in napari (the ``napari`` extra): tomograms and tilt-series as lazy multiscale image layers, a reader
for ``etdb://`` and ``/ipfs/`` paths, and a dock widget that browses the index (``napari.yaml``, the npe2 manifest).
"""

from etdb_explore.napari.layers import layer_data, pyramid, view

__all__ = ["layer_data", "pyramid", "view"]
