"""Prometheus remote_write bodies (snappy-compressed ``prometheus.WriteRequest`` protobuf) as a Batch.

So an existing Prometheus can forward what it scrapes: ``remote_write: [{url: …/prometheus/api/v1/write}]``.
The body goes through the same :func:`core.ingest.ingest` validation as every other writer;
this module only decodes it.

The decoder is a small hand-written reader of the protobuf wire format rather than generated
code: the message is four fields deep (WriteRequest → TimeSeries → Label / Sample), the
fields it does not need (exemplars, native histograms, metadata) are skipped by wire type,
and every malformed byte is reported with its offset instead of an exception from deep in
a generated class. The uncompressed size is read from the snappy header and checked before
anything is decompressed, so a tiny body cannot expand into gigabytes.

NaN values are skipped and counted, as in Prometheus text (Pulseboard stores finite numbers
only): a Prometheus sends NaN for empty summaries and as the stale marker when a series
disappears, and refusing the whole request would make it drop every other sample with it.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import cramjam

from core.model import Sample, canonical_labels

_DOUBLE = struct.Struct("<d")


class RemoteWriteError(ValueError):
    """A body that is not a snappy-compressed WriteRequest; the message names what is wrong and where."""


@dataclass(frozen=True)
class Decoded:
    """The samples of one WriteRequest, and how many NaN samples (stale markers included) were left out."""

    samples: tuple[Sample, ...]
    skipped_nan: int
    series: int


def _varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise RemoteWriteError(f"truncated varint in {what} at byte {pos}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise RemoteWriteError(f"varint longer than 10 bytes in {what} at byte {pos}")


def _fields(data: bytes, what: str) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a message; length-delimited values as bytes."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise RemoteWriteError(f"field number 0 in {what} at byte {pos}")
        if wire == 0:
            value, pos = _varint(data, pos, what)
            out.append((number, wire, value))
        elif wire == 1:
            if pos + 8 > len(data):
                raise RemoteWriteError(f"truncated 64-bit field {number} in {what} at byte {pos}")
            out.append((number, wire, int.from_bytes(data[pos : pos + 8], "little")))
            pos += 8
        elif wire == 2:
            length, pos = _varint(data, pos, what)
            if pos + length > len(data):
                raise RemoteWriteError(
                    f"field {number} in {what} says {length} bytes at byte {pos}, only {len(data) - pos} remain"
                )
            out.append((number, wire, data[pos : pos + length]))
            pos += length
        elif wire == 5:
            if pos + 4 > len(data):
                raise RemoteWriteError(f"truncated 32-bit field {number} in {what} at byte {pos}")
            pos += 4
        else:
            raise RemoteWriteError(f"unsupported protobuf wire type {wire} (field {number}) in {what} at byte {pos}")
    return out


def _text(value: int | bytes, what: str) -> str:
    if not isinstance(value, bytes):
        raise RemoteWriteError(f"{what} is not a string")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteWriteError(f"{what} is not UTF-8") from None


def _series(data: bytes, index: int) -> tuple[list[Sample], int]:
    what = f"timeseries[{index}]"
    labels: dict[str, str] = {}
    points: list[tuple[float, int]] = []
    for number, wire, value in _fields(data, what):
        if number == 1 and wire == 2:
            name, text = "", ""
            for n, w, v in _fields(value, f"{what}.labels"):  # type: ignore[arg-type]
                if n == 1 and w == 2:
                    name = _text(v, f"{what} label name")
                elif n == 2 and w == 2:
                    text = _text(v, f"{what} label {name!r} value")
            labels[name] = text
        elif number == 2 and wire == 2:
            sample_value, ts = 0.0, 0
            for n, w, v in _fields(value, f"{what}.samples"):  # type: ignore[arg-type]
                if n == 1 and w == 1:
                    sample_value = _DOUBLE.unpack(int(v).to_bytes(8, "little"))[0]  # type: ignore[arg-type]
                elif n == 2 and w == 0:
                    ts = int(v)  # type: ignore[arg-type]
                    ts = ts - (1 << 64) if ts >= 1 << 63 else ts
            points.append((sample_value, ts))
        # field 3 exemplars and 4 native histograms are not stored by Pulseboard
    name = labels.pop("__name__", "")
    if not name:
        raise RemoteWriteError(f"{what} has no __name__ label")
    key = canonical_labels(labels)
    kept = [Sample(name, key, v, ts) for v, ts in points if not math.isnan(v)]
    return kept, len(points) - len(kept)


def decode(body: bytes, max_bytes: int) -> Decoded:
    """Samples of a snappy-compressed WriteRequest, refused past ``max_bytes`` uncompressed."""
    declared, _ = _varint(body, 0, "the snappy header")
    if declared > max_bytes:
        raise RemoteWriteError(f"body expands to {declared:,} bytes, more than the limit of {max_bytes:,} bytes")
    try:
        data = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as error:  # noqa: BLE001 - cramjam raises its own DecompressionError and friends
        raise RemoteWriteError(f"body is not snappy-compressed (block format): {error}") from None
    samples: list[Sample] = []
    skipped = series = 0
    for number, wire, value in _fields(data, "WriteRequest"):
        if number == 1 and wire == 2:
            kept, dropped = _series(value, series)  # type: ignore[arg-type]
            samples.extend(kept)
            skipped += dropped
            series += 1
        # field 3 metadata (type, help, unit) is not needed for storage
    return Decoded(tuple(samples), skipped, series)


def encode(series: list[tuple[dict[str, str], list[tuple[float, int]]]]) -> bytes:
    """A snappy-compressed WriteRequest of ``(labels with __name__, [(value, ts_ms)])`` — for tests and tools."""

    def varint(n: int) -> bytes:
        n &= (1 << 64) - 1
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    message = b""
    for labels, points in series:
        body = b"".join(
            field(1, field(1, k.encode()) + field(2, v.encode())) for k, v in sorted(labels.items())
        ) + b"".join(field(2, b"\x09" + _DOUBLE.pack(v) + b"\x10" + varint(ts)) for v, ts in points)
        message += field(1, body)
    return bytes(cramjam.snappy.compress_raw(message))
