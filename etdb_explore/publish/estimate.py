"""What publishing costs: floData bytes → transactions → fee, as go-etdb paid it (``settxfee 0.001`` FLO per kB)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from etdb_explore.records.multipart import split_flodata

TX_OVERHEAD = 226  # bytes of a one-input, two-output P2PKH transaction before its floData
SIGNATURE_CHARS = 88  # base64 of a 65-byte compact signature
TXID_CHARS = 64
DEFAULT_FEE_RATE = 0.001  # FLO per 1000 bytes: go-etdb's settxfee


@dataclass(frozen=True)
class Estimate:
    """The size and fee of publishing some messages."""

    messages: int
    transactions: int
    flodata_bytes: int
    transaction_bytes: int
    fee_rate: float

    @property
    def fee(self) -> float:
        """The fee in FLO: ``fee_rate`` per 1000 bytes of each transaction."""
        return self.transaction_bytes / 1000 * self.fee_rate

    def __str__(self) -> str:
        return (f"{self.messages} messages, {self.flodata_bytes:,} bytes of floData → {self.transactions} "
                f"transactions ({self.transaction_bytes:,} bytes) → fee ≈ {self.fee:.6f} FLO at "
                f"{self.fee_rate:g} FLO/kB")


def _varint_size(n: int) -> int:
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5


def part_sizes(message: str, address: str) -> list[int]:
    """The floData byte size of each transaction ``message`` needs (multipart headers included).

    Returns:
        One size per transaction.
    """
    chunks = split_flodata(message)
    if len(chunks) == 1:
        return [len(message.encode("utf-8"))]
    max_ = len(chunks) - 1
    return [len(f"oip-mp({k},{max_},{address},,):".encode()) + (TXID_CHARS if k else 0) + SIGNATURE_CHARS
            + len(chunk.encode("utf-8")) for k, chunk in enumerate(chunks)]


def estimate(messages: Iterable[str], address: str, fee_rate: float = DEFAULT_FEE_RATE) -> Estimate:
    """The cost of publishing ``messages`` from ``address``.

    Returns:
        The :class:`Estimate`.
    """
    count = transactions = data = total = 0
    for message in messages:
        count += 1
        for size in part_sizes(message, address):
            transactions += 1
            data += size
            total += TX_OVERHEAD + _varint_size(size) + size
    return Estimate(count, transactions, data, total, fee_rate)
