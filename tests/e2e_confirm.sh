#!/bin/sh
# End-to-end: subscription confirmations and unsubscribe notices.  A mock
# server over HTTPS plays the SNS certificate host and the confirmation
# endpoint; the relay trusts the test CA and accepts 127.0.0.1 hosts.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
foreign_topic=arn:aws:sns:us-east-1:123456789012:other-topic

gen_pki

# start_sns_mock NAME [options]: an HTTPS mock serving the signing
# certificates.  Sets MOCK_* and the URL base sns_base.
start_sns_mock() {
	lib_mock_name=$1
	shift
	start_mock "$lib_mock_name" --docroot "$PKI_DIR/certs" \
		--tls-cert "$PKI_DIR/server.pem" \
		--tls-key "$PKI_DIR/server.key" "$@" ||
		tap_bail "mock_server $lib_mock_name did not start"
	sns_base=https://127.0.0.1:$MOCK_PORT
}

# write_config NAME [extra lines]: a relay configuration accepting
# certificates from 127.0.0.1 with the test CA.
write_config() {
	lib_conf=$TEST_TMP/$1.conf
	shift
	{
		config_base "$(basename "$lib_conf" .conf)"
		cat <<EOF
topic = $topic
sns_host_pattern = 127.0.0.1:*
ca_file = $PKI_DIR/ca.pem
EOF
		for lib_line in "$@"; do
			echo "$lib_line"
		done
	} >"$lib_conf"
}

# sign_confirmation OUT TOKEN [TYPE [TOPIC]]: a SubscriptionConfirmation
# (or TYPE) for $topic (or TOPIC) whose certificate and SubscribeURL are
# on $sns_base.
sign_confirmation() {
	lib_out=$1 lib_token=$2
	lib_type=${3:-SubscriptionConfirmation} lib_topic=${4:-$topic}
	lib_url="$sns_base/?Action=ConfirmSubscription&TopicArn=$lib_topic"
	lib_url="$lib_url&Token=$lib_token"
	sign --type "$lib_type" \
		--cert-url "$sns_base/$PKI_GOOD_CERT" --topic-arn "$lib_topic" \
		--token "$lib_token" --message-id "confirm-$lib_token" \
		--subscribe-url "$lib_url" \
		--message "You have chosen to subscribe to $lib_topic." \
		>"$lib_out" || tap_bail "snsrelay-sign failed"
}

# confirm_gets RECORD TOKEN: how many confirmation GETs carried TOKEN.
confirm_gets() {
	mock_count "$1" ".method == \"GET\" and .path == \"/\" and
		.args.Token == \"$2\""
}

# ----------------------------------------------------- confirmation

start_sns_mock sns
sns_rec=$MOCK_REC
write_config relay
start_relay "$TEST_TMP/relay.conf" relay || tap_bail "the relay did not start"
relay_log=$RELAY_LOG
relay_out=$RELAY_OUT

body=$TEST_TMP/confirm.json
sign_confirmation "$body" token-ok-0001
tap_is "$(post_sns "$body")" 200 "confirmation 200"
tap_is "$(response_field .result)" confirmed "confirmation result"
tap_is "$(response_field .message_id)" confirm-token-ok-0001 \
	"confirmation message_id"
tap_is "$(confirm_gets "$sns_rec" token-ok-0001)" 1 \
	"one GET of SubscribeURL"
tap_is "$(jq -r 'select(.path == "/") | .args.TopicArn' "$sns_rec")" \
	"$topic" "GET names the topic"
tap_like "$(log_events "$relay_log" subscription_confirmed)" \
	"subscription_arn=\"?$topic:mock-0001" "subscription_confirmed logged"
tap_like "$(log_events "$relay_log" subscription_confirmed)" \
	'message_id="?confirm-token-ok-0001' "confirmation log message_id"

# --------------------------------------------------- foreign topic

sign_confirmation "$body" token-foreign-0002 SubscriptionConfirmation \
	"$foreign_topic"
tap_is "$(post_sns "$body")" 403 "foreign topic 403"
tap_is "$(response_field .code)" topic_not_allowed "foreign topic code"
tap_is "$(confirm_gets "$sns_rec" token-foreign-0002)" 0 \
	"foreign topic not confirmed"

# --------------------------------------------------- bad signature

sign_confirmation "$TEST_TMP/good.json" token-tampered-0003
jq '.Message = .Message + " (changed)"' "$TEST_TMP/good.json" >"$body"
tap_is "$(post_sns "$body")" 403 "tampered confirmation 403"
tap_is "$(response_field .code)" bad_signature "tampered code"
tap_is "$(confirm_gets "$sns_rec" token-tampered-0003)" 0 \
	"tampered not confirmed"

# ---------------------------------------------------- unsubscribe

sign_confirmation "$body" token-unsub-0004 UnsubscribeConfirmation
tap_is "$(post_sns "$body")" 200 "unsubscribe 200"
tap_is "$(response_field .result)" accepted "unsubscribe result"
tap_is "$(confirm_gets "$sns_rec" token-unsub-0004)" 0 \
	"unsubscribe URL not visited"
tap_like "$(log_events "$relay_log" unsubscribe_reported)" 'level="?warn' \
	"unsubscribe_reported logged"
tap_ok 'wait_for_file_line "$relay_out" subscription_ended 5' \
	"unsubscribe alert printed"
tap_is "$(jq -r 'select(.kind == "subscription_ended") | .schema' \
	"$relay_out")" snsrelay.alert/1 "unsubscribe alert schema"
tap_like "$(jq -c 'select(.kind == "subscription_ended")' "$relay_out")" \
	"$topic" "unsubscribe alert names topic"
tap_like "$(jq -r 'select(.kind == "subscription_ended") | .severity' \
	"$relay_out")" '^warn' "unsubscribe alert is a warning"
stop_relay

# -------------------------------------------------- auto_confirm off

write_config relaylog "auto_confirm = no"
start_relay "$TEST_TMP/relaylog.conf" relaylog ||
	tap_bail "the relay with auto_confirm = no did not start"
sign_confirmation "$body" token-logged-0005
tap_is "$(post_sns "$body")" 200 "logged confirmation 200"
tap_is "$(response_field .result)" confirmation_logged \
	"logged confirmation result"
tap_like "$(log_events "$RELAY_LOG" confirmation_logged)" \
	'subscribe_url=.*Action=ConfirmSubscription' \
	"confirmation_logged has subscribe_url"
tap_is "$(confirm_gets "$sns_rec" token-logged-0005)" 0 \
	"logged confirmation not visited"
stop_relay

# ------------------------------------------- confirmation endpoint 500

start_sns_mock failing --confirm-status 500
failing_rec=$MOCK_REC
write_config relayfail
start_relay "$TEST_TMP/relayfail.conf" relayfail ||
	tap_bail "the relay for the failing endpoint did not start"
sign_confirmation "$body" token-fail-0006
tap_is "$(post_sns "$body")" 503 "failing confirmation 503"
tap_is "$(response_field .code)" confirm_failed "failing confirmation code"
tap_is "$(confirm_gets "$failing_rec" token-fail-0006)" 1 \
	"failing endpoint was asked"
tap_like "$(log_events "$RELAY_LOG" request_failed)" \
	'code="?confirm_failed' "request_failed logged"
stop_relay

# ------------------------------------------------- certificate cache

start_sns_mock cache
cache_rec=$MOCK_REC
write_config relaycache
start_relay "$TEST_TMP/relaycache.conf" relaycache ||
	tap_bail "the relay for the cache test did not start"
statuses=
for i in 1 2 3 4 5; do
	sign --cert-url "$sns_base/$PKI_GOOD_CERT" --topic-arn "$topic" \
		--message "cache test $i" --message-id "cache-000$i" \
		>"$body" || tap_bail "snsrelay-sign failed"
	statuses="$statuses$(post_sns "$body") "
done
tap_is "$statuses" "200 200 200 200 200 " "five notifications 200"
wait_for_lines "$RELAY_OUT" 5 10
tap_is "$(mock_count "$cache_rec" \
	".method == \"GET\" and .path == \"/$PKI_GOOD_CERT\"")" 1 \
	"certificate fetched once"
tap_is "$(wc -l <"$RELAY_OUT" | tr -d ' ')" 5 "five alerts printed"
stop_relay

tap_done
