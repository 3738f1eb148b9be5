"""The machine Pulseboard runs on (or an agent's host), read through psutil.

CPU, load, memory, swap, filesystems, disk and network I/O, and the top processes for
the "top resource consumers" widget. Cumulative counters become per-second rates
through :class:`~collectors.fields.CounterRates`, so resets and sleep/resume gaps
drop a reading instead of charting a spike. psutil, ``os.statvfs`` and the clock come
in through the constructor so tests can hand in controlled readings.

Listing every process is the expensive part (about 60 µs per process), so the
top-N table is refreshed every ``top_interval`` seconds rather than on every run.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import psutil

from collectors.fields import CounterRates, MetricSpec
from core.model import Batch, Labels, Sample

if TYPE_CHECKING:  # kept out of the import so an agent's collector stays small
    from sqlalchemy.engine import Engine

    from core.config import Settings

HIDDEN_DISKS = re.compile(r"(loop|ram)\d+$")
PROCESS_ATTRS = ["name", "cpu_times", "memory_info", "create_time"]

_FS = ("mount", "device", "fstype")


def _spec(name: str, description: str, unit: str, labels: tuple[str, ...] = (), rate: bool = False) -> MetricSpec:
    return MetricSpec(name, description, unit, rate, ("host", *labels))


SPECS: tuple[MetricSpec, ...] = (
    _spec("system_cpu_percent", "CPU busy time over all cores (0–100).", "percent", rate=True),
    _spec("system_cpu_core_percent", "CPU busy time of one core (0–100).", "percent", ("cpu",), rate=True),
    _spec("system_load1", "Load average over 1 minute.", "1"),
    _spec("system_load5", "Load average over 5 minutes.", "1"),
    _spec("system_load15", "Load average over 15 minutes.", "1"),
    _spec("system_context_switches_per_second", "Context switches per second.", "1/s", rate=True),
    _spec("system_interrupts_per_second", "Hardware interrupts per second.", "1/s", rate=True),
    _spec("system_memory_total_bytes", "Physical memory.", "bytes"),
    _spec("system_memory_used_bytes", "Memory in use by processes (psutil 'used').", "bytes"),
    _spec("system_memory_available_bytes", "Memory available without swapping.", "bytes"),
    _spec("system_memory_buffers_bytes", "Kernel buffers (Linux, BSD).", "bytes"),
    _spec("system_memory_cached_bytes", "Page cache (Linux, BSD).", "bytes"),
    _spec("system_memory_used_percent", "Share of memory not available (psutil 'percent').", "percent"),
    _spec("system_swap_total_bytes", "Swap space.", "bytes"),
    _spec("system_swap_used_bytes", "Swap in use.", "bytes"),
    _spec("system_filesystem_size_bytes", "Size of a mounted filesystem.", "bytes", _FS),
    _spec("system_filesystem_used_bytes", "Space used on a filesystem.", "bytes", _FS),
    _spec("system_filesystem_free_bytes", "Space free for unprivileged users.", "bytes", _FS),
    _spec("system_filesystem_used_percent", "Share of a filesystem in use.", "percent", _FS),
    _spec(
        "system_filesystem_inodes_used_percent",
        "Share of inodes in use (omitted where the filesystem has no fixed inode table).",
        "percent",
        _FS,
    ),
    _spec(
        "system_disk_read_bytes_per_second", "Bytes read from a block device per second.", "bytes/s", ("disk",), True
    ),
    _spec(
        "system_disk_write_bytes_per_second", "Bytes written to a block device per second.", "bytes/s", ("disk",), True
    ),
    _spec("system_disk_reads_per_second", "Read operations per second (read IOPS).", "1/s", ("disk",), True),
    _spec("system_disk_writes_per_second", "Write operations per second (write IOPS).", "1/s", ("disk",), True),
    _spec(
        "system_disk_read_latency_seconds",
        "Mean time per read over the interval (omitted when there were no reads).",
        "seconds",
        ("disk",),
        True,
    ),
    _spec(
        "system_disk_write_latency_seconds",
        "Mean time per write over the interval (omitted when there were no writes).",
        "seconds",
        ("disk",),
        True,
    ),
    _spec("system_network_receive_bytes_per_second", "Bytes received per second.", "bytes/s", ("interface",), True),
    _spec("system_network_transmit_bytes_per_second", "Bytes sent per second.", "bytes/s", ("interface",), True),
    _spec("system_network_receive_packets_per_second", "Packets received per second.", "1/s", ("interface",), True),
    _spec("system_network_transmit_packets_per_second", "Packets sent per second.", "1/s", ("interface",), True),
    _spec("system_network_receive_errors_per_second", "Receive errors per second.", "1/s", ("interface",), True),
    _spec("system_network_transmit_errors_per_second", "Transmit errors per second.", "1/s", ("interface",), True),
    _spec(
        "system_network_receive_drops_per_second", "Incoming packets dropped per second.", "1/s", ("interface",), True
    ),
    _spec(
        "system_network_transmit_drops_per_second", "Outgoing packets dropped per second.", "1/s", ("interface",), True
    ),
    _spec("system_processes", "Number of processes.", "1"),
    _spec(
        "process_cpu_percent",
        "CPU of one of the top-N processes, % of one core (can exceed 100).",
        "percent",
        ("name", "pid"),
        True,
    ),
    _spec("process_resident_bytes", "Resident memory of one of the top-N processes.", "bytes", ("name", "pid")),
)

_NET_FIELDS = (
    ("bytes_recv", "system_network_receive_bytes_per_second"),
    ("bytes_sent", "system_network_transmit_bytes_per_second"),
    ("packets_recv", "system_network_receive_packets_per_second"),
    ("packets_sent", "system_network_transmit_packets_per_second"),
    ("errin", "system_network_receive_errors_per_second"),
    ("errout", "system_network_transmit_errors_per_second"),
    ("dropin", "system_network_receive_drops_per_second"),
    ("dropout", "system_network_transmit_drops_per_second"),
)


def _busy_and_total(times: Any) -> tuple[float, float]:
    """Busy and total CPU seconds the way psutil.cpu_percent counts them."""
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class SystemCollector:
    """Host metrics every ``interval`` seconds; top-N processes every ``top_interval``."""

    def __init__(
        self,
        interval: float = 5.0,
        *,
        top_n: int = 5,
        top_interval: float = 5.0,
        max_gap_intervals: float = 3.0,
        ps: Any = psutil,
        statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
        clock: Callable[[], float] = time.time,
        host: str | None = None,
    ) -> None:
        self.name = "system"
        self.interval = interval
        self.top_n = top_n
        self.top_interval = max(top_interval, interval)
        self._ps, self._statvfs, self._clock = ps, statvfs, clock
        self._host = host or socket.gethostname()
        self._rates = CounterRates(max_gap_intervals * interval)
        self._process_rates = CounterRates(max_gap_intervals * self.top_interval)
        self._next_top = 0.0

    def collect(self) -> Batch:
        """One reading of everything; rates need a second reading to appear."""
        now = self._clock()
        ts = int(now * 1000)
        host = (("host", self._host),)
        samples = [
            Sample(name, tuple(sorted(host + extra)), float(value), ts, "gauge")
            for name, extra, value in self._readings(now)
        ]
        return Batch(tuple(samples))

    def _readings(self, now: float) -> Iterator[tuple[str, Labels, float]]:
        yield from self._cpu(now)
        yield from self._memory()
        yield from self._filesystems()
        yield from self._disks(now)
        yield from self._network(now)
        if now >= self._next_top:
            self._next_top = now + self.top_interval
            yield from self._processes(now)

    def _cpu(self, now: float) -> Iterator[tuple[str, Labels, float]]:
        ps, rates = self._ps, self._rates
        per_core: list[tuple[str, Labels, Any]] = [("system_cpu_percent", (), ps.cpu_times())]
        per_core += [
            ("system_cpu_core_percent", (("cpu", str(i)),), t) for i, t in enumerate(ps.cpu_times(percpu=True))
        ]
        for name, labels, times in per_core:
            busy, total = _busy_and_total(times)
            busy_rate, total_rate = (
                rates.rate((name, labels, "busy"), busy, now),
                rates.rate((name, labels, "total"), total, now),
            )
            if busy_rate is not None and total_rate:
                yield name, labels, min(100.0, max(0.0, 100.0 * busy_rate / total_rate))
        for name, value in zip(("system_load1", "system_load5", "system_load15"), ps.getloadavg(), strict=True):
            yield name, (), value
        stats = ps.cpu_stats()
        for name, count in (
            ("system_context_switches_per_second", stats.ctx_switches),
            ("system_interrupts_per_second", stats.interrupts),
        ):
            rate = rates.rate(name, count, now)
            if rate is not None:
                yield name, (), rate

    def _memory(self) -> Iterator[tuple[str, Labels, float]]:
        memory = self._ps.virtual_memory()
        yield "system_memory_total_bytes", (), memory.total
        yield "system_memory_used_bytes", (), memory.used
        yield "system_memory_available_bytes", (), memory.available
        yield "system_memory_used_percent", (), memory.percent
        for field in ("buffers", "cached"):
            if hasattr(memory, field):
                yield f"system_memory_{field}_bytes", (), getattr(memory, field)
        swap = self._ps.swap_memory()
        yield "system_swap_total_bytes", (), swap.total
        yield "system_swap_used_bytes", (), swap.used

    def _filesystems(self) -> Iterator[tuple[str, Labels, float]]:
        for part in self._ps.disk_partitions(all=False):
            labels = (("device", part.device), ("fstype", part.fstype), ("mount", part.mountpoint))
            try:
                usage = self._ps.disk_usage(part.mountpoint)
                stat = self._statvfs(part.mountpoint)
            except OSError:  # unmounted or unreadable between listing and reading
                continue
            yield "system_filesystem_size_bytes", labels, usage.total
            yield "system_filesystem_used_bytes", labels, usage.used
            yield "system_filesystem_free_bytes", labels, usage.free
            yield "system_filesystem_used_percent", labels, usage.percent
            if stat.f_files:
                yield (
                    "system_filesystem_inodes_used_percent",
                    labels,
                    100.0 * (stat.f_files - stat.f_ffree) / stat.f_files,
                )

    def _disks(self, now: float) -> Iterator[tuple[str, Labels, float]]:
        rate = self._rates.rate
        for disk, io in (self._ps.disk_io_counters(perdisk=True) or {}).items():
            if HIDDEN_DISKS.match(disk):
                continue
            labels = (("disk", disk),)
            for op, plural in (("read", "reads"), ("write", "writes")):
                moved = rate((disk, f"{op}_bytes"), getattr(io, f"{op}_bytes"), now)
                count = rate((disk, f"{op}_count"), getattr(io, f"{op}_count"), now)
                busy_ms = rate((disk, f"{op}_time"), getattr(io, f"{op}_time"), now)
                if moved is not None:
                    yield f"system_disk_{op}_bytes_per_second", labels, moved
                if count is not None:
                    yield f"system_disk_{plural}_per_second", labels, count
                    if count > 0 and busy_ms is not None:
                        yield f"system_disk_{op}_latency_seconds", labels, busy_ms / count / 1000.0

    def _network(self, now: float) -> Iterator[tuple[str, Labels, float]]:
        rate = self._rates.rate
        for nic, io in (self._ps.net_io_counters(pernic=True) or {}).items():
            labels = (("interface", nic),)
            for field, name in _NET_FIELDS:
                value = rate((nic, field), getattr(io, field), now)
                if value is not None:
                    yield name, labels, value

    def _processes(self, now: float) -> Iterator[tuple[str, Labels, float]]:
        if self.top_n <= 0:  # no table wanted: counting pids is far cheaper than reading each process
            yield "system_processes", (), len(self._ps.pids())
            return
        table, seen = [], 0
        for proc in self._ps.process_iter(PROCESS_ATTRS):
            seen += 1
            info = proc.info
            cpu, memory = info.get("cpu_times"), info.get("memory_info")
            if cpu is None or memory is None:  # access denied or gone mid-scan
                continue
            key = (proc.pid, info.get("create_time"))
            table.append(
                (key, info.get("name") or "?", self._process_rates.rate(key, cpu.user + cpu.system, now), memory.rss)
            )
        self._process_rates.forget_except(row[0] for row in table)
        yield "system_processes", (), seen
        by_cpu = sorted((row for row in table if row[2] is not None), key=lambda row: row[2] or 0.0, reverse=True)[
            : self.top_n
        ]
        by_memory = sorted(table, key=lambda row: row[3], reverse=True)[: self.top_n]
        for (pid, _), name, cpu_rate, rss in {row[0]: row for row in by_cpu + by_memory}.values():
            labels = (("name", name), ("pid", str(pid)))
            if cpu_rate is not None:
                yield "process_cpu_percent", labels, 100.0 * cpu_rate
            yield "process_resident_bytes", labels, rss


def build(settings: Settings, engine: Engine | None) -> list[SystemCollector]:
    """The system collector as configured."""
    return [
        SystemCollector(
            settings.system_interval_s,
            top_n=settings.system_top_n,
            top_interval=settings.system_top_interval_s,
            max_gap_intervals=settings.collector_max_gap_intervals,
        )
    ]
