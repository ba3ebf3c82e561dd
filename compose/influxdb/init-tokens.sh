#!/bin/sh
# Runs once, at InfluxDB's first start, after init-dbrp.sh, with the influx CLI
# logged in with the operator token. Creates the two tokens the stack uses in
# its place, each allowed one thing on the one bucket and nothing else:
#
#   the archiver's, --write-bucket only: it writes points, reads nothing;
#   Grafana's, --read-bucket only: the dashboards read, write nothing.
#
# InfluxDB 2.7 picks the value of every token it creates (`influx auth create`
# has no flag to choose one), so these cannot come from compose/.env: each is
# written to WRITE_TOKEN_FILE or READ_TOKEN_FILE, on a volume of its own that
# only its service mounts, read-only, and reads at start (with-influx-token.sh).
#
# By hand (`docker compose exec influxdb /docker-entrypoint-initdb.d/init-tokens.sh`,
# e.g. after the token volumes were removed) it creates two new tokens and
# replaces the files; the old tokens stay valid until deleted (compose/README.md).
set -eu

org=$DOCKER_INFLUXDB_INIT_ORG
user=$DOCKER_INFLUXDB_INIT_USERNAME
bucket=$DOCKER_INFLUXDB_INIT_BUCKET
# The first start exports the bucket's ID; by hand, it is looked up.
bucket_id=${DOCKER_INFLUXDB_INIT_BUCKET_ID:-$(influx bucket list --org "$org" --name "$bucket" --hide-headers | cut -f 1)}

# Reads `influx auth create --json` (one field a line) and keeps only the
# token, in FILE: root writes it, the service's own user only reads it.
save_token() { # FILE
  token=$(sed -n 's/^[[:space:]]*"token": "\([^"]*\)",\{0,1\}$/\1/p')
  if [ -z "$token" ]; then
    echo "init-tokens.sh: influx auth create printed no token for $1" >&2
    exit 1
  fi
  printf '%s\n' "$token" >"$1.new"
  chmod 0444 "$1.new"
  mv -f "$1.new" "$1"
}

influx auth create --json --org "$org" --user "$user" \
  --description "enginewatch archiver: write $bucket" \
  --write-bucket "$bucket_id" |
  save_token "$WRITE_TOKEN_FILE"

influx auth create --json --org "$org" --user "$user" \
  --description "enginewatch grafana: read $bucket" \
  --read-bucket "$bucket_id" |
  save_token "$READ_TOKEN_FILE"
