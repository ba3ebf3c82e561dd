"""Benchmarks of enginewatch against the local Kafka and InfluxDB: `python -m benchmarks`.

Every figure is measured from outside the processes it concerns (their output
topic, their consumer group, InfluxDB), several times, and reported as the
median; ratios are taken between runs made side by side in one invocation.
"""
