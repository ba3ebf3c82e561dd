#!/usr/bin/env bash
# Local Apache Kafka (KRaft) and InfluxDB 1.x for development and tests.
#
#   services/local.sh up            start both in the background (a no-op when running)
#   services/local.sh down          stop both
#   services/local.sh status        say what runs
#   services/local.sh alertmanager  build Alertmanager when missing; print its path
#   services/local.sh influxdb18    build InfluxDB 1.8.10 when missing; print its influxd
#
# Data and logs live under $RUN_DIR (default: .run/ in the repo). Kafka's jars
# come from Maven Central into $KAFKA_CACHE (outside the repo); InfluxDB is
# Debian's influxdb package, installed when missing and run as a plain process.
# Alertmanager (for the alert delivery tests, which run their own on free
# ports) is built once from its Go module into $ALERTMANAGER_CACHE (outside the
# repo); `up` builds it beside starting the others, and does not fail without it.
# InfluxDB 1.8.10 (both write APIs and authentication as 1.8 has them, for the
# security tests' private servers) is built the same way into $INFLUX18_CACHE.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
RUN_DIR=${RUN_DIR:-$root/.run}
KAFKA_CACHE=${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/kafka-3.9.1}
ALERTMANAGER_VERSION=0.35.0
ALERTMANAGER_CACHE=${ALERTMANAGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/alertmanager-$ALERTMANAGER_VERSION}
INFLUX18_VERSION=1.8.10
INFLUX18_CACHE=${INFLUX18_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/influxdb-$INFLUX18_VERSION}
KAFKA_PORT=9092
INFLUX_PORT=8086

log() { printf 'services: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      log "$name did not come up within ${seconds}s; see $RUN_DIR/$name/"
      return 1
    fi
    sleep 0.5
  done
}

render() { # template, destination
  sed "s|@RUN@|$RUN_DIR|g" "$1" >"$2"
}

kafka_jars() {
  if [ ! -f "$KAFKA_CACHE/.complete" ]; then
    log "fetching Kafka's jars from Maven Central into $KAFKA_CACHE"
    rm -rf "$KAFKA_CACHE" && mkdir -p "$KAFKA_CACHE"
    mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_CACHE/lib"
    touch "$KAFKA_CACHE/.complete"
  fi
}

# Alertmanager's Go module lacks the web UI's built assets, which the binary
# embeds, so `go install` fails: the module is downloaded, copied somewhere
# writable, given an empty page for the UI, and built there (seconds with Go's
# build cache warm, a few minutes on a fresh machine). One build at a time:
# `make up`'s and a test's wait for each other.
alertmanager_build() {
  # Each step checked here: `up` calls this after `||`, where `set -e` does not hold.
  local binary="$ALERTMANAGER_CACHE/alertmanager" module src
  if [ -x "$binary" ]; then return 0; fi
  if ! command -v go >/dev/null; then
    log "building Alertmanager needs Go 1.24 or later (https://go.dev/dl/)"
    return 1
  fi
  mkdir -p "$ALERTMANAGER_CACHE" || return 1
  exec 9>"$ALERTMANAGER_CACHE/.build-lock" && flock 9 || return 1
  if [ -x "$binary" ]; then return 0; fi
  log "building Alertmanager $ALERTMANAGER_VERSION from its Go module into $ALERTMANAGER_CACHE"
  module=$(cd / && go mod download -json "github.com/prometheus/alertmanager@v$ALERTMANAGER_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') || module=""
  if [ -z "$module" ] || [ ! -f "$module/go.mod" ]; then
    log "go mod download gave no Alertmanager module"
    return 1
  fi
  src=$(mktemp -d "$ALERTMANAGER_CACHE/src.XXXXXX") || return 1
  if ! { cp -R "$module/." "$src/" && chmod -R u+w "$src" && mkdir -p "$src/ui/app/dist" &&
    printf '<!doctype html><title>Alertmanager</title><p>No web UI in this build: see /api/v2/.\n' \
      >"$src/ui/app/dist/index.html" &&
    (cd "$src" && GOFLAGS=-buildvcs=false go build -trimpath -o alertmanager ./cmd/alertmanager) &&
    mv "$src/alertmanager" "$binary"; }; then
    rm -rf "$src"
    log "building Alertmanager failed"
    return 1
  fi
  rm -rf "$src"
  log "Alertmanager built: $binary"
}

# `go install` builds it straight from its module (about 3 minutes on a fresh
# machine); one build at a time, as for Alertmanager.
influx18_build() {
  local binary="$INFLUX18_CACHE/influxd"
  if [ -x "$binary" ]; then return 0; fi
  if ! command -v go >/dev/null; then
    log "building InfluxDB $INFLUX18_VERSION needs Go (https://go.dev/dl/)"
    return 1
  fi
  mkdir -p "$INFLUX18_CACHE" || return 1
  exec 8>"$INFLUX18_CACHE/.build-lock" && flock 8 || return 1
  if [ -x "$binary" ]; then return 0; fi
  log "building InfluxDB $INFLUX18_VERSION from its Go module into $INFLUX18_CACHE"
  if ! (cd / && GOBIN="$INFLUX18_CACHE/bin" GOFLAGS=-buildvcs=false \
    go install -trimpath "github.com/influxdata/influxdb/cmd/influxd@v$INFLUX18_VERSION") ||
    ! mv "$INFLUX18_CACHE/bin/influxd" "$binary"; then
    log "building InfluxDB $INFLUX18_VERSION failed"
    return 1
  fi
  log "InfluxDB $INFLUX18_VERSION built: $binary"
}

kafka_java=(java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j.configuration="file:$here/kafka/log4j.properties"
  -Dkafka.logs.dir="$RUN_DIR/kafka/logs" -cp "$KAFKA_CACHE/lib/*")

kafka_up() {
  if port_open $KAFKA_PORT; then return 0; fi
  kafka_jars
  mkdir -p "$RUN_DIR/kafka/logs"
  render "$here/kafka/server.properties" "$RUN_DIR/kafka/server.properties"
  if [ ! -f "$RUN_DIR/kafka/data/meta.properties" ]; then
    "${kafka_java[@]}" kafka.tools.StorageTool format --ignore-formatted \
      -t "$("${kafka_java[@]}" kafka.tools.StorageTool random-uuid)" \
      -c "$RUN_DIR/kafka/server.properties" >"$RUN_DIR/kafka/logs/format.log"
  fi
  nohup "${kafka_java[@]}" kafka.Kafka "$RUN_DIR/kafka/server.properties" \
    >"$RUN_DIR/kafka/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/kafka/pid"
  wait_for kafka 90 port_open $KAFKA_PORT
  log "Kafka on 127.0.0.1:$KAFKA_PORT"
}

influx_up() {
  if port_open $INFLUX_PORT; then return 0; fi
  if ! command -v influxd >/dev/null; then
    log "installing Debian's influxdb package"
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    # Debian starts packaged services on install; a policy-rc.d stops that here.
    $sudo sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q influxdb >/dev/null ||
      { $sudo apt-get update -q >/dev/null &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q influxdb >/dev/null; }
  fi
  mkdir -p "$RUN_DIR/influxdb"
  render "$here/influxdb/influxdb.conf" "$RUN_DIR/influxdb/influxdb.conf"
  nohup influxd -config "$RUN_DIR/influxdb/influxdb.conf" \
    >"$RUN_DIR/influxdb/influxd.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/influxdb/pid"
  wait_for influxdb 60 curl -sf -o /dev/null "http://127.0.0.1:$INFLUX_PORT/ping"
  log "InfluxDB on 127.0.0.1:$INFLUX_PORT"
}

stop() { # name
  local pidfile="$RUN_DIR/$1/pid"
  if pid_alive "$pidfile"; then
    local pid deadline=$((SECONDS + 60))
    pid=$(cat "$pidfile")
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then kill -9 "$pid" 2>/dev/null || true; fi
      sleep 0.3
    done
    log "$1 stopped"
  fi
  rm -f "$pidfile"
}

status() {
  for name in kafka influxdb; do
    if pid_alive "$RUN_DIR/$name/pid"; then echo "$name: running (pid $(cat "$RUN_DIR/$name/pid"))"
    else echo "$name: stopped"; fi
  done
  if [ -x "$ALERTMANAGER_CACHE/alertmanager" ]; then echo "alertmanager: built ($ALERTMANAGER_CACHE)"
  else echo "alertmanager: not built"; fi
  if [ -x "$INFLUX18_CACHE/influxd" ]; then echo "influxdb $INFLUX18_VERSION: built ($INFLUX18_CACHE)"
  else echo "influxdb $INFLUX18_VERSION: not built"; fi
}

up() {
  kafka_up & k=$!
  # Not needed to run enginewatch, so it never fails `up`; the tests build it again if it failed.
  (alertmanager_build || log "Alertmanager not built; the alert delivery tests will try again") &
  a=$!
  (influx18_build || log "InfluxDB $INFLUX18_VERSION not built; the security tests will try again") &
  i=$!
  influx_up
  wait $k
  wait $a
  wait $i
}

case "${1:-}" in
  up) up ;;
  down) stop kafka; stop influxdb ;;
  status) status ;;
  alertmanager) alertmanager_build && echo "$ALERTMANAGER_CACHE/alertmanager" ;;
  influxdb18) influx18_build && echo "$INFLUX18_CACHE/influxd" ;;
  *) echo "usage: $0 up|down|status|alertmanager|influxdb18" >&2; exit 2 ;;
esac
