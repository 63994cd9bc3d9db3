"""CPU accounting for the benchmarks: CPU seconds of this process, of another process, and the machine's load; the
floor of a verified transfer measured on this machine; pinning server and client to separate cores.

On a shared machine wall-clock ratios are noisy; CPU seconds per GiB of the client and of the server say where the
work goes whatever the load. The floor says how close a ratio can come at all: verifying costs at least the hash
passes its guarantees require, and when client and server share the machine's cores that work comes out of the
same CPU budget as the transfer itself.
"""

from __future__ import annotations

import hashlib
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

GiB = 1 << 30


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, its threads and its waited-for children (worker processes)."""
    return sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` (e.g. a server) has used so far, its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---- the floor ----------------------------------------------------------------------------------------------------

def _per_gib(work: Callable[[], int], rounds: int = 5) -> float:
    """CPU seconds per GiB of ``work`` (which returns the bytes it handled) in this thread: the least of ``rounds``
    runs, the one least disturbed by the other processes of a shared machine."""
    best = float("inf")
    for _ in range(rounds):
        before = time.thread_time()
        size = work()
        best = min(best, (time.thread_time() - before) / size * GiB)
    return best


def sha256_seconds_per_gib(size: int = 64 << 20) -> float:
    """CPU seconds per GiB of one sha256 pass (hashlib, in 256 KiB pieces as blocks come) on this machine.

    Returns:
        Seconds of one core per GiB hashed.
    """
    data = memoryview(os.urandom(size))
    piece = 256 * 1024

    def work() -> int:
        for at in range(0, size, piece):
            hashlib.sha256(data[at:at + piece]).digest()
        return size
    return _per_gib(work)


def reread_seconds_per_gib(size: int = 64 << 20) -> float:
    """CPU seconds per GiB of reading a file again (one of ``size`` bytes just written, so from the page cache, in
    4 MiB reads) on this machine.

    Returns:
        Seconds of one core per GiB read.
    """
    with tempfile.NamedTemporaryFile() as fh:
        fh.write(os.urandom(size))
        fh.flush()

        def work() -> int:
            with open(fh.name, "rb", buffering=0) as again:
                buffer = bytearray(4 << 20)
                n = 0
                while got := again.readinto(buffer):
                    n += got
                return n
        return _per_gib(work)


def floor_ratios(plain_client: float, plain_server: float, extra: float) -> tuple[float, float]:
    """The best throughput ratios a verified client can reach against the plain one, from CPU seconds per GiB.

    ``extra`` is the unavoidable work the verified client adds (the hash passes its guarantees require).
    Client and server sharing the same cores, time is at best the total CPU spread over them: the floor ratio is
    ``(client + server) / (client + server + extra)``. On separate cores (a server on another machine), each side
    runs alone: ``max(client, server) / max(client + extra, server)``.

    Returns:
        ``(shared cores, separate cores)``.
    """
    total = plain_client + plain_server
    return total / (total + extra), max(plain_client, plain_server) / max(plain_client + extra, plain_server)


# ---- separate cores -----------------------------------------------------------------------------------------------

def core_split() -> tuple[set[int], set[int]] | None:
    """Cores for a server and for its client, apart (the first usable core for the server, the rest for the
    client); None when this process may run on one core only.

    Returns:
        ``(server cores, client cores)`` or None.
    """
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    return {cores[0]}, set(cores[1:])


def pinned(cores: set[int] | None) -> list[str]:
    """The command prefix that runs a child process (and every thread it starts) on ``cores`` only (``taskset``);
    empty for no pinning.

    Returns:
        The words to put before the command.
    """
    return ["taskset", "-c", ",".join(map(str, sorted(cores)))] if cores else []
