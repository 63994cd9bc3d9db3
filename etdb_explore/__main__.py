"""``python -m etdb_explore``: the ``etdb-explore`` command (see :mod:`etdb_explore.cli`)."""

import sys

from etdb_explore.cli import main

sys.exit(main())
