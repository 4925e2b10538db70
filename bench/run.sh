#!/usr/bin/env bash
# snsrelay benchmark: throughput and latency of signed SNS notifications
# going in over HTTP, and the time until the Discord webhook (a loopback
# mock) has them.  Everything runs on 127.0.0.1; nothing is installed.
#
# Usage: bench/run.sh [BUILD_DIR]        (or: make bench)
#
# BUILD_DIR contains snsrelay, snsrelay-sign and tests/mock_server (make, then
# make tests/mock_server).  Default: ./build-check, else ./build.
# Needs bash, wrk, jq, openssl, curl and awk.
#
# Steps:
#   1. a signing key and a self-signed certificate for sns.amazonaws.com,
#      seeded in cert_dir, so no certificate is fetched;
#   2. BENCH_N notifications signed in advance (SignatureVersion 1 and 2,
#      half each), each carrying docs/examples/authorize-ssh-from-anywhere.json
#      with its own detail.eventID, so deduplication never merges them;
#   3. for each connection count in BENCH_CONNS: a fresh relay (empty
#      spool), wrk for BENCH_DURATION seconds with bench/post.lua, then a
#      bounded wait until every stored alert reached the mock;
#   4. BENCH_E2E sequential requests with curl against another fresh relay
#      at log_level info.  For each alert it reports the time from starting
#      curl to the relay's alert_delivered log line, and the time from the
#      notification_stored line to the alert_delivered line.
#
# Environment (defaults in brackets):
#   BENCH_N [30000]            signed bodies
#   BENCH_CONNS ["1 8 32 64"]  wrk connection counts, one run each
#   BENCH_THREADS [2]          wrk threads (at most the connection count)
#   BENCH_DURATION [5]         seconds per wrk run
#   BENCH_E2E [300]            sequential requests for the end-to-end part
#   BENCH_DRAIN_WAIT [180]     seconds to wait for delivery after each run
#   BENCH_JOBS [nproc]         parallel signers
#   BENCH_KEEP_TMP [0]         1 keeps the temporary directory
#
# The relay runs with log_level = warn in step 3, so logging does not
# dominate, and with max_connections_per_ip = 256, because every wrk
# connection comes from 127.0.0.1.  A run whose wrk made more requests
# than BENCH_N re-sends bodies; those requests take the duplicate path and
# the table says how many there were.

if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$here/.." && pwd)

N=${BENCH_N:-30000}
CONNS=${BENCH_CONNS:-1 8 32 64}
THREADS=${BENCH_THREADS:-2}
DURATION=${BENCH_DURATION:-5}
E2E=${BENCH_E2E:-300}
DRAIN_WAIT=${BENCH_DRAIN_WAIT:-180}
JOBS=${BENCH_JOBS:-$(nproc)}

TOPIC=arn:aws:sns:us-east-1:123456789012:sg-changes
HOOK_PATH=/api/webhooks/123456789012345678/benchtoken

die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

note() {
	printf '# %s\n' "$*" >&2
}

# ----------------------------------------------------------------- setup

find_build_dir() {
	if [ $# -gt 0 ] && [ -n "$1" ]; then
		printf '%s\n' "$1"
	elif [ -x build-check/snsrelay ]; then
		printf '%s\n' build-check
	else
		printf '%s\n' build
	fi
}

check_tools() {
	local tool f

	if ! command -v wrk >/dev/null 2>&1; then
		printf 'bench: wrk not found.  Install it with: ' >&2
		printf 'apt-get install wrk\n' >&2
		exit 1
	fi
	for tool in jq openssl curl awk; do
		command -v "$tool" >/dev/null 2>&1 ||
			die "$tool not found; install it (apt-get install $tool)"
	done
	for f in snsrelay snsrelay-sign tests/mock_server; do
		[ -x "$BUILD/$f" ] ||
			die "$BUILD/$f is missing; run make and make tests/mock_server in $BUILD"
	done
}

BUILD=$(find_build_dir "${1:-}")
check_tools
BUILD=$(cd "$BUILD" && pwd)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/snsrelay-bench.XXXXXX")
PIDS=()

cleanup() {
	local pid

	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
		note "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

forget_pid() {
	local pid rest=()

	for pid in "${PIDS[@]}"; do
		[ "$pid" = "$1" ] || rest+=("$pid")
	done
	PIDS=("${rest[@]}")
}

# Stops one process we started: SIGTERM, then SIGKILL after 15 s.
stop_pid() {
	local tries=300

	kill -TERM "$1" 2>/dev/null || true
	while kill -0 "$1" 2>/dev/null && [ "$tries" -gt 0 ]; do
		sleep 0.05
		tries=$((tries - 1))
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget_pid "$1"
}

make_pki() {
	CERT_NAME=SimpleNotificationService-$(openssl rand -hex 16).pem
	mkdir -p "$TMP/certs"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		-keyout "$TMP/signing.key" -subj /CN=sns.amazonaws.com \
		-addext subjectAltName=DNS:sns.amazonaws.com \
		-out "$TMP/certs/$CERT_NAME" 2>/dev/null ||
		die "openssl could not make the signing certificate"
	CERT_URL=https://sns.us-east-1.amazonaws.com/$CERT_NAME
}

start_mock() {
	local tries=200

	"$BUILD/tests/mock_server" --port-file "$TMP/mock.port" \
		--status 200 2>"$TMP/mock.log" &
	MOCK_PID=$!
	PIDS+=("$MOCK_PID")
	while ! grep -Eq '^[0-9]+$' "$TMP/mock.port" 2>/dev/null; do
		kill -0 "$MOCK_PID" 2>/dev/null ||
			die "mock_server exited: $(cat "$TMP/mock.log")"
		[ "$tries" -gt 0 ] || die "mock_server did not start in 10 s"
		sleep 0.05
		tries=$((tries - 1))
	done
	MOCK_PORT=$(cat "$TMP/mock.port")
}

# ---------------------------------------------------------------- signing

# The example event, compact, with a placeholder for detail.eventID.
make_template() {
	jq -c '.detail.eventID = "@EVENTID@"' \
		"$top_srcdir/docs/examples/authorize-ssh-from-anywhere.json"
}

# sign_share WORKER: signs bodies WORKER, WORKER + JOBS, ... into
# $TMP/bodies.WORKER, each followed by a record-separator line.
sign_share() {
	local i id sv msg

	for ((i = $1; i < N; i += JOBS)); do
		printf -v id '%08x-0000-4000-8000-%012d' "$RUN_TAG" "$i"
		sv=$((i / JOBS % 2 + 1))
		msg=${TEMPLATE//@EVENTID@/$id}
		"$BUILD/snsrelay-sign" --key "$TMP/signing.key" \
			--cert-url "$CERT_URL" --topic-arn "$TOPIC" \
			--signature-version "$sv" --message "$msg"
		printf '\036\n'
	done >"$TMP/bodies.$1"
}

sign_bodies() {
	local w pids=() start end

	TEMPLATE=$(make_template) || die "jq could not read the example event"
	RUN_TAG=$(( $(date +%s) & 0xffffffff ))
	start=$(date +%s.%N)
	for ((w = 0; w < JOBS; w++)); do
		sign_share "$w" &
		pids+=($!)
	done
	for w in "${pids[@]}"; do
		wait "$w" || die "snsrelay-sign failed"
	done
	for ((w = 0; w < JOBS; w++)); do
		cat "$TMP/bodies.$w"
		rm -f "$TMP/bodies.$w"
	done >"$TMP/bodies"
	end=$(date +%s.%N)
	SIGN_SECONDS=$(awk -v a="$start" -v b="$end" \
		'BEGIN { printf "%.1f", b - a }')
	[ "$(grep -c $'^\036$' "$TMP/bodies")" -eq "$N" ] ||
		die "expected $N signed bodies in $TMP/bodies"
}

# ------------------------------------------------------------------ relay

# write_config DIR LEVEL: the relay configuration of one run.
write_config() {
	cat >"$1/relay.conf" <<EOF
listen = 127.0.0.1:0
topic = $TOPIC
cert_dir = $TMP/certs
discord_webhook_url = http://127.0.0.1:$MOCK_PORT$HOOK_PATH
spool_path = $1/spool.db
log_level = $2
max_connections_per_ip = 256
EOF
}

# listen_port PID: the TCP port PID listens on, from /proc (the relay
# logs its port only at log_level info).
listen_port() {
	local inodes

	inodes=$(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' \
		2>/dev/null | tr -dc '0-9\n')
	[ -n "$inodes" ] || return 1
	awk -v list="$inodes" '
		BEGIN { n = split(list, a, "\n"); for (i = 1; i <= n; i++) s[a[i]] = 1 }
		function hex(h,   i, n) {
			n = 0
			for (i = 1; i <= length(h); i++)
				n = n * 16 + index("0123456789ABCDEF",
						   toupper(substr(h, i, 1))) - 1
			return n
		}
		$4 == "0A" && ($10 in s) {
			split($2, addr, ":")
			print hex(addr[2])
			exit
		}' "/proc/$1/net/tcp" 2>/dev/null | grep -E '^[0-9]+$'
}

# start_relay DIR: starts the relay of DIR/relay.conf and waits until
# /healthz returns 200.  Sets RELAY_PID and RELAY_PORT.
start_relay() {
	local tries=200

	"$BUILD/snsrelay" -c "$1/relay.conf" >"$1/relay.out" \
		2>"$1/relay.log" &
	RELAY_PID=$!
	PIDS+=("$RELAY_PID")
	RELAY_PORT=
	while [ "$tries" -gt 0 ]; do
		kill -0 "$RELAY_PID" 2>/dev/null ||
			die "snsrelay exited: $(tail -n 5 "$1/relay.log")"
		if [ -z "$RELAY_PORT" ]; then
			RELAY_PORT=$(listen_port "$RELAY_PID") || RELAY_PORT=
		fi
		if [ -n "$RELAY_PORT" ] && curl -sf -o /dev/null \
			"http://127.0.0.1:$RELAY_PORT/healthz"; then
			return 0
		fi
		sleep 0.05
		tries=$((tries - 1))
	done
	die "snsrelay was not ready after 10 s: $(tail -n 5 "$1/relay.log")"
}

# cpu_ticks PID: user + system time of PID in clock ticks.
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

peak_rss_kib() {
	awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"
}

spool_lines() {
	"$BUILD/snsrelay" -c "$1/relay.conf" spool list "$2" ${3:+--limit "$3"} |
		awk 'NR > 1 && NF > 0' | wc -l
}

# wait_drained DIR: waits up to DRAIN_WAIT seconds until no delivery is
# pending.  Prints the seconds it waited.
wait_drained() {
	local start now

	start=$(date +%s.%N)
	while [ "$(spool_lines "$1" pending 1)" -gt 0 ]; do
		now=$(date +%s.%N)
		if awk -v a="$start" -v b="$now" -v w="$DRAIN_WAIT" \
			'BEGIN { exit !(b - a > w) }'; then
			break
		fi
		# Each poll costs the spool a query, so poll sparingly.
		sleep 2
	done
	now=$(date +%s.%N)
	awk -v a="$start" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

# ---------------------------------------------------------------- wrk runs

# to_ms VALUE: converts a wrk latency ("850.00us", "1.23ms", "1.02s") to ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000
		else if (v ~ /ms$/) n = n
		else if (v ~ /m$/) n *= 60000
		else if (v ~ /s$/) n *= 1000
		printf "%.2f", n
	}'
}

# run_one CONNS: one wrk run against a fresh relay; appends a table row.
run_one() {
	local c=$1 t dir cpu0 cpu1 hz out rps p50 p99 reqs non200 wrapped
	local rss drain stored delivered cpu_s

	t=$((THREADS < c ? THREADS : c))
	dir=$TMP/run-c$c
	mkdir -p "$dir"
	write_config "$dir" warn
	start_relay "$dir"
	hz=$(getconf CLK_TCK)
	cpu0=$(cpu_ticks "$RELAY_PID")
	note "wrk -t$t -c$c -d${DURATION}s against 127.0.0.1:$RELAY_PORT"
	BENCH_BODIES=$TMP/bodies BENCH_THREADS=$t BENCH_COUNTS=$dir/counts \
		wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 10s --latency \
		-s "$here/post.lua" "http://127.0.0.1:$RELAY_PORT/sns" \
		>"$dir/wrk.out" 2>&1 || die "wrk failed: $(cat "$dir/wrk.out")"
	cpu1=$(cpu_ticks "$RELAY_PID")
	out=$dir/wrk.out
	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	reqs=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' "$dir/counts")
	non200=$(sed -n 's/.*non200=\([0-9]*\).*/\1/p' "$dir/counts")
	wrapped=$(sed -n 's/.*wrapped=\([0-9]*\).*/\1/p' "$dir/counts")
	cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$hz" \
		'BEGIN { printf "%.1f", (b - a) / hz }')

	drain=$(wait_drained "$dir")
	stored=$(spool_lines "$dir" all)
	delivered=$(spool_lines "$dir" delivered)
	rss=$(peak_rss_kib "$RELAY_PID")
	stop_pid "$RELAY_PID"
	grep -E 'level=(warn|error)' "$dir/relay.log" | head -n 3 |
		sed 's/^/# relay: /' >&2 || true

	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s / %s | %s |\n' \
		"$c" "$t" "$reqs" "$wrapped" "$rps" "$p50" "$p99" "$non200" \
		"$cpu_s" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
		"$delivered" "$stored" "$drain" >>"$TMP/table"
}

# ------------------------------------------------------------ end to end

# split_bodies COUNT DIR: writes the first COUNT bodies to DIR/1 ... DIR/COUNT.
split_bodies() {
	mkdir -p "$2"
	awk -v max="$1" -v dir="$2" '
		$0 == "\036" { close(f); n++; if (n >= max) exit; next }
		{ f = dir "/" n + 1; print > f }' "$TMP/bodies"
}

# latency_from_log SENT LOG: for each alert_id in SENT ("ID US" lines, US
# the microsecond of the UTC day the POST started), the ms until LOG's
# alert_delivered line for it, sorted.
latency_from_log() {
	awk '
		function field(name,   i, v) {
			for (i = 1; i <= NF; i++)
				if (index($i, name "=") == 1) {
					v = substr($i, length(name) + 2)
					gsub(/"/, "", v)
					return v
				}
			return ""
		}
		function ms(ts,   t, h) {
			t = substr(ts, 12)
			h = substr(t, 1, 2) * 3600 + substr(t, 4, 2) * 60
			return (h + substr(t, 7, 6)) * 1000
		}
		FNR == NR { sent["cloudtrail:" $1] = $2 / 1000; next }
		/event=alert_delivered/ {
			id = field("alert_id")
			if (!(id in sent))
				next
			d = ms(field("ts")) - sent[id]
			if (d < -43200000) d += 86400000
			print d
		}' "$1" "$2" | sort -n
}

# stored_to_delivered LOG: for each alert_id, the ms from its
# notification_stored line to its alert_delivered line, sorted.  LOG is
# read twice because a worker can log the delivery before the request
# thread logs the store.
stored_to_delivered() {
	awk '
		function field(name,   i, v) {
			for (i = 1; i <= NF; i++)
				if (index($i, name "=") == 1) {
					v = substr($i, length(name) + 2)
					gsub(/"/, "", v)
					return v
				}
			return ""
		}
		function ms(ts,   t, h) {
			t = substr(ts, 12)
			h = substr(t, 1, 2) * 3600 + substr(t, 4, 2) * 60
			return (h + substr(t, 7, 6)) * 1000
		}
		FNR == NR && /event=notification_stored/ {
			stored[field("alert_id")] = ms(field("ts"))
		}
		FNR != NR && /event=alert_delivered/ {
			id = field("alert_id")
			if (!(id in stored))
				next
			d = ms(field("ts")) - stored[id]
			if (d < -43200000) d += 86400000
			print d
		}' "$1" "$1" | sort -n
}

# percentile P FILE: the P-th percentile (nearest rank) of sorted numbers.
percentile() {
	awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1
		printf "%.1f", v[r]
	}' "$2"
}

# day_us: the microsecond of the current UTC day (CLOCK_REALTIME, the
# clock of the relay's log time stamps).
day_us() {
	local now=$EPOCHREALTIME

	printf '%d\n' $(( (${now%.*} % 86400) * 1000000 + 10#${now#*.} ))
}

run_e2e() {
	local dir=$TMP/e2e i code bad=0 n

	mkdir -p "$dir"
	split_bodies "$E2E" "$dir/bodies"
	write_config "$dir" info
	start_relay "$dir"
	: >"$dir/client"
	: >"$dir/sent"
	for ((i = 1; i <= E2E; i++)); do
		jq -r '.Message | fromjson | .detail.eventID' \
			"$dir/bodies/$i" >"$dir/bodies/$i.id"
	done
	for ((i = 1; i <= E2E; i++)); do
		printf '%s %s\n' "$(cat "$dir/bodies/$i.id")" "$(day_us)" \
			>>"$dir/sent"
		code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' \
			-H 'Content-Type: text/plain; charset=UTF-8' \
			-H 'x-amz-sns-message-type: Notification' \
			--data-binary "@$dir/bodies/$i" \
			"http://127.0.0.1:$RELAY_PORT/sns")
		[ "${code%% *}" = 200 ] || bad=$((bad + 1))
		echo "${code#* }" | awk '{ print $1 * 1000 }' >>"$dir/client"
	done
	wait_drained "$dir" >/dev/null
	stop_pid "$RELAY_PID"
	sort -n "$dir/client" -o "$dir/client"
	latency_from_log "$dir/sent" "$dir/relay.log" >"$dir/e2e"
	stored_to_delivered "$dir/relay.log" >"$dir/stored"
	n=$(wc -l <"$dir/e2e")
	E2E_ROW=$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |' \
		"$E2E" "$bad" \
		"$(percentile 50 "$dir/client")" "$(percentile 99 "$dir/client")" \
		"$n" "$(percentile 50 "$dir/e2e")" "$(percentile 99 "$dir/e2e")" \
		"$(percentile 50 "$dir/stored")" \
		"$(percentile 99 "$dir/stored")")
}

# ----------------------------------------------------------------- report

machine_info() {
	printf -- '- date: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf -- '- command: `bench/run.sh %s` (BENCH_N=%s BENCH_CONNS="%s" BENCH_THREADS=%s BENCH_DURATION=%s BENCH_E2E=%s)\n' \
		"$BUILD" "$N" "$CONNS" "$THREADS" "$DURATION" "$E2E"
	printf -- '- CPU: %s, %s cores (nproc)\n' \
		"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		"$(nproc)"
	printf -- '- memory: %s MiB\n' \
		"$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"
	printf -- '- kernel: %s\n' "$(uname -sr)"
	printf -- '- load average before the run: %s\n' "$LOAD_BEFORE"
	printf -- '- spool file system: %s\n' \
		"$(df -T "$TMP" | awk 'NR == 2 { print $2 }')"
	printf -- '- %s\n' "$(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
	"$BUILD/snsrelay" --version | sed 's/^/- /'
}

report() {
	printf '## snsrelay benchmark\n\n'
	machine_info
	printf -- '- signing %s bodies took %s s (%s parallel signers)\n\n' \
		"$N" "$SIGN_SECONDS" "$JOBS"
	printf '### Throughput (wrk, %s s per run, fresh spool per run)\n\n' \
		"$DURATION"
	printf '| conns | threads | requests | re-sent | req/s | p50 ms | p99 ms | non-200 | relay CPU s | peak RSS MiB | delivered / stored | drain s |\n'
	printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
	cat "$TMP/table"
	printf '\n"re-sent": requests beyond the %s signed bodies, which the relay\n' "$N"
	printf 'answers as duplicates.  "drain s": time after wrk ended until no\n'
	printf 'delivery was pending (at most %s s).\n\n' "$DRAIN_WAIT"
	printf '### End to end (sequential curl, log_level info)\n\n'
	printf '| requests | non-200 | POST answered p50 ms | p99 ms | alerts timed | POST sent to delivered p50 ms | p99 ms | stored to delivered p50 ms | p99 ms |\n'
	printf '|---|---|---|---|---|---|---|---|---|\n'
	printf '%s\n\n' "$E2E_ROW"
	printf 'POST answered: curl time_total.  POST sent to delivered: from the\n'
	printf 'moment the script started curl to the ts of the alert_delivered\n'
	printf 'line for that alert_id, logged after the mock answered the\n'
	printf 'webhook POST (same clock; log ts has 1 ms resolution; includes\n'
	printf 'starting curl, a few ms).  Stored to delivered: from the\n'
	printf 'notification_stored line to the alert_delivered line.\n'
}

main() {
	local c

	[ "$N" -ge "$E2E" ] || die "BENCH_E2E ($E2E) exceeds BENCH_N ($N)"
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	note "build: $BUILD, temporary directory: $TMP"
	make_pki
	start_mock
	note "signing $N notifications with $JOBS signers"
	sign_bodies
	note "signed in $SIGN_SECONDS s"
	: >"$TMP/table"
	for c in $CONNS; do
		run_one "$c"
	done
	note "end to end: $E2E sequential requests"
	run_e2e
	stop_pid "$MOCK_PID"
	report
}

main
