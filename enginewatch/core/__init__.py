"""The ground floor: the archive format, dead letters, settings, the Faust runtime,
the Kafka and InfluxDB clients. It imports nothing above it."""
