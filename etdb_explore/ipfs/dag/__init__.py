"""Reading UnixFS DAGs from any block source: paths, directories, HAMTs and byte ranges, every block verified."""
