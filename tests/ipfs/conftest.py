"""Fixtures for the IPFS tests: Kubo's deterministic content, and the gateway-conformance CARs in a store."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from etdb_explore.ipfs.formats.car import read_car
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.sources.store import LocalStore


def kubo_content(seed: str, size: int) -> bytes:
    """content(seed, size) of kubo_cids.json: sha256(f'{seed}:0') ‖ sha256(f'{seed}:1') ‖ … cut to size."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:size])


class CountingStore(LocalStore):
    """A LocalStore that records which blocks were read."""

    def __init__(self, path):
        super().__init__(path)
        self.gets: list[CID] = []

    async def get(self, cid):
        self.gets.append(cid)
        return await super().get(cid)

    def size(self, cid):
        return len(self.get_sync(cid))


@pytest.fixture(scope="session")
def kubo_vectors(vectors: Path) -> list[dict]:
    return json.loads((vectors / "kubo_cids.json").read_text())["vectors"]


@pytest.fixture(scope="session")
def conformance(vectors: Path) -> Path:
    return vectors / "gateway-conformance"


@pytest.fixture
def conformance_store(tmp_path, conformance) -> tuple[LocalStore, dict[str, str]]:
    """Every gateway-conformance CAR imported into a fresh store; returns the store and CAR name → root CID."""
    store = LocalStore(tmp_path / "store")
    return store, import_conformance(store, conformance)


def import_conformance(store: LocalStore, conformance: Path) -> dict[str, str]:
    """Every block of every conformance CAR put into ``store``; CAR name → root CID."""
    roots = {}
    for car in sorted(conformance.glob("*.car")):
        car_roots, blocks = read_car(car.read_bytes(), car.name)
        for cid, block in blocks:
            store.put(cid, block)
        roots[car.stem] = str(car_roots[0])
    return roots


# The files the conformance CARs hold (their published recipes): (car, path) → content.
def expected_files(conformance: Path) -> dict[tuple[str, str], bytes]:
    multiblock = (conformance / "multiblock.txt.expected").read_bytes()
    ascii_text = b"hello application/vnd.ipld.car\n"
    files = {}
    for car in ("dir-with-files", "dir-with-duplicate-files"):
        files.update({(car, "ascii.txt"): ascii_text, (car, "ascii-copy.txt"): ascii_text,
                      (car, "hello.txt"): b"hello world\n", (car, "multiblock.txt"): multiblock})
    files.update({
        ("subdir-with-two-single-block-files", "subdir/ascii.txt"): ascii_text,
        ("subdir-with-two-single-block-files", "subdir/hello.txt"): b"hello world\n",
        ("subdir-with-mixed-block-files", "subdir/ascii.txt"): ascii_text,
        ("subdir-with-mixed-block-files", "subdir/hello.txt"): b"hello world\n",
        ("subdir-with-mixed-block-files", "subdir/multiblock.txt"): multiblock,
        ("symlink", "foo"): b"content\n",
        ("dir-with-percent-encoded-filename", "Portugal%2C+España=Peninsula Ibérica.txt"):
            b"hello from a percent encoded filename\n",
    })
    return files


async def check_conformance_reads(reader, roots: dict[str, str], conformance: Path, ranges: int = 25,
                                  seed: int = 5) -> None:
    """Every conformance file read whole and by ``ranges`` random byte ranges through ``reader``, plus the edges."""
    rng = random.Random(seed)
    for (car, path), content in expected_files(conformance).items():
        assert await reader.read(roots[car], path=path) == content, (car, path)
        spans = [(0, 0), (0, 1), (len(content) - 1, len(content))]
        spans += sorted((a, rng.randrange(a, len(content) + 1)) for a in
                        (rng.randrange(0, len(content) + 1) for _ in range(ranges)))
        for a, b in spans:
            assert await reader.read(roots[car], a, b, path=path) == content[a:b], (car, path, a, b)
