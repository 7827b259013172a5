# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # variables are shared with scripts/bench.sh, which sources this
# `scripts/bench.sh snapshot`: sourced by scripts/bench.sh after its common setup (options,
# helpers, the sluice binary in $BIN, cleanup trap); see the usage text there.
#
# The chunked, lock-free snapshot of the binlog source (issue 14), on the bench table of
# `debezium`/`converters` (id BIGINT PK, a INT, b VARCHAR(32), c DOUBLE, d DATETIME(3)):
#   baseline  examples/keyset_read: the same table read by a plain mysql_async client in
#             primary-key chunks of the same size (`WHERE id > ? ORDER BY id LIMIT n`), every
#             row decoded and discarded; timed from start to the last chunk.
#   small     sluice snapshots a copy of the first N/5 rows (bench_small);
#   large     sluice snapshots all N rows (bench);
#             each from process start until every row is visible to a read_committed consumer,
#             while a writer inserts --writer-rate rows/s (50 per transaction) into a second
#             captured table, a_lag (sorted first, so its own snapshot is empty and done before
#             the writer starts); a read_committed consumer stamps each of those rows on arrival:
#             commit to visible = the binlog stream's lag behind the server during the snapshot.
#   ceiling   kcat -P of the small run's messages (dumped from its topic): Kafka's share, not Sluice.
# Prints rows/s and its ratio to the baseline, CPU, peak RSS of both runs (it must not grow with
# the table), and p50/p99/max of the lag.

READER=$(example_bin keyset_read)

V_SERVER=$(my -N -e "SELECT VERSION()")
SMALL=$((ROWS / 5))
((SMALL > 0)) || die "--rows must be at least 5"
FETCH=10000 # sluice's default snapshot_fetch_rows; the baseline pages the same way
LAG_PER=50

log "run $RUN_ID: $ROWS and $SMALL rows on $FLAVOR (127.0.0.1:$MY_PORT); writer $WRITER_RATE rows/s; work dir $WORK"
create_bench_table
my "$SRC_DB" -e "
  CREATE TABLE bench_small LIKE bench;
  INSERT INTO bench_small SELECT * FROM bench WHERE id <= $SMALL;
  CREATE TABLE a_lag (id BIGINT AUTO_INCREMENT PRIMARY KEY, t_us BIGINT NOT NULL) ENGINE=InnoDB;"
CREATED_TOPICS=1

# ----------------------------------------------------------------------------- baseline

settle
log "baseline: keyset_read $SRC_DB.bench in chunks of $FETCH rows"
snapshot SB
timed_client "$READER" "mysql://root@127.0.0.1:$MY_PORT/$SRC_DB" bench id "$FETCH" >"$WORK/keyset.out"
snapshot SA
read_rows=$(sed -n 's/^rows=\([0-9]*\) .*/\1/p' "$WORK/keyset.out")
((read_rows == ROWS)) || die "keyset_read read ${read_rows:-?} rows, want $ROWS ($(cat "$WORK/keyset.out"))"
record baseline "keyset SELECT through mysql_async" "$T_SECS" "$T_TICKS" "$T_RSS" SB SA
BASE_SECS=$T_SECS

# ----------------------------------------------------------------------------- sluice

create_topic() {
  java -cp '/var/lib/sluice-test/kafka/libs/*' org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
    --create --topic "$1" --partitions 1 --replication-factor 1 >/dev/null
}

# snapshot_run NAME TABLE N: one source snapshotting TABLE (N rows) and a_lag, with the writer
# running from the first snapshot message until the last; records the run and its lag.
snapshot_run() {
  local run=$1 table=$2 n=$3 name=${PREFIX}$1 cfg=$WORK/$1.toml out=$WORK/$1.count
  local lag_out=$WORK/$1.lag stop=$WORK/$1.stop ticks rss written w_pid t_w0 t_w1 deadline
  local topic=$name.$SRC_DB.$table lag_topic=$name.$SRC_DB.a_lag
  my "$SRC_DB" -e "TRUNCATE TABLE a_lag"
  create_topic "$topic"
  create_topic "$lag_topic"
  count_topic "$topic" "$out"
  # kcat -u writes each message at once; python stamps its arrival (epoch microseconds).
  kcat -C -u -q -b "$BOOTSTRAP" -t "$lag_topic" -o beginning -X isolation.level=read_committed \
    -f '%s\n' 2>"$WORK/$run.kcat-lag.err" > >(python3 -c '
import re, sys, time
pat = re.compile(rb"\"t_us\":(-?\d+)")
for line in sys.stdin.buffer:
    now = time.time_ns() // 1000
    m = pat.search(line)
    sys.stdout.write(f"{now} {m.group(1).decode() if m else -1}\n")
    sys.stdout.flush()
' >"$lag_out") &
  BG_PIDS+=($!)
  cat >"$cfg" <<EOF
[kafka]
bootstrap_servers = "$BOOTSTRAP"
${BENCH_KAFKA_EXTRA:-}

[http]
listen = "127.0.0.1:$(free_port)"

[[source]]
name = "$name"
kind = "binlog"
url = "mysql://root@127.0.0.1:$MY_PORT/$SRC_DB"
tables = ["a_lag", "$table"]
server_name = "$name"
snapshot_fetch_rows = $FETCH
EOF
  BEFORE=0
  settle
  log "$run: sluice binlog source until $n snapshot rows of $table are visible in $topic"
  snapshot SB
  LOG=$WORK/$run.log
  T_START=$(now)
  "$BIN" run --config "$cfg" 2>>"$LOG" &
  TOOL_PID=$!
  SLUICE_PIDS+=("$TOOL_PID")
  # The writer starts with the snapshot's first message (a_lag, sorted first, is done by then).
  deadline=$((SECONDS + 120))
  until (($(visible "$out") > 0)); do
    kill -0 "$TOOL_PID" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "$run: sluice exited early (log $LOG)"; }
    ((SECONDS < deadline)) || die "$run: no snapshot message in 120 s (log $LOG)"
    sleep 0.02
  done
  t_w0=$(now)
  python3 -c '
import os, sys, time
per, rate, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
stmt = ("INSERT INTO a_lag (t_us) SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) "
        f"FROM nums WHERE n <= {per};\n")
step = per / rate
t0 = time.monotonic()
i = 0
while not os.path.exists(stop):
    d = t0 + i * step - time.monotonic()
    if d > 0:
        time.sleep(d)
    sys.stdout.write(stmt)
    sys.stdout.flush()
    i += 1
' "$LAG_PER" "$WRITER_RATE" "$stop" | my "$SRC_DB" &
  w_pid=$!
  BG_PIDS+=("$w_pid")
  wait_visible "$out" "$n"
  touch "$stop"
  wait "$w_pid" || die "$run: the writer failed"
  t_w1=$(now)
  snapshot SA
  ticks=$(proc_ticks "$TOOL_PID")
  rss=$(vm_hwm_kb "$TOOL_PID")
  written=$(my -N "$SRC_DB" -e "SELECT COUNT(*) FROM a_lag")
  deadline=$((SECONDS + 60))
  while (($(wc -l <"$lag_out") < written)); do
    ((SECONDS < deadline)) || die "$run: lag consumer has $(wc -l <"$lag_out") of $written writer rows after 60 s"
    sleep 0.1
  done
  stop_pid "$TOOL_PID"
  SLUICE_PIDS=()
  sleep 1
  (($(visible "$out") == n)) || die "$run: $(visible "$out") messages in $topic, want exactly $n"
  (($(wc -l <"$lag_out") == written)) || die "$run: $(wc -l <"$lag_out") messages in $lag_topic, want exactly $written"
  local saved=$ROWS
  ROWS=$n
  record "$run" "sluice chunked snapshot of $table" "$(fsub "$T_DONE" "$T_START")" "$ticks" "$rss" SB SA \
    "$(awk -v s="$T_START" -v f="$T_FIRST" 'BEGIN { printf "%.3f", f - s }')"
  ROWS=$saved
  LAG[$run]="$written $(fsub "$t_w1" "$t_w0") $(python3 -c '
import sys
v = sorted((int(a) - int(b)) / 1000 for a, b in (l.split() for l in open(sys.argv[1])) if int(b) > 0)
q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
print("%.1f %.1f %.1f" % (q(0.5), q(0.99), v[-1]) if v else "- - -")
' "$lag_out")"
}

declare -A LAG
snapshot_run small bench_small "$SMALL"
snapshot_run large bench "$ROWS"

# ----------------------------------------------------------------------------- Kafka ceiling

# kcat -P of the small run's messages (dumped from its topic): what one producer gets into Kafka
# on this machine, which bounds any source's rate (not Sluice).
DUMP=$WORK/small.dump
kcat -C -q -b "$BOOTSTRAP" -t "${PREFIX}small.$SRC_DB.bench_small" -X isolation.level=read_committed -o beginning -e \
  -f '%k\t%s\n' >"$DUMP"
(($(wc -l <"$DUMP") == SMALL)) || die "dumped $(wc -l <"$DUMP") messages of the small run, want $SMALL"
settle
log "ceiling: kcat -P of the small run's $SMALL messages -> ${PREFIX}kcat"
snapshot SB
timed_client kcat -P -b "$BOOTSTRAP" -t "${PREFIX}kcat" -K '\t' -l "$DUMP"
snapshot SA
saved=$ROWS
ROWS=$SMALL
record ceiling "kcat -P of the small run's messages" "$T_SECS" "$T_TICKS" "$T_RSS" SB SA
ROWS=$saved
rm -f "$DUMP"

# ----------------------------------------------------------------------------- report

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OK=1
echo
echo "Sluice benchmark: snapshot  (run $RUN_ID, sluice $REV, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine : $NPROC CPUs ($CPU_MODEL), ${MEM_GB} GiB RAM; load average at start $LOAD_START, at end $LOAD_END"
echo "servers : $V_SERVER (127.0.0.1:$MY_PORT), Kafka ${V_KAFKA:-?} (KRaft, 1 node, topics 1 partition)"
echo "data    : bench (id BIGINT PK, a INT NOT NULL, b VARCHAR(32), c DOUBLE, d DATETIME(3)), $ROWS rows;"
echo "          bench_small: its first $SMALL rows"
echo "sluice  : binlog source, chunked lock-free snapshot (snapshot_locking = none, read-only watermarks),"
echo "          snapshot_fetch_rows = $FETCH, flat envelope, JSON, exactly-once; time = process start -> every"
echo "          snapshot row visible to a read_committed consumer, a $WRITER_RATE rows/s writer running meanwhile"
echo "baseline: examples/keyset_read, SELECT * ... WHERE id > ? ORDER BY id LIMIT $FETCH through mysql_async"
echo
FMT='%-9s %-38s %9s %8s %9s %6s %7s %8s %9s %7s %7s\n'
# shellcheck disable=SC2059
printf "$FMT" run what rows seconds rows/s ratio "cpu s" "cpu s/" "peak RSS" "first" others
# shellcheck disable=SC2059
printf "$FMT" "" "" "" "" "" "" "(proc)" "1M rows" "(proc)" "msg s" "cpu %"
BASE_RATE=$(awk -v n="$ROWS" -v s="$BASE_SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
declare -A RSS_OF
for r in "${RESULTS[@]}"; do
  IFS='|' read -r run what n secs cpu rss smy sk spg oth l1 note <<<"$r"
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  RSS_OF[$run]=$rss
  # shellcheck disable=SC2059
  printf "$FMT" "$run" "$what" "$n" "$secs" "$rate" \
    "$(awk -v r="$rate" -v b="$BASE_RATE" 'BEGIN { printf "%.2f", (b > 0 ? r / b : 0) }')" "$cpu" \
    "$(awk -v c="$cpu" -v n="$n" 'BEGIN { printf "%.1f", c * 1000000 / n }')" \
    "$(awk -v k="$rss" 'BEGIN { printf "%.0f MiB", k / 1024 }')" "${note:--}" "$oth"
done
echo
echo "ratio = rows/s / the baseline's rows/s (issue 14 target: >= 0.5); the ceiling row is Kafka's share of"
echo "the same ratio on this machine (kcat -P, librdkafka defaults, no transactions), not Sluice. peak RSS = VmHWM; $ROWS rows vs $SMALL:"
awk -v a="${RSS_OF[large]}" -v b="${RSS_OF[small]}" 'BEGIN {
  printf "  %.0f MiB vs %.0f MiB (x%.2f; the target: it does not grow with the table)\n", a / 1024, b / 1024, (b > 0 ? a / b : 0) }'
echo "binlog lag during the snapshot (writer rows: commit -> visible to a read_committed consumer; target p99 < 1000 ms):"
for run in small large; do
  read -r w secs p50 p99 mx <<<"${LAG[$run]}"
  printf "  %-6s %7s rows in %7s s (%s rows/s): p50 %s ms, p99 %s ms, max %s ms\n" "$run" "$w" "$secs" \
    "$(awk -v n="$w" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')" "$p50" "$p99" "$mx"
done
