#!/usr/bin/env bash
# The seed walkthrough on this machine: services up, mydb.users created, Sluice running
# config/quickstart.toml, rows inserted and shown arriving in Kafka (my_topic_users) and in
# the sink table mydb.my_topic_users, then a column added and seen in the sink table.
# Leaves Sluice running in the foreground when run with --follow; otherwise stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh up
cargo build --release --quiet
BIN=target/release/sluice
sql() { mariadb -h127.0.0.1 -uroot "$@"; }

sql -e "CREATE DATABASE IF NOT EXISTS mydb"
sql mydb -e "CREATE TABLE IF NOT EXISTS users (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id VARCHAR(255), pwd VARCHAR(255), name VARCHAR(255),
  created_at TIMESTAMP NULL DEFAULT NULL)"

$BIN check --config config/quickstart.toml
LOG=$(mktemp /tmp/sluice-quickstart.XXXX.log)
$BIN run --config config/quickstart.toml 2>"$LOG" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
echo "sluice running (pid $PID, log $LOG)"

n=$(sql -N mydb -e "SELECT COUNT(*) FROM users")
sql mydb -e "SET time_zone='+00:00'; INSERT INTO users (user_id, pwd, name, created_at) VALUES
  ('test$((n+1))', NULL, 'test$((n+1))', NOW()), ('test$((n+2))', 'secret', 'test$((n+2))', NOW())"
want=$((n+2))
for _ in $(seq 1 60); do
  got=$(sql -N mydb -e "SELECT COUNT(*) FROM my_topic_users" 2>/dev/null || echo 0)
  [ "$got" -ge "$want" ] && break
  sleep 1
done
echo "--- last messages on my_topic_users (kcat, read_committed):"
kcat -C -b 127.0.0.1:9092 -t my_topic_users -o beginning -e -q -X isolation.level=read_committed | tail -n 2
echo "--- sink table mydb.my_topic_users:"
sql mydb -e "SELECT * FROM my_topic_users ORDER BY id"

if ! sql -N mydb -e "SHOW COLUMNS FROM users LIKE 'email'" | grep -q email; then
  sql mydb -e "ALTER TABLE users ADD COLUMN email VARCHAR(100) NULL"
fi
sql mydb -e "INSERT INTO users (user_id, name, email) VALUES ('evolved', 'evolved', 'e@example.com')"
for _ in $(seq 1 60); do
  sql -N mydb -e "SELECT email FROM my_topic_users WHERE user_id='evolved'" 2>/dev/null | grep -q example && break
  sleep 1
done
echo "--- after ALTER TABLE users ADD COLUMN email (auto.evolve):"
sql mydb -e "SELECT id, user_id, email FROM my_topic_users ORDER BY id"
echo "--- metrics:"
curl -s http://127.0.0.1:8083/metrics | grep -E '^sluice_(source_rows_read|sink_rows_applied)' || true
if [ "${1:-}" = "--follow" ]; then
  echo "following; Ctrl-C stops sluice"
  wait $PID
fi
