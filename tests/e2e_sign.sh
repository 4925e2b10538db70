#!/bin/sh
# End-to-end: snsrelay-sign.  The bodies it prints must parse and carry
# the fields of their type.  Each must verify with "openssl dgst" against
# a string to sign rebuilt here from the printed fields.  Usage errors
# exit 2 and other failures exit 1.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

signer=$top_builddir/snsrelay-sign
topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
cert_url=https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem
key=$TEST_TMP/key.pem
pub=$TEST_TMP/pub.pem

"$OPENSSL" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$key" 2>/dev/null || tap_bail "openssl genpkey failed"
"$OPENSSL" pkey -in "$key" -pubout -out "$pub" 2>/dev/null ||
	tap_bail "openssl pkey -pubout failed"

# run_sign NAME [options]: runs snsrelay-sign with the test key, output in
# $TEST_TMP/NAME.json and standard error in $TEST_TMP/NAME.err; sets
# SIGN_STATUS.
run_sign() {
	lib_name=$1
	shift
	"$signer" --key "$key" "$@" >"$TEST_TMP/$lib_name.json" \
		2>"$TEST_TMP/$lib_name.err"
	SIGN_STATUS=$?
}

# field FILE KEY: prints a string member of a signed body.
field() {
	jq -r --arg k "$2" '.[$k] // empty' "$1"
}

# string_to_sign FILE: writes the canonical string to sign of the body in
# FILE, exactly as SNS defines it for the body's Type.
string_to_sign() {
	jq -j '
		def pair(k): if has(k) and .[k] != null
			then k + "\n" + .[k] + "\n" else "" end;
		if .Type == "Notification" then
			pair("Message") + pair("MessageId") + pair("Subject") +
			pair("Timestamp") + pair("TopicArn") + pair("Type")
		else
			pair("Message") + pair("MessageId") +
			pair("SubscribeURL") + pair("Timestamp") +
			pair("Token") + pair("TopicArn") + pair("Type")
		end' "$1"
}

# verifies FILE: checks the body's signature with the public key, using
# SHA1 for SignatureVersion 1 and SHA256 for 2.
verifies() {
	lib_file=$1
	case $(field "$lib_file" SignatureVersion) in
	1) lib_digest=-sha1 ;;
	2) lib_digest=-sha256 ;;
	*) return 1 ;;
	esac
	string_to_sign "$lib_file" >"$lib_file.sts" || return 1
	field "$lib_file" Signature | "$OPENSSL" base64 -d -A \
		>"$lib_file.sig" || return 1
	"$OPENSSL" dgst "$lib_digest" -verify "$pub" \
		-signature "$lib_file.sig" "$lib_file.sts" >/dev/null 2>&1
}

uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
time_re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'

# ------------------------------------------------------ Notification v2

run_sign notify --cert-url "$cert_url" --topic-arn "$topic" \
	--message 'security group "sg-1" changed'
f=$TEST_TMP/notify.json
tap_is "$SIGN_STATUS" 0 "notification exits 0"
tap_ok "jq -e . '$f' >/dev/null" "notification parses as JSON"
tap_is "$(field "$f" Type)" Notification "notification Type"
tap_like "$(field "$f" MessageId)" "$uuid_re" "notification MessageId uuid"
tap_is "$(field "$f" TopicArn)" "$topic" "notification TopicArn"
tap_is "$(field "$f" Message)" 'security group "sg-1" changed' \
	"notification Message"
tap_like "$(field "$f" Timestamp)" "$time_re" "notification Timestamp form"
tap_is "$(field "$f" SignatureVersion)" 2 "notification default version 2"
tap_is "$(field "$f" SigningCertURL)" "$cert_url" \
	"notification SigningCertURL"
tap_like "$(field "$f" UnsubscribeURL)" \
	"^https://sns\.us-east-1\.amazonaws\.com/\?Action=Unsubscribe&SubscriptionArn=$topic:" \
	"notification UnsubscribeURL"
tap_ok "! jq -e 'has(\"Subject\")' '$f' >/dev/null" \
	"notification without Subject"
tap_ok "! jq -e 'has(\"Token\") or has(\"SubscribeURL\")' '$f' >/dev/null" \
	"notification without Token"
tap_ok "verifies '$f'" "notification v2 verifies with SHA256"

# A tampered body must fail the same check, so the check can fail.
jq '.Message = "tampered"' "$f" >"$TEST_TMP/tampered.json"
tap_ok "! verifies '$TEST_TMP/tampered.json'" "tampered body fails to verify"

run_sign notify2 --cert-url "$cert_url" --topic-arn "$topic" --message x
tap_ok "[ '$(field "$f" MessageId)' != \
'$(field "$TEST_TMP/notify2.json" MessageId)' ]" "message ids are random"

# ------------------------------------------- Notification v1 and fields

run_sign v1 --cert-url "$cert_url" --topic-arn "$topic" --message hello \
	--subject 'Alert: sg-1' --signature-version 1 \
	--message-id 11111111-2222-4333-8444-555555555555 \
	--timestamp 2024-05-01T12:00:00.000Z
f=$TEST_TMP/v1.json
tap_is "$SIGN_STATUS" 0 "version 1 exits 0"
tap_is "$(field "$f" SignatureVersion)" 1 "version 1 SignatureVersion"
tap_is "$(field "$f" Subject)" 'Alert: sg-1' "version 1 Subject"
tap_is "$(field "$f" MessageId)" 11111111-2222-4333-8444-555555555555 \
	"given message id kept"
tap_is "$(field "$f" Timestamp)" 2024-05-01T12:00:00.000Z \
	"given timestamp kept"
tap_ok "verifies '$f'" "notification v1 verifies with SHA1"

# ------------------------------------------------ confirmation messages

run_sign confirm --cert-url "$cert_url" --topic-arn "$topic" \
	--type SubscriptionConfirmation --message 'You have chosen to subscribe.'
f=$TEST_TMP/confirm.json
token=$(field "$f" Token)
tap_is "$SIGN_STATUS" 0 "confirmation exits 0"
tap_is "$(field "$f" Type)" SubscriptionConfirmation "confirmation Type"
tap_like "$token" '^[0-9a-f]{64,}$' "confirmation random hex Token"
tap_is "$(field "$f" SubscribeURL)" \
	"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=$topic&Token=$token" \
	"confirmation default SubscribeURL"
tap_ok "verifies '$f'" "confirmation v2 verifies"

run_sign unsub --cert-url "$cert_url" --topic-arn "$topic" \
	--type UnsubscribeConfirmation --message bye --signature-version 1 \
	--token abc123 --subscribe-url https://127.0.0.1:1/confirm
f=$TEST_TMP/unsub.json
tap_is "$SIGN_STATUS" 0 "unsubscribe confirmation exits 0"
tap_is "$(field "$f" Token)" abc123 "given token kept"
tap_is "$(field "$f" SubscribeURL)" https://127.0.0.1:1/confirm \
	"given SubscribeURL kept"
tap_ok "verifies '$f'" "unsubscribe confirmation v1 verifies"

# ---------------------------------------------------- --message-file

printf 'line one\nline "two"\ttabbed\n' >"$TEST_TMP/message.txt"
run_sign file --cert-url "$cert_url" --topic-arn "$topic" \
	--message-file "$TEST_TMP/message.txt"
tap_ok "jq -j .Message '$TEST_TMP/file.json' | cmp -s - '$TEST_TMP/message.txt'" \
	"message file copied byte for byte"
tap_ok "verifies '$TEST_TMP/file.json'" "message file verifies"

"$signer" --key "$key" --cert-url "$cert_url" --topic-arn "$topic" \
	--message-file - <"$TEST_TMP/message.txt" >"$TEST_TMP/stdin.json" \
	2>/dev/null
tap_ok "jq -j .Message '$TEST_TMP/stdin.json' | cmp -s - '$TEST_TMP/message.txt'" \
	"message from standard input"

# ------------------------------------------------------------- errors

# expect_status NAME STATUS STDERR_TEXT [options]: runs snsrelay-sign with
# options (and no implicit --key) and checks its exit status and message.
expect_status() {
	lib_name=$1
	lib_status=$2
	lib_text=$3
	shift 3
	"$signer" "$@" >/dev/null 2>"$TEST_TMP/error.err"
	tap_is "$?" "$lib_status" "$lib_name exits $lib_status"
	tap_contains "$(cat "$TEST_TMP/error.err")" "$lib_text" \
		"$lib_name message"
}

expect_status "no arguments" 2 "missing --key"
expect_status "missing cert url" 2 "missing --cert-url" \
	--key "$key" --topic-arn "$topic" --message x
expect_status "missing topic" 2 "missing --topic-arn" \
	--key "$key" --cert-url "$cert_url" --message x
expect_status "missing message" 2 "give exactly one of --message" \
	--key "$key" --cert-url "$cert_url" --topic-arn "$topic"
expect_status "two messages" 2 "give exactly one of --message" \
	--key "$key" --cert-url "$cert_url" --topic-arn "$topic" \
	--message x --message-file "$TEST_TMP/message.txt"
expect_status "unknown type" 2 'unknown --type "Bogus"' \
	--key "$key" --cert-url "$cert_url" --topic-arn "$topic" \
	--message x --type Bogus
expect_status "bad version" 2 'unsupported --signature-version "3"' \
	--key "$key" --cert-url "$cert_url" --topic-arn "$topic" \
	--message x --signature-version 3
expect_status "cert url without host" 2 "has no host" \
	--key "$key" --cert-url nohost --topic-arn "$topic" --message x
expect_status "unknown option" 2 "Try snsrelay-sign --help" \
	--frobnicate
expect_status "extra argument" 2 'unexpected argument "extra"' \
	--key "$key" --cert-url "$cert_url" --topic-arn "$topic" \
	--message x extra
expect_status "missing key file" 1 "cannot open key" \
	--key "$TEST_TMP/none.pem" --cert-url "$cert_url" \
	--topic-arn "$topic" --message x
expect_status "not a key" 1 "no readable PEM private key" \
	--key "$TEST_TMP/message.txt" --cert-url "$cert_url" \
	--topic-arn "$topic" --message x
expect_status "missing message file" 1 "cannot open message file" \
	--key "$key" --cert-url "$cert_url" --topic-arn "$topic" \
	--message-file "$TEST_TMP/none.txt"

"$signer" --help >"$TEST_TMP/help.out" 2>&1
tap_is "$?" 0 "help exits 0"
tap_contains "$(cat "$TEST_TMP/help.out")" "Usage: snsrelay-sign" \
	"help prints usage"

tap_done
