#!/usr/bin/env bash
# Make sure the local services the tests use are answering: PostgreSQL, Redis, MariaDB.
#
# A service that is not installed is reported and skipped (its tests skip themselves); one
# that is installed but will not start fails this script (exit 1) after all are checked.
# Also creates the PostgreSQL database the tests use (relaydesk_test) when it is missing.
#
# Environment: SERVICES_WAIT_SECONDS (default 20), RELAYDESK_TEST_PG_DB (relaydesk_test).
set -euo pipefail

WAIT_SECONDS="${SERVICES_WAIT_SECONDS:-20}"
PG_TEST_DB="${RELAYDESK_TEST_PG_DB:-relaydesk_test}"
failures=0

say() { printf '%-11s %s\n' "$1:" "$2"; }

fail() {
    say "$1" "ERROR: $2" >&2
    failures=$((failures + 1))
}

# Run a command as root (pg_ctlcluster and mariadbd want it); via sudo -n when not root.
as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        "$@"
    fi
}

# wait_until CHECK...: poll CHECK (a function or command) until it succeeds or time is up.
wait_until() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.5
    done
}

# ensure NAME CHECK START_FUNCTION LOG_HINT
ensure() {
    local name=$1 check=$2 start=$3 hint=$4 output
    if "$check" >/dev/null 2>&1; then
        return 0
    fi
    say "$name" "not answering; starting it"
    # A start command may complain (e.g. "already running" while still starting up); the
    # wait below is what decides.
    output=$("$start" 2>&1) || true
    if wait_until "$check"; then
        return 0
    fi
    fail "$name" "installed but did not answer within ${WAIT_SECONDS}s after starting; ${hint}"
    if [[ -n ${output} ]]; then
        printf '%s\n' "${output}" | sed 's/^/    /' >&2
    fi
    return 1
}

# --- PostgreSQL ---------------------------------------------------------------------------

pg_version() {
    ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

pg_installed() {
    command -v pg_ctlcluster >/dev/null 2>&1 \
        && [[ -n $(pg_version) ]] \
        && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

pg_check() { pg_isready -h 127.0.0.1 -q -t 2; }

pg_start() {
    as_root pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start
}

# psql as the first superuser that exists (trust auth on 127.0.0.1).
pg_psql() {
    local user
    for user in postgres root; do
        if psql -h 127.0.0.1 -U "$user" -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
            psql -h 127.0.0.1 -U "$user" -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
            return
        fi
    done
    echo "neither user postgres nor root can connect to 127.0.0.1:5432" >&2
    return 1
}

pg_has_db() {
    [[ $(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '${PG_TEST_DB}'") == 1 ]]
}

pg_ensure_db() {
    local output
    if pg_has_db; then
        return 0
    fi
    # Another process may create it at the same moment: recheck before calling it a failure.
    if output=$(pg_psql -c "CREATE DATABASE \"${PG_TEST_DB}\"" 2>&1) || pg_has_db; then
        return 0
    fi
    fail postgresql "could not create database ${PG_TEST_DB}: ${output}"
    return 1
}

if pg_installed; then
    if ensure postgresql pg_check pg_start \
        "see /var/log/postgresql/postgresql-$(pg_version)-main.log" \
        && pg_ensure_db; then
        say postgresql "up on 127.0.0.1:5432, database ${PG_TEST_DB} ready"
    fi
else
    echo "postgresql not installed: its tests will be skipped"
fi

# --- Redis --------------------------------------------------------------------------------

redis_check() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ $(timeout 3 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]]
    else
        timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379 && printf "PING\r\n" >&3 \
            && read -r reply <&3 && [[ ${reply} == "+PONG"* ]]'
    fi
}

redis_start() {
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

if command -v redis-server >/dev/null 2>&1; then
    if ensure redis redis_check redis_start "see /var/log/redis/ci.log"; then
        say redis "up on 127.0.0.1:6379"
    fi
else
    echo "redis not installed: its tests will be skipped"
fi

# --- MariaDB ------------------------------------------------------------------------------

MARIADB_SOCKET=/run/mysqld/mysqld.sock

mariadb_check() {
    if command -v mariadb-admin >/dev/null 2>&1; then
        # exits 0 whenever the server answers, even if this user may not log in
        mariadb-admin --connect-timeout=2 --silent ping
    else
        [[ -S ${MARIADB_SOCKET} ]] && timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/3306'
    fi
}

mariadb_start() {
    # /run is a tmpfs: after a reboot the socket directory is gone and mariadbd won't start.
    if [[ ! -d /run/mysqld ]]; then
        as_root install -d -o mysql -g mysql /run/mysqld
    fi
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
}

if [[ -x /usr/sbin/mariadbd ]]; then
    if ensure mariadb mariadb_check mariadb_start "see journal or /var/log/mysql/error.log"; then
        say mariadb "up on ${MARIADB_SOCKET} and 127.0.0.1:3306"
    fi
else
    echo "mariadb not installed: its tests will be skipped"
fi

if ((failures > 0)); then
    echo "services: ${failures} installed service(s) could not be started; see above" >&2
    exit 1
fi
