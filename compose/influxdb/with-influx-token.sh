#!/bin/sh
# The entry point of the archiver and Grafana, ahead of their own: exports
# ENGINEWATCH_INFLUX_TOKEN, read from the file INFLUX_TOKEN_FILE names, and
# runs the command it is given. The file is on a volume InfluxDB's first start
# wrote (init-tokens.sh): the token is in no image, compose file or .env.
set -eu

file=${INFLUX_TOKEN_FILE:?INFLUX_TOKEN_FILE must name the InfluxDB token file}
if [ ! -s "$file" ]; then
  echo "with-influx-token.sh: no token in $file; InfluxDB's first start writes it (compose/README.md, InfluxDB tokens)" >&2
  exit 1
fi
ENGINEWATCH_INFLUX_TOKEN=$(cat "$file")
export ENGINEWATCH_INFLUX_TOKEN
exec "$@"
