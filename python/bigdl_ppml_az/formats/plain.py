"""``plain_text`` (BigDL's name for no encryption) as a codec, so plaintext reads take the same path.

Units are runs of bytes, cut like CBC blocks, so a large plaintext file splits across tasks too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from .codec import (
    DEFAULT_UNIT_SIZE,
    KEY_NONE,
    Codec,
    DataKey,
    ObjectInfo,
    PlaintextReader,
    UnitLayout,
    block_layout,
    register,
)


class PlainUnits:
    """Plaintext files as a PlaintextReader (crypto mode plain_text, BigDL's name for no encryption)."""

    def __init__(self, source: BinaryIO, size: int, unit_size: int) -> None:
        self._source, self._size, self._unit = source, size, unit_size

    @property
    def unit_count(self) -> int:
        return max(1, -(-self._size // self._unit))

    def plaintext_start(self, unit: int) -> int:
        return unit * self._unit

    def iter_units(self, first: int = 0, stop: int | None = None) -> Iterator[bytes]:
        stop = self.unit_count if stop is None else min(stop, self.unit_count)
        for unit in range(first, stop):
            self._source.seek(unit * self._unit)
            yield self._source.read(self._unit)


class PlainCodec(Codec):
    name = "plain_text"
    title = "plaintext"
    aliases = ("plaintext", "plain")
    encrypted = False
    authenticated = False
    reads_head = False
    detectable = False
    key_reference = KEY_NONE

    def probe(self, source: BinaryIO | None, size: int, name: str, head: bytes | None = None) -> ObjectInfo:
        return ObjectInfo(self.name, size, b"", None)

    def describe(self, info: ObjectInfo) -> dict[str, object]:
        return {"format": self.name, "fileSize": info.file_size, "authenticated": False}

    def open_reader(
        self,
        info: ObjectInfo,
        source: BinaryIO,
        key: DataKey | None,
        *,
        verify: bool = True,
        name: str = "",
        unit_size: int = 0,
    ) -> PlaintextReader:
        return PlainUnits(source, info.file_size, unit_size or DEFAULT_UNIT_SIZE)

    def unit_layout(self, info: ObjectInfo, max_partition_bytes: int) -> UnitLayout:
        return block_layout(info.file_size, max_partition_bytes, self.splittable)


CODEC = register(PlainCodec())


def plain_info(size: int) -> ObjectInfo:
    return CODEC.probe(None, size, "")
