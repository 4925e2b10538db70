#!/bin/sh
# End-to-end: every rejection of the status table in docs/design.md, with
# its status, its JSON code, and its request_rejected (or request_failed)
# log line.
#
# Certificate URLs that must be rejected still name the seeded test
# certificate, so a relay that wrongly accepted one would read it from
# cert_dir instead of contacting the host in the URL.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
missing_cert=SimpleNotificationService-7e57ce4700000000000000000000dead.pem

gen_pki
start_mock certs --docroot "$PKI_DIR/certs" \
	--tls-cert "$PKI_DIR/server.pem" --tls-key "$PKI_DIR/server.key" ||
	tap_bail "mock_server did not start"
certs_rec=$MOCK_REC
mock_base=https://127.0.0.1:$MOCK_PORT
seeded_url=https://127.0.0.1:1/$PKI_GOOD_CERT

# write_config NAME [extra lines]
write_config() {
	lib_conf=$TEST_TMP/$1.conf
	shift
	{
		config_base "$(basename "$lib_conf" .conf)"
		cat <<EOF
topic = $topic
cert_dir = $PKI_DIR/seed
ca_file = $PKI_DIR/ca.pem
EOF
		for lib_line in "$@"; do
			echo "$lib_line"
		done
	} >"$lib_conf"
}

# notification OUT ID [snsrelay-sign options]: a signed Notification for
# $topic with the seeded certificate unless the options name another.
notification() {
	lib_out=$1 lib_id=$2
	shift 2
	sign --cert-url "$seeded_url" --topic-arn "$topic" \
		--message "rejection test $lib_id" --message-id "$lib_id" \
		"$@" >"$lib_out" || tap_bail "snsrelay-sign failed for $lib_id"
}

# request_log_line: prints the log line of the last response's request id.
request_log_line() {
	lib_rid=$(response_header X-Request-Id)
	[ -n "$lib_rid" ] || return 0
	wait_for_file_line "$RELAY_LOG" "request_id=\"?$lib_rid\"?( |\$)" 3
	grep -E "request_id=\"?$lib_rid\"?( |\$)" "$RELAY_LOG" |
		grep -E 'event=request_(rejected|failed)'
}

# expect_reject NAME BODY STATUS CODE [curl options]: posts BODY and
# checks the response and the log line.  With EXPECT_MESSAGE_ID set, the
# log line must carry that message_id.
expect_reject() {
	lib_case=$1 lib_file=$2 lib_status=$3 lib_code=$4
	shift 4
	tap_is "$(post_sns "$lib_file" "$@")" "$lib_status" \
		"$lib_case: status"
	tap_is "$(response_field .code)" "$lib_code" "$lib_case: code"
	tap_like "$(response_field .error)" '.' "$lib_case: error text"
	tap_is "$(response_field .request_id)" \
		"$(response_header X-Request-Id)" "$lib_case: request_id"
	lib_line=$(request_log_line)
	lib_event=request_rejected
	[ "$lib_status" = 503 ] && lib_event=request_failed
	tap_like "$lib_line" "event=\"?$lib_event\"?( |\$)" \
		"$lib_case: $lib_event logged"
	tap_like "$lib_line" "code=\"?$lib_code\"?( |\$)" "$lib_case: log code"
	tap_like "$lib_line" "status=\"?$lib_status\"?( |\$)" \
		"$lib_case: log status"
	if [ -n "${EXPECT_MESSAGE_ID:-}" ]; then
		tap_like "$lib_line" \
			"message_id=\"?$EXPECT_MESSAGE_ID\"?( |\$)" \
			"$lib_case: log message_id"
	fi
}

write_config relay "sns_host_pattern = 127.0.0.1:*"
start_relay "$TEST_TMP/relay.conf" relay || tap_bail "the relay did not start"
relay_pid=$RELAY_PID
body=$TEST_TMP/body.json
good=$TEST_TMP/good.json

# ------------------------------------------------------ a good message

notification "$good" reject-control
tap_is "$(post_sns "$good")" 200 "control: seeded certificate 200"

# ------------------------------------------------------------ envelope

expect_reject "raw delivery" "$good" 400 raw_delivery \
	-H 'x-amz-sns-rawdelivery: true'

printf '{"Type" : "Notification", "MessageId" : ' >"$body"
expect_reject "truncated JSON" "$body" 400 malformed_body

printf '[]' >"$body"
expect_reject "JSON array" "$body" 400 malformed_body

invalid_byte=$(printf '\377')
notification "$TEST_TMP/utf8.json" reject-utf8-MARK
sed "s/MARK/$invalid_byte/g" "$TEST_TMP/utf8.json" >"$body"
expect_reject "invalid UTF-8" "$body" 400 malformed_body

sed '1s/^{/{"Message" : "second copy", /' "$good" >"$body"
tap_is "$(jq -r .Message "$body" 2>/dev/null | head -n 1)" \
	"rejection test reject-control" "duplicate key: body has both"
expect_reject "duplicate key" "$body" 400 malformed_body

jq 'del(.Timestamp)' "$good" >"$body"
expect_reject "missing Timestamp" "$body" 400 malformed_body

jq 'del(.Signature)' "$good" >"$body"
expect_reject "missing Signature" "$body" 400 malformed_body

jq '.Timestamp = 1700000000' "$good" >"$body"
expect_reject "numeric Timestamp" "$body" 400 malformed_body

jq '.Message = null' "$good" >"$body"
expect_reject "null Message" "$body" 400 malformed_body

jq '.Type = "Bogus"' "$good" >"$body"
expect_reject "unknown Type" "$body" 400 malformed_body

EXPECT_MESSAGE_ID=reject-control
SNS_TYPE_HEADER=SubscriptionConfirmation
export SNS_TYPE_HEADER
expect_reject "type header mismatch" "$good" 400 type_mismatch
unset SNS_TYPE_HEADER

# ------------------------------------------------ topic and version

EXPECT_MESSAGE_ID=reject-topic
notification "$body" reject-topic \
	--topic-arn arn:aws:sns:us-east-1:123456789012:other-topic
expect_reject "foreign topic" "$body" 403 topic_not_allowed

EXPECT_MESSAGE_ID=reject-control
jq '.SignatureVersion = "3"' "$good" >"$body"
expect_reject "signature version 3" "$body" 400 \
	unsupported_signature_version
jq '.SignatureVersion = "0"' "$good" >"$body"
expect_reject "signature version 0" "$body" 400 \
	unsupported_signature_version

# ---------------------------------------------------- certificate URL

EXPECT_MESSAGE_ID=reject-url
for url in \
    "http://127.0.0.1:$MOCK_PORT/$PKI_GOOD_CERT" \
    "https://127.0.0.2:$MOCK_PORT/$PKI_GOOD_CERT" \
    "https://user@127.0.0.1:$MOCK_PORT/$PKI_GOOD_CERT" \
    "$mock_base/$PKI_GOOD_CERT?x=1" \
    "$mock_base/$PKI_GOOD_CERT#x" \
    "$mock_base/certs/$PKI_GOOD_CERT" \
    "$mock_base/cert.pem"; do
	notification "$body" reject-url --cert-url "$url"
	expect_reject "cert URL $url" "$body" 403 cert_url_invalid
done
tap_is "$(mock_count "$certs_rec" '.method == "GET"')" 0 \
	"no certificate fetched for invalid URLs"
stop_relay "$relay_pid"

# The AWS host rule: no host pattern configured.
write_config relayaws
start_relay "$TEST_TMP/relayaws.conf" relayaws ||
	tap_bail "the relay with the AWS host rule did not start"
for url in \
    "https://sns.us-east-1.amazonaws.com.evil.example/$PKI_GOOD_CERT" \
    "https://sns.us-east-1.amazonaws.com:8443/$PKI_GOOD_CERT" \
    "https://sns.us-west-2.amazonaws.com/$PKI_GOOD_CERT" \
    "https://sns.s3-us-east-1.amazonaws.com/$PKI_GOOD_CERT" \
    "https://127.0.0.1:$MOCK_PORT/$PKI_GOOD_CERT" \
    "https://127.0.0.1/$PKI_GOOD_CERT"; do
	notification "$body" reject-url --cert-url "$url"
	expect_reject "AWS rule $url" "$body" 403 cert_url_invalid
done
stop_relay

start_relay "$TEST_TMP/relay.conf" relay2 ||
	tap_bail "the relay did not restart"

# ------------------------------------------------------------- time

EXPECT_MESSAGE_ID=reject-old
notification "$body" reject-old --timestamp "$(iso_time -7200)"
expect_reject "timestamp 2 h old" "$body" 403 timestamp_rejected

EXPECT_MESSAGE_ID=reject-future
notification "$body" reject-future --timestamp "$(iso_time 900)"
expect_reject "timestamp 15 min ahead" "$body" 403 timestamp_rejected

# ------------------------------------------------------- signature

EXPECT_MESSAGE_ID=reject-control
jq '.Message = .Message + "!"' "$good" >"$body"
expect_reject "tampered Message" "$body" 403 bad_signature

notification "$TEST_TMP/other.json" reject-other
jq --arg sig "$(jq -r .Signature "$TEST_TMP/other.json")" \
	'.Signature = $sig' "$good" >"$body"
expect_reject "signature of another message" "$body" 403 bad_signature

jq '.Signature = "not base64!"' "$good" >"$body"
expect_reject "signature not base64" "$body" 403 bad_signature

# ----------------------------------------------------- certificates

EXPECT_MESSAGE_ID=reject-cert
notification "$body" reject-cert --cert-url "$mock_base/$missing_cert"
expect_reject "certificate 404" "$body" 403 cert_invalid

notification "$body" reject-cert \
	--cert-url "$mock_base/$PKI_WRONG_NAME_CERT"
expect_reject "wrong-name certificate" "$body" 403 cert_invalid

if [ -n "$PKI_EXPIRED_CERT" ]; then
	notification "$body" reject-cert \
		--cert-url "$mock_base/$PKI_EXPIRED_CERT"
	expect_reject "expired certificate" "$body" 403 cert_invalid
else
	tap_skip "openssl could not issue an expired certificate" 7
fi

notification "$body" reject-cert \
	--cert-url "https://127.0.0.1:$CLOSED_PORT/$PKI_WRONG_NAME_CERT"
expect_reject "certificate host down" "$body" 503 cert_fetch_failed

# ---------------------------------------------------- SubscribeURL

EXPECT_MESSAGE_ID=reject-subscribe
for case in topic host; do
	token=token-$case-0001
	if [ "$case" = topic ]; then
		url="$mock_base/?Action=ConfirmSubscription"
		url="$url&TopicArn=$topic-other&Token=$token"
	else
		url="https://127.0.0.2:$MOCK_PORT/?Action=ConfirmSubscription"
		url="$url&TopicArn=$topic&Token=$token"
	fi
	notification "$body" reject-subscribe \
		--type SubscriptionConfirmation --token "$token" \
		--subscribe-url "$url"
	expect_reject "SubscribeURL $case" "$body" 403 subscribe_url_invalid
done
tap_is "$(mock_count "$certs_rec" '.path == "/"')" 0 \
	"no SubscribeURL visited"

stop_relay
tap_done
