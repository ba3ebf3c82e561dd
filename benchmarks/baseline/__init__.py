"""BASELINE, for comparison only, never used by enginewatch.

An engine-notifications-to-InfluxDB pipeline written the way the FastScore
"Monitor a Workflow with Grafana" tutorial does it: a monitoring model matches
each sensor report's tap against regular expressions and emits one
{name, value} record per metric; an archiver turns each record into a point
dict stamped with the wall-clock time and writes them ten at a time through an
InfluxDB 1.x client. It is the yardstick `python -m benchmarks` measures
enginewatch against, on the same recording.
"""
