"""Line ownership across splits (no Spark): every line is read by exactly one split, whatever the cuts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bigdl_ppml_az.datasource.lines import line_chunks, owned_bytes


def pieces_from(data: bytes, start: int, size: int) -> list[bytes]:
    rest = data[start:]
    return [rest[i : i + size] for i in range(0, len(rest), size)]


@settings(max_examples=400, deadline=None)
@given(
    data=st.binary(max_size=200).map(lambda b: bytes(b"ab\n"[x % 3] for x in b)),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
    piece=st.integers(min_value=1, max_value=9),
)
def test_splits_partition_the_lines(data: bytes, cuts: list[int], piece: int) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    out = b""
    for start, end in zip(bounds, bounds[1:], strict=False):
        out += b"".join(owned_bytes(pieces_from(data, start, piece), start, end if end < len(data) else None))
    assert out == data


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300).map(lambda b: bytes(b"xy\n"[x % 3] for x in b)), target=st.integers(1, 40))
def test_chunks_end_on_line_boundaries(data: bytes, target: int) -> None:
    chunks = list(line_chunks(pieces_from(data, 0, 7), target))
    assert b"".join(chunks) == data
    assert all(c.endswith(b"\n") for c in chunks[:-1])
