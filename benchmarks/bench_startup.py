"""Start-up benchmark (issue 14): how long the ``etdb-explore`` command and the packages take to start, against a
bare ``python -c pass``. Plain script printing numbers and ratios.

Each command runs ``--repeat`` times in a fresh interpreter (the running one, in this checkout, so its
``etdb_explore`` is the one imported); the runs of all commands are interleaved, so a change in the machine's load
touches each alike. Printed per command: median wall and CPU milliseconds (the process's own user + system), the
extra over ``python -c pass``, and which heavy libraries it loaded. With ``--against REF`` the same commands also
run on git revision REF (exported to a temporary folder), side by side.

    python benchmarks/bench_startup.py [--repeat 15] [--against main~3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cpu import load

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("aiohttp.web", "aiohttp", "pandas", "pyarrow", "numpy", "mrcfile", "matplotlib", "coincurve", "fsspec")

# name → arguments after the interpreter; {file} is a small file to hash
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "import etdb_explore": ["-c", "import etdb_explore"],
    "etdb-explore --version": ["-m", "etdb_explore", "--version"],
    "etdb-explore --help": ["-m", "etdb_explore", "--help"],
    "etdb-explore search --help": ["-m", "etdb_explore", "search", "--help"],
    "import etdb_explore.ipfs": ["-c", "import etdb_explore.ipfs"],
    "import etdb_explore.records": ["-c", "import etdb_explore.records"],
    "import etdb_explore.volumes": ["-c", "import etdb_explore.volumes"],
    "etdb-explore add --only-hash": ["-m", "etdb_explore", "add", "--only-hash", "{file}"],
}

# Prints the heavy libraries a command loaded: the command runs in this process, as ``-m etdb_explore`` would.
LOADED = """
import json, runpy, sys
heavy = json.loads(sys.argv[1])
args = sys.argv[2:]
sys.argv = [args[1], *args[2:]] if args[0] == "-m" else ["-c"]
try:
    runpy.run_module(args[1], run_name="__main__") if args[0] == "-m" else exec(args[1])
except SystemExit:
    pass
sys.stdout = sys.__stdout__
print("\\n" + json.dumps([name for name in heavy if name in sys.modules]))
"""


def run_once(args: list[str], cwd: Path) -> tuple[float, float, int]:
    """One run of ``python args`` in ``cwd``.

    Returns:
        (wall seconds, CPU seconds of the process, its exit code: an older revision may lack an option).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    code = subprocess.run([sys.executable, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          check=False).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), code


def loaded(args: list[str], cwd: Path) -> list[str]:
    """The heavy libraries ``python args`` loads.

    Returns:
        Their names, in HEAVY's order.
    """
    out = subprocess.run([sys.executable, "-c", LOADED, json.dumps(HEAVY), *args], cwd=cwd, capture_output=True,
                         text=True, check=False).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(checkouts: dict[str, Path], repeat: int, file: Path
            ) -> dict[tuple[str, str], tuple[float, float, int]]:
    """Median (wall, CPU) seconds of each command in each checkout, the runs interleaved, and its last exit code.

    Returns:
        (checkout, command) → (wall, CPU, exit code).
    """
    runs: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for _ in range(repeat):
        for label, cwd in checkouts.items():
            for name, args in COMMANDS.items():
                args = [a.format(file=file) for a in args]
                runs.setdefault((label, name), []).append(run_once(args, cwd))
    return {key: (statistics.median(w for w, _, _ in values), statistics.median(c for _, c, _ in values),
                  values[-1][2]) for key, values in runs.items()}


def export(ref: str, folder: Path) -> Path:
    """Git revision ``ref`` of this repository, exported into ``folder``.

    Returns:
        The folder.
    """
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each command (the median is printed)")
    parser.add_argument("--against", metavar="REF", help="also time git revision REF of this repository")
    args = parser.parse_args()
    print(f"load average before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "hashed.bin"
        file.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
        checkouts = {"this": ROOT}
        if args.against:
            checkouts[args.against] = export(args.against, Path(tmp) / "against")
        times = measure(checkouts, args.repeat, file)
        heavy = {(label, name): loaded([a.format(file=file) for a in COMMANDS[name]], cwd)
                 for label, cwd in checkouts.items() for name in COMMANDS}
    print(f"load average after: {load()}  ({args.repeat} runs each, medians; ms; +ms over python -c pass)")
    summary = []
    for name in COMMANDS:
        cells = []
        for label in checkouts:
            wall, cpu, code = times[label, name]
            base_wall, base_cpu, _ = times[label, "python -c pass"]
            cells.append(f"{label}: wall {wall * 1e3:5.0f} (+{(wall - base_wall) * 1e3:4.0f}) cpu {cpu * 1e3:5.0f} "
                         f"(+{(cpu - base_cpu) * 1e3:4.0f}) [{','.join(heavy[label, name]) or '-'}]"
                         + (f" exit {code}" if code else ""))
        print(f"{name:30s} " + " | ".join(cells))
        if args.against and name != "python -c pass" and not any(times[label, name][2] for label in checkouts):
            extra = [(times[label, name][1] - times[label, "python -c pass"][1]) * 1e3 for label in checkouts]
            summary.append(f"{name.removeprefix('etdb-explore ')} {extra[1]:.0f} → {extra[0]:.0f}")
    if summary:
        print(f"summary: extra CPU ms over python -c pass, {args.against} → this: " + ", ".join(summary))
    else:
        extra = {name: (times["this", name][1] - times["this", "python -c pass"][1]) * 1e3 for name in COMMANDS}
        print("summary: extra CPU ms over python -c pass: "
              + ", ".join(f"{name} {ms:.0f}" for name, ms in extra.items() if name != "python -c pass"))


if __name__ == "__main__":
    main()
