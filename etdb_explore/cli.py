"""The ``etdb-explore`` command: search the index, run the demo, download, freeze and pull benchmark sets, add,
serve and move IPFS content, publish.

Exit codes: 0 success, 1 nothing matched (search, bench freeze), 2 usage error, 3 a source or input failed (also a
benchmark set's local copy that does not verify), 130 interrupted (Ctrl-C: the work in progress is cancelled; a
download resumes when run again).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from etdb_explore import __version__
from etdb_explore.errors import EtdbError
from etdb_explore.util.units import human_size

EXIT_OK, EXIT_EMPTY, EXIT_USAGE, EXIT_SOURCE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

DEFAULT_COLUMNS = ["txid", "species", "date", "tilt_min", "tilt_max", "defocus", "microscope", "title"]
JOINED_COLUMNS = ["canonical_id", "homes", "match", "species", "date", "tilt_min", "tilt_max", "microscope", "title"]


def _range(text: str) -> tuple[Any, Any]:
    """"-60:60", "2010:2015", ":-4" → a (lo, hi) pair, an empty side open."""
    lo, sep, hi = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected LO:HI, got {text!r}")

    def value(v: str) -> Any:
        v = v.strip()
        if not v:
            return None
        try:
            return float(v)
        except ValueError:
            return v

    return value(lo), value(hi)


def _date_range(text: str) -> tuple[Any, Any]:
    lo, sep, hi = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected FROM:TO, got {text!r}")
    return lo.strip() or None, hi.strip() or None


def _kind(text: str) -> str:
    """A ``--kinds`` value, checked against the one vocabulary of file kinds."""
    from etdb_explore.records.kinds import KindError, normalize_kinds

    try:
        normalize_kinds(text)
    except KindError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="demo",
                        help="demo (default), oipd[=URL], flod=URL (http://user:pass@host:7313/), a snapshot folder; "
                             "or a home: etdb (the ETDB index --etdb names, verified), caltechdata, czportal, or all "
                             "(the three joined, one row per tilt series)")
    parser.add_argument("--etdb", default="demo", metavar="SOURCE",
                        help="the ETDB index --source etdb/all uses (as --source; default demo)")
    parser.add_argument("--caltechdata-url", help="the InvenioRDM repository (default https://data.caltech.edu)")
    parser.add_argument("--czportal-url", help="the portal's GraphQL endpoint (default the public one)")
    parser.add_argument("--publisher", help="only records of this FLO address (oipd)")
    parser.add_argument("--refresh", action="store_true", help="harvest the source again instead of the cache")


# The filters whose values may start with "-" (-60:60): argparse would read "--tilt-range -60:60" as two options.
RANGE_OPTIONS = ("--tilt-range", "--defocus", "--dosage", "--magnification", "--date")
_NEGATIVE_RANGE = re.compile(r"-[\d.:]")


def glue_ranges(argv: Sequence[str]) -> list[str]:
    """``argv`` with each range filter followed by a negative range (``--tilt-range -60:60``) written as one
    argument (``--tilt-range=-60:60``), so both spellings work.

    Returns:
        The arguments.
    """
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in RANGE_OPTIONS and _NEGATIVE_RANGE.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _add_filter_options(parser: argparse.ArgumentParser) -> None:
    f = parser.add_argument_group("filters")
    f.add_argument("--species", action="append", help="name or NCBI taxid (repeatable)")
    f.add_argument("--tilt-range", type=_range, metavar="LO:HI", help="acquisition covers at least this range (deg)")
    f.add_argument("--defocus", type=_range, metavar="LO:HI", help="defocus (µm), e.g. -8:-4")
    f.add_argument("--dosage", type=_range, metavar="LO:HI", help="dosage (e/Å²)")
    f.add_argument("--magnification", type=_range, metavar="LO:HI")
    f.add_argument("--microscope", action="append")
    f.add_argument("--microscopist", action="append")
    f.add_argument("--lab", action="append")
    f.add_argument("--tilt-scheme", choices=["single", "dual"])
    f.add_argument("--date", type=_date_range, metavar="FROM:TO", help="acquisition date, e.g. 2010:2015")
    f.add_argument("--text", help="substring of title, notes, species, strain or tilt-series id")


def _add_content_options(parser: argparse.ArgumentParser) -> None:
    c = parser.add_argument_group("content sources")
    c.add_argument("--store", type=Path, help="local store folder (default: the user's etdb-explore store)")
    c.add_argument("--gateway", action="append", help="trustless gateway URL (repeatable; default IPFS_GATEWAY, "
                                                       "~/.ipfs/gateway, then public gateways)")
    c.add_argument("--kubo", nargs="?", const=True, default=False, help="also use a Kubo daemon (optional address)")
    c.add_argument("--offline", action="store_true", help="local store only, no network")


def _add_kinds_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kinds", nargs="+", type=_kind, metavar="KIND",
                        help="file kinds, the records' subtypes (tiltseries, reconstruction, keyimg, snapshot, "
                             "thumbnail, keymov, subvolume, preview, other) or images, videos, others; plurals "
                             "and tilt-series work too (default: all)")


def _client(args: argparse.Namespace) -> Any:
    from etdb_explore.content.client import Client

    return Client(args.store, False if args.offline else args.gateway, args.kubo)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``etdb-explore`` command line, one subcommand per ``cmd_*`` function.

    Returns:
        The parser; ``parse_args`` exits with code 2 on a usage error, as argparse does.
    """
    parser = argparse.ArgumentParser(prog="etdb-explore", description="Explore the Electron Tomography Database.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    search = sub.add_parser("search", help="filter the ETDB index and print the matching datasets")
    _add_source_options(search)
    _add_filter_options(search)
    search.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    search.add_argument("--json", action="store_const", const="json", dest="format", help="same as --format json")
    search.add_argument("--output", "-o", type=Path, help="write here instead of standard output (parquet needs it)")
    search.add_argument("--columns", help="comma-separated columns (default: a summary set; 'all' for every one)")
    search.add_argument("--limit", type=int, help="at most this many rows")

    download = sub.add_parser("download", help="download the files of the matching datasets (verified, resumable)")
    _add_source_options(download)
    _add_filter_options(download)
    _add_content_options(download)
    _add_kinds_option(download)
    download.add_argument("--dest", type=Path, default=Path("etdb-download"), help="target folder")
    download.add_argument("--workers", type=int, default=4, help="files downloaded at once")
    download.add_argument("--dry-run", action="store_true", help="only print what would be downloaded")
    download.add_argument("--json", action="store_true", help="print a JSON report")
    download.add_argument("--no-progress", action="store_true")

    _add_bench_parser(sub)

    serve = sub.add_parser("serve", help="serve the local store as a trustless IPFS gateway")
    serve.add_argument("--store", type=Path, help="store folder (default: the user's etdb-explore store)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080)

    add = sub.add_parser("add", help="add files or folders to the local store (Kubo-compatible CIDs)")
    add.add_argument("paths", nargs="+", type=Path)
    add.add_argument("--store", type=Path)
    add.add_argument("--cid-version", type=int, choices=[0, 1], default=0,
                     help="0: Kubo's default profile; 1: CIDv1 with raw leaves")
    add.add_argument("--nocopy", action="store_true", help="keep leaves in the original files (needs --cid-version 1)")
    add.add_argument("--only-hash", action="store_true", help="compute CIDs without storing anything")
    add.add_argument("--json", action="store_true")

    car = sub.add_parser("car", help="export a DAG from the store as CAR, or import a CAR into it")
    car.add_argument("action", choices=["export", "import"])
    car.add_argument("target", help="export: the root CID; import: the CAR file")
    car.add_argument("-o", "--output", type=Path, help="export: the CAR file to write")
    car.add_argument("--store", type=Path)

    demo = sub.add_parser("demo", help="build (once) the local demo ETDB and run the main job on it")
    demo.add_argument("--rebuild", action="store_true", help="build the demo ETDB again")
    demo.add_argument("--size", choices=["full", "small"],
                      help="full: 32 datasets (the default, unless $ETDB_EXPLORE_DEMO says otherwise); small: 12 "
                           "smaller ones, built in seconds")
    demo.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    _add_publish_parser(sub)
    return parser


def _pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` → (NAME, VALUE)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def _add_publish_parser(sub: Any) -> None:
    publish = sub.add_parser("publish", help="publish a lab's release: folders into IPFS, signed records onto FLO",
                             description="Publish a lab's own datasets: dry run (the default: validation and cost "
                                         "estimate), --offline (signed floData into the publish log) or --node "
                                         "(broadcast through a FLO node's JSON-RPC). The key comes from "
                                         "$ETDB_FLO_WIF, --key-env, --key-file (mode 0600) or --keyring.")
    actions = publish.add_subparsers(dest="action", required=True)

    def common(parser: argparse.ArgumentParser, *, node: bool = True) -> None:
        parser.add_argument("--log", type=Path, default=Path("publish-log.sqlite"),
                            help="the publish log (SQLite; default ./publish-log.sqlite)")
        k = parser.add_argument_group("signing key (never printed)")
        k.add_argument("--key-env", metavar="VAR", help="environment variable holding the WIF (default ETDB_FLO_WIF)")
        k.add_argument("--key-file", type=Path, help="file holding the WIF, readable by its owner only (chmod 600)")
        k.add_argument("--keyring", metavar="USER", help="keyring entry of service etdb-explore and this user")
        if node:
            where = parser.add_mutually_exclusive_group()
            where.add_argument("--node", metavar="URL", help="broadcast through this FLO node's JSON-RPC "
                                                             "(http://user:pass@127.0.0.1:7313/)")
            where.add_argument("--offline", action="store_true", help="only sign into the publish log")
        parser.add_argument("--json", action="store_true", help="print a JSON report")

    release = actions.add_parser("release", help="publish the datasets of a metadata table (dry run by default)")
    release.add_argument("table", type=Path, help="the metadata table: .csv, .xlsx, .parquet or .json; one row per "
                                                  "dataset, a 'folder' column naming its folder")
    release.add_argument("--root", type=Path, help="where relative folders are (default: the table's folder)")
    release.add_argument("--column", action="append", type=_pair, default=[], metavar="COLUMN=FIELD",
                         help="map a table column onto a Research-Tomogram field (repeatable)")
    release.add_argument("--default", action="append", type=_pair, default=[], metavar="FIELD=VALUE",
                         help="a field's value where the table leaves it empty (repeatable)")
    release.add_argument("--store", type=Path, help="local store folder (default: the user's etdb-explore store)")
    release.add_argument("--kubo", nargs="?", const=True, default=None, help="add through a Kubo daemon instead")
    release.add_argument("--copy", action="store_true", help="copy the files into the store (default: no-copy)")
    release.add_argument("--car-dir", type=Path, help="also write one CAR per dataset here (for pinning services)")
    release.add_argument("--fee-rate", type=float, default=0.001, help="FLO per kB (settxfee; default 0.001)")
    release.add_argument("--no-progress", action="store_true")
    common(release)

    broadcast = actions.add_parser("broadcast", help="send what the publish log has signed and not yet sent")
    common(broadcast, node=False)
    broadcast.add_argument("--node", metavar="URL", required=True, help="the FLO node's JSON-RPC URL")

    status = actions.add_parser("status", help="the publish log's records and their progress")
    status.add_argument("--log", type=Path, default=Path("publish-log.sqlite"))
    status.add_argument("--node", metavar="URL", help="also ask the node which parts are confirmed")
    status.add_argument("--json", action="store_true")

    for name, text in (("edit", "edit one of the lab's published records (re-signed)"),
                       ("deactivate", "deactivate one of the lab's published records")):
        change = actions.add_parser(name, help=text)
        change.add_argument("txid", help="the record's txid (as the publish log holds it)")
        if name == "edit":
            change.add_argument("--set", action="append", type=_pair, required=True, dest="changes",
                                metavar="FIELD=VALUE", help="dotted artifact field and its new JSON value, e.g. "
                                                            "details.defocus=-6.5 or info.title='\"New\"'")
        common(change)


def _read_table(path: Path) -> Any:
    import pandas as pd

    readers = {".csv": pd.read_csv, ".tsv": lambda p: pd.read_csv(p, sep="\t"), ".xlsx": pd.read_excel,
               ".xls": pd.read_excel, ".parquet": pd.read_parquet, ".json": pd.read_json}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise EtdbError(f"{path}: unknown table format; use .csv, .tsv, .xlsx, .parquet or .json")
    return reader(path)


def _publish_key(args: argparse.Namespace, required: bool = True) -> Any:
    """The signing key the options name (None for a dry run that names none and has no $ETDB_FLO_WIF)."""
    import os

    from etdb_explore.publish.keys import DEFAULT_VARIABLE, load_key

    named = args.key_env or args.key_file or args.keyring
    if not named and not required and not os.environ.get(DEFAULT_VARIABLE):
        return None
    return load_key(env=args.key_env, file=args.key_file, keyring_user=args.keyring)


def _status_json(status: Any) -> str:
    return status.astype(object).where(status.notna(), None).to_json(orient="records", indent=1)


def _print_status(status: Any, as_json: bool) -> None:
    if as_json:
        print(_status_json(status))
    else:
        columns = ["name", "kind", "state", "txid", "n_parts", "parts_sent"]
        print(status[columns].to_string(index=False, max_colwidth=50))


def _release_dry_run(release: Any, args: argparse.Namespace) -> int:
    plan = release.dry_run(_publish_key(args, required=False), args.fee_rate)
    if args.json:
        est = plan.estimate
        print(json.dumps({"dry_run": True, "datasets": len(plan.records), "messages": est.messages,
                          "transactions": est.transactions, "flodata_bytes": est.flodata_bytes,
                          "transaction_bytes": est.transaction_bytes, "fee_flo": est.fee, "fee_rate": est.fee_rate},
                         indent=1))
    else:
        print(plan)
        print("nothing was added, signed or sent; publish with --offline or --node URL")
    return EXIT_OK


def _publish_release(args: argparse.Namespace, node: Any) -> int:
    from etdb_explore.publish.release import Release, ReleaseProblems

    release = Release(_read_table(args.table), root=args.root or args.table.parent, columns=dict(args.column),
                      defaults=dict(args.default))
    try:
        if node is None and not args.offline:
            return _release_dry_run(release, args)
        store = kubo = None
        if args.kubo:
            from etdb_explore.ipfs.sources.kubo import KuboSource

            kubo = KuboSource(None if args.kubo is True else args.kubo)
        else:
            from etdb_explore.ipfs.sources.store import LocalStore

            store = LocalStore(args.store)
        status = release.publish(args.log, _publish_key(args), store=store, kubo=kubo, nocopy=not args.copy,
                                 node=node, offline=args.offline, car_dir=args.car_dir, fee_rate=args.fee_rate,
                                 progress=not (args.json or args.no_progress))
    except ReleaseProblems as exc:
        print(_status_json(exc.problems) if args.json else exc.problems.to_string(index=False, max_colwidth=60))
        print(f"etdb-explore: {len(exc.problems)} problems in {args.table}; nothing was published", file=sys.stderr)
        return EXIT_SOURCE
    _print_status(status, args.json)
    return EXIT_OK


def _publish_change(args: argparse.Namespace, node: Any) -> int:
    from etdb_explore.index.loading import harvest_index
    from etdb_explore.publish import PublishLog, PublishLogSource, deactivate, edit

    record = harvest_index(PublishLogSource(args.log)).record(args.txid)
    key = _publish_key(args)
    if args.action == "edit":
        changes = {}
        for name, value in args.changes:
            try:
                changes[name] = json.loads(value)
            except ValueError:
                changes[name] = value  # a bare word is text
        edit(args.log, record, key, changes=changes, node=node, offline=args.offline)
    else:
        deactivate(args.log, record, key, node=node, offline=args.offline)
    with PublishLog(args.log) as log:
        _print_status(log.records(), args.json)
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    """``etdb-explore publish release|broadcast|status|edit|deactivate``.

    Returns:
        EXIT_OK when done (a dry run: when the release is ready), EXIT_SOURCE when the table has problems (printed).

    Raises:
        EtdbError: the key, the log, the node or the content failed (KeySourceError, PublishLogBusy, RpcError, …).
        OSError: the table or a folder cannot be read.
    """
    node = None
    if getattr(args, "node", None):  # the node's client (and the index it belongs to) only when it is used
        from etdb_explore.index.sources.flod import FlodRpc

        node = FlodRpc(args.node)
    if args.action == "release":
        return _publish_release(args, node)
    if args.action in ("edit", "deactivate"):
        return _publish_change(args, node)
    from etdb_explore.publish.broadcast import Broadcaster, broadcast
    from etdb_explore.publish.log import PublishLog
    from etdb_explore.util.bridge import run

    if args.action == "broadcast":
        _print_status(broadcast(args.log, node, _publish_key(args)), args.json)
        return EXIT_OK
    with PublishLog(args.log) as log:  # status
        if node is not None:
            run(Broadcaster(node).confirm(log))
        status = log.records()
    print(_status_json(status) if args.json else status.to_string(index=False, max_colwidth=50))
    return EXIT_OK


def _add_bench_parser(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmark sets: freeze a selection, pull it, verify a copy, describe it "
                                         "(Croissant)")
    actions = bench.add_subparsers(dest="action", required=True)
    freeze = actions.add_parser("freeze", help="freeze the files of the matching datasets, each pinned to its CID, "
                                               "into a benchmark set file (JSON)")
    _add_source_options(freeze)
    _add_filter_options(freeze)
    _add_content_options(freeze)
    _add_kinds_option(freeze)
    freeze.add_argument("--output", "-o", type=Path, required=True, help="the set file to write")
    freeze.add_argument("--name", default="etdb-benchmark")
    freeze.add_argument("--description", default="")
    freeze.add_argument("--license", default="", help="the data's licence (URL or SPDX id), for Croissant")
    freeze.add_argument("--checksums", action="store_true", help="also read every file now for its sha256")
    freeze.add_argument("--workers", type=int, default=4, help="files resolved (or read) at once")
    pull = actions.add_parser("pull", help="download a set's files by their frozen CIDs (verified, resumable)")
    verify = actions.add_parser("verify", help="check a local copy of a set: every CID recomputed from the bytes")
    croissant = actions.add_parser("croissant", help="write a set's Croissant 1.0 JSON-LD (for ML tooling)")
    for action in (pull, verify, croissant):
        action.add_argument("set", type=Path, help="the benchmark set file")
    _add_content_options(pull)
    pull.add_argument("--workers", type=int, default=4, help="files downloaded at once")
    for action in (pull, verify):
        action.add_argument("--dest", type=Path, default=Path("etdb-benchmark"), help="the local copy's folder")
    croissant.add_argument("--dest", type=Path, help="a local copy to take the files' sha256 from (verified)")
    croissant.add_argument("--base-url", default="https://ipfs.io/ipfs/", help="file URLs: this + IPFS path")
    croissant.add_argument("--url", help="the dataset's URL (default: ipfs:// + the set file's CID)")
    croissant.add_argument("--license", help="the data's licence (default: the set's)")
    croissant.add_argument("--output", "-o", type=Path, help="write here instead of standard output")
    for action in (freeze, pull, verify):
        action.add_argument("--json", action="store_true", help="print a JSON report")
    for action in (freeze, pull):
        action.add_argument("--no-progress", action="store_true")


HOMES = ("etdb", "caltechdata", "czportal", "all")


def _home_index(args: argparse.Namespace) -> Any:
    """The index of ``--source etdb|caltechdata|czportal|all`` (all: the three joined)."""
    from etdb_explore import load_index
    from etdb_explore.index.joined import join_homes
    from etdb_explore.index.loading import load_home
    from etdb_explore.index.sources.caltechdata import CaltechDataSource
    from etdb_explore.index.sources.czportal import CzPortalSource

    wanted = ("etdb", "caltechdata", "czportal") if args.source == "all" else (args.source,)
    etdb = load_index(_source(args, args.etdb), refresh=args.refresh) if "etdb" in wanted else None
    if wanted == ("etdb",):
        return etdb
    caltech = load_home(CaltechDataSource(*([args.caltechdata_url] if args.caltechdata_url else []))) \
        if "caltechdata" in wanted else None
    portal = load_home(CzPortalSource(*([args.czportal_url] if args.czportal_url else []))) \
        if "czportal" in wanted else None
    if args.source == "all":
        return join_homes(etdb, caltech, portal)
    return caltech if caltech is not None else portal


def _load(args: argparse.Namespace) -> Any:
    from etdb_explore import load_index

    if args.source in HOMES:
        return _home_index(args)
    return load_index(_source(args), refresh=args.refresh)


def _source(args: argparse.Namespace, spec: str | None = None) -> Any:
    spec = args.source if spec is None else spec
    if spec == "demo":
        return None
    if spec == "oipd" or spec.startswith("oipd="):
        from etdb_explore.index.sources.oipd import OipdSource

        url = spec.partition("=")[2]
        return OipdSource(url, publisher=args.publisher) if url else OipdSource(publisher=args.publisher)
    if spec.startswith("flod="):
        from etdb_explore.index.sources.flod import FlodSource

        return FlodSource(spec.partition("=")[2])
    return Path(spec)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    names = ["species", "tilt_range", "defocus", "dosage", "magnification", "microscope", "microscopist", "lab",
             "tilt_scheme", "date", "text"]
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _emit(table: Any, fmt: str, output: Path | None) -> None:
    from etdb_explore.index.registry import untagged
    from etdb_explore.util.files import atomic_write

    if fmt == "parquet":
        if output is None:
            raise EtdbError("--format parquet needs --output FILE")
        atomic_write(output, untagged(table).to_parquet)
        return
    if fmt == "csv":
        text = table.to_csv(index=False)
    elif fmt == "json":
        text = table.to_json(orient="records", date_format="iso", force_ascii=False, indent=1) + "\n"
    else:
        text = table.to_string(index=False, max_colwidth=40) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        atomic_write(output, text)


def cmd_search(args: argparse.Namespace) -> int:
    """``etdb-explore search``: load the index, filter it, and write the matching datasets.

    Returns:
        EXIT_OK when datasets match, EXIT_EMPTY when none does.

    Raises:
        EtdbError: the source failed (SourceError), a snapshot folder is unreadable, or parquet lacks ``--output``.
        KeyError: a column in ``--columns`` does not exist.
        OSError: the output cannot be written.
    """
    index = _load(args)
    selection = index.filter(**_filters(args))
    table = selection.datasets
    if args.columns != "all":
        default = JOINED_COLUMNS if "canonical_id" in table else DEFAULT_COLUMNS
        table = table[args.columns.split(",") if args.columns else default]
    if args.limit is not None:
        table = table.head(args.limit)
    _emit(table, args.format, args.output)
    if args.format == "table" and args.output is None:
        print(f"{len(selection)} of {len(index)} datasets match; {len(index.rejected)} records rejected.",
              file=sys.stderr)
    return EXIT_OK if len(selection) else EXIT_EMPTY


def cmd_download(args: argparse.Namespace) -> int:
    """``etdb-explore download``: download the files of the matching datasets (or, ``--dry-run``, plan it).

    Returns:
        EXIT_OK when every file was fetched or already complete, else EXIT_SOURCE (failures are printed).

    Raises:
        EtdbError: the index source failed.
        OSError: the destination cannot be written.
    """
    from etdb_explore.datasets.download import download, report_dict

    selection = _load(args).filter(**_filters(args))
    with _client(args) as client:
        report = _fetching(args.dest, lambda: download(selection, args.kinds, args.dest, args.workers, client,
                                                       args.dry_run, progress=not (args.json or args.no_progress)))
    if report is None:
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps(report_dict(report), indent=1))
    elif args.dry_run:
        for kind, (files, size) in report.planned.items():
            print(f"{kind:>16}: {files:6d} files {human_size(size):>10}")
        print(f"{sum(n for n, _ in report.planned.values())} files of {len(selection)} datasets, "
              f"{human_size(report.planned_bytes)} in all, to download into {args.dest}")
    else:
        _print_report(report)
    return EXIT_OK if report.ok else EXIT_SOURCE


def _fetching(dest: Path, fetch: Callable[[], Any]) -> Any:
    """``fetch()``; None, after saying how to resume, when Ctrl-C stops it."""
    try:
        return fetch()
    except KeyboardInterrupt:
        print(f"etdb-explore: interrupted; run the same command again to resume the download into {dest}",
              file=sys.stderr)
        return None


def _print_report(report: Any) -> None:
    print(f"{len(report.fetched)} fetched, {len(report.skipped)} already complete, {len(report.failed)} failed "
          f"({report.bytes / 1e6:.1f} MB) into {report.dest}")
    for path, reason in report.failed.items():
        print(f"  failed {path}: {reason}", file=sys.stderr)


def cmd_bench(args: argparse.Namespace) -> int:
    """``etdb-explore bench freeze|pull|verify|croissant``: benchmark sets from the command line.

    Returns:
        EXIT_OK; EXIT_EMPTY when ``freeze`` matches no file; EXIT_SOURCE when files fail to download (``pull``) or a
        local copy does not verify (``verify``, ``croissant --dest``); EXIT_INTERRUPTED on Ctrl-C during ``pull``.

    Raises:
        BenchmarkSetError: the set file is not a benchmark set; a filter is unknown.
        EtdbError: the index source failed; a file cannot be resolved; a sha256 is not known (``croissant``).
        OSError: a file cannot be read or written.
    """
    from etdb_explore.datasets.benchmark_set import BenchmarkSet, EmptySelectionError
    from etdb_explore.datasets.download import report_dict
    from etdb_explore.util.files import atomic_write

    if args.action == "freeze":
        from etdb_explore import load_index

        index = load_index(_source(args), refresh=args.refresh)
        with _client(args) as client:
            try:
                bset = BenchmarkSet.freeze(index, args.kinds, name=args.name, description=args.description,
                                           license=args.license, filters=_filters(args), client=client,
                                           checksums=args.checksums, workers=args.workers,
                                           progress=not (args.json or args.no_progress))
            except EmptySelectionError as exc:
                print(f"etdb-explore: {exc}", file=sys.stderr)
                return EXIT_EMPTY
        bset.save(args.output)
        summary = {"set": str(args.output), "name": bset.name, "cid": str(bset.cid), "datasets": len(bset.txids),
                   "files": len(bset.files), "bytes": bset.total_bytes, "filters": bset.filters,
                   "source": bset.source, "searched": bset.searched}
        print(json.dumps(summary, indent=1) if args.json else
              f"froze {len(bset.files)} files ({human_size(bset.total_bytes)}) of {len(bset.txids)} datasets into "
              f"{args.output} ({bset.cid})")
        return EXIT_OK
    bset = BenchmarkSet.load(args.set)
    if args.action == "pull":
        with _client(args) as client:
            report = _fetching(args.dest, lambda: bset.materialize(
                args.dest, workers=args.workers, client=client, progress=not (args.json or args.no_progress)))
        if report is None:
            return EXIT_INTERRUPTED
        if args.json:
            print(json.dumps({"set": str(args.set)} | report_dict(report), indent=1))
        else:
            _print_report(report)
        return EXIT_OK if report.ok else EXIT_SOURCE
    if args.action == "verify":
        problems = bset.verify(args.dest)
        if args.json:
            print(json.dumps({"set": str(args.set), "dest": str(args.dest), "files": len(bset.files),
                              "ok": len(bset.files) - len(problems), "problems": problems}, indent=1))
        else:
            print(f"{len(bset.files) - len(problems)} of {len(bset.files)} files verified in {args.dest}")
            for path, problem in problems.items():
                print(f"  {path}: {problem}", file=sys.stderr)
        return EXIT_SOURCE if problems else EXIT_OK
    if args.dest is not None and (problems := bset.verify(args.dest)):
        first = next(iter(problems.items()))
        raise EtdbError(f"{len(problems)} files of {args.dest} do not verify (first {first[0]}: {first[1]})")
    doc = json.dumps(bset.croissant(args.base_url, url=args.url, license=args.license), indent=1,
                     ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(doc)
    else:
        atomic_write(args.output, doc)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``etdb-explore demo``: build (once) the demo ETDB and run the main job on it.

    Returns:
        EXIT_OK.

    Raises:
        EtdbError: the demo cannot be read from the local store.
        OSError: the demo folder cannot be written.
    """
    from etdb_explore.demo.main_job import run_main_job

    summary = run_main_job(rebuild=args.rebuild, quiet=args.json, size=args.size)
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """``etdb-explore serve``: serve the local store as a trustless gateway until Ctrl-C.

    Returns:
        EXIT_OK once interrupted.

    Raises:
        OSError: the address cannot be bound.
    """
    import asyncio

    from etdb_explore.ipfs.gateway_server import start_server
    from etdb_explore.ipfs.sources.store import LocalStore

    store = LocalStore(args.store)

    async def serve_forever() -> None:
        runner, url = await start_server(store, args.host, args.port)
        print(f"serving {store.path} at {url}/ipfs/<cid> (Ctrl-C stops)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve_forever())
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    """``etdb-explore add``: add files or folders to the local store (or only hash them) with Kubo's CIDs.

    Returns:
        EXIT_OK.

    Raises:
        EtdbError: ``--nocopy`` without ``--cid-version 1``.
        OSError: a path cannot be read, or the store cannot be written.
    """
    from etdb_explore.ipfs.build.importer import (
        KUBO_CIDV1,
        KUBO_DEFAULT,
        add_directory,
        add_file,
    )
    from etdb_explore.ipfs.sources.store import LocalStore

    profile = KUBO_CIDV1 if args.cid_version == 1 else KUBO_DEFAULT
    if args.nocopy and args.cid_version != 1:
        raise EtdbError("--nocopy needs --cid-version 1 (raw leaves), as in Kubo's filestore")
    store = None if args.only_hash else LocalStore(args.store)
    results = []
    for path in args.paths:
        add = add_directory if path.is_dir() else add_file
        added = add(path, profile, store, nocopy=args.nocopy)
        results.append({"path": str(path), "cid": str(added.cid), "size": added.size})
        if not args.json:
            print(f"added {added.cid} {path}")
    if args.json:
        print(json.dumps(results, indent=1))
    return EXIT_OK


def cmd_car(args: argparse.Namespace) -> int:
    """``etdb-explore car export|import``: write a DAG of the store as a CAR file, or import one into the store.

    Returns:
        EXIT_OK.

    Raises:
        CarError, VerificationError: (import) the file is not a well-formed CAR, or a block does not match its CID.
        CIDError, BlockNotFoundError, EtdbError: (export) a bad root CID, a block missing from the store, or a
            malformed block.
        OSError: a file cannot be read or written.
    """
    from etdb_explore.ipfs.build.carfiles import export_car, import_car
    from etdb_explore.ipfs.sources.store import LocalStore
    from etdb_explore.util.bridge import run

    store = LocalStore(args.store)
    if args.action == "import":
        roots = import_car(args.target, store)
        print("imported " + " ".join(map(str, roots)))
        return EXIT_OK
    out = args.output or Path(f"{args.target}.car")
    written = run(export_car(store, args.target, out))
    print(f"wrote {out} ({written} bytes)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``etdb-explore`` command with ``argv`` (default: ``sys.argv[1:]``), printing errors, not raising.

    Returns:
        The exit code: EXIT_OK (0), EXIT_EMPTY (1, nothing matched), EXIT_USAGE (2, also for KeyError and
        ValueError) or EXIT_SOURCE (3, an EtdbError or OSError).

    Raises:
        SystemExit: from argparse, for ``--help`` or a usage error (code 2).
    """
    parser = build_parser()
    args = parser.parse_args(glue_ranges(sys.argv[1:] if argv is None else argv))
    commands = {"search": cmd_search, "demo": cmd_demo, "serve": cmd_serve, "add": cmd_add, "car": cmd_car,
                "download": cmd_download, "publish": cmd_publish, "bench": cmd_bench}
    try:
        return commands[args.command](args)
    except EtdbError as exc:
        print(f"etdb-explore: {exc}", file=sys.stderr)
        return EXIT_SOURCE
    except (KeyError, ValueError) as exc:
        print(f"etdb-explore: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"etdb-explore: {exc}", file=sys.stderr)
        return EXIT_SOURCE
    except KeyboardInterrupt:
        print("etdb-explore: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
