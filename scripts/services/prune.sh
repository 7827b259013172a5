# shellcheck shell=bash
# Sourced by scripts/services.sh: `services.sh prune [MINUTES]` drops what earlier test runs
# left on the test servers, so that the disk does not fill up run after run.
#
# Every integration test creates its own database named `<prefix>_<12 hex digits>` (unit tests:
# `sluice_t_<16 hex digits>`) and never drops it. `prune` drops such databases once they are
# older than MINUTES (default 60), so a test run going on at the same time keeps its own, and
# purges MariaDB/MySQL binlogs older than that. Databases with other names are never touched.
# Kafka's leftover topics are dropped by `up` when it starts a stopped broker (see
# kafka_prune_scratch); their segments also expire after log.retention.hours.

PRUNE_NAME_RE='^([a-z0-9_]+_[0-9a-f]{12}|sluice_t_[0-9a-f]{16})$'

# prune_mysql_family LABEL CLIENT DATADIR MINUTES: drop old test databases, purge old binlogs.
prune_mysql_family() {
  local label="$1" client="$2" datadir="$3" minutes="$4"
  local names db sql="" n=0 total=0
  names="$("$client" -N -s -e "SELECT schema_name FROM information_schema.schemata")" \
    || die "prune: cannot list databases on $label"
  while IFS= read -r db; do
    [[ "$db" =~ $PRUNE_NAME_RE ]] || continue
    # The database directory's mtime moves when a table is created or dropped in it.
    [[ -n "$(find "$datadir/$db" -maxdepth 0 -mmin "+$minutes" 2>/dev/null)" ]] || continue
    sql+="DROP DATABASE IF EXISTS \`$db\`;"
    n=$((n + 1))
    if ((n == 200)); then
      "$client" -e "$sql" || die "prune: dropping databases on $label failed"
      total=$((total + n)) sql="" n=0
    fi
  done <<<"$names"
  if ((n > 0)); then
    "$client" -e "$sql" || die "prune: dropping databases on $label failed"
    total=$((total + n))
  fi
  "$client" -e "PURGE BINARY LOGS BEFORE NOW() - INTERVAL $minutes MINUTE" \
    || die "prune: purging binlogs on $label failed"
  echo "$label: dropped $total test databases older than $minutes min; purged binlogs older than that"
}

prune_postgres() {
  local minutes="$1" names db total=0
  # PG_VERSION is written once, when the database is created.
  names="$(pg_psql -At -c "SELECT datname FROM pg_database
      WHERE datname ~ '$PRUNE_NAME_RE'
        AND (pg_stat_file('base/' || oid || '/PG_VERSION')).modification
            < now() - interval '$minutes minutes'")" || die "prune: cannot list databases on postgres"
  local args=()
  while IFS= read -r db; do
    [[ -n "$db" ]] || continue
    # Each -c runs on its own: DROP DATABASE may not run inside a transaction block.
    args+=(-c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)")
    total=$((total + 1))
    if ((${#args[@]} >= 400)); then
      pg_psql -q "${args[@]}" || die "prune: dropping databases on postgres failed"
      args=()
    fi
  done <<<"$names"
  if ((${#args[@]} > 0)); then
    pg_psql -q "${args[@]}" || die "prune: dropping databases on postgres failed"
  fi
  echo "postgres: dropped $total test databases older than $minutes min"
}

services_prune() {
  local minutes="${1:-60}"
  [[ "$minutes" =~ ^[0-9]+$ ]] || die "prune: MINUTES must be a whole number, got '$minutes'"
  mariadb_ok || die "prune: mariadb is not up (run: bash scripts/services.sh up)"
  prune_mysql_family mariadb mariadb_tcp /var/lib/mysql "$minutes"
  # The replica on 3308 drops what 3306 drops (replicated); only its own binlogs are purged.
  if replica_ok; then
    instance_sql "$REPLICA_DIR" -e "PURGE BINARY LOGS BEFORE NOW() - INTERVAL $minutes MINUTE" </dev/null \
      || die "prune: purging binlogs on the replica failed"
    echo "replica: purged binlogs older than $minutes min"
  fi
  mysql_ok || die "prune: mysql is not up (run: bash scripts/services.sh up)"
  prune_mysql_family mysql mysql_tcp "$MYSQL_DATA" "$minutes"
  pg_ok || die "prune: postgres is not up (run: bash scripts/services.sh up)"
  prune_postgres "$minutes"
}
