#!/bin/sh
# Render deploy/nginx/nginx.conf.template from the environment:  render.sh TEMPLATE > nginx.conf
#
# Only upper-case placeholders (dollar, brace, NAME, brace) are replaced (nginx's $lower_case variables are left alone); every name has a
# default below, so the output never holds an unfilled placeholder. POSIX sh + awk: runs in the official
# nginx image (busybox) and on Debian alike.
set -eu

template=${1:?usage: render.sh TEMPLATE > nginx.conf}

# Replicas: host:port, separated by spaces or commas. In compose one service name resolves to every
# replica of `--scale`, so a single entry covers them all (nginx resolves it when it starts or reloads).
: "${GANPAINT_REPLICAS:=ganpaint:8000}"
: "${NGINX_MAX_FAILS:=2}"              # failed attempts that mark a replica down ...
: "${NGINX_FAIL_TIMEOUT:=10s}"         # ... within this window, and for how long it stays down
: "${NGINX_BALANCE:=least_conn}"       # least_conn | round_robin | ip_hash
: "${NGINX_LISTEN:=8080}"              # [address:]port
: "${NGINX_WORKER_PROCESSES:=auto}"
: "${NGINX_WORKER_CONNECTIONS:=4096}"
: "${NGINX_STATE_DIR:=/tmp/nginx}"     # pid file and temp folders
: "${NGINX_ACCESS_LOG:=/dev/stdout}"
: "${NGINX_ERROR_LOG:=stderr}"
: "${NGINX_MAX_BODY_SIZE:=2m}"         # matches the server's max_body_bytes (2 MiB)
: "${NGINX_MAX_UPLOAD_SIZE:=8m}"       # POST /uploads: matches the server's max_upload_bytes (8 MiB)
: "${NGINX_CONNECT_TIMEOUT:=2s}"
: "${NGINX_RENDER_TIMEOUT:=60s}"       # one REST render, retries included
: "${NGINX_WS_IDLE_TIMEOUT:=600s}"
: "${NGINX_RETRY_TRIES:=3}"
: "${NGINX_MAX_CONNECTIONS_PER_ADDRESS:=200}" # open connections per client address (limit_conn; past it 503): a class of 30 behind one NAT address holds about 150

case "$NGINX_BALANCE" in
    least_conn) balance="least_conn;" ;;
    ip_hash) balance="ip_hash;" ;;
    round_robin) balance="# round robin (nginx's default)" ;;
    *) echo "render.sh: NGINX_BALANCE must be least_conn, round_robin or ip_hash, got '$NGINX_BALANCE'" >&2; exit 2 ;;
esac

servers=""
for replica in $(printf '%s' "$GANPAINT_REPLICAS" | tr ',' ' '); do
    servers="${servers}        server ${replica} max_fails=${NGINX_MAX_FAILS} fail_timeout=${NGINX_FAIL_TIMEOUT};
"
done
if [ -z "$servers" ]; then
    echo "render.sh: GANPAINT_REPLICAS is empty: name at least one host:port" >&2
    exit 2
fi

mkdir -p "$NGINX_STATE_DIR"
GANPAINT_UPSTREAM_SERVERS=$servers
NGINX_BALANCE=$balance
export GANPAINT_REPLICAS GANPAINT_UPSTREAM_SERVERS NGINX_MAX_FAILS NGINX_FAIL_TIMEOUT NGINX_BALANCE NGINX_LISTEN \
    NGINX_WORKER_PROCESSES NGINX_WORKER_CONNECTIONS NGINX_STATE_DIR NGINX_ACCESS_LOG NGINX_ERROR_LOG \
    NGINX_MAX_BODY_SIZE NGINX_MAX_UPLOAD_SIZE NGINX_CONNECT_TIMEOUT NGINX_RENDER_TIMEOUT NGINX_WS_IDLE_TIMEOUT NGINX_RETRY_TRIES \
    NGINX_MAX_CONNECTIONS_PER_ADDRESS

awk '
{
    line = $0; out = ""
    while (match(line, /\$\{[A-Z][A-Z0-9_]*\}/)) {
        name = substr(line, RSTART + 2, RLENGTH - 3)
        if (!(name in ENVIRON)) { printf "render.sh: %s is not set (line %d)\n", name, NR > "/dev/stderr"; bad = 1 }
        out = out substr(line, 1, RSTART - 1) ENVIRON[name]
        line = substr(line, RSTART + RLENGTH)
    }
    print out line
}
END { exit bad }
' "$template"
