"""The Prometheus text parser on real exporter output, tricky syntax and random input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ingest.promtext import parse_prometheus

PROM = Path(__file__).resolve().parent / "data" / "prom"
NOW = 1_700_000_000_000


@pytest.mark.parametrize("name", ["node_exporter_e2e_output.txt", "other_sample.txt"])
def test_real_exposition_parses_without_errors(name):
    text = (PROM / name).read_text()
    result = parse_prometheus(text, NOW)
    sample_lines = [line for line in text.split("\n") if line.strip() and not line.startswith("#")]
    assert result.errors == []
    assert len(result.samples) + result.skipped_nan == len(sample_lines)


def test_real_histograms_and_summaries_keep_their_kind():
    result = parse_prometheus((PROM / "other_sample.txt").read_text(), NOW)
    kinds = {s.name: s.kind for s in result.samples}
    assert kinds["go_gc_duration_seconds"] == "summary"
    assert kinds["go_gc_duration_seconds_sum"] == "summary"
    assert kinds["go_gc_heap_allocs_by_size_bytes_bucket"] == "histogram"
    assert kinds["go_gc_cycles_automatic_gc_cycles_total"] == "counter"
    buckets = [s for s in result.samples if s.name == "go_gc_heap_allocs_by_size_bytes_bucket"]
    assert any(dict(s.labels)["le"] == "+Inf" for s in buckets)


def test_escapes_timestamps_and_special_values():
    text = (
        "# TYPE m gauge\n"
        'm{path="C:\\\\dir",msg="say \\"hi\\"\\nbye"} 1.5e3 1690000000123\n'
        'm{path="x",le="+Inf"} 3\n'
        'm{path="z"} NaN\n'
        "plain 7\n"
    )
    result = parse_prometheus(text, NOW)
    assert result.errors == []
    first, inf_label, plain = result.samples
    assert dict(first.labels) == {"path": "C:\\dir", "msg": 'say "hi"\nbye'}
    assert first.value == 1500.0 and first.ts == 1690000000123 and first.kind == "gauge"
    assert dict(inf_label.labels)["le"] == "+Inf" and inf_label.value == 3.0  # +Inf as a label is only text
    assert result.skipped_nan == 1
    assert plain.ts == NOW and plain.kind == "untyped"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("bad metric 1", "not a sample line"),
        ('m{a="1" b="2"} 1', "malformed label"),
        ('m{a="1",a="2"} 1', "appears twice"),
        ('m{a="\\q"} 1', "invalid escape"),
        ("m 1_000", "not a sample line"),
        ("m 1 99999999999999999999", "does not fit"),
        ("# TYPE m sometype", "unknown metric type"),
        ("# TYPE m", "malformed TYPE/HELP"),
        ("m{a=1} 1", "malformed label"),
    ],
)
def test_each_bad_line_is_reported_with_its_number(line, expected):
    result = parse_prometheus(f"ok 1\n{line}\n", NOW)
    assert len(result.errors) == 1
    number, message = result.errors[0]
    assert number == 2 and expected in message


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_random_text_never_crashes(text):
    result = parse_prometheus(text, NOW)
    assert all(isinstance(n, int) and n >= 1 for n, _ in result.errors)
    assert all(math.isfinite(s.value) for s in result.samples)


@pytest.mark.parametrize("value", ["+Inf", "-Inf", "Inf", "+infinity", "1e999"])
def test_infinite_values_are_refused_naming_the_line(value):
    result = parse_prometheus(f'ok 1\nbad{{a="b"}} {value}\nok 2\n', NOW)
    assert [s.value for s in result.samples] == [1.0, 2.0]
    ((number, message),) = result.errors
    assert number == 2 and f"value {value} is not a finite number" in message


label_value = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=20
)


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True),
    st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True), label_value, max_size=4),
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_written_samples_parse_back_exactly(name, labels, value):
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    block = ",".join(f'{k}="{esc(v)}"' for k, v in labels.items())
    result = parse_prometheus(f"{name}{{{block}}} {value!r}\n", NOW)
    assert result.errors == []
    (sample,) = result.samples
    assert sample.name == name and dict(sample.labels) == labels and sample.value == value
