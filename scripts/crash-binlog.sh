#!/usr/bin/env bash
# Crash loops for the binlog source, longer than CI runs them:
#   scripts/crash-binlog.sh [--rounds N]
# 1. N rounds of the kill -9 test on MariaDB and MySQL (each: 3 kills while
#    writers run; topic and sink table checked for exactly-once).
# 2. The service-restart test: MariaDB restarted, then the Kafka broker, while
#    a writer runs (restarts the shared services, so run nothing else meanwhile).
# 3. MySQL's older binlogs purged past a stored GTID set: error under `initial`,
#    re-snapshot under `when_needed`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "usage: $0 [--rounds N]" >&2; exit 2 ;;
  esac
done
bash scripts/services.sh up >/dev/null
cargo build --tests --quiet
for ((i = 1; i <= rounds; i++)); do
  echo "== kill -9 round $i/$rounds"
  cargo test --quiet --test main -- binlog_crash --test-threads=2
done
echo "== MariaDB and Kafka restarts"
cargo test --quiet --test main -- --ignored survives_a_mariadb_restart_and_a_kafka_restart --test-threads=1
echo "== MySQL: gtid_purged past a stored GTID set (purges MySQL's older binlogs)"
cargo test --quiet --test main -- --ignored mysql_gtid_purged_past_the_stored_set --test-threads=1
bash scripts/services.sh up >/dev/null
echo "crash-binlog: all rounds passed"
