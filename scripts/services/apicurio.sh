# shellcheck shell=bash
# Sourced by scripts/services.sh: a real Schema Registry for the Avro / JSON Schema converters
# (issue 19). Apicurio Registry 3.3.3, whose Confluent-compatible API lives under
# http://127.0.0.1:8081/apis/ccompat/v7 (a contract, like the other test ports).
#
# Maven Central serves it ready to run as io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all;
# it is fetched with mvn (as Kafka's jars are), unpacked under $APICURIO_DIR and started as
# `java -jar quarkus-run.jar` with a Java 21+ JDK (Java 17 refuses its classes; this machine
# kind ships Temurin 25 beside the default Java 17). Storage is in memory: a restart forgets
# every schema, which tests never rely on (each uses its own subjects).
#
# TEST-ONLY settings: HTTP on 127.0.0.1:8081, management (health) on 127.0.0.1:9001 (Apicurio's
# default binds 0.0.0.0:9000), global compatibility BACKWARD (Confluent's default; Apicurio's
# is NONE), set through the ccompat API after every start.

APICURIO_VERSION="${SLUICE_APICURIO_VERSION:-3.3.3}"
APICURIO_DIR="$SERVICES_DIR/apicurio"
APICURIO_HOME="$APICURIO_DIR/apicurio-registry-app-$APICURIO_VERSION"
APICURIO_PID="$APICURIO_DIR/apicurio.pid"
APICURIO_LOG="$APICURIO_DIR/apicurio.out"
APICURIO_PORT=8081
APICURIO_MGMT_PORT=9001
APICURIO_CCOMPAT="http://127.0.0.1:$APICURIO_PORT/apis/ccompat/v7"

# A Java 21+ `java`: SLUICE_APICURIO_JAVA, else the newest JDK under /usr/lib/jvm that is 21+.
apicurio_java() {
  if [[ -n "${SLUICE_APICURIO_JAVA:-}" ]]; then
    echo "$SLUICE_APICURIO_JAVA"
    return 0
  fi
  local d v best="" best_v=0
  for d in /usr/lib/jvm/*/bin/java; do
    [[ -x "$d" ]] || continue
    v="$("$d" -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p')"
    [[ "$v" =~ ^[0-9]+$ ]] || continue
    if ((v >= 21 && v > best_v)); then best="$d" best_v=$v; fi
  done
  [[ -n "$best" ]] || return 1
  echo "$best"
}

apicurio_install() {
  if [[ -f "$APICURIO_HOME/.sluice-installed" && -f "$APICURIO_HOME/quarkus-run.jar" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || apt_ensure maven
  log "apicurio: fetching Apicurio Registry $APICURIO_VERSION from Maven Central (mvn)"
  local tmp="$APICURIO_DIR/download.tmp"
  rm -rf "$tmp" "$APICURIO_HOME.tmp"
  mkdir -p "$tmp" "$APICURIO_HOME.tmp"
  (cd "$tmp" && mvn -B -q dependency:copy \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -DoutputDirectory="$tmp" </dev/null >"$APICURIO_DIR/mvn.log" 2>&1) \
    || { tail -n 40 "$APICURIO_DIR/mvn.log" >&2; die "mvn could not fetch Apicurio Registry (see $APICURIO_DIR/mvn.log)"; }
  local tgz="$tmp/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
  [[ -f "$tgz" ]] || die "mvn did not produce $tgz"
  tar -xzf "$tgz" -C "$APICURIO_HOME.tmp" || die "apicurio: cannot unpack $tgz"
  [[ -f "$APICURIO_HOME.tmp/quarkus-run.jar" ]] || die "apicurio: $tgz holds no quarkus-run.jar"
  touch "$APICURIO_HOME.tmp/.sluice-installed"
  rm -rf "$APICURIO_HOME" "$tmp"
  mv "$APICURIO_HOME.tmp" "$APICURIO_HOME"
}

# PID of our registry: from the pid file, else any java running our quarkus-run.jar.
apicurio_pid() {
  local pid d
  if [[ -f "$APICURIO_PID" ]]; then
    pid="$(cat "$APICURIO_PID")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
       && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "$APICURIO_HOME/quarkus-run.jar"; then
      echo "$pid"
      return 0
    fi
  fi
  for d in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -q "$APICURIO_HOME/quarkus-run.jar"; then
      echo "${d#/proc/}"
      return 0
    fi
  done
  return 1
}

# The ccompat API answers and global compatibility is BACKWARD.
apicurio_ok() {
  local c
  c="$(curl -sf --max-time 3 "$APICURIO_CCOMPAT/config" 2>/dev/null)" || return 1
  grep -q '"compatibilityLevel" *: *"BACKWARD"' <<<"$c"
}

apicurio_answers() {
  curl -sf --max-time 3 -o /dev/null "$APICURIO_CCOMPAT/subjects" 2>/dev/null
}

apicurio_set_backward() {
  curl -sf --max-time 10 -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data '{"compatibility":"BACKWARD"}' "$APICURIO_CCOMPAT/config" >/dev/null \
    || die "apicurio: could not set global compatibility to BACKWARD ($APICURIO_CCOMPAT/config)"
}

apicurio_stop() {
  local pid
  pid="$(apicurio_pid)" || { rm -f "$APICURIO_PID"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "apicurio: still running after 30s, killing $pid"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$APICURIO_PID"
}

apicurio_up() {
  command -v curl >/dev/null 2>&1 || apt_ensure curl
  mkdir -p "$APICURIO_DIR"
  apicurio_install
  local pid=""
  pid="$(apicurio_pid)" || pid=""
  if [[ -n "$pid" ]] && apicurio_answers; then
    apicurio_ok || apicurio_set_backward
    echo "apicurio: up (already running) $APICURIO_CCOMPAT compatibility BACKWARD (pid $pid)"
    return 0
  fi
  if [[ -z "$pid" ]] && apicurio_answers; then
    echo "apicurio: up (a registry not started by this script answers on 127.0.0.1:$APICURIO_PORT; left alone)"
    return 0
  fi
  [[ -n "$pid" ]] && { log "apicurio: restarting (not answering)"; apicurio_stop; }
  local port
  for port in "$APICURIO_PORT" "$APICURIO_MGMT_PORT"; do
    port_open "$port" && die "apicurio: 127.0.0.1:$port is taken by another process"
  done
  local java
  java="$(apicurio_java)" || die "apicurio: needs a Java 21+ JDK under /usr/lib/jvm (or SLUICE_APICURIO_JAVA); found none"
  log "apicurio: starting Apicurio Registry $APICURIO_VERSION with $java (log: $APICURIO_LOG)"
  echo "=== $(date -Is) start" >>"$APICURIO_LOG"
  # Run from $APICURIO_DIR (exec keeps the pid); 9>&-: the JVM must not hold services.sh's lock.
  nohup setsid bash -c 'cd "$1" && shift && exec "$@"' apicurio "$APICURIO_DIR" \
    "$java" -Xms64m -Xmx512m \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$APICURIO_PORT" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$APICURIO_MGMT_PORT" \
    -jar "$APICURIO_HOME/quarkus-run.jar" </dev/null >>"$APICURIO_LOG" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$APICURIO_PID"
  local deadline=$((SECONDS + START_TIMEOUT))
  until apicurio_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$APICURIO_LOG" >&2 || true
      die "apicurio exited during startup (see $APICURIO_LOG)"
    fi
    ((SECONDS < deadline)) || { tail -n 40 "$APICURIO_LOG" >&2; die "apicurio not ready on 127.0.0.1:$APICURIO_PORT in ${START_TIMEOUT}s"; }
    sleep 0.5
  done
  apicurio_set_backward
  apicurio_ok || die "apicurio: global compatibility is not BACKWARD after setting it"
  echo "apicurio: up $APICURIO_CCOMPAT compatibility BACKWARD, management 127.0.0.1:$APICURIO_MGMT_PORT (pid $pid)"
}

apicurio_status() {
  if apicurio_ok; then
    local pid
    pid="$(apicurio_pid)" || pid="not ours"
    echo "apicurio: up   $APICURIO_CCOMPAT (pid $pid)"
    return 0
  fi
  echo "apicurio: down"
  return 1
}
