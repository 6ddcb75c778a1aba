# Shared by scripts/test-pgbouncer and scripts/bench-scale-out (sourced, not
# run): a private PgBouncer in transaction pooling mode in front of the
# server DATABASE_URL names.
#
#   pgbouncer_install        installs Debian's pgbouncer (apt-get) if there
#                            is none on the PATH; it never uses or touches the
#                            system service (/etc/pgbouncer, port 6432)
#   pgbouncer_find_server    finds where DATABASE_URL's server really is, and
#                            its user (a superuser) and password
#   pgbouncer_start          writes the configuration, auth file, log and
#                            pidfile into a fresh temporary directory and
#                            starts its own pgbouncer there, as the user
#                            postgres when run as root (as the current user
#                            otherwise), listening on 127.0.0.1 only, on
#                            PGBOUNCER_PORT or the first free port from 6543
#                            up; sets pgbouncer_port
#   pgbouncer_cleanup STATUS stops that pgbouncer (only the pid it started)
#                            and removes the directory; with a nonzero STATUS,
#                            prints the end of its log first. Safe to call
#                            when nothing started.
#
# The caller sets `set -euo pipefail`, exports DATABASE_URL, and traps EXIT
# to call pgbouncer_cleanup before pgbouncer_start. Messages start with the
# calling script's name.
#
# PgBouncer forwards every database name (`* = host=... port=...`) to the
# server DATABASE_URL names (the address and port that server reports), and
# authenticates logins it has never heard of with auth_user + auth_query:
# it looks up their password secret in pg_shadow as DATABASE_URL's user, the
# only user in its auth file. With `auth_type = md5` it speaks SCRAM to
# clients whose secret is SCRAM (PostgreSQL 15's default) and md5 to those
# whose secret is md5, and a SCRAM login lets it pass the client's SCRAM keys
# on to a server that itself asks for scram-sha-256.

pgbouncer_script=${0##*/}
pgbouncer_dir=""
pgbouncer_pid=""
pgbouncer_port=""

_pgbouncer_say() { printf '==> %s\n' "$*" >&2; }
_pgbouncer_die() { printf '%s: %s\n' "$pgbouncer_script" "$*" >&2; exit 1; }

pgbouncer_install() {
  if ! command -v pgbouncer >/dev/null; then
    [ "$(id -u)" = 0 ] || _pgbouncer_die "pgbouncer is not installed; install it (apt-get install pgbouncer) or run as root"
    _pgbouncer_say "Installing pgbouncer"
    apt-get update -qq
    # The package may start its own service (on port 6432); this script
    # neither uses nor stops it.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
  fi
  pgbouncer_bin=$(command -v pgbouncer)
}

# `url` with a libpq parameter added; it overrides the URL's own.
_pgbouncer_with_param() {
  case "$1" in
    postgres://* | postgresql://*)
      case "$1" in
        *\?*) printf '%s&%s' "$1" "$2" ;;
        *) printf '%s?%s' "$1" "$2" ;;
      esac ;;
    *) printf '%s %s' "$1" "$2" ;;
  esac
}
_pgbouncer_url_decode() { printf '%b' "${1//%/\\x}"; }

pgbouncer_find_server() {
  local maintenance_url server superuser userinfo
  maintenance_url=$(_pgbouncer_with_param "$DATABASE_URL" dbname=postgres)
  # Where the server really is (the address it accepted this connection on,
  # so `localhost` is whichever of 127.0.0.1 and ::1 libpq reached, or its
  # socket directory), and who DATABASE_URL's user is.
  server=$(psql -w -X -qAt -F ' ' -d "$maintenance_url" -c "
    SELECT coalesce(host(inet_server_addr()),
                    trim(split_part(current_setting('unix_socket_directories'), ',', 1))),
           current_setting('port'), current_user,
           (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)") \
    || _pgbouncer_die "cannot connect to PostgreSQL with DATABASE_URL=$DATABASE_URL"
  read -r pgbouncer_pg_host pgbouncer_pg_port pgbouncer_auth_user superuser <<<"$server"
  [ "$superuser" = t ] || _pgbouncer_die "DATABASE_URL's user $pgbouncer_auth_user must be a superuser (PgBouncer reads pg_shadow as it)"

  # DATABASE_URL's password: postgres://user:password@..., or password=...
  pgbouncer_auth_password=""
  if [[ "$DATABASE_URL" =~ ^postgres(ql)?://([^@/?]*)@ ]]; then
    userinfo="${BASH_REMATCH[2]}"
    if [[ "$userinfo" == *:* ]]; then pgbouncer_auth_password=$(_pgbouncer_url_decode "${userinfo#*:}"); fi
  fi
  if [[ "$DATABASE_URL" =~ (^|[?&[:space:]])password=([^&[:space:]]*) ]]; then
    pgbouncer_auth_password=$(_pgbouncer_url_decode "${BASH_REMATCH[2]}")
  fi
  pgbouncer_auth_password="${pgbouncer_auth_password:-${PGPASSWORD:-}}"
}

pgbouncer_stop() {
  [ -n "$pgbouncer_pid" ] || return 0
  # Only the pid this script started, read from its own pidfile. SIGINT is a
  # safe shutdown (it waits for running transactions), SIGTERM an immediate
  # one (in PgBouncer before 1.23), SIGKILL the last resort.
  local signal
  for signal in INT TERM KILL; do
    kill -"$signal" "$pgbouncer_pid" 2>/dev/null || break
    for _ in $(seq 30); do
      kill -0 "$pgbouncer_pid" 2>/dev/null || break 2
      sleep 0.1
    done
  done
  pgbouncer_pid=""
}

pgbouncer_cleanup() {
  local status=$1
  pgbouncer_stop
  [ -n "$pgbouncer_dir" ] || return 0
  if [ "$status" != 0 ] && [ -s "$pgbouncer_dir/pgbouncer.log" ]; then
    printf '\n==> Last lines of the PgBouncer log (%s):\n' "$pgbouncer_dir/pgbouncer.log" >&2
    tail -n 20 "$pgbouncer_dir/pgbouncer.log" >&2 || true
  fi
  rm -rf "$pgbouncer_dir"
  pgbouncer_dir=""
}

_pgbouncer_port_in_use() {
  if command -v ss >/dev/null && ss -Htln "sport = :$1" 2>/dev/null | grep -q .; then
    return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# In auth_file, a double quote inside a value is written twice.
_pgbouncer_quote() { local s="${1//\"/\"\"}"; printf '"%s"' "$s"; }

_pgbouncer_write_config() {
  local port=$1
  cat >"$pgbouncer_dir/pgbouncer.ini" <<CONF
;; Written by scripts/$pgbouncer_script; removed when it exits.
[databases]
;; Any database name, forwarded to the same name on the test server.
* = host=$pgbouncer_pg_host port=$pgbouncer_pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $pgbouncer_dir
logfile = $pgbouncer_dir/pgbouncer.log
pidfile = $pgbouncer_dir/pgbouncer.pid

;; Logins the tests create are looked up in pg_shadow as auth_user, the
;; only user in auth_file. md5 means: SCRAM for users whose secret is SCRAM
;; (then PgBouncer can log in to a server that asks for SCRAM with the
;; client's keys), md5 for users whose secret is md5.
auth_type = md5
auth_file = $pgbouncer_dir/userlist.txt
auth_user = $pgbouncer_auth_user
auth_query = SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = \$1
admin_users = $pgbouncer_auth_user
stats_users = $pgbouncer_auth_user

pool_mode = transaction
;; Server connections per (database, login): the largest test pool (16)
;; must be able to hold all its transactions open at once.
default_pool_size = 20
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
server_idle_timeout = 10
server_check_query = select 1
server_check_delay = 30
ignore_startup_parameters = extra_float_digits

log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
CONF
  printf '%s %s\n' "$(_pgbouncer_quote "$pgbouncer_auth_user")" "$(_pgbouncer_quote "$pgbouncer_auth_password")" >"$pgbouncer_dir/userlist.txt"
  chown "$pgbouncer_run_as" "$pgbouncer_dir/pgbouncer.ini" "$pgbouncer_dir/userlist.txt"
  chmod 600 "$pgbouncer_dir/pgbouncer.ini" "$pgbouncer_dir/userlist.txt"
}

_pgbouncer_as_run_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$pgbouncer_run_as" -- "$@"; else "$@"; fi
}

# Starts pgbouncer on `port`; true once it accepts connections, false if it
# exits first (the port was taken after all, say).
_pgbouncer_start_on() {
  local port=$1 pidfile=$pgbouncer_dir/pgbouncer.pid logfile=$pgbouncer_dir/pgbouncer.log
  _pgbouncer_write_config "$port"
  rm -f "$pidfile" "$logfile"
  # -d: daemon, which writes the pidfile. Up to 1000 clients need more file
  # descriptors than the usual soft limit of 1024.
  _pgbouncer_as_run_user sh -c 'ulimit -n 4096 2>/dev/null || true; exec "$0" -q -d "$1"' \
    "$pgbouncer_bin" "$pgbouncer_dir/pgbouncer.ini" || return 1
  for _ in $(seq 100); do
    if [ -z "$pgbouncer_pid" ] && [ -s "$pidfile" ]; then pgbouncer_pid=$(cat "$pidfile"); fi
    if [ -n "$pgbouncer_pid" ]; then
      kill -0 "$pgbouncer_pid" 2>/dev/null || { pgbouncer_pid=""; return 1; }
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
        && grep -q "listening on 127.0.0.1:$port" "$logfile" 2>/dev/null; then
        return 0
      fi
    fi
    sleep 0.1
  done
  pgbouncer_stop
  return 1
}

pgbouncer_start() {
  local tmp candidate logfile
  # As root, in /tmp: the user postgres may not reach root's TMPDIR.
  if [ "$(id -u)" = 0 ]; then tmp=/tmp; else tmp="${TMPDIR:-/tmp}"; fi
  pgbouncer_dir=$(mktemp -d "$tmp/$pgbouncer_script.XXXXXX")
  logfile=$pgbouncer_dir/pgbouncer.log
  if [ "$(id -u)" = 0 ]; then
    pgbouncer_run_as=postgres
    id "$pgbouncer_run_as" >/dev/null 2>&1 || _pgbouncer_die "run as root, but there is no user $pgbouncer_run_as to run pgbouncer as"
  else
    pgbouncer_run_as=$(id -un)
  fi
  chown "$pgbouncer_run_as" "$pgbouncer_dir"
  chmod 700 "$pgbouncer_dir"

  if [ -n "${PGBOUNCER_PORT:-}" ]; then
    _pgbouncer_port_in_use "$PGBOUNCER_PORT" && _pgbouncer_die "PGBOUNCER_PORT=$PGBOUNCER_PORT is in use"
    _pgbouncer_start_on "$PGBOUNCER_PORT" || _pgbouncer_die "pgbouncer did not start on port $PGBOUNCER_PORT: $(tail -n 5 "$logfile" 2>/dev/null)"
    pgbouncer_port=$PGBOUNCER_PORT
  else
    pgbouncer_port=""
    for candidate in $(seq 6543 6642); do
      _pgbouncer_port_in_use "$candidate" && continue
      if _pgbouncer_start_on "$candidate"; then pgbouncer_port=$candidate; break; fi
    done
    [ -n "$pgbouncer_port" ] || _pgbouncer_die "pgbouncer did not start on any free port from 6543 to 6642: $(tail -n 5 "$logfile" 2>/dev/null)"
  fi
  _pgbouncer_say "PgBouncer $("$pgbouncer_bin" --version | head -n 1 | cut -d' ' -f2) (pid $pgbouncer_pid, user $pgbouncer_run_as) on 127.0.0.1:$pgbouncer_port -> $pgbouncer_pg_host:$pgbouncer_pg_port, transaction pooling, logs in $logfile"
}
