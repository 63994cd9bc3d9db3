"""One tilt series of the demo ETDB in its two other homes, served on 127.0.0.1: CaltechDATA with its files on the
Open Storage Network, and the CZ cryoET Data Portal's rewritten files – so a notebook can compare the homes with no
network, the way ``etdb-explore serve`` lets it read the demo's IPFS content.

    homes = DemoHomes().start()          # built once into the demo folder, then served until closed
    idx = homes.joined()                 # the demo ETDB joined with the two other homes
    etdb.open_tomogram(idx.datasets.iloc[0], homes=["caltechdata"], reader=homes.reader)
    homes.close()

What is served, and how faithfully:

- OSN: the dataset's lab folder, byte for byte, under ``ini210004tommorrell/tomography_archive/<tilt id>/`` of an
  anonymous, path-style S3 endpoint (:class:`OsnServer`: ListObjectsV2 with prefix, delimiter and continuation,
  HEAD, GET with Range → 206, multipart-style ETags that are not MD5s, as Ceph RGW answers);
- the portal's file server (:class:`FileServer`): the tilt series and tomogram rewritten as new MRC files (float32,
  a new label: other bytes, the same image) and the tomogram as an OME-Zarr v0.4 pyramid, over HTTP with ranges;
- the rows: a CaltechDATA record as InvenioRDM returns it (technical values in HTML, the OSN folder link) and the
  portal's run, tilt series and tomogram as its GraphQL API returns them, each read by the source's own parser
  (:func:`~etdb_explore.index.sources.caltechdata.record_rows`, :meth:`CzPortalSource.add_rows`). No InvenioRDM or
  GraphQL server runs here (the tests run stand-ins of both). The portal's total flux is set 20 % below the ETDB
  dosage, as the real homes disagree on some series, so the joined row shows a conflict.
"""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import mrcfile
import numpy as np
import pandas as pd
from aiohttp import web

from etdb_explore.content.client import Client, default_client
from etdb_explore.content.homes import HomeReader
from etdb_explore.errors import EtdbError
from etdb_explore.index.homeframe import home_index
from etdb_explore.index.index import Index
from etdb_explore.index.joined import join_homes
from etdb_explore.index.sources.base import HomeHarvest
from etdb_explore.index.sources.caltechdata import record_rows
from etdb_explore.index.sources.czportal import CzPortalSource
from etdb_explore.util import bridge
from etdb_explore.util.files import atomic_write

BUCKET = "ini210004tommorrell"
ARCHIVE = "tomography_archive"
PORTAL_DATASET = 10112
PORTAL_RUN = 5001
PART = 8 << 20  # bytes per part of the multipart uploads whose ETags OSN shows
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
BUILD_VERSION = 1


class LoopbackServer:
    """An aiohttp application on 127.0.0.1 at a free port: ``async with`` it, or ``start()``/``close()`` it from
    plain code (it then runs on the I/O loop). Subclasses add their routes in :meth:`routes`; ``url`` is the base
    URL (ending with ``url_path``) once started."""

    url = ""
    url_path = ""

    def routes(self, app: web.Application) -> None:
        """Add the server's routes to ``app``."""
        raise NotImplementedError

    async def __aenter__(self) -> LoopbackServer:
        app = web.Application(client_max_size=1 << 30)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}{self.url_path}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    def start(self) -> LoopbackServer:
        """Serve from plain code (on the I/O loop) until :meth:`close`.

        Returns:
            The server.

        Raises:
            OSError: no port could be bound.
        """
        return bridge.run(self.__aenter__())

    def close(self) -> None:
        """Stop serving."""
        bridge.run(self.__aexit__(None, None, None))


def dead_url() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens (a host that is down).

    Returns:
        ``http://127.0.0.1:<port>``.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def multipart_etag(path: Path) -> str:
    """The ETag S3 gives an object uploaded in 8 MiB parts: the MD5 of the parts' MD5s, then ``-<parts>``.

    Returns:
        The quoted ETag.
    """
    digests = []
    with open(path, "rb") as fh:
        while chunk := fh.read(PART):
            digests.append(hashlib.md5(chunk).digest())  # what S3 computes
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{max(1, len(digests))}"'


def _s3_error(status: int, code: str, message: str) -> web.Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return web.Response(status=status, text=body, content_type="application/xml")


class OsnServer(LoopbackServer):
    """Anonymous, path-style S3 as the Open Storage Network (Ceph RGW) answers it, over the files below
    ``root/<bucket>/``.

    - ``GET /<bucket>?list-type=2&prefix=&delimiter=&max-keys=&continuation-token=`` → ListObjectsV2 XML
      (``ListBucketResult`` in the 2006-03-01 namespace: ``Contents`` with ``Key``, ``Size``, ``ETag``,
      ``LastModified``; ``CommonPrefixes`` for the delimiter; ``IsTruncated`` and ``NextContinuationToken``);
    - ``HEAD /<bucket>/<key>`` → ``Content-Length``, ``ETag``, ``Accept-Ranges: bytes``;
    - ``GET /<bucket>/<key>`` with ``Range: bytes=a-b`` → 206 with ``Content-Range`` (416 when unsatisfiable);
    - unknown keys → 404 ``NoSuchKey`` XML.

    ETags are multipart-style (:func:`multipart_etag`), so a client cannot take one for the object's MD5.
    ``requests`` logs (method, path, Range) of every request.
    """

    def __init__(self, root: Path, max_keys: int = 1000) -> None:
        self.root = Path(root)
        self.max_keys = max_keys
        self.requests: list[tuple[str, str, str | None]] = []

    def routes(self, app: web.Application) -> None:
        """The bucket listing, and HEAD and GET of objects."""
        app.router.add_route("GET", "/{bucket}", self.list_objects)
        app.router.add_route("HEAD", "/{bucket}/{key:.+}", self.head)
        app.router.add_route("GET", "/{bucket}/{key:.+}", self.get)

    def _path(self, request: web.Request) -> Path | None:
        path = (self.root / request.match_info["bucket"] / request.match_info["key"]).resolve()
        return path if path.is_file() and self.root.resolve() in path.parents else None

    async def list_objects(self, request: web.Request) -> web.Response:
        """ListObjectsV2 of a bucket.

        Returns:
            The XML answer (400 for other list types, 404 for an unknown bucket).
        """
        self.requests.append(("LIST", request.path_qs, None))
        bucket = self.root / request.match_info["bucket"]
        if request.query.get("list-type") != "2":
            return _s3_error(400, "InvalidArgument", "only ListObjectsV2 here")
        if not bucket.is_dir():
            return _s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        prefix, delimiter = request.query.get("prefix", ""), request.query.get("delimiter", "")
        max_keys = min(int(request.query.get("max-keys", 1000)), self.max_keys)
        after = request.query.get("continuation-token", "")
        keys = sorted(p.relative_to(bucket).as_posix() for p in bucket.rglob("*") if p.is_file())
        entries: list[tuple[str, bool]] = []  # (key or common prefix, is a common prefix)
        for key in keys:
            if not key.startswith(prefix) or key <= after:
                continue
            rest = key[len(prefix):]
            if delimiter and delimiter in rest:
                common = prefix + rest.split(delimiter, 1)[0] + delimiter
                if not entries or entries[-1][0] != common:
                    entries.append((common, True))
            else:
                entries.append((key, False))
        page, truncated = entries[:max_keys], len(entries) > max_keys
        parts = [f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{S3_NS}">',
                 f"<Name>{escape(bucket.name)}</Name><Prefix>{escape(prefix)}</Prefix>",
                 f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
                 f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        if delimiter:
            parts.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
        for name, common in page:
            if common:
                parts.append(f"<CommonPrefixes><Prefix>{escape(name)}</Prefix></CommonPrefixes>")
            else:
                path = bucket / name
                parts.append(f"<Contents><Key>{escape(name)}</Key><LastModified>2023-06-23T00:00:00.000Z"
                             f"</LastModified><ETag>{escape(multipart_etag(path))}</ETag>"
                             f"<Size>{path.stat().st_size}</Size><StorageClass>STANDARD</StorageClass></Contents>")
        if truncated:
            last, common = page[-1]
            parts.append(f"<NextContinuationToken>{escape(last + chr(0x10FFFF) if common else last)}"
                         f"</NextContinuationToken>")
        parts.append("</ListBucketResult>")
        return web.Response(text="".join(parts), content_type="application/xml")

    @staticmethod
    def _headers(path: Path) -> dict[str, str]:
        return {"ETag": multipart_etag(path), "Accept-Ranges": "bytes", "Content-Type": "binary/octet-stream",
                "Last-Modified": "Fri, 23 Jun 2023 00:00:00 GMT"}

    async def head(self, request: web.Request) -> web.Response:
        """HEAD of an object.

        Returns:
            Its size and ETag, or 404.
        """
        self.requests.append(("HEAD", request.path, None))
        path = self._path(request)
        if path is None:
            return web.Response(status=404)
        return web.Response(headers={**self._headers(path), "Content-Length": str(path.stat().st_size)})

    async def get(self, request: web.Request) -> web.Response:
        """GET of an object, or of one byte range of it.

        Returns:
            200 with the object, 206 with the range, 404 or 416 with S3's error XML.
        """
        self.requests.append(("GET", request.path, request.headers.get("Range")))
        path = self._path(request)
        if path is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        size = path.stat().st_size
        spec = request.headers.get("Range")
        if not spec:
            return web.Response(body=path.read_bytes(), headers=self._headers(path))
        first, _, last = spec.removeprefix("bytes=").partition("-")
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        if start >= size or start > end:
            return _s3_error(416, "InvalidRange", "The requested range is not satisfiable")
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start + 1)
        return web.Response(status=206, body=data, headers={**self._headers(path),
                                                             "Content-Range": f"bytes {start}-{end}/{size}"})


class FileServer(LoopbackServer):
    """A folder over HTTP at ``<url>/files`` (GET and HEAD, ranges answered with 206), as the portal's
    files.cryoetdataportal.cziscience.com serves MRC files and OME-Zarr stores."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def routes(self, app: web.Application) -> None:
        """The folder, read-only."""
        app.router.add_static("/files", self.root)

    @property
    def files_url(self) -> str:
        """The base URL of the served folder."""
        return f"{self.url}/files"


def rewrite_mrc(source: Path, target: Path, label: str) -> np.ndarray:
    """The portal's rewrite of an MRC file: a new file (float32, a new header with ``label``) of the same image.

    Returns:
        The image data.

    Raises:
        OSError: a file cannot be read or written.
        ValueError: ``source`` is not an MRC file.
    """
    with mrcfile.open(source, permissive=True) as mrc:
        data = np.asarray(mrc.data, dtype=np.float32)
        voxel = float(mrc.voxel_size.x)
    target.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(target, overwrite=True) as out:
        out.set_data(data)
        out.voxel_size = voxel
        out.add_label(label)
    return data


def write_omezarr(path: Path, data: np.ndarray, voxel: float, levels: int = 3) -> None:
    """An OME-Zarr v0.4 pyramid (zarr format 2, the portal's) of ``data``: levels 0..levels-1, each binned by 2,
    chunks of up to 32³.

    Raises:
        EtdbError: zarr (the ``portal`` extra) is not installed.
        OSError: ``path`` cannot be written.
    """
    try:
        import zarr
    except ImportError:
        raise EtdbError("writing OME-Zarr pyramids needs zarr: pip install 'etdb-explore[portal]'") from None
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    datasets = []
    level = data
    for n in range(levels):
        root.create_array(str(n), data=level, chunks=tuple(min(32, s) for s in level.shape))
        scale = voxel * 2 ** n
        datasets.append({"path": str(n), "coordinateTransformations": [{"type": "scale", "scale": [scale] * 3}]})
        level = level[: level.shape[0] // 2 * 2, : level.shape[1] // 2 * 2, : level.shape[2] // 2 * 2]
        level = level.reshape(level.shape[0] // 2, 2, level.shape[1] // 2, 2, level.shape[2] // 2, 2).mean((1, 3, 5))
    root.attrs["multiscales"] = [{"version": "0.4", "name": path.stem, "datasets": datasets,
                                  "axes": [{"name": a, "type": "space", "unit": "angstrom"} for a in "zyx"]}]


def _value(row: Any, column: str) -> Any:
    value = row.get(column)
    return None if value is None or pd.isna(value) else value


class DemoHomes:
    """One tilt series of the demo ETDB (or of ``etdb``) in CaltechDATA + OSN and the CZ portal, on 127.0.0.1.

    Args:
        etdb: the ETDB index holding the dataset (default: the demo ETDB).
        txid: the dataset (default: the first with a reconstruction).
        folder: where the homes are built (default: ``homes`` in the demo's folder).
        client: reads the dataset's files from IPFS, once, to build the homes (default: the user's client).

    Attributes:
        etdb, caltechdata, czportal: each home's index (the last two once started).
        tiltid: the tilt series' id in the archives. reader: a HomeReader whose OSN host is the demo's.
        osn, portal: the servers (once started).
    """

    def __init__(self, etdb: Index | None = None, txid: str | None = None, folder: Path | None = None,
                 client: Client | None = None) -> None:
        from etdb_explore.demo import demo_dir, demo_index

        self.etdb = etdb if etdb is not None else demo_index()
        ds = self.etdb.datasets
        with_rec = set(self.etdb.files.loc[self.etdb.files["subtype"] == "reconstruction", "txid"])
        rows = ds[ds["txid"] == txid] if txid else ds[ds["txid"].isin(with_rec)]
        if rows.empty:
            raise EtdbError(f"no dataset {txid or 'with a reconstruction'} in {self.etdb!r}")
        self.row = rows.iloc[0]
        self.tiltid = str(self.row["sid"])
        self.folder = Path(folder) if folder is not None else demo_dir() / "homes" / str(self.row["txid"])[:16]
        self._client = client
        self.osn: OsnServer | None = None
        self.portal: FileServer | None = None
        self.reader: HomeReader | None = None
        self.caltechdata: Index | None = None
        self.czportal: Index | None = None

    def __repr__(self) -> str:
        state = f"serving OSN at {self.osn.url}, portal files at {self.portal.url}" if self.osn and self.portal \
            else "not serving"
        return f"<DemoHomes of {self.tiltid} ({self.row['txid'][:10]}…): {state}>"

    # ---- building ----------------------------------------------------------------------------------------------

    @property
    def _lab(self) -> Path:
        return self.folder / "osn" / BUCKET / ARCHIVE / self.tiltid

    @property
    def _run(self) -> Path:
        return self.folder / "portal" / str(PORTAL_DATASET) / self.tiltid

    def build(self) -> None:
        """Write the homes' files (skipped when a build of the same dataset is there): the lab folder's files read
        from IPFS (verified) for OSN, the portal's rewritten MRCs and OME-Zarr pyramid.

        Raises:
            EtdbError: a file cannot be read from IPFS (see :meth:`Client.read`), or zarr is not installed.
            OSError: the folder cannot be written.
        """
        marker = self.folder / "homes.json"
        if marker.is_file() and json.loads(marker.read_text()) == self._marker():
            return
        client = self._client or default_client()
        files = self.etdb.files[self.etdb.files["txid"] == self.row["txid"]]
        for fname, path in zip(files["fname"], files["ipfs_path"]):
            target = self._lab / fname
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, client.read(path))
        tilt = next(self._lab.glob("rawdata/*.mrc"))
        rec = next(p for p in self._lab.rglob("*") if p.suffix in (".rec", ".mrc") and "rawdata" not in p.parts)
        rewrite_mrc(tilt, self._run / "TiltSeries" / f"{self.tiltid}.mrc", "demo portal rewrite")
        tomogram = rewrite_mrc(rec, self._run / "Tomograms" / "100" / f"{self.tiltid}.mrc", "demo portal rewrite")
        with mrcfile.open(rec, header_only=True, permissive=True) as mrc:
            voxel = float(mrc.voxel_size.x) or 1.0
        write_omezarr(self._run / "Tomograms" / "100" / f"{self.tiltid}.zarr", tomogram, voxel)
        atomic_write(marker, json.dumps(self._marker()))

    def _marker(self) -> dict[str, Any]:
        return {"version": BUILD_VERSION, "txid": str(self.row["txid"]), "tiltid": self.tiltid}

    # ---- serving -------------------------------------------------------------------------------------------------

    def start(self) -> DemoHomes:
        """Build (once) and serve the homes on 127.0.0.1, and read their rows into :attr:`caltechdata` and
        :attr:`czportal`.

        Returns:
            The homes.

        Raises:
            EtdbError, OSError: as :meth:`build`; OSError also when no port can be bound.
        """
        self.build()
        self.osn = OsnServer(self.folder / "osn").start()
        self.portal = FileServer(self.folder / "portal").start()
        self.reader = HomeReader([self.osn.url])
        self.caltechdata = self._caltechdata()
        self.czportal = self._czportal()
        return self

    def close(self) -> None:
        """Stop the servers and close the reader's session."""
        if self.reader is not None:
            bridge.run(self.reader.close())
        for server in (self.osn, self.portal):
            if server is not None:
                server.close()
        self.osn = self.portal = self.reader = None

    def __enter__(self) -> DemoHomes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def joined(self) -> Index:
        """The ETDB joined with the two other homes (see :func:`~etdb_explore.index.joined.join_homes`).

        Returns:
            The joined :class:`Index`.
        """
        return join_homes(self.etdb, self.caltechdata, self.czportal)

    def _caltechdata(self) -> Index:
        """The CaltechDATA row of the tilt series: its InvenioRDM record, read by the CaltechDATA source's parser."""
        row, folder = self.row, f"{self.osn.url}/{BUCKET}/{ARCHIVE}/{self.tiltid}/"
        date = str(row["date"])[:10] if _value(row, "date") is not None else None
        technical = (f"&lt;strong&gt;Tilt Series Settings:&lt;/strong&gt;<br/>Tilt Range: {row['tilt_min']:g}° to "
                     f"{row['tilt_max']:g}°<br>Tilt Step:&nbsp;{row['tilt_step']:g}°<br/>"
                     f"<p>Dosage: {row['dosage']:g} eV/&Aring;&sup2;</p>Defocus: {row['defocus']:g} &mu;m<br>"
                     f"Microscope: {row['microscope']}<br>")
        record = {
            "id": "demo1-00001", "pids": {"doi": {"identifier": "10.22002/demo1-00001", "provider": "datacite"}},
            "access": {"record": "public", "files": "public", "embargo": {"active": False}},
            "links": {"self": "demo://caltechdata/records/demo1-00001"},
            "metadata": {
                "title": str(row["title"]), "publication_date": "2023-06-23",
                "identifiers": [{"identifier": self.tiltid, "scheme": "tiltid"}],
                "subjects": [{"subject": s} for s in (str(row["species"]), str(row["microscope"]),
                                                      "Electron Tomography")],
                "dates": [{"date": date, "type": {"id": "collected"}}] if date else [],
                "additional_descriptions": [
                    {"description": technical, "type": {"id": "technical-info"}},
                    {"description": f'Files available via S3 at <a href="{folder}">{folder}</a>',
                     "type": {"id": "files"}}]}}
        dataset, files = record_rows(record, self.osn.url)
        return home_index("caltechdata", [dataset], files)

    def _czportal(self) -> Index:
        """The portal's run of the tilt series as its GraphQL API answers, read by the portal source's parser."""
        row, base = self.row, f"{self.portal.files_url}/{PORTAL_DATASET}/{self.tiltid}"
        tilt_mrc, tomo_mrc = self._run / "TiltSeries" / f"{self.tiltid}.mrc", \
            self._run / "Tomograms" / "100" / f"{self.tiltid}.mrc"
        source = CzPortalSource(f"{self.portal.url}/graphql", (PORTAL_DATASET,))
        harvest = HomeHarvest()
        taxid = _value(row, "ncbi_taxid")
        with mrcfile.open(tomo_mrc, header_only=True) as mrc:
            voxel = float(mrc.voxel_size.x)
        source.add_rows(
            harvest, [{"id": PORTAL_RUN, "name": self.tiltid, "datasetId": PORTAL_DATASET}],
            {PORTAL_DATASET: {"id": PORTAL_DATASET, "title": str(row["title"]), "organismName": str(row["species"]),
                              "organismTaxid": int(taxid) if taxid is not None else None,
                              "description": "part of Caltech Jensen lab etdb (demo)"}},
            [{"id": 9001, "runId": PORTAL_RUN, "tiltMin": float(row["tilt_min"]), "tiltMax": float(row["tilt_max"]),
              "tiltStep": float(row["tilt_step"]), "totalFlux": round(float(row["dosage"]) * 0.8, 1),
              "pixelSpacing": voxel, "microscopeManufacturer": "FEI", "microscopeModel": "Polara",
              "tiltingScheme": "min to max tilt", "httpsMrcFile": f"{base}/TiltSeries/{self.tiltid}.mrc",
              "httpsOmezarrDir": None, "fileSizeMrc": float(tilt_mrc.stat().st_size)}],
            [{"id": 7001, "runId": PORTAL_RUN, "voxelSpacing": voxel,
              "httpsMrcFile": f"{base}/Tomograms/100/{self.tiltid}.mrc",
              "httpsOmezarrDir": f"{base}/Tomograms/100/{self.tiltid}.zarr",
              "fileSizeMrc": float(tomo_mrc.stat().st_size)}])
        return home_index("czportal", harvest.datasets, harvest.files, harvest.rejected)


__all__ = ["DemoHomes", "FileServer", "LoopbackServer", "OsnServer", "dead_url", "multipart_etag", "rewrite_mrc",
           "write_omezarr"]
