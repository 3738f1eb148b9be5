"""The system collector: correct rates from counters, resets, sleep/resume gaps, top-N processes.

psutil is replaced by a small stand-in that returns psutil's own result types filled
with chosen numbers, so each test controls exactly what the collector reads.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import psutil
import pytest
from psutil import _ntuples as ntuples

from collectors.fields import CounterRates, MetricSpec
from collectors.system import SPECS, SystemCollector, build
from core.ingest import ingest

DOCS = Path(__file__).resolve().parent.parent / "docs" / "collectors.md"

CPU = type(psutil.cpu_times())
MEM = type(psutil.virtual_memory())
SWAP = type(psutil.swap_memory())
STATS = type(psutil.cpu_stats())
PART = ntuples.sdiskpart  # psutil's own result types (psutil is pinned in requirements.txt)
USAGE = ntuples.sdiskusage
DISKIO = ntuples.sdiskio
NETIO = ntuples.snetio
PCPU = type(psutil.Process().cpu_times())
PMEM = type(psutil.Process().memory_info())


def cpu(user: float, idle: float) -> object:
    return CPU(**{name: 0.0 for name in CPU._fields} | {"user": user, "idle": idle})


def disk_io(read_bytes: int, read_count: int, read_time: int) -> object:
    fields = {name: 0 for name in DISKIO._fields}
    return DISKIO(**fields | {"read_bytes": read_bytes, "read_count": read_count, "read_time": read_time})


def net_io(recv: int, errin: int = 0) -> object:
    return NETIO(**{name: 0 for name in NETIO._fields} | {"bytes_recv": recv, "errin": errin})


class Proc:
    def __init__(self, pid: int, name: str, cpu_seconds: float, rss: int, created: float = 1.0) -> None:
        self.pid = pid
        self.info = {
            "name": name,
            "cpu_times": PCPU(**{n: 0.0 for n in PCPU._fields} | {"user": cpu_seconds}),
            "memory_info": PMEM(**{n: 0 for n in PMEM._fields} | {"rss": rss}),
            "create_time": created,
        }


class FakePsutil:
    """psutil's functions, answering with whatever the test set last."""

    def __init__(self) -> None:
        self.cpu_total = cpu(0, 0)
        self.cores = [cpu(0, 0), cpu(0, 0)]
        self.ctx = 0
        self.disks = {"sda": disk_io(0, 0, 0), "loop0": disk_io(0, 0, 0)}
        self.nics = {"eth0": net_io(0)}
        self.procs: list[Proc] = []

    def cpu_times(self, percpu: bool = False) -> object:
        return self.cores if percpu else self.cpu_total

    def getloadavg(self) -> tuple[float, float, float]:
        return (0.5, 0.25, 0.125)

    def cpu_stats(self) -> object:
        return STATS(ctx_switches=self.ctx, interrupts=0, soft_interrupts=0, syscalls=0)

    def virtual_memory(self) -> object:
        return MEM(
            **{name: 0 for name in MEM._fields}
            | {"total": 8000, "used": 2000, "available": 6000, "percent": 25.0, "cached": 100}
        )

    def swap_memory(self) -> object:
        return SWAP(total=1000, used=10, free=990, percent=1.0, sin=0, sout=0)

    def disk_partitions(self, all: bool = False) -> list[object]:
        return [PART(device="/dev/sda1", mountpoint="/", fstype="ext4", opts="rw")]

    def disk_usage(self, path: str) -> object:
        return USAGE(total=1000, used=250, free=750, percent=25.0)

    def disk_io_counters(self, perdisk: bool = False) -> dict[str, object]:
        return self.disks

    def net_io_counters(self, pernic: bool = False) -> dict[str, object]:
        return self.nics

    def process_iter(self, attrs: list[str]) -> list[Proc]:
        return self.procs

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]


def statvfs(path: str) -> os.statvfs_result:
    return os.statvfs_result((4096, 4096, 100, 50, 50, 1000, 900, 900, 0, 255))


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ps() -> FakePsutil:
    return FakePsutil()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def values(batch, name: str) -> dict[tuple, float]:
    return {tuple((k, v) for k, v in s.labels if k != "host"): s.value for s in batch.samples if s.name == name}


def collector(ps: FakePsutil, clock: Clock, **options) -> SystemCollector:
    return SystemCollector(5.0, ps=ps, statvfs=statvfs, clock=clock, host="testhost", **options)


def test_rates_come_from_counter_differences(ps, clock):
    system = collector(ps, clock)
    first = system.collect()
    assert not values(first, "system_network_receive_bytes_per_second"), "no rate before a second reading"
    ps.cpu_total, ps.cores = cpu(3, 7), [cpu(1, 4), cpu(2, 3)]
    ps.ctx, ps.nics = 500, {"eth0": net_io(5000, errin=10)}
    ps.disks = {"sda": disk_io(10_000, 20, 100), "loop0": disk_io(99, 9, 9)}
    clock.now += 5
    second = system.collect()
    assert values(second, "system_cpu_percent") == {(): pytest.approx(30.0)}
    assert values(second, "system_cpu_core_percent") == {
        (("cpu", "0"),): pytest.approx(20.0),
        (("cpu", "1"),): pytest.approx(40.0),
    }
    assert values(second, "system_context_switches_per_second") == {(): 100.0}
    assert values(second, "system_network_receive_bytes_per_second") == {(("interface", "eth0"),): 1000.0}
    assert values(second, "system_network_receive_errors_per_second") == {(("interface", "eth0"),): 2.0}
    assert values(second, "system_disk_read_bytes_per_second") == {(("disk", "sda"),): 2000.0}, (
        "loop devices are hidden"
    )
    assert values(second, "system_disk_reads_per_second") == {(("disk", "sda"),): 4.0}
    assert values(second, "system_disk_read_latency_seconds") == {(("disk", "sda"),): pytest.approx(0.005)}
    assert not values(second, "system_disk_write_latency_seconds"), "no writes, so no write latency"
    assert all(s.ts == int(clock.now * 1000) and ("host", "testhost") in s.labels for s in second.samples)


def test_gauges_filesystems_and_inodes(ps, clock):
    batch = collector(ps, clock).collect()
    fs = (("device", "/dev/sda1"), ("fstype", "ext4"), ("mount", "/"))
    assert values(batch, "system_filesystem_used_percent") == {fs: 25.0}
    assert values(batch, "system_filesystem_inodes_used_percent") == {fs: pytest.approx(10.0)}
    assert values(batch, "system_memory_available_bytes") == {(): 6000}
    assert values(batch, "system_memory_cached_bytes") == {(): 100}
    assert values(batch, "system_load15") == {(): 0.125}


def test_counter_reset_gives_no_negative_rate(ps, clock):
    system = collector(ps, clock)
    ps.nics = {"eth0": net_io(1_000_000)}
    system.collect()
    ps.nics, ps.ctx = {"eth0": net_io(500)}, 0  # interface re-plugged: counter restarted
    clock.now += 5
    after_reset = system.collect()
    assert not values(after_reset, "system_network_receive_bytes_per_second")
    assert all(s.value >= 0 for s in after_reset.samples)
    ps.nics = {"eth0": net_io(1500)}
    clock.now += 5
    assert values(system.collect(), "system_network_receive_bytes_per_second") == {(("interface", "eth0"),): 200.0}


def test_sleep_resume_gap_drops_the_interval_instead_of_a_spike(ps, clock):
    system = collector(ps, clock, max_gap_intervals=3)
    system.collect()
    ps.nics, ps.cpu_total = {"eth0": net_io(9_000_000)}, cpu(3000, 500)
    clock.now += 3600  # laptop lid closed for an hour
    resumed = system.collect()
    assert not values(resumed, "system_network_receive_bytes_per_second")
    assert not values(resumed, "system_cpu_percent")
    ps.nics, ps.cpu_total = {"eth0": net_io(9_000_500)}, cpu(3001, 504)
    clock.now += 5
    normal = system.collect()
    assert values(normal, "system_network_receive_bytes_per_second") == {(("interface", "eth0"),): 100.0}
    assert values(normal, "system_cpu_percent") == {(): pytest.approx(20.0)}


def test_clock_going_backwards_gives_no_rate():
    rates = CounterRates(max_gap=15)
    rates.rate("x", 10, 100.0)
    assert rates.rate("x", 20, 99.0) is None
    assert rates.rate("x", 30, 104.0) == pytest.approx(2.0)


def test_top_n_processes_by_cpu_and_memory(ps, clock):
    ps.procs = [Proc(pid, f"p{pid}", 0.0, rss=pid * 1000) for pid in range(1, 11)]
    system = collector(ps, clock, top_n=2, top_interval=5)
    first = system.collect()
    assert values(first, "system_processes") == {(): 10}
    assert set(values(first, "process_resident_bytes")) == {
        (("name", "p10"), ("pid", "10")),
        (("name", "p9"), ("pid", "9")),
    }
    assert not values(first, "process_cpu_percent"), "CPU share needs two readings"
    # p1 and p2 burn CPU; p10 and p9 stay the largest in memory
    ps.procs = [Proc(pid, f"p{pid}", {1: 2.5, 2: 1.0}.get(pid, 0.0), rss=pid * 1000) for pid in range(1, 11)]
    clock.now += 5
    second = system.collect()
    cpu_top = values(second, "process_cpu_percent")
    assert cpu_top[(("name", "p1"), ("pid", "1"))] == pytest.approx(50.0)
    assert cpu_top[(("name", "p2"), ("pid", "2"))] == pytest.approx(20.0)
    expected = {(("name", f"p{p}"), ("pid", str(p))) for p in (1, 2, 9, 10)}
    assert set(values(second, "process_resident_bytes")) == expected, (
        "union of top-2 by CPU and top-2 by memory, no more"
    )


def test_top_processes_refresh_on_their_own_interval_and_pid_reuse_is_not_a_rate(ps, clock):
    ps.procs = [Proc(7, "old", 100.0, rss=10)]
    system = collector(ps, clock, top_n=1, top_interval=10)
    assert values(system.collect(), "system_processes") == {(): 1}
    clock.now += 5
    assert not values(system.collect(), "system_processes"), "process table is listed every 10 s, not every 5 s"
    ps.procs = [Proc(7, "new", 1.0, rss=10, created=2.0)]  # pid 7 reused by a new process
    clock.now += 5
    batch = system.collect()
    assert values(batch, "process_resident_bytes") == {(("name", "new"), ("pid", "7")): 10}
    assert not values(batch, "process_cpu_percent")


def test_top_n_zero_counts_processes_without_reading_them(ps, clock):
    ps.procs = [Proc(1, "a", 0.0, 1), Proc(2, "b", 0.0, 2)]
    ps.process_iter = None  # reading the table would fail
    batch = collector(ps, clock, top_n=0).collect()
    assert values(batch, "system_processes") == {(): 2}
    assert not values(batch, "process_resident_bytes")


def test_denied_processes_are_counted_but_not_ranked(ps, clock):
    denied = Proc(1, "init", 0.0, 0)
    denied.info["memory_info"] = None
    ps.procs = [denied, Proc(2, "app", 0.0, 5)]
    batch = collector(ps, clock).collect()
    assert values(batch, "system_processes") == {(): 2}
    assert set(values(batch, "process_resident_bytes")) == {(("name", "app"), ("pid", "2"))}


def test_real_psutil_emits_only_declared_documented_metrics(engine, settings):
    clock = Clock()
    system = SystemCollector(1.0, top_n=3, top_interval=1.0, clock=clock)
    system.collect()
    # CPU % needs the kernel's busy and total counters to have moved forward between two reads; the total can
    # also step back (iowait does on Linux), which gives no figure for that pair. Read again until one comes.
    for _ in range(50):
        ticks = sum(psutil.cpu_times())
        while sum(psutil.cpu_times()) == ticks:
            sum(range(200_000))
        clock.now += 1
        batch = system.collect()
        if any(s.name == "system_cpu_percent" for s in batch.samples):
            break
    declared = {spec.name for spec in SPECS}
    assert {s.name for s in batch.samples} <= declared
    assert {"system_cpu_percent", "system_memory_used_bytes", "process_resident_bytes"} <= {
        s.name for s in batch.samples
    }
    assert all(math.isfinite(s.value) and s.value >= 0 for s in batch.samples)
    assert ingest(engine, batch, origin="collector:system", settings=settings).samples_written == len(batch.samples)


def test_every_declared_metric_is_documented():
    text = DOCS.read_text()
    missing = [spec.name for spec in SPECS if f"`{spec.name}`" not in text]
    assert not missing, f"add to docs/collectors.md (python -m collectors docs prints the tables): {missing}"


def test_build_follows_settings(settings):
    tuned = settings.model_copy(update={"system_interval_s": 1.0, "system_top_n": 7})
    (system,) = build(tuned, None)
    assert (system.name, system.interval, system.top_n) == ("system", 1.0, 7)


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("cpuPercent", "percent"),
        ("disk_read", "bytes"),
        ("net_rx_bytes", "1/s"),
        ("requests", "total"),
        ("uptime_seconds", "1"),
        ("x_bytes", "furlongs"),
    ],
)
def test_bad_metric_declarations_raise_at_definition(name, unit):
    with pytest.raises(ValueError):
        MetricSpec(name, "d", unit)


def test_fake_psutil_matches_real_signatures():
    for name in (
        "cpu_times",
        "getloadavg",
        "cpu_stats",
        "virtual_memory",
        "swap_memory",
        "disk_partitions",
        "disk_usage",
        "disk_io_counters",
        "net_io_counters",
        "process_iter",
        "pids",
    ):
        assert callable(getattr(psutil, name)) and callable(getattr(FakePsutil, name))
