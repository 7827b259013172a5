# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # variables are shared with scripts/bench.sh, which sources this
# `scripts/bench.sh sinks`: sourced by scripts/bench.sh after its common setup (options,
# helpers, the sluice binary in $BIN, cleanup trap); see the usage text there.
#
# Sinks across daemons: N Connect JSON messages (the narrow rows of `poll`: id BIGINT key,
# a INT, b VARCHAR(32), c Timestamp) are generated into a file and produced with kcat into a
# 6-partition topic (not timed). Then, for each insert mode of --sink-modes, one, two and three
# sluice daemons (own state_dir, own HTTP port, the same [[sink]] name, so one consumer group)
# apply the topic into a fresh PostgreSQL database each, timed from the start of the first
# process until the sum of the daemons' sluice_sink_rows_applied_total reaches N (every row
# committed with its offsets); the target is then checked (count, min, max, sum a).
#
# This machine is small and shared: more daemons compete for the same cores and the same
# PostgreSQL server, so the ratio to one daemon is what this machine gives, not a property
# of Sluice; the load average and the other processes' CPU are printed beside each figure.

SINK_PARTITIONS=6
SINK_HEARTBEAT_MS=500
SINK_COUNTS=(1 2 3)
SINK_PG_DBS=()
SINK_DAEMON_PIDS=()

sinks_cleanup() {
  local pid db
  for pid in "${SINK_DAEMON_PIDS[@]}"; do stop_pid "$pid"; done
  ((KEEP)) && return 0
  for db in "${SINK_PG_DBS[@]}"; do
    pg -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" 2>/dev/null \
      || log "could not drop PostgreSQL database $db"
  done
}
# Runs before bench.sh's own cleanup, which sees the script's exit status unchanged.
trap 'rc=$?; sinks_cleanup; (exit $rc); cleanup' EXIT

log "run $RUN_ID: $ROWS messages, $SINK_PARTITIONS partitions; daemons ${SINK_COUNTS[*]}; modes $SINK_MODES; work dir $WORK"

# ----------------------------------------------------------------------------- data

# key TAB value per line, the Connect JSON the poll source writes for the same rows.
DUMP=$WORK/sinks.dump
log "generating $ROWS Connect JSON messages (not timed)"
awk -v n="$ROWS" -v topic="$TOPIC" 'BEGIN {
  ks = "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"}],\"optional\":false,\"name\":\"" topic ".Key\"},\"payload\":{\"id\":"
  vs = "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"}," \
       "{\"type\":\"int32\",\"optional\":false,\"field\":\"a\"},{\"type\":\"string\",\"optional\":true,\"field\":\"b\"}," \
       "{\"type\":\"int64\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Timestamp\",\"version\":1,\"field\":\"c\"}]," \
       "\"optional\":false,\"name\":\"narrow\"},\"payload\":{\"id\":"
  t0 = 1704067200000 # 2024-01-01 00:00:00 UTC in ms
  for (id = 1; id <= n; id++) {
    printf "%s%d}}\t%s%d,\"a\":%d,\"b\":\"value-%06d\",\"c\":%d}}\n", ks, id, vs, id, (id * 7919) % 1000003, id % 100000, t0 + id * 1001
  }
}' >"$DUMP"
# (count, min id, max id, sum a) every target must end with.
WANT=$(awk -v n="$ROWS" 'BEGIN { for (id = 1; id <= n; id++) s += (id * 7919) % 1000003; printf "%d 1 %d %d", n, n, s }')
DUMP_MB=$(awk -v b="$(stat -c %s "$DUMP")" 'BEGIN { printf "%.1f", b / 1048576 }')
MSG_BYTES=$(awk -v b="$(stat -c %s "$DUMP")" -v n="$ROWS" 'BEGIN { printf "%.0f", b / n - 2 }')

CREATED_TOPICS=1
java -cp '/var/lib/sluice-test/kafka/libs/*' org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
  --create --topic "$TOPIC" --partitions "$SINK_PARTITIONS" --replication-factor 1 >/dev/null \
  || die "could not create topic $TOPIC"
log "producing $ROWS messages ($DUMP_MB MiB) -> $TOPIC with kcat (not timed)"
kcat -P -b "$BOOTSTRAP" -t "$TOPIC" -K '\t' -l "$DUMP"
QARGS=()
for ((p = 0; p < SINK_PARTITIONS; p++)); do QARGS+=(-t "$TOPIC:$p:-1"); done
SPREAD=$(kcat -Q -b "$BOOTSTRAP" "${QARGS[@]}" | sort -t'[' -k2 -n \
  | awk '{ n += $NF; printf "%s%d", (NR > 1 ? "/" : ""), $NF } END { printf " (%d)", n }')
total=${SPREAD##*(}
total=${total%)}
((total == ROWS)) || die "topic $TOPIC holds $total messages over its partitions ($SPREAD), want $ROWS"
log "messages per partition: $SPREAD"

# ----------------------------------------------------------------------------- runs

# Sums metric $1 over the daemons' ports (a daemon not answering yet counts 0); with
# `each`, prints the daemons' values joined by / instead.
metric_sum() {
  local port s=0 v each=()
  for port in "${RUN_PORTS[@]}"; do
    v=$({ curl -s -m 2 "http://127.0.0.1:$port/metrics" 2>/dev/null || true; } \
      | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d", s }')
    s=$((s + v))
    each+=("$v")
  done
  if [[ ${2:-} == each ]]; then
    local IFS=/
    echo "${each[*]}"
  else
    echo "$s"
  fi
}

# sinks_run MODE COUNT: COUNT daemons of one sink group apply the topic into a fresh database.
sinks_run() {
  local mode=$1 count=$2 i db=bench_${RUN_ID}_${mode}_$2 name=bench-$RUN_ID-$1-$2 port cfg
  local deadline v ticks=0 cpus=() rsss=() errs restarts got pid shares
  SINK_PG_DBS+=("$db")
  pg -d postgres -c "CREATE DATABASE \"$db\""
  RUN_PORTS=()
  local cfgs=()
  for ((i = 1; i <= count; i++)); do
    port=$(free_port)
    RUN_PORTS+=("$port")
    cfg=$WORK/$mode-$count-$i.toml
    mkdir -p "$WORK/state-$mode-$count-$i"
    cat >"$cfg" <<EOF
state_dir = "$WORK/state-$mode-$count-$i"

[kafka]
bootstrap_servers = "$BOOTSTRAP"

[kafka.properties]
# A member learns of a rebalance at its next heartbeat (librdkafka default 3 s): a daemon that
# joins would idle that long while the first one applies everything.
"heartbeat.interval.ms" = "$SINK_HEARTBEAT_MS"

[http]
listen = "127.0.0.1:$port"

[[sink]]
name = "$name"
url = "postgres://postgres@127.0.0.1:5432/$db"
topics = ["$TOPIC"]
table_name_format = "narrow"
auto_create = true
insert_mode = "$mode"
pk_mode = "$PK_MODE"
batch_size = $SINK_BATCH
EOF
    cfgs+=("$cfg")
  done
  settle
  log "$mode: $count daemon(s), sink group $name -> postgres $db"
  snapshot SB
  T_START=$(now)
  SINK_DAEMON_PIDS=()
  for ((i = 1; i <= count; i++)); do
    "$BIN" run --config "${cfgs[i - 1]}" 2>"$WORK/$mode-$count-$i.log" &
    SINK_DAEMON_PIDS+=($!)
  done
  T_FIRST=
  deadline=$((SECONDS + TIMEOUT))
  while :; do
    for ((i = 0; i < count; i++)); do
      kill -0 "${SINK_DAEMON_PIDS[i]}" 2>/dev/null && continue
      tail -n 30 "$WORK/$mode-$count-$((i + 1)).log" >&2 || true
      die "daemon $((i + 1)) of $count exited before the run finished; log above"
    done
    v=$(metric_sum sluice_sink_rows_applied_total)
    [[ -z $T_FIRST ]] && ((v > 0)) && T_FIRST=$(now)
    if ((v >= ROWS)); then
      T_DONE=$(now)
      break
    fi
    ((SECONDS <= deadline)) || die "timeout after ${TIMEOUT}s: $v of $ROWS rows applied by $count daemon(s)"
    sleep 0.1
  done
  snapshot SA
  errs=$(metric_sum sluice_pipeline_errors_total)
  restarts=$(metric_sum sluice_pipeline_restarts_total)
  shares=$(metric_sum sluice_sink_rows_applied_total each)
  for pid in "${SINK_DAEMON_PIDS[@]}"; do
    v=$(proc_ticks "$pid")
    ticks=$((ticks + v))
    cpus+=("$(awk -v t="$v" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')")
    rsss+=("$(awk -v k="$(vm_hwm_kb "$pid")" 'BEGIN { printf "%.0f", k / 1024 }')")
  done
  for pid in "${SINK_DAEMON_PIDS[@]}"; do
    stop_pid "$pid"
    ((STOP_RC == 0)) || log "WARNING: a daemon exited with status $STOP_RC on SIGTERM (logs $WORK/$mode-$count-*.log)"
  done
  SINK_DAEMON_PIDS=()
  ((errs == 0 && restarts == 0)) || log "WARNING: $errs pipeline errors, $restarts restarts during the run (logs $WORK/$mode-$count-*.log)"
  got=$(pg -d "$db" -tA -F ' ' -c "SELECT COUNT(*), MIN(id), MAX(id), SUM(a) FROM narrow")
  [[ $got == "$WANT" ]] || die "$mode, $count daemon(s): target has (count, min, max, sum a) = ($got), want ($WANT)"
  record "$mode" "$count" "$(fsub "$T_DONE" "$T_START")" "$ticks" 0 SB SA \
    "$(
      IFS=/
      echo "${cpus[*]}|${rsss[*]}|$(fsub "${T_FIRST:-$T_DONE}" "$T_START")|$shares"
    )"
}

for mode in insert upsert; do
  [[ $SINK_MODES == *$mode* ]] || continue
  for count in "${SINK_COUNTS[@]}"; do sinks_run "$mode" "$count"; done
done

# ----------------------------------------------------------------------------- report

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OK=1
echo
echo "Sluice benchmark: sinks  (run $RUN_ID, sluice $REV, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine : $NPROC CPUs ($CPU_MODEL), ${MEM_GB} GiB RAM; load average at start $LOAD_START, at end $LOAD_END"
echo "servers : PostgreSQL $V_PG, Kafka ${V_KAFKA:-?} (KRaft, 1 node), kcat $V_KCAT"
echo "data    : $ROWS Connect JSON messages (key {id}, value id BIGINT, a INT, b VARCHAR(32), c Timestamp),"
echo "          ${MSG_BYTES} B/message on average, in a $SINK_PARTITIONS-partition topic (messages per partition $SPREAD)"
echo "sink    : one [[sink]] name (one consumer group) in every daemon of a run, own state_dir and HTTP port;"
echo "          insert_mode=<mode> pk_mode=$PK_MODE batch_size=$SINK_BATCH auto_create=true; a fresh PostgreSQL database per run;"
echo "          [kafka.properties] heartbeat.interval.ms=$SINK_HEARTBEAT_MS (librdkafka default 3000: a joining daemon waits that long)"
echo "time    : start of the first daemon -> the daemons' sluice_sink_rows_applied_total sum reaches $ROWS"
echo "          (every row committed with its offsets; the table is then checked: count, min, max, sum)"
echo
FMT='%-7s %7s %9s %8s %9s %6s %-23s %-15s %-12s %6s %6s %6s %6s\n'
# shellcheck disable=SC2059
printf "$FMT" mode daemons rows seconds rows/s ratio "rows applied" "cpu s" "peak RSS MiB" "first" "pg" "others" load1
# shellcheck disable=SC2059
printf "$FMT" "" "" "" "" "" "to 1" "(per daemon)" "(per daemon)" "(per daemon)" "row s" "cpu s" "cpu %" ""
declare -A ONE_RATE
for r in "${RESULTS[@]}"; do
  IFS='|' read -r ph count n secs cpu rss smy sk spg oth l1 cpus rsss first shares <<<"$r"
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  ((count == 1)) && ONE_RATE[$ph]=$rate
  ratio=$(awk -v r="$rate" -v b="${ONE_RATE[$ph]:-0}" 'BEGIN { if (b > 0) printf "%.2f", r / b; else printf "-" }')
  # shellcheck disable=SC2059
  printf "$FMT" "$ph" "$count" "$n" "$secs" "$rate" "$ratio" "$shares" "$cpus" "$rsss" "$first" "$spg" "$oth" "$l1"
done
echo
echo "ratio to 1 = rows/s / one daemon's rows/s in the same mode of this run."
echo "rows applied = each daemon's sluice_sink_rows_applied_total: how the group shared the work. The"
echo "daemons start one after the other; the first is given all partitions until the others have"
echo "joined (an eager rebalance at its next heartbeat and batch end), so a small N is mostly startup."
echo "cpu s = user+sys CPU seconds of each daemon; peak RSS = its VmHWM; first row s = seconds from"
echo "the first start to the first committed batch (group join and assignment included);"
echo "pg cpu s = CPU of the PostgreSQL server during the run; others cpu % = the rest of the machine's"
echo "busy CPU (other users' builds and tests, this script's polling) as a share of all $NPROC CPUs."
echo "On this $NPROC-CPU machine the daemons of a run share the same cores and the same PostgreSQL server"
echo "(and Kafka broker): more daemons add consumers and connections, not CPUs, so a ratio near or below"
echo "1.00 here measures the machine; on separate hosts each daemon brings its own cores."
