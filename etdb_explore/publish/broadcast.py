"""Broadcasting the publish log through a FLO node's JSON-RPC, as go-etdb did, never sending a part twice.

go-etdb's calls: ``settxfee <rate>``, then one ``sendtoaddress`` per part, to the publisher's own address, 0.1 FLO,
the part as ``floData`` (named parameters); insufficient funds (-6) and fee errors (-4) are retried with
back-off (go-etdb: 30 s, 20 times).

Two phases per part: the log marks it ``sending`` (committed) before the call and ``sent`` with its txid after.
A part found ``sending`` when a run starts was interrupted somewhere in between, so the node is asked first: the
wallet's recent transactions (``listtransactions``, ``gettransaction``, ``decoderawtransaction``) are searched for
that exact floData; if found, its txid is written, else the part is sent. Signed floData is deterministic, so a
part's floData is the same text before and after a crash. An answer that leaves it unknown whether the node took
the part (a time-out, a dropped connection) stops the run with the part left ``sending``, for the next run to
reconcile.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pandas as pd

from etdb_explore.errors import EtdbError, SourceError
from etdb_explore.index.sources.flod import FlodRpc, RpcError
from etdb_explore.publish.estimate import DEFAULT_FEE_RATE
from etdb_explore.publish.log import PartRow, PublishLog, open_log
from etdb_explore.publish.messages import later_parts, sign_later_parts
from etdb_explore.records.flo import PrivateKey
from etdb_explore.util import bridge

RETRY_CODES = (-6, -4)  # RPC_WALLET_INSUFFICIENT_FUNDS, RPC_WALLET_ERROR (fee too low, transaction rejected)
AMOUNT = 0.1  # FLO sent to the publisher's own address with each part, as go-etdb did
RECONCILE_PAGE = 100
RECONCILE_MARGIN = 3600.0  # seconds before a part was marked sending that its transaction may carry as time


@dataclass
class Broadcaster:
    """Sends a publish log's parts through ``rpc``.

    Args:
        fee_rate: FLO per kB for ``settxfee``.
        retries: tries per part on -6/-4 before giving up.
        backoff: the first wait (s) after a -6/-4; each later wait doubles, up to ``max_backoff``.
        sleep: how to wait (a coroutine function; :func:`asyncio.sleep`).
    """

    rpc: FlodRpc
    fee_rate: float = DEFAULT_FEE_RATE
    amount: float = AMOUNT
    retries: int = 20
    backoff: float = 30.0
    max_backoff: float = 600.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def run(self, log: PublishLog, key: PrivateKey | None = None) -> int:
        """Send every part not yet sent (reconciling interrupted ones first), in order.

        ``key`` signs the later parts of multipart messages once part 0's txid is known; messages that fit in
        one transaction need none.

        Returns:
            How many parts were sent in this run.

        Raises:
            RpcError: the node refused a part for another reason than -6/-4, or still after ``retries`` tries.
            SourceError: the node cannot be reached or its answer was lost (the part stays ``sending``).
            EtdbError: later parts of multipart messages wait for ``key`` (every part 0 was sent), or a different
                key signed them.
        """
        sent = 0
        async with self.rpc.session() as session:
            await self.reconcile(log, session)
            await self.rpc.call(session, "settxfee", [self.fee_rate])
            self._sign_waiting(log, key)
            # one pass over the log, record by record: a multipart message's later parts are signed as soon as its
            # part 0 is sent (they name its txid), and follow it
            for parts in _by_record(log.parts("signed", "waiting")):
                for k in range(len(parts)):
                    part = parts[k]  # read from ``parts`` each time: signing the later parts replaces them
                    if part.state == "waiting":
                        continue  # its part 0 went without the key (here or in an earlier run)
                    multipart = part.part == 0 and part.n_parts > 1 and key is not None
                    if multipart:
                        _check_publisher(part, key)  # before part 0 goes: the key must sign the later parts
                    txid = await self._send(log, session, part)
                    sent += 1
                    if multipart:
                        parts = self._sign_later(log, parts, txid, key)
        waiting = log.parts("waiting")
        if waiting:
            raise EtdbError(f"{len(waiting)} later parts of multipart messages wait for the signing key (they name "
                            "part 0's txid, known only now): broadcast again with the key")
        return sent

    def _sign_waiting(self, log: PublishLog, key: PrivateKey | None) -> None:
        """Sign (on every core) the waiting later parts of the messages whose part 0 an earlier run sent."""
        if key is None:
            return
        ready = []
        for parts in _by_record(log.parts()):
            first = parts[0]
            if not any(p.state == "waiting" for p in parts) or first.txid is None:
                continue
            _check_publisher(first, key)
            ready.append((parts, first.txid))
        if not ready:
            return
        signed = sign_later_parts([([p.data for p in parts], txid) for parts, txid in ready], key)
        for (parts, _), flodatas in zip(ready, signed):
            log.sign_waiting(parts[0].record, {k: fd for k, fd in flodatas.items() if parts[k].state == "waiting"})

    def _sign_later(self, log: PublishLog, parts: list[PartRow], first_txid: str, key: PrivateKey
                    ) -> list[PartRow]:
        """Sign the waiting later parts of one message (``parts``: all of them, from part 0) now that part 0 was
        sent as ``first_txid``, into the log.

        Returns:
            ``parts`` with the waiting ones signed.
        """
        flodatas = later_parts([p.data for p in parts], key, first_txid)
        waiting = {p.part: flodatas[p.part] for p in parts if p.state == "waiting"}
        log.sign_waiting(parts[0].record, waiting)
        return [replace(p, flodata=waiting[p.part], state="signed") if p.part in waiting else p for p in parts]

    async def _send(self, log: PublishLog, session: aiohttp.ClientSession, part: PartRow) -> str:
        assert part.flodata is not None
        wait = self.backoff
        for attempt in range(1, self.retries + 1):
            log.mark_sending(part)
            try:
                txid = await self.rpc.call(session, "sendtoaddress", {
                    "address": part.publisher, "amount": self.amount, "floData": part.flodata})
            except RpcError as exc:
                log.mark_unsent(part)  # the node answered with an error: nothing was sent
                if exc.code not in RETRY_CODES or attempt == self.retries:
                    raise
                await self.sleep(wait)
                wait = min(wait * 2, self.max_backoff)
                continue
            if not isinstance(txid, str) or len(txid) != 64:
                raise SourceError(f"{self.rpc.name}: sendtoaddress answered {txid!r:.80} instead of a txid (part "
                                  f"{part.part} of record {part.record} left 'sending' for the next run to check)")
            log.mark_sent(part, txid)
            return txid
        raise AssertionError("unreachable")  # pragma: no cover – the loop returns or raises

    async def reconcile(self, log: PublishLog, session: aiohttp.ClientSession) -> int:
        """Settle the parts left ``sending`` by an interrupted run: ``sent`` with the txid the node has for their
        floData, else ``signed`` again.

        Returns:
            How many of them the node had.

        Raises:
            SourceError: the node cannot be reached.
        """
        interrupted = log.parts("sending")
        if not interrupted:
            return 0
        wanted = {p.flodata: p for p in interrupted}
        since = min(p.sending_since or 0.0 for p in interrupted) - RECONCILE_MARGIN
        found = 0
        skip = 0
        seen: set[str] = set()
        while wanted:
            page = await self.rpc.call(session, "listtransactions", ["*", RECONCILE_PAGE, skip])
            if not isinstance(page, list) or not page:
                break
            for entry in reversed(page):  # newest first
                txid = entry.get("txid") if isinstance(entry, dict) else None
                if not isinstance(txid, str) or txid in seen or entry.get("category") != "send":
                    continue
                seen.add(txid)
                tx = await self.rpc.call(session, "gettransaction", [txid])
                if not isinstance(tx, dict) or not isinstance(tx.get("hex"), str):
                    raise SourceError(f"{self.rpc.name}: gettransaction {txid} answered no transaction hex")
                decoded = await self.rpc.call(session, "decoderawtransaction", [tx["hex"]])
                flodata = decoded.get("floData") if isinstance(decoded, dict) else None
                part = wanted.pop(flodata, None) if isinstance(flodata, str) else None
                if part is not None:
                    log.mark_sent(part, txid)
                    found += 1
            if all(isinstance(e, dict) and e.get("time", 0) < since for e in page):
                break
            skip += len(page)
        for part in wanted.values():
            log.mark_unsent(part)
        return found

    async def confirm(self, log: PublishLog) -> int:
        """Mark the sent parts whose transactions are in a block ``confirmed``.

        Returns:
            How many parts were confirmed in this call.

        Raises:
            SourceError: the node cannot be reached.
        """
        confirmed = 0
        async with self.rpc.session() as session:
            for part in log.parts("sent"):
                tx = await self.rpc.call(session, "gettransaction", [part.txid])
                if isinstance(tx, dict) and isinstance(tx.get("confirmations"), int) and tx["confirmations"] > 0:
                    log.mark_confirmed(part)
                    confirmed += 1
        return confirmed


def broadcast(log: str | Path | PublishLog, node: FlodRpc, key: PrivateKey | None = None,
              fee_rate: float = DEFAULT_FEE_RATE) -> pd.DataFrame:
    """Broadcast what a publish log holds and has not sent (a release signed offline, or a run that stopped).

    Returns:
        The log's records and their progress (:meth:`PublishLog.records`).

    Raises:
        PublishLogBusy: another run holds the log.
        RpcError, SourceError: the node refused or failed (run again to go on; nothing is sent twice).
    """
    with open_log(log) as plog:
        bridge.run(Broadcaster(node, fee_rate=fee_rate).run(plog, key))
        return plog.records()


def _by_record(parts: list[PartRow]) -> Iterator[list[PartRow]]:
    """``parts`` (ordered by record, then part number) grouped by record."""
    for _, group in itertools.groupby(parts, key=lambda p: p.record):
        yield list(group)


def _check_publisher(first: PartRow, key: PrivateKey) -> None:
    """Raise EtdbError when ``key`` did not sign the message whose part 0 is ``first``."""
    if key.address != first.publisher:
        raise EtdbError(f"the message of record {first.record} (part 0 {first.txid or 'not sent yet'}) was signed by "
                        f"{first.publisher}, not by this key's address {key.address}")
