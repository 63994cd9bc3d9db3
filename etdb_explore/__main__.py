import sys

from etdb_explore.cli import main

sys.exit(main())
