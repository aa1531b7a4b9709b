"""Spark's seeded row sample (``Dataset.sample(withReplacement=false, fraction, seed)``), for ``samplingRatio``.

Spark's CSV and JSON readers infer a schema from ``samplingRatio`` of the lines when it is 0.99 or less
(``CSVUtils.sample``, ``JsonUtils.sample``: ``Dataset.sample(false, ratio, seed = 1)``). That plan runs as
``SampleExec``: in each partition a ``BernoulliCellSampler(0, ratio)`` seeded with ``seed + partitionIndex``
draws one ``nextDouble()`` per row, in order, and keeps the row when the draw is below ``ratio`` (the generated
code and the interpreted ``RDD.randomSampleWithRange`` draw alike). Its generator is Spark's ``XORShiftRandom``:
``setSeed`` hashes the seed's 8 big-endian bytes twice with Scala's ``MurmurHash3.bytesHash`` (seeds
``arraySeed``, then the first hash), ``next(bits)`` is a 64-bit xorshift (21, 35, 4) and ``nextDouble`` is
``java.util.Random``'s formula over it.

Hand-written because nothing in Python reproduces this sequence: numpy's and Python's generators are other
algorithms, and Spark's sampler lives in the JVM. Pure Python: no Spark import (tests/test_sampling.py checks
every function value by value against the JVM classes).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
ARRAY_SEED = 0x3C074A61  # scala.util.hashing.MurmurHash3.arraySeed
_DOUBLE_UNIT = 1.0 / (1 << 53)  # java.util.Random.DOUBLE_UNIT (0x1.0p-53)
SAMPLE_SEED = 1  # the seed CSVUtils.sample and JsonUtils.sample pass to Dataset.sample
MAX_FULL_RATIO = 0.99  # Spark uses every row above this ratio


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _mix_last(h: int, k: int) -> int:
    k = (k * 0xCC9E2D51) & _M32
    k = _rotl32(k, 15)
    k = (k * 0x1B873593) & _M32
    return h ^ k


def _mix(h: int, k: int) -> int:
    h = _rotl32(_mix_last(h, k), 13)
    return (h * 5 + 0xE6546B64) & _M32


def _signed32(x: int) -> int:
    return x - (1 << 32) if x & 0x80000000 else x


def bytes_hash(data: bytes, seed: int) -> int:
    """Scala 2.13's ``MurmurHash3.bytesHash(data, seed)`` (MurmurHash3 x86 32-bit), as a signed 32-bit int."""
    h = seed & _M32
    n = len(data)
    full = n - n % 4
    for i in range(0, full, 4):
        h = _mix(h, int.from_bytes(data[i : i + 4], "little"))
    tail = n - full
    if tail:
        k = int.from_bytes(data[full:], "little")
        h = _mix_last(h, k)
    h ^= n  # finalizeHash: avalanche(h ^ length)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return _signed32(h)


def hash_seed(seed: int) -> int:
    """``XORShiftRandom.hashSeed``: the generator's 64-bit state for a seed, as a signed 64-bit long."""
    data = struct.pack(">q", _signed64(seed))
    low = bytes_hash(data, ARRAY_SEED)
    high = bytes_hash(data, low)
    return _signed64(((high & _M32) << 32) | (low & _M32))


def _signed64(x: int) -> int:
    x &= _M64
    return x - (1 << 64) if x & (1 << 63) else x


class XORShiftRandom:
    """``org.apache.spark.util.random.XORShiftRandom`` (a ``java.util.Random`` with another ``next``)."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = hash_seed(seed) & _M64

    def set_seed(self, seed: int) -> None:
        self._state = hash_seed(seed) & _M64

    def next_bits(self, bits: int) -> int:
        """``next(bits)``: the low ``bits`` bits of the new state (as Java's int: signed when bits is 32)."""
        s = self._state
        s ^= (s << 21) & _M64
        s ^= s >> 35
        s ^= (s << 4) & _M64
        self._state = s
        return _signed32(s & ((1 << bits) - 1)) if bits >= 32 else s & ((1 << bits) - 1)

    def next_double(self) -> float:
        """``java.util.Random.nextDouble``: ``((next(26) << 27) + next(27)) * 2^-53``."""
        return ((self.next_bits(26) << 27) + self.next_bits(27)) * _DOUBLE_UNIT


class BernoulliCellSampler:
    """``BernoulliCellSampler(lb, ub, complement)``: a row is kept when its draw falls in ``[lb, ub)``."""

    def __init__(self, lb: float, ub: float, complement: bool = False) -> None:
        self.lb, self.ub, self.complement = lb, ub, complement
        self.rng = XORShiftRandom(0)

    def set_seed(self, seed: int) -> None:
        self.rng.set_seed(seed)

    def sample(self) -> int:
        """1 to keep the next row, 0 to drop it (draws nothing when the cell is empty, as Spark)."""
        if self.ub - self.lb <= 0.0:
            return 1 if self.complement else 0
        x = self.rng.next_double()
        n = 1 if self.lb <= x < self.ub else 0
        return 1 - n if self.complement else n


def kept_rows(count: int, fraction: float, partition_index: int = 0, seed: int = SAMPLE_SEED) -> list[bool]:
    """Which of ``count`` rows of one partition ``Dataset.sample(false, fraction, seed)`` keeps."""
    sampler = BernoulliCellSampler(0.0, fraction)
    sampler.set_seed(seed + partition_index)
    return [sampler.sample() == 1 for _ in range(count)]


def sample_rows(rows: Sequence[T], fraction: float, partition_index: int = 0) -> list[T]:
    """The rows (in order) that Spark's ``samplingRatio`` sample keeps of one text-scan partition."""
    if fraction > MAX_FULL_RATIO:
        return list(rows)
    return [row for row, keep in zip(rows, kept_rows(len(rows), fraction, partition_index), strict=True) if keep]


__all__ = ["BernoulliCellSampler", "XORShiftRandom", "bytes_hash", "hash_seed", "kept_rows", "sample_rows"]
