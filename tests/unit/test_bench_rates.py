"""benchmarks/rates.py: the steady window of a run, tiny runs included."""

from __future__ import annotations

import pytest

from benchmarks.rates import Sample, steady_window


def test_the_window_runs_from_a_tenth_to_nine_tenths_of_the_work() -> None:
    samples = [Sample(0.0, 0), Sample(10.0, 100)]
    window = steady_window(samples, 100)
    assert (window.start, window.end) == pytest.approx((1.0, 9.0))
    assert window.rate == pytest.approx(10.0)


def test_output_all_stamped_in_one_tick_counts_as_one_tick_long() -> None:
    # A smoke run's output can all carry one CreateTime (milliseconds).
    samples = [Sample(5.0, 0), Sample(5.0, 100)]
    window = steady_window(samples, 100, resolution=0.001)
    assert window.end - window.start == pytest.approx(0.001)
    assert window.rate == pytest.approx(80 / 0.001)


def test_without_a_resolution_such_a_run_cannot_be_measured() -> None:
    samples = [Sample(5.0, 0), Sample(5.0, 100)]
    with pytest.raises(ValueError, match="too short"):
        steady_window(samples, 100)
