"""One series' alert lifecycle, pure: a rule, the series' state and a point or
the passing of time in, the new state and the transitions out.

States (what receivers are told, `announced`, is one of them or `flapping`):

    inactive  the condition does not hold (or never was evaluated)
    pending   it holds, for less than the rule's `for`
    firing    it held for `for`; it stays firing until the condition, with the
              `reset` threshold in place of the threshold, no longer holds
    resolved  it was firing and no longer is (behaves as inactive)
    no-data   no point for `no_data.after`; an alert itself with `fires: true`,
              else it ends whatever fired
    flapping  whether the alert fires changed in at least `flapping.high` of
              the last `flapping.history` evaluations: announced once, as
              firing, and the changes under it are not announced until the
              share falls below `flapping.low`

Time is event time only: the points' own times, and deadlines (`for` elapsed,
no-data, forget) reached when a later point of the series, or the clock of
its partition (alerts/stage.py), passes them. A series' last value holds until
its next point: a series pending with its condition true fires when time
passes `for`, even without a new point. A transition made at a deadline is
stamped with the deadline, not with the time that revealed it, so it does not
depend on when, or by what, the deadline was noticed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from alerts import windows
from alerts.model import Flapping, Rule
from alerts.ruleset import Role
from enginewatch.core.points import FieldValue

INACTIVE = "inactive"
PENDING = "pending"
FIRING = "firing"
RESOLVED = "resolved"
NO_DATA = "no-data"
FLAPPING = "flapping"
STATES = (INACTIVE, PENDING, FIRING, RESOLVED, NO_DATA, FLAPPING)

Deadline = Literal["for", "no-data", "forget"]


@dataclass(frozen=True, slots=True)
class Series:
    """What one series of one rule remembers (alerts/state.py keeps it)."""

    state: str = INACTIVE
    announced: str = INACTIVE  # what receivers were last told: `state`, or flapping
    firing: bool = False  # whether `announced` is an alert that fires
    since: int | None = None  # when `state` was entered (pending: since when it holds)
    fired_at: int | None = None  # when the firing `announced` began firing
    value: FieldValue | None = None  # the value last evaluated
    values: windows.Window = ()  # the aggregate's window
    denominators: windows.Window = ()  # divided_by's window
    gate: FieldValue | None = None  # the latest value of the `while` field
    first_seen: int | None = None  # the first point with a value since the series (re)appeared
    last_seen: int | None = None  # the latest point with a value (no-data counts from it)
    last_point: int | None = None  # the latest point of any kind (forget counts from it)
    now: int | None = None  # how far the series was evaluated; older points are late
    flaps: int = 0  # bit i: the i-th latest evaluation changed whether the alert fires
    evaluations: int = 0  # evaluations in `flaps`, at most flapping.history
    sequence: int = 0  # transitions announced


@dataclass(frozen=True, slots=True)
class Transition:
    """An announced change: what receivers are told."""

    state: str
    previous: str
    time: int
    firing: bool
    value: FieldValue | None
    fired_at: int | None  # when the alert began firing (of the one that ends, when it ends)
    sequence: int


@dataclass(frozen=True, slots=True)
class Step:
    """A series after a point or a deadline: None once it is forgotten."""

    series: Series | None
    transitions: tuple[Transition, ...] = ()
    late: bool = False


def fires(rule: Rule, state: str) -> bool:
    """Whether a series in `state` is an alert that fires."""
    if state in (FIRING, FLAPPING):
        return True
    return state == NO_DATA and rule.no_data is not None and rule.no_data.fires


def observe(rule: Rule, series: Series, role: Role, time: int, value: FieldValue) -> Step:
    """The series once a point (its `time` in ns and `value`) fed it in `role`.

    Deadlines before the point are reached first. A point older than what
    the series was already evaluated to is late, and changes nothing.
    """
    if series.now is not None and time < series.now:
        return Step(series, late=True)
    out: list[Transition] = []
    condition = rule.condition
    advanced = _advance(rule, series, time, out)
    s = _take(rule, condition is None, advanced or Series(), role, time, value)
    before = s.state
    if role == "gate" and s.state == NO_DATA:
        return Step(s, tuple(out))  # a `while` point is no sign of the series' own life
    current = _current(rule, s, time)
    if condition is None or current is None:
        # Nothing to evaluate (a rule on silence only, an aggregate over a
        # window not yet seen whole, no value yet): a point still ends no-data.
        if s.state == NO_DATA and role != "gate":
            s = _conclude(rule, before, _back(rule, s, time), time, out)
        return Step(s, tuple(out))
    firing = s.state == FIRING
    holds = condition.holds(current, firing) and _gate_open(rule, s)
    if s.value != current or type(s.value) is not type(current):
        s = replace(s, value=current)
    s = _conclude(rule, before, _evaluate(rule, s, holds, time), time, out)
    return Step(s, tuple(out))


def advance(rule: Rule, series: Series, until: int) -> Step:
    """The series once its clock passed `until`: the deadlines before it reached."""
    out: list[Transition] = []
    s = _advance(rule, series, until, out)
    return Step(s, tuple(out))


def retire(series: Series, time: int) -> Step:
    """A series whose rule is gone from the rules file (or whose identity
    changed): its alert, if it fires, resolves at `time`; then it is forgotten."""
    out: list[Transition] = []
    if series.firing:
        out.append(_transition(series, RESOLVED, False, time))
    return Step(None, tuple(out))


def next_deadline(rule: Rule, series: Series) -> tuple[int, Deadline] | None:
    """The earliest time at which the series changes without a point, and why."""
    candidates: list[tuple[int, int, Deadline]] = []
    if series.state == PENDING and series.since is not None:
        candidates.append((series.since + rule.for_, 0, "for"))
    if rule.no_data is not None and series.last_seen is not None and series.state != NO_DATA:
        candidates.append((series.last_seen + rule.no_data.after, 1, "no-data"))
    if series.last_point is not None:
        candidates.append((series.last_point + rule.forget, 2, "forget"))
    if not candidates:
        return None
    at, _, kind = min(candidates)
    return at, kind


def _advance(rule: Rule, s: Series, until: int, out: list[Transition]) -> Series | None:
    while (deadline := next_deadline(rule, s)) is not None and deadline[0] < until:
        at, kind = deadline
        s = replace(s, now=at if s.now is None else max(s.now, at))
        if kind == "for":
            s = _conclude(rule, s.state, replace(s, state=FIRING, since=at), at, out)
        elif kind == "no-data":
            s = _silent(rule, s, at, out)
        else:
            if s.firing:
                out.append(_transition(s, RESOLVED, False, at))
            return None
    return s


def _take(rule: Rule, silence: bool, s: Series, role: Role, time: int, value: FieldValue) -> Series:
    """The series with the point's value kept, before any evaluation."""
    if role == "gate":
        return replace(s, gate=value, last_point=time, now=time)
    first = s.first_seen if s.first_seen is not None else time
    if role == "denominator":
        assert isinstance(value, int | float)
        panes = windows.add("sum", rule.window_ns, s.denominators, time, float(value))
        return replace(
            s, denominators=panes, first_seen=first, last_seen=time, last_point=time, now=time
        )
    if silence:  # a rule on silence only keeps no value
        return replace(s, first_seen=first, last_seen=time, last_point=time, now=time)
    if rule.aggregate is not None:
        assert isinstance(value, int | float)
        panes = windows.add(rule.aggregate, rule.window_ns, s.values, time, float(value))
        return replace(s, values=panes, first_seen=first, last_seen=time, last_point=time, now=time)
    return replace(s, value=value, first_seen=first, last_seen=time, last_point=time, now=time)


def _current(rule: Rule, s: Series, time: int) -> FieldValue | None:
    """The value the condition is evaluated on at `time`, if there is one."""
    if rule.aggregate is None:
        return s.value
    if s.first_seen is None or time - s.first_seen < rule.window_ns:
        return None  # a window is judged only once the series was seen for all of it
    value = windows.value(rule.aggregate, rule.window_ns, s.values, time)
    if rule.divided_by is None or value is None:
        return value
    total = windows.value("sum", rule.window_ns, s.denominators, time)
    return None if not total else value / total


def _gate_open(rule: Rule, s: Series) -> bool:
    if rule.gate is None:
        return True
    return s.gate is not None and rule.gate.condition.holds(s.gate)


def _evaluate(rule: Rule, s: Series, holds: bool, time: int) -> Series:
    """The state machine: the series' state once the condition was evaluated."""
    if s.state in (INACTIVE, RESOLVED, NO_DATA):
        if holds:
            return replace(s, state=FIRING if rule.for_ == 0 else PENDING, since=time)
        return _back(rule, s, time) if s.state == NO_DATA else s
    if s.state == PENDING:
        if not holds:
            return replace(s, state=INACTIVE, since=time)
        assert s.since is not None
        return replace(s, state=FIRING, since=time) if time - s.since >= rule.for_ else s
    if s.state == FIRING and not holds:
        return replace(s, state=RESOLVED, since=time)
    return s


def _back(rule: Rule, s: Series, time: int) -> Series:
    """Out of no-data on a point: a no-data that fired resolves."""
    return replace(s, state=RESOLVED if fires(rule, NO_DATA) else INACTIVE, since=time)


def _silent(rule: Rule, s: Series, at: int, out: list[Transition]) -> Series:
    """No point for no_data.after: no-data, announced whatever was (flapping too)."""
    s = replace(s, state=NO_DATA, since=at, first_seen=None, flaps=0, evaluations=0)
    return _announce(rule, s, NO_DATA, at, out)


def _conclude(rule: Rule, before: str, s: Series, time: int, out: list[Transition]) -> Series:
    """Count the evaluation for flap detection, then announce what changed."""
    flapping = rule.flapping
    if not isinstance(flapping, Flapping):
        return _announce(rule, s, s.state, time, out) if s.announced != s.state else s
    changed = fires(rule, before) != fires(rule, s.state)
    history = flapping.history
    flaps = ((s.flaps << 1) | int(changed)) & ((1 << history) - 1)
    evaluations = min(history, s.evaluations + 1)
    if flaps != s.flaps or evaluations != s.evaluations:
        s = replace(s, flaps=flaps, evaluations=evaluations)
    share = s.flaps.bit_count() / history if s.evaluations >= history else None
    if s.announced == FLAPPING:
        if share is None or share < flapping.low:
            return _announce(rule, s, s.state, time, out)
        return s  # suppressed: the changes under a flapping alert are not announced
    if share is not None and share >= flapping.high:
        return _announce(rule, s, FLAPPING, time, out)
    return _announce(rule, s, s.state, time, out) if s.announced != s.state else s


def _announce(rule: Rule, s: Series, state: str, time: int, out: list[Transition]) -> Series:
    firing = fires(rule, state)
    transition = _transition(s, state, firing, time)
    out.append(transition)
    return replace(
        s,
        announced=state,
        firing=firing,
        fired_at=transition.fired_at if firing else None,
        sequence=transition.sequence,
    )


def _transition(s: Series, state: str, firing: bool, time: int) -> Transition:
    if s.firing:  # the alert that fired goes on, or ends now
        fired_at: int | None = s.fired_at if s.fired_at is not None else time
    else:
        fired_at = time if firing else None
    return Transition(state, s.announced, time, firing, s.value, fired_at, s.sequence + 1)
