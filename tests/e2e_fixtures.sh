#!/bin/sh
# End-to-end: genuine AWS-signed SNS messages replayed unchanged.  Their
# signing certificates have expired, so each message gets its own relay
# running under libfaketime at the message's Timestamp, with the
# certificates pre-seeded from the fixtures (nothing is fetched).  The
# derived negative cases must be rejected at the layer their README names.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

require_fixtures
[ -n "$FAKETIME" ] && [ -x "$FAKETIME" ] ||
	tap_skip_all "faketime command not found"

sns_dir=$SNSRELAY_FIXTURES/sns

# The clock is faked for the certificate and message-age checks only;
# libmicrohttpd's timeouts keep the real monotonic clock.
FAKETIME_DONT_FAKE_MONOTONIC=1
export FAKETIME_DONT_FAKE_MONOTONIC
# An AddressSanitizer build refuses to start when libfaketime is preloaded
# ahead of its runtime; the order does not matter here.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
export ASAN_OPTIONS

# fake_time_of FILE: prints "@YYYY-MM-DD HH:MM:SS" for the message's
# Timestamp, the start time libfaketime's -f option takes.
fake_time_of() {
	jq -r .Timestamp "$1" |
		sed -n 's/^\([0-9-]*\)T\([0-9:]*\).*/@\1 \2/p'
}

# start_fixture_relay FILE NAME: starts a relay at FILE's time that allows
# FILE's topic.
start_fixture_relay() {
	lib_conf=$TEST_TMP/$2.conf
	{
		config_base "$2"
		cat <<EOF
topic = $(jq -r .TopicArn "$1")
cert_dir = $sns_dir/certs
auto_confirm = no
EOF
	} >"$lib_conf"
	RELAY_FAKE_TIME=$(fake_time_of "$1")
	start_relay "$lib_conf" "$2"
	lib_rc=$?
	RELAY_FAKE_TIME=
	return $lib_rc
}

# expected_result TYPE: the result member of a successful response.
expected_result() {
	case $1 in
	Notification) echo accepted ;;
	SubscriptionConfirmation) echo confirmation_logged ;;
	UnsubscribeConfirmation) echo accepted ;;
	*) echo "unknown type $1" ;;
	esac
}

# ------------------------------------------------ genuine messages

for message in "$sns_dir"/messages/*.json; do
	name=$(basename "$message" .json)
	type=$(jq -r .Type "$message")
	if ! start_fixture_relay "$message" "$name"; then
		tap_ok false "$name: relay starts"
		continue
	fi
	tap_is "$(post_sns "$message")" 200 "$name: accepted"
	tap_is "$(response_field .result)" "$(expected_result "$type")" \
		"$name: result"
	tap_is "$(response_field .message_id)" \
		"$(jq -r .MessageId "$message")" "$name: message_id"
	# Delivery is asynchronous, so the alert reaches standard output
	# after the response.  It must get there before the relay stops.
	[ "$type" = SubscriptionConfirmation ] ||
		wait_for_lines "$RELAY_OUT" 1 10
	stop_relay
	if [ "$type" = Notification ]; then
		tap_is "$(jq -r .schema "$RELAY_OUT")" snsrelay.alert/1 \
			"$name: alert printed"
	elif [ "$type" = UnsubscribeConfirmation ]; then
		tap_is "$(jq -r .kind "$RELAY_OUT")" subscription_ended \
			"$name: warning alert printed"
	fi
done

# ------------------------------------------------ derived negatives

# Each case with its expected status and code, as negative/README.txt
# describes the layer that must catch it.
while read -r case status code; do
	message=$sns_dir/negative/$case.json
	if [ ! -f "$message" ]; then
		tap_ok false "$case: fixture exists"
		continue
	fi
	if ! start_fixture_relay "$message" "negative-$case"; then
		tap_ok false "$case: relay starts"
		continue
	fi
	tap_is "$(post_sns "$message")" "$status" "$case: status"
	tap_is "$(response_field .code)" "$code" "$case: code"
	stop_relay
	tap_is "$(wc -c <"$RELAY_OUT" | tr -d ' ')" 0 "$case: no alert"
done <<EOF
tampered-message 403 bad_signature
signatureversion-swapped-1-to-2 403 bad_signature
signatureversion-3 400 unsupported_signature_version
subject-removed 403 bad_signature
timestamp-reformatted 403 bad_signature
subscribeurl-ssrf 403 bad_signature
certurl-http-scheme 403 cert_url_invalid
certurl-host-suffix 403 cert_url_invalid
certurl-s3-bucket-named-sns-legacy-endpoint 403 cert_url_invalid
EOF

tap_done
