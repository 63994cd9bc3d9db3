"""``etdb-explore search --source …`` over the homes, as a user runs it (a subprocess), against the stand-ins."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from .fixture import COMMUNITY, TILTID
from .invenio_standin import InvenioStandIn
from .portal_standin import PortalStandIn


async def etdb(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "etdb_explore", *args, env=dict(os.environ),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_search_every_home(homes, tmp_path):
    snapshot = homes.etdb.to_snapshot(tmp_path / "etdb")
    async with InvenioStandIn(homes.caltech("http://127.0.0.1:9"), COMMUNITY) as invenio, \
            PortalStandIn(homes.portal("http://files.invalid"), homes.portal_files) as portal:
        urls = ["--etdb", str(snapshot), "--caltechdata-url", invenio.url, "--czportal-url", portal.graphql_url]
        code, out, err = await etdb("search", "--source", "all", *urls, "--species", "Sulfolobus", "--json")
        assert code == 0, err
        rows = json.loads(out)
        assert [(r["canonical_id"], r["homes"], r["match"]) for r in rows] == \
            [(TILTID, "etdb caltechdata czportal", "letters+date+number")]
        code, out, err = await etdb("search", "--source", "caltechdata", *urls, "--json", "--columns", "tiltid,source")
        assert code == 0, err
        assert len(json.loads(out)) == 6 and {r["source"] for r in json.loads(out)} == {"caltechdata"}
        code, out, err = await etdb("search", "--source", "czportal", *urls, "--text", "nothing-like-this")
        assert code == 1
        code, out, err = await etdb("search", "--source", "etdb", *urls, "--json", "--columns", "sid")
        assert code == 0 and len(json.loads(out)) == 5
    code, out, err = await etdb("search", "--source", "caltechdata", "--caltechdata-url", invenio.url)
    assert code == 3 and invenio.url in err
