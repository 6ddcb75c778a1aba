# Shared by scripts/test-citus and scripts/bench-scale-out (sourced, not
# run): a Citus cluster of a coordinator and two workers on local ports,
# its data under a temporary directory.
#
#   citus_install         builds and installs Citus 13.2.2 if the server
#                         has none (see scripts/test-citus)
#   citus_start [conf]    starts the cluster; `conf`, lines appended to every
#                         node's postgresql.conf, overrides the settings below
#   citus_stop [status]   stops the nodes and removes the directory; with a
#                         nonzero status (default: $?), prints the end of each
#                         node's log first. Safe to call when nothing started.
#   citus_sql PORT ...    psql on node PORT as the superuser
#
# After citus_start: citus_url is the coordinator's database as the superuser,
# citus_dir the cluster's directory. Needs root (the nodes run as the OS user
# postgres) and Debian's PostgreSQL server binaries. CITUS_PORTS sets the
# three ports (default "9700 9701 9702"); CITUS_SOURCE where the source is.

citus_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
citus_pg_bin=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -n | tail -n 1)/bin
read -r -a citus_ports <<< "${CITUS_PORTS:-9700 9701 9702}"
citus_host=127.0.0.1
citus_database=skill_messages
citus_url="postgres://postgres@$citus_host:${citus_ports[0]}/$citus_database"
citus_dir=""

_citus_say() { printf '==> %s\n' "$*"; }

citus_install() {
  if [ -f "$("$citus_pg_bin/pg_config" --pkglibdir)/citus.so" ]; then
    return
  fi
  local source=${CITUS_SOURCE:-$citus_repo/../shared/vendor/citus}
  [ -d "$source" ] || source=/work/shared/vendor/citus
  [ -f "$source/citus-13.2.2.tar.gz" ] || {
    echo "no Citus installed, and no source at $source (set CITUS_SOURCE)" >&2
    exit 1
  }
  _citus_say "Building Citus 13.2.2 from $source"
  local version
  version=$(basename "$(dirname "$citus_pg_bin")")
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-$version" \
    liblz4-dev libzstd-dev libkrb5-dev >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
           "postgresql-server-dev-$version" liblz4-dev libzstd-dev libkrb5-dev >/dev/null; }
  local build
  build=$(mktemp -d)
  tar xzf "$source/citus-13.2.2.tar.gz" -C "$build"
  (
    cd "$build/citus-13.2.2"
    # Debian's server headers declare have_createdb_privilege(), which
    # Citus 13.2.2 defines again.
    patch -p1 -s < "$source/pg15.20-have_createdb_privilege.patch"
    ./configure -q --without-libcurl PG_CONFIG="$citus_pg_bin/pg_config" >/dev/null
    make -s -j"$(nproc)" with_llvm=no >/dev/null
    make -s install with_llvm=no >/dev/null
  )
  rm -rf "$build"
}

# Runs SQL on node `port` as the superuser.
citus_sql() {
  local port=$1
  shift
  psql -X -q -v ON_ERROR_STOP=1 -h "$citus_host" -p "$port" -U postgres "$@"
}

citus_stop() {
  local status=${1:-$?}
  [ -n "$citus_dir" ] || return 0
  if [ "$status" != 0 ]; then
    local log
    for log in "$citus_dir"/node*.log; do
      printf '\n--- the end of %s\n' "$(basename "$log")"
      tail -n 40 "$log"
    done
  fi
  local node
  for node in "$citus_dir"/node*; do
    [ -f "$node/postmaster.pid" ] && runuser -u postgres -- "$citus_pg_bin/pg_ctl" -D "$node" \
      -m immediate -w -s stop || true
  done
  rm -rf "$citus_dir"
  citus_dir=""
}

citus_start() {
  local extra_conf=${1:-}
  citus_dir=$(mktemp -d /tmp/skill-messages-citus.XXXXXX)
  chown postgres: "$citus_dir"
  local port node
  for port in "${citus_ports[@]}"; do
    node=$citus_dir/node$port
    runuser -u postgres -- "$citus_pg_bin/initdb" -D "$node" -U postgres -A trust --no-sync \
      -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$node/postgresql.conf" <<CONF
port = $port
listen_addresses = '$citus_host'
unix_socket_directories = '$citus_dir'
shared_preload_libraries = 'citus'
max_connections = 300
max_worker_processes = 32
fsync = off
synchronous_commit = off
full_page_writes = off
# Four shards per table keep the many small test schemas quick to create.
citus.shard_count = 4
CONF
    if [ -n "$extra_conf" ]; then
      printf '%s\n' "$extra_conf" >> "$node/postgresql.conf"
    fi
    # The runtime role logs in to the workers only, with the password the
    # coordinator holds in pg_dist_authinfo; clients cannot log in as it.
    if [ "$port" = "${citus_ports[0]}" ]; then
      echo "host all skill_messages_app $citus_host/32 reject" > "$node/pg_hba.conf"
    else
      echo "host all skill_messages_app $citus_host/32 scram-sha-256" > "$node/pg_hba.conf"
    fi
    printf 'local all all trust\nhost all all %s/32 trust\n' "$citus_host" >> "$node/pg_hba.conf"
    runuser -u postgres -- "$citus_pg_bin/pg_ctl" -D "$node" -l "$citus_dir/node$port.log" -w -s start
  done
  for port in "${citus_ports[@]}"; do
    citus_sql "$port" -d postgres -c "CREATE DATABASE $citus_database"
    citus_sql "$port" -d "$citus_database" -c "CREATE EXTENSION citus"
  done
  local password
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  citus_sql "${citus_ports[0]}" -d "$citus_database" <<SQL >/dev/null
SELECT citus_set_coordinator_host('$citus_host', ${citus_ports[0]});
SELECT citus_add_node('$citus_host', ${citus_ports[1]});
SELECT citus_add_node('$citus_host', ${citus_ports[2]});
-- The role the migrations would create, able to log in: Citus opens its
-- connections to the workers as the role in force.
CREATE ROLE skill_messages_app LOGIN PASSWORD '$password';
INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo)
    VALUES (0, 'skill_messages_app', 'password=$password');
SQL
}
