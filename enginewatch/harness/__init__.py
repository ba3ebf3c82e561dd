"""The local-services harness the demo, the tests and the benchmarks share: worker
processes (`processes`), InfluxDB admin and queries (`influx`), Kafka admin, produce
and read-back (`kafka`). It imports only enginewatch.core."""
