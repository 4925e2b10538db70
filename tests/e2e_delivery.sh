#!/bin/sh
# End-to-end: delivery from the spool to mock webhooks, after the relay
# has returned 200 to SNS.  Covers retries with backoff, rate limits,
# dead letters, timeouts, destinations that fail on their own, a queue
# sent as batches of Discord embeds, duplicates, and the generic alert
# document.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

gen_pki

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
cert_url=https://127.0.0.1:1/$PKI_GOOD_CERT
hook_path=/api/webhooks/123/secrettoken
example=$top_srcdir/docs/examples/authorize-ssh-from-anywhere.json
body=$TEST_TMP/body.json
posts='.method == "POST"'

# write_config NAME [extra lines]: a relay that reads the signing
# certificate from the seed directory and retries after $retry_min to
# $retry_max (each scaled by a random factor of 0.5 to 1).
retry_min=50ms
retry_max=500ms
write_config() {
	lib_conf=$TEST_TMP/$1.conf
	shift
	{
		config_base "$(basename "$lib_conf" .conf)"
		cat <<EOF
topic = $topic
cert_dir = $PKI_DIR/seed
sns_host_pattern = 127.0.0.1:*
retry_min_delay = $retry_min
retry_max_delay = $retry_max
EOF
		for lib_line in "$@"; do
			echo "$lib_line"
		done
	} >"$lib_conf"
}

# notification OUT ID: a signed plain-text Notification with MessageId ID.
notification() {
	sign --cert-url "$cert_url" --topic-arn "$topic" \
		--subject "Delivery test $2" --message "delivery test $2" \
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

# dead ID: waits for the dead_letter line of alert ID.
dead() {
	wait_for_log_event "$RELAY_LOG" dead_letter "alert_id=\"?$1\"?( |\$)"
}

# event_count EVENT: how many lines of EVENT the relay logged.
event_count() {
	log_events "$RELAY_LOG" "$1" | wc -l | tr -d ' '
}

# ------------------------------------------- failures, then success

start_mock flaky --status 500,502,503,504,500,500,200 ||
	tap_bail "mock_server did not start"
flaky_rec=$MOCK_REC
write_config flaky "discord_webhook_url = $(discord_url "$MOCK_PORT")"
start_relay "$TEST_TMP/flaky.conf" flaky || tap_bail "the relay did not start"
notification "$body" flaky-0001
tap_is "$(post_sns "$body")" 200 "flaky: status 200"
tap_is "$(response_field .result)" accepted "flaky: accepted"
tap_ok 'delivered sns:flaky-0001' "flaky: delivered"
sleep 0.3
tap_is "$(mock_count "$flaky_rec" "$posts")" 7 \
	"flaky: six failures, one success"
tap_is "$(event_count delivery_retry)" 6 "flaky: six delivery_retry lines"
tap_like "$(log_events "$RELAY_LOG" alert_delivered)" \
	' attempts=7 .*status=200' "flaky: delivered on attempt 7"
# Backoff: 50 ms doubling per attempt, capped at 500 ms, each delay
# scaled by a random factor of 0.5 to 1.
delays=$(log_events "$RELAY_LOG" delivery_retry |
	sed -n 's/.* next_in_ms=\([0-9]*\).*/\1/p' | tr '\n' ' ')
tap_ok '(for d in $delays; do [ "$d" -ge 25 ] && [ "$d" -le 500 ] ||
	exit 1; done)' "flaky: delays within 25 to 500 ms"
tap_ok '[ "$(echo "$delays" | cut -d" " -f6)" -ge 250 ]' \
	"flaky: sixth delay at the cap"
spool_cli "$TEST_TMP/flaky.conf" list delivered
tap_like "$(cat "$SPOOL_OUT")" '^[0-9]+ +sns:flaky-0001 +discord +delivered ' \
	"flaky: spool list shows delivered"
stop_relay
stop_mock

# -------------------------------------------------------- rate limit

# The mock's 429 carries retry_after 0.5 in the body and Retry-After: 1.
start_mock limited --status 429,200 || tap_bail "mock_server did not start"
limited_rec=$MOCK_REC
write_config limited "discord_webhook_url = $(discord_url "$MOCK_PORT")"
start_relay "$TEST_TMP/limited.conf" limited ||
	tap_bail "the relay did not start"
notification "$body" limited-0001
tap_is "$(post_sns "$body")" 200 "429: status 200"
tap_ok 'delivered sns:limited-0001' "429: delivered"
tap_is "$(mock_count "$limited_rec" "$posts")" 2 "429: two POSTs"
limited_line=$(log_events "$RELAY_LOG" rate_limited)
tap_like "$limited_line" 'destination="?discord' "429: rate_limited logged"
tap_ok '[ "$(echo "$limited_line" |
	sed -n "s/.* wait_ms=\([0-9]*\).*/\1/p")" -ge 500 ]' \
	"429: waits at least retry_after"
gap=$(($(log_ts_ms "$(log_events "$RELAY_LOG" alert_delivered)") -
	$(log_ts_ms "$limited_line")))
tap_ok '[ "$gap" -ge 400 ]' "429: second POST at least 400 ms later"
tap_diag "429: delivered $gap ms after rate_limited"
stop_relay
stop_mock

# ------------------------------------------------ permanent rejection

# The mock returns 200 to every POST after the 400, so a retry would be
# recorded and delivered.
start_mock rejecting --status 400,200 || tap_bail "mock_server did not start"
rejecting_rec=$MOCK_REC
write_config rejecting "discord_webhook_url = $(discord_url "$MOCK_PORT")"
start_relay "$TEST_TMP/rejecting.conf" rejecting ||
	tap_bail "the relay did not start"
notification "$body" rejected-0001
tap_is "$(post_sns "$body")" 200 "400: status 200"
tap_ok 'dead sns:rejected-0001' "400: dead letter"
tap_like "$(log_events "$RELAY_LOG" dead_letter)" 'reason=.*400' \
	"400: dead letter reason"
sleep 0.6
tap_is "$(mock_count "$rejecting_rec" "$posts")" 1 "400: not retried"
tap_is "$(event_count delivery_retry)" 0 "400: no delivery_retry"
tap_is "$(event_count destination_disabled)" 0 "400: destination stays on"
spool_cli "$TEST_TMP/rejecting.conf" list dead
tap_like "$(cat "$SPOOL_OUT")" '^[0-9]+ +sns:rejected-0001 +discord +dead ' \
	"400: spool list shows dead letter"
notification "$body" rejected-0002
tap_is "$(post_sns "$body")" 200 "400: next alert 200"
tap_ok 'delivered sns:rejected-0002' "400: next alert delivered"
stop_relay
stop_mock

# ------------------------------------------------ receiver that hangs

# The mock delays each response by 1.5 s, beyond delivery_timeout.  The
# relay then restarts on the same spool with a mock that responds.
start_mock hanging --delay-ms 1500 || tap_bail "mock_server did not start"
hanging_pid=$MOCK_PID
hanging_spool=$TEST_TMP/hanging-spool.db
write_config hanging "discord_webhook_url = $(discord_url "$MOCK_PORT")" \
	"delivery_timeout = 500ms" "shutdown_grace = 1s"
start_relay "$TEST_TMP/hanging.conf" hanging ||
	tap_bail "the relay did not start"
notification "$body" hanging-0001
tap_is "$(post_sns "$body")" 200 "timeout: status 200"
tap_ok 'wait_for_log_event "$RELAY_LOG" delivery_retry "timed out"' \
	"timeout: delivery_retry logged"
stop_relay
kill_pid "$hanging_pid"
tap_is "$(event_count alert_delivered)" 0 "timeout: not delivered"

start_mock answering || tap_bail "mock_server did not start"
answering_rec=$MOCK_REC
{
	config_base answering "$hanging_spool"
	cat <<EOF
topic = $topic
discord_webhook_url = $(discord_url "$MOCK_PORT")
EOF
} >"$TEST_TMP/answering.conf"
start_relay "$TEST_TMP/answering.conf" answering ||
	tap_bail "the relay did not restart"
tap_ok 'delivered sns:hanging-0001' "timeout: delivered after restart"
tap_is "$(mock_count "$answering_rec" "$posts")" 1 \
	"timeout: one POST after restart"
stop_relay
stop_mock

# ------------------------------------------- independent destinations

start_mock good || tap_bail "mock_server did not start"
good_rec=$MOCK_REC
good_port=$MOCK_PORT
good_pid=$MOCK_PID
start_mock bad --status 400 || tap_bail "mock_server did not start"
bad_rec=$MOCK_REC
write_config twodest "discord_webhook_url = $(discord_url "$good_port")" \
	"webhook = audit http://127.0.0.1:$MOCK_PORT/hook generic"
start_relay "$TEST_TMP/twodest.conf" twodest ||
	tap_bail "the relay did not start"
notification "$body" twodest-0001
tap_is "$(post_sns "$body")" 200 "two destinations: status 200"
tap_ok 'delivered sns:twodest-0001' "two destinations: Discord delivered"
tap_ok 'dead sns:twodest-0001' "two destinations: audit dead"
sleep 0.3
tap_is "$(mock_count "$good_rec" "$posts")" 1 \
	"two destinations: one Discord POST"
tap_is "$(mock_count "$bad_rec" "$posts")" 1 \
	"two destinations: one audit POST"
tap_like "$(log_events "$RELAY_LOG" dead_letter)" 'destination="?audit' \
	"two destinations: dead letter names audit"
spool_cli "$TEST_TMP/twodest.conf" list
tap_like "$(cat "$SPOOL_OUT")" ' sns:twodest-0001 +discord +delivered ' \
	"two destinations: Discord row delivered"
tap_like "$(cat "$SPOOL_OUT")" ' sns:twodest-0001 +audit +dead ' \
	"two destinations: audit row dead"
stop_relay
stop_mock
stop_mock "$good_pid"

# ------------------------------------------------------------- burst

# 50 alerts arrive quickly while Discord is down (port 1), so they
# queue in the spool.  Once every retry is due, a relay on the same spool
# with Discord up must send the queue as full messages of 10 embeds, in
# the order the alerts arrived.  The restart makes the batches
# independent of how fast the test posts.
write_config burst "discord_webhook_url = $(discord_url "$CLOSED_PORT")"
start_relay "$TEST_TMP/burst.conf" burst || tap_bail "the relay did not start"
ids=
statuses=
for i in $(seq -w 1 50); do
	notification "$TEST_TMP/burst-$i.json" "burst-$i"
	ids="$ids burst-$i"
done
for i in $(seq -w 1 50); do
	statuses="$statuses$("$CURL" -sS --max-time 10 -o /dev/null \
		-w '%{http_code}' -H 'x-amz-sns-message-type: Notification' \
		--data-binary "@$TEST_TMP/burst-$i.json" \
		"http://127.0.0.1:$RELAY_PORT/sns") "
done
tap_is "$(echo "$statuses" | tr ' ' '\n' | grep -c '^200$')" 50 \
	"burst: 50 alerts 200"
tap_ok 'wait_for_log_event "$RELAY_LOG" delivery_retry' \
	"burst: Discord down, retried"
stop_relay
tap_like "$(log_events "$RELAY_LOG" stopped_with_pending)" \
	' pending=50( |$)' "burst: 50 alerts pending at stop"
# Every retry is due within retry_max_delay (500 ms).
sleep 0.6

start_mock burst || tap_bail "mock_server did not start"
burst_rec=$MOCK_REC
{
	config_base burstup "$TEST_TMP/burst-spool.db"
	cat <<EOF
topic = $topic
discord_webhook_url = $(discord_url "$MOCK_PORT")
EOF
} >"$TEST_TMP/burstup.conf"
start_relay "$TEST_TMP/burstup.conf" burstup ||
	tap_bail "the relay did not restart"
tap_ok 'delivered sns:burst-50 20' "burst: last alert delivered"
tap_is "$(event_count alert_delivered)" 50 "burst: 50 alert_delivered lines"
sleep 0.3
jq -c '.body | fromjson' "$burst_rec" >"$TEST_TMP/burst.bodies"
tap_ok '[ "$(wc -l <"$TEST_TMP/burst.bodies")" -le 5 ]' \
	"burst: at most 5 Discord messages"
tap_diag "burst: embeds per message: $(jq -c -s 'map(.embeds | length)' \
	"$TEST_TMP/burst.bodies")"
tap_is "$(jq -s 'map(.embeds | length) | add' "$TEST_TMP/burst.bodies")" 50 \
	"burst: 50 embeds"
tap_ok '[ "$(jq -s "map(.embeds | length) | max" \
	"$TEST_TMP/burst.bodies")" -le 10 ]' "burst: at most 10 embeds a message"
jq -r '.embeds[].footer.text' "$TEST_TMP/burst.bodies" |
	sed -n 's/.*SNS message \(burst-[0-9]*\).*/\1/p' >"$TEST_TMP/burst.ids"
tap_is "$(tr '\n' ' ' <"$TEST_TMP/burst.ids")" "${ids# } " \
	"burst: every alert once, in order"
tap_is "$(sort "$TEST_TMP/burst.ids" | uniq -d | wc -l | tr -d ' ')" 0 \
	"burst: no alert twice"
stop_relay
stop_mock

# ------------------------------------------ duplicates and generic

start_mock dupdiscord || tap_bail "mock_server did not start"
dup_discord_rec=$MOCK_REC
dup_discord_port=$MOCK_PORT
start_mock dupgeneric || tap_bail "mock_server did not start"
dup_generic_rec=$MOCK_REC
write_config dup "discord_webhook_url = $(discord_url "$dup_discord_port")" \
	"webhook = audit http://127.0.0.1:$MOCK_PORT/audit generic"
start_relay "$TEST_TMP/dup.conf" dup || tap_bail "the relay did not start"

# SNS may deliver one message more than once: stored and sent once.
notification "$body" dup-0001
results=
for i in 1 2 3; do
	results="$results$(post_sns "$body") $(response_field .result) "
done
tap_is "$results" "200 accepted 200 duplicate 200 duplicate " \
	"same MessageId: accepted, then duplicate"
tap_ok 'delivered sns:dup-0001' "same MessageId: delivered"
tap_is "$(event_count duplicate_ignored)" 2 \
	"same MessageId: duplicate_ignored twice"
sleep 0.3
tap_is "$(mock_count "$dup_discord_rec" "$posts")" 1 \
	"same MessageId: one Discord POST"
tap_is "$(mock_count "$dup_generic_rec" "$posts")" 1 \
	"same MessageId: one generic POST"

# EventBridge may send one CloudTrail event twice, as two SNS messages:
# the alert id is the CloudTrail eventID, so the second is a duplicate.
event_id=11111111-2222-3333-4444-00000000d0b1
jq --arg id "$event_id" '.detail.eventID = $id' "$example" \
	>"$TEST_TMP/event.json"
for i in 1 2; do
	sign --cert-url "$cert_url" --topic-arn "$topic" \
		--message-file "$TEST_TMP/event.json" \
		--message-id "dup-event-$i" >"$TEST_TMP/event-$i.json" ||
		tap_bail "snsrelay-sign failed"
done
tap_is "$(post_sns "$TEST_TMP/event-1.json")" 200 "same eventID: first 200"
tap_is "$(response_field .result)" accepted "same eventID: first accepted"
tap_is "$(post_sns "$TEST_TMP/event-2.json")" 200 "same eventID: second 200"
tap_is "$(response_field .result)" duplicate \
	"same eventID: second duplicate"
tap_ok 'delivered "cloudtrail:$event_id"' "same eventID: delivered"
tap_ok 'wait_for_mock_count "$dup_generic_rec" "$posts" 2' \
	"generic: alert received"
sleep 0.3
tap_is "$(mock_count "$dup_generic_rec" "$posts")" 2 \
	"same eventID: one generic POST"

# The generic webhook receives the alert document itself.
generic=$(tail -n 1 "$dup_generic_rec")
tap_is "$(printf '%s' "$generic" | jq -r .path)" /audit "generic: path"
tap_like "$(printf '%s' "$generic" | jq -r .content_type)" \
	'^application/json' "generic: content type"
printf '%s' "$generic" | jq -r .body >"$TEST_TMP/document.json"
tap_is "$(jq -r .schema "$TEST_TMP/document.json")" snsrelay.alert/1 \
	"generic: schema"
tap_is "$(jq -r .alert_id "$TEST_TMP/document.json")" \
	"cloudtrail:$event_id" "generic: alert_id"
tap_is "$(jq -r .kind "$TEST_TMP/document.json")" security_group_change \
	"generic: kind"
tap_is "$(jq -r .event.id "$TEST_TMP/document.json")" "$event_id" \
	"generic: event id"
tap_is "$(jq -r .sns.message_id "$TEST_TMP/document.json")" dup-event-1 \
	"generic: first message id"
tap_is "$(jq -r '.rules[0].peer' "$TEST_TMP/document.json")" 0.0.0.0/0 \
	"generic: rule peer"
stop_relay

# ------------------------------------------------ per-destination filters

# The pager takes critical alerts only and the audit webhook low and
# above, so an info notification reaches neither and is only logged.
start_mock fltpager || tap_bail "mock_server did not start"
pager_rec=$MOCK_REC
pager_pid=$MOCK_PID
pager_port=$MOCK_PORT
start_mock fltaudit || tap_bail "mock_server did not start"
audit_rec=$MOCK_REC
write_config filter \
	"webhook = pager http://127.0.0.1:$pager_port/pager generic" \
	"webhook = audit http://127.0.0.1:$MOCK_PORT/audit generic" \
	"filter = pager min_severity=critical" \
	"filter = audit min_severity=low"
start_relay "$TEST_TMP/filter.conf" filter ||
	tap_bail "the relay did not start"
jq '.detail.eventID = "flt-critical"' "$example" >"$TEST_TMP/crit.json"
jq '.detail.eventID = "flt-low" |
	.detail.eventName = "RevokeSecurityGroupIngress"' "$example" \
	>"$TEST_TMP/low.json"
for severity in crit low; do
	sign --cert-url "$cert_url" --topic-arn "$topic" \
		--message-file "$TEST_TMP/$severity.json" \
		--message-id "flt-$severity" >"$TEST_TMP/flt-$severity.body" ||
		tap_bail "snsrelay-sign failed"
	tap_is "$(post_sns "$TEST_TMP/flt-$severity.body")" 200 \
		"filter: $severity 200"
done
notification "$body" flt-info
tap_is "$(post_sns "$body")" 200 "filter: info 200"
tap_is "$(response_field .result)" accepted "filter: info accepted"
tap_ok 'wait_for_log_event "$RELAY_LOG" alert_filtered \
	"alert_id=\"?sns:flt-info\"?( |\$)"' "filter: info logged filtered"
tap_is "$(post_sns "$body")" 200 "filter: info again 200"
tap_is "$(response_field .result)" duplicate "filter: info duplicate"
tap_ok 'wait_for_mock_count "$audit_rec" "$posts" 2' \
	"filter: audit received two"
tap_ok 'wait_for_mock_count "$pager_rec" "$posts" 1' \
	"filter: pager received one"
tap_ok 'delivered cloudtrail:flt-low' "filter: low delivered"
sleep 0.3
tap_is "$(mock_count "$pager_rec" "$posts")" 1 "filter: pager got one POST"
tap_is "$(mock_count "$audit_rec" "$posts")" 2 "filter: audit got two"
tap_is "$(jq -r 'select(.method == "POST") | .body | fromjson |
	.severity' "$pager_rec")" critical "filter: pager got critical"
tap_is "$(jq -r 'select(.method == "POST") | .body | fromjson |
	.alert_id' "$audit_rec" | sort | tr '\n' ' ')" \
	"cloudtrail:flt-critical cloudtrail:flt-low " \
	"filter: audit got both"
tap_is "$(jq -r 'select(.method == "POST") | .body | fromjson |
	select(.alert_id == "cloudtrail:flt-low") | .severity' \
	"$audit_rec")" low "filter: revoke is low"
stop_relay
stop_mock
stop_mock "$pager_pid"

tap_unlike "$(cat "$TEST_TMP"/*.log)" secrettoken "webhook token never logged"

tap_done
