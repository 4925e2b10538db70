# Helpers for the end-to-end tests, sourced by every tests/e2e_*.sh.
# POSIX sh.  The tests print TAP for Automake's TAP driver.
#
# Environment (set by "make check"; defaults suit a manual run from the
# build directory):
#   top_srcdir, top_builddir   source and build trees
#   OPENSSL, CURL, FAKETIME    tool paths; an empty value skips the tests
#                              that need the tool
#   SNSRELAY_FIXTURES          the shared fixture folder
#   SNSRELAY_KEEP_TMP=1        keep the temporary directory after the run
#
# Functions, by group:
#   TAP        tap_ok, tap_is, tap_like, tap_contains, tap_unlike,
#              tap_skip, tap_diag, tap_skip_all, tap_bail, tap_done
#   setup      require_fixtures, gen_pki, config_base
#   processes  start_relay, stop_relay, start_mock, stop_mock, stop_pid,
#              kill_pid
#   requests   post_sns, http_get, response_header, response_field
#   signing    sign, iso_time
#   files      wait_for_file_line, wait_for_lines, mock_count,
#              wait_for_mock_count, log_events, wait_for_log_event,
#              log_ts_ms
#   spool      spool_cli

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
: "${OPENSSL=$(command -v openssl || true)}"
: "${CURL=$(command -v curl || true)}"
: "${FAKETIME=$(command -v faketime || true)}"
: "${SNSRELAY_FIXTURES:=$top_srcdir/../shared/fixtures}"

# Seconds start_relay and start_mock wait for their process to be ready.
LIB_START_TIMEOUT=10

# A loopback port where nothing listens, for a webhook or host that is
# down.  A port freed by a stopped mock would not do, because tests run
# in parallel and another test's mock may get it next.  Linux assigns
# free ports from ip_local_port_range (32768 to 60999 by default), so a
# mock never gets port 1.
CLOSED_PORT=1

tap_count=0
tap_failed=0
lib_pids=

# ---------------------------------------------------------------- TAP

# With TAP_TODO set, a result is marked "# TODO $TAP_TODO": a known bug
# that the TAP driver reports as an expected failure.
lib_result() {
	tap_count=$((tap_count + 1))
	lib_todo=${TAP_TODO:+ # TODO $TAP_TODO}
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_count - $2$lib_todo"
	else
		[ -n "$lib_todo" ] || tap_failed=$((tap_failed + 1))
		echo "not ok $tap_count - $2$lib_todo"
	fi
}

# tap_diag LINE...: prints each argument as a TAP comment.
tap_diag() {
	for lib_line in "$@"; do
		printf '%s\n' "$lib_line"
	done | sed 's/^/# /'
}

# tap_ok CONDITION NAME: passes when the shell command CONDITION, run with
# eval, exits 0.
tap_ok() {
	if eval "$1"; then
		lib_result 0 "$2"
	else
		lib_result 1 "$2"
		tap_diag "  condition failed: $1"
	fi
}

# tap_is GOT EXPECTED NAME: passes when the two strings are equal.
tap_is() {
	if [ "$1" = "$2" ]; then
		lib_result 0 "$3"
	else
		lib_result 1 "$3"
		tap_diag "  got:      '$1'" "  expected: '$2'"
	fi
}

# tap_like GOT REGEX NAME: passes when an extended regular expression
# matches a line of GOT.
tap_like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		lib_result 0 "$3"
	else
		lib_result 1 "$3"
		tap_diag "  got:      '$1'" "  expected to match: $2"
	fi
}

# tap_contains GOT TEXT NAME: passes when GOT contains the fixed string
# TEXT.
tap_contains() {
	case $1 in
	*"$2"*)
		lib_result 0 "$3"
		;;
	*)
		lib_result 1 "$3"
		tap_diag "  got:      '$1'" "  expected to contain: '$2'"
		;;
	esac
}

# tap_unlike GOT REGEX NAME: passes when the regex matches no line of GOT.
tap_unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		lib_result 1 "$3"
		tap_diag "  got:      '$1'" "  expected not to match: $2"
	else
		lib_result 0 "$3"
	fi
}

# tap_skip REASON [COUNT]: records COUNT (default 1) skipped tests.
tap_skip() {
	lib_n=${2:-1}
	while [ "$lib_n" -gt 0 ]; do
		tap_count=$((tap_count + 1))
		echo "ok $tap_count # SKIP $1"
		lib_n=$((lib_n - 1))
	done
}

# Skips the whole script; only valid before the first test.
tap_skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# Stops the script on a broken setup, which counts as a failure.
tap_bail() {
	echo "Bail out! $*"
	exit 1
}

# Prints the plan and exits non-zero when a test failed.
tap_done() {
	echo "1..$tap_count"
	if [ "$tap_failed" -gt 0 ]; then
		lib_dump_logs
		exit 1
	fi
	exit 0
}

# ------------------------------------------------------ temporary files

lib_dump_logs() {
	for lib_f in "$TEST_TMP"/*.log; do
		[ -f "$lib_f" ] || continue
		tap_diag "---- last lines of $(basename "$lib_f")"
		tail -n 25 "$lib_f" | sed 's/^/#   /'
	done
}

lib_cleanup() {
	for lib_pid in $lib_pids; do
		stop_pid "$lib_pid" 2>/dev/null
	done
	if [ "${SNSRELAY_KEEP_TMP:-0}" = 1 ]; then
		echo "# kept $TEST_TMP"
	else
		rm -rf "$TEST_TMP"
	fi
}

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/snsrelay-e2e.XXXXXX") ||
	tap_bail "cannot create a temporary directory"
trap lib_cleanup EXIT
trap 'exit 1' HUP INT TERM

lib_forget_pid() {
	lib_rest=
	for lib_pid in $lib_pids; do
		[ "$lib_pid" = "$1" ] || lib_rest="$lib_rest $lib_pid"
	done
	lib_pids=$lib_rest
}

# --------------------------------------------------------- requirements

lib_require_tools() {
	[ -n "$OPENSSL" ] && [ -x "$OPENSSL" ] ||
		tap_skip_all "openssl command not found"
	[ -n "$CURL" ] && [ -x "$CURL" ] ||
		tap_skip_all "curl command not found"
	command -v jq >/dev/null 2>&1 ||
		tap_skip_all "jq command not found"
	for lib_f in snsrelay snsrelay-sign tests/mock_server; do
		[ -x "$top_builddir/$lib_f" ] ||
			tap_bail "$top_builddir/$lib_f is missing; run make"
	done
}

# Skips the script when the shared fixture folder is missing.
require_fixtures() {
	[ -d "$SNSRELAY_FIXTURES/sns" ] && [ -d "$SNSRELAY_FIXTURES/events" ] ||
		tap_skip_all "fixtures not found in $SNSRELAY_FIXTURES;" \
			"set SNSRELAY_FIXTURES"
}

lib_require_tools

# ------------------------------------------------------------ processes

# wait_for_file_line FILE REGEX [SECONDS]: waits until a line of FILE
# matches the extended regular expression REGEX.  Returns non-zero on
# timeout.
wait_for_file_line() {
	lib_tries=$((${3:-$LIB_START_TIMEOUT} * 20))
	while [ "$lib_tries" -gt 0 ]; do
		if [ -f "$1" ] && grep -Eq -- "$2" "$1"; then
			return 0
		fi
		sleep 0.05
		lib_tries=$((lib_tries - 1))
	done
	return 1
}

# wait_for_lines FILE N [SECONDS]: waits until FILE has at least N
# complete lines.  Returns non-zero on timeout.
wait_for_lines() {
	lib_tries=$((${3:-$LIB_START_TIMEOUT} * 20))
	while [ "$lib_tries" -gt 0 ]; do
		if [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; then
			return 0
		fi
		sleep 0.05
		lib_tries=$((lib_tries - 1))
	done
	return 1
}

# start_relay CONFIG [NAME]: starts "$top_builddir/snsrelay -c CONFIG" in
# the background, standard output to $TEST_TMP/NAME.out and standard
# error to $TEST_TMP/NAME.log (NAME defaults to "relay"), and waits for
# its event=ready line.  Sets RELAY_PID, RELAY_PORT, RELAY_LOG, RELAY_OUT.
# With RELAY_FAKE_TIME set, runs the relay under $FAKETIME -f that value.
# With RELAY_FILE_LIMIT set, runs it with a file size limit
# (RLIMIT_FSIZE) of that many bytes, rounded down to the shell's ulimit
# block.  Returns non-zero when the relay exits or is not ready in time.
start_relay() {
	lib_name=${2:-relay}
	RELAY_LOG=$TEST_TMP/$lib_name.log
	RELAY_OUT=$TEST_TMP/$lib_name.out
	RELAY_PORT=
	if [ -n "${RELAY_FAKE_TIME:-}" ]; then
		"$FAKETIME" -f "$RELAY_FAKE_TIME" "$top_builddir/snsrelay" \
			-c "$1" >"$RELAY_OUT" 2>"$RELAY_LOG" &
	elif [ -n "${RELAY_FILE_LIMIT:-}" ]; then
		lib_blocks=$((RELAY_FILE_LIMIT / $(lib_ulimit_block)))
		# The subshell execs the relay, so $! is the relay's id.
		(ulimit -f "$lib_blocks" &&
			exec "$top_builddir/snsrelay" -c "$1") \
			>"$RELAY_OUT" 2>"$RELAY_LOG" &
	else
		"$top_builddir/snsrelay" -c "$1" >"$RELAY_OUT" 2>"$RELAY_LOG" &
	fi
	RELAY_PID=$!
	lib_pids="$lib_pids $RELAY_PID"
	lib_wait_ready || return 1
	RELAY_PORT=$(sed -n 's/.*event=ready.* port=\([0-9][0-9]*\).*/\1/p' \
		"$RELAY_LOG" | head -n 1)
	[ -n "$RELAY_PORT" ]
}

# lib_ulimit_block: prints the unit of this shell's "ulimit -f" in bytes:
# 512 in POSIX shells, 1024 in bash outside its POSIX mode.  It writes
# 2048 bytes under a limit of one block and measures what was written.
lib_ulimit_block() {
	lib_probe=$TEST_TMP/ulimit-probe
	rm -f "$lib_probe"
	(
		trap '' XFSZ
		ulimit -f 1 && head -c 2048 /dev/zero >"$lib_probe"
	) 2>/dev/null
	lib_size=$(wc -c <"$lib_probe" | tr -d ' ')
	rm -f "$lib_probe"
	case $lib_size in
	512 | 1024) echo "$lib_size" ;;
	*) echo 512 ;;
	esac
}

lib_wait_ready() {
	lib_tries=$((LIB_START_TIMEOUT * 20))
	while [ "$lib_tries" -gt 0 ]; do
		grep -q 'event=ready' "$RELAY_LOG" 2>/dev/null && return 0
		if ! kill -0 "$RELAY_PID" 2>/dev/null; then
			tap_diag "snsrelay exited before it was ready:"
			sed 's/^/#   /' "$RELAY_LOG"
			return 1
		fi
		sleep 0.05
		lib_tries=$((lib_tries - 1))
	done
	tap_diag "snsrelay was not ready after $LIB_START_TIMEOUT s"
	return 1
}

# lib_children PID: prints the process ids whose parent is PID.
lib_children() {
	if command -v pgrep >/dev/null 2>&1; then
		pgrep -P "$1"
		return 0
	fi
	# Linux without procps: field 4 of /proc/N/stat is the parent, and
	# the command name before it ends with ") ".
	awk -v parent="$1" '{ sub(/^.*\) /, "") }
		$2 == parent { split(FILENAME, part, "/"); print part[3] }' \
		/proc/[0-9]*/stat 2>/dev/null
}

# stop_pid PID: sends SIGTERM to the child processes of PID, or to PID
# when it has none, then SIGKILL when PID still runs after
# $LIB_START_TIMEOUT seconds, and waits.  The children matter under
# faketime, which forks the relay, does not pass signals on, and exits
# with the relay's status.  Sets STOP_STATUS to the exit status of PID.
stop_pid() {
	lib_targets=$(lib_children "$1")
	# shellcheck disable=SC2086 # one word per process id
	kill -TERM ${lib_targets:-"$1"} 2>/dev/null
	lib_tries=$((LIB_START_TIMEOUT * 20))
	while kill -0 "$1" 2>/dev/null && [ "$lib_tries" -gt 0 ]; do
		sleep 0.05
		lib_tries=$((lib_tries - 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1"
	STOP_STATUS=$?
	lib_forget_pid "$1"
}

# kill_pid PID: sends SIGKILL to PID, waits for it, and sets STOP_STATUS
# to its exit status.  For a relay killed mid-delivery, and for a mock
# whose responses are delayed longer than a stop should wait.
kill_pid() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	STOP_STATUS=$?
	lib_forget_pid "$1"
}

# stop_relay [PID]: stops a relay (default: the last one started).
stop_relay() {
	stop_pid "${1:-$RELAY_PID}"
}

# start_mock NAME [mock_server options]: starts tests/mock_server on a
# free port, recording to $TEST_TMP/NAME.rec, with standard error in
# $TEST_TMP/NAME.log.  Sets MOCK_PID, MOCK_PORT, MOCK_REC.
start_mock() {
	lib_name=$1
	shift
	MOCK_REC=$TEST_TMP/$lib_name.rec
	: >"$MOCK_REC"
	rm -f "$TEST_TMP/$lib_name.port"
	"$top_builddir/tests/mock_server" --port-file \
		"$TEST_TMP/$lib_name.port" --record "$MOCK_REC" "$@" \
		2>"$TEST_TMP/$lib_name.log" &
	MOCK_PID=$!
	lib_pids="$lib_pids $MOCK_PID"
	wait_for_file_line "$TEST_TMP/$lib_name.port" '^[0-9]+$' || {
		tap_diag "mock_server $lib_name did not start:"
		sed 's/^/#   /' "$TEST_TMP/$lib_name.log"
		return 1
	}
	MOCK_PORT=$(cat "$TEST_TMP/$lib_name.port")
}

stop_mock() {
	stop_pid "${1:-$MOCK_PID}"
}

# ------------------------------------------------------------- requests

# post_sns BODY_FILE [curl options]: POSTs BODY_FILE to the relay the way
# SNS does and prints the HTTP status.  The response body is in $RESPONSE
# and its headers in $RESPONSE_HEADERS.  The x-amz-sns-message-type header is
# the body's Type unless SNS_TYPE_HEADER is set ("none" omits it).  The
# target is $SNS_URL, by default http://127.0.0.1:$RELAY_PORT/sns.
RESPONSE=$TEST_TMP/response.json
RESPONSE_HEADERS=$TEST_TMP/response.headers
post_sns() {
	lib_body=$1
	shift
	lib_type=${SNS_TYPE_HEADER:-$(jq -r '.Type // "Notification"' \
		"$lib_body" 2>/dev/null || echo Notification)}
	lib_id=$(jq -r '.MessageId // "unknown"' "$lib_body" 2>/dev/null ||
		echo unknown)
	lib_topic=$(jq -r '.TopicArn // "unknown"' "$lib_body" 2>/dev/null ||
		echo unknown)
	if [ "$lib_type" = none ]; then
		set -- -H 'x-amz-sns-message-type:' "$@"
	else
		set -- -H "x-amz-sns-message-type: $lib_type" "$@"
	fi
	"$CURL" -sS --max-time 30 -o "$RESPONSE" -D "$RESPONSE_HEADERS" \
		-w '%{http_code}' \
		-H 'Content-Type: text/plain; charset=UTF-8' \
		-H 'User-Agent: Amazon Simple Notification Service Agent' \
		-H "x-amz-sns-message-id: $lib_id" \
		-H "x-amz-sns-topic-arn: $lib_topic" \
		--data-binary "@$lib_body" "$@" \
		"${SNS_URL:-http://127.0.0.1:$RELAY_PORT/sns}"
}

# http_get URL [curl options]: GETs URL and prints the HTTP status, with
# the response body in $RESPONSE and its headers in $RESPONSE_HEADERS.
http_get() {
	lib_url=$1
	shift
	"$CURL" -sS --max-time 30 -o "$RESPONSE" -D "$RESPONSE_HEADERS" \
		-w '%{http_code}' "$@" "$lib_url"
}

# response_header NAME: prints the value of header NAME of the last
# response, without the line's carriage return.
response_header() {
	awk -v name="$1" '
		{ sub(/\r$/, ""); i = index($0, ":") }
		i > 0 && tolower(substr($0, 1, i - 1)) == tolower(name) {
			value = substr($0, i + 1)
			sub(/^[ \t]+/, "", value)
			print value
			exit
		}' "$RESPONSE_HEADERS"
}

# response_field JQ_PATH: prints a string member of the last response.
response_field() {
	jq -r "$1 // empty" "$RESPONSE" 2>/dev/null
}

# -------------------------------------------------------------- signing

# gen_pki: creates the test PKI in $TEST_TMP/pki and sets PKI_DIR and
# the names from its pki.env.
gen_pki() {
	PKI_DIR=$TEST_TMP/pki
	OPENSSL=$OPENSSL sh "$top_srcdir/tests/gen-test-pki.sh" "$PKI_DIR" ||
		tap_bail "cannot create the test PKI"
	. "$PKI_DIR/pki.env"
}

# sign [snsrelay-sign options]: signs with the test signing key and prints
# the delivery body.  SIGN_KEY selects another key.
sign() {
	"$top_builddir/snsrelay-sign" \
		--key "${SIGN_KEY:-$PKI_DIR/signing.key}" "$@"
}

# iso_time SECONDS_FROM_NOW: prints a UTC time in the SNS Timestamp form.
iso_time() {
	date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%S.000Z
}

# ---------------------------------------------------------------- files

# config_base NAME [SPOOL]: prints the configuration lines every test
# relay shares: a free loopback port and its own spool file, SPOOL or by
# default $TEST_TMP/NAME-spool.db.  Tests run in parallel, so no relay
# may use the default spool_path.  Every log line is kept
# (log_repeat_interval = 0), because tests look for the line of each
# request; tests of the repeat limit set it themselves.
config_base() {
	cat <<EOF
listen = 127.0.0.1:0
spool_path = ${2:-$TEST_TMP/$1-spool.db}
log_level = debug
log_repeat_interval = 0
EOF
}

# mock_count RECORD JQ_CONDITION: prints how many recorded requests
# satisfy the condition, e.g. '.method == "GET"'.  A last line that the
# mock is still writing is not counted.
mock_count() {
	jq -c "select($2)" "$1" 2>/dev/null | wc -l | tr -d ' '
}

# wait_for_mock_count RECORD JQ_CONDITION N [SECONDS]: waits until at
# least N recorded requests satisfy the condition, polling every 50 ms
# for at most SECONDS (default 10).  Returns non-zero on timeout.
wait_for_mock_count() {
	lib_tries=$((${4:-10} * 20))
	while [ "$lib_tries" -gt 0 ]; do
		[ "$(mock_count "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.05
		lib_tries=$((lib_tries - 1))
	done
	return 1
}

# log_events LOG EVENT: prints the lines of event EVENT.
log_events() {
	grep -E "(^| )event=\"?$2\"?( |\$)" "$1"
}

# wait_for_log_event LOG EVENT [REGEX [SECONDS]]: waits until a line of
# event EVENT that also matches the extended regular expression REGEX
# (default: any) is in LOG, polling every 50 ms for at most SECONDS
# (default 10).  Returns non-zero on timeout.
wait_for_log_event() {
	lib_tries=$((${4:-10} * 20))
	while [ "$lib_tries" -gt 0 ]; do
		log_events "$1" "$2" 2>/dev/null | grep -Eq -- "${3:-.}" &&
			return 0
		sleep 0.05
		lib_tries=$((lib_tries - 1))
	done
	return 1
}

# log_ts_ms LINE: prints the ts= field of a logfmt line as milliseconds
# since the epoch, or nothing when the line has none.
log_ts_ms() {
	lib_ts=$(printf '%s\n' "$1" | head -n 1 |
		sed -n 's/^ts=\([0-9T:.-]*Z\).*/\1/p')
	[ -n "$lib_ts" ] || return 0
	date -u -d "$lib_ts" +%s%3N
}

# ---------------------------------------------------------------- spool

# spool_cli CONFIG ARGUMENTS...: runs "snsrelay -c CONFIG spool ARGUMENTS"
# with standard output in $SPOOL_OUT and standard error in $SPOOL_ERR,
# and sets SPOOL_STATUS to its exit status.
SPOOL_OUT=$TEST_TMP/spool-cli.out
SPOOL_ERR=$TEST_TMP/spool-cli.err
spool_cli() {
	lib_conf=$1
	shift
	"$top_builddir/snsrelay" -c "$lib_conf" spool "$@" \
		>"$SPOOL_OUT" 2>"$SPOOL_ERR"
	SPOOL_STATUS=$?
}
