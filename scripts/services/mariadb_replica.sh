# shellcheck shell=bash
# Sourced by scripts/services.sh: MariaDB GTID replication for the failover tests.
#
#   replica   127.0.0.1:3308  a GTID replica of the shared MariaDB on 3306 (design.md §6): its
#             own mariadbd, datadir/socket under $SLUICE_SERVICES_DIR/mariadb-replica, server_id=3,
#             log_bin + log_slave_updates + gtid_strict_mode, binlog ROW / FULL image / FULL
#             metadata (like the primary), read_only, root with an EMPTY password over TCP.
#             Seeded from a consistent `mariadb-dump --single-transaction --master-data --gtid`
#             of 3306 (no lock: MariaDB's dump reads the binlog position of its snapshot), then
#             `CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos`. `up` re-seeds it from scratch
#             when its replication threads stopped on an error (a purged binlog, a diverged row).
#   pair      `services.sh mariadb-pair DIR PORT1 PORT2`: a private primary (server_id 101) and
#             its GTID replica (server_id 102), both fresh, in DIR/primary and DIR/replica, for
#             tests that kill a primary and promote its replica (the shared 3306 is never
#             stopped). `services.sh mariadb-pair-stop DIR` stops both (pid files in DIR).
#
# Every instance runs as OS root (`--user=root`, TEST-ONLY) from Debian's /usr/sbin/mariadbd with
# `--no-defaults`, so nothing of /etc/mysql applies to it.

REPLICA_DIR="$SERVICES_DIR/mariadb-replica"
REPLICA_PORT=3308
REPLICA_SERVER_ID=3
# The primary's binlog settings (scripts/services.sh mariadb_config), repeated for every instance.
MARIADB_BINLOG_ARGS=(--log-bin=mysql-bin --binlog-format=ROW --binlog-row-image=FULL
  --binlog-row-metadata=FULL --log-slave-updates=ON --gtid-strict-mode=ON
  --binlog-expire-logs-seconds=604800 --max-allowed-packet=64M --local-infile=1)

# instance_sock DIR / instance_pid DIR: where an instance in DIR keeps its socket and pid.
instance_sock() { echo "$1/mysqld.sock"; }

# instance_sql DIR ARGS... : SQL client as root over the instance's socket.
instance_sql() {
  local dir=$1
  shift
  mariadb --no-defaults --protocol=SOCKET -S "$(instance_sock "$dir")" -uroot --connect-timeout=3 "$@"
}

instance_alive() {
  mariadb-admin --no-defaults --protocol=SOCKET -S "$(instance_sock "$1")" -uroot --connect-timeout=2 ping \
    >/dev/null 2>&1 </dev/null
}

# instance_pid DIR : the pid of the mariadbd running on DIR/data, if any.
instance_pid() {
  local dir=$1 pid
  [[ -f "$dir/mysqld.pid" ]] || return 1
  pid="$(cat "$dir/mysqld.pid" 2>/dev/null)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--datadir=$dir/data " || return 1
  echo "$pid"
}

# instance_start DIR PORT SERVER_ID [EXTRA_ARGS...] : initialise DIR/data when empty, start
# mariadbd on 127.0.0.1:PORT and wait until it answers. Root has an empty password over TCP.
instance_start() {
  local dir=$1 port=$2 server_id=$3
  shift 3
  mkdir -p "$dir"
  if [[ ! -d "$dir/data/mysql" ]]; then
    rm -rf "$dir/data"
    mariadb-install-db --no-defaults --user=root --datadir="$dir/data" --skip-test-db \
      --auth-root-authentication-method=normal --innodb-log-file-size=16M \
      </dev/null >"$dir/install.log" 2>&1 9>&- \
      || { tail -n 20 "$dir/install.log" >&2; die "mariadb-install-db into $dir/data failed"; }
  fi
  port_open "$port" && die "127.0.0.1:$port is taken by another process"
  echo "=== $(date -Is) start" >>"$dir/mariadbd.out"
  nohup setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$dir/data" \
    --socket="$(instance_sock "$dir")" --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
    --port="$port" --bind-address=127.0.0.1 --skip-name-resolve --server-id="$server_id" \
    --innodb-buffer-pool-size=64M --innodb-log-file-size=16M --performance-schema=OFF \
    "${MARIADB_BINLOG_ARGS[@]}" "$@" </dev/null >>"$dir/mariadbd.out" 2>&1 9>&- &
  local pid=$! deadline=$((SECONDS + START_TIMEOUT))
  until instance_alive "$dir"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$dir/error.log" >&2 || true
      die "mariadbd on port $port exited during startup (see $dir/error.log)"
    fi
    ((SECONDS < deadline)) || die "mariadbd on port $port not ready in ${START_TIMEOUT}s"
    sleep 0.3
  done
}

# instance_stop DIR : shut the instance down (SIGTERM: a clean shutdown), waiting up to 60 s.
instance_stop() {
  local pid
  pid="$(instance_pid "$1")" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || { kill -KILL "$pid" 2>/dev/null || true; sleep 1; break; }
    sleep 0.3
  done
}

# replicate_from DIR PRIMARY_PORT : point the instance at 127.0.0.1:PRIMARY_PORT by GTID and start.
replicate_from() {
  instance_sql "$1" -e "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$2,
      MASTER_USER='root', MASTER_PASSWORD='', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos;
      START SLAVE;" </dev/null
}

# slave_state DIR : "IO|SQL|Last_IO_Errno|Last_SQL_Errno" of the instance's replication threads.
slave_state() {
  instance_sql "$1" -e 'SHOW SLAVE STATUS\G' </dev/null 2>/dev/null | awk -F': ' '
    $1 ~ /Slave_IO_Running$/ {io=$2} $1 ~ /Slave_SQL_Running$/ {sql=$2}
    $1 ~ /Last_IO_Errno$/ {ioe=$2} $1 ~ /Last_SQL_Errno$/ {sqle=$2}
    END {print io "|" sql "|" ioe "|" sqle}'
}

# ----------------------------------------------------------------------------- replica of 3306

replica_args() {
  REPLICA_ARGS=(--read-only=ON --slave-net-timeout=10)
}

# The replica answers over TCP as root/no password, with the binlog settings of the primary,
# and both replication threads run without errors.
replica_ok() {
  local v
  v="$(mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$REPLICA_PORT" -uroot --connect-timeout=3 \
    -N -B -e "SELECT CONCAT_WS('|', @@log_bin, @@binlog_format, @@binlog_row_metadata, @@server_id,
      @@gtid_strict_mode, @@log_slave_updates)" </dev/null 2>/dev/null)" || return 1
  [[ "$v" == "ON|ROW|FULL|$REPLICA_SERVER_ID|ON|ON" ]] || return 1
  [[ "$(slave_state "$REPLICA_DIR")" == "Yes|Yes|0|0" ]]
}

# replica_seed : a fresh datadir loaded with a consistent dump of 3306, replicating from its GTID.
replica_seed() {
  log "mariadb-replica: seeding 127.0.0.1:$REPLICA_PORT from a dump of 3306"
  instance_stop "$REPLICA_DIR"
  rm -rf "$REPLICA_DIR/data"
  replica_args
  instance_start "$REPLICA_DIR" "$REPLICA_PORT" "$REPLICA_SERVER_ID" "${REPLICA_ARGS[@]}" --skip-slave-start
  local dump="$REPLICA_DIR/seed.sql" gtid
  # --single-transaction + --master-data: MariaDB takes the snapshot's binlog position
  # without a global read lock. gtid_slave_pos is set below, not by the dump.
  mariadb-dump --no-defaults --protocol=TCP -h127.0.0.1 -P3306 -uroot --all-databases \
    --single-transaction --master-data=2 --gtid --routines --events --triggers \
    --ignore-table=mysql.gtid_slave_pos </dev/null >"$dump" 2>"$REPLICA_DIR/dump.log" \
    || { tail -n 20 "$REPLICA_DIR/dump.log" >&2; die "mariadb-replica: dumping 3306 failed"; }
  # The dump names the snapshot's GTID position in a comment at its end.
  # (empty when 3306 has written no GTID yet: the replica then starts from its first binlog).
  tail -c 4096 "$dump" | grep -q "gtid_slave_pos=" \
    || die "mariadb-replica: the dump of 3306 names no GTID position"
  gtid="$(tail -c 4096 "$dump" | sed -n "s/.*gtid_slave_pos='\([^']*\)'.*/\1/p" | head -n 1)"
  instance_sql "$REPLICA_DIR" <"$dump" >"$REPLICA_DIR/load.log" 2>&1 \
    || { tail -n 20 "$REPLICA_DIR/load.log" >&2; die "mariadb-replica: loading the dump failed"; }
  rm -f "$dump"
  instance_sql "$REPLICA_DIR" -e "FLUSH PRIVILEGES; RESET MASTER; SET GLOBAL gtid_slave_pos = '$gtid';" </dev/null \
    || die "mariadb-replica: setting gtid_slave_pos failed"
  replicate_from "$REPLICA_DIR" 3306 || die "mariadb-replica: CHANGE MASTER TO failed"
  echo "$gtid" >"$REPLICA_DIR/seeded-at"
}

replica_up() {
  mkdir -p "$REPLICA_DIR"
  replica_args
  local want have=""
  want="$(printf '%s\n' "${MARIADB_BINLOG_ARGS[@]}" "${REPLICA_ARGS[@]}")"
  [[ -f "$REPLICA_DIR/args" ]] && have="$(cat "$REPLICA_DIR/args")"
  if [[ "$want" == "$have" ]] && replica_ok; then
    echo "replica:  up (already running) 127.0.0.1:$REPLICA_PORT GTID replica of 3306, root/no password"
    return 0
  fi
  if [[ "$want" != "$have" ]]; then
    instance_stop "$REPLICA_DIR"
  fi
  if ! instance_pid "$REPLICA_DIR" >/dev/null && [[ -d "$REPLICA_DIR/data/mysql" ]]; then
    instance_start "$REPLICA_DIR" "$REPLICA_PORT" "$REPLICA_SERVER_ID" "${REPLICA_ARGS[@]}"
  fi
  # Give a restarted replica a moment to reconnect and apply what it missed.
  local deadline=$((SECONDS + 20))
  while [[ -d "$REPLICA_DIR/data/mysql" ]] && ! replica_ok && ((SECONDS < deadline)); do
    sleep 1
  done
  if ! replica_ok; then
    [[ -d "$REPLICA_DIR/data/mysql" ]] \
      && log "mariadb-replica: not replicating ($(slave_state "$REPLICA_DIR")); seeding it again"
    replica_seed
  fi
  printf '%s\n' "${MARIADB_BINLOG_ARGS[@]}" "${REPLICA_ARGS[@]}" >"$REPLICA_DIR/args"
  deadline=$((SECONDS + START_TIMEOUT))
  until replica_ok; do
    ((SECONDS < deadline)) || die "mariadb-replica: not replicating after seeding: $(slave_state "$REPLICA_DIR") (see $REPLICA_DIR/error.log)"
    sleep 0.5
  done
  echo "replica:  up 127.0.0.1:$REPLICA_PORT GTID replica of 3306 (server_id $REPLICA_SERVER_ID), root/no password"
}

replica_stop() {
  instance_stop "$REPLICA_DIR"
}

replica_status() {
  if replica_ok; then
    local gtid
    gtid="$(instance_sql "$REPLICA_DIR" -N -B -e 'SELECT @@gtid_slave_pos' </dev/null 2>/dev/null || true)"
    echo "replica:  up   127.0.0.1:$REPLICA_PORT (replicating 3306, gtid_slave_pos=${gtid:-none})"
    return 0
  fi
  echo "replica:  down"
  return 1
}

# ----------------------------------------------------------------------------- private pairs

# mariadb_pair DIR PORT1 PORT2 : a fresh primary on PORT1 and its GTID replica on PORT2.
mariadb_pair() {
  local dir=$1 p1=$2 p2=$3
  [[ "$p1" =~ ^[0-9]+$ && "$p2" =~ ^[0-9]+$ ]] || die "mariadb-pair: ports must be numbers"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  instance_start "$dir/primary" "$p1" 101
  instance_start "$dir/replica" "$p2" 102
  # Both start empty with the same users: the replica applies the primary's whole binlog.
  instance_sql "$dir/replica" -e "SET GLOBAL gtid_slave_pos = ''" </dev/null
  replicate_from "$dir/replica" "$p1" || die "mariadb-pair: CHANGE MASTER TO failed"
  local deadline=$((SECONDS + START_TIMEOUT))
  until [[ "$(slave_state "$dir/replica")" == "Yes|Yes|0|0" ]]; do
    ((SECONDS < deadline)) || die "mariadb-pair: the replica does not replicate: $(slave_state "$dir/replica")"
    sleep 0.3
  done
  echo "mariadb-pair: primary 127.0.0.1:$p1 (pid $(instance_pid "$dir/primary")), replica 127.0.0.1:$p2 (pid $(instance_pid "$dir/replica"))"
}

mariadb_pair_stop() {
  local dir=$1
  instance_stop "$dir/primary"
  instance_stop "$dir/replica"
}
