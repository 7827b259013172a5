# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # variables are shared with scripts/bench.sh, which sources this
# `scripts/bench.sh converters`: sourced by scripts/bench.sh after its common setup (options,
# helpers, the sluice binary in $BIN, cleanup trap); see the usage text there.
#
# The same binlog source (flat envelope, exactly-once, defaults) snapshots the same N-row table
# once per converter, each into its own topic: Connect's JsonConverter with inline schemas
# (`json`, the default), and Confluent's AvroConverter and JsonSchemaConverter wire formats
# through the schema registry (`avro`, `json_schema`; Apicurio on 127.0.0.1:8081,
# scripts/services.sh up starts it). Each run is timed
# from process start until N messages are visible to a read_committed consumer; then every
# message of the topic is read back to measure its key and value bytes.

REGISTRY=${SLUICE_SCHEMA_REGISTRY:-http://127.0.0.1:8081/apis/ccompat/v7}
curl -fsS -o /dev/null "$REGISTRY/subjects" \
  || die "no schema registry at $REGISTRY (scripts/services.sh up starts Apicurio on 127.0.0.1:8081)"
CONVERTERS=(json avro json_schema)
V_SERVER=$(my -N -e "SELECT VERSION()")

log "run $RUN_ID: $ROWS rows on $FLAVOR (127.0.0.1:$MY_PORT); converters ${CONVERTERS[*]}; work dir $WORK"
create_bench_table
CREATED_TOPICS=1

# Runs the source with converter CONV into its own topic and records the run.
converter_run() { # converter_run CONV
  local conv=$1 name=${PREFIX}$1 out=$WORK/$1.count cfg=$WORK/$1.toml ticks rss
  local topic=$name.$SRC_DB.bench
  java -cp '/var/lib/sluice-test/kafka/libs/*' org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
    --create --topic "$topic" --partitions 1 --replication-factor 1 >/dev/null
  count_topic "$topic" "$out"
  cat >"$cfg" <<EOF
[kafka]
bootstrap_servers = "$BOOTSTRAP"

[http]
listen = "127.0.0.1:$(free_port)"

[schema_registry]
url = "$REGISTRY"

[[source]]
name = "$name"
kind = "binlog"
url = "mysql://root@127.0.0.1:$MY_PORT/$SRC_DB"
tables = ["bench"]
server_name = "$name"
key_converter = "$conv"
value_converter = "$conv"
EOF
  BEFORE=0
  settle
  log "$conv: sluice binlog source until $ROWS messages are visible in $topic"
  snapshot SB
  LOG=$WORK/$conv.log
  T_START=$(now)
  "$BIN" run --config "$cfg" 2>>"$LOG" &
  TOOL_PID=$!
  SLUICE_PIDS+=("$TOOL_PID")
  wait_visible "$out" "$ROWS"
  snapshot SA
  ticks=$(proc_ticks "$TOOL_PID")
  rss=$(vm_hwm_kb "$TOOL_PID")
  stop_pid "$TOOL_PID"
  SLUICE_PIDS=()
  sleep 1
  (($(visible "$out") == ROWS)) || die "$conv: $(visible "$out") messages in $topic, want exactly $ROWS"
  # Key and value bytes of every message (kcat: %K key length, %S value length).
  BYTES[$conv]=$(kcat -C -q -b "$BOOTSTRAP" -t "$topic" -X isolation.level=read_committed -o beginning -e \
    -f '%K %S\n' | awk -v n="$ROWS" '{ k += $1; v += $2; c++ } END {
      if (c != n) { print "count " c; exit 1 } printf "%.1f %.1f", k / c, v / c }') \
    || die "$conv: reading $topic back: ${BYTES[$conv]:-}"
  record "$conv" "sluice binlog source, $conv" "$(fsub "$T_DONE" "$T_START")" "$ticks" "$rss" SB SA \
    "$(awk -v s="$T_START" -v f="$T_FIRST" 'BEGIN { printf "%.3f", f - s }')"
}

declare -A BYTES
for conv in "${CONVERTERS[@]}"; do converter_run "$conv"; done

# ----------------------------------------------------------------------------- report

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OK=1
echo
echo "Sluice benchmark: converters  (run $RUN_ID, sluice $REV, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine : $NPROC CPUs ($CPU_MODEL), ${MEM_GB} GiB RAM; load average at start $LOAD_START, at end $LOAD_END"
echo "servers : $V_SERVER (127.0.0.1:$MY_PORT), Kafka ${V_KAFKA:-?} (KRaft, 1 node, topics 1 partition),"
echo "          schema registry $REGISTRY"
echo "data    : bench (id BIGINT PK, a INT NOT NULL, b VARCHAR(32), c DOUBLE, d DATETIME(3)); snapshot of"
echo "          $ROWS rows by the binlog source (flat envelope, exactly-once), once per converter"
echo "time    : process start -> every message visible to a read_committed consumer"
echo
FMT='%-12s %8s %8s %9s %7s %8s %9s %8s %8s %8s %7s\n'
# shellcheck disable=SC2059
printf "$FMT" converter rows seconds rows/s "cpu s" "cpu s/" "peak RSS" "key B" "value B" "first" others
# shellcheck disable=SC2059
printf "$FMT" "" "" "" "" "(proc)" "1M rows" "(proc)" "/msg" "/msg" "msg s" "cpu %"
declare -A RATE VAL
for r in "${RESULTS[@]}"; do
  IFS='|' read -r conv what n secs cpu rss smy sk spg oth l1 note <<<"$r"
  rate=$(awk -v n="$ROWS" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  read -r kb vb <<<"${BYTES[$conv]}"
  RATE[$conv]=$rate
  VAL[$conv]=$vb
  # shellcheck disable=SC2059
  printf "$FMT" "$conv" "$ROWS" "$secs" "$rate" "$cpu" \
    "$(awk -v c="$cpu" -v n="$ROWS" 'BEGIN { printf "%.1f", c * 1000000 / n }')" \
    "$(awk -v k="$rss" 'BEGIN { printf "%.0f MiB", k / 1024 }')" "$kb" "$vb" "$note" "$oth"
done
echo
echo "key B, value B = average bytes per message as stored in Kafka (registry formats: the 5-byte"
echo "wire header included); cpu s = user+sys CPU seconds of sluice from start to the last message."
echo "ratios (against json, same run):"
for conv in avro json_schema; do
  awk -v c="$conv" -v ra="${RATE[$conv]}" -v rj="${RATE[json]}" -v va="${VAL[$conv]}" -v vj="${VAL[json]}" 'BEGIN {
    printf "  %-12s value bytes 1/%.1f   rows/s %.2fx\n", c, (va > 0 ? vj / va : 0), (rj > 0 ? ra / rj : 0) }'
done
