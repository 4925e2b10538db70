#!/bin/sh
# End-to-end: GET /metrics after real traffic.  A relay with three
# destinations (a Discord mock that returns 200, a generic webhook where
# nothing listens, and a generic mock that returns 400) receives an
# accepted notification, its duplicate, a tampered copy, an unsubscribe
# notice and a subscription confirmation whose SubscribeURL is down.
# The counters, the histogram and the spool gauges must show exactly
# that, in a well-formed text exposition.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

gen_pki

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
cert_url=https://127.0.0.1:$CLOSED_PORT/$PKI_GOOD_CERT
hook_path=/api/webhooks/123/secrettoken
body=$TEST_TMP/body.json
scrape=$TEST_TMP/metrics.txt

# metric SERIES: prints the value of the sample whose name and labels
# are exactly SERIES, or nothing when the scrape has no such line.
metric() {
	awk -v series="$1" '$1 == series { print $2; exit }' "$scrape"
}

# scrape_metrics: GETs /metrics into $scrape and prints the status.
scrape_metrics() {
	lib_status=$(http_get "http://127.0.0.1:$RELAY_PORT/metrics")
	cp "$RESPONSE" "$scrape"
	echo "$lib_status"
}

# malformed_lines: prints the lines of $scrape that are neither a HELP
# or TYPE comment nor a sample `name{label="value",...} value`.
malformed_lines() {
	lib_name='[a-zA-Z_:][a-zA-Z0-9_:]*'
	lib_label='[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\[\\"n])*"'
	lib_value='([-+]?[0-9.]+([eE][-+]?[0-9]+)?|[-+]Inf|NaN)'
	grep -Ev "^(# HELP $lib_name .+|# TYPE $lib_name (counter|gauge|histogram)|$lib_name(\\{$lib_label(,$lib_label)*\\})? $lib_value)\$" \
		"$scrape"
}

# retries_of DESTINATION: the delivery_retry lines of DESTINATION.
retries_of() {
	log_events "$RELAY_LOG" delivery_retry |
		grep -Ec "destination=\"?$1\"?( |\$)"
}

# dead_in_spool DESTINATION: the dead letters of DESTINATION that
# "snsrelay spool list" shows.  The log is no count of them, because
# the repeat limit leaves out identical dead_letter lines.
dead_in_spool() {
	spool_cli "$conf" list dead
	grep -Ec "^[0-9]+ +[^ ]+ +$1 +dead " "$SPOOL_OUT"
}

# wait_until CONDITION [SECONDS]: polls the shell condition every 50 ms.
wait_until() {
	lib_tries=$((${2:-10} * 20))
	while [ "$lib_tries" -gt 0 ]; do
		eval "$1" && return 0
		sleep 0.05
		lib_tries=$((lib_tries - 1))
	done
	return 1
}

start_mock discord || tap_bail "mock_server did not start"
discord_pid=$MOCK_PID
discord_port=$MOCK_PORT
start_mock audit --status 400 || tap_bail "mock_server did not start"
audit_pid=$MOCK_PID
audit_port=$MOCK_PORT

# Nothing listens on pager's port, and retries wait at least 5 minutes,
# so each of its alerts stays pending after one failed attempt.
conf=$TEST_TMP/relay.conf
{
	config_base relay
	cat <<EOF
topic = $topic
cert_dir = $PKI_DIR/seed
sns_host_pattern = 127.0.0.1:*
metrics = yes
discord_webhook_url = http://127.0.0.1:$discord_port$hook_path
webhook = pager http://127.0.0.1:$CLOSED_PORT/hook generic
webhook = audit http://127.0.0.1:$audit_port/hook generic
retry_min_delay = 10m
retry_max_delay = 20m
EOF
} >"$conf"
start_relay "$conf" || tap_bail "the relay did not start"

# ------------------------------------------------- before any traffic

tap_is "$(scrape_metrics)" 200 "fresh: status 200"
tap_like "$(response_header Content-Type)" \
	'^text/plain; version=0\.0\.4' "fresh: text format 0.0.4"
tap_is "$(malformed_lines)" "" "fresh: every line well formed"
tap_like "$(cat "$scrape")" '^# TYPE snsrelay_sns_requests_total counter$' \
	"fresh: sns requests family declared"
tap_like "$(cat "$scrape")" '^# TYPE snsrelay_deliveries_total counter$' \
	"fresh: deliveries family declared"
tap_is "$(metric snsrelay_alerts_stored_total)" 0 "fresh: no alert stored"
tap_is "$(metric snsrelay_spool_pending_deliveries)" 0 \
	"fresh: spool pending 0"
tap_is "$(metric snsrelay_spool_dead_letters)" 0 "fresh: spool dead 0"
tap_is "$(metric snsrelay_ready)" 1 "fresh: ready"
tap_is "$(metric snsrelay_sns_request_duration_seconds_count)" 0 \
	"fresh: histogram empty"

# ------------------------------------------------------------ traffic

sign --cert-url "$cert_url" --topic-arn "$topic" --subject "Metrics test" \
	--message "metrics test" --message-id metrics-0001 >"$body" ||
	tap_bail "snsrelay-sign failed"
tap_is "$(post_sns "$body")" 200 "notification: status 200"
tap_is "$(response_field .result)" accepted "notification: accepted"
tap_is "$(post_sns "$body")" 200 "duplicate: status 200"
tap_is "$(response_field .result)" duplicate "duplicate: result"

jq '.Message = .Message + "!"' "$body" >"$TEST_TMP/tampered.json"
tap_is "$(post_sns "$TEST_TMP/tampered.json")" 403 "tampered: status 403"
tap_is "$(response_field .code)" bad_signature "tampered: code"

sign --type UnsubscribeConfirmation --cert-url "$cert_url" \
	--topic-arn "$topic" --message-id metrics-unsub-0002 \
	--message "You have chosen to deactivate subscription." >"$body" ||
	tap_bail "snsrelay-sign failed"
tap_is "$(post_sns "$body")" 200 "unsubscribe: status 200"

# Its SubscribeURL is on $CLOSED_PORT, so the confirmation GET fails.
sign --type SubscriptionConfirmation --cert-url "$cert_url" \
	--topic-arn "$topic" --message-id metrics-confirm-0003 \
	--message "You have chosen to subscribe." >"$body" ||
	tap_bail "snsrelay-sign failed"
tap_is "$(post_sns "$body")" 503 "confirmation: status 503"
tap_is "$(response_field .code)" confirm_failed "confirmation: code"

tap_ok 'wait_until "[ \$(log_events \"\$RELAY_LOG\" alert_delivered |
	wc -l) -ge 2 ]"' "discord: both alerts delivered"
tap_ok 'wait_until "[ \$(dead_in_spool audit) -ge 2 ]"' \
	"audit: both alerts dead letters"
tap_ok 'wait_until "[ \$(retries_of pager) -ge 1 ]"' \
	"pager: first attempt failed"

# ----------------------------------------------------------- counters

tap_is "$(scrape_metrics)" 200 "after: status 200"
tap_is "$(malformed_lines)" "" "after: every line well formed"
tap_is "$(awk '!/^#/ { print $1 }' "$scrape" | sort | uniq -d)" "" \
	"after: no series twice"

tap_is "$(metric 'snsrelay_sns_requests_total{outcome="accepted"}')" 2 \
	"requests: accepted"
tap_is "$(metric 'snsrelay_sns_requests_total{outcome="duplicate"}')" 1 \
	"requests: duplicate"
tap_is "$(metric 'snsrelay_sns_requests_total{outcome="bad_signature"}')" \
	1 "requests: bad_signature"
tap_is "$(metric 'snsrelay_sns_requests_total{outcome="confirm_failed"}')" \
	1 "requests: confirm_failed"
tap_is "$(metric snsrelay_alerts_stored_total)" 2 \
	"alerts stored: duplicate not counted"
tap_is "$(metric 'snsrelay_subscriptions_total{outcome="unsubscribed"}')" \
	1 "subscriptions: unsubscribed"
tap_is "$(metric 'snsrelay_subscriptions_total{outcome="confirm_failed"}')" \
	1 "subscriptions: confirm_failed"

tap_is "$(metric 'snsrelay_deliveries_total{destination="discord",outcome="delivered"}')" \
	2 "deliveries: discord delivered"
tap_is "$(metric 'snsrelay_deliveries_total{destination="audit",outcome="dead"}')" \
	2 "deliveries: audit dead"
tap_is "$(metric 'snsrelay_dead_letters_total{destination="audit"}')" 2 \
	"dead letters: audit"
tap_is "$(metric 'snsrelay_deliveries_total{destination="pager",outcome="failed"}')" \
	1 "deliveries: pager failed once"
tap_is "$(metric 'snsrelay_deliveries_total{destination="pager",outcome="delivered"}')" \
	"" "deliveries: pager never delivered"
tap_is "$(metric 'snsrelay_delivery_retries_total{destination="pager"}')" \
	"" "retries: none sent again yet"

tap_is "$(metric snsrelay_spool_pending_deliveries)" 2 \
	"spool pending: pager's two alerts"
tap_is "$(metric snsrelay_spool_dead_letters)" 2 \
	"spool dead: audit's two alerts"

# --------------------------------------------------------- histogram

count=$(metric snsrelay_sns_request_duration_seconds_count)
tap_is "$count" 5 "histogram: one observation per SNS POST"
tap_is "$(metric 'snsrelay_sns_request_duration_seconds_bucket{le="+Inf"}')" \
	"$count" "histogram: +Inf bucket equals count"
tap_is "$(awk '/^snsrelay_sns_request_duration_seconds_bucket/ {
		if ($2 < last) bad = 1; last = $2 }
	END { print bad ? "decreasing" : "cumulative" }' "$scrape")" \
	cumulative "histogram: buckets cumulative"
tap_like "$(metric snsrelay_sns_request_duration_seconds_sum)" \
	'^[0-9]' "histogram: sum present"

stop_relay
stop_mock "$discord_pid"
stop_mock "$audit_pid"
tap_done
