"""Never twice, never lost: ``etdb-explore publish release`` killed (SIGKILL) at many points – while adding and
signing, just before a ``sendtoaddress`` reaches the node, and between the node's answer and the log write – then
run again until done; the stand-in's ledger must hold every part exactly once. Also: a second run on a log in use
refuses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from contextlib import closing

import numpy as np
import pandas as pd

from etdb_explore.index.sources.flod import FlodSource
from etdb_explore.publish import PublishLog

from ..index.flod_standin import FlodStandIn
from ..subprocesses import ROOT
from .conftest import LAB_KEY

DATASETS = 4


def _lab(tmp_path) -> tuple[str, int]:
    """Four small dataset folders (enough files that each record needs two transactions; one needs five) and
    their table; returns the table's path."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(DATASETS):
        folder = tmp_path / "lab" / f"ds{i}"
        for rel in (f"rawdata/ds{i}.mrc", f"rawdata/ds{i}.rawtlt", f"3dimage_{i}/ds{i}_full.rec",
                    f"keyimg_ds{i}.jpg", f"keyimg_ds{i}_s.jpg", f"AutoCaps/snap_{i}_1.png", f"AutoCaps/snap_{i}_2.png"):
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(rng.bytes(int(rng.integers(1000, 300_000))))
        rows.append({"title": f"crash test {i}", "species": "Vibrio cholerae", "date": f"2015-0{i + 1}-01",
                     "defocus": -5.0, "tilt_min": -60, "tilt_max": 60, "folder": f"lab/ds{i}",
                     "notes": "long notes " * 180 if i == 2 else "short"})
    pd.DataFrame(rows).to_csv(tmp_path / "table.csv", index=False)
    return str(tmp_path / "table.csv")


async def _run(args: list[str], env: dict) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "etdb_explore", *args, cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)


async def _kill_when_logged(proc: asyncio.subprocess.Process, log, records: int) -> None:
    """Kill ``proc`` as soon as the publish log holds ``records`` records (polled every 2 ms, read-only)."""
    while proc.returncode is None:
        if log.exists():
            try:
                with closing(sqlite3.connect(f"{log.as_uri()}?mode=ro", uri=True)) as db:
                    if db.execute("SELECT COUNT(*) FROM records").fetchone()[0] >= records:
                        _kill(proc)
                        return
            except sqlite3.OperationalError:
                pass  # not created yet
        await asyncio.sleep(0.002)


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        os.kill(proc.pid, signal.SIGKILL)


async def test_killed_anywhere_each_part_is_broadcast_exactly_once(tmp_path):
    table = _lab(tmp_path)
    env = {**os.environ, "ETDB_FLO_WIF": LAB_KEY.to_wif()}
    log = tmp_path / "release.sqlite"
    # where each run is killed: as soon as the log holds n records (adding, signing); when a call arrives at the
    # node (settxfee: all signed, nothing sent; listtransactions: while reconciling); at the n-th sendtoaddress the
    # node receives (counting the dropped ones too), before it is processed, or after it was accepted but before
    # the answer reaches the client. 9 of the 11 parts are sent by the killed runs.
    plan = [("log", 1), ("log", 3), ("call", "settxfee"), ("before", 1), ("after", 2), ("call", "listtransactions"),
            ("after", 3), ("before", 5), ("after", 6), ("after", 7), ("before", 9), ("after", 10), ("after", 12)]
    async with FlodStandIn(automine=True) as node:
        args = ["publish", "release", table, "--log", str(log), "--store", str(tmp_path / "store"), "--node",
                f"http://rpc:secret@{node.url.split('://', 1)[1]}", "--no-progress", "--json"]
        outcomes = []
        running: list[asyncio.subprocess.Process] = []  # the run being killed
        for kind, at in plan:

            def on_call(method: str, kind=kind, at=at) -> bool:
                if (kind == "call" and method == at) or (
                        method == "sendtoaddress" and kind == "before" and node.calls.count(method) == at):
                    _kill(running[-1])
                    return True
                return False

            def after_send(method: str, kind=kind, at=at) -> None:
                if kind == "after" and node.calls.count("sendtoaddress") == at:
                    _kill(running[-1])

            node.hook, node.hook_after = on_call, after_send
            proc = await _run(args, env)
            running.append(proc)
            watch = asyncio.create_task(_kill_when_logged(proc, log, at)) if kind == "log" else None
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            if watch is not None:
                await watch
            outcomes.append((kind, at, proc.returncode, len(node.ledger)))
            assert proc.returncode == -signal.SIGKILL, (kind, at, proc.returncode, err.decode()[-2000:])
        node.hook = node.hook_after = None
        proc = await _run(args, env)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()[-2000:]
        status = json.loads(out)
        assert [r["state"] for r in status] == ["sent"] * DATASETS
        parts = sum(r["n_parts"] for r in status)
        assert [r["n_parts"] for r in status] == [2, 2, 5, 2]
        # every part exactly once on the ledger, and the log's txids are the node's
        assert len(node.ledger) == len(set(node.ledger)) == parts, outcomes
        assert node.calls.count("sendtoaddress") == parts + sum(k == "before" for k, _ in plan)
        by_txid = {tx["txid"]: tx["floData"] for tx in node.wallet}
        with PublishLog(log) as plog:
            for part in plog.parts():
                assert part.state == "sent" and by_txid[part.txid] == part.flodata
        harvest = await FlodSource(node.url, "rpc", "secret").harvest()
        assert not harvest.rejected
        assert sorted(r.txid for r in harvest.records) == sorted(r["txid"] for r in status)
        assert all(r.verify() for r in harvest.records)
        assert "reconcile" not in err.decode()


async def test_a_second_run_on_a_log_in_use_refuses(tmp_path):
    table = _lab(tmp_path)
    env = {**os.environ, "ETDB_FLO_WIF": LAB_KEY.to_wif()}
    with PublishLog(tmp_path / "release.sqlite"):
        proc = await _run(["publish", "release", table, "--log", str(tmp_path / "release.sqlite"), "--offline",
                           "--store", str(tmp_path / "store")], env)
        _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 3
    assert f"is in use by another run (process {os.getpid()})" in err.decode()
