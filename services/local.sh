#!/usr/bin/env bash
# Local Apache Kafka (KRaft) and InfluxDB 1.x for development and tests.
#
#   services/local.sh up      start both in the background (a no-op when running)
#   services/local.sh down    stop both
#   services/local.sh status  say what runs
#
# Data and logs live under $RUN_DIR (default: .run/ in the repo). Kafka's jars
# come from Maven Central into $KAFKA_CACHE (outside the repo); InfluxDB is
# Debian's influxdb package, installed when missing and run as a plain process.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
RUN_DIR=${RUN_DIR:-$root/.run}
KAFKA_CACHE=${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/kafka-3.9.1}
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
}

case "${1:-}" in
  up) kafka_up & k=$!; influx_up; wait $k ;;
  down) stop kafka; stop influxdb ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
