#!/bin/sh
# End-to-end: the durable spool.  Alerts outlive a killed relay, a
# stopped one and a webhook that is down.  A full disk, a missing folder
# and a file that is not a spool get the responses docs/spool.md lists.
# "snsrelay spool list|retry|purge" inspects and repairs the spool of a
# running relay.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

gen_pki

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
cert_url=https://127.0.0.1:1/$PKI_GOOD_CERT
hook_path=/api/webhooks/123/secrettoken
body=$TEST_TMP/body.json
posts='.method == "POST"'

# write_config NAME SPOOL [extra lines]: a relay on spool file SPOOL that
# reads the signing certificate from the seed directory and retries
# after 25 ms to 500 ms.
write_config() {
	lib_conf=$TEST_TMP/$1.conf
	lib_spool=$2
	shift 2
	{
		config_base "$(basename "$lib_conf" .conf)" "$lib_spool"
		cat <<EOF
topic = $topic
cert_dir = $PKI_DIR/seed
sns_host_pattern = 127.0.0.1:*
retry_min_delay = 50ms
retry_max_delay = 500ms
EOF
		for lib_line in "$@"; do
			echo "$lib_line"
		done
	} >"$lib_conf"
}

# notification OUT ID: a signed plain-text Notification with MessageId ID.
notification() {
	sign --cert-url "$cert_url" --topic-arn "$topic" \
		--subject "Spool test $2" --message "spool test $2" \
		--message-id "$2" >"$1" || tap_bail "snsrelay-sign failed for $2"
}

# discord_url PORT: the mock Discord webhook on PORT.
discord_url() {
	echo "http://127.0.0.1:$1$hook_path"
}

# delivered ID [SECONDS]: waits for the alert_delivered line of alert ID.
delivered() {
	wait_for_log_event "$RELAY_LOG" alert_delivered \
		"alert_id=\"?$1\"?( |\$)" "${2:-10}"
}

# spool_rows: the alert ids of the last "spool list", one per row.
spool_rows() {
	awk 'NR > 1 { print $2 }' "$SPOOL_OUT" | tr '\n' ' '
}

# -------------------------------------------------- kill -9 mid-send

# The mock delays its response by 1.5 s, and the relay is killed while
# it waits.  The alert was never acknowledged, so the next start sends it
# again, and at most those two POSTs reach the webhook.
start_mock slow --delay-ms 1500 || tap_bail "mock_server did not start"
slow_rec=$MOCK_REC
write_config killed "$TEST_TMP/killed.db" \
	"discord_webhook_url = $(discord_url "$MOCK_PORT")"
start_relay "$TEST_TMP/killed.conf" killed || tap_bail "the relay did not start"
notification "$body" killed-0001
tap_is "$(post_sns "$body")" 200 "kill -9: status 200"
tap_is "$(response_field .result)" accepted "kill -9: accepted"
tap_ok 'wait_for_mock_count "$slow_rec" "$posts" 1' "kill -9: POST under way"
kill_pid "$RELAY_PID"
tap_is "$STOP_STATUS" 137 "kill -9: relay killed"
spool_cli "$TEST_TMP/killed.conf" list pending
tap_is "$(spool_rows)" "sns:killed-0001 " "kill -9: alert still pending"
start_relay "$TEST_TMP/killed.conf" killed2 ||
	tap_bail "the relay did not restart"
tap_ok 'delivered sns:killed-0001' "kill -9: delivered after restart"
sleep 0.3
tap_ok '[ "$(mock_count "$slow_rec" "$posts")" -le 2 ]' \
	"kill -9: at most two POSTs"
spool_cli "$TEST_TMP/killed.conf" list
tap_is "$(spool_rows)" "sns:killed-0001 " "kill -9: one delivery row"
tap_like "$(cat "$SPOOL_OUT")" ' sns:killed-0001 +discord +delivered ' \
	"kill -9: recorded as delivered"
stop_relay
stop_mock

# --------------------------------------- webhook down, then restart

write_config down "$TEST_TMP/down.db" \
	"discord_webhook_url = $(discord_url "$CLOSED_PORT")"
start_relay "$TEST_TMP/down.conf" down || tap_bail "the relay did not start"
notification "$body" down-0001
tap_is "$(post_sns "$body")" 200 "webhook down: status 200"
tap_ok 'wait_for_log_event "$RELAY_LOG" delivery_retry \
	"alert_id=\"?sns:down-0001"' "webhook down: delivery_retry logged"
stop_relay
tap_is "$STOP_STATUS" 0 "webhook down: relay stops"
tap_like "$(log_events "$RELAY_LOG" stopped_with_pending)" ' pending=1( |$)' \
	"webhook down: stopped_with_pending logged"
spool_cli "$TEST_TMP/down.conf" list pending
tap_is "$(spool_rows)" "sns:down-0001 " "webhook down: alert pending"
# Purge keeps alerts with a pending delivery, however old.
spool_cli "$TEST_TMP/down.conf" purge --older-than 30d
tap_is "$SPOOL_STATUS" 0 "purge: exits 0"
tap_like "$(cat "$SPOOL_OUT")" '^removed 0 alerts' "purge: keeps pending"

start_mock up || tap_bail "mock_server did not start"
up_rec=$MOCK_REC
write_config up "$TEST_TMP/down.db" \
	"discord_webhook_url = $(discord_url "$MOCK_PORT")"
start_relay "$TEST_TMP/up.conf" up || tap_bail "the relay did not restart"
tap_ok 'delivered sns:down-0001' "webhook down: delivered after restart"
tap_is "$(mock_count "$up_rec" "$posts")" 1 "webhook down: one POST"
stop_relay
stop_mock

# ------------------------------------------ SIGTERM with a send pending

# The mock hangs for 6 s, longer than shutdown_grace (1 s) and shorter
# than delivery_timeout, so the send is in flight when SIGTERM comes.
start_mock hang --delay-ms 6000 || tap_bail "mock_server did not start"
hang_pid=$MOCK_PID
hang_rec=$MOCK_REC
write_config term "$TEST_TMP/term.db" \
	"discord_webhook_url = $(discord_url "$MOCK_PORT")" \
	"shutdown_grace = 1s" "delivery_timeout = 10s"
start_relay "$TEST_TMP/term.conf" term || tap_bail "the relay did not start"
notification "$body" term-0001
tap_is "$(post_sns "$body")" 200 "SIGTERM: status 200"
tap_ok 'wait_for_mock_count "$hang_rec" "$posts" 1' "SIGTERM: POST under way"
started=$(date +%s%3N)
stop_relay
elapsed=$(($(date +%s%3N) - started))
tap_is "$STOP_STATUS" 0 "SIGTERM: exit status 0"
tap_ok '[ "$elapsed" -le 3000 ]' "SIGTERM: exits within grace + 2 s"
tap_diag "SIGTERM: the relay took $elapsed ms to exit"
tap_like "$(log_events "$RELAY_LOG" stopped_with_pending)" ' pending=1( |$)' \
	"SIGTERM: stopped_with_pending logged"
tap_ok 'log_events "$RELAY_LOG" stopped >/dev/null' "SIGTERM: stopped logged"
kill_pid "$hang_pid"

start_mock after || tap_bail "mock_server did not start"
write_config term2 "$TEST_TMP/term.db" \
	"discord_webhook_url = $(discord_url "$MOCK_PORT")"
start_relay "$TEST_TMP/term2.conf" term2 ||
	tap_bail "the relay did not restart"
tap_ok 'delivered sns:term-0001' "SIGTERM: delivered after restart"
stop_relay
stop_mock

# ----------------------------------------------------------- disk full

# file_size FILE: prints the size of FILE in bytes, 0 when it is missing.
file_size() {
	if [ -f "$1" ]; then
		wc -c <"$1" | tr -d ' '
	else
		echo 0
	fi
}

# The big alert's Message is U+1F600 doubled 16 times: 65536 characters,
# 256 KiB of UTF-8.  An alert keeps at most 16384 characters of text, so
# its document is still about 64 KiB.
big_text=$TEST_TMP/big.txt
printf '\360\237\230\200' >"$big_text"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
	cat "$big_text" "$big_text" >"$big_text.tmp"
	mv "$big_text.tmp" "$big_text"
done
for id in calib-big full-0002; do
	sign --cert-url "$cert_url" --topic-arn "$topic" \
		--message-file "$big_text" --message-id "$id" \
		>"$TEST_TMP/$id.json" || tap_bail "snsrelay-sign failed for $id"
done

# Each alert adds every page it changes to the write-ahead log (WAL),
# and nothing checkpoints the log while the relay runs.  A relay without
# a limit measures how much a small and a big alert add, so that the
# limit below leaves room for small alerts but not for the big one,
# whatever the schema and page size.
start_mock calib || tap_bail "mock_server did not start"
write_config calib "$TEST_TMP/calib.db" \
	"discord_webhook_url = $(discord_url "$MOCK_PORT")"
start_relay "$TEST_TMP/calib.conf" calib || tap_bail "the relay did not start"
for id in calib-0001 calib-0002 calib-big; do
	[ "$id" = calib-big ] || notification "$TEST_TMP/$id.json" "$id"
	post_sns "$TEST_TMP/$id.json" >/dev/null
	delivered "sns:$id" || tap_bail "calibration: $id not delivered"
	size=$(file_size "$TEST_TMP/calib.db-wal")
	case $id in
	calib-0001) wal_one=$size ;;
	calib-0002) wal_two=$size ;;
	calib-big) wal_big=$size ;;
	esac
done
db_size=$(file_size "$TEST_TMP/calib.db")
stop_relay
stop_mock
small=$((wal_two - wal_one))
big=$((wal_big - wal_two))
limit=$((wal_one + (small + big) / 2))
tap_diag "disk full: spool $db_size bytes; WAL $wal_one bytes after" \
	"one alert, $small more for a small one, $big for the big one;" \
	"file size limit $limit bytes"
tap_ok '[ "$big" -gt $((small * 2)) ] && [ "$limit" -gt "$db_size" ]' \
	"disk full: big alert needs more room"

start_mock full || tap_bail "mock_server did not start"
full_rec=$MOCK_REC
write_config full "$TEST_TMP/full.db" \
	"discord_webhook_url = $(discord_url "$MOCK_PORT")"
RELAY_FILE_LIMIT=$limit
start_relay "$TEST_TMP/full.conf" full || tap_bail "the relay did not start"
RELAY_FILE_LIMIT=
base=http://127.0.0.1:$RELAY_PORT
notification "$body" full-0001
tap_is "$(post_sns "$body")" 200 "disk full: small alert 200"
tap_ok 'delivered sns:full-0001' "disk full: small alert delivered"
tap_ok '[ "$(wc -c <"$TEST_TMP/full-0002.json")" -ge 200000 ]' \
	"disk full: message over 200 KB"
tap_is "$(post_sns "$TEST_TMP/full-0002.json")" 503 "disk full: big alert 503"
tap_is "$(response_field .code)" spool_full "disk full: code"
tap_like "$(log_events "$RELAY_LOG" spool_write_failed)" \
	'code="?spool_full' "disk full: spool_write_failed logged"
tap_like "$(log_events "$RELAY_LOG" request_failed)" \
	'status=503 .*code="?spool_full' "disk full: request_failed logged"
tap_is "$(post_sns "$TEST_TMP/full-0002.json")" 503 "disk full: SNS retry 503"
tap_is "$(http_get "$base/healthz")" 200 "disk full: healthz 200"
tap_is "$(http_get "$base/readyz")" 503 "disk full: readyz 503"
tap_is "$(response_field .status)" not_ready "disk full: not_ready"
tap_like "$(response_field .reason)" '.' "disk full: readyz reason"
spool_cli "$TEST_TMP/full.conf" list
tap_is "$(spool_rows)" "sns:full-0001 " "disk full: earlier alert kept"
notification "$body" full-0003
tap_is "$(post_sns "$body")" 200 "disk full: next small alert 200"
tap_ok 'log_events "$RELAY_LOG" spool_write_recovered >/dev/null' \
	"disk full: spool_write_recovered logged"
tap_ok 'kill -0 "$RELAY_PID"' "disk full: relay still runs"
stop_relay
stop_mock

# ------------------------------------------------------ missing folder

start_mock late || tap_bail "mock_server did not start"
late_rec=$MOCK_REC
write_config late "$TEST_TMP/later/spool.db" \
	"discord_webhook_url = $(discord_url "$MOCK_PORT")"
start_relay "$TEST_TMP/late.conf" late ||
	tap_bail "the relay without a spool folder did not start"
base=http://127.0.0.1:$RELAY_PORT
tap_like "$(log_events "$RELAY_LOG" spool_unavailable)" 'later/spool\.db' \
	"missing folder: spool_unavailable logged"
tap_is "$(http_get "$base/readyz")" 503 "missing folder: readyz 503"
tap_is "$(response_field .status)" not_ready "missing folder: not_ready"
tap_like "$(response_field .reason)" 'later' "missing folder: reason"
tap_is "$(http_get "$base/healthz")" 200 "missing folder: healthz 200"
notification "$body" late-0001
tap_is "$(post_sns "$body")" 503 "missing folder: POST 503"
tap_is "$(response_field .code)" spool_unavailable "missing folder: code"
tap_ok '[ ! -e "$TEST_TMP/later" ]' "missing folder: not created"
mkdir "$TEST_TMP/later"
# Without any POST, the relay opens the spool again within about 5 s,
# so a load balancer that took it out on /readyz lets it back in.
ready_status=503
tries=0
while [ "$ready_status" != 200 ] && [ $tries -lt 150 ]; do
	sleep 0.1
	ready_status=$(http_get "$base/readyz")
	tries=$((tries + 1))
done
tap_is "$ready_status" 200 "missing folder: readyz 200 again without a POST"
tap_like "$(log_events "$RELAY_LOG" spool_opened)" 'later/spool\.db' \
	"missing folder: spool_opened logged"
tap_is "$(post_sns "$body")" 200 "missing folder: POST 200 after mkdir"
tap_is "$(response_field .result)" accepted "missing folder: accepted"
tap_ok 'delivered sns:late-0001' "missing folder: delivered"
tap_is "$(mock_count "$late_rec" "$posts")" 1 "missing folder: one POST"
stop_relay
stop_mock

# ------------------------------------------------------- corrupt spool

# A file that is not a spool is never written to, replaced or deleted.
printf 'not a database, but keep me\n' >"$TEST_TMP/garbage.db"
head -c 8192 /dev/urandom >>"$TEST_TMP/garbage.db"
cp "$TEST_TMP/garbage.db" "$TEST_TMP/garbage.copy"
write_config garbage "$TEST_TMP/garbage.db"
if start_relay "$TEST_TMP/garbage.conf" garbage; then
	tap_ok false "corrupt spool: relay refuses to start"
else
	tap_ok true "corrupt spool: relay refuses to start"
fi
stop_relay
tap_ok '[ "$STOP_STATUS" -ne 0 ]' "corrupt spool: exit status not 0"
tap_like "$(log_events "$RELAY_LOG" startup_failed)" 'code="?spool_corrupt' \
	"corrupt spool: startup_failed spool_corrupt"
tap_ok 'cmp -s "$TEST_TMP/garbage.db" "$TEST_TMP/garbage.copy"' \
	"corrupt spool: file unchanged"
spool_cli "$TEST_TMP/garbage.conf" list
tap_is "$SPOOL_STATUS" 1 "corrupt spool: spool list exits 1"
tap_like "$(cat "$SPOOL_ERR")" 'garbage\.db' "corrupt spool: message names file"
tap_ok 'cmp -s "$TEST_TMP/garbage.db" "$TEST_TMP/garbage.copy"' \
	"corrupt spool: unchanged by spool list"

# The command line never creates a spool.
write_config nospool "$TEST_TMP/nospool.db"
spool_cli "$TEST_TMP/nospool.conf" list
tap_is "$SPOOL_STATUS" 1 "no spool: spool list exits 1"
tap_ok '[ ! -e "$TEST_TMP/nospool.db" ]' "no spool: file not created"

# ------------------------------------------------ spool list|retry|purge

# The mock rejects the first POST with 400, which makes a dead letter,
# and returns 200 afterwards, so "spool retry" lets the running relay
# deliver it.
start_mock cli --status 400,200 || tap_bail "mock_server did not start"
cli_rec=$MOCK_REC
write_config cli "$TEST_TMP/cli.db" \
	"discord_webhook_url = $(discord_url "$MOCK_PORT")"
start_relay "$TEST_TMP/cli.conf" cli || tap_bail "the relay did not start"
cli_conf=$TEST_TMP/cli.conf
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/readyz")" 200 \
	"readyz: 200 when all is well"
tap_is "$(response_field .status)" ready "readyz: ready"
notification "$body" cli-0001
tap_is "$(post_sns "$body")" 200 "cli: status 200"
tap_ok 'wait_for_log_event "$RELAY_LOG" dead_letter \
	"alert_id=\"?sns:cli-0001"' "cli: dead letter"

spool_cli "$cli_conf" list
tap_is "$SPOOL_STATUS" 0 "list: exits 0"
tap_like "$(head -n 1 "$SPOOL_OUT")" \
	'^ROW +ALERT_ID +DESTINATION +STATE +ATTEMPTS +RECEIVED' "list: header"
tap_like "$(cat "$SPOOL_OUT")" \
	'^[0-9]+ +sns:cli-0001 +discord +dead .*[0-9]{4}-[0-9]{2}-[0-9]{2}T' \
	"list: shows dead letter"
tap_like "$(cat "$SPOOL_OUT")" ' sns:cli-0001 .* dead .*[^ ]$' \
	"list: shows last error"
tap_like "$(cat "$SPOOL_OUT")" ' dead .*HTTP 400' \
	"list: last error names status"
tap_unlike "$(cat "$SPOOL_OUT")" secrettoken "list: hides webhook token"
row=$(awk '$2 == "sns:cli-0001" { print $1 }' "$SPOOL_OUT")
spool_cli "$cli_conf" list dead
tap_is "$(spool_rows)" "sns:cli-0001 " "list dead: the dead letter"
spool_cli "$cli_conf" list pending
tap_is "$(spool_rows)" "" "list pending: nothing"
spool_cli "$cli_conf" list bogus
tap_is "$SPOOL_STATUS" 2 "list: unknown state exits 2"

spool_cli "$cli_conf" retry "$row" --destination gone
tap_is "$SPOOL_STATUS" 2 "retry: a destination not configured exits 2"
tap_like "$(cat "$SPOOL_ERR")" 'not in the configuration' \
	"retry: says the destination is not configured"
spool_cli "$cli_conf" retry "$row" --destination discord
tap_is "$SPOOL_STATUS" 0 "retry: exits 0"
tap_like "$(cat "$SPOOL_OUT")" '^1 dead delivery' "retry: one delivery"
tap_ok 'delivered sns:cli-0001' "retry: running relay delivers"
tap_is "$(mock_count "$cli_rec" "$posts")" 2 "retry: second POST"
spool_cli "$cli_conf" list delivered
tap_is "$(spool_rows)" "sns:cli-0001 " "retry: now delivered"
spool_cli "$cli_conf" retry --all
tap_is "$SPOOL_STATUS" 0 "retry: nothing dead exits 0"
tap_like "$(cat "$SPOOL_OUT")" 'no dead delivery' "retry: nothing dead"

spool_cli "$cli_conf" purge --older-than 10
tap_is "$SPOOL_STATUS" 2 "purge: bare number exits 2"
spool_cli "$cli_conf" purge --older-than 2d
tap_like "$(cat "$SPOOL_OUT")" '^removed 0 alerts' "purge: keeps recent"
# Purging inside dedup_window would let an SNS redelivery through again.
spool_cli "$cli_conf" purge --older-than 1s
tap_is "$SPOOL_STATUS" 2 "purge: inside dedup_window exits 2"
tap_contains "$(cat "$SPOOL_ERR")" "at least dedup_window" \
	"purge: inside dedup_window explained"
spool_cli "$cli_conf" list
tap_is "$(spool_rows)" "sns:cli-0001 " "purge: delivered alert kept"
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/readyz")" 200 \
	"readyz: 200 after the commands"
stop_relay
stop_mock

tap_unlike "$(cat "$TEST_TMP"/*.log)" secrettoken "webhook token never logged"

tap_done
