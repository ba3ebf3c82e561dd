"""Progress lines: count, rate, ETA; drawn on terminals only."""

from __future__ import annotations

import io

from enginewatch.tools.progress import Progress, format_duration, format_progress


def test_format_duration() -> None:
    assert format_duration(0) == "0:00"
    assert format_duration(61.2) == "1:02"
    assert format_duration(3723) == "1:02:03"
    assert format_duration(-5) == "0:00"


def test_progress_with_a_total_has_an_eta() -> None:
    line = format_progress("replay t", 250, 5.0, 1000)
    assert line == "replay t: 250/1,000 msgs  50.0/s  elapsed 0:05  ETA 0:15"


def test_progress_without_a_total_has_no_eta() -> None:
    assert format_progress("record t", 1234, 2.0) == "record t: 1,234 msgs  617.0/s  elapsed 0:02"


def test_eta_from_a_fraction() -> None:
    assert format_progress("sim", 10, 10.0, fraction=0.25).endswith("ETA 0:30")
    assert format_progress("sim", 10, 10.0, fraction=1.0).endswith("ETA 0:00")


def test_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()  # isatty() is False
    progress = Progress("replay", 10, stream=stream)
    progress.update(5)
    progress.close(10)
    assert stream.getvalue() == ""


def test_draws_over_one_line_at_most_every_interval() -> None:
    now = [0.0]
    stream = io.StringIO()
    progress = Progress("replay", 10, stream=stream, enabled=True, clock=lambda: now[0])
    now[0] = 1.0
    progress.update(2)
    now[0] = 1.1
    progress.update(3)  # too soon: not drawn
    now[0] = 2.0
    progress.close(10)
    drawn = stream.getvalue()
    assert drawn.count("\r") == 2
    assert "2/10" in drawn
    assert "3/10" not in drawn
    assert drawn.endswith("\n")
    assert "10/10" in drawn
