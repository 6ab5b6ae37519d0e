#!/usr/bin/env bash
# Debian's Redis as the Celery broker of the distributed suite (tests/system/distributed, make distributed).
#
#   scripts/integration/redis.sh [start]   install if missing, start a private server, print its URL last
#   scripts/integration/redis.sh stop      shut that server down (nothing to do when it is not running)
#   scripts/integration/redis.sh install   only install the package
#
# The server is private to one work directory: IT_REDIS_DIR (default $IT_WORK_DIR/redis, else
# /tmp/seekrflow-redis) holds its pid file, port file and log. It listens on a free loopback port,
# keeps nothing on disk (--save '' --appendonly no: a broker for one test session, and nothing of
# it may outlive the teardown) and runs daemonized; the harness (tests/system/integration/harness.py,
# Redis) calls `stop` when the deployment stops, and scripts/integration/run.sh again on exit.
# Idempotent: `start` on a running server prints the same URL; `stop` on a stopped one succeeds.
# Debian's package may also start its own system service on port 6379 when it is installed; that
# one is neither used nor touched here.
set -euo pipefail

action="${1:-start}"
dir="${IT_REDIS_DIR:-${IT_WORK_DIR:+$IT_WORK_DIR/redis}}"
dir="${dir:-/tmp/seekrflow-redis}"
pid_file="$dir/redis.pid"
port_file="$dir/redis.port"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else
        echo "!!! need root (or passwordless sudo) for: $*" >&2; return 1; fi
}

install() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then return 0; fi
    echo ">>> installing Redis (apt-get install -y redis-server)" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
        || echo "!!! apt-get update failed; trying the install anyway" >&2
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2; then
        echo "!!! could not install redis-server: run as root, or give passwordless sudo, or install it" >&2
        exit 1
    fi
}

# The pid in the pid file, if that process is alive and is a redis-server.
running_pid() {
    local pid
    [ -s "$pid_file" ] || return 1
    pid="$(cat "$pid_file")"
    kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

ping() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]; }

start() {
    install
    mkdir -p "$dir"
    if running_pid >/dev/null && [ -s "$port_file" ] && ping "$(cat "$port_file")"; then
        echo "redis://127.0.0.1:$(cat "$port_file")/0"
        return 0
    fi
    local port
    # A free port chosen by the kernel; another process could take it before redis binds, so retry.
    for _ in 1 2 3; do
        port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        rm -f "$pid_file"
        redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes --daemonize yes \
            --pidfile "$pid_file" --dir "$dir" --logfile "$dir/redis.log" --save '' --appendonly no \
            >&2 || true
        for _ in $(seq 1 50); do
            ping "$port" && break
            sleep 0.1
        done
        if ping "$port"; then
            echo "$port" >"$port_file"
            echo ">>> redis-server $(redis-server --version | grep -o 'v=[0-9.]*') on 127.0.0.1:$port," \
                "pid $(cat "$pid_file"), dir $dir" >&2
            echo "redis://127.0.0.1:$port/0"
            return 0
        fi
    done
    echo "!!! redis-server did not start; its log:" >&2
    tail -n 20 "$dir/redis.log" >&2 || true
    exit 1
}

stop() {
    local pid
    if pid="$(running_pid)"; then
        # SHUTDOWN NOSAVE: nothing is written; SIGTERM if the server does not answer.
        [ -s "$port_file" ] && redis-cli -h 127.0.0.1 -p "$(cat "$port_file")" shutdown nosave >/dev/null 2>&1 || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            if [ "$i" -eq 20 ]; then kill -TERM "$pid" 2>/dev/null || true; fi
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        echo ">>> redis-server (pid $pid) stopped" >&2
    fi
    rm -f "$pid_file" "$port_file"
}

case "$action" in
    start) start ;;
    stop) stop ;;
    install) install ;;
    *) echo "usage: $0 [start|stop|install]" >&2; exit 2 ;;
esac
