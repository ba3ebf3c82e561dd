"""The dashboards without a Grafana server: read and check them, expand their
queries as Grafana does, run them on InfluxDB, render snapshots."""
