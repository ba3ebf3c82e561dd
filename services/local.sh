#!/usr/bin/env bash
# Local Apache Kafka (KRaft) and InfluxDB 1.x for development and tests.
#
#   services/local.sh up            start both in the background (a no-op when running)
#   services/local.sh down          stop both
#   services/local.sh status        say what runs
#   services/local.sh alertmanager  build Alertmanager when missing; print its path
#   services/local.sh influxdb18    build InfluxDB 1.8.10 when missing; print its influxd
#   services/local.sh influxdb27    build InfluxDB 2.7.12 when missing; print its influxd
#   services/local.sh telegraf      build Telegraf 1.37.2 when missing; print its path
#   services/local.sh prefetch      start building the test-only servers in the background
#
# Data and logs live under $RUN_DIR (default: .run/ in the repo). Kafka's jars
# come from Maven Central into $KAFKA_CACHE (outside the repo); InfluxDB is
# Debian's influxdb package, installed when missing and run as a plain process.
# Alertmanager (for the alert delivery tests, which run their own on free
# ports) is built once from its Go module into $ALERTMANAGER_CACHE (outside the
# repo). InfluxDB 1.8.10 (both write APIs and authentication as 1.8 has them,
# for the security tests' private servers) and Telegraf 1.37.2 (the benchmark's
# comparison) are built the same way into $INFLUX18_CACHE and $TELEGRAF_CACHE,
# and MLflow installed by services/mlflow.sh: `prefetch` (which `make test`
# runs first) starts all four in the background; `up` leaves them be, so
# `make demo` on a fresh machine shares its two cores with no build.
# InfluxDB 2.7.12 (`make test-influx27`'s tests run their own) takes about 6.5
# minutes to build the first time, so only what needs it builds it, into
# $INFLUX27_CACHE.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
RUN_DIR=${RUN_DIR:-$root/.run}
KAFKA_CACHE=${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/kafka-3.9.1}
ALERTMANAGER_VERSION=0.35.0
ALERTMANAGER_CACHE=${ALERTMANAGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/alertmanager-$ALERTMANAGER_VERSION}
INFLUX18_VERSION=1.8.10
INFLUX18_CACHE=${INFLUX18_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/influxdb-$INFLUX18_VERSION}
INFLUX27_VERSION=2.7.12
INFLUX27_CACHE=${INFLUX27_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/influxdb-$INFLUX27_VERSION}
# The pkg-config that InfluxDB 2.x's Makefile uses: it builds Flux's Rust library.
INFLUX_PKG_CONFIG_VERSION=0.2.14
TELEGRAF_VERSION=1.37.2
TELEGRAF_CACHE=${TELEGRAF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/telegraf-$TELEGRAF_VERSION}
# Only the plugins the deployment's Telegraf uses: the full set takes far longer to build.
TELEGRAF_TAGS="custom,inputs.kafka_consumer,parsers.json_v2,outputs.influxdb,outputs.influxdb_v2"
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
# machine); one build at a time, as for Alertmanager. The version is stamped in
# as release builds have it: /ping's X-Influxdb-Version then says 1.8.10, which
# the archiver's `auto` API detection reads (unstamped, it says "unknown").
influx18_built() {
  [ -x "$INFLUX18_CACHE/influxd" ] &&
    "$INFLUX18_CACHE/influxd" version 2>/dev/null | grep -q "^InfluxDB v$INFLUX18_VERSION "
}

influx18_build() {
  local binary="$INFLUX18_CACHE/influxd"
  if influx18_built; then return 0; fi
  if ! command -v go >/dev/null; then
    log "building InfluxDB $INFLUX18_VERSION needs Go (https://go.dev/dl/)"
    return 1
  fi
  mkdir -p "$INFLUX18_CACHE" || return 1
  exec 8>"$INFLUX18_CACHE/.build-lock" && flock 8 || return 1
  if influx18_built; then return 0; fi
  log "building InfluxDB $INFLUX18_VERSION from its Go module into $INFLUX18_CACHE"
  if ! (cd / && GOBIN="$INFLUX18_CACHE/bin" GOFLAGS=-buildvcs=false \
    go install -trimpath -ldflags "-X main.version=$INFLUX18_VERSION" \
      "github.com/influxdata/influxdb/cmd/influxd@v$INFLUX18_VERSION") ||
    ! mv "$INFLUX18_CACHE/bin/influxd" "$binary"; then
    log "building InfluxDB $INFLUX18_VERSION failed"
    return 1
  fi
  log "InfluxDB $INFLUX18_VERSION built: $binary"
}

# InfluxDB 2.x cannot be built by `go install` (its go.mod has a replace
# directive) and links Flux's Rust library, which influxdata's pkg-config builds
# with cargo on the way: so the module is downloaded and copied somewhere
# writable, and built there (about 6.5 minutes on a fresh machine, mostly
# Rust). Its go.mod's `toolchain` line would have Go fetch an older Go; it is
# dropped so that the Go at hand builds. Flux's Rust code pins a toolchain
# (stable instead) and denies warnings that newer rustc raises: a rustc wrapper
# caps lints at warn, as RUSTFLAGS does not reach its build script. The web UI
# is left out (the build's default without the `assets` tag): the tests use the
# API only. The version is stamped in as for 1.8 (/ping then says v2.7.12, not
# "dev"). One build at a time, as for Alertmanager.
influx27_built() {
  [ -x "$INFLUX27_CACHE/influxd" ] &&
    "$INFLUX27_CACHE/influxd" version 2>/dev/null | grep -q "^InfluxDB v$INFLUX27_VERSION "
}

influx27_build() {
  local binary="$INFLUX27_CACHE/influxd" tools="$INFLUX27_CACHE/tools" module src tool
  if influx27_built; then return 0; fi
  for tool in go cargo rustup pkg-config; do
    if ! command -v "$tool" >/dev/null; then
      log "building InfluxDB $INFLUX27_VERSION needs Go 1.23+, Rust (rustup, cargo) and pkg-config; no $tool"
      return 1
    fi
  done
  mkdir -p "$INFLUX27_CACHE" || return 1
  exec 7>"$INFLUX27_CACHE/.build-lock" && flock 7 || return 1
  if influx27_built; then return 0; fi
  log "building InfluxDB $INFLUX27_VERSION from its Go module into $INFLUX27_CACHE (several minutes)"
  if ! (cd / && GOBIN="$tools" GOFLAGS=-buildvcs=false \
    go install "github.com/influxdata/pkg-config@v$INFLUX_PKG_CONFIG_VERSION") >/dev/null; then
    log "building influxdata's pkg-config $INFLUX_PKG_CONFIG_VERSION failed"
    return 1
  fi
  if ! printf '#!/bin/sh\n# Flux denies warnings; newer rustc raises some: they stay warnings.\nexec "$@" --cap-lints warn\n' \
    >"$tools/rustc-cap-lints" || ! chmod +x "$tools/rustc-cap-lints"; then
    log "cannot write $tools/rustc-cap-lints"
    return 1
  fi
  module=$(cd / && go mod download -json "github.com/influxdata/influxdb/v2@v$INFLUX27_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') || module=""
  if [ -z "$module" ] || [ ! -f "$module/go.mod" ]; then
    log "go mod download gave no InfluxDB $INFLUX27_VERSION module"
    return 1
  fi
  src=$(mktemp -d "$INFLUX27_CACHE/src.XXXXXX") || return 1
  if ! { cp -R "$module/." "$src/" && chmod -R u+w "$src" && sed -i '/^toolchain /d' "$src/go.mod" &&
    (cd "$src" && PKG_CONFIG="$tools/pkg-config" RUSTUP_TOOLCHAIN=stable \
      RUSTC_WRAPPER="$tools/rustc-cap-lints" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
      go build -trimpath -ldflags "-X main.version=v$INFLUX27_VERSION" -o influxd \
      ./cmd/influxd) >"$INFLUX27_CACHE/build.log" 2>&1 &&
    mv "$src/influxd" "$binary"; }; then
    rm -rf "$src"
    log "building InfluxDB $INFLUX27_VERSION failed; see $INFLUX27_CACHE/build.log"
    return 1
  fi
  rm -rf "$src"
  log "InfluxDB $INFLUX27_VERSION built: $binary"
}

# Telegraf's module builds with `go install` (about 2 minutes on a fresh
# machine), with only the plugins named in $TELEGRAF_TAGS; its version stamped
# in as for InfluxDB (unstamped, it calls itself "unknown", in its User-Agent too).
telegraf_built() {
  [ -x "$TELEGRAF_CACHE/telegraf" ] &&
    "$TELEGRAF_CACHE/telegraf" --version 2>/dev/null | grep -q "^Telegraf $TELEGRAF_VERSION"
}

telegraf_build() {
  local binary="$TELEGRAF_CACHE/telegraf"
  if telegraf_built; then return 0; fi
  if ! command -v go >/dev/null; then
    log "building Telegraf $TELEGRAF_VERSION needs Go 1.25.5 or later (https://go.dev/dl/)"
    return 1
  fi
  mkdir -p "$TELEGRAF_CACHE" || return 1
  exec 6>"$TELEGRAF_CACHE/.build-lock" && flock 6 || return 1
  if telegraf_built; then return 0; fi
  log "building Telegraf $TELEGRAF_VERSION from its Go module into $TELEGRAF_CACHE"
  if ! (cd / && GOBIN="$TELEGRAF_CACHE/bin" GOFLAGS=-buildvcs=false \
    go install -trimpath -tags "$TELEGRAF_TAGS" \
      -ldflags "-X github.com/influxdata/telegraf/internal.Version=$TELEGRAF_VERSION" \
      "github.com/influxdata/telegraf/cmd/telegraf@v$TELEGRAF_VERSION") ||
    ! mv "$TELEGRAF_CACHE/bin/telegraf" "$binary"; then
    log "building Telegraf $TELEGRAF_VERSION failed"
    return 1
  fi
  log "Telegraf $TELEGRAF_VERSION built: $binary"
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
  if influx18_built; then echo "influxdb $INFLUX18_VERSION: built ($INFLUX18_CACHE)"
  else echo "influxdb $INFLUX18_VERSION: not built"; fi
  if influx27_built; then echo "influxdb $INFLUX27_VERSION: built ($INFLUX27_CACHE)"
  else echo "influxdb $INFLUX27_VERSION: not built"; fi
  if telegraf_built; then echo "telegraf $TELEGRAF_VERSION: built ($TELEGRAF_CACHE)"
  else echo "telegraf $TELEGRAF_VERSION: not built"; fi
}

# The servers only tests run privately (Alertmanager, InfluxDB 1.8.10,
# Telegraf, MLflow), built or installed in the background, detached: `prefetch`
# returns at once, and a test that needs one waits on its build's lock. A build
# that fails here is tried again by the test that needs it, which then says why.
prefetch() {
  mkdir -p "$RUN_DIR/builds"
  local name
  for name in alertmanager influxdb18 telegraf mlflow; do
    local command=("$0" "$name")
    [ "$name" = mlflow ] && command=("$here/mlflow.sh")
    nohup setsid "${command[@]}" >"$RUN_DIR/builds/$name.log" 2>&1 </dev/null &
  done
  log "building the test-only servers in the background; logs in $RUN_DIR/builds/"
}

up() {
  kafka_up & k=$!
  influx_up
  wait $k
}

case "${1:-}" in
  up) up ;;
  down) stop kafka; stop influxdb ;;
  status) status ;;
  alertmanager) alertmanager_build && echo "$ALERTMANAGER_CACHE/alertmanager" ;;
  influxdb18) influx18_build && echo "$INFLUX18_CACHE/influxd" ;;
  influxdb27) influx27_build && echo "$INFLUX27_CACHE/influxd" ;;
  telegraf) telegraf_build && echo "$TELEGRAF_CACHE/telegraf" ;;
  prefetch) prefetch ;;
  *) echo "usage: $0 up|down|status|prefetch|alertmanager|influxdb18|influxdb27|telegraf" >&2; exit 2 ;;
esac
