#!/usr/bin/env bash
# Real test services for Sluice, on 127.0.0.1, without systemd or docker.
#
#   bash scripts/services.sh up      # install what is missing, configure, start, wait until ready
#   bash scripts/services.sh status  # one line per service; exit 1 if any is down
#   bash scripts/services.sh down    # stop them all (data is kept)
#   bash scripts/services.sh restart mariadb|replica|mysql|postgres|kafka|apicurio   # stop and start one (crash tests)
#   bash scripts/services.sh mariadb-pair DIR PORT1 PORT2  # a private primary + GTID replica (failover tests)
#   bash scripts/services.sh mariadb-pair-stop DIR          # stop such a pair
#   bash scripts/services.sh prune [MINUTES]  # drop test databases and binlogs older than MINUTES (60)
#   bash scripts/services.sh build-deps  # the Debian packages building Sluice needs (up does this too)
#
# Services (test-only settings, NEVER use them anywhere else):
#   mariadb   127.0.0.1:3306  root with an EMPTY password over TCP; binlog ROW / FULL image /
#             FULL metadata, server_id=1, GTID strict mode          (Debian: mariadb-server)
#   replica   127.0.0.1:3308  MariaDB GTID replica of 3306 (server_id=3, log_slave_updates, GTID strict
#             mode, same binlog settings, read_only), root/no password over TCP, datadir under
#             $SLUICE_SERVICES_DIR/mariadb-replica (scripts/services/mariadb_replica.sh)
#   mysql     127.0.0.1:3307  MySQL 9.x from Debian sid unpacked under $SLUICE_SERVICES_DIR/mysql
#             (scripts/services/mysql.sh); root with an EMPTY password over TCP, plus
#             sluice_sha2 / sluice-sha2-test (caching_sha2_password); GTIDs on, binlog ROW /
#             FULL image / FULL metadata, server_id=2
#   postgres  127.0.0.1:5432  user postgres, trust auth over TCP; wal_level=logical
#                                                                   (Debian: postgresql)
#   TLS       MariaDB, MySQL and PostgreSQL present $SLUICE_SERVICES_DIR/tls/server.pem, signed by
#             the test CA tls/ca.pem (CN localhost, SAN localhost/127.0.0.1/::1); a client
#             certificate is in tls/client.pem (scripts/services/tls.sh)
#   kafka     127.0.0.1:9092  Apache Kafka 4.x, KRaft combined broker+controller (node.id=1,
#             controller on 127.0.0.1:9093), jars from Maven Central via scripts/kafka/pom.xml;
#             also SASL_SSL on 127.0.0.1:9094 (SCRAM-SHA-512, user sluice / sluice-test-secret,
#             created at format time) and SSL with required client certificates on
#             127.0.0.1:9095, both presenting tls/server.pem and trusting tls/ca.pem
#   apicurio  127.0.0.1:8081  Apicurio Registry 3.3.3 (Schema Registry; Confluent API under
#             /apis/ccompat/v7, compatibility BACKWARD, management 127.0.0.1:9001), from Maven
#             Central, run with a Java 21+ JDK (scripts/services/apicurio.sh)
#   kcat      CLI from Debian, also used to probe the broker.
#   promtool  from Debian's prometheus package: checks and unit-tests dashboards/alerts.yml.
#
# `up` is idempotent and takes a few seconds when everything already runs: apt runs only
# for packages that are not installed, mvn only when the jars are missing, and a service
# is (re)started only when it is down or its config changed.
#
# Environment:
#   SLUICE_SERVICES_DIR        cache/data dir for Kafka, MySQL, TLS (default /var/lib/sluice-test)
#   SLUICE_MYSQL_SUITE         Debian suite MySQL comes from (default sid)
#   SLUICE_KAFKA_VERSION       Kafka version fetched from Maven Central (default 4.1.1)
#   SLUICE_KAFKA_HEAP          Kafka JVM heap options (default "-Xms256m -Xmx1g")
#   SLUICE_START_TIMEOUT       seconds to wait for each service to become ready (default 90)
#   SLUICE_KAFKA_START_TIMEOUT seconds to wait for Kafka (default 600: after an unclean stop the
#                              broker re-reads every partition's log before it answers)
#   SLUICE_KAFKA_MAX_PARTITIONS `up` starts a stopped test broker from empty data when its data
#                              dir holds more partitions than this (default 1500; every test run
#                              leaves its topics behind, and a broker killed with thousands of
#                              them takes minutes to recover). `restart kafka` never does this.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICES_DIR="${SLUICE_SERVICES_DIR:-/var/lib/sluice-test}"
KAFKA_VERSION="${SLUICE_KAFKA_VERSION:-4.1.1}"
KAFKA_HEAP="${SLUICE_KAFKA_HEAP:--Xms256m -Xmx1g}"
START_TIMEOUT="${SLUICE_START_TIMEOUT:-90}"
KAFKA_START_TIMEOUT="${SLUICE_KAFKA_START_TIMEOUT:-600}"
KAFKA_MAX_PARTITIONS="${SLUICE_KAFKA_MAX_PARTITIONS:-1500}"

KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_DIR="$SERVICES_DIR/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_CONF="$KAFKA_DIR/config/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/config/log4j2.properties"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_BOOTSTRAP="127.0.0.1:9092"
# TEST-ONLY credentials of the SASL_SSL listener (a contract: tests and acceptance runs use them).
KAFKA_SCRAM_USER="sluice"
KAFKA_SCRAM_PASSWORD="sluice-test-secret"
KAFKA_KEYSTORE="$KAFKA_DIR/config/keystore.pem"

MARIADB_CNF=/etc/mysql/mariadb.conf.d/60-sluice.cnf
MARIADB_SOCK=/run/mysqld/mysqld.sock
MARIADB_LOG="$SERVICES_DIR/mariadb-start.log"

PG_CLUSTER=main

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8

log() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

usage() {
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ----------------------------------------------------------------------------- helpers

APT_UPDATED=0
# apt_ensure PKG... : install the packages that are not installed yet (no-op, no apt, if all are).
apt_ensure() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]} (apt)"
  if ((APT_UPDATED == 0)); then
    apt-get update -q </dev/null >"$SERVICES_DIR/apt.log" 2>&1 \
      || { tail -n 30 "$SERVICES_DIR/apt.log" >&2; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null >>"$SERVICES_DIR/apt.log" 2>&1 9>&- \
    || { tail -n 40 "$SERVICES_DIR/apt.log" >&2; die "apt-get install ${missing[*]} failed (see $SERVICES_DIR/apt.log)"; }
}

# write_if_changed FILE : write stdin to FILE when the content differs; returns 0 if it changed.
write_if_changed() {
  local file=$1 tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  mkdir -p "$(dirname "$file")"
  cat "$tmp" >"$file"
  rm -f "$tmp"
  return 0
}

# port_open PORT : something accepts TCP connections on 127.0.0.1:PORT
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# ----------------------------------------------------------------------------- MariaDB

mariadb_config() {
  cat <<'EOF'
# Managed by Sluice scripts/services.sh -- TEST-ONLY settings for the CDC test suite.
[mysqld]
bind-address          = 127.0.0.1
port                  = 3306
server_id             = 1
log_bin               = mysql-bin
binlog_format         = ROW
binlog_row_image      = FULL
binlog_row_metadata   = FULL
log_slave_updates     = ON
gtid_strict_mode      = ON
binlog_expire_logs_seconds = 604800
max_allowed_packet    = 64M
local_infile          = 1
EOF
}

# SQL client as root over TCP with an empty password (what the tests use).
mariadb_tcp() {
  mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P3306 -uroot --connect-timeout=3 "$@" </dev/null
}

# SQL client as root over the unix socket (unix_socket auth as OS root), used to fix up auth.
mariadb_sock() {
  mariadb --no-defaults --protocol=SOCKET -S "$MARIADB_SOCK" -uroot "$@"
}

mariadb_alive() {
  command -v mariadb-admin >/dev/null 2>&1 || return 1
  # "ping" succeeds even when the user is denied: it only tells the server answers.
  mariadb-admin --no-defaults --protocol=SOCKET -S "$MARIADB_SOCK" -uroot --connect-timeout=2 ping \
    >/dev/null 2>&1 </dev/null
}

MARIADB_EXPECTED="ON|ROW|FULL|FULL|1|ON|ON|67108864|3306"
# The server runs, root gets in over TCP with no password, and the binlog settings are live.
mariadb_ok() {
  command -v mariadb >/dev/null 2>&1 || return 1
  local v
  v="$(mariadb_tcp -N -B -e "SELECT CONCAT_WS('|', @@log_bin, @@binlog_format, @@binlog_row_image,
        @@binlog_row_metadata, @@server_id, @@gtid_strict_mode, @@local_infile,
        @@max_allowed_packet, @@port)" 2>/dev/null)" || return 1
  [[ "$v" == "$MARIADB_EXPECTED" ]]
}

# TLS is on with the test CA (see scripts/services/tls.sh).
mariadb_tls_ok() {
  [[ "$(mariadb_tcp -N -B -e 'SELECT @@ssl_ca' 2>/dev/null)" == "$TLS_DIR/ca.pem" ]]
}

mariadb_start() {
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [[ -x /etc/init.d/mariadb ]]; then
    # Debian's SysV script runs mysqld_safe in the background and waits for a ping;
    # it works without systemd (no PID-1 init needed). setsid: the server must not
    # share the caller's process group, or killing that job (a CI step, a tool
    # timeout) takes MariaDB down with it.
    setsid /etc/init.d/mariadb start </dev/null >>"$MARIADB_LOG" 2>&1 9>&- || true
  fi
  if ! mariadb_alive; then
    log "mariadb: init script did not start it, starting mysqld_safe directly"
    nohup setsid mysqld_safe </dev/null >>"$MARIADB_LOG" 2>&1 9>&- &
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until mariadb_alive; do
    ((SECONDS < deadline)) || { tail -n 30 "$MARIADB_LOG" >&2; die "mariadb did not start in ${START_TIMEOUT}s"; }
    sleep 0.5
  done
}

mariadb_stop() {
  mariadb_alive || return 0
  if [[ -x /etc/init.d/mariadb ]]; then
    /etc/init.d/mariadb stop </dev/null >>"$MARIADB_LOG" 2>&1 || true
  fi
  if mariadb_alive; then
    # mariadb-admin shutdown waits until the server is gone; mysqld_safe then exits too.
    mariadb-admin --no-defaults --protocol=SOCKET -S "$MARIADB_SOCK" -uroot shutdown \
      </dev/null >>"$MARIADB_LOG" 2>&1 || true
  fi
  local deadline=$((SECONDS + 60))
  while mariadb_alive; do
    ((SECONDS < deadline)) || die "mariadb did not stop in 60s"
    sleep 0.5
  done
}

mariadb_fix_root() {
  # Test-only: root may log in with an EMPTY password over TCP (and still via unix_socket).
  mariadb_sock <<'SQL'
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'root'@'::1' IDENTIFIED BY '';
ALTER USER 'root'@'::1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'::1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
}

mariadb_up() {
  if [[ ! -x /usr/sbin/mariadbd ]] || ! command -v mariadb >/dev/null 2>&1; then
    apt_ensure mariadb-server mariadb-client
  fi
  local changed=0
  if mariadb_config | write_if_changed "$MARIADB_CNF"; then
    chmod 644 "$MARIADB_CNF"
    changed=1
  fi
  if mariadb_tls_config | write_if_changed "$MARIADB_TLS_CNF"; then
    chmod 644 "$MARIADB_TLS_CNF"
    changed=1
  fi
  ((TLS_CHANGED == 0)) || changed=1

  if ((changed == 0)) && mariadb_ok && mariadb_tls_ok; then
    echo "mariadb:  up (already running) 127.0.0.1:3306 root/no password, binlog ROW/FULL/FULL, GTID, TLS"
    return 0
  fi

  if mariadb_alive; then
    # Running, but with an old config or wrong binlog settings: restart to apply 60-sluice.cnf.
    local live
    live="$(mariadb_sock -N -B -e "SELECT CONCAT_WS('|', @@log_bin, @@binlog_format, @@binlog_row_image,
        @@binlog_row_metadata, @@server_id, @@gtid_strict_mode, @@local_infile,
        @@max_allowed_packet, @@port)" 2>/dev/null || true)"
    if ((changed == 1)) || [[ "$live" != "$MARIADB_EXPECTED" ]] || ! mariadb_tls_ok; then
      log "mariadb: restarting to apply $MARIADB_CNF"
      mariadb_stop
      mariadb_start
    fi
  else
    log "mariadb: starting"
    mariadb_start
  fi

  mariadb_ok || mariadb_fix_root
  mariadb_ok || die "mariadb runs but root@127.0.0.1 or binlog settings are wrong: $(mariadb_tcp -N -B -e \
    'select @@log_bin, @@binlog_format, @@binlog_row_metadata' 2>&1 || true)"
  mariadb_tls_ok || die "mariadb runs but without the test TLS certificates ($MARIADB_TLS_CNF)"
  echo "mariadb:  up 127.0.0.1:3306 root/no password, binlog ROW/FULL/FULL, GTID, TLS"
}

mariadb_status() {
  if mariadb_ok; then
    local gtid
    gtid="$(mariadb_tcp -N -B -e 'SELECT @@gtid_binlog_pos' 2>/dev/null || true)"
    echo "mariadb:  up   127.0.0.1:3306 (gtid_binlog_pos=${gtid:-none})"
    return 0
  fi
  echo "mariadb:  down"
  return 1
}

# ----------------------------------------------------------------------------- PostgreSQL

pg_version() {
  # Newest installed server major version (Debian 12: 15).
  local d best=""
  for d in /usr/lib/postgresql/[0-9]*; do
    [[ -x "$d/bin/postgres" ]] || continue
    d="${d##*/}"
    if [[ -z "$best" ]] || ((d > best)); then best="$d"; fi
  done
  echo "$best"
}

pg_config_extra() {
  cat <<'EOF'
# Managed by Sluice scripts/services.sh -- TEST-ONLY settings.
listen_addresses = 'localhost'
port = 5432
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
EOF
}

PG_HBA_BEGIN="# BEGIN sluice services.sh (TEST-ONLY: trust over loopback TCP)"
PG_HBA_END="# END sluice services.sh"
pg_hba_block() {
  cat <<EOF
$PG_HBA_BEGIN
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
host    replication     all             127.0.0.1/32            trust
host    replication     all             ::1/128                 trust
$PG_HBA_END
EOF
}

pg_psql() {
  PGCONNECT_TIMEOUT=3 psql -w -X -h 127.0.0.1 -p 5432 -U postgres -d postgres "$@" </dev/null
}

pg_ok() {
  command -v psql >/dev/null 2>&1 || return 1
  local v
  v="$(pg_psql -Atc "select current_setting('wal_level')" 2>/dev/null)" || return 1
  [[ "$v" == logical ]]
}

# TLS is on with the test certificate (see scripts/services/tls.sh).
pg_tls_ok() {
  [[ "$(pg_psql -Atc "select current_setting('ssl') || '|' || current_setting('ssl_cert_file')" 2>/dev/null)" \
    == "on|$TLS_DIR/server.pem" ]]
}

pg_running() {
  local ver=$1
  [[ -n "$ver" ]] && command -v pg_ctlcluster >/dev/null 2>&1 || return 1
  pg_ctlcluster "$ver" "$PG_CLUSTER" status >/dev/null 2>&1
}

pg_up() {
  local ver
  ver="$(pg_version)"
  if [[ -z "$ver" ]] || ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
    apt_ensure postgresql postgresql-client
    ver="$(pg_version)"
  fi
  [[ -n "$ver" ]] || die "postgresql: no server version found under /usr/lib/postgresql"
  local confdir="/etc/postgresql/$ver/$PG_CLUSTER"
  if [[ ! -f "$confdir/postgresql.conf" ]]; then
    log "postgres: creating cluster $ver/$PG_CLUSTER"
    pg_createcluster "$ver" "$PG_CLUSTER" --port 5432 </dev/null >/dev/null
  fi

  local conf_changed=0 hba_changed=0
  mkdir -p "$confdir/conf.d"
  grep -Eq "^[[:space:]]*include_dir[[:space:]]*=[[:space:]]*'conf.d'" "$confdir/postgresql.conf" \
    || echo "include_dir = 'conf.d'" >>"$confdir/postgresql.conf"
  if pg_config_extra | write_if_changed "$confdir/conf.d/60-sluice.conf"; then
    chown postgres:postgres "$confdir/conf.d/60-sluice.conf" 2>/dev/null || true
    conf_changed=1
  fi
  if ((TLS_CHANGED == 1)) || ! cmp -s "$TLS_DIR/server-key.pem" "$confdir/sluice-server-key.pem"; then
    pg_tls_install_key "$confdir"
    conf_changed=1
  fi
  if pg_tls_config "$confdir" | write_if_changed "$confdir/conf.d/61-sluice-tls.conf"; then
    chown postgres:postgres "$confdir/conf.d/61-sluice-tls.conf" 2>/dev/null || true
    conf_changed=1
  fi
  # Our trust lines go first (pg_hba.conf is first-match); everything else is kept.
  local hba="$confdir/pg_hba.conf"
  if { pg_hba_block; sed "/^$PG_HBA_BEGIN\$/,/^$PG_HBA_END\$/d" "$hba"; } | write_if_changed "$hba"; then
    hba_changed=1
  fi

  if ((conf_changed == 0 && hba_changed == 0)) && pg_ok && pg_tls_ok "$confdir"; then
    echo "postgres: up (already running) 127.0.0.1:5432 user postgres/trust, wal_level=logical, TLS (PG $ver)"
    return 0
  fi

  if pg_running "$ver"; then
    if ((conf_changed == 1)) || [[ "$(pg_psql -Atc "show wal_level" 2>/dev/null || true)" != logical ]] \
       || ! pg_tls_ok "$confdir"; then
      log "postgres: restarting to apply config"
      setsid pg_ctlcluster "$ver" "$PG_CLUSTER" restart </dev/null 9>&-
    else
      log "postgres: reloading pg_hba.conf"
      pg_ctlcluster "$ver" "$PG_CLUSTER" reload </dev/null
    fi
  else
    log "postgres: starting cluster $ver/$PG_CLUSTER"
    setsid pg_ctlcluster "$ver" "$PG_CLUSTER" start </dev/null 9>&-
  fi

  local deadline=$((SECONDS + START_TIMEOUT))
  until pg_ok; do
    ((SECONDS < deadline)) || {
      tail -n 30 "/var/log/postgresql/postgresql-$ver-$PG_CLUSTER.log" >&2 || true
      die "postgres not reachable as postgres@127.0.0.1:5432 in ${START_TIMEOUT}s"
    }
    sleep 0.5
  done
  pg_tls_ok "$confdir" || die "postgres runs but without the test TLS certificate"
  echo "postgres: up 127.0.0.1:5432 user postgres/trust, wal_level=logical, TLS (PG $ver)"
}

pg_down() {
  local ver
  ver="$(pg_version)"
  if pg_running "$ver"; then
    pg_ctlcluster "$ver" "$PG_CLUSTER" stop -m fast </dev/null
  fi
}

pg_status() {
  if pg_ok; then
    echo "postgres: up   127.0.0.1:5432 (PG $(pg_version))"
    return 0
  fi
  echo "postgres: down"
  return 1
}

# ----------------------------------------------------------------------------- Kafka

kafka_libs_stamp() {
  echo "kafka=$KAFKA_VERSION pom=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
}

kafka_fetch_jars() {
  if [[ -f "$KAFKA_LIBS/.sluice-stamp" && "$(cat "$KAFKA_LIBS/.sluice-stamp")" == "$(kafka_libs_stamp)" ]] \
     && [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || apt_ensure maven
  log "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central (mvn)"
  local tmp="$KAFKA_DIR/libs.tmp"
  rm -rf "$tmp"
  mvn -B -q -f "$KAFKA_POM" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" </dev/null >"$KAFKA_DIR/mvn.log" 2>&1 \
    || { tail -n 40 "$KAFKA_DIR/mvn.log" >&2; die "mvn could not fetch the Kafka jars (see $KAFKA_DIR/mvn.log)"; }
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "mvn did not produce kafka_2.13-$KAFKA_VERSION.jar"
  kafka_libs_stamp >"$tmp/.sluice-stamp"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
}

kafka_server_properties() {
  cat <<EOF
# Managed by Sluice scripts/services.sh -- TEST-ONLY single-node KRaft (broker+controller).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094,SSL://127.0.0.1:9095
advertised.listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094,SSL://127.0.0.1:9095
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
# Secured listeners (TEST-ONLY): the test CA's server certificate; SASL_SSL with SCRAM-SHA-512,
# SSL with required client certificates (mTLS).
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_KEYSTORE
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.ssl.ssl.client.auth=required
log.dirs=$KAFKA_DATA
metadata.log.dir=$KAFKA_DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
log.retention.hours=24
log.segment.bytes=104857600
log.retention.check.interval.ms=300000
EOF
}

kafka_log4j_properties() {
  cat <<EOF
# Managed by Sluice scripts/services.sh
status = warn
name = sluice-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $KAFKA_LOGS/server.log
appender.file.filePattern = $KAFKA_LOGS/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

# kcat sees the broker: metadata names broker 1 at 127.0.0.1:9092.
kafka_ok() {
  command -v kcat >/dev/null 2>&1 || return 1
  local md
  md="$(timeout 10 kcat -b "$KAFKA_BOOTSTRAP" -L -m 3 2>/dev/null </dev/null)" || return 1
  grep -q 'broker 1 at 127.0.0.1:9092' <<<"$md"
}

# PID of our broker: from the pid file, else any `kafka.Kafka <our server.properties>` process.
kafka_pid() {
  local pid
  if [[ -f "$KAFKA_PID" ]]; then
    pid="$(cat "$KAFKA_PID")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
       && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $KAFKA_CONF"; then
      echo "$pid"
      return 0
    fi
  fi
  local d
  for d in /proc/[0-9]*; do
    if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q "kafka.Kafka $KAFKA_CONF"; then
      echo "${d#/proc/}"
      return 0
    fi
  done
  return 1
}

# JVM command line, with the same GC flags as Kafka's kafka-run-class.sh and a smaller heap.
kafka_java_cmd() {
  local heap
  read -r -a heap <<<"$KAFKA_HEAP"
  KAFKA_JAVA=(java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_LOGS"
    -cp "$KAFKA_LIBS/*")
}

kafka_java() {
  kafka_java_cmd
  "${KAFKA_JAVA[@]}" "$@"
}

kafka_stop() {
  local pid
  pid="$(kafka_pid)" || { rm -f "$KAFKA_PID"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "kafka: still running after 60s, killing $pid"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$KAFKA_PID"
}

kafka_up() {
  command -v java >/dev/null 2>&1 || apt_ensure openjdk-17-jre-headless
  command -v kcat >/dev/null 2>&1 || apt_ensure kcat
  command -v systemd-analyze >/dev/null 2>&1 || apt_ensure systemd # tests: systemd-analyze verify
  mkdir -p "$KAFKA_DIR/config" "$KAFKA_DATA" "$KAFKA_LOGS"
  kafka_fetch_jars

  local changed=0
  # The broker's PEM keystore: the test server key (PKCS#8) and certificate in one file.
  cat "$TLS_DIR/server-key.pem" "$TLS_DIR/server.pem" | write_if_changed "$KAFKA_KEYSTORE" && changed=1
  kafka_server_properties | write_if_changed "$KAFKA_CONF" && changed=1
  kafka_log4j_properties | write_if_changed "$KAFKA_LOG4J" && changed=1

  local pid=""
  pid="$(kafka_pid)" || pid=""
  if ((changed == 0)) && [[ -n "$pid" ]] && kafka_ok; then
    kafka_ensure_scram_user
    echo "kafka:    up (already running) $KAFKA_BOOTSTRAP Kafka $KAFKA_VERSION KRaft node 1 (pid $pid)"
    return 0
  fi
  if [[ -z "$pid" ]] && kafka_ok; then
    echo "kafka:    up (a broker not started by this script answers on $KAFKA_BOOTSTRAP; left alone)"
    return 0
  fi
  if [[ -n "$pid" ]]; then
    log "kafka: restarting (config changed or broker not answering)"
    kafka_stop
  fi

  if [[ ! -f "$KAFKA_DATA/meta.properties" ]]; then
    local cluster_id
    if [[ -s "$KAFKA_DIR/cluster.id" ]]; then
      cluster_id="$(cat "$KAFKA_DIR/cluster.id")"
    else
      cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid </dev/null 2>>"$KAFKA_LOGS/storage-tool.log" | tail -n 1)"
      [[ -n "$cluster_id" ]] || die "kafka: StorageTool random-uuid failed (see $KAFKA_LOGS/storage-tool.log)"
      echo "$cluster_id" >"$KAFKA_DIR/cluster.id"
    fi
    log "kafka: formatting $KAFKA_DATA (cluster id $cluster_id)"
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_CONF" --ignore-formatted \
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]" \
      </dev/null >>"$KAFKA_LOGS/storage-tool.log" 2>&1 \
      || { tail -n 30 "$KAFKA_LOGS/storage-tool.log" >&2; die "kafka: storage format failed"; }
  fi

  port_open 9092 && die "kafka: 127.0.0.1:9092 is taken by another process that is not a healthy broker"
  local port
  for port in 9093 9094 9095; do
    port_open "$port" && die "kafka: 127.0.0.1:$port is taken by another process"
  done

  log "kafka: starting Kafka $KAFKA_VERSION (logs: $KAFKA_LOGS)"
  echo "=== $(date -Is) start" >>"$KAFKA_LOGS/kafka.out"
  kafka_java_cmd
  nohup setsid "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_CONF" </dev/null >>"$KAFKA_LOGS/kafka.out" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$KAFKA_PID"

  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  until kafka_ok; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log" >&2 2>/dev/null || true
      die "kafka exited during startup (see $KAFKA_LOGS)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$KAFKA_LOGS/server.log" >&2 2>/dev/null || true
      die "kafka not ready on $KAFKA_BOOTSTRAP in ${KAFKA_START_TIMEOUT}s (see $KAFKA_LOGS)"
    fi
    sleep 1
  done
  kafka_ensure_scram_user
  echo "kafka:    up $KAFKA_BOOTSTRAP Kafka $KAFKA_VERSION KRaft node 1 (controller 127.0.0.1:9093, SASL_SSL 127.0.0.1:9094, mTLS 127.0.0.1:9095, pid $pid)"
}

# The SCRAM user of the SASL_SSL listener: created at format time; a broker whose data was
# formatted before the listener existed gets it here (once: it is stored in the metadata log).
kafka_ensure_scram_user() {
  local stamp="$KAFKA_DATA/.sluice-scram-$KAFKA_SCRAM_USER"
  [[ -f "$stamp" ]] && return 0
  if ! kafka_java kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_BOOTSTRAP" --describe \
      --entity-type users --entity-name "$KAFKA_SCRAM_USER" </dev/null 2>>"$KAFKA_LOGS/config-command.log" \
      | grep -q 'SCRAM-SHA-512'; then
    log "kafka: adding SCRAM-SHA-512 user $KAFKA_SCRAM_USER"
    kafka_java kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_BOOTSTRAP" --alter \
      --add-config "SCRAM-SHA-512=[password=$KAFKA_SCRAM_PASSWORD]" \
      --entity-type users --entity-name "$KAFKA_SCRAM_USER" </dev/null >>"$KAFKA_LOGS/config-command.log" 2>&1 \
      || { tail -n 20 "$KAFKA_LOGS/config-command.log" >&2; die "kafka: adding the SCRAM user failed"; }
  fi
  touch "$stamp"
}

# The test broker's data is scratch: every test run leaves its uniquely named topics behind.
# When `up` finds the broker stopped and its data dir holding more than KAFKA_MAX_PARTITIONS
# partitions, it starts from empty data instead of recovering them all (4,350 partitions took
# 80 s to load after an unclean stop). A running broker is never touched.
kafka_prune_scratch() {
  kafka_pid >/dev/null && return 0
  [[ -f "$KAFKA_DATA/meta.properties" ]] || return 0
  local n
  n="$(find "$KAFKA_DATA" -mindepth 1 -maxdepth 1 -type d -name '*-[0-9]*' | wc -l)"
  ((n > KAFKA_MAX_PARTITIONS)) || return 0
  log "kafka: test broker is stopped and holds $n partitions from earlier runs (> $KAFKA_MAX_PARTITIONS); starting it from empty data"
  rm -rf "$KAFKA_DATA"
  mkdir -p "$KAFKA_DATA"
}

kafka_status() {
  if kafka_ok; then
    local pid
    pid="$(kafka_pid)" || pid="not ours"
    echo "kafka:    up   $KAFKA_BOOTSTRAP (pid $pid)"
    return 0
  fi
  echo "kafka:    down"
  return 1
}

# ----------------------------------------------------------------------------- TLS, MySQL

# shellcheck source=scripts/services/tls.sh
source "$SCRIPT_DIR/services/tls.sh"
# shellcheck source=scripts/services/mysql.sh
source "$SCRIPT_DIR/services/mysql.sh"
# shellcheck source=scripts/services/prune.sh
source "$SCRIPT_DIR/services/prune.sh"
# shellcheck source=scripts/services/apicurio.sh
source "$SCRIPT_DIR/services/apicurio.sh"
# shellcheck source=scripts/services/mariadb_replica.sh
source "$SCRIPT_DIR/services/mariadb_replica.sh"

# ----------------------------------------------------------------------------- build

# What building Sluice needs beyond Rust and a C compiler: librdkafka's TLS (OpenSSL) and its
# OAUTHBEARER/OIDC token requests (libcurl), found with pkg-config.
build_deps() {
  apt_ensure pkg-config libssl-dev libcurl4-openssl-dev
}

# What the tests need beyond the services: `promtool` (Debian's prometheus package) checks and
# unit-tests dashboards/alerts.yml. Only the tool is used; where the package's daemon starts, it
# is harmless (it scrapes itself on :9090).
test_tools() {
  apt_ensure prometheus
  # Python's fastavro decodes the Avro messages Sluice writes (tests/suite/avro.rs): an
  # independent reader of the Confluent wire format.
  if ! python3 -c 'import fastavro' >/dev/null 2>&1; then
    log "installing fastavro (pip)"
    python3 -m pip install -q "fastavro==1.13.1" </dev/null >"$SERVICES_DIR/pip.log" 2>&1 \
      || { tail -n 20 "$SERVICES_DIR/pip.log" >&2; die "pip install fastavro failed (see $SERVICES_DIR/pip.log)"; }
  fi
  # Python's jsonschema validates the JSON Schema messages Sluice writes (tests/suite/jsonschema.rs).
  if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
    log "installing jsonschema (pip)"
    python3 -m pip install -q "jsonschema==4.26.0" </dev/null >"$SERVICES_DIR/pip.log" 2>&1 \
      || { tail -n 20 "$SERVICES_DIR/pip.log" >&2; die "pip install jsonschema failed (see $SERVICES_DIR/pip.log)"; }
  fi
}

# ----------------------------------------------------------------------------- main

cmd="${1:-}"
case "$cmd" in
  up | down | status | build-deps) ;;
  prune) [[ "${2:-60}" =~ ^[0-9]+$ ]] || { usage >&2; exit 2; } ;;
  restart) [[ "${2:-}" =~ ^(mariadb|replica|mysql|postgres|kafka|apicurio)$ ]] || { usage >&2; exit 2; } ;;
  mariadb-pair) [[ $# -eq 4 ]] || { usage >&2; exit 2; } ;;
  mariadb-pair-stop) [[ $# -eq 2 ]] || { usage >&2; exit 2; } ;;
  -h | --help | help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (installs packages, starts system daemons)"
  exec sudo -E bash "${BASH_SOURCE[0]}" "$@"
fi

mkdir -p "$SERVICES_DIR"
# Private pairs live in the caller's directory and touch no shared service: no lock.
case "$cmd" in
  mariadb-pair) mariadb_pair "$2" "$3" "$4"; exit 0 ;;
  mariadb-pair-stop) mariadb_pair_stop "$2"; exit 0 ;;
esac
# One `up`/`down` at a time (tests may call `up` concurrently). Every daemon is started with
# `9>&-` so that it does not inherit (and keep holding) this lock after the script exits.
exec 9>"$SERVICES_DIR/.lock"
flock -w 900 9 || die "another services.sh is still running (lock $SERVICES_DIR/.lock)"

case "$cmd" in
  restart)
    case "$2" in
      mariadb) mariadb_stop; mariadb_up ;;
      replica) replica_stop; replica_up ;;
      mysql) mysql_stop; mysql_up ;;
      postgres) pg_down; pg_up ;;
      kafka) kafka_stop; kafka_up ;;
      apicurio) apicurio_stop; apicurio_up ;;
    esac
    ;;
  build-deps) build_deps ;;
  up)
    build_deps
    test_tools
    tls_ensure
    mariadb_up
    replica_up
    mysql_up
    pg_up
    kafka_prune_scratch
    kafka_up
    apicurio_up
    ;;
  prune) services_prune "${2:-60}" ;;
  down)
    apicurio_stop && echo "apicurio: down"
    kafka_stop && echo "kafka:    down"
    mysql_stop && echo "mysql:    down"
    pg_down && echo "postgres: down"
    replica_stop && echo "replica:  down"
    mariadb_stop && echo "mariadb:  down"
    ;;
  status)
    rc=0
    mariadb_status || rc=1
    replica_status || rc=1
    mysql_status || rc=1
    pg_status || rc=1
    kafka_status || rc=1
    apicurio_status || rc=1
    exit "$rc"
    ;;
esac
