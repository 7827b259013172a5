# shellcheck shell=bash
# Sourced by scripts/services.sh: a TEST-ONLY certificate authority and the certificates the
# MySQL-family servers and PostgreSQL present, made once with the openssl CLI.
#
#   $TLS_DIR/ca.pem, ca-key.pem          the test CA (tests trust it for verify_ca/verify_identity)
#   $TLS_DIR/server.pem, server-key.pem  CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1
#   $TLS_DIR/client.pem, client-key.pem  CN=sluice-test-client (client certificate tests)
#
# The keys are world-readable on purpose: they protect nothing but the test servers.

TLS_DIR="$SERVICES_DIR/tls"
# 1 when this run (re)made the certificates: every server must restart to load them.
TLS_CHANGED=0

tls_ensure() {
  if [[ -s "$TLS_DIR/ca.pem" && -s "$TLS_DIR/server.pem" && -s "$TLS_DIR/server-key.pem" \
        && -s "$TLS_DIR/client.pem" && -s "$TLS_DIR/client-key.pem" ]]; then
    return 0
  fi
  command -v openssl >/dev/null 2>&1 || apt_ensure openssl
  log "tls: creating the test CA and certificates in $TLS_DIR"
  local tmp="$TLS_DIR.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (
    cd "$tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
      -keyout ca-key.pem -out ca.pem -subj "/CN=Sluice Test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    cat >server.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EOF
    cat >client.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EOF
    local who
    for who in server client; do
      local cn=localhost
      [[ $who == client ]] && cn=sluice-test-client
      openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$who-key.pem" -out "$who.csr" -subj "/CN=$cn"
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
        -sha256 -extfile "$who.ext" -out "$who.pem"
    done
    rm -f ./*.csr ./*.ext ./*.srl
    chmod 644 ./*.pem
  ) >"$SERVICES_DIR/tls.log" 2>&1 || { tail -n 20 "$SERVICES_DIR/tls.log" >&2; die "tls: openssl failed"; }
  rm -rf "$TLS_DIR"
  mv "$tmp" "$TLS_DIR"
  chmod 755 "$TLS_DIR"
  # shellcheck disable=SC2034 # read by services.sh and mysql.sh
  TLS_CHANGED=1
}

# MariaDB reads its certificates from a file of its own, so the other worktrees' copies of
# services.sh (which own 60-sluice.cnf) neither see a change nor undo this one.
# shellcheck disable=SC2034 # used by services.sh
MARIADB_TLS_CNF=/etc/mysql/mariadb.conf.d/61-sluice-tls.cnf
mariadb_tls_config() {
  cat <<EOF
# Managed by Sluice scripts/services.sh -- TEST-ONLY TLS certificates.
[mysqld]
ssl_ca   = $TLS_DIR/ca.pem
ssl_cert = $TLS_DIR/server.pem
ssl_key  = $TLS_DIR/server-key.pem
EOF
}

# PostgreSQL: its own conf.d file; the key is copied where postgres owns it (it refuses a
# key that others can read).
pg_tls_config() {
  local confdir=$1
  cat <<EOF
# Managed by Sluice scripts/services.sh -- TEST-ONLY TLS certificates.
ssl = on
ssl_ca_file = '$TLS_DIR/ca.pem'
ssl_cert_file = '$TLS_DIR/server.pem'
ssl_key_file = '$confdir/sluice-server-key.pem'
EOF
}

pg_tls_install_key() {
  local confdir=$1
  install -o postgres -g postgres -m 600 "$TLS_DIR/server-key.pem" "$confdir/sluice-server-key.pem"
}
