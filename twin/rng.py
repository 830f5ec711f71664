"""Seeding (DESIGN §3): one `SeedSequence` child per replication, one stream per named entity.

Replication r of a scenario with seed s uses `SeedSequence(s).spawn(r + 1)[r]`, which equals
`SeedSequence(s, spawn_key=(r,))`. Within it, the stream called `name` is seeded with the
replication's entropy and spawn key extended by a stable 64-bit hash of `name`, so the stream of
`demand/region=east/sku=A` is the same whatever other entities a network design adds.
"""

from __future__ import annotations

import hashlib

import numpy as np


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    """The seed sequence of one replication: the `replication`-th child of `SeedSequence(seed)`."""
    return np.random.SeedSequence(seed, spawn_key=(replication,))


def stable_hash(name: str) -> int:
    """A 64-bit hash of `name` that is the same on every machine and every Python run."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big")


class Streams:
    """The named random streams of one replication; asking twice for a name gives the same object."""

    __slots__ = ("_cache", "_seq")

    def __init__(self, seq: np.random.SeedSequence) -> None:
        self._seq = seq
        self._cache: dict[str, np.random.Generator] = {}

    @classmethod
    def for_replication(cls, seed: int, replication: int) -> Streams:
        """Streams of replication `replication` of a scenario seeded with `seed`."""
        return cls(replication_seed(seed, replication))

    def get(self, name: str) -> np.random.Generator:
        """The generator of the stream called `name`."""
        rng = self._cache.get(name)
        if rng is None:
            child = np.random.SeedSequence(
                self._seq.entropy, spawn_key=(*self._seq.spawn_key, stable_hash(name))
            )
            rng = np.random.Generator(np.random.PCG64(child))
            self._cache[name] = rng
        return rng
