# Starting and stopping the cluster's daemons (sourced by up.sh and down.sh).
#
# Each daemon runs detached (setsid: it outlives the shell and the make that started
# it), logs to $LOG_DIR/NAME.log and has a pid file in $RUN_DIR; "running" means that
# pid is alive and is still the program it was, so a stale pid file after a reboot is
# never mistaken for a live daemon.

running() {
    local pidfile="$RUN_DIR/$1.pid" pid
    [ -f "$pidfile" ] || return 1
    pid="$(cat "$pidfile")"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -qF "$(cat "$RUN_DIR/$1.exe" 2>/dev/null)" "/proc/$pid/cmdline" 2>/dev/null
}

# The identity of one way of running a daemon: its command line and the content of every
# file the command line names (its config), so a changed config restarts it.
_launch_key() {
    local arg
    {
        printf '%s\n' "$@"
        for arg in "$@"; do
            if [ -f "$arg" ]; then cat "$arg"; fi
        done
    } | sha256sum | cut -c1-16
}

# start_daemon NAME BINARY ARGS...: start it unless it runs as asked already; a daemon
# running with another command line or config is restarted. Says which.
start_daemon() {
    local name="$1"; shift
    local key
    key="$(_launch_key "$@")"
    if running "$name"; then
        if [ "$(cat "$RUN_DIR/$name.key" 2>/dev/null)" = "$key" ]; then
            log "$name: running (pid $(cat "$RUN_DIR/$name.pid"))"
            return
        fi
        log "$name: its command line or config changed: restarting"
        stop_daemon "$name"
    fi
    mkdir -p "$LOG_DIR" "$RUN_DIR"
    echo "$key" >"$RUN_DIR/$name.key"
    echo "$1" >"$RUN_DIR/$name.exe"
    setsid nohup "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/$name.pid"
    log "$name: started (pid $!, log $LOG_DIR/$name.log)"
}

# stop_daemon NAME: SIGTERM, then SIGKILL after a deadline.
stop_daemon() {
    local name="$1" pid
    running "$name" || { rm -f "$RUN_DIR/$name.pid"; return 0; }
    pid="$(cat "$RUN_DIR/$name.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        [ -d "/proc/$pid" ] || break
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$RUN_DIR/$name.pid"
    log "$name: stopped"
}
