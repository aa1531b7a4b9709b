"""Which lines a split owns, over a stream of plaintext pieces (Hadoop's LineRecordReader rule).

A split covers plaintext bytes [start, end). Split 0 owns the line at offset 0; a split with start > 0 skips
everything up to and including the first ``\\n`` at or after ``start`` (the previous split finishes that line);
every split reads on past ``end`` to the first ``\\n`` at or after ``end``. So each line is read exactly once,
and no split needs bytes before its start. Lines end at ``\\n`` (``\\r\\n`` leaves a ``\\r`` the parsers drop).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa


def owned_bytes(pieces: Iterable[bytes], start: int, end: int | None) -> Iterator[bytes]:
    """Pieces of the lines this split owns; ``pieces`` is the plaintext from ``start`` on (may run past end).

    Emits plaintext [first owned line start, first newline at or after ``end``]; ``end=None`` means to the end
    of the object. A split whose first owned line would start after ``end`` owns nothing.
    """
    pos = start  # absolute offset of the current piece
    skipping = start > 0
    for piece in pieces:
        if not piece:
            continue
        lo = 0
        if skipping:
            nl = piece.find(b"\n")
            if nl < 0:
                pos += len(piece)
                if end is not None and pos > end:
                    return
                continue
            lo = nl + 1
            skipping = False
            if end is not None and pos + lo > end:
                return
        if end is not None and pos + len(piece) > end:
            nl = piece.find(b"\n", max(lo, end - pos))
            if nl >= 0:
                yield piece[lo : nl + 1]
                return
        yield piece[lo:] if lo else piece
        pos += len(piece)


def line_chunks(pieces: Iterable[bytes], target: int) -> Iterator[bytes]:
    """Regroup a byte stream into chunks of about ``target`` bytes that end on a line boundary.

    Only the piece holding the cut is split (through a memoryview), so each byte is copied once, by the join.
    """
    buffer: list[bytes | memoryview] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size < target:
            continue
        cut = piece.rfind(b"\n") + 1
        if cut == 0:  # no line end in this piece: keep accumulating until one arrives
            continue
        view = memoryview(piece)
        buffer[-1] = view[:cut]
        yield b"".join(buffer)
        rest = view[cut:]
        buffer, size = ([rest], len(rest)) if len(rest) else ([], 0)
    if size:
        yield b"".join(buffer)


def arrow_view(data: bytes) -> pa.Array:
    """``data`` as a one-element Arrow binary array without copying it, for whole-chunk RE2 checks
    (``pa.array([data])`` copies the chunk: on TPC-H CSV that copy cost as much CPU as the check itself)."""
    offsets = pa.py_buffer(np.array([0, len(data)], np.int64))
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
