"""The Open Storage Network's anonymous, path-style S3 (Ceph RGW) on 127.0.0.1: the demo's
:class:`~etdb_explore.demo.homes.OsnServer` (ListObjectsV2 with prefix, delimiter and continuation, HEAD, Range →
206, 416, NoSuchKey, multipart-style ETags that are not MD5s; its docstring gives the wire format), serving the
files under ``root/<bucket>/``; ``requests`` logs every request."""

from __future__ import annotations

from etdb_explore.demo.homes import OsnServer as S3StandIn
from etdb_explore.demo.homes import dead_url, multipart_etag

__all__ = ["S3StandIn", "dead_url", "multipart_etag"]
