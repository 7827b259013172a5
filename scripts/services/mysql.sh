# shellcheck shell=bash
# Sourced by scripts/services.sh: a real MySQL 9.x on 127.0.0.1:3307 (design.md §9).
#
# Debian 12 ships no MySQL server; Debian sid has `mysql-server-core`. It is fetched with a
# PRIVATE apt configuration (the system's apt sources, lists and cache are never touched),
# unpacked with `dpkg -x` into $MYSQL_DIR/prefix together with every library it needs
# (resolved recursively with `apt-cache depends`, so sid's renames are followed), and run
# through sid's own dynamic loader with the prefix's libraries.
#
# TEST-ONLY access: root with an EMPTY password over TCP (caching_sha2_password, like the
# default), and `sluice_sha2` / `sluice-sha2-test` (caching_sha2_password) for auth tests.
# GTIDs on, ROW, FULL row image and metadata, server_id=2, TLS with the test CA (tls.sh).

MYSQL_DIR="$SERVICES_DIR/mysql"
MYSQL_PREFIX="$MYSQL_DIR/prefix"
MYSQL_DATA="$MYSQL_DIR/data"
MYSQL_RUN="$MYSQL_DIR/run"
MYSQL_SOCK="$MYSQL_RUN/mysqld.sock"
MYSQL_PID="$MYSQL_RUN/mysqld.pid"
MYSQL_LOG="$MYSQL_DIR/mysqld.log"
MYSQL_PORT=3307
MYSQL_SHA2_USER=sluice_sha2
MYSQL_SHA2_PASSWORD=sluice-sha2-test
MYSQL_SUITE="${SLUICE_MYSQL_SUITE:-sid}"
MYSQL_PACKAGE="${SLUICE_MYSQL_PACKAGE:-mysql-server-core}"
MYSQL_LIBDIRS="$MYSQL_PREFIX/usr/lib/x86_64-linux-gnu:$MYSQL_PREFIX/lib/x86_64-linux-gnu"

# apt options that make apt-get/apt-cache see only the private sid configuration.
mysql_apt_opts() {
  local a="$MYSQL_DIR/apt"
  MYSQL_APT=(-o "Dir::Etc::sourcelist=$a/sources.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o "Dir::State::status=$a/status"
    -o "Debug::NoLocking=1" -o "APT::Architecture=amd64")
}

mysql_install() {
  if [[ -f "$MYSQL_PREFIX/.sluice-installed" && -x "$MYSQL_PREFIX/usr/sbin/mysqld" ]]; then
    return 0
  fi
  [[ "$(uname -m)" == x86_64 ]] || die "mysql: only x86_64 is supported by this recipe"
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
    die "mysql: needs apt-get and dpkg-deb (Debian)"
  fi
  local t0=$SECONDS a="$MYSQL_DIR/apt"
  log "mysql: installing $MYSQL_PACKAGE from Debian $MYSQL_SUITE into $MYSQL_PREFIX"
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$MYSQL_DIR/debs"
  echo "deb http://deb.debian.org/debian $MYSQL_SUITE main" >"$a/sources.list"
  : >"$a/status" # an empty dpkg status: every dependency is fetched into the prefix
  mysql_apt_opts
  apt-get "${MYSQL_APT[@]}" update -q </dev/null >"$MYSQL_DIR/apt.log" 2>&1 \
    || { tail -n 20 "$MYSQL_DIR/apt.log" >&2; die "mysql: apt-get update ($MYSQL_SUITE) failed"; }
  # Every package mysqld needs at run time, by name as sid spells it today. perl is only
  # for helper scripts we do not run; virtual packages (<...>) have no .deb.
  local pkgs
  pkgs="$(apt-cache "${MYSQL_APT[@]}" depends --recurse --no-recommends --no-suggests \
      --no-conflicts --no-breaks --no-replaces --no-enhances "$MYSQL_PACKAGE" 2>>"$MYSQL_DIR/apt.log" \
    | grep -v '^ ' | grep -v '^<' | grep -Ev '^(perl|perl-base|perl-modules-.*|libperl.*|debconf.*)$' \
    | sort -u)" || true
  grep -qx "$MYSQL_PACKAGE" <<<"$pkgs" || die "mysql: $MYSQL_PACKAGE not found in Debian $MYSQL_SUITE (see $MYSQL_DIR/apt.log)"
  grep -qx libc6 <<<"$pkgs" || pkgs+=$'\nlibc6'
  rm -f "$MYSQL_DIR/debs/"*.deb
  # shellcheck disable=SC2086
  (cd "$MYSQL_DIR/debs" && apt-get "${MYSQL_APT[@]}" download $pkgs </dev/null >>"$MYSQL_DIR/apt.log" 2>&1) \
    || { tail -n 20 "$MYSQL_DIR/apt.log" >&2; die "mysql: apt-get download failed (see $MYSQL_DIR/apt.log)"; }
  rm -rf "$MYSQL_PREFIX.tmp"
  mkdir -p "$MYSQL_PREFIX.tmp"
  local deb
  for deb in "$MYSQL_DIR/debs/"*.deb; do
    dpkg-deb -x "$deb" "$MYSQL_PREFIX.tmp" || die "mysql: dpkg-deb -x $deb failed"
  done
  [[ -x "$MYSQL_PREFIX.tmp/usr/sbin/mysqld" ]] || die "mysql: no usr/sbin/mysqld in $MYSQL_PACKAGE"
  local version
  version="$(mysql_exec_in "$MYSQL_PREFIX.tmp" --version 2>&1)" \
    || die "mysql: the unpacked mysqld does not run: $version"
  rm -rf "$MYSQL_PREFIX"
  mv "$MYSQL_PREFIX.tmp" "$MYSQL_PREFIX"
  version="${version#*mysqld}"
  echo "MySQL ${version#"${version%%[! ]*}"}" >"$MYSQL_PREFIX/.sluice-installed"
  rm -rf "$MYSQL_DIR/debs"
  log "mysql: installed $(wc -w <<<"$pkgs") packages in $((SECONDS - t0))s: $version"
}

# mysql_exec_in PREFIX ARGS... : run that prefix's mysqld through its own loader.
mysql_exec_in() {
  local p=$1
  shift
  "$p/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
    --library-path "$p/usr/lib/x86_64-linux-gnu:$p/lib/x86_64-linux-gnu" \
    "$p/usr/sbin/mysqld" "$@"
}

mysql_base_args() {
  MYSQL_ARGS=(--no-defaults --user=root --basedir="$MYSQL_PREFIX/usr"
    --lc-messages-dir="$MYSQL_PREFIX/usr/share/mysql" --plugin-dir="$MYSQL_PREFIX/usr/lib/mysql/plugin"
    --secure-file-priv="$MYSQL_DIR/files" --datadir="$MYSQL_DATA" --log-error="$MYSQL_LOG")
}

mysql_server_args() {
  mysql_base_args
  MYSQL_ARGS+=(--port="$MYSQL_PORT" --bind-address=127.0.0.1 --socket="$MYSQL_SOCK"
    --pid-file="$MYSQL_PID" --mysqlx=OFF --server-id=2 --log-bin=binlog --binlog-format=ROW
    --binlog-row-image=FULL --binlog-row-metadata=FULL --gtid-mode=ON --enforce-gtid-consistency=ON
    --binlog-expire-logs-seconds=604800 --max-allowed-packet=64M --local-infile=1
    --performance-schema=OFF --innodb-buffer-pool-size=128M
    --ssl-ca="$TLS_DIR/ca.pem" --ssl-cert="$TLS_DIR/server.pem" --ssl-key="$TLS_DIR/server-key.pem")
}

mysql_tcp() {
  mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$MYSQL_PORT" -uroot --connect-timeout=3 "$@" </dev/null
}

mysql_sock() {
  mariadb --no-defaults --protocol=SOCKET -S "$MYSQL_SOCK" -uroot --connect-timeout=3 "$@"
}

mysql_expected() {
  echo "1|ROW|FULL|FULL|2|ON|ON|$MYSQL_PORT|$TLS_DIR/ca.pem|1"
}

# Our server answers over TCP as root/no password with the settings and users we set up.
mysql_ok() {
  command -v mariadb >/dev/null 2>&1 || return 1
  local v
  v="$(mysql_tcp -N -B -e "SELECT CONCAT_WS('|', @@log_bin, @@binlog_format, @@binlog_row_image,
        @@binlog_row_metadata, @@server_id, @@gtid_mode, @@enforce_gtid_consistency, @@port,
        @@ssl_ca, (SELECT COUNT(*) FROM mysql.user WHERE user = '$MYSQL_SHA2_USER'
          AND plugin = 'caching_sha2_password'))" 2>/dev/null)" || return 1
  [[ "$v" == "$(mysql_expected)" ]]
}

mysql_pid() {
  local pid
  [[ -f "$MYSQL_PID" ]] || return 1
  pid="$(cat "$MYSQL_PID" 2>/dev/null)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--datadir=$MYSQL_DATA" || return 1
  echo "$pid"
}

mysql_stop() {
  local pid
  pid="$(mysql_pid)" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || { kill -KILL "$pid" 2>/dev/null || true; sleep 1; break; }
    sleep 0.5
  done
  rm -f "$MYSQL_PID"
}

mysql_users_sql() {
  cat <<SQL
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'root'@'::1' IDENTIFIED WITH caching_sha2_password BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'::1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '$MYSQL_SHA2_USER'@'%' IDENTIFIED WITH caching_sha2_password BY '$MYSQL_SHA2_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_SHA2_USER'@'%';
SQL
}

mysql_up() {
  command -v mariadb >/dev/null 2>&1 || apt_ensure mariadb-client
  tls_ensure
  mysql_install
  mkdir -p "$MYSQL_RUN" "$MYSQL_DIR/files"
  mysql_server_args
  local want have=""
  want="$(printf '%s\n' "${MYSQL_ARGS[@]}")"
  [[ -f "$MYSQL_DIR/args" ]] && have="$(cat "$MYSQL_DIR/args")"
  local pid=""
  pid="$(mysql_pid)" || pid=""
  if [[ -n "$pid" && "$want" == "$have" ]] && ((TLS_CHANGED == 0)) && mysql_ok; then
    echo "mysql:    up (already running) 127.0.0.1:$MYSQL_PORT root/no password, GTID, binlog ROW/FULL/FULL, TLS ($(cat "$MYSQL_PREFIX/.sluice-installed"))"
    return 0
  fi
  if [[ -n "$pid" ]]; then
    log "mysql: restarting (arguments changed or not answering)"
    mysql_stop
  fi
  port_open "$MYSQL_PORT" && die "mysql: 127.0.0.1:$MYSQL_PORT is taken by another process"

  if [[ ! -d "$MYSQL_DATA/mysql" ]]; then
    log "mysql: initializing $MYSQL_DATA"
    rm -rf "$MYSQL_DATA"
    mysql_base_args
    mysql_exec_in "$MYSQL_PREFIX" "${MYSQL_ARGS[@]}" --initialize-insecure </dev/null 9>&- \
      || { tail -n 30 "$MYSQL_LOG" >&2; die "mysql: --initialize-insecure failed (see $MYSQL_LOG)"; }
    mysql_server_args
  fi

  log "mysql: starting (log: $MYSQL_LOG)"
  printf '%s\n' "${MYSQL_ARGS[@]}" >"$MYSQL_DIR/args"
  echo "=== $(date -Is) start" >>"$MYSQL_DIR/mysqld.out"
  nohup setsid "$MYSQL_PREFIX/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$MYSQL_LIBDIRS" \
    "$MYSQL_PREFIX/usr/sbin/mysqld" "${MYSQL_ARGS[@]}" </dev/null >>"$MYSQL_DIR/mysqld.out" 2>&1 9>&- &
  pid=$!
  local deadline=$((SECONDS + START_TIMEOUT))
  until mysql_sock -e 'SELECT 1' >/dev/null 2>&1 </dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$MYSQL_LOG" >&2 || true
      die "mysql exited during startup (see $MYSQL_LOG)"
    fi
    ((SECONDS < deadline)) || { tail -n 30 "$MYSQL_LOG" >&2; die "mysql not ready in ${START_TIMEOUT}s"; }
    sleep 0.5
  done
  mysql_ok || mysql_users_sql | mysql_sock \
    || die "mysql: could not create the test users"
  mysql_ok || die "mysql runs but root@127.0.0.1 or its settings are wrong: $(mysql_tcp -N -B -e \
    'select @@log_bin, @@gtid_mode, @@binlog_row_metadata, @@ssl_ca' 2>&1 || true)"
  echo "mysql:    up 127.0.0.1:$MYSQL_PORT root/no password, GTID, binlog ROW/FULL/FULL, TLS ($(cat "$MYSQL_PREFIX/.sluice-installed"))"
}

mysql_status() {
  if mysql_ok; then
    local gtid
    gtid="$(mysql_tcp -N -B -e 'SELECT @@gtid_executed' 2>/dev/null || true)"
    echo "mysql:    up   127.0.0.1:$MYSQL_PORT (gtid_executed=${gtid:-none})"
    return 0
  fi
  echo "mysql:    down"
  return 1
}
