#!/bin/sh
# Runs once, right after the image's own first-start setup of InfluxDB 2.x
# (DOCKER_INFLUXDB_INIT_MODE=setup), with the influx CLI already logged in.
#
# InfluxQL (Grafana's enginewatch datasource, `enginewatch snapshot`) addresses
# a database and retention policy, not a bucket: this maps the database named
# like the bucket, retention policy autogen, onto the bucket.
set -eu

influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${DOCKER_INFLUXDB_INIT_BUCKET}" \
  --rp autogen \
  --default
