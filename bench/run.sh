#!/usr/bin/env bash
# snsrelay benchmark.  Signed SNS notifications go in over HTTP, and the
# relay verifies them, stores them in its durable spool and delivers them
# to a Discord webhook mock.  The same messages then go to a small Node.js
# server that validates them with AWS's sns-validator package.  Everything
# runs on 127.0.0.1.
#
# Usage: bench/run.sh [BUILD_DIR]        (or: make bench)
#
# BUILD_DIR contains snsrelay, snsrelay-sign, tests/mock_server and
# bench/stages (make bench builds them).  Default: ./build-check, else ./build.
# Needs bash, wrk, jq, openssl, curl, awk, node and npm
# (tools/install-deps.sh --bench installs them), and perf with
# BENCH_PROFILE=1.  The first run installs sns-validator 0.3.5 with npm ci
# into BUILD_DIR/bench-node, from bench/node/package-lock.json.
#
# Steps:
#   1. a test PKI from tests/gen-test-pki.sh.  tests/mock_server serves
#      the signing certificate over HTTPS on loopback, and both servers
#      fetch it from there: the relay through sns_host_pattern and
#      ca_file, the Node server through its host pattern and
#      NODE_EXTRA_CA_CERTS;
#   2. BENCH_N notifications signed in advance with snsrelay-sign, about
#      half SignatureVersion 1 and half 2, each an EventBridge security
#      group event from BENCH_EVENTS with its own ids;
#   3. a check that each server accepts a valid SignatureVersion 1 and 2
#      message, rejects the same messages with a tampered Message, and
#      fetched the certificate; the script stops if not;
#   4. for each connection count in BENCH_CONNS: wrk with bench/post.lua
#      against a new relay with an empty spool, a bounded wait until the
#      webhook mock has every stored alert, then wrk against a new Node
#      server after a warm-up;
#   5. BENCH_E2E sequential requests with curl against another new relay
#      at log_level info, timed from the POST to the relay's
#      alert_delivered log line;
#   6. with BENCH_PROFILE=1, one more relay run under perf record.
#
# Between steps 3 and 4, bench/stages times each step of a notification
# (parse, verify, RSA alone, alert, serialize, Discord payload) in one
# thread without HTTP or the spool.
#
# Environment (defaults in brackets):
#   BENCH_N [30000]            signed bodies
#   BENCH_CONNS ["1 8 32 64"]  wrk connection counts, one run per server each
#   BENCH_THREADS [2]          wrk threads (at most the connection count)
#   BENCH_DURATION [5]         seconds per wrk run
#   BENCH_NODE [1]             0 skips the Node.js server
#   BENCH_NODE_WARMUP [2]      seconds of wrk load before each Node run
#   BENCH_E2E [300]            sequential requests for the end-to-end part
#   BENCH_DRAIN_WAIT [180]     seconds to wait for delivery after each run
#   BENCH_JOBS [nproc]         parallel signers
#   BENCH_DELIVER [1]          0: the throughput runs store alerts for no
#                              destination (a filter matches no event), so
#                              the relay only receives, verifies and stores
#   BENCH_SPOOL_DIR [the temporary directory]  where the relays' spools
#                              go, e.g. /dev/shm to leave out the disk sync
#   BENCH_EVENTS [docs/examples]  an event file, or a folder whose *.json
#                              files (except *-fragment-*) are used in turn
#   BENCH_PROFILE [0]          1 adds a relay run under perf record
#   BENCH_PROFILE_CONNS [32]   connection count of that run
#   BENCH_STAGES_N [3000]      bodies that bench/stages times step by
#                              step in one thread; 0 skips it
#   BENCH_RESULTS [BUILD_DIR/bench-results]  where the report goes
#   BENCH_KEEP_TMP [0]         1 keeps the temporary directory
#
# Every wrk run sends each body at most once: each wrk thread stops when
# it has sent its share, and every relay run starts with an empty spool,
# so no request takes the cheaper duplicate path.  The relay runs with
# log_level = warn, so logging costs almost nothing, and with
# max_connections_per_ip = 128, because every wrk connection comes from
# 127.0.0.1.

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
NODE_ON=${BENCH_NODE:-1}
NODE_WARMUP=${BENCH_NODE_WARMUP:-2}
E2E=${BENCH_E2E:-300}
DRAIN_WAIT=${BENCH_DRAIN_WAIT:-180}
JOBS=${BENCH_JOBS:-$(nproc)}
EVENTS=${BENCH_EVENTS:-$top_srcdir/docs/examples}
SPOOL_DIR=${BENCH_SPOOL_DIR:-}
DELIVER=${BENCH_DELIVER:-1}
PROFILE=${BENCH_PROFILE:-0}
PROFILE_CONNS=${BENCH_PROFILE_CONNS:-32}
STAGES_N=${BENCH_STAGES_N:-3000}

# The version the comparison is pinned to; bench/node/package-lock.json
# names the same one.
VALIDATOR_VERSION=0.3.5

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

	for tool in wrk jq openssl curl awk; do
		command -v "$tool" >/dev/null 2>&1 ||
			die "$tool not found; install it with tools/install-deps.sh --bench (or apt-get install $tool)"
	done
	if [ "$NODE_ON" = 1 ]; then
		for tool in node npm; do
			command -v "$tool" >/dev/null 2>&1 ||
				die "$tool not found; install it with tools/install-deps.sh --bench, or set BENCH_NODE=0 to skip the Node.js comparison"
		done
	fi
	if [ "$PROFILE" = 1 ]; then
		command -v perf >/dev/null 2>&1 ||
			die "perf not found; install linux-perf, or unset BENCH_PROFILE"
	fi
	for f in snsrelay snsrelay-sign tests/mock_server bench/stages; do
		[ -x "$BUILD/$f" ] ||
			die "$BUILD/$f is missing; run make bench, or make and make tests/mock_server bench/stages, in $BUILD"
	done
	[ -e "$EVENTS" ] || die "BENCH_EVENTS: $EVENTS not found"
	[ -z "$SPOOL_DIR" ] || [ -d "$SPOOL_DIR" ] ||
		die "BENCH_SPOOL_DIR: $SPOOL_DIR is not a directory"
	[ "$N" -ge "$E2E" ] || die "BENCH_E2E ($E2E) exceeds BENCH_N ($N)"
}

# shellcheck source=bench/e2e.sh
. "$here/e2e.sh"
# shellcheck source=bench/report.sh
. "$here/report.sh"

BUILD=$(find_build_dir "${1:-}")
check_tools
BUILD=$(cd "$BUILD" && pwd)
RESULTS=${BENCH_RESULTS:-$BUILD/bench-results}
NODE_DIR=$BUILD/bench-node

TMP=$(mktemp -d "${TMPDIR:-/tmp}/snsrelay-bench.XXXXXX")
SPOOL_ROOT=$TMP
if [ -n "$SPOOL_DIR" ]; then
	SPOOL_ROOT=$(mktemp -d "$SPOOL_DIR/snsrelay-bench-spools.XXXXXX")
fi
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
		note "kept $TMP and $SPOOL_ROOT"
	else
		rm -rf "$TMP" "$SPOOL_ROOT"
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

# wait_port_file PID FILE WHAT: waits until FILE contains a port number.
wait_port_file() {
	local tries=200

	while ! grep -Eq '^[0-9]+$' "$2" 2>/dev/null; do
		kill -0 "$1" 2>/dev/null || return 1
		[ "$tries" -gt 0 ] || die "$3 did not start in 10 s"
		sleep 0.05
		tries=$((tries - 1))
	done
	cat "$2"
}

make_pki() {
	sh "$top_srcdir/tests/gen-test-pki.sh" "$TMP/pki" ||
		die "tests/gen-test-pki.sh failed"
	# shellcheck disable=SC1091 # written by gen-test-pki.sh
	. "$TMP/pki/pki.env"
	SIGNING_KEY=$TMP/pki/signing.key
	CA_FILE=$TMP/pki/ca.pem
}

# start_mock NAME [mock_server options]: sets MOCK_PID and MOCK_PORT.
start_mock() {
	local name=$1

	shift
	"$BUILD/tests/mock_server" --port-file "$TMP/$name.port" "$@" \
		2>"$TMP/$name.log" &
	MOCK_PID=$!
	PIDS+=("$MOCK_PID")
	MOCK_PORT=$(wait_port_file "$MOCK_PID" "$TMP/$name.port" \
		"mock_server $name") ||
		die "mock_server $name exited: $(cat "$TMP/$name.log")"
}

# The HTTPS host of the signing certificate, and the webhook.
start_mocks() {
	start_mock certs --record "$TMP/certs.rec" \
		--docroot "$TMP/pki/certs" \
		--tls-cert "$TMP/pki/server.pem" --tls-key "$TMP/pki/server.key"
	CERT_MOCK_PID=$MOCK_PID
	CERT_HOST=127.0.0.1:$MOCK_PORT
	CERT_URL=https://$CERT_HOST/$PKI_GOOD_CERT
	start_mock hook --status 200
	HOOK_MOCK_PID=$MOCK_PID
	HOOK_PORT=$MOCK_PORT
}

# cert_fetches: how many GETs of the signing certificate the mock served.
cert_fetches() {
	grep -c "\"path\":\"/$PKI_GOOD_CERT\"" "$TMP/certs.rec" || true
}

# ---------------------------------------------------------------- signing

# load_templates: one compact event per line in $TMP/templates, with
# placeholders for the ids that each message gets anew.
load_templates() {
	local f files=()

	if [ -d "$EVENTS" ]; then
		for f in "$EVENTS"/*.json; do
			case $f in
			*-fragment-*) ;;
			*) files+=("$f") ;;
			esac
		done
	else
		files=("$EVENTS")
	fi
	[ "${#files[@]}" -gt 0 ] || die "no *.json event in $EVENTS"
	for f in "${files[@]}"; do
		jq -c '.id = "@EVENTBRIDGEID@" | .detail.eventID = "@EVENTID@"' \
			"$f" || die "jq could not read the event $f"
	done >"$TMP/templates"
	TEMPLATE_COUNT=${#files[@]}
}

# sign_body I VERSION: prints signed body number I.
sign_body() {
	local i=$1 id eb_id message_id msg

	printf -v id '%08x-0000-4000-8000-%012d' "$RUN_TAG" "$i"
	printf -v eb_id '%08x-0000-4000-9000-%012d' "$RUN_TAG" "$i"
	printf -v message_id '%08x-0000-4000-a000-%012d' "$RUN_TAG" "$i"
	msg=${TEMPLATES[i % TEMPLATE_COUNT]}
	msg=${msg//@EVENTID@/$id}
	msg=${msg//@EVENTBRIDGEID@/$eb_id}
	"$BUILD/snsrelay-sign" --key "$SIGNING_KEY" --cert-url "$CERT_URL" \
		--topic-arn "$TOPIC" --signature-version "$2" \
		--message-id "$message_id" --message "$msg"
}

# sign_share WORKER: signs bodies WORKER, WORKER + JOBS, ... into
# $TMP/bodies.WORKER, each followed by a record-separator line.  A bit of
# a multiplicative hash of the body number picks SignatureVersion 1 or 2,
# so that every wrk thread's share contains both about evenly, whatever the
# thread count.
sign_share() {
	local i

	for ((i = $1; i < N; i += JOBS)); do
		sign_body "$i" $(( ((i + 1) * 2654435761 >> 16 & 1) + 1 ))
		printf '\036\n'
	done >"$TMP/bodies.$1"
}

sign_bodies() {
	local w pids=() start end

	load_templates
	mapfile -t TEMPLATES <"$TMP/templates"
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
	SIGV1=$(grep -c '"SignatureVersion" *: *"1"' "$TMP/bodies" || true)
	SIGV2=$(grep -c '"SignatureVersion" *: *"2"' "$TMP/bodies" || true)
	BODY_BYTES=$(awk -v n="$N" '{ b += length($0) + 1 } END {
		printf "%.0f", b / n }' "$TMP/bodies")
}

# ------------------------------------------------------------------ relay

# write_config DIR LEVEL [DELIVER]: the relay configuration of one run,
# with its spool in a new folder under SPOOL_ROOT.  DELIVER 0 adds a
# filter that no event passes, so alerts are stored for no destination.
write_config() {
	local spool

	spool=$(mktemp -d "$SPOOL_ROOT/spool.XXXXXX")
	cat >"$1/relay.conf" <<EOF
listen = 127.0.0.1:0
topic = $TOPIC
sns_host_pattern = $CERT_HOST
ca_file = $CA_FILE
discord_webhook_url = http://127.0.0.1:$HOOK_PORT$HOOK_PATH
spool_path = $spool/spool.db
log_level = $2
max_connections_per_ip = 128
EOF
	if [ "${3:-1}" = 0 ]; then
		echo 'filter = discord events=bench-delivers-nothing' \
			>>"$1/relay.conf"
	fi
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
# /healthz returns 200.  Sets SERVER_PID and SERVER_PORT.
start_relay() {
	local tries=200

	"$BUILD/snsrelay" -c "$1/relay.conf" >"$1/relay.out" \
		2>"$1/relay.log" &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	SERVER_PORT=
	while [ "$tries" -gt 0 ]; do
		kill -0 "$SERVER_PID" 2>/dev/null ||
			die "snsrelay exited: $(tail -n 5 "$1/relay.log")"
		if [ -z "$SERVER_PORT" ]; then
			SERVER_PORT=$(listen_port "$SERVER_PID") || SERVER_PORT=
		fi
		if [ -n "$SERVER_PORT" ] && curl -sf -o /dev/null \
			"http://127.0.0.1:$SERVER_PORT/healthz"; then
			return 0
		fi
		sleep 0.05
		tries=$((tries - 1))
	done
	die "snsrelay was not ready after 10 s: $(tail -n 5 "$1/relay.log")"
}

# --------------------------------------------------------------- node

# install_validator: sns-validator, exactly as bench/node/package-lock.json
# pins it, in $NODE_DIR.  npm ci runs again only when the lock file changed
# or the installed package is not the pinned version.
install_validator() {
	local installed=

	mkdir -p "$NODE_DIR"
	if [ -f "$NODE_DIR/node_modules/sns-validator/package.json" ]; then
		installed=$(jq -r .version \
			"$NODE_DIR/node_modules/sns-validator/package.json")
	fi
	if [ "$installed" != "$VALIDATOR_VERSION" ] ||
		! cmp -s "$here/node/package-lock.json" \
			"$NODE_DIR/package-lock.json"; then
		note "installing sns-validator $VALIDATOR_VERSION with npm ci in $NODE_DIR"
		cp "$here/node/package.json" "$here/node/package-lock.json" \
			"$NODE_DIR/"
		(cd "$NODE_DIR" && npm ci --no-audit --no-fund \
			--loglevel=error) >"$TMP/npm.log" 2>&1 ||
			die "npm ci failed in $NODE_DIR: $(tail -n 5 "$TMP/npm.log")"
		installed=$(jq -r .version \
			"$NODE_DIR/node_modules/sns-validator/package.json")
		[ "$installed" = "$VALIDATOR_VERSION" ] ||
			die "npm installed sns-validator $installed, expected $VALIDATOR_VERSION"
	fi
	cp "$here/node/server.js" "$NODE_DIR/server.js"
}

# start_node DIR: starts bench/node/server.js.  Sets SERVER_PID and
# SERVER_PORT.
start_node() {
	rm -f "$1/node.port"
	BENCH_CERT_HOST=$CERT_HOST BENCH_PORT_FILE=$1/node.port \
		NODE_EXTRA_CA_CERTS=$CA_FILE \
		node "$NODE_DIR/server.js" >"$1/node.out" 2>"$1/node.log" &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	SERVER_PORT=$(wait_port_file "$SERVER_PID" "$1/node.port" \
		"the Node.js server") ||
		die "the Node.js server exited: $(tail -n 5 "$1/node.log")"
}

# ------------------------------------------------------ verification check

# post_body FILE RESPONSE: POSTs FILE to the server like SNS, writes the
# response body to RESPONSE and prints the HTTP status.
post_body() {
	curl -s -o "$2" -w '%{http_code}' \
		-H 'Content-Type: text/plain; charset=UTF-8' \
		-H 'x-amz-sns-message-type: Notification' \
		--data-binary "@$1" "http://127.0.0.1:$SERVER_PORT/sns" || true
}

# tamper IN OUT: the body with its Message changed as an attacker would:
# an internet-wide CIDR replaced by a private one (or, without one, a space
# appended), the signature left as it is.
tamper() {
	jq '.Message |= (if test("0\\.0\\.0\\.0/0")
		then sub("0\\.0\\.0\\.0/0"; "10.0.0.0/8") else . + " " end)' \
		"$1" >"$2" || die "jq could not tamper with $1"
	! cmp -s "$1" "$2" || die "tampering left $1 unchanged"
}

# expect_status NAME FILE STATUS [CODE]: posts FILE and stops the script
# unless the response has STATUS (and, for the relay, the JSON code CODE).
expect_status() {
	local name=$1 file=$2 want=$3 code=${4:-} got out=$TMP/check/response

	got=$(post_body "$file" "$out")
	[ "$got" = "$want" ] ||
		die "verification check: $name: got HTTP $got, expected $want: $(head -c 300 "$out")"
	if [ -n "$code" ]; then
		got=$(jq -r '.code // .result // empty' "$out" 2>/dev/null || true)
		[ "$got" = "$code" ] ||
			die "verification check: $name: got \"$got\", expected \"$code\": $(head -c 300 "$out")"
	fi
	CHECK_LOG+="$name: HTTP $want${code:+ $code}"$'\n'
}

# check_verification: before any measurement, each server must accept a
# valid SignatureVersion 1 and 2 message, reject both with a tampered
# Message, and have fetched the signing certificate from the HTTPS mock.
check_verification() {
	local dir=$TMP/check sv fetches

	mkdir -p "$dir/relay" "$dir/node"
	CHECK_LOG=
	for sv in 1 2; do
		# Numbers past N, so the measured bodies stay unseen.
		sign_body $((N + sv)) "$sv" >"$dir/good$sv.json" ||
			die "snsrelay-sign failed"
		tamper "$dir/good$sv.json" "$dir/tampered$sv.json"
	done

	write_config "$dir/relay" info
	fetches=$(cert_fetches)
	start_relay "$dir/relay"
	for sv in 1 2; do
		expect_status "snsrelay, SignatureVersion $sv, valid" \
			"$dir/good$sv.json" 200 accepted
		expect_status "snsrelay, SignatureVersion $sv, tampered" \
			"$dir/tampered$sv.json" 403 bad_signature
	done
	stop_pid "$SERVER_PID"
	[ "$(cert_fetches)" -gt "$fetches" ] ||
		die "verification check: snsrelay never fetched $CERT_URL"

	[ "$NODE_ON" = 1 ] || return 0
	fetches=$(cert_fetches)
	start_node "$dir/node"
	for sv in 1 2; do
		expect_status "Node.js, SignatureVersion $sv, valid" \
			"$dir/good$sv.json" 200
		expect_status "Node.js, SignatureVersion $sv, tampered" \
			"$dir/tampered$sv.json" 403
	done
	stop_pid "$SERVER_PID"
	[ "$(cert_fetches)" -gt "$fetches" ] ||
		die "verification check: the Node.js server never fetched $CERT_URL"
	grep -q 'signature is invalid' "$dir/node/node.log" ||
		die "verification check: the Node.js server rejected the tampered messages for another reason: $(cat "$dir/node/node.log")"
}

# ---------------------------------------------------------------- wrk runs

# cpu_ticks PID: user + system time of PID in clock ticks.
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

peak_rss_kib() {
	awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"
}

# metric NAME: the value of an unlabelled metric of the relay's /metrics.
metric() {
	curl -sf "http://127.0.0.1:$SERVER_PORT/metrics" |
		awk -v name="$1" '$1 == name { print $2; found = 1 }
			END { exit !found }' ||
		die "the relay's /metrics has no $1"
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
		sleep 1
	done
	now=$(date +%s.%N)
	awk -v a="$start" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

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

# run_wrk DIR NAME CONNS SECONDS: one wrk run against SERVER_PORT; output
# in DIR/NAME.out, counts of bench/post.lua in DIR/NAME.counts.
run_wrk() {
	local t=$((THREADS < $3 ? THREADS : $3))

	rm -f "$1/$2.counts" "$1/$2.counts.go"
	BENCH_BODIES=$TMP/bodies BENCH_THREADS=$t \
		BENCH_COUNTS=$1/$2.counts \
		wrk -t"$t" -c"$3" -d"$4s" --timeout 10s --latency \
		-s "$here/post.lua" "http://127.0.0.1:$SERVER_PORT/sns" \
		>"$1/$2.out" 2>&1 || die "wrk failed: $(cat "$1/$2.out")"
	[ -s "$1/$2.counts" ] ||
		die "wrk wrote no counts: $(cat "$1/$2.out")"
}

# count FILE NAME: one "NAME=value" of a counts file.
count() {
	sed -n "s/.*\\b$2=\\([0-9]*\\).*/\\1/p" "$1"
}

# measure_row SERVER CONNS DIR CPU_TICKS MESSAGES RSS_KIB: appends one row
# of the throughput table to $TMP/rows, from DIR/wrk.out and
# DIR/wrk.counts.  CPU_TICKS is the server's CPU time for MESSAGES
# messages.
measure_row() {
	local dir=$3 hz answered window rps p50 p99

	hz=$(getconf CLK_TCK)
	answered=$(count "$dir/wrk.counts" answered)
	window=$(count "$dir/wrk.counts" window_us)
	if [ "$answered" -eq 0 ] || [ "$window" -eq 0 ]; then
		die "$1 sent no response to wrk: $(cat "$dir/wrk.out")"
	fi
	rps=$(awk -v n="$answered" -v w="$window" \
		'BEGIN { printf "%.0f", n / (w / 1e6) }')
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$dir/wrk.out")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$dir/wrk.out")")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$1" "$2" "$((THREADS < $2 ? THREADS : $2))" "$answered" \
		"$(awk -v w="$window" 'BEGIN { printf "%.2f", w / 1e6 }')" \
		"$rps" "$p50" "$p99" "$(count "$dir/wrk.counts" non200)" \
		"$(awk -v t="$4" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')" \
		"$(awk -v t="$4" -v hz="$hz" -v n="$5" \
			'BEGIN { printf "%.0f", t / hz / n * 1e6 }')" \
		"$(awk -v k="$6" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$(count "$dir/wrk.counts" exhausted)" \
		"$(awk -v us="$(count "$dir/wrk.counts" cpu_us)" \
			'BEGIN { printf "%.2f", us / 1e6 }')" \
		>>"$TMP/rows"
	cp "$dir/wrk.out" "$RESULTS/wrk-$1-c$2.txt"
}

# run_relay CONNS: one wrk run against a new relay with an empty spool,
# then the wait for its deliveries.  The CPU time per message covers
# receiving, storing and delivering: from the start of wrk until no
# delivery is pending, divided by the stored alerts.
run_relay() {
	local c=$1 dir=$TMP/relay-c$1 cpu0 cpu1 drain stored delivered rss

	mkdir -p "$dir"
	write_config "$dir" warn "$DELIVER"
	start_relay "$dir"
	note "snsrelay: wrk -c$c -d${DURATION}s"
	cpu0=$(cpu_ticks "$SERVER_PID")
	run_wrk "$dir" wrk "$c" "$DURATION"
	drain=$(wait_drained "$dir")
	cpu1=$(cpu_ticks "$SERVER_PID")
	stored=$(metric snsrelay_alerts_stored_total)
	delivered=$(spool_lines "$dir" delivered)
	rss=$(peak_rss_kib "$SERVER_PID")
	stop_pid "$SERVER_PID"
	grep -E 'level=(warn|error)' "$dir/relay.log" |
		grep -v 'event=sns_host_pattern_set' | head -n 3 |
		sed 's/^/# relay: /' >&2 || true
	[ "$stored" -gt 0 ] || die "snsrelay stored nothing in the $c-connection run"
	measure_row snsrelay "$c" "$dir" $((cpu1 - cpu0)) "$stored" "$rss"
	printf '| %s | %s | %s / %s | %s |\n' "$c" \
		"$(count "$dir/wrk.counts" answered)" "$delivered" "$stored" \
		"$drain" >>"$TMP/relay-table"
}

# run_node CONNS: one wrk run against a new Node.js server, after a
# warm-up run so that V8 has compiled the hot code.  The Node server
# stores nothing, so it may see bodies again in the warm-up.
run_node() {
	local c=$1 dir=$TMP/node-c$1 cpu0 cpu1 rss

	mkdir -p "$dir"
	start_node "$dir"
	note "Node.js: wrk -c$c -d${NODE_WARMUP}s (warm-up), then -d${DURATION}s"
	run_wrk "$dir" warmup "$c" "$NODE_WARMUP"
	cpu0=$(cpu_ticks "$SERVER_PID")
	run_wrk "$dir" wrk "$c" "$DURATION"
	cpu1=$(cpu_ticks "$SERVER_PID")
	rss=$(peak_rss_kib "$SERVER_PID")
	stop_pid "$SERVER_PID"
	measure_row node "$c" "$dir" $((cpu1 - cpu0)) \
		"$(count "$dir/wrk.counts" answered)" "$rss"
}

# ---------------------------------------------------------------- profile

# run_profile: a relay run at PROFILE_CONNS connections under perf record
# (cpu-clock samples with DWARF call graphs, so that libraries built
# without frame pointers unwind too).  Writes the flat profile by shared
# object and symbol, and the call graph, to $RESULTS.  The relay is
# slower under perf; these runs are not in the throughput table.
run_profile() {
	local dir=$TMP/profile perf_pid

	mkdir -p "$dir"
	write_config "$dir" warn
	start_relay "$dir"
	note "profile: perf record, wrk -c$PROFILE_CONNS -d${DURATION}s"
	perf record -e cpu-clock -F 999 --call-graph dwarf,16384 \
		-p "$SERVER_PID" -o "$dir/perf.data" >"$dir/perf.log" 2>&1 &
	perf_pid=$!
	PIDS+=("$perf_pid")
	sleep 1
	run_wrk "$dir" wrk "$PROFILE_CONNS" "$DURATION"
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	forget_pid "$perf_pid"
	stop_pid "$SERVER_PID"
	[ -s "$dir/perf.data" ] ||
		die "perf record wrote nothing: $(cat "$dir/perf.log")"
	{
		printf '# %s requests answered while perf recorded\n' \
			"$(count "$dir/wrk.counts" answered)"
		perf report -i "$dir/perf.data" --stdio --no-children \
			-g none --sort dso --percent-limit 0.5 2>/dev/null
		perf report -i "$dir/perf.data" --stdio --no-children \
			-g none --sort dso,symbol --percent-limit 0.3 2>/dev/null
	} >"$RESULTS/perf-flat.txt"
	perf report -i "$dir/perf.data" --stdio --children \
		-g caller,0.5,callee --percent-limit 2 \
		>"$RESULTS/perf-callgraph.txt" 2>/dev/null || true
	note "profile in $RESULTS/perf-flat.txt and perf-callgraph.txt"
}

# run_stages: bench/stages over the first BENCH_STAGES_N bodies, into
# $TMP/stages.  It times each step of a notification in one thread,
# without HTTP or the spool, for the "Where the time goes" table.
run_stages() {
	[ "$STAGES_N" -gt 0 ] || return 0
	awk -v n="$STAGES_N" 'BEGIN { RS = "\036\n"; ORS = "\036\n" }
		NR <= n' "$TMP/bodies" >"$TMP/stage-bodies"
	"$BUILD/bench/stages" --bodies "$TMP/stage-bodies" \
		--cert "$TMP/pki/certs/$PKI_GOOD_CERT" >"$TMP/stages" 2>&1 ||
		die "bench/stages failed: $(cat "$TMP/stages")"
}

main() {
	local c

	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	mkdir -p "$RESULTS"
	note "build: $BUILD, temporary directory: $TMP, results: $RESULTS"
	make_pki
	start_mocks
	if [ "$NODE_ON" = 1 ]; then
		install_validator
	fi
	note "signing $N notifications with $JOBS signers"
	sign_bodies
	note "signed in $SIGN_SECONDS s"
	check_verification
	note "timing the steps of $STAGES_N notifications in one thread"
	run_stages
	LOAD_MEASURE=$(cut -d' ' -f1-3 /proc/loadavg)
	: >"$TMP/rows"
	: >"$TMP/relay-table"
	for c in $CONNS; do
		run_relay "$c"
		if [ "$NODE_ON" = 1 ]; then
			run_node "$c"
		fi
	done
	note "end to end: $E2E sequential requests"
	run_e2e
	if [ "$PROFILE" = 1 ]; then
		run_profile
	fi
	LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
	stop_pid "$HOOK_MOCK_PID"
	stop_pid "$CERT_MOCK_PID"
	report | tee "$RESULTS/report.md"
	note "report written to $RESULTS/report.md"
}

main
