# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # variables are shared with scripts/bench.sh, which sources this
# `scripts/bench.sh scaling`: sourced by scripts/bench.sh after its common setup (options,
# helpers, the sluice binary in $BIN, cleanup trap); see the usage text there.
#
# Four loads, each written into the binlog first (not timed), then streamed by a fresh sluice
# binlog source resuming at the load's start, from process start until its committed position
# passes the load's end:
#   narrow  N rows of the 5-column bench table (BIGINT, INT, VARCHAR(32), DOUBLE, DATETIME(3))
#   wide    N/4 rows of a 50-column table (that table's 5 types, ten times each)
#   16kb    N/40 rows of about 16 KB (id, INT, a 16,000-character VARCHAR)
#   tables  N rows of the narrow table spread over --tables tables (default 500; --quick 50):
#           each source transaction inserts 100 rows into each of 10 tables, in rotation
# SC_EXTRA (environment): TOML lines appended to the [[source]] table (for tuning experiments,
# e.g. SC_EXTRA='max_batch_rows = 40000'; a [kafka.properties] table may follow).
# Prints, per load, rows/s, MiB/s of messages, CPU seconds per million rows and per GiB of
# messages, and peak RSS; per-row cost should grow with the bytes and not with the tables.
# Baseline per load: examples/kafka_replay sends the load's messages (dumped from its topics, in
# the order produced) through the producer sluice's sources use, batched as the source batched
# them; its CPU is what the Kafka client costs, and sluice's CPU minus it what sluice itself costs.

SC_ROWS=$ROWS
# The producer baseline: examples/kafka_replay (see load_and_run).
REPLAY=$(example_bin kafka_replay)
SC_DB=$SRC_DB
CREATED_MY+=("$SC_DB")
my -e "CREATE DATABASE \`$SC_DB\`"
my "$SC_DB" -e "CREATE TABLE nums (n INT PRIMARY KEY) ENGINE=InnoDB"
if [[ $FLAVOR == mariadb ]]; then
  my "$SC_DB" -e "INSERT INTO nums SELECT seq FROM seq_1_to_1000"
else
  my "$SC_DB" -e "SET SESSION cte_max_recursion_depth = 1001;
    INSERT INTO nums WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000) SELECT n FROM s"
fi

# The five types of the bench table and an expression of row number `x` for each.
NARROW_COLS="a INT NOT NULL, b VARCHAR(32), c DOUBLE, d DATETIME(3)"
narrow_values() { # narrow_values X: the a, b, c, d values of row X (an SQL expression)
  echo "(($1) * 7919) % 1000003, CONCAT('value-', LPAD(($1) % 100000, 6, '0')), ($1) / 7.0," \
    "TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (($1) * 1001000) MICROSECOND"
}

# Emits INSERT ... SELECT statements filling TABLE with COUNT rows from id FIRST + 1, PER rows
# each; VALUES is a function printing the non-id columns' expressions of row `x`.
insert_rows() { # insert_rows TABLE FIRST COUNT PER VALUES
  local table=$1 first=$2 count=$3 per=$4 fn=$5 k b m
  for ((k = 0; k * per < count; k++)); do
    m=$((count - k * per))
    ((m > per)) && m=$per
    b=$((first + k * per))
    echo "INSERT INTO $table SELECT $b + n, $("$fn" "$b + n") FROM nums WHERE n <= $m;"
  done
}

wide_cols() {
  local i out="id BIGINT PRIMARY KEY"
  for ((i = 0; i < 10; i++)); do
    out+=", a$i INT NOT NULL, b$i VARCHAR(32), c$i DOUBLE, d$i DATETIME(3)"
    ((i < 9)) && out+=", e$i BIGINT"
  done
  echo "$out"
}
wide_values() {
  local i out="" x
  for ((i = 0; i < 10; i++)); do
    x="($1) + $i"
    out+="${out:+, }$(narrow_values "$x")"
    ((i < 9)) && out+=", ($x) * 1000003"
  done
  echo "$out"
}
kb16_values() { echo "(($1) * 7919) % 1000003, REPEAT(MD5($1), 500)"; }

# Loads one case and runs a sluice source over it, into topics named for GROUP (default NAME):
# load_and_run NAME ROWS TXN_ROWS TABLES_TOML LOADER [GROUP] (TXN_ROWS: rows per source
# transaction, for the replay's batches)
SC_RESULTS=()
load_and_run() {
  local name=$1 rows=$2 txn_rows=$3 tables=$4 loader=$5 group=${6:-$1} s_file s_pos e_file e_pos got bytes
  read -r s_file s_pos < <(binlog_pos)
  log "scaling/$name: loading $rows rows (not timed)"
  "$loader" | my "$SC_DB"
  read -r e_file e_pos < <(binlog_pos)
  local binlog_b=-1
  [[ $s_file == "$e_file" ]] && binlog_b=$((e_pos - s_pos))
  PORT=$(free_port)
  local src=bench-$RUN_ID-$name cfg=$WORK/$name.toml
  cat >"$cfg" <<EOF
[kafka]
bootstrap_servers = "$BOOTSTRAP"
${BENCH_KAFKA_EXTRA:-}

[http]
listen = "127.0.0.1:$PORT"

[[source]]
name = "$src"
kind = "binlog"
url = "mysql://root@127.0.0.1:$MY_PORT/$SC_DB"
tables = [$tables]
topic_prefix = "${PREFIX}${group}_"
envelope = "$ENVELOPE"
${SC_EXTRA:-}
EOF
  store_position "$src" "$s_file" "$s_pos"
  settle
  log "scaling/$name: sluice streams $s_file:$s_pos -> $e_file:$e_pos"
  LOG=$WORK/$name.log
  CREATED_TOPICS=1
  ROWS=$rows
  start_sluice "$cfg" "$LOG"
  wait_position "$e_file" "$e_pos"
  local secs
  secs=$(fsub "$T_DONE" "$T_START")
  finish_sluice
  # Messages as stored (not timed): those written since this run's start (the topics of a group
  # may hold earlier loads' messages), one kcat per topic, eight at a time, each into its own file.
  local dump=$WORK/$name.dump from_ms
  from_ms=${T_START/[.,]/}
  from_ms=${from_ms:0:13}
  mkdir -p "$dump"
  kcat -L -b "$BOOTSTRAP" 2>/dev/null \
    | awk -v p="\"${PREFIX}${group}_" 'index($2, p) == 1 { gsub("\"", "", $2); print $2 }' \
    | xargs -r -P 8 -I{} sh -c 'kcat -C -q -b "$1" -t "$2" -o "s@$3" -e -X isolation.level=read_committed \
        -f "%T\t%t\t%k\t%s\n" >"$4/$2"' _ "$BOOTSTRAP" {} "$from_ms" "$dump"
  # The replay baseline's input: every message in the order produced (timestamp, then offset).
  LC_ALL=C sort -s -t $'\t' -k1,1n "$dump"/* >"$dump.all"
  rm -r "$dump"
  read -r got bytes < <(LC_ALL=C awk -F '\t' '{ n++; b += length($3) + length($4) } END { printf "%d %d\n", n, b }' "$dump.all")
  ((got == rows)) || die "scaling/$name: the topics got $got committed messages, want $rows (log $LOG)"
  # Baseline: the same messages through the producer sluice uses, without binlog or encoding.
  local replay_out rticks
  replay_out=$("$REPLAY" "$cfg" "$dump.all" "$txn_rows" "${PREFIX}replay_offsets") \
    || die "scaling/$name: kafka_replay failed: $replay_out"
  [[ $replay_out == "rows=$rows "* ]] || die "scaling/$name: kafka_replay: $replay_out"
  rticks=${replay_out##*ticks=}
  ((KEEP)) || rm "$dump.all"
  SC_RESULTS+=("$name|$rows|$binlog_b|$bytes|$secs|$S_TICKS|$S_RSS|$rticks")
}

TABLES_N=${SC_TABLES:-$((QUICK ? 50 : 500))}
NARROW_ROWS=$SC_ROWS
WIDE_ROWS=$((SC_ROWS / 4))
KB16_ROWS=$((SC_ROWS / 40 > 100 ? SC_ROWS / 40 : 100))
SPREAD_ROWS=$(((SC_ROWS / (TABLES_N * 100)) * TABLES_N * 100))
((SPREAD_ROWS > 0)) || SPREAD_ROWS=$((TABLES_N * 100))

my "$SC_DB" -e "CREATE TABLE narrow (id BIGINT PRIMARY KEY, $NARROW_COLS) ENGINE=InnoDB;
  CREATE TABLE wide ($(wide_cols)) ENGINE=InnoDB;
  CREATE TABLE kb16 (id BIGINT PRIMARY KEY, a INT NOT NULL, body VARCHAR(16000)) ENGINE=InnoDB"
for ((i = 0; i < TABLES_N; i++)); do echo "CREATE TABLE s$i (id BIGINT PRIMARY KEY, $NARROW_COLS) ENGINE=InnoDB;"; done \
  | my "$SC_DB"

load_narrow() { insert_rows narrow 0 "$NARROW_ROWS" 1000 narrow_values; }
load_wide() { insert_rows wide 0 "$WIDE_ROWS" 250 wide_values; }
load_kb16() { insert_rows kb16 0 "$KB16_ROWS" 25 kb16_values; }
SPREAD_FROM=0
load_spread() { # transactions of 10 tables x 100 rows, the tables in rotation
  local per_table=$((SPREAD_ROWS / TABLES_N)) round t j
  for ((round = 0; round * 100 < per_table; round++)); do
    for ((t = 0; t < TABLES_N; t += 10)); do
      echo "BEGIN;"
      for ((j = t; j < t + 10 && j < TABLES_N; j++)); do
        insert_rows "s$j" $((SPREAD_FROM + round * 100)) 100 100 narrow_values
      done
      echo "COMMIT;"
    done
  done
}

log "run $RUN_ID: scaling on $FLAVOR (127.0.0.1:$MY_PORT), envelope $ENVELOPE; work dir $WORK"
# SCALING_LOADS (environment) picks loads, e.g. "narrow tables" (for profiling one).
wanted() { [[ " ${SCALING_LOADS:-narrow wide 16kb tables} " == *" $1 "* ]]; }
if wanted narrow; then load_and_run narrow "$NARROW_ROWS" 1000 '"narrow"' load_narrow; fi
if wanted wide; then load_and_run wide "$WIDE_ROWS" 250 '"wide"' load_wide; fi
if wanted 16kb; then load_and_run 16kb "$KB16_ROWS" 25 '"kb16"' load_kb16; fi
if wanted tables; then
  SPREAD_TABLES=$(for ((i = 0; i < TABLES_N; i++)); do printf '%s"s%d"' "$( ((i)) && echo ', ')" "$i"; done)
  load_and_run "tables" "$SPREAD_ROWS" 1000 "$SPREAD_TABLES" load_spread
  # Again into the topics the first run created: without the topics' creation.
  SPREAD_FROM=$((SPREAD_ROWS / TABLES_N))
  load_and_run "tables2" "$SPREAD_ROWS" 1000 "$SPREAD_TABLES" load_spread tables
fi

# ----------------------------------------------------------------------------- report

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OK=1
echo
echo "Sluice benchmark: scaling  (run $RUN_ID, sluice $REV, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine : $NPROC CPUs ($CPU_MODEL), ${MEM_GB} GiB RAM; load average at start $LOAD_START, at end $LOAD_END"
echo "servers : $FLAVOR $(my -N -e "SELECT VERSION()") (127.0.0.1:$MY_PORT), Kafka ${V_KAFKA:-?} (KRaft, 1 node)"
echo "source  : kind=binlog delivery=exactly-once envelope=$ENVELOPE, defaults otherwise; each load streamed by a"
echo "          fresh process from a stored position; time = process start -> committed position past the load"
echo "loads   : narrow = bench table (id BIGINT PK, a INT, b VARCHAR(32), c DOUBLE, d DATETIME(3)), 1000 rows/txn;"
echo "          wide = 50 columns (those 5 types x 10), 250 rows/txn; 16kb = id, INT, VARCHAR of 16,000 characters,"
echo "          25 rows/txn; tables = the narrow table x $TABLES_N, each txn 100 rows into each of 10 tables, in rotation,"
echo "          into $TABLES_N new topics; tables2 = the same again (new rows) into those topics, now existing"
echo
FMT='%-7s %8s %9s %9s %8s %9s %8s %7s %10s %10s %9s %10s %10s\n'
# shellcheck disable=SC2059
printf "$FMT" load rows "binlog" "msg B" seconds rows/s "MiB/s" "cpu s" "cpu s/1M" "cpu s/GiB" "peak RSS" "replay" "sluice -"
# shellcheck disable=SC2059
printf "$FMT" "" "" "MiB" "(k+v)" "" "" "(msgs)" "" "rows" "msgs" "" "s/1M rows" "replay"
for r in "${SC_RESULTS[@]}"; do
  IFS='|' read -r name rows binlog_b bytes secs ticks rss rticks <<<"$r"
  awk -v name="$name" -v rows="$rows" -v bb="$binlog_b" -v bytes="$bytes" -v secs="$secs" -v t="$ticks" \
    -v hz="$HZ" -v rss="$rss" -v rt="$rticks" -v fmt="$FMT" 'BEGIN {
      cpu = t / hz
      rcpu = rt / hz
      printf fmt, name, rows, (bb < 0 ? "-" : sprintf("%.1f", bb / 1048576)), sprintf("%.0f", bytes / rows),
        secs, sprintf("%.0f", rows / secs), sprintf("%.1f", bytes / 1048576 / secs), sprintf("%.2f", cpu),
        sprintf("%.2f", cpu * 1e6 / rows), sprintf("%.1f", cpu * 1073741824 / bytes), sprintf("%.0f MiB", rss / 1024),
        sprintf("%.2f", rcpu * 1e6 / rows), sprintf("%.2f", (cpu - rcpu) * 1e6 / rows)
    }'
done
echo
echo "msg B = mean key + value bytes of a message as stored; MiB/s and cpu s/GiB count those bytes."
echo "cpu s = user+sys CPU seconds of the sluice process, start-up (about 0.1 s) included; peak RSS = VmHWM."
echo "replay = CPU s per 1M rows of examples/kafka_replay: the same messages, in the order produced, through"
echo "the producer sluice's sources use (same librdkafka settings, same batches per Kafka transaction); what"
echo "Kafka's client costs without the binlog and the encoding. sluice - replay: what sluice itself costs."
echo "Linear in bytes: cpu s/GiB should stay within a small factor across loads; flat in tables: narrow and"
echo "tables should show the same cpu s/1M rows and RSS (or, where the producer's own cost grows with the"
echo "partitions, the same sluice - replay)."
