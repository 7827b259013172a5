#!/usr/bin/env bash
# Throughput benchmark of Sluice on this machine's real services, each figure beside a
# baseline measured in the same run.
#
#   scripts/bench.sh poll [--rows N | --quick] [options]
#   scripts/bench.sh binlog [--rows N | --quick] [--flavor mariadb|mysql] [options]
#   scripts/bench.sh debezium [--rows N | --quick] [options]
#   scripts/bench.sh converters [--rows N | --quick] [--flavor mariadb|mysql] [options]
#   scripts/bench.sh snapshot [--rows N | --quick] [--flavor mariadb|mysql] [--writer-rate R] [options]
#   scripts/bench.sh sinks [--rows N | --quick] [--sink-modes M] [options]
#   scripts/bench.sh scaling [--rows N | --quick] [--flavor mariadb|mysql] [--envelope E] [--tables T] [options]
#
# `poll` measures, for N narrow rows (id BIGINT PK, a INT, b VARCHAR(32), c DATETIME(3)):
#   source  sluice poll source (incrementing, exactly-once) MariaDB table -> Kafka topic,
#           from process start until every row is in a committed Kafka transaction;
#           baseline: `kcat -P` producing the same keys and values (dumped from that topic).
#   sink    sluice sink topic -> fresh MariaDB database (auto_create, insert) until every
#           row is committed; baseline: LOAD DATA LOCAL INFILE of the same rows (TSV) into
#           an identical empty table.
#   sink    the same into a fresh PostgreSQL database; baseline: \copy FROM the TSV file.
#   upsert  (--sink-modes with upsert) N upserts, half new keys and half updates: the first
#           N/2 messages of that topic, then the same N/2 keys again with `a` changed, produced
#           to a second topic with kcat (not timed); sluice sink (insert_mode=upsert) into
#           MariaDB and PostgreSQL; baselines, the same N upserts in bulk: MariaDB LOAD DATA
#           LOCAL INFILE ... REPLACE of the N-row TSV; PostgreSQL \copy of each half into an
#           UNLOGGED staging table + INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE.
# and prints rows, seconds, rows/s and sluice/baseline ratios, with the CPU seconds and peak
# RSS of each process, the CPU the servers used and the CPU other processes on the machine
# used meanwhile (a noise gauge: the machine is shared).
#
# `binlog` measures, for N row changes of the same narrow table already in the binlog
# (INSERT ... SELECT, --txn-rows rows per source transaction, written before the timed runs):
#   read    baseline: examples/binlog_read (mysql_async's binlog stream, the crate Sluice
#           uses: every rows event of the table decoded into row images, then discarded),
#           from the position recorded before the load until all N rows are decoded;
#           sluice binlog source (exactly-once, flat envelope) streaming from that position
#           (a stored offset is produced into sluice_offsets before it starts), from
#           process start until its committed position passes the end of the load.
#   ceiling kcat -P of the same messages, dumped from the topic (not Sluice): what Kafka takes
#           from one producer on this machine, which bounds any source's ratio.
#   latency the same sluice process, caught up: a writer inserts --latency-rate rows/s
#           (batches of 50 every 10 ms) for --latency-secs seconds into a table whose t_us
#           column holds NOW(6) in epoch microseconds; a read_committed kcat consumer
#           stamps each message on arrival. Prints p50/p99/max of arrival - t_us (commit to
#           visible in Kafka) and of the Kafka CreateTime - t_us (to the producer).
# and prints rows/s, the ratio to the baseline, CPU seconds and peak RSS (VmHWM) of sluice.
#
# `debezium` runs Debezium's MySQL connector 3.6.1 under Kafka Connect 4.1.1 standalone (jars
# fetched once from Maven Central with scripts/debezium/pom.xml) and then Sluice's binlog source,
# one after the other on the same MySQL 9 table (127.0.0.1:3307; id BIGINT PK, a INT, b
# VARCHAR(32), c DOUBLE, d DATETIME(3)) and broker, both with Debezium's envelope and Connect's
# JsonConverter: snapshot of N rows, then catch-up of N more inserted while each was stopped,
# each from process start until every message is visible to a read_committed consumer. Prints
# rows/s, CPU seconds (and per million rows), peak RSS, time to first message, and the ratios.
# Default N: 300000 (--quick: 20000). See scripts/bench-debezium.sh.
#
# `converters` snapshots the same table (as `debezium`'s, on --flavor's server) with Sluice's
# binlog source once per converter, each into its own topic: Connect's JsonConverter with
# schemas (json), and Confluent's Avro and JSON Schema wire formats through the schema registry
# on 127.0.0.1:8081 (avro, json_schema). Prints rows/s, CPU, peak RSS, the key and value bytes
# per message as stored, and the ratios to json. Default N: 300000 (--quick: 20000).
# See scripts/bench-converters.sh.
#
# `snapshot` measures the binlog source's chunked, lock-free snapshot of the same table (N rows,
# and a copy of its first N/5) against examples/keyset_read, a plain mysql_async client paging
# the table by primary key in chunks of the same size, in the same run: snapshot rows/s and the
# ratio, CPU, peak RSS of both sizes (it must not grow with the table), and the binlog lag
# (commit to visible, p50/p99/max) of a --writer-rate rows/s writer into another captured table
# while the snapshot runs. Default N: 5000000 (--quick: 100000). See scripts/bench-snapshot.sh.
#
# `sinks` produces N Connect JSON messages with kcat into a 6-partition topic (not timed), then
# one, two and three sluice daemons sharing one sink group (own state_dir and HTTP port each)
# apply it into a fresh PostgreSQL database per run (pk_mode record_key; --sink-modes insert,
# upsert), each timed from process start until the daemons' rows applied add up to N: rows/s,
# the ratio to one daemon in the same run, CPU and peak RSS per daemon, load average. On this
# 2-core machine the daemons share the cores and the PostgreSQL server. Default N: 1000000
# (--quick: 60000). See scripts/bench-sinks.sh.
#
# `scaling` streams four loads through the binlog source, each from the binlog into Kafka by a
# fresh process resuming at the load's start: N rows of the 5-column bench table, N/4 rows of a
# 50-column table, N/40 rows of about 16 KB, and N rows of the bench table spread over --tables
# tables. Prints rows/s, MiB/s, CPU seconds per million rows and per GiB of messages, and peak
# RSS of each, so cost against row width and table count reads off one table; beside each, the
# CPU of examples/kafka_replay producing the same messages through sluice's producer (what the
# Kafka client costs) and the difference (what sluice itself costs). With --keep, each load's
# messages stay in the work dir (NAME.dump.all, the replay's input). Default N: 200000
# (--quick: 20000, 50 tables). See scripts/bench-scaling.sh.
#
# Options:
#   --rows N              rows to load (default 1000000)
#   --quick               50000 rows; binlog: and a 5 s latency run (CI smoke run)
#   --batch-max-rows B    source batch_max_rows = rows per Kafka transaction (default 10000)
#   --sink-batch-size S   sink batch_size = records per DB transaction (default 8000; Connect's batch.size default is 3000)
#   --sink-modes M        sink insert modes to measure: insert | upsert | insert,upsert (default)
#   --pk-mode M           sink pk_mode: record_key (default; id becomes the PRIMARY KEY) | none
#   --settle S            seconds to pause before each timed run (default 3)
#   --timeout S           deadline of each timed run (default max(120, N/1000))
#   --bin PATH            benchmark this sluice binary instead of building one
#                         (default: cargo build --release, then target/release/sluice)
#   --flavor F            binlog: mariadb (127.0.0.1:3306, default) | mysql (127.0.0.1:3307)
#   --txn-rows T          binlog: rows per source transaction of the load (default 1000)
#   --max-batch-rows B    binlog: the source's max_batch_rows (default: sluice's default)
#   --latency-rate R      binlog: writer rows/s of the latency run (default 5000)
#   --latency-secs S      binlog: length of the latency run (default 20; --quick: 5)
#   --writer-rate R       snapshot: rows/s of the concurrent writer (default 2000)
#   --envelope E          scaling: the source's envelope, debezium (default) or flat
#   --tables T            scaling: tables the last load is spread over (default 500; --quick: 50)
#   --only TOOL           debezium: run only sluice (or only dbz), no ratios (for iterating)
#   --keep                keep the databases, topics and work files
#
# BENCH_KAFKA_EXTRA (environment; binlog, debezium, scaling, snapshot): TOML lines added to
# sluice's [kafka] table, for tuning experiments, e.g.
#   BENCH_KAFKA_EXTRA=$'[kafka.properties]\n"message.copy.max.bytes" = "0"'
#
# Needs: MariaDB root/no password on 127.0.0.1:3306 (binlog --flavor mysql: MySQL on 3307),
# PostgreSQL postgres/trust on 127.0.0.1:5432, Kafka on 127.0.0.1:9092 (scripts/services.sh up
# starts them), kcat, curl; binlog also python3 (writer pacing, latency figures).
# Everything a run creates is named bench_<UTC time>_<pid>; databases, topics and work files
# are removed at the end (also on failure or Ctrl-C) and every sluice process it started is
# stopped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-2}"
}
die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}
log() { echo "bench: $*" >&2; }

MODE=${1:-}
[[ $MODE =~ ^(poll|binlog|debezium|converters|snapshot|sinks|scaling)$ ]] || usage 2
shift
ROWS=1000000
BATCH_MAX_ROWS=10000
SINK_BATCH=8000
SINK_MODES=insert,upsert
PK_MODE=record_key
SETTLE=3
TIMEOUT=
KEEP=0
ONLY=
BIN_ARG=
FLAVOR=mariadb
TXN_ROWS=1000
MAX_BATCH_ROWS=
LAT_RATE=5000
LAT_SECS=
WRITER_RATE=2000
ENVELOPE=debezium
SC_TABLES=
QUICK=0
ROWS_SET=0
while (($#)); do
  case $1 in
    --rows) ROWS=${2:?--rows needs a value}; ROWS_SET=1; shift 2 ;;
    --rows=*) ROWS=${1#*=}; ROWS_SET=1; shift ;;
    --quick) ROWS=50000; QUICK=1; shift ;;
    --flavor) FLAVOR=${2:?}; shift 2 ;;
    --txn-rows) TXN_ROWS=${2:?}; shift 2 ;;
    --max-batch-rows) MAX_BATCH_ROWS=${2:?}; shift 2 ;;
    --latency-rate) LAT_RATE=${2:?}; shift 2 ;;
    --latency-secs) LAT_SECS=${2:?}; shift 2 ;;
    --writer-rate) WRITER_RATE=${2:?}; shift 2 ;;
    --envelope) ENVELOPE=${2:?}; shift 2 ;;
    --tables) SC_TABLES=${2:?}; shift 2 ;;
    --batch-max-rows) BATCH_MAX_ROWS=${2:?}; shift 2 ;;
    --sink-batch-size) SINK_BATCH=${2:?}; shift 2 ;;
    --sink-modes) SINK_MODES=${2:?}; shift 2 ;;
    --pk-mode) PK_MODE=${2:?}; shift 2 ;;
    --settle) SETTLE=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --bin) BIN_ARG=${2:?}; shift 2 ;;
    --only) ONLY=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage 2 ;;
  esac
done
LAT_SECS=${LAT_SECS:-$((QUICK ? 5 : 20))}
if [[ $MODE == debezium ]]; then
  FLAVOR=mysql # Debezium's MySQL connector (its MariaDB connector is not served here)
  ((ROWS_SET)) || ROWS=$((QUICK ? 20000 : 300000))
fi
[[ $MODE == converters ]] && { ((ROWS_SET)) || ROWS=$((QUICK ? 20000 : 300000)); }
[[ $MODE == snapshot ]] && { ((ROWS_SET)) || ROWS=$((QUICK ? 100000 : 5000000)); }
[[ $MODE == sinks ]] && { ((ROWS_SET)) || ROWS=$((QUICK ? 60000 : 1000000)); }
[[ $MODE == scaling ]] && { ((ROWS_SET)) || ROWS=$((QUICK ? 20000 : 200000)); }
[[ $ENVELOPE == debezium || $ENVELOPE == flat ]] || die "--envelope must be debezium or flat"
[[ -z $SC_TABLES || ($SC_TABLES =~ ^[0-9]+$ && $SC_TABLES -ge 10 && $((SC_TABLES % 10)) -eq 0) ]] \
  || die "--tables must be a multiple of 10, at least 10"
[[ $FLAVOR == mariadb || $FLAVOR == mysql ]] || die "--flavor must be mariadb or mysql"
for v in ROWS BATCH_MAX_ROWS SINK_BATCH SETTLE TXN_ROWS LAT_RATE LAT_SECS WRITER_RATE ${MAX_BATCH_ROWS:+MAX_BATCH_ROWS}; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
((TXN_ROWS > 0 && LAT_RATE >= 100 && WRITER_RATE >= 50)) || die "--txn-rows must be > 0, --latency-rate >= 100 and --writer-rate >= 50"
((ROWS > 0 && BATCH_MAX_ROWS > 0 && SINK_BATCH > 0)) || die "--rows, --batch-max-rows and --sink-batch-size must be > 0"
[[ $PK_MODE == record_key || $PK_MODE == none ]] || die "--pk-mode must be record_key or none"
[[ $SINK_MODES =~ ^(insert|upsert|insert,upsert|upsert,insert)$ ]] || die "--sink-modes must be insert, upsert or insert,upsert"
[[ $SINK_MODES != *upsert* || $PK_MODE == record_key ]] || die "upsert needs --pk-mode record_key"
TIMEOUT=${TIMEOUT:-$((ROWS / 1000 > 120 ? ROWS / 1000 : 120))}
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout must be an integer"

for tool in mariadb psql kcat curl awk $([[ $MODE != poll ]] && echo python3); do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/services.sh up installs the services and kcat)"
done
BOOTSTRAP=127.0.0.1:9092
HZ=$(getconf CLK_TCK)
NPROC=$(nproc)

MY_PORT=3306
[[ $MODE != poll && $FLAVOR == mysql ]] && MY_PORT=3307
my() { mariadb -h127.0.0.1 -P"$MY_PORT" -uroot --batch "$@"; }
pg() { psql -h 127.0.0.1 -p 5432 -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }

# ----------------------------------------------------------------------------- run state

RUN_ID=$(date -u +%Y%m%d%H%M%S)_$$
SRC_DB=bench_${RUN_ID}
SINK_DB=bench_${RUN_ID}_sink # on MariaDB and on PostgreSQL
PREFIX=bench_${RUN_ID}_
TOPIC=${PREFIX}narrow
KCAT_TOPIC=${PREFIX}kcat
UPSERT_TOPIC=${PREFIX}upsert
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
SLUICE_PIDS=()
BG_PIDS=() # helper processes (binlog: the latency consumer)
CREATED_MY=()
CREATED_PG=0
CREATED_TOPICS=0
OK=0

stop_pid() { # stop_pid PID: TERM, wait up to 15 s, then KILL; sets STOP_RC
  local pid=$1 i
  STOP_RC=0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || STOP_RC=$?; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "sluice pid $pid did not stop within 15 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || STOP_RC=$?
}

cleanup() {
  local rc=$? pid db
  trap - EXIT INT TERM
  for pid in "${SLUICE_PIDS[@]}"; do stop_pid "$pid"; done
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if ((KEEP)); then
    log "kept (--keep): MariaDB databases: ${CREATED_MY[*]:-none}; PostgreSQL database: $( ((CREATED_PG)) && echo "$SINK_DB" || echo none); topics: $( ((CREATED_TOPICS)) && echo "$TOPIC $KCAT_TOPIC" || echo none); files: $WORK"
    exit "$rc"
  fi
  for db in "${CREATED_MY[@]}"; do
    my -e "DROP DATABASE IF EXISTS \`$db\`" 2>/dev/null || log "could not drop MariaDB database $db"
  done
  if ((CREATED_PG)); then
    pg -d postgres -c "DROP DATABASE IF EXISTS \"$SINK_DB\" WITH (FORCE)" 2>/dev/null \
      || log "could not drop PostgreSQL database $SINK_DB"
  fi
  if ((CREATED_TOPICS)) && [[ -d /var/lib/sluice-test/kafka/libs ]] && command -v java >/dev/null; then
    # Best effort: topics are uniquely named, so leaving them is harmless, only disk space.
    java -cp '/var/lib/sluice-test/kafka/libs/*' org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$BOOTSTRAP" --delete --if-exists --topic "${PREFIX}.*" >/dev/null 2>&1 \
      || log "could not delete topics ${PREFIX}* (harmless; they stay)"
  fi
  if ((OK)); then
    rm -rf "$WORK"
  else
    rm -f "$WORK"/*.tsv "$WORK"/*.dump "$WORK"/sluice
    log "failed; logs kept in $WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------------------- measuring

now() { echo "$EPOCHREALTIME"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# CPU ticks (utime+stime) of one process; with `all`, plus its waited-for children.
proc_ticks() {
  local f
  f=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  # after "pid (comm) ": $12 utime, $13 stime, $14 cutime, $15 cstime
  awk -v all="${2:-}" '{ print $12 + $13 + (all == "all" ? $14 + $15 : 0) }' <<<"$f"
}
vm_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

if [[ $MY_PORT == 3307 ]]; then
  # MySQL 9 runs through its private ld-linux (scripts/services/mysql.sh): find it by its pid file.
  MARIADB_PID=$(cat "${SLUICE_SERVICES_DIR:-/var/lib/sluice-test}/mysql/run/mysqld.pid" 2>/dev/null || pgrep -xo mysqld || echo 0)
else
  MARIADB_PID=$(pgrep -xo mariadbd || pgrep -xo mysqld || echo 0)
fi
KAFKA_PID=$(cat /var/lib/sluice-test/kafka/kafka.pid 2>/dev/null || pgrep -fo 'kafka\.Kafka' || echo 0)
PG_PID=0
pg_data=$(pg -d postgres -tAc "SHOW data_directory" 2>/dev/null || true)
[[ -n $pg_data && -r $pg_data/postmaster.pid ]] && PG_PID=$(head -n 1 "$pg_data/postmaster.pid")

pg_ticks() { # postmaster + live children + exited children
  local t c
  ((PG_PID)) || { echo 0; return; }
  t=$(proc_ticks "$PG_PID" all)
  for c in $(pgrep -P "$PG_PID" || true); do t=$((t + $(proc_ticks "$c"))); done
  echo "$t"
}
machine_busy_ticks() { # busy and total jiffies of all CPUs (USER_HZ)
  awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}
snapshot() { # snapshot VAR: servers' ticks and machine ticks
  local -n s=$1
  local mb mt
  read -r mb mt < <(machine_busy_ticks)
  # shellcheck disable=SC2034  # s is a nameref to the caller's array
  s=("$(proc_ticks "$MARIADB_PID")" "$(proc_ticks "$KAFKA_PID")" "$(pg_ticks)" "$mb" "$mt")
}

# Result rows: phase|what|rows|seconds|client cpu s|client peak RSS KB|mariadb s|kafka s|pg s|others %|load1|note
RESULTS=()
record() { # record PHASE WHAT SECONDS CLIENT_TICKS RSS_KB SNAP_BEFORE SNAP_AFTER [NOTE]
  local -n b=$6 a=$7
  local srv_my srv_k srv_pg busy total ours others load1
  # (a PostgreSQL backend that exited but was not reaped yet can make a delta negative)
  srv_my=$((a[0] > b[0] ? a[0] - b[0] : 0))
  srv_k=$((a[1] > b[1] ? a[1] - b[1] : 0))
  srv_pg=$((a[2] > b[2] ? a[2] - b[2] : 0))
  busy=$((a[3] - b[3]))
  total=$((a[4] - b[4]))
  ours=$((srv_my + srv_k + srv_pg + $4))
  others=$(awk -v busy="$busy" -v total="$total" -v ours="$ours" \
    'BEGIN { o = busy - ours; if (o < 0) o = 0; printf "%.0f", (total > 0 ? 100 * o / total : 0) }')
  load1=$(cut -d' ' -f1 /proc/loadavg)
  RESULTS+=("$1|$2|$ROWS|$3|$(awk -v t="$4" -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')|$5|$(
    awk -v a="$srv_my" -v b="$srv_k" -v c="$srv_pg" -v hz="$HZ" 'BEGIN { printf "%.1f|%.1f|%.1f", a / hz, b / hz, c / hz }'
  )|$others|$load1|${8:-}")
}

# "first <event> after Xs; then Y rows/s": startup cost vs streaming rate.
steady_note() {
  awk -v what="$1" -v s="$T_START" -v f="$T_FIRST" -v d="$T_DONE" -v n="$ROWS" 'BEGIN {
    printf "first %s %.3fs after start; %.0f rows/s from then on", what, f - s, (d > f ? n / (d - f) : 0) }'
}

settle() { ((SETTLE == 0)) || sleep "$SETTLE"; }

# Runs a baseline client under /usr/bin/time; sets T_SECS, T_TICKS, T_RSS.
timed_client() {
  local tf=$WORK/time.$RANDOM t0 t1
  t0=$(now)
  /usr/bin/time -f '%U %S %M' -o "$tf" "$@"
  t1=$(now)
  T_SECS=$(fsub "$t1" "$t0")
  read -r T_TICKS T_RSS < <(awk -v hz="$HZ" '{ printf "%d %d\n", ($1 + $2) * hz + 0.5, $3 }' "$tf")
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

# Sums one metric family (all label sets) from sluice's /metrics; 0 when unreachable.
metric() {
  { curl -s -m 2 "http://127.0.0.1:$PORT/metrics" 2>/dev/null || true; } \
    | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d", s }'
}

# Starts sluice on CONFIG (logging to LOG); sets SLUICE_PID and T_START.
start_sluice() {
  T_START=$(now)
  "$BIN" run --config "$1" 2>"$2" &
  SLUICE_PID=$!
  SLUICE_PIDS+=("$SLUICE_PID")
}

# Dies, with the tail of $LOG, when the sluice under test ($SLUICE_PID) has exited.
sluice_alive() {
  kill -0 "$SLUICE_PID" 2>/dev/null && return 0
  tail -n 30 "$LOG" >&2 || true
  die "sluice (pid $SLUICE_PID) exited before the run finished; log above ($LOG)"
}
# Dies with MESSAGE, after the tail of $LOG, once $SECONDS is past DEADLINE.
before_deadline() { # before_deadline DEADLINE MESSAGE
  ((SECONDS <= $1)) && return 0
  tail -n 30 "$LOG" >&2 || true
  die "$2"
}

# Waits (polling /metrics every 100 ms) until metric $1 >= $2 and, when given, $3 >= $4;
# sets T_FIRST (first time $1 > 0) and T_DONE.
wait_metrics() {
  local deadline=$((SECONDS + TIMEOUT)) v w=0
  T_FIRST=
  while :; do
    sluice_alive
    v=$(metric "$1")
    [[ -z $T_FIRST ]] && ((v > 0)) && T_FIRST=$(now)
    if ((v >= $2)); then
      [[ -n ${3:-} ]] && w=$(metric "$3")
      if [[ -z ${3:-} ]] || ((w >= $4)); then
        T_DONE=$(now)
        return 0
      fi
    fi
    before_deadline "$deadline" "timeout after ${TIMEOUT}s: $1 = $v (want $2)${3:+, $3 = $w (want $4)}"
    sleep 0.1
  done
}

case $FLAVOR in
  mariadb) STATUS_SQL="SHOW MASTER STATUS" ;;
  mysql) STATUS_SQL="SHOW BINARY LOG STATUS" ;;
esac
# The server's binlog end (FILE POS); a file name's sequence number.
binlog_pos() { my -N -e "$STATUS_SQL" | awk 'NR == 1 { print $1, $2 }'; }
file_seq() { local n=${1##*.}; echo $((10#$n)); }

# Stores FILE:POS as source NAME's position (as a finished snapshot would leave it): the
# source resumes there.
store_position() { # store_position NAME FILE POS
  printf '%s\t%s\n' "[\"$1\",{\"server\":\"$1\"}]" \
    "{\"file\":\"$2\",\"pos\":$3,\"gtids\":\"\",\"row\":0,\"snapshot_completed\":true}" \
    | kcat -P -q -b "$BOOTSTRAP" -t sluice_offsets -K '\t'
}

# Waits (polling /metrics every 100 ms) until sluice's committed position reaches FILE:POS;
# sets T_FIRST (first row read) and T_DONE.
wait_position() {
  local want_seq want_pos=$2 deadline=$((SECONDS + TIMEOUT)) seq pos
  want_seq=$(file_seq "$1")
  T_FIRST=
  while :; do
    sluice_alive
    [[ -z $T_FIRST ]] && (($(metric sluice_source_rows_read_total) > 0)) && T_FIRST=$(now)
    seq=$(metric sluice_source_binlog_file_number)
    pos=$(metric sluice_source_binlog_position_bytes)
    if ((seq > want_seq || (seq == want_seq && pos >= want_pos))); then
      T_DONE=$(now)
      [[ -n $T_FIRST ]] || T_FIRST=$T_DONE
      return 0
    fi
    before_deadline "$deadline" "timeout after ${TIMEOUT}s: committed position $seq:$pos, want $1:$2"
    sleep 0.1
  done
}

# Ends a sluice run: reads CPU and peak RSS, stops it, checks errors; sets S_TICKS, S_RSS.
finish_sluice() {
  local errs restarts
  errs=$(metric sluice_pipeline_errors_total)
  restarts=$(metric sluice_pipeline_restarts_total)
  S_TICKS=$(proc_ticks "$SLUICE_PID")
  S_RSS=$(vm_hwm_kb "$SLUICE_PID")
  stop_pid "$SLUICE_PID"
  local keep=() p
  for p in "${SLUICE_PIDS[@]}"; do [[ $p == "$SLUICE_PID" ]] || keep+=("$p"); done
  SLUICE_PIDS=("${keep[@]}")
  ((STOP_RC == 0)) || log "WARNING: sluice exited with status $STOP_RC on SIGTERM (log $LOG)"
  if ((errs > 0 || restarts > 0)); then
    log "WARNING: $errs pipeline errors, $restarts restarts during the run (log $LOG):"
    grep -E 'WARN|ERROR' "$LOG" | tail -n 5 >&2 || true
  fi
}

# ----------------------------------------------------------------------------- setup

if ! bash scripts/services.sh status >/dev/null 2>&1; then
  log "a service is down; starting them (scripts/services.sh up)"
  bash scripts/services.sh up
fi
if [[ -n $BIN_ARG ]]; then
  [[ -x $BIN_ARG ]] || die "--bin $BIN_ARG is not an executable"
  SRC_BIN=$BIN_ARG
  REV="$BIN_ARG ($("$BIN_ARG" version 2>/dev/null | head -n 1 || true))"
else
  bash scripts/services.sh build-deps
  log "building sluice (cargo build --release; not timed)"
  cargo build --release --quiet
  SRC_BIN=$ROOT/target/release/sluice
  [[ -x $SRC_BIN ]] || die "$SRC_BIN missing after the build"
  REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || REV="$REV+uncommitted-src-changes"
fi
# A private copy: every phase runs the same binary even if target/ is rebuilt meanwhile.
BIN=$WORK/sluice
cp "$SRC_BIN" "$BIN"

V_MARIADB=$(my -N -e "SELECT VERSION()")
V_PG=$(pg -d postgres -tAc "SHOW server_version")
V_KAFKA=$(find /var/lib/sluice-test/kafka/libs -maxdepth 1 -name 'kafka_2.*-*.jar' -printf '%f\n' 2>/dev/null \
  | sed -E 's/^kafka_[0-9.]+-(.*)\.jar$/\1/' | grep -v -E 'test|sources' | head -n 1 || true)
V_KCAT=$(kcat -V 2>&1 | awk '/^Version/ { print $2 }')
V_KCAT="$V_KCAT ($(kcat -V 2>&1 | grep -o 'librdkafka [0-9.]*' | head -n 1))"
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_GB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ----------------------------------------------------------------------------- shared by debezium and converters

# Prints the path of a private copy of examples/NAME's release build (a baseline client), built
# first unless --bin was given and it is already built (building it would rebuild the crate).
example_bin() { # example_bin NAME
  local src=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/$1
  if [[ -z $BIN_ARG || ! -x $src ]]; then
    log "building the baseline client (cargo build --release --example $1; not timed)"
    cargo build --release --quiet --example "$1"
  fi
  cp "$src" "$WORK/$1"
  echo "$WORK/$1"
}

# The bench table in a fresh database SRC_DB (id BIGINT PK, a INT, b VARCHAR(32), c DOUBLE,
# d DATETIME(3)) and a helper table of 1000 numbers; load_rows adds rows.
create_bench_table() {
  CREATED_MY+=("$SRC_DB")
  my -e "CREATE DATABASE \`$SRC_DB\`"
  my "$SRC_DB" -e "
    CREATE TABLE bench (
      id BIGINT PRIMARY KEY,
      a INT NOT NULL,
      b VARCHAR(32),
      c DOUBLE,
      d DATETIME(3)) ENGINE=InnoDB;
    CREATE TABLE nums (n INT PRIMARY KEY) ENGINE=InnoDB;
    INSERT INTO nums SELECT a.d * 100 + b.d * 10 + c.d + 1
      FROM (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL
            SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) a,
           (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL
            SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b,
           (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL
            SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c;"
  log "loading $ROWS rows into $SRC_DB.bench (not timed)"
  load_rows 0 "$ROWS"
  local got
  got=$(my -N "$SRC_DB" -e "SELECT COUNT(*) FROM bench")
  ((got == ROWS)) || die "loaded $got rows, want $ROWS"
}

load_rows() { # load_rows FIRST_ID COUNT: COUNT rows from id FIRST_ID + 1, 1000 per transaction
  awk -v first="$1" -v rows="$2" -v q="'" 'BEGIN {
    for (k = 0; k * 1000 < rows; k++) {
      m = rows - k * 1000; if (m > 1000) m = 1000; b = first + k * 1000
      printf "INSERT INTO bench (id, a, b, c, d) SELECT %d + n, ((%d + n) * 7919) %% 1000003, " \
        "CONCAT(%svalue-%s, LPAD((%d + n) %% 100000, 6, %s0%s)), (%d + n) / 7.0, " \
        "TIMESTAMP %s2024-01-01 00:00:00%s + INTERVAL ((%d + n) * 1001000) MICROSECOND " \
        "FROM nums WHERE n <= %d;\n", b, b, q, q, b, q, q, b, q, q, b, m
    } }' | my "$SRC_DB"
}

# A read_committed consumer of TOPIC writing a line per message to OUT, for the whole run.
count_topic() { # count_topic TOPIC OUT
  kcat -C -q -b "$BOOTSTRAP" -t "$1" -X isolation.level=read_committed -o beginning -u -f '%o\n' >"$2" 2>"$2.err" &
  BG_PIDS+=($!)
}
visible() { wc -l <"$1"; }

# Waits until WANT messages are visible in OUT; sets T_FIRST (first message) and T_DONE.
wait_visible() { # wait_visible OUT WANT
  local deadline=$((SECONDS + TIMEOUT)) v
  T_FIRST=
  while :; do
    kill -0 "$TOOL_PID" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "pid $TOOL_PID exited early (log $LOG)"; }
    v=$(visible "$1")
    [[ -z $T_FIRST ]] && ((v > BEFORE)) && T_FIRST=$(now)
    if ((v >= $2)); then
      T_DONE=$(now)
      return 0
    fi
    ((SECONDS <= deadline)) || { tail -n 30 "$LOG" >&2; die "timeout after ${TIMEOUT}s: $v of $2 messages visible (log $LOG)"; }
    sleep 0.05
  done
}


if [[ $MODE == binlog ]]; then
  # shellcheck source=scripts/bench-binlog.sh
  . "$ROOT/scripts/bench-binlog.sh"
  exit 0
fi
if [[ $MODE == converters ]]; then
  # shellcheck source=scripts/bench-converters.sh
  . "$ROOT/scripts/bench-converters.sh"
  exit 0
fi
if [[ $MODE == snapshot ]]; then
  # shellcheck source=scripts/bench-snapshot.sh
  . "$ROOT/scripts/bench-snapshot.sh"
  exit 0
fi
if [[ $MODE == sinks ]]; then
  # shellcheck source=scripts/bench-sinks.sh
  . "$ROOT/scripts/bench-sinks.sh"
  exit 0
fi
if [[ $MODE == scaling ]]; then
  # shellcheck source=scripts/bench-scaling.sh
  . "$ROOT/scripts/bench-scaling.sh"
  exit 0
fi
if [[ $MODE == debezium ]]; then
  # shellcheck source=scripts/bench-debezium.sh
  . "$ROOT/scripts/bench-debezium.sh"
  exit 0
fi

log "run $RUN_ID: $ROWS rows; work dir $WORK"
log "loading $ROWS rows into MariaDB $SRC_DB.narrow (not timed)"
CREATED_MY+=("$SRC_DB")
my -e "CREATE DATABASE \`$SRC_DB\`"
my "$SRC_DB" -e "
  CREATE TABLE narrow (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    a INT NOT NULL,
    b VARCHAR(32),
    c DATETIME(3)) ENGINE=InnoDB;
  INSERT INTO narrow (id, a, b, c)
    SELECT seq, (seq * 7919) % 1000003, CONCAT('value-', LPAD(seq % 100000, 6, '0')),
           TIMESTAMP'2024-01-01 00:00:00' + INTERVAL (seq * 1001000) MICROSECOND
    FROM seq_1_to_$ROWS;"
got=$(my -N "$SRC_DB" -e "SELECT COUNT(*) FROM narrow")
((got == ROWS)) || die "loaded $got rows, want $ROWS"
# The same rows as TSV (the text format of both LOAD DATA and COPY: tab, \N, backslash escapes).
TSV=$WORK/narrow.tsv
my -N --quick "$SRC_DB" -e "SELECT id, a, b, c FROM narrow ORDER BY id" >"$TSV"
[[ $(wc -l <"$TSV") -eq $ROWS ]] || die "TSV has $(wc -l <"$TSV") lines, want $ROWS"

# ----------------------------------------------------------------------------- source

PORT=$(free_port)
SRC_CFG=$WORK/source.toml
cat >"$SRC_CFG" <<EOF
[kafka]
bootstrap_servers = "$BOOTSTRAP"

[http]
listen = "127.0.0.1:$PORT"

[[source]]
name = "bench-$RUN_ID"
kind = "poll"
url = "mysql://root@127.0.0.1:3306/$SRC_DB"
tables = ["narrow"]
topic_prefix = "$PREFIX"
mode = "incrementing"
incrementing_column = "id"
poll_interval_ms = 100
batch_max_rows = $BATCH_MAX_ROWS
EOF
COMMITS=$(((ROWS + BATCH_MAX_ROWS - 1) / BATCH_MAX_ROWS))
settle
log "source: sluice poll source -> topic $TOPIC (batch_max_rows=$BATCH_MAX_ROWS, $COMMITS transactions)"
LOG=$WORK/source.log
CREATED_TOPICS=1
snapshot SB
start_sluice "$SRC_CFG" "$LOG"
wait_metrics sluice_source_rows_read_total "$ROWS" sluice_source_transaction_commit_seconds_count "$COMMITS"
snapshot SA
finish_sluice
SRC_SECS=$(fsub "$T_DONE" "$T_START")
record source "sluice poll source -> Kafka" "$SRC_SECS" "$S_TICKS" "$S_RSS" SB SA \
  "$(steady_note "row read")"

# Dump the committed messages (key TAB value; Connect JSON has no raw tab or newline).
DUMP=$WORK/topic.dump
kcat -C -b "$BOOTSTRAP" -t "$TOPIC" -o beginning -e -q -X isolation.level=read_committed \
  -f '%k\t%s\n' >"$DUMP"
got=$(wc -l <"$DUMP")
((got == ROWS)) || die "topic $TOPIC holds $got committed messages, want $ROWS"
DUMP_MB=$(awk -v b="$(stat -c %s "$DUMP")" 'BEGIN { printf "%.1f", b / 1048576 }')
MSG_BYTES=$(awk -v b="$(stat -c %s "$DUMP")" -v n="$ROWS" 'BEGIN { printf "%.0f", b / n - 2 }')

settle
log "source baseline: kcat -P of the same $ROWS keys+values ($DUMP_MB MiB) -> topic $KCAT_TOPIC"
snapshot SB
timed_client kcat -P -b "$BOOTSTRAP" -t "$KCAT_TOPIC" -K '\t' -l "$DUMP"
snapshot SA
record source "kcat -P (baseline)" "$T_SECS" "$T_TICKS" "$T_RSS" SB SA
got=$(kcat -Q -b "$BOOTSTRAP" -t "$KCAT_TOPIC:0:-1" | awk '{ print $NF }')
((got == ROWS)) || die "kcat baseline topic holds $got messages, want $ROWS"

# ----------------------------------------------------------------------------- sinks

CREATED_MY+=("$SINK_DB")
my -e "CREATE DATABASE \`$SINK_DB\`"
CREATED_PG=1
pg -d postgres -c "CREATE DATABASE \"$SINK_DB\""

# sink_run KIND URL [MODE TOPIC]: one sluice sink (insert_mode MODE, default insert) from
# TOPIC (default $TOPIC) into URL, timed until every record is applied.
sink_run() {
  local kind=$1 url=$2 mode=${3:-insert} topic=${4:-$TOPIC}
  local cfg=$WORK/sink-$mode-$kind.toml phase=sink
  [[ $mode == insert ]] || phase=$mode
  PORT=$(free_port)
  cat >"$cfg" <<EOF
[kafka]
bootstrap_servers = "$BOOTSTRAP"

[http]
listen = "127.0.0.1:$PORT"

[[sink]]
name = "bench-$RUN_ID-$mode-$kind"
url = "$url"
topics = ["$topic"]
auto_create = true
insert_mode = "$mode"
pk_mode = "$PK_MODE"
batch_size = $SINK_BATCH
EOF
  settle
  log "sink: sluice sink $topic -> $kind $SINK_DB (insert_mode=$mode, batch_size=$SINK_BATCH, pk_mode=$PK_MODE)"
  LOG=$WORK/sink-$mode-$kind.log
  snapshot SB
  start_sluice "$cfg" "$LOG"
  wait_metrics sluice_sink_rows_applied_total "$ROWS"
  snapshot SA
  finish_sluice
  record "$phase $kind" "sluice sink ($mode) Kafka -> $kind" "$(fsub "$T_DONE" "$T_START")" "$S_TICKS" "$S_RSS" SB SA \
    "$(steady_note "batch committed")"
}

check_rows() { # check_rows KIND TABLE: count and sums equal the source's
  local kind=$1 table=$2 q want got
  q="SELECT COUNT(*), MIN(id), MAX(id), SUM(a) FROM"
  want=$(my -N "$SRC_DB" -e "$q narrow" | tr '\t' ' ')
  if [[ $kind == mariadb ]]; then
    got=$(my -N "$SINK_DB" -e "$q \`$table\`" | tr '\t' ' ')
  else
    got=$(pg -d "$SINK_DB" -tA -F ' ' -c "$q \"$table\"")
  fi
  [[ $got == "$want" ]] || die "$kind table $table: (count, min, max, sum a) = ($got), source has ($want)"
}

# (body not indented, to keep the diff small)
if [[ $SINK_MODES == *insert* ]]; then
sink_run mariadb "mysql://root@127.0.0.1:3306/$SINK_DB"
check_rows mariadb "$TOPIC"
MY_DDL=$(my -N "$SINK_DB" -e "SHOW CREATE TABLE \`$TOPIC\`" | cut -f2- | sed 's/\\n/ /g; s/  */ /g')
my "$SINK_DB" -e "CREATE TABLE baseline LIKE \`$TOPIC\`"
settle
log "sink baseline: LOAD DATA LOCAL INFILE -> mariadb $SINK_DB.baseline (identical table)"
snapshot SB
timed_client mariadb -h127.0.0.1 -P3306 -uroot --local-infile=1 "$SINK_DB" \
  -e "LOAD DATA LOCAL INFILE '$TSV' INTO TABLE baseline (id, a, b, c)"
snapshot SA
record "sink mariadb" "LOAD DATA LOCAL INFILE (baseline)" "$T_SECS" "$T_TICKS" "$T_RSS" SB SA
check_rows mariadb baseline

sink_run postgres "postgres://postgres@127.0.0.1:5432/$SINK_DB"
check_rows postgres "$TOPIC"
PG_DDL=$(pg -d "$SINK_DB" -tA -c "SELECT string_agg(quote_ident(column_name) || ' ' || data_type ||
    COALESCE('(' || character_maximum_length || ')', '') || CASE WHEN is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END,
    ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '$TOPIC'")
PG_PK=$(pg -d "$SINK_DB" -tA -c "SELECT count(*) FROM pg_index WHERE indrelid = '\"$TOPIC\"'::regclass AND indisprimary")
pg -d "$SINK_DB" -c "CREATE TABLE baseline (LIKE \"$TOPIC\" INCLUDING ALL)"
settle
log "sink baseline: \\copy FROM file -> postgres $SINK_DB.baseline (identical table)"
snapshot SB
timed_client psql -h 127.0.0.1 -p 5432 -U postgres -X -q -v ON_ERROR_STOP=1 -d "$SINK_DB" \
  -c "\\copy baseline (id, a, b, c) FROM '$TSV'"
snapshot SA
record "sink postgres" "\\copy FROM file (baseline)" "$T_SECS" "$T_TICKS" "$T_RSS" SB SA
check_rows postgres baseline
fi

# ----------------------------------------------------------------------------- upserts

# same_rows KIND A B: (count, min id, max id, sum a) of tables A and B agree.
same_rows() {
  local kind=$1 q="SELECT COUNT(*), MIN(id), MAX(id), SUM(a) FROM" a b
  if [[ $kind == mariadb ]]; then
    a=$(my -N "$SINK_DB" -e "$q \`$2\`" | tr '\t' ' ')
    b=$(my -N "$SINK_DB" -e "$q \`$3\`" | tr '\t' ' ')
  else
    a=$(pg -d "$SINK_DB" -tA -F ' ' -c "$q \"$2\"")
    b=$(pg -d "$SINK_DB" -tA -F ' ' -c "$q \"$3\"")
  fi
  [[ $a == "$b" ]] || die "$kind: $2 has (count, min, max, sum a) = ($a), $3 has ($b)"
  log "$kind: $2 and $3 agree: ($a)"
}

if [[ $SINK_MODES == *upsert* ]]; then
  HALF=$((ROWS / 2))
  # The N upserts: the first half of the rows as new keys, then the same keys with a + 1.
  # Connect JSON values carry "a":<int> once (in the payload); keys are {"id":...}.
  UP_DUMP=$WORK/upsert.dump
  UP_TSV1=$WORK/upsert-1.tsv
  UP_TSV2=$WORK/upsert-2.tsv
  UP_TSV=$WORK/upsert.tsv
  bump_a='{ if (match($0, /"a": ?-?[0-9]+/)) { t = substr($0, RSTART, RLENGTH); sub(/^"a": ?/, "", t);
             $0 = substr($0, 1, RSTART - 1) "\"a\":" (t + 1) substr($0, RSTART + RLENGTH) } else { bad++ } print }
           END { if (bad) { print "no \"a\" field in " bad " messages" > "/dev/stderr"; exit 1 } }'
  { head -n "$HALF" "$DUMP"; head -n "$HALF" "$DUMP" | awk "$bump_a"; } >"$UP_DUMP"
  head -n "$HALF" "$TSV" >"$UP_TSV1"
  awk -F'\t' -v OFS='\t' '{ $2 = $2 + 1; print }' "$UP_TSV1" >"$UP_TSV2"
  cat "$UP_TSV1" "$UP_TSV2" >"$UP_TSV"
  UP_ROWS=$((2 * HALF))
  log "upsert: producing $UP_ROWS upserts ($HALF new keys, then $HALF updates) -> topic $UPSERT_TOPIC (not timed)"
  kcat -P -b "$BOOTSTRAP" -t "$UPSERT_TOPIC" -K '\t' -l "$UP_DUMP"
  got=$(kcat -Q -b "$BOOTSTRAP" -t "$UPSERT_TOPIC:0:-1" | awk '{ print $NF }')
  ((got == UP_ROWS)) || die "upsert topic holds $got messages, want $UP_ROWS"
  SAVED_ROWS=$ROWS
  ROWS=$UP_ROWS

  sink_run mariadb "mysql://root@127.0.0.1:3306/$SINK_DB" upsert "$UPSERT_TOPIC"
  my "$SINK_DB" -e "CREATE TABLE baseline_upsert LIKE \`$UPSERT_TOPIC\`"
  settle
  log "upsert baseline: LOAD DATA LOCAL INFILE ... REPLACE -> mariadb $SINK_DB.baseline_upsert"
  snapshot SB
  timed_client mariadb -h127.0.0.1 -P3306 -uroot --local-infile=1 "$SINK_DB" \
    -e "LOAD DATA LOCAL INFILE '$UP_TSV' REPLACE INTO TABLE baseline_upsert (id, a, b, c)"
  snapshot SA
  record "upsert mariadb" "LOAD DATA ... REPLACE (baseline)" "$T_SECS" "$T_TICKS" "$T_RSS" SB SA
  same_rows mariadb "$UPSERT_TOPIC" baseline_upsert

  sink_run postgres "postgres://postgres@127.0.0.1:5432/$SINK_DB" upsert "$UPSERT_TOPIC"
  pg -d "$SINK_DB" -c "CREATE TABLE baseline_upsert (LIKE \"$UPSERT_TOPIC\" INCLUDING ALL);
    CREATE UNLOGGED TABLE upsert_stage (LIKE \"$UPSERT_TOPIC\")"
  settle
  log "upsert baseline: \\copy into a staging table + INSERT ... ON CONFLICT DO UPDATE, per half -> postgres"
  merge="INSERT INTO baseline_upsert SELECT * FROM upsert_stage ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b, c = EXCLUDED.c; TRUNCATE upsert_stage;"
  snapshot SB
  timed_client psql -h 127.0.0.1 -p 5432 -U postgres -X -q -v ON_ERROR_STOP=1 -d "$SINK_DB" \
    -c "\\copy upsert_stage (id, a, b, c) FROM '$UP_TSV1'" -c "$merge" \
    -c "\\copy upsert_stage (id, a, b, c) FROM '$UP_TSV2'" -c "$merge"
  snapshot SA
  record "upsert postgres" "\\copy + ON CONFLICT (baseline)" "$T_SECS" "$T_TICKS" "$T_RSS" SB SA
  same_rows postgres "$UPSERT_TOPIC" baseline_upsert
  ROWS=$SAVED_ROWS
fi

# ----------------------------------------------------------------------------- report

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
MY_DDL=${MY_DDL:-(insert run skipped)}
PG_DDL=${PG_DDL:-(insert run skipped)}
PG_PK=${PG_PK:-0}
OK=1
echo
echo "Sluice benchmark: poll  (run $RUN_ID, sluice $REV, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine : $NPROC CPUs ($CPU_MODEL), ${MEM_GB} GiB RAM; load average at start $LOAD_START, at end $LOAD_END"
echo "servers : MariaDB $V_MARIADB, PostgreSQL $V_PG, Kafka ${V_KAFKA:-?} (KRaft, 1 node, topics 1 partition), kcat $V_KCAT"
echo "data    : $ROWS rows of narrow (id BIGINT PK, a INT NOT NULL, b VARCHAR(32), c DATETIME(3)); Connect JSON key+value ${MSG_BYTES} B/message on average ($DUMP_MB MiB in all)"
echo "source  : kind=poll mode=incrementing incrementing_column=id batch_max_rows=$BATCH_MAX_ROWS poll_interval_ms=100 delivery=exactly-once; time = process start -> all rows committed in Kafka"
echo "sink    : auto_create=true insert_mode=$SINK_MODES pk_mode=$PK_MODE batch_size=$SINK_BATCH max_wait_ms=200 (default); time = process start -> all rows committed in the target"
echo "          MariaDB table: $MY_DDL"
echo "          PostgreSQL table: $PG_DDL$( ((PG_PK)) && echo ", PRIMARY KEY (id)")"
echo "baseline: kcat -P (librdkafka defaults: acks=all, not idempotent, no transactions); LOAD DATA LOCAL INFILE / \\copy of a TSV file into a table created LIKE the sink's"
echo
FMT='%-14s %-34s %9s %9s %10s %7s %8s %9s %8s %7s %7s %8s %6s\n'
# shellcheck disable=SC2059
printf "$FMT" phase run rows seconds rows/s ratio "cpu s" "peak RSS" "mariadb" "kafka" "pg" "others" load1
# shellcheck disable=SC2059
printf "$FMT" "" "" "" "" "" "" "(proc)" "(proc)" "cpu s" "cpu s" "cpu s" "cpu %" ""
declare -A BASE_RATE
for r in "${RESULTS[@]}"; do
  IFS='|' read -r ph what n secs cpu rss smy sk spg oth l1 note <<<"$r"
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  [[ $what == *baseline* ]] && BASE_RATE[$ph]=$rate
done
NOTES=()
for r in "${RESULTS[@]}"; do
  IFS='|' read -r ph what n secs cpu rss smy sk spg oth l1 note <<<"$r"
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  ratio=$(awk -v r="$rate" -v b="${BASE_RATE[$ph]:-0}" 'BEGIN { if (b > 0) printf "%.2f", r / b; else printf "-" }')
  rss_mb=$(awk -v k="$rss" 'BEGIN { printf "%.0f MiB", k / 1024 }')
  # shellcheck disable=SC2059
  printf "$FMT" "$ph" "$what" "$n" "$secs" "$rate" "$ratio" "$cpu" "$rss_mb" "$smy" "$sk" "$spg" "$oth" "$l1"
  [[ -n $note ]] && NOTES+=("$what: $note")
done
echo
echo "ratio = rows/s / the baseline's rows/s in the same phase (issue targets: sink (insert) >= 0.50, upsert >= 0.30)."
echo "upsert rows = upsert messages applied (half new keys, half updates of them), for sluice and the baseline alike."
echo "cpu s (proc) = user+sys CPU seconds of the measured process (sluice / kcat / mariadb / psql client);"
echo "mariadb/kafka/pg cpu s = CPU the servers used during the run (including other users' queries);"
echo "others cpu % = the rest of the machine's busy CPU (other users' builds and tests, and this script's"
echo "polling) as a share of all $NPROC CPUs during the run: high values mean noisy figures."
for n in "${NOTES[@]}"; do echo "note: $n"; done
