#!/usr/bin/env bash
# MLflow's tracking server, for the archiver's MLflow sink tests (which run
# their own `mlflow server` on a free port, see tests/support/mlflowd.py).
#
#   services/mlflow.sh        install MLflow when missing; print its `mlflow`
#
# MLflow comes from PyPI into its own virtual environment in $MLFLOW_CACHE
# (outside the repo), so its many dependencies never meet enginewatch's. The
# first install takes a minute or two; later calls only check and print.
set -euo pipefail

MLFLOW_VERSION=3.17.2
# `auth`: the basic-auth app (`mlflow server --app-name basic-auth`) the tests use too.
REQUIREMENT="mlflow[auth]==$MLFLOW_VERSION"
MLFLOW_CACHE=${MLFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enginewatch/mlflow-$MLFLOW_VERSION}
PYTHON=${PYTHON:-python3}

log() { printf 'mlflow: %s\n' "$*" >&2; }

# `.complete` names what was installed and is written last, so an install cut
# short (or of other extras) is redone, not trusted. One install at a time:
# parallel tests wait for each other on the lock.
installed() { [ "$(cat "$MLFLOW_CACHE/.complete" 2>/dev/null)" = "$REQUIREMENT" ] && [ -x "$1" ]; }

mlflow_install() {
  local binary="$MLFLOW_CACHE/venv/bin/mlflow" venv="$MLFLOW_CACHE/venv"
  if installed "$binary"; then return 0; fi
  if ! command -v "$PYTHON" >/dev/null; then
    log "installing MLflow needs Python 3 ($PYTHON not found)"
    return 1
  fi
  mkdir -p "$MLFLOW_CACHE" || { log "cannot create $MLFLOW_CACHE"; return 1; }
  exec 9>"$MLFLOW_CACHE/.install-lock" && flock 9 || { log "cannot lock $MLFLOW_CACHE"; return 1; }
  if installed "$binary"; then return 0; fi
  log "installing $REQUIREMENT from PyPI into $MLFLOW_CACHE (a minute or two)"
  rm -rf "$venv" "$MLFLOW_CACHE/.complete"
  if ! "$PYTHON" -m venv "$venv" >"$MLFLOW_CACHE/install.log" 2>&1; then
    log "creating a virtual environment with $PYTHON failed; see $MLFLOW_CACHE/install.log"
    return 1
  fi
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "$REQUIREMENT" >>"$MLFLOW_CACHE/install.log" 2>&1; then
    log "pip install $REQUIREMENT failed; see $MLFLOW_CACHE/install.log"
    return 1
  fi
  if ! "$binary" --version >>"$MLFLOW_CACHE/install.log" 2>&1; then
    log "the installed mlflow does not run; see $MLFLOW_CACHE/install.log"
    return 1
  fi
  echo "$REQUIREMENT" >"$MLFLOW_CACHE/.complete"
  log "MLflow $MLFLOW_VERSION installed: $binary"
}

case "${1:-}" in
  "" | install) mlflow_install && echo "$MLFLOW_CACHE/venv/bin/mlflow" ;;
  *) echo "usage: $0 [install]" >&2; exit 2 ;;
esac
