# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # variables are shared with scripts/bench.sh, which sources this
# `scripts/bench.sh binlog`: sourced by scripts/bench.sh after its common setup (options,
# helpers, the sluice binary in $BIN, cleanup trap); see the usage text there.

READER=$(example_bin binlog_read)

V_SERVER=$(my -N -e "SELECT VERSION()")
LAT_TOPIC=${PREFIX}lat

# ----------------------------------------------------------------------------- load

log "run $RUN_ID: $ROWS row changes on $FLAVOR (127.0.0.1:$MY_PORT); work dir $WORK"
CREATED_MY+=("$SRC_DB")
my -e "CREATE DATABASE \`$SRC_DB\`"
my "$SRC_DB" -e "
  CREATE TABLE narrow (
    id BIGINT PRIMARY KEY,
    a INT NOT NULL,
    b VARCHAR(32),
    c DATETIME(3)) ENGINE=InnoDB;
  CREATE TABLE lat (id BIGINT AUTO_INCREMENT PRIMARY KEY, t_us BIGINT NOT NULL) ENGINE=InnoDB;
  CREATE TABLE nums (n INT PRIMARY KEY) ENGINE=InnoDB;"
NUMS=$((TXN_ROWS > 100 ? TXN_ROWS : 100))
if [[ $FLAVOR == mariadb ]]; then
  my "$SRC_DB" -e "INSERT INTO nums SELECT seq FROM seq_1_to_$NUMS"
else
  my "$SRC_DB" -e "SET SESSION cte_max_recursion_depth = $((NUMS + 1));
    INSERT INTO nums WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $NUMS) SELECT n FROM s"
fi
read -r START_FILE START_POS < <(binlog_pos)
[[ -n $START_FILE && $START_POS =~ ^[0-9]+$ ]] || die "cannot read the binlog position ($STATUS_SQL)"
log "loading $ROWS rows into $SRC_DB.narrow from $START_FILE:$START_POS, $TXN_ROWS rows per transaction (not timed)"
awk -v rows="$ROWS" -v t="$TXN_ROWS" -v q="'" 'BEGIN {
  for (k = 0; k * t < rows; k++) {
    m = rows - k * t; if (m > t) m = t; b = k * t
    printf "INSERT INTO narrow (id, a, b, c) SELECT %d + n, ((%d + n) * 7919) %% 1000003, " \
      "CONCAT(%svalue-%s, LPAD((%d + n) %% 100000, 6, %s0%s)), " \
      "TIMESTAMP %s2024-01-01 00:00:00%s + INTERVAL ((%d + n) * 1001000) MICROSECOND " \
      "FROM nums WHERE n <= %d;\n", b, b, q, q, b, q, q, q, q, b, m
  } }' | my "$SRC_DB"
read -r END_FILE END_POS < <(binlog_pos)
got=$(my -N "$SRC_DB" -e "SELECT COUNT(*) FROM narrow")
((got == ROWS)) || die "loaded $got rows, want $ROWS"
BINLOG_MB=$(awk -v a="$START_POS" -v b="$END_POS" 'BEGIN { printf "%.1f MiB", (b - a) / 1048576 }')
[[ $START_FILE == "$END_FILE" ]] || BINLOG_MB="size unknown: the binlog rotated"

log "the load ends at $END_FILE:$END_POS"

# ----------------------------------------------------------------------------- read: baseline

settle
log "read baseline: examples/binlog_read from $START_FILE:$START_POS until $ROWS rows are decoded"
snapshot SB
timed_client "$READER" "mysql://root@127.0.0.1:$MY_PORT/" "$START_FILE" "$START_POS" "$SRC_DB" "$ROWS" \
  >"$WORK/reader.out"
snapshot SA
read_out=$(cat "$WORK/reader.out")
[[ $read_out == "rows=$ROWS "* ]] || die "binlog_read: $read_out"
record read "binlog_read (baseline)" "$T_SECS" "$T_TICKS" "$T_RSS" SB SA \
  "stream request -> last row ${read_out##*seconds=}s"

# ----------------------------------------------------------------------------- read: sluice

PORT=$(free_port)
SRC_NAME=bench-$RUN_ID
SRC_CFG=$WORK/source.toml
cat >"$SRC_CFG" <<EOF
[kafka]
bootstrap_servers = "$BOOTSTRAP"
${BENCH_KAFKA_EXTRA:-}

[http]
listen = "127.0.0.1:$PORT"

[[source]]
name = "$SRC_NAME"
kind = "binlog"
url = "mysql://root@127.0.0.1:$MY_PORT/$SRC_DB"
tables = ["narrow", "lat"]
topic_prefix = "$PREFIX"
snapshot_mode = "initial"
${MAX_BATCH_ROWS:+max_batch_rows = $MAX_BATCH_ROWS}
EOF
store_position "$SRC_NAME" "$START_FILE" "$START_POS"

settle
log "read: sluice binlog source -> topic ${PREFIX}narrow (until its committed position reaches $END_FILE:$END_POS)"
LOG=$WORK/source.log
CREATED_TOPICS=1
snapshot SB
start_sluice "$SRC_CFG" "$LOG"
wait_position "$END_FILE" "$END_POS"
snapshot SA
S_TICKS=$(proc_ticks "$SLUICE_PID")
S_RSS=$(vm_hwm_kb "$SLUICE_PID")
# Kafka transactions of the run and their mean duration (deliveries awaited + commit).
read -r TXNS TXN_MS < <({ curl -s -m 2 "http://127.0.0.1:$PORT/metrics" || true; } | awk '
  index($1, "sluice_source_transaction_commit_seconds_count") == 1 { n += $2 }
  index($1, "sluice_source_transaction_commit_seconds_sum") == 1 { s += $2 }
  END { printf "%d %.1f\n", n, (n ? 1000 * s / n : 0) }')
record read "sluice binlog source -> Kafka" "$(fsub "$T_DONE" "$T_START")" "$S_TICKS" "$S_RSS" SB SA \
  "$(steady_note "row read"); $TXNS Kafka transactions, each ${TXN_MS} ms on average (deliveries + commit)"
STEADY_SECS=$(fsub "$T_DONE" "$T_FIRST")

# Every row is in a committed transaction: dump them (key TAB value; not timed).
DUMP=$WORK/topic.dump
kcat -C -q -b "$BOOTSTRAP" -t "${PREFIX}narrow" -o beginning -e \
  -X isolation.level=read_committed -f '%k\t%s\n' >"$DUMP"
got=$(wc -l <"$DUMP")
((got == ROWS)) || die "topic ${PREFIX}narrow holds $got committed messages, want $ROWS"
MSG_BYTES=$(awk -v b="$(stat -c %s "$DUMP")" -v n="$ROWS" 'BEGIN { printf "%.0f", b / n - 2 }')

# The Kafka ceiling on this machine: kcat -P of the same messages (no binlog,
# no encoding, no transactions), to set beside the read baseline.
KCAT_TOPIC=${PREFIX}kcat
settle
log "kafka ceiling: kcat -P of the same $ROWS keys+values -> topic $KCAT_TOPIC"
snapshot SB
timed_client kcat -P -b "$BOOTSTRAP" -t "$KCAT_TOPIC" -K '\t' -l "$DUMP"
snapshot SA
record read "kcat -P of the same messages" "$T_SECS" "$T_TICKS" "$T_RSS" SB SA \
  "the most any source can publish here: librdkafka defaults, acks=all, no transactions"
got=$(kcat -Q -b "$BOOTSTRAP" -t "$KCAT_TOPIC:0:-1" | awk '{ print $NF }')
((got == ROWS)) || die "kcat topic holds $got messages, want $ROWS"
rm -f "$DUMP"

# ----------------------------------------------------------------------------- latency

LAT_PER=50
LAT_TICKS=$((LAT_RATE * LAT_SECS / LAT_PER))
LAT_N=$((LAT_TICKS * LAT_PER))
log "latency: $LAT_N rows at $LAT_RATE rows/s ($LAT_PER per statement) into $SRC_DB.lat; read_committed consumer"
my "$SRC_DB" -e "INSERT INTO lat (t_us) VALUES (0)" # the topic exists before the consumer starts
read -r W_FILE W_POS < <(binlog_pos)
wait_position "$W_FILE" "$W_POS"
LAT_OUT=$WORK/latency.out
# kcat -u writes each message at once; python stamps its arrival (epoch microseconds).
kcat -C -u -q -b "$BOOTSTRAP" -t "$LAT_TOPIC" -o beginning -X isolation.level=read_committed \
  -c $((LAT_N + 1)) -f '%T %s\n' 2>"$WORK/kcat-lat.err" > >(python3 -c '
import re, sys, time
pat = re.compile(rb"\"t_us\":(-?\d+)")
for line in sys.stdin.buffer:
    now = time.time_ns() // 1000
    m = pat.search(line)
    ts = line.split(b" ", 1)[0].decode()
    sys.stdout.write(f"{now} {ts} {m.group(1).decode() if m else -1}\n")
    sys.stdout.flush()
' >"$LAT_OUT") &
LAT_PID=$!
BG_PIDS+=("$LAT_PID")
deadline=$((SECONDS + 30))
until [[ -s $LAT_OUT ]]; do
  ((SECONDS < deadline)) || die "the latency consumer got nothing from $LAT_TOPIC in 30 s ($WORK/kcat-lat.err)"
  sleep 0.05
done
T_W0=$(now)
python3 -c '
import sys, time
per, ticks, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
stmt = ("INSERT INTO lat (t_us) SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) "
        f"FROM nums WHERE n <= {per};\n")
step = per / rate
t0 = time.monotonic()
for i in range(ticks):
    d = t0 + i * step - time.monotonic()
    if d > 0:
        time.sleep(d)
    sys.stdout.write(stmt)
    sys.stdout.flush()
' "$LAT_PER" "$LAT_TICKS" "$LAT_RATE" | my "$SRC_DB"
T_W1=$(now)
W_RATE=$(awk -v n="$LAT_N" -v a="$T_W0" -v b="$T_W1" 'BEGIN { printf "%.0f", n / (b - a) }')
deadline=$((SECONDS + 60))
while (($(wc -l <"$LAT_OUT") < LAT_N + 1)); do
  ((SECONDS < deadline)) || die "latency consumer: $(($(wc -l <"$LAT_OUT") - 1)) of $LAT_N rows after 60 s"
  sleep 0.1
done
wait "$LAT_PID" 2>/dev/null || true
sleep 0.2 # the stamper's last lines
LAT_STATS=$(python3 -c '
import sys
recv, ct = [], []
for line in open(sys.argv[1]):
    now, ts, t = (int(x) for x in line.split())
    if t > 0:
        recv.append((now - t) / 1000)
        ct.append((ts * 1000 - t) / 1000)
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]
for name, v in (("visible", recv), ("created", ct)):
    print(name, len(v), "%.1f %.1f %.1f" % (q(v, 0.5), q(v, 0.99), max(v)))
' "$LAT_OUT")
S_RSS_END=$(vm_hwm_kb "$SLUICE_PID")
finish_sluice

# ----------------------------------------------------------------------------- report

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OK=1
echo
echo "Sluice benchmark: binlog  (run $RUN_ID, sluice $REV, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine : $NPROC CPUs ($CPU_MODEL), ${MEM_GB} GiB RAM; load average at start $LOAD_START, at end $LOAD_END"
echo "servers : $FLAVOR $V_SERVER (127.0.0.1:$MY_PORT), Kafka ${V_KAFKA:-?} (KRaft, 1 node, topics 1 partition), kcat $V_KCAT"
echo "data    : $ROWS inserts into narrow (id BIGINT PK, a INT NOT NULL, b VARCHAR(32), c DATETIME(3)), $TXN_ROWS rows per"
echo "          transaction, $START_FILE:$START_POS -> $END_FILE:$END_POS (binlog: $BINLOG_MB);"
echo "          Connect JSON key+value ${MSG_BYTES} B/message on average"
echo "source  : kind=binlog delivery=exactly-once envelope=flat max_batch_rows=${MAX_BATCH_ROWS:-default}; resumes at the"
echo "          load's start from a stored offset; time = process start -> committed position past the load"
echo "baseline: examples/binlog_read: mysql_async binlog stream, rows events of the table decoded to row"
echo "          images and discarded; time = process start -> last row decoded"
echo
FMT='%-8s %-32s %9s %9s %10s %7s %8s %9s %8s %7s %7s %6s\n'
# shellcheck disable=SC2059
printf "$FMT" phase run rows seconds rows/s ratio "cpu s" "peak RSS" "$FLAVOR" "kafka" "others" load1
# shellcheck disable=SC2059
printf "$FMT" "" "" "" "" "" "" "(proc)" "(proc)" "cpu s" "cpu s" "cpu %" ""
BASE=0
for r in "${RESULTS[@]}"; do
  IFS='|' read -r ph what n secs cpu rss smy sk spg oth l1 note <<<"$r"
  [[ $what == *baseline* ]] && BASE=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
done
NOTES=()
for r in "${RESULTS[@]}"; do
  IFS='|' read -r ph what n secs cpu rss smy sk spg oth l1 note <<<"$r"
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  ratio=$(awk -v r="$rate" -v b="$BASE" 'BEGIN { if (b > 0) printf "%.2f", r / b; else printf "-" }')
  rss_mb=$(awk -v k="$rss" 'BEGIN { printf "%.0f MiB", k / 1024 }')
  # shellcheck disable=SC2059
  printf "$FMT" "$ph" "$what" "$n" "$secs" "$rate" "$ratio" "$cpu" "$rss_mb" "$smy" "$sk" "$oth" "$l1"
  [[ -n $note ]] && NOTES+=("$what: $note")
done
STEADY_RATIO=$(awk -v n="$ROWS" -v s="$STEADY_SECS" -v b="$BASE" 'BEGIN { if (s > 0 && b > 0) printf "%.2f", n / s / b; else printf "-" }')
echo
echo "ratio = rows/s / the baseline's rows/s (issue target: >= 0.50); from the first row read on: $STEADY_RATIO."
echo "The kcat -P row is not Sluice: it is what Kafka itself takes from one producer on this machine, so"
echo "its ratio bounds what any binlog source publishing these messages can reach here."
echo "peak RSS = VmHWM (issue target: < 100 MiB); sluice's after the latency run too: $(awk -v k="$S_RSS_END" 'BEGIN { printf "%.0f MiB", k / 1024 }')."
echo "cpu s (proc) = user+sys CPU seconds of the process; $FLAVOR/kafka cpu s = the servers' CPU meanwhile;"
echo "others cpu % = the rest of the machine's busy CPU as a share of all $NPROC CPUs: high values mean noisy figures."
for n in "${NOTES[@]}"; do echo "note: $n"; done
echo
echo "latency (writer: $LAT_N rows in $(fsub "$T_W1" "$T_W0") s = $W_RATE rows/s, $LAT_PER rows per transaction; issue target: p99 < 50 ms)"
printf '%-58s %7s %9s %9s %9s\n' "" messages "p50 ms" "p99 ms" "max ms"
while read -r name n p50 p99 max; do
  case $name in
    visible) what="row NOW(6) -> visible to a read_committed consumer" ;;
    created) what="row NOW(6) -> Kafka CreateTime (sluice produced it)" ;;
  esac
  printf '%-58s %7s %9s %9s %9s\n' "$what" "$n" "$p50" "$p99" "$max"
done <<<"$LAT_STATS"
