"""The idempotency-key ledger stays bounded in memory and on disk while a server runs for days."""

from __future__ import annotations

from pathlib import Path

from core.ingest.idempotency import KeyLedger


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_expired_keys_leave_memory_and_the_file_is_compacted_while_running(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "keys.jsonl"
    ledger = KeyLedger(path, ttl_s=60, clock=clock)
    for n in range(10_000):  # a keyed batch every 0.1 s for 1,000 s: a 60 s TTL keeps about 600
        ledger.remember(f"k{n}", f"d{n}", 200, {"samples_written": n})
        clock.now += 0.1
    assert 590 <= len(ledger) <= 601
    assert ledger.get("k0") is None and ledger.get("k9999") is not None
    lines = len(path.read_text().splitlines())
    assert lines <= 2 * len(ledger) + 1_000  # compacted as it went, not 10,000 lines
    reopened = KeyLedger(path, ttl_s=60, clock=clock)
    live = [f"k{n}" for n in range(10_000) if ledger.get(f"k{n}") is not None]
    assert [f"k{n}" for n in range(10_000) if reopened.get(f"k{n}") is not None] == live
    assert reopened.get("k9999") == ledger.get("k9999")


def test_a_retry_within_the_ttl_still_finds_its_answer_after_compaction(tmp_path: Path) -> None:
    clock = Clock()
    ledger = KeyLedger(tmp_path / "keys.jsonl", ttl_s=3_600, clock=clock)
    ledger.remember("first", "digest", 202, {"samples_accepted": 3})
    for n in range(5_000):
        ledger.remember(f"k{n}", "d", 200, {})
        clock.now += 0.01
    remembered = KeyLedger(tmp_path / "keys.jsonl", ttl_s=3_600, clock=clock).get("first")
    assert remembered is not None and remembered.status == 202 and remembered.answer == {"samples_accepted": 3}


def test_more_keys_than_the_cap_forget_the_oldest(tmp_path: Path) -> None:
    clock = Clock()
    ledger = KeyLedger(tmp_path / "keys.jsonl", ttl_s=86_400, max_keys=100, clock=clock)
    for n in range(250):
        ledger.remember(f"k{n}", "d", 200, {})
    assert len(ledger) == 100
    assert ledger.get("k149") is None and ledger.get("k150") is not None
