"""A stand-in for the Open Storage Network's anonymous, path-style S3 (Ceph RGW) on 127.0.0.1.

It follows the S3 REST API for anonymous reads of a public bucket:

- ``GET /<bucket>?list-type=2&prefix=&delimiter=&max-keys=&continuation-token=`` → ListObjectsV2 XML
  (``ListBucketResult`` in the 2006-03-01 namespace: ``Contents`` with ``Key``, ``Size``, ``ETag``,
  ``LastModified``; ``CommonPrefixes`` for the delimiter; ``IsTruncated`` and ``NextContinuationToken``);
- ``HEAD /<bucket>/<key>`` → ``Content-Length``, ``ETag``, ``Accept-Ranges: bytes``;
- ``GET /<bucket>/<key>`` with ``Range: bytes=a-b`` → 206 with ``Content-Range`` (416 when unsatisfiable);
- unknown keys → 404 ``NoSuchKey`` XML.

ETags are multipart-style (``"<md5 of the part md5s>-<parts>"``, parts of 8 MiB), as uploads by s3 tools make
them: a client cannot treat an ETag as the object's MD5. Objects are the files under ``root/<bucket>/``.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web

from ..local_server import LocalServer

PART = 8 << 20
NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def multipart_etag(path: Path) -> str:
    digests = []
    with open(path, "rb") as fh:
        while chunk := fh.read(PART):
            digests.append(hashlib.md5(chunk).digest())
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{max(1, len(digests))}"'


def dead_url() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens (a host that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _error(status: int, code: str, message: str) -> web.Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return web.Response(status=status, text=body, content_type="application/xml")


class S3StandIn(LocalServer):
    def __init__(self, root: Path, max_keys: int = 1000) -> None:
        self.root = root
        self.max_keys = max_keys
        self.requests: list[tuple[str, str, str | None]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{bucket}", self.list_objects)
        app.router.add_route("HEAD", "/{bucket}/{key:.+}", self.head)
        app.router.add_route("GET", "/{bucket}/{key:.+}", self.get)

    def _path(self, request: web.Request) -> Path | None:
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        path = (self.root / bucket / key).resolve()
        if not path.is_file() or self.root.resolve() not in path.parents:
            return None
        return path

    async def list_objects(self, request: web.Request) -> web.Response:
        self.requests.append(("LIST", request.path_qs, None))
        bucket = self.root / request.match_info["bucket"]
        if request.query.get("list-type") != "2":
            return _error(400, "InvalidArgument", "only ListObjectsV2 here")
        if not bucket.is_dir():
            return _error(404, "NoSuchBucket", "The specified bucket does not exist")
        prefix, delimiter = request.query.get("prefix", ""), request.query.get("delimiter", "")
        max_keys = min(int(request.query.get("max-keys", 1000)), self.max_keys)
        after = request.query.get("continuation-token", "")
        keys = sorted(p.relative_to(bucket).as_posix() for p in bucket.rglob("*") if p.is_file())
        entries: list[tuple[str, str | None]] = []  # (key or common prefix, kind)
        for key in keys:
            if not key.startswith(prefix) or key <= after:
                continue
            rest = key[len(prefix):]
            if delimiter and delimiter in rest:
                common = prefix + rest.split(delimiter, 1)[0] + delimiter
                if not entries or entries[-1][0] != common:
                    entries.append((common, "prefix"))
            else:
                entries.append((key, None))
        page, truncated = entries[:max_keys], len(entries) > max_keys
        parts = [f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{NS}">',
                 f"<Name>{escape(bucket.name)}</Name><Prefix>{escape(prefix)}</Prefix>",
                 f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
                 f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        if delimiter:
            parts.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
        for name, kind in page:
            if kind == "prefix":
                parts.append(f"<CommonPrefixes><Prefix>{escape(name)}</Prefix></CommonPrefixes>")
            else:
                path = bucket / name
                parts.append(f"<Contents><Key>{escape(name)}</Key><LastModified>2023-06-23T00:00:00.000Z"
                             f"</LastModified><ETag>{escape(multipart_etag(path))}</ETag>"
                             f"<Size>{path.stat().st_size}</Size><StorageClass>STANDARD</StorageClass></Contents>")
        if truncated:
            last = page[-1][0]
            parts.append(f"<NextContinuationToken>{escape(last if page[-1][1] is None else last + chr(0x10FFFF))}"
                         f"</NextContinuationToken>")
        parts.append("</ListBucketResult>")
        return web.Response(text="".join(parts), content_type="application/xml")

    def _headers(self, path: Path) -> dict[str, str]:
        return {"ETag": multipart_etag(path), "Accept-Ranges": "bytes", "Content-Type": "binary/octet-stream",
                "Last-Modified": "Fri, 23 Jun 2023 00:00:00 GMT"}

    async def head(self, request: web.Request) -> web.Response:
        self.requests.append(("HEAD", request.path, None))
        path = self._path(request)
        if path is None:
            return web.Response(status=404)
        return web.Response(headers={**self._headers(path), "Content-Length": str(path.stat().st_size)})

    async def get(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", request.path, request.headers.get("Range")))
        path = self._path(request)
        if path is None:
            return _error(404, "NoSuchKey", "The specified key does not exist.")
        size = path.stat().st_size
        spec = request.headers.get("Range")
        if not spec:
            return web.Response(body=path.read_bytes(), headers=self._headers(path))
        first, _, last = spec.removeprefix("bytes=").partition("-")
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        if start >= size or start > end:
            return _error(416, "InvalidRange", "The requested range is not satisfiable")
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start + 1)
        return web.Response(status=206, body=data, headers={**self._headers(path),
                                                             "Content-Range": f"bytes {start}-{end}/{size}"})
