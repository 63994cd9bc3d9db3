"""IPFS data formats, no I/O: CIDs and multihashes, protobuf, DAG-PB, UnixFS, CAR and the HAMT hash."""
