"""``etdb-explore publish``: a dry run by default (validation, cost estimate), --offline, status, edit, deactivate,
--json, exit codes."""

from __future__ import annotations

import json

import pytest

from etdb_explore.cli import main

from .conftest import LAB_KEY


@pytest.fixture
def table_csv(lab_table, tmp_path):
    path = tmp_path / "release.csv"
    lab_table.rename(columns={"species": "Organism"}).to_csv(path, index=False)
    return path


def test_dry_run_is_the_default(table_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ETDB_FLO_WIF", raising=False)
    log = tmp_path / "log.sqlite"
    assert main(["publish", "release", str(table_csv), "--column", "Organism=species", "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "dry run: 3 datasets, 15 files" in out and "transactions" in out and "FLO at 0.001 FLO/kB" in out
    assert not log.exists()
    assert main(["publish", "release", str(table_csv), "--column", "Organism=species", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] and report["datasets"] == 3 and report["transactions"] >= 3 and report["fee_flo"] > 0


def test_problems_exit_3_and_show_the_table(table_csv, capsys):
    assert main(["publish", "release", str(table_csv)]) == 3  # Organism not mapped: species missing
    captured = capsys.readouterr()
    assert "species" in captured.out and "is missing (mandatory)" in captured.out
    assert "3 problems" in captured.err and "nothing was published" in captured.err
    with pytest.raises(SystemExit) as exited:
        main(["publish", "release", str(table_csv), "--column", "Organism"])
    assert exited.value.code == 2


def test_offline_status_edit_deactivate(table_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAB_WIF", LAB_KEY.to_wif())
    log = str(tmp_path / "log.sqlite")
    base = ["--log", log, "--key-env", "LAB_WIF", "--json"]
    assert main(["publish", "release", str(table_csv), "--column", "Organism=species", "--offline",
                 "--store", str(tmp_path / "store"), *base]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in status] == ["signed"] * 3
    from etdb_explore import load_index
    from etdb_explore.publish import PublishLogSource

    txid = load_index(PublishLogSource(log)).datasets["txid"].iloc[0]
    assert main(["publish", "edit", txid, "--set", "details.defocus=-7.5", "--offline", *base]) == 0
    assert main(["publish", "deactivate", txid, "--offline", *base]) == 0
    capsys.readouterr()
    assert main(["publish", "status", "--log", log, "--json"]) == 0
    kinds = [r["kind"] for r in json.loads(capsys.readouterr().out)]
    assert kinds == ["publish"] * 3 + ["edit", "deactivate"]
    row = load_index(PublishLogSource(log)).datasets.set_index("txid").loc[txid]
    assert row["defocus"] == -7.5 and row["deactivated"]
    monkeypatch.setenv("LAB_WIF", "not a key")
    assert main(["publish", "deactivate", txid, "--offline", *base]) == 3
    assert "$LAB_WIF does not hold a FLO WIF private key" in capsys.readouterr().err


def test_publishing_offline_loads_no_node_client():
    """The offline path (the release, its log, the CLI) leaves the FLO node's client and the index it belongs to
    unloaded: publishing a lab's release pays for neither."""
    from ..subprocesses import run_python

    code = ("import sys, etdb_explore.cli, etdb_explore.publish, etdb_explore.publish.release; "
            "print(sorted(m for m in sys.modules if m.startswith('etdb_explore.index')))")
    status, out, err = run_python(code)
    assert status == 0, err
    assert out.strip() == "[]"
