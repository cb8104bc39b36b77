#!/usr/bin/env bash
# Start (or stop) a PostgreSQL and a MariaDB server on 127.0.0.1 as our own
# processes, with data under a temporary folder. Installs the Debian packages
# when missing.
#
#   bash .ci/servers.sh start DIR   # writes DIR/env to source
#   bash .ci/servers.sh stop DIR
#   bash .ci/servers.sh restart-postgresql DIR   # or restart-mariadb
set -euo pipefail
action=${1:?start or stop}
dir=${2:?data folder}
PG_PORT=${PG_PORT:-54329}
MYSQL_PORT=${MYSQL_PORT:-33069}
PASSWORD=multidb-secret

as_user() { local user=$1; shift; if [[ $(id -u) -eq 0 ]]; then runuser -u "$user" -- "$@"; else "$@"; fi; }

install_packages() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v mariadbd >/dev/null 2>&1 \
      || ! command -v mysql_config >/dev/null 2>&1 && ! command -v mariadb_config >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql mariadb-server mariadb-client default-libmysqlclient-dev pkg-config >/dev/null
  fi
}

start() {
  install_packages
  mkdir -p "$dir"
  chmod 755 "$dir"
  local pg_bin
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  # PostgreSQL refuses to run as root: its files belong to the postgres user.
  mkdir -p "$dir/pg"
  chown postgres "$dir/pg" 2>/dev/null || true
  as_user postgres "$pg_bin/initdb" -D "$dir/pg/data" -U postgres --auth=trust >"$dir/pg-init.log"
  as_user postgres "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w \
    -o "-p $PG_PORT -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200" start >/dev/null
  as_user postgres "$pg_bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -v ON_ERROR_STOP=1 <<SQL
CREATE ROLE multidb LOGIN CREATEDB PASSWORD '$PASSWORD';
CREATE ROLE multidb_ro LOGIN PASSWORD '$PASSWORD';
SQL

  mkdir -p "$dir/mysql"
  mariadb-install-db --no-defaults --datadir="$dir/mysql/data" --user="$(id -un)" \
    --auth-root-authentication-method=normal >"$dir/mysql-init.log" 2>&1
  start_mariadb
  mysql --no-defaults -S "$dir/mysql/mysqld.sock" -uroot <<SQL
-- The anonymous users of a fresh data folder would shadow ours on localhost.
DROP USER IF EXISTS ''@'localhost', ''@'$(hostname)';
CREATE USER 'multidb'@'%' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'multidb'@'%';
CREATE USER 'multidb_ro'@'%' IDENTIFIED BY '$PASSWORD';
FLUSH PRIVILEGES;
SQL
  # The Unix sockets too: the fault suite reaches one server both ways.
  cat >"$dir/env" <<ENV
export PG_HOST=127.0.0.1 PG_PORT=$PG_PORT PG_USER=multidb PG_PASSWORD=$PASSWORD PG_RO_USER=multidb_ro
export PG_SOCKET_DIR=$dir/pg
export MYSQL_HOST=127.0.0.1 MYSQL_PORT=$MYSQL_PORT MYSQL_USER=multidb MYSQL_PASSWORD=$PASSWORD MYSQL_RO_USER=multidb_ro
export MYSQL_SOCKET=$dir/mysql/mysqld.sock

# The fault suite restarts these servers mid-run (restart-postgresql, restart-mariadb).
export MULTIDB_SERVERS_DIR=$dir
ENV
  echo "PostgreSQL on 127.0.0.1:$PG_PORT, MariaDB on 127.0.0.1:$MYSQL_PORT; source $dir/env"
}

start_mariadb() {
  (mariadbd --no-defaults --datadir="$dir/mysql/data" --socket="$dir/mysql/mysqld.sock" \
    --pid-file="$dir/mysql/mysqld.pid" --port="$MYSQL_PORT" --bind-address=127.0.0.1 \
    --user="$(id -un)" --innodb-flush-log-at-trx-commit=0 --skip-log-bin \
    >>"$dir/mysql/server.log" 2>&1 &)
  for _ in $(seq 1 100); do
    mysql --no-defaults -S "$dir/mysql/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.2
  done
}

stop_mariadb() {
  if [[ -f $dir/mysql/mysqld.pid ]]; then kill "$(cat "$dir/mysql/mysqld.pid")" 2>/dev/null || true; fi
  for _ in $(seq 1 50); do [[ -f $dir/mysql/mysqld.pid ]] || break; sleep 0.2; done
}

# Restart one server, keeping its data and port (MYSQL_PORT must be the one it was started with).
restart-postgresql() {
  local pg_bin
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  as_user postgres "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w restart >/dev/null
}

restart-mariadb() {
  stop_mariadb
  start_mariadb
}

stop() {
  local pg_bin
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -d $dir/pg/data ]]; then as_user postgres "$pg_bin/pg_ctl" -D "$dir/pg/data" -m immediate stop >/dev/null 2>&1 || true; fi
  stop_mariadb
}

"$action"
