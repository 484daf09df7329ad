#!/usr/bin/env bash
# Run a command with every service the tests need started on loopback, then stop them:
#
#   bash scripts/with_services.sh CMD [ARGS...]
#
# Each service is a start_<name> function below that starts it in a private temporary directory, exports
# its address and registers how to stop it; the trap stops every registered service (in reverse order) and
# removes the directory when CMD ends, fails or is interrupted. CMD's exit code is this script's.
#
# Services and the variables they export:
#   postgres  LSTMLAB_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/lstmlab_test
#             a throwaway PostgreSQL 15 cluster: superuser `postgres` trusted on loopback, every other
#             role must give its password (scram-sha-256), fsync off.
#   oidc      LSTMLAB_TEST_OIDC_URL=http://127.0.0.1:PORT
#             an OpenID Connect provider for the sign-in tests (oidc-provider-mock from requirements-dev.txt, run
#             by the repository's .venv, or by $OIDC_PYTHON): any client id and secret; its login form takes a
#             subject, whose claims PUT /users/SUB sets (else only "email": SUB, without email_verified).
#   dask      LSTMLAB_TEST_SCHEDULER=tcp://127.0.0.1:PORT
#             a Dask scheduler and two workers (one thread each), run by DASK_PYTHON (default: the
#             repository's .venv), from the repository so that the workers import this lstmlab.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
OIDC_PYTHON="${OIDC_PYTHON:-$REPO/.venv/bin/python}"
DASK_PYTHON="${DASK_PYTHON:-$REPO/.venv/bin/python}"
SERVICES=(postgres oidc dask)

if [ "$#" -eq 0 ]; then
  echo "usage: bash scripts/with_services.sh CMD [ARGS...]" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/lstmlab-services.XXXXXX")"
chmod 755 "$WORK"  # the service users must traverse it
STOPS=()

stop_all() {
  local i
  for ((i = ${#STOPS[@]} - 1; i >= 0; i--)); do
    eval "${STOPS[$i]}" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
CHILD=""
# On a signal: stop CMD (it runs in the background so that the signal is handled at once), then exit, which
# runs stop_all.
on_signal() {
  [ -z "$CHILD" ] || kill -TERM "$CHILD" 2>/dev/null || true
  [ -z "$CHILD" ] || wait "$CHILD" 2>/dev/null || true
  exit "$1"
}
trap stop_all EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

# Run a command as the given user when we are root (initdb and postgres refuse root), else as ourselves.
as_user() {
  local user="$1"; shift
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_postgres() {
  local dir="$WORK/postgres" port db="lstmlab_test" user="postgres"
  [ "$(id -u)" -eq 0 ] || user="$(id -un)"
  if [ ! -x "$PG_BIN/initdb" ]; then
    echo "with_services.sh: no PostgreSQL server in $PG_BIN (run scripts/setup.sh)" >&2
    return 1
  fi
  mkdir -m 700 "$dir"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
  as_user postgres "$PG_BIN/initdb" -D "$dir/data" -U "$user" -A trust >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  # Loopback only; the superuser is trusted, any other role needs its password (tests use such roles).
  cat >"$dir/data/pg_hba.conf" <<HBA
local all all trust
host all $user 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
HBA
  port="$(free_port)"
  as_user postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -s \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start \
    || { cat "$dir/server.log" >&2; return 1; }
  STOPS+=("as_user postgres '$PG_BIN/pg_ctl' -D '$dir/data' -m immediate -w -s stop")
  as_user postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$db"
  export LSTMLAB_TEST_POSTGRES_URL="postgresql+psycopg://$user@127.0.0.1:$port/$db"
  echo "with_services.sh: postgres on 127.0.0.1:$port (LSTMLAB_TEST_POSTGRES_URL)" >&2
}

start_oidc() {
  local dir="$WORK/oidc" port pid i
  if ! "$OIDC_PYTHON" -c "import oidc_provider_mock" 2>/dev/null; then
    echo "with_services.sh: no oidc-provider-mock for $OIDC_PYTHON (run scripts/setup.sh)" >&2
    return 1
  fi
  mkdir "$dir"
  port="$(free_port)"
  "$OIDC_PYTHON" -m oidc_provider_mock --host 127.0.0.1 --port "$port" >"$dir/server.log" 2>&1 &
  pid=$!
  STOPS+=("kill $pid; wait $pid")
  for ((i = 0; i < 100; i++)); do
    if "$OIDC_PYTHON" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "http://127.0.0.1:$port/.well-known/openid-configuration" 2>/dev/null; then
      export LSTMLAB_TEST_OIDC_URL="http://127.0.0.1:$port"
      echo "with_services.sh: oidc provider on 127.0.0.1:$port (LSTMLAB_TEST_OIDC_URL)" >&2
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$dir/server.log" >&2
  return 1
}

start_dask() {
  local dir="$WORK/dask" port
  if ! "$DASK_PYTHON" -c "import distributed" 2>/dev/null; then
    echo "with_services.sh: $DASK_PYTHON cannot import distributed (run scripts/setup.sh)" >&2
    return 1
  fi
  mkdir -m 700 "$dir"
  port="$(free_port)"
  (cd "$REPO" && exec "$DASK_PYTHON" -m distributed.cli.dask_scheduler --host 127.0.0.1 --port "$port" \
    --no-dashboard --no-show >"$dir/scheduler.log" 2>&1) &
  STOPS+=("kill -TERM $! && wait $!")
  (cd "$REPO" && PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" exec "$DASK_PYTHON" -m distributed.cli.dask_worker \
    "tcp://127.0.0.1:$port" --nworkers 2 --nthreads 1 --no-dashboard --local-directory "$dir" \
    --host 127.0.0.1 >"$dir/workers.log" 2>&1) &
  STOPS+=("kill -TERM $! && wait $!")
  "$DASK_PYTHON" -c "
import sys
from distributed import Client
with Client(sys.argv[1], timeout=60) as client:
    client.wait_for_workers(2, timeout=60)
" "tcp://127.0.0.1:$port" || { cat "$dir/scheduler.log" "$dir/workers.log" >&2; return 1; }
  export LSTMLAB_TEST_SCHEDULER="tcp://127.0.0.1:$port"
  echo "with_services.sh: dask scheduler on 127.0.0.1:$port with 2 workers (LSTMLAB_TEST_SCHEDULER)" >&2
}

for service in "${SERVICES[@]}"; do
  "start_$service"
done

"$@" <&0 &
CHILD=$!
set +e
wait "$CHILD"
status=$?
set -e
CHILD=""
exit "$status"
