# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # variables are shared with scripts/bench.sh, which sources this
# `scripts/bench.sh debezium`: sourced by scripts/bench.sh after its common setup (options,
# helpers, the sluice binary in $BIN, cleanup trap); see the usage text there.
#
# Debezium's MySQL connector under Kafka Connect standalone, then Sluice's binlog source, one
# after the other on the same MySQL table and broker, both writing Debezium's envelope through
# Connect's JsonConverter (schemas.enable=true):
#   snapshot  N rows already in the table; from process start until N messages are visible to a
#             read_committed consumer of the tool's topic.
#   catch-up  the tool stopped, N more rows inserted (1000 per transaction); from process start
#             until all 2N messages are visible.
# Debezium snapshots first, then Sluice; then the N new rows; then Debezium catches up, then
# Sluice: each tool reads exactly the same rows in each phase.

DBZ_VERSION=${SLUICE_DEBEZIUM_VERSION:-3.6.1.Final}
CONNECT_VERSION=${SLUICE_CONNECT_VERSION:-4.1.1}
SERVICES_DIR=${SLUICE_SERVICES_DIR:-/var/lib/sluice-test}
DBZ_LIBS=$SERVICES_DIR/debezium-$DBZ_VERSION-connect-$CONNECT_VERSION/libs
KAFKA_LIBS=$SERVICES_DIR/kafka/libs

for tool in java mvn; do
  command -v "$tool" >/dev/null || die "$tool not found (OpenJDK 17 and Maven fetch and run Kafka Connect)"
done
if [[ ! -f $DBZ_LIBS/.complete ]]; then
  log "fetching Kafka Connect $CONNECT_VERSION and Debezium $DBZ_VERSION from Maven Central (once) into $DBZ_LIBS"
  rm -rf "$DBZ_LIBS.tmp"
  mvn -B -q -f "$ROOT/scripts/debezium/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$DBZ_LIBS.tmp" -Dkafka.version="$CONNECT_VERSION" -Ddebezium.version="$DBZ_VERSION" \
    >"$WORK/mvn.log" 2>&1 || { tail -n 30 "$WORK/mvn.log" >&2; die "mvn could not fetch Debezium $DBZ_VERSION"; }
  rm -rf "$DBZ_LIBS"
  mv "$DBZ_LIBS.tmp" "$DBZ_LIBS"
  touch "$DBZ_LIBS/.complete"
fi

V_SERVER=$(my -N -e "SELECT VERSION()")
TABLE=bench
DBZ_TOPIC=${PREFIX}dbz.$SRC_DB.$TABLE
SLUICE_TOPIC=${PREFIX}sluice.$SRC_DB.$TABLE
CREATED_TOPICS=1

# ----------------------------------------------------------------------------- load

log "run $RUN_ID: $ROWS rows on MySQL (127.0.0.1:$MY_PORT); work dir $WORK"
create_bench_table

# Both topics exist before either tool starts, so the counting consumers can subscribe first.
java -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
  --create --topic "$DBZ_TOPIC" --partitions 1 --replication-factor 1 >/dev/null
java -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
  --create --topic "$SLUICE_TOPIC" --partitions 1 --replication-factor 1 >/dev/null

# One read_committed consumer per topic, a line per message, for the whole run.
count_topic "$DBZ_TOPIC" "$WORK/dbz.count"
count_topic "$SLUICE_TOPIC" "$WORK/sluice.count"


# ----------------------------------------------------------------------------- the tools

DBZ_DIR=$WORK/connect
# The connector is on the worker's classpath; plugin.path is an empty directory (an empty value
# would scan the working directory) and plugins are found through their ServiceLoader manifests.
mkdir -p "$DBZ_DIR/plugins"
DBZ_PORT=$(free_port)
cat >"$DBZ_DIR/worker.properties" <<EOF
bootstrap.servers=$BOOTSTRAP
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
offset.storage.file.filename=$DBZ_DIR/offsets.dat
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:$DBZ_PORT
plugin.path=$DBZ_DIR/plugins
plugin.discovery=service_load
EOF
cat >"$DBZ_DIR/mysql.properties" <<EOF
name=${PREFIX}dbz
connector.class=io.debezium.connector.mysql.MySqlConnector
tasks.max=1
database.hostname=127.0.0.1
database.port=$MY_PORT
database.user=root
database.password=
database.server.id=$((5400 + RANDOM % 1000))
topic.prefix=${PREFIX}dbz
database.include.list=$SRC_DB
table.include.list=$SRC_DB.$TABLE
schema.history.internal=io.debezium.storage.file.history.FileSchemaHistory
schema.history.internal.file.filename=$DBZ_DIR/history.dat
schema.history.internal.store.only.captured.databases.ddl=true
schema.history.internal.store.only.captured.tables.ddl=true
snapshot.mode=initial
EOF
cat >"$DBZ_DIR/log4j2.properties" <<EOF
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=%d %p %c{1} %m%n
logger.dbz.name=io.debezium
logger.dbz.level=INFO
EOF

# source_config NAME: a daemon config with one binlog source NAME (also its server_name, so
# its topic is NAME.$SRC_DB.$TABLE) on the benchmark table, Debezium's envelope.
source_config() {
  cat <<EOF
[kafka]
bootstrap_servers = "$BOOTSTRAP"
${BENCH_KAFKA_EXTRA:-}

[http]
listen = "127.0.0.1:$(free_port)"

[[source]]
name = "$1"
kind = "binlog"
url = "mysql://root@127.0.0.1:$MY_PORT/$SRC_DB"
tables = ["$TABLE"]
server_name = "$1"
envelope = "debezium"
snapshot_mode = "initial"
EOF
}
SRC_CFG=$WORK/source.toml
source_config "${PREFIX}sluice" >"$SRC_CFG"

start_tool() { # start_tool dbz|sluice: sets TOOL_PID, T_START
  T_START=$(now)
  case $1 in
    dbz)
      LOG=$DBZ_DIR/connect.log
      java -Dlog4j2.configurationFile="$DBZ_DIR/log4j2.properties" -cp "$DBZ_LIBS/*" \
        org.apache.kafka.connect.cli.ConnectStandalone "$DBZ_DIR/worker.properties" "$DBZ_DIR/mysql.properties" \
        >>"$LOG" 2>&1 &
      TOOL_PID=$!
      ;;
    sluice)
      LOG=$WORK/source.log
      "$BIN" run --config "$SRC_CFG" 2>>"$LOG" &
      TOOL_PID=$!
      ;;
  esac
  SLUICE_PIDS+=("$TOOL_PID") # stopped by the cleanup trap whatever happens
}

# Runs one timed phase of one tool and records it.
phase() { # phase PHASE dbz|sluice WHAT WANT
  local out=$WORK/$2.count ticks rss
  BEFORE=$(visible "$out")
  settle
  log "$1: $3 until $4 messages are visible in its topic"
  snapshot SB
  start_tool "$2"
  wait_visible "$out" "$4"
  snapshot SA
  ticks=$(proc_ticks "$TOOL_PID")
  rss=$(vm_hwm_kb "$TOOL_PID")
  stop_pid "$TOOL_PID"
  local keep=() p
  for p in "${SLUICE_PIDS[@]}"; do [[ $p == "$TOOL_PID" ]] || keep+=("$p"); done
  SLUICE_PIDS=("${keep[@]}")
  sleep 1 # late duplicates, if any, show in the count check below
  (($(visible "$out") == $4)) || die "$3: $(visible "$out") messages in its topic, want exactly $4"
  record "$1" "$3" "$(fsub "$T_DONE" "$T_START")" "$ticks" "$rss" SB SA \
    "$(awk -v s="$T_START" -v f="$T_FIRST" 'BEGIN { printf "%.3f", f - s }')"
}

[[ -z $ONLY || $ONLY == sluice || $ONLY == dbz ]] || die "--only must be sluice or dbz"
runs() { [[ -z $ONLY || $ONLY == "$1" ]]; }
runs dbz && phase snapshot dbz "Debezium $DBZ_VERSION (Connect)" "$ROWS"
runs sluice && phase snapshot sluice "Sluice binlog source" "$ROWS"
log "inserting $ROWS more rows, 1000 per transaction (not timed)"
load_rows "$ROWS" "$ROWS"
runs dbz && phase catch-up dbz "Debezium $DBZ_VERSION (Connect)" $((2 * ROWS))
runs sluice && phase catch-up sluice "Sluice binlog source" $((2 * ROWS))

# Source and sink in one daemon (issue 16's second memory figure): a fresh Sluice source
# snapshots all 2N rows into its own topic while a sink in the same process applies that topic
# to PostgreSQL (upsert, pk_mode record_key); from process start until the 2N rows are in the
# target table.
both_phase() {
  local topic=${PREFIX}both.$SRC_DB.$TABLE cfg=$WORK/both.toml ticks rss n keep=() p
  local want=$((2 * ROWS)) deadline=$((SECONDS + TIMEOUT)) rows=$ROWS
  CREATED_PG=1
  pg -d postgres -c "CREATE DATABASE \"$SINK_DB\"" >/dev/null
  source_config "${PREFIX}both" >"$cfg"
  cat >>"$cfg" <<EOF

[[sink]]
name = "${PREFIX}both-sink"
url = "postgres://postgres@127.0.0.1:5432/$SINK_DB"
topics = ["$topic"]
table_name_format = "bench_copy"
auto_create = true
insert_mode = "upsert"
pk_mode = "record_key"
EOF
  settle
  log "source+sink: one Sluice daemon snapshots $want rows and applies them to PostgreSQL"
  snapshot SB
  LOG=$WORK/both.log
  T_START=$(now)
  "$BIN" run --config "$cfg" 2>>"$LOG" &
  TOOL_PID=$!
  SLUICE_PIDS+=("$TOOL_PID")
  while :; do
    kill -0 "$TOOL_PID" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "pid $TOOL_PID exited early (log $LOG)"; }
    n=$(pg -d "$SINK_DB" -tA -c "SELECT count(*) FROM bench_copy" 2>/dev/null || echo 0)
    ((${n:-0} >= want)) && break
    ((SECONDS <= deadline)) || { tail -n 30 "$LOG" >&2; die "timeout after ${TIMEOUT}s: $n of $want rows applied (log $LOG)"; }
    sleep 0.2
  done
  T_DONE=$(now)
  snapshot SA
  ticks=$(proc_ticks "$TOOL_PID")
  rss=$(vm_hwm_kb "$TOOL_PID")
  stop_pid "$TOOL_PID"
  for p in "${SLUICE_PIDS[@]}"; do [[ $p == "$TOOL_PID" ]] || keep+=("$p"); done
  SLUICE_PIDS=("${keep[@]}")
  ROWS=$want
  record "src+sink" "Sluice source + PostgreSQL sink" "$(fsub "$T_DONE" "$T_START")" "$ticks" "$rss" SB SA "-"
  ROWS=$rows
}
runs sluice && both_phase

# The last message of each topic is the same row (the highest id), both in Debezium's envelope.
# (-o -5: the last offsets of Sluice's topic are transaction markers, not messages.)
last_row() { kcat -C -q -b "$BOOTSTRAP" -t "$1" -X isolation.level=read_committed -o -5 -e \
  | tail -n 1 | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["payload"]["op"], m["payload"]["after"]["id"])'; }
if [[ -z $ONLY ]]; then
  DBZ_LAST=$(last_row "$DBZ_TOPIC")
  SLUICE_LAST=$(last_row "$SLUICE_TOPIC")
  [[ $DBZ_LAST == "$SLUICE_LAST" && $DBZ_LAST == "c $((2 * ROWS))" ]] \
    || die "last messages differ: Debezium '$DBZ_LAST', Sluice '$SLUICE_LAST' (want 'c $((2 * ROWS))')"
else
  LAST=$(last_row "$([[ $ONLY == dbz ]] && echo "$DBZ_TOPIC" || echo "$SLUICE_TOPIC")")
  [[ $LAST == "c $((2 * ROWS))" ]] || die "last message '$LAST', want 'c $((2 * ROWS))'"
fi
MSG_BYTES=$(kcat -C -q -b "$BOOTSTRAP" -t "$([[ $ONLY == dbz ]] && echo "$DBZ_TOPIC" || echo "$SLUICE_TOPIC")" -o -5 -e -f '%S\n' | tail -n 1)

# ----------------------------------------------------------------------------- report

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OK=1
echo
echo "Sluice benchmark: debezium  (run $RUN_ID, sluice $REV, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine : $NPROC CPUs ($CPU_MODEL), ${MEM_GB} GiB RAM; load average at start $LOAD_START, at end $LOAD_END"
echo "servers : MySQL $V_SERVER (127.0.0.1:$MY_PORT), Kafka ${V_KAFKA:-?} (KRaft, 1 node, topics 1 partition)"
echo "data    : $TABLE (id BIGINT PK, a INT NOT NULL, b VARCHAR(32), c DOUBLE, d DATETIME(3)); snapshot of $ROWS rows,"
echo "          then $ROWS more inserted (1000 per transaction) while the tool is stopped; one message a row,"
echo "          Debezium envelope, Connect JsonConverter with schemas ($MSG_BYTES B value on the last message)"
echo "tools   : Debezium's MySQL connector $DBZ_VERSION under Kafka Connect $CONNECT_VERSION standalone (OpenJDK"
echo "          $(java -version 2>&1 | awk -F'"' '/version/ { print $2; exit }'), defaults; file offsets and schema history);"
echo "          Sluice binlog source (envelope = \"debezium\", exactly-once, defaults)"
echo "time    : process start -> every message of the phase visible to a read_committed consumer"
echo
FMT='%-9s %-34s %9s %8s %9s %7s %8s %9s %8s %8s %7s %6s\n'
# shellcheck disable=SC2059
printf "$FMT" phase tool rows seconds rows/s "cpu s" "cpu s/" "peak RSS" "first" mysql kafka others
# shellcheck disable=SC2059
printf "$FMT" "" "" "" "" "" "(proc)" "1M rows" "(proc)" "msg s" "cpu s" "cpu s" "cpu %"
declare -A RATE CPUM RSSK
for r in "${RESULTS[@]}"; do
  IFS='|' read -r ph what n secs cpu rss smy sk spg oth l1 note <<<"$r"
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  cpum=$(awk -v c="$cpu" -v n="$n" 'BEGIN { printf "%.1f", c * 1000000 / n }')
  key="$ph/${what%% *}"
  RATE[$key]=$rate
  CPUM[$key]=$cpum
  RSSK[$key]=$rss
  # shellcheck disable=SC2059
  printf "$FMT" "$ph" "$what" "$n" "$secs" "$rate" "$cpu" "$cpum" \
    "$(awk -v k="$rss" 'BEGIN { printf "%.0f MiB", k / 1024 }')" "$note" "$smy" "$sk" "$oth"
done
echo
echo "rows = the phase's new rows; cpu s = user+sys CPU seconds of the tool's process from start to the"
echo "last message (the JVM's included); first msg s = process start -> first message visible."
[[ $ONLY == dbz ]] || echo "src+sink = one Sluice daemon running a fresh source (snapshot of all rows) and a sink applying its
topic to PostgreSQL, until every row is in the target table; its peak RSS is issue 16's source+sink figure."
[[ -z $ONLY ]] && echo "ratios (Sluice against Debezium, same run):"
[[ -n $ONLY ]] || for ph in snapshot catch-up; do
  awk -v ph="$ph" -v rs="${RATE[$ph/Sluice]}" -v rd="${RATE[$ph/Debezium]}" \
    -v cs="${CPUM[$ph/Sluice]}" -v cd="${CPUM[$ph/Debezium]}" \
    -v ms="${RSSK[$ph/Sluice]}" -v md="${RSSK[$ph/Debezium]}" 'BEGIN {
      printf "  %-9s rows/s %.1fx   CPU per row 1/%.1f   peak RSS 1/%.1f\n", ph,
        (rd > 0 ? rs / rd : 0), (cs > 0 ? cd / cs : 0), (ms > 0 ? md / ms : 0) }'
done
