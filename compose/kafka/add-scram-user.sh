#!/bin/bash
# kafka-init's command: gives the SCRAM-SHA-512 user that Kafka's EXTERNAL
# listener (the host port) logs in the password of compose/.env, creating the
# user the first time. Kafka keeps only a salted hash, in its KRaft metadata
# (the kafka-data volume); run again, this replaces the password.
#
# It talks to the broker over the internal PLAINTEXT listener, which only this
# compose network reaches.
set -euo pipefail

: "${BOOTSTRAP_SERVER:?}" "${SCRAM_USERNAME:?}" "${SCRAM_PASSWORD:?}"

# The password reaches kafka-configs in a file, not on its command line, which
# anyone on the host can read in the process list. The file is a Java
# properties file (read as ISO-8859-1: keep the password ASCII), where a
# backslash escapes, so each is doubled; printf is a builtin, no process of its own.
umask 077
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'SCRAM-SHA-512=iterations=8192,password=%s\n' "${SCRAM_PASSWORD//\\/\\\\}" >"$dir/scram.properties"

/opt/kafka/bin/kafka-configs.sh --bootstrap-server "$BOOTSTRAP_SERVER" \
  --alter --entity-type users --entity-name "$SCRAM_USERNAME" \
  --add-config-file "$dir/scram.properties"
