#!/bin/sh
# End-to-end: one relay run under valgrind's memcheck.  The relay fetches
# its signing certificate from an HTTPS mock, accepts and rejects
# notifications, confirms a subscription, reports an unsubscribe,
# delivers to mock Discord, generic, Slack and Teams webhooks, and stops
# on SIGTERM.  valgrind must then report no memory error and no
# definitely lost block.  Skipped without valgrind and in sanitizer
# builds, whose shadow memory valgrind cannot run.  valgrind makes the
# relay 20 to 50 times slower, so every wait is long.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

command -v valgrind >/dev/null 2>&1 ||
	tap_skip_all "valgrind not found; tools/install-deps.sh installs it"
if [ -n "${SNSRELAY_SANITIZERS:-}" ] ||
    grep -q __asan_init "$top_builddir/snsrelay" 2>/dev/null; then
	tap_skip_all "snsrelay is built with sanitizers, which valgrind" \
		"cannot run"
fi

# Seconds to wait for the relay to start, respond, deliver and stop.
LIB_START_TIMEOUT=180
wait_s=180

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
vg_log=$TEST_TMP/valgrind.log
body=$TEST_TMP/body.json

gen_pki

start_mock sns --docroot "$PKI_DIR/certs" --tls-cert "$PKI_DIR/server.pem" \
	--tls-key "$PKI_DIR/server.key" || tap_bail "the SNS mock did not start"
sns_rec=$MOCK_REC
sns_base=https://127.0.0.1:$MOCK_PORT
start_mock hooks || tap_bail "the webhook mock did not start"
hooks_rec=$MOCK_REC
hooks=http://127.0.0.1:$MOCK_PORT

conf=$TEST_TMP/relay.conf
{
	config_base relay
	cat <<EOF
topic = $topic
sns_host_pattern = 127.0.0.1:*
ca_file = $PKI_DIR/ca.pem
discord_webhook_url = $hooks/api/webhooks/1/token
webhook = audit $hooks/generic generic
webhook = chat $hooks/slack slack
webhook = teams $hooks/teams teams
request_timeout = 60s
cert_fetch_timeout = 60s
confirm_timeout = 60s
delivery_timeout = 60s
shutdown_grace = 60s
EOF
} >"$conf"

# The relay runs as valgrind's own process (no fork), so lib.sh's
# stop_relay sends SIGTERM to the relay itself.
RELAY_LOG=$TEST_TMP/relay.log
RELAY_OUT=$TEST_TMP/relay.out
valgrind --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --error-exitcode=99 \
	--num-callers=40 --log-file="$vg_log" \
	"$top_builddir/snsrelay" -c "$conf" >"$RELAY_OUT" 2>"$RELAY_LOG" &
RELAY_PID=$!
lib_pids="$lib_pids $RELAY_PID"
lib_wait_ready || tap_bail "the relay did not start under valgrind"
RELAY_PORT=$(sed -n 's/.*event=ready.* port=\([0-9][0-9]*\).*/\1/p' \
	"$RELAY_LOG" | head -n 1)
[ -n "$RELAY_PORT" ] || tap_bail "no port in the relay's ready line"

# post: posts $body with a long client timeout and prints the status.
post() {
	post_sns "$body" --max-time "$wait_s"
}

# ------------------------------------------------------- notifications

sign --cert-url "$sns_base/$PKI_GOOD_CERT" --topic-arn "$topic" \
	--message-file "$top_srcdir/docs/examples/authorize-ssh-from-anywhere.json" \
	--message-id vg-event >"$body" || tap_bail "snsrelay-sign failed"
tap_is "$(post)" 200 "security-group event accepted"
tap_is "$(mock_count "$sns_rec" \
	".method == \"GET\" and .path == \"/$PKI_GOOD_CERT\"")" 1 \
	"certificate fetched over HTTPS"

sign --cert-url "$sns_base/$PKI_GOOD_CERT" --topic-arn "$topic" \
	--subject "Disk usage above 90%" --message "Free space is 4 GiB." \
	--message-id vg-text >"$body" || tap_bail "snsrelay-sign failed"
tap_is "$(post)" 200 "plain text accepted"

jq '.Message = .Message + " (changed)"' "$body" >"$TEST_TMP/altered.json"
cp "$TEST_TMP/altered.json" "$body"
tap_is "$(post)" 403 "altered message rejected"
tap_is "$(response_field .code)" bad_signature "altered message code"

sign --cert-url "$sns_base/$PKI_GOOD_CERT" \
	--topic-arn arn:aws:sns:us-east-1:123456789012:other \
	--message "x" --message-id vg-foreign >"$body" ||
	tap_bail "snsrelay-sign failed"
tap_is "$(post)" 403 "foreign topic rejected"

printf '{"Type": "Notification", "Message": ' >"$body"
SNS_TYPE_HEADER=Notification
tap_is "$(post)" 400 "truncated body rejected"
unset SNS_TYPE_HEADER

# ------------------------------------------------------- subscription

token=vg-token-0001
sign --type SubscriptionConfirmation --cert-url "$sns_base/$PKI_GOOD_CERT" \
	--topic-arn "$topic" --token "$token" --message-id vg-confirm \
	--subscribe-url "$sns_base/?Action=ConfirmSubscription&TopicArn=$topic&Token=$token" \
	--message "You have chosen to subscribe to $topic." >"$body" ||
	tap_bail "snsrelay-sign failed"
tap_is "$(post)" 200 "subscription confirmed"
tap_is "$(response_field .result)" confirmed "confirmation result"

sign --type UnsubscribeConfirmation --cert-url "$sns_base/$PKI_GOOD_CERT" \
	--topic-arn "$topic" --token vg-token-0002 --message-id vg-unsub \
	--subscribe-url "$sns_base/?Action=ConfirmSubscription&TopicArn=$topic&Token=vg-token-0002" \
	--message "You have chosen to deactivate subscription." >"$body" ||
	tap_bail "snsrelay-sign failed"
tap_is "$(post)" 200 "unsubscribe reported"

# ----------------------------------------------------------- delivery

# Three alerts to four destinations; Discord may pack them into fewer
# messages, so only the others are counted exactly.
for path in /generic /slack /teams; do
	tap_ok "wait_for_mock_count \"\$hooks_rec\" \
		'.path == \"$path\"' 3 $wait_s" "three alerts delivered to $path"
done
tap_ok "wait_for_mock_count \"\$hooks_rec\" \
	'.path == \"/api/webhooks/1/token\"' 1 $wait_s" \
	"alerts delivered to Discord"
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/healthz" \
	--max-time "$wait_s")" 200 "healthz 200"

# ---------------------------------------------------------------- stop

stop_relay
tap_is "$STOP_STATUS" 0 "exit status 0 under valgrind (99: errors found)"
tap_like "$(log_events "$RELAY_LOG" stopped)" . "stopped logged"
tap_like "$(cat "$vg_log")" 'ERROR SUMMARY: 0 errors' \
	"valgrind reports 0 errors"
tap_unlike "$(cat "$vg_log")" 'definitely lost: [1-9]' \
	"no definitely lost blocks"
tap_unlike "$(cat "$vg_log")" \
	'Invalid (read|write|free)|uninitialised|Mismatched free|overlap' \
	"no memory errors"
if [ "$tap_failed" -gt 0 ]; then
	tap_diag "---- valgrind report" "$(head -n 150 "$vg_log")"
fi

tap_done
