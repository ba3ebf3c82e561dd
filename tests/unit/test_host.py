"""Host metrics: the arithmetic over fixed counter readings, then one real sample."""

from __future__ import annotations

import time

import pytest

from enginewatch.core.host import (
    MEASUREMENT,
    CpuTimes,
    DiskBytes,
    HostSampler,
    Reading,
    Traffic,
    change_fields,
    cpu_percents,
    cpu_times,
    is_loopback,
    split_network,
    traffic_delta,
)


def reading(at: float, **overrides: object) -> Reading:
    values: dict[str, object] = {
        "at": at,
        "cpus": (CpuTimes(busy=10.0, total=100.0), CpuTimes(busy=50.0, total=100.0)),
        "process_cpu_seconds": 1.0,
        "disk": DiskBytes(read=1000, written=2000),
        "nics": {"lo": Traffic(100, 100), "eth0": Traffic(1000, 5000)},
    }
    values.update(overrides)
    return Reading(**values)  # type: ignore[arg-type]


def test_cpu_times_count_iowait_as_idle_and_guest_time_once() -> None:
    times = cpu_times(
        user=6.0, system=2.0, idle=10.0, iowait=2.0, nice=0.0, guest=3.0, guest_nice=1.0
    )
    assert times == CpuTimes(busy=8.0, total=20.0)


def test_cpu_percents_per_cpu_between_two_readings() -> None:
    before = [CpuTimes(10.0, 100.0), CpuTimes(50.0, 100.0), CpuTimes(5.0, 10.0)]
    after = [CpuTimes(35.0, 200.0), CpuTimes(150.0, 200.0), CpuTimes(5.0, 10.0)]
    assert cpu_percents(before, after) == [25.0, 100.0, 0.0]


@pytest.mark.parametrize(
    ("name", "flags", "loopback"),
    [
        ("lo", "up,loopback,running", True),
        ("lo0", "", True),
        ("docker-lo", "up,loopback", True),
        ("eth0", "up,broadcast,running,multicast", False),
        ("wlan0", "", False),
    ],
)
def test_loopback_by_flag_or_name(name: str, flags: str, loopback: bool) -> None:
    assert is_loopback(name, flags) is loopback


def test_split_network_sums_loopback_and_external_apart() -> None:
    nics = {"lo": Traffic(5, 5), "eth0": Traffic(10, 20), "eth1": Traffic(1, 2)}
    split = split_network(nics, {"lo"})
    assert split.loopback == Traffic(5, 5)
    assert split.external == Traffic(11, 22)


def test_traffic_delta_ignores_new_interfaces_and_reset_counters() -> None:
    before = {"lo": Traffic(100, 100), "eth0": Traffic(1000, 5000), "gone": Traffic(1, 1)}
    after = {"lo": Traffic(150, 170), "eth0": Traffic(10, 6000), "new": Traffic(9, 9)}
    assert traffic_delta(before, after) == {"lo": Traffic(50, 70), "eth0": Traffic(0, 1000)}


def test_change_fields_give_amounts_and_rates_over_the_elapsed_time() -> None:
    before = reading(10.0)
    after = reading(
        12.0,
        cpus=(CpuTimes(busy=60.0, total=200.0), CpuTimes(busy=90.0, total=200.0)),
        process_cpu_seconds=1.5,
        disk=DiskBytes(read=5000, written=2000),
        nics={"lo": Traffic(300, 500), "eth0": Traffic(1100, 9000)},
    )
    fields = change_fields(before, after, {"lo"})
    assert fields == {
        "cpu_percent_avg": 45.0,
        "cpu_percent_min": 40.0,
        "cpu_percent_max": 50.0,
        "process_cpu_percent": 25.0,
        "disk_read_bytes": 4000.0,
        "disk_read_bytes_per_second": 2000.0,
        "disk_write_bytes": 0.0,
        "disk_write_bytes_per_second": 0.0,
        "net_loopback_sent_bytes": 200.0,
        "net_loopback_sent_bytes_per_second": 100.0,
        "net_loopback_recv_bytes": 400.0,
        "net_loopback_recv_bytes_per_second": 200.0,
        "net_external_sent_bytes": 100.0,
        "net_external_sent_bytes_per_second": 50.0,
        "net_external_recv_bytes": 4000.0,
        "net_external_recv_bytes_per_second": 2000.0,
    }


def test_change_fields_without_disks_or_elapsed_time_have_no_rates() -> None:
    fields = change_fields(reading(5.0, disk=None), reading(5.0, disk=None), {"lo"})
    assert not any(name.startswith("disk_") for name in fields)
    assert not any(name.endswith("_per_second") for name in fields)
    assert "process_cpu_percent" not in fields
    assert fields["net_external_recv_bytes"] == 0.0


def test_a_real_sample_has_the_fields_of_the_contract_in_their_ranges() -> None:
    sampler = HostSampler(instance="test-1", worker="archiver")
    first = sampler.sample(1_000)
    assert first.measurement == MEASUREMENT
    assert first.time == 1_000
    assert first.tags["instance"] == "test-1"
    assert first.tags["worker"] == "archiver"
    assert first.tags["host"]
    # The first sample has no previous reading: no changes, no CPU percents.
    assert set(first.fields) == {"memory_percent", "disk_percent", "process_rss_bytes"}
    busy_until = time.process_time() + 0.05  # CPU time of our own between the samples,
    while time.process_time() < busy_until:  # well above the clock tick's 10 ms
        pass
    second = sampler.sample(2_000)
    fields = second.fields
    assert all(isinstance(value, float) for value in fields.values())
    for name in ("cpu_percent_avg", "cpu_percent_min", "cpu_percent_max", "memory_percent"):
        assert 0.0 <= float(fields[name]) <= 100.0, name
    low, mean, high = (float(fields[f"cpu_percent_{s}"]) for s in ("min", "avg", "max"))
    assert low <= mean <= high
    assert 0.0 < float(fields["disk_percent"]) <= 100.0
    assert float(fields["process_cpu_percent"]) > 0.0
    assert float(fields["process_rss_bytes"]) > 1_000_000
    for name in (
        "net_loopback_sent_bytes",
        "net_loopback_recv_bytes",
        "net_external_sent_bytes",
        "net_external_recv_bytes",
    ):
        assert float(fields[name]) >= 0.0
        assert float(fields[f"{name}_per_second"]) >= 0.0
