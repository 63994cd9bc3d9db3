"""CPU accounting for the benchmarks: CPU seconds of this process, of another process, and the machine's load.

On a shared machine wall-clock ratios are noisy; CPU seconds per GiB of the client and of the server say where the
work goes whatever the load.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


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
