"""The remote_write decoder: exact round trips, NaN and stale markers left out, and any byte string refused cleanly."""

from __future__ import annotations

import math
import struct

import cramjam
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from core.ingest.remote_write import RemoteWriteError, decode, encode

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]  # Prometheus' staleness marker
LIMIT = 10_000_000

names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True)
label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True).filter(lambda s: s != "__name__")
values = st.floats(allow_nan=False)
stamps = st.integers(min_value=-(2**62), max_value=2**62)
series = st.tuples(
    names,
    st.dictionaries(label_names, st.text(max_size=20), max_size=5),
    st.lists(st.tuples(values, stamps), min_size=1, max_size=5),
)


@given(st.lists(series, max_size=5))
@hsettings(max_examples=200, deadline=None)
def test_what_is_encoded_decodes_to_the_same_samples(generated):
    body = encode([({"__name__": name, **labels}, points) for name, labels, points in generated])
    decoded = decode(body, LIMIT)
    expected = [
        (name, tuple(sorted(labels.items())), value, ts) for name, labels, points in generated for value, ts in points
    ]
    assert [(s.name, s.labels, s.value, s.ts) for s in decoded.samples] == expected
    assert decoded.series == len(generated) and decoded.skipped_nan == 0


@given(st.binary(max_size=300))
@hsettings(max_examples=500, deadline=None)
def test_any_body_is_decoded_or_refused_with_a_reason(body):
    try:
        decode(body, LIMIT)
    except RemoteWriteError as error:
        assert str(error)


@given(st.binary(max_size=300))
@hsettings(max_examples=500, deadline=None)
def test_any_compressed_message_is_decoded_or_refused_with_a_reason(message):
    """Valid snappy around arbitrary protobuf bytes: the wire-format reader itself is fuzzed."""
    try:
        decoded = decode(bytes(cramjam.snappy.compress_raw(message)), LIMIT)
    except RemoteWriteError as error:
        assert str(error)
    else:
        assert all(not math.isnan(s.value) for s in decoded.samples)


def test_nan_and_stale_markers_are_left_out_and_counted():
    body = encode([({"__name__": "up", "job": "x"}, [(1.0, 1000), (STALE_NAN, 2000), (math.nan, 3000), (0.0, 4000)])])
    decoded = decode(body, LIMIT)
    assert [(s.value, s.ts) for s in decoded.samples] == [(1.0, 1000), (0.0, 4000)]
    assert decoded.skipped_nan == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "varint longer than 10 bytes"),
        (b"\x05abc", "not snappy-compressed"),
        (bytes(cramjam.snappy.compress_raw(b"\x0a\x10\x0a")), "only 1 remain"),
        (bytes(cramjam.snappy.compress_raw(b"\x0a\x00")), "timeseries[0] has no __name__ label"),
        (bytes(cramjam.snappy.compress_raw(b"\x0b")), "unsupported protobuf wire type 3"),
        (encode([({"__name__": "x"}, [(1.0, 1)])])[:1] + b"", "not snappy-compressed"),
    ],
)
def test_bad_bodies_are_refused_naming_the_problem(body, message):
    with pytest.raises(RemoteWriteError, match=message.replace("[", r"\[").replace("]", r"\]")):
        decode(body, LIMIT)


def test_a_body_expanding_past_the_limit_is_refused_before_decompression():
    body = bytes(cramjam.snappy.compress_raw(b"\x00" * 5_000))
    with pytest.raises(RemoteWriteError, match="expands to 5,000 bytes, more than the limit of 4,096 bytes"):
        decode(body, 4_096)
