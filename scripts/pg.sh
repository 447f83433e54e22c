#!/usr/bin/env bash
# scripts/pg.sh — a private PostgreSQL 15 cluster for this checkout.
#
#   scripts/pg.sh start    create or reuse the cluster, start it, print its URL
#   scripts/pg.sh url      print the URL (the cluster must be running)
#   scripts/pg.sh stop     stop the cluster (fast mode) if it is running
#   scripts/pg.sh status   say whether it runs; exit 0 if running, 3 if not
#   scripts/pg.sh destroy  stop the cluster and delete its data
#   scripts/pg.sh bindir   print the directory of the server binaries it uses
#
# The cluster lives in $REPO/.data/postgres (or, when the postgres user cannot
# reach the checkout, in /tmp/keyplane-pg-<hash of repo path> with
# .data/postgres a symlink to it). It listens only on a Unix socket inside its
# own folder (no TCP), so several checkouts and a system PostgreSQL never clash.
#
# Only the URL goes to stdout:
#   postgres://postgres@/keyplane?host=<socket dir>&sslmode=disable
# Everything else goes to stderr; the server log is <cluster dir>/postgres.log.
#
# Environment (all optional):
#   PG_BINDIR        server binaries (default: /usr/lib/postgresql/15/bin, then pg_config --bindir)
#   PG_START_TIMEOUT seconds to wait for the server to accept connections (default 60)
#   KEYPLANE_PG_DIR  an absolute folder to keep another cluster in, instead of the
#                    checkout's: tests that stop and restart a server use their own.
#                    Its data is <folder>/data; destroy deletes the folder.
set -euo pipefail

PG_MAJOR=15
DB_NAME=keyplane
DB_USER=postgres
PG_PORT=5432 # only names the socket file (.s.PGSQL.5432); no TCP listener
START_TIMEOUT=${PG_START_TIMEOUT:-60}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DATA_DIR=$REPO/.data
LINK=$DATA_DIR/postgres
PG_DIR=${KEYPLANE_PG_DIR:-}
HASH=$(printf '%s' "${PG_DIR:-$REPO}" | sha256sum | cut -c1-12)
TMP_CLUSTER=/tmp/keyplane-pg-$HASH
TMP_SOCKET=/tmp/keyplane-pgsock-$HASH
LOCK_FILE=$DATA_DIR/.pg.lock

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() { printf 'pg.sh: error: %s\n' "$*" >&2; exit 1; }

if [[ -n $PG_DIR ]]; then
  [[ $PG_DIR == /* ]] || die "KEYPLANE_PG_DIR must be an absolute path, not $PG_DIR"
  # The cluster folder holds everything, the lock included.
  DATA_DIR=$PG_DIR
  LOCK_FILE=$PG_DIR/.pg.lock
fi

# ---------------------------------------------------------------- binaries
find_bindir() {
  local d
  for d in "${PG_BINDIR:-}" "/usr/lib/postgresql/$PG_MAJOR/bin" "$(pg_config --bindir 2>/dev/null || true)"; do
    if [[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
      printf '%s\n' "$d"
      return 0
    fi
  done
  die "PostgreSQL $PG_MAJOR server binaries not found (looked in \$PG_BINDIR, /usr/lib/postgresql/$PG_MAJOR/bin, pg_config --bindir); install them with: apt-get install -y postgresql-$PG_MAJOR"
}

# ---------------------------------------------------------------- users
IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
PG_OWNER=$(id -un)
if ((IS_ROOT)); then
  if ! id postgres >/dev/null 2>&1; then
    # Binaries installed from source or a tarball come without the system
    # user that initdb and the server must run as (they refuse root).
    log "creating the 'postgres' system user the cluster runs as"
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres ||
      die "running as root, there is no 'postgres' system user and useradd failed"
  fi
  PG_OWNER=postgres
fi

# Run a command as the cluster owner (postgres when we are root), from / so
# that an unreadable working directory doesn't matter, and without fd 9 (the
# lock), which a started postmaster would otherwise hold forever.
as_owner() {
  if ((IS_ROOT)); then
    if command -v runuser >/dev/null 2>&1; then
      (cd / && runuser -u postgres -- "$@" 9>&-)
    else
      local q
      q=$(printf '%q ' "$@")
      (cd / && su -s /bin/sh postgres -c "$q" 9>&-)
    fi
  else
    (cd / && "$@" 9>&-)
  fi
}

# Can the cluster owner traverse (search) every folder down to $1?
owner_can_reach() {
  as_owner test -x "$1" 2>/dev/null
}

# ---------------------------------------------------------------- layout
# CLUSTER: real path of the cluster folder (0700, owned by the cluster owner)
# PGDATA:  $CLUSTER/data
# SOCKDIR: $CLUSTER, or $TMP_SOCKET if $CLUSTER is too long for a socket path
# LOGFILE: $CLUSTER/postgres.log
resolve_layout() { # $1 = create (1) or only look (0)
  local create=$1
  CLUSTER=
  if [[ -n $PG_DIR ]]; then
    if [[ ! -d $PG_DIR ]]; then
      ((create)) || return 1
    fi
    ((create)) && make_private_dir "$PG_DIR"
    CLUSTER=$PG_DIR
  elif [[ -L $LINK ]]; then
    CLUSTER=$(readlink "$LINK")
    [[ $CLUSTER == /* ]] || CLUSTER=$DATA_DIR/$CLUSTER
    if [[ ! -d $CLUSTER ]]; then
      ((create)) || return 1
      log "cluster folder $CLUSTER (target of $LINK) is gone; creating it anew"
      make_private_dir "$CLUSTER"
    fi
  elif [[ -d $LINK ]]; then
    CLUSTER=$LINK
  else
    ((create)) || return 1
    mkdir -p "$DATA_DIR"
    chmod 0755 "$DATA_DIR" 2>/dev/null || true
    if owner_can_reach "$DATA_DIR"; then
      CLUSTER=$LINK
    else
      log "user $PG_OWNER cannot reach $DATA_DIR (a parent folder is not traversable); keeping the cluster in $TMP_CLUSTER"
      CLUSTER=$TMP_CLUSTER
      make_private_dir "$CLUSTER"
      ln -sfn "$CLUSTER" "$LINK"
    fi
    make_private_dir "$CLUSTER"
  fi
  CLUSTER=$(cd "$CLUSTER" && pwd -P)
  PGDATA=$CLUSTER/data
  LOGFILE=$CLUSTER/postgres.log
  # sun_path is 108 bytes including the NUL; postgres needs room for
  # "/.s.PGSQL.<port>". Also keep the URL free of characters needing escapes.
  local sock=$CLUSTER/.s.PGSQL.$PG_PORT
  if ((${#sock} > 107)) || [[ ! $CLUSTER =~ ^[A-Za-z0-9/._~-]+$ ]]; then
    SOCKDIR=$TMP_SOCKET
    if ((create)); then make_private_dir "$SOCKDIR"; fi
  else
    SOCKDIR=$CLUSTER
  fi
  return 0
}

# mkdir + chown to the cluster owner + chmod 0700; refuses a folder owned by someone else.
make_private_dir() {
  local d=$1
  if [[ -L $d ]]; then die "$d is a symlink; refusing to use it"; fi
  mkdir -p "$d"
  local owner
  owner=$(stat -c %U "$d")
  if [[ $owner != "$PG_OWNER" ]]; then
    if ((IS_ROOT)) && [[ $owner == root ]]; then
      chown "$PG_OWNER:" "$d"
    else
      die "$d is owned by $owner, not $PG_OWNER; remove it and retry"
    fi
  fi
  chmod 0700 "$d"
}

url() {
  printf 'postgres://%s@/%s?host=%s&sslmode=disable\n' "$DB_USER" "$DB_NAME" "$SOCKDIR"
}

# ---------------------------------------------------------------- state
# PID of the running postmaster of this cluster, or nothing.
postmaster_pid() {
  local pidfile=$PGDATA/postmaster.pid pid
  [[ -f $pidfile ]] || return 1
  pid=$(head -n1 "$pidfile" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -d /proc/$pid ]] || return 1
  # A recycled PID belongs to some other process: it must run in our data dir.
  local cwd
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
  [[ $cwd == "$PGDATA" ]] || return 1
  printf '%s\n' "$pid"
}

is_ready() {
  "$BINDIR/pg_isready" -q -h "$SOCKDIR" -p "$PG_PORT" -U "$DB_USER" -d postgres -t 2 >/dev/null 2>&1
}

log_tail() {
  if [[ -f $LOGFILE ]]; then
    printf -- '--- last lines of %s ---\n' "$LOGFILE" >&2
    tail -n 40 "$LOGFILE" >&2 || true
    printf -- '---\n' >&2
  fi
}

# Processes left behind by a killed postmaster (backends exit by themselves
# when they notice; wait a little, then kill those still in our data dir).
reap_orphans() {
  local i p cwd left
  for i in $(seq 1 50); do
    left=()
    for p in /proc/[0-9]*; do
      cwd=$(readlink "$p/cwd" 2>/dev/null || true)
      [[ $cwd == "$PGDATA" ]] && left+=("${p#/proc/}")
    done
    ((${#left[@]} == 0)) && return 0
    if ((i == 50)); then
      log "killing leftover server processes of this cluster: ${left[*]}"
      kill -9 "${left[@]}" 2>/dev/null || true
      sleep 0.5
      return 0
    fi
    sleep 0.2
  done
}

write_conf() {
  local conf=$PGDATA/keyplane.conf
  as_owner tee "$conf" >/dev/null <<EOF
# Written by scripts/pg.sh on every start; edits are lost.
listen_addresses = ''
port = $PG_PORT
unix_socket_directories = '$SOCKDIR'
unix_socket_permissions = 0700
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
timezone = 'UTC'
EOF
  if ! grep -q "^include_if_exists = 'keyplane.conf'" "$PGDATA/postgresql.conf"; then
    printf "\ninclude_if_exists = 'keyplane.conf'\n" | as_owner tee -a "$PGDATA/postgresql.conf" >/dev/null
  fi
}

# ---------------------------------------------------------------- commands
cmd_start() {
  BINDIR=$(find_bindir)
  mkdir -p "$DATA_DIR"
  # Serialise concurrent starts of the same checkout (or folder).
  exec 9>"$LOCK_FILE"
  flock -w 120 9 || die "another scripts/pg.sh holds $LOCK_FILE"

  resolve_layout 1
  make_private_dir "$CLUSTER"
  [[ $SOCKDIR == "$CLUSTER" ]] || make_private_dir "$SOCKDIR"
  owner_can_reach "$CLUSTER" || die "user $PG_OWNER cannot reach $CLUSTER; run scripts/pg.sh destroy and start again (it will then keep the cluster under /tmp)"

  if [[ ! -f $PGDATA/PG_VERSION ]]; then
    if [[ -e $PGDATA ]]; then
      log "removing incomplete data directory $PGDATA"
      rm -rf "$PGDATA"
    fi
    log "initdb: new cluster in $PGDATA"
    if ! as_owner "$BINDIR/initdb" -D "$PGDATA" -U "$DB_USER" -A trust -E UTF8 --locale=C \
      --no-sync --no-instructions >"$CLUSTER/initdb.log" 2>&1; then
      cat "$CLUSTER/initdb.log" >&2
      rm -rf "$PGDATA"
      die "initdb failed"
    fi
  else
    local v
    v=$(cat "$PGDATA/PG_VERSION")
    [[ $v == "$PG_MAJOR" ]] || die "$PGDATA holds a PostgreSQL $v cluster, not $PG_MAJOR; run scripts/pg.sh destroy"
  fi

  local pid
  if pid=$(postmaster_pid); then
    log "already running (pid $pid)"
  else
    if [[ -f $PGDATA/postmaster.pid ]]; then
      log "removing stale postmaster.pid (server not running)"
      reap_orphans
      rm -f "$PGDATA/postmaster.pid"
    fi
    rm -f "$SOCKDIR/.s.PGSQL.$PG_PORT" "$SOCKDIR/.s.PGSQL.$PG_PORT.lock"
    write_conf
    log "starting PostgreSQL $PG_MAJOR (socket in $SOCKDIR, log $LOGFILE)"
    as_owner touch "$LOGFILE"
    if ! as_owner "$BINDIR/pg_ctl" -D "$PGDATA" -l "$LOGFILE" -w -t "$START_TIMEOUT" start >&2; then
      log_tail
      die "pg_ctl start failed (see $LOGFILE)"
    fi
  fi

  local deadline=$((SECONDS + START_TIMEOUT))
  until is_ready; do
    if ((SECONDS >= deadline)); then
      log_tail
      die "server did not accept connections on $SOCKDIR within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done

  local psql=("$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PG_PORT" -U "$DB_USER" -d postgres)
  if [[ -z $("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") ]]; then
    log "creating database $DB_NAME"
    "${psql[@]}" -c "CREATE DATABASE $DB_NAME" >/dev/null
  fi
  url
}

cmd_url() {
  BINDIR=$(find_bindir)
  resolve_layout 0 || die "no cluster yet; run scripts/pg.sh start"
  if ! postmaster_pid >/dev/null || ! is_ready; then
    die "cluster in $CLUSTER is not running; run scripts/pg.sh start"
  fi
  url
}

cmd_stop() {
  BINDIR=$(find_bindir)
  if ! resolve_layout 0; then
    log "no cluster"
    return 0
  fi
  local pid
  if pid=$(postmaster_pid); then
    log "stopping PostgreSQL (pid $pid)"
    as_owner "$BINDIR/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >&2 || {
      log_tail
      die "pg_ctl stop failed"
    }
  else
    log "not running"
  fi
}

cmd_status() {
  BINDIR=$(find_bindir)
  if ! resolve_layout 0; then
    echo "no cluster (run scripts/pg.sh start)"
    return 3
  fi
  local pid
  if pid=$(postmaster_pid) && is_ready; then
    echo "running (pid $pid)"
    echo "data: $PGDATA"
    echo "log:  $LOGFILE"
    echo "url:  $(url)"
    return 0
  fi
  if [[ -n ${pid:-} ]]; then
    echo "starting or not accepting connections (pid $pid); data: $PGDATA"
  else
    echo "stopped; data: $PGDATA"
  fi
  return 3
}

cmd_destroy() {
  cmd_stop
  if resolve_layout 0; then
    log "deleting $CLUSTER"
    rm -rf "$CLUSTER"
    [[ $SOCKDIR == "$CLUSTER" ]] || rm -rf "$SOCKDIR"
  fi
  [[ -n $PG_DIR ]] || rm -rf "$LINK"
}

case ${1:-} in
start) cmd_start ;;
url) cmd_url ;;
stop) cmd_stop ;;
status) cmd_status ;;
destroy) cmd_destroy ;;
bindir) find_bindir ;;
*)
  echo "usage: $0 start|url|stop|status|destroy|bindir" >&2
  exit 2
  ;;
esac
