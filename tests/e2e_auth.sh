#!/bin/sh
# End-to-end: the inbound checks on the SNS endpoint.  HTTP Basic
# authentication with the password in the file or in a separate file,
# allowed_sources, X-Forwarded-For from trusted and untrusted peers, and
# the routes that stay open (/healthz, /readyz, /metrics).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

gen_pki

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
cert_url=https://127.0.0.1:1/$PKI_GOOD_CERT
user=snsuser
password='Tr0ub4dor&3-not-in-logs'
file_password='horse-battery-staple-in-file'
challenge='Basic realm="snsrelay", charset="UTF-8"'
body=$TEST_TMP/body.json

# write_config NAME [extra lines]: a relay that reads the signing
# certificate from the seed directory and prints alerts on stdout.  It
# logs every rejection, because the checks look for one line per
# request and the repeat limit would fold equal warnings into one.
write_config() {
	lib_conf=$TEST_TMP/$1.conf
	shift
	{
		config_base "$(basename "$lib_conf" .conf)"
		cat <<EOF
topic = $topic
cert_dir = $PKI_DIR/seed
sns_host_pattern = 127.0.0.1:*
EOF
		for lib_line in "$@"; do
			echo "$lib_line"
		done
	} >"$lib_conf"
}

# notification ID: writes a signed Notification to $body.
notification() {
	sign --cert-url "$cert_url" --topic-arn "$topic" \
		--message "auth test $1" --message-id "$1" >"$body" ||
		tap_bail "snsrelay-sign failed for $1"
}

# request_lines: prints the log lines of the last response's request id.
request_lines() {
	lib_rid=$(response_header X-Request-Id)
	[ -n "$lib_rid" ] || return 0
	wait_for_file_line "$RELAY_LOG" "request_id=\"?$lib_rid\"?( |\$)" 3
	grep -E "request_id=\"?$lib_rid\"?( |\$)" "$RELAY_LOG"
}

# expect_reject NAME STATUS CODE [post_sns options]: posts $body and checks
# the status, the JSON code and that one rejection line was logged.
expect_reject() {
	lib_case=$1 lib_status=$2 lib_code=$3
	shift 3
	tap_is "$(post_sns "$body" "$@")" "$lib_status" "$lib_case: status"
	tap_is "$(response_field .code)" "$lib_code" "$lib_case: code"
	tap_like "$(response_field .error)" '.' "$lib_case: error text"
	tap_is "$(response_field .request_id)" \
		"$(response_header X-Request-Id)" "$lib_case: request_id"
	lib_lines=$(request_lines)
	tap_is "$(printf '%s\n' "$lib_lines" | grep -c 'event=request_rejected')" \
		1 "$lib_case: one request_rejected line"
	tap_like "$lib_lines" "code=\"?$lib_code\"?( |\$)" "$lib_case: log code"
}

# ------------------------------------- password in the configuration

write_config auth "basic_auth_user = $user" \
	"basic_auth_password = $password"
start_relay "$TEST_TMP/auth.conf" auth || tap_bail "the relay did not start"
auth_log=$RELAY_LOG
auth_out=$RELAY_OUT

notification auth-none
expect_reject "no credentials" 401 auth_required
tap_is "$(response_header WWW-Authenticate)" "$challenge" \
	"no credentials: WWW-Authenticate challenge"
tap_like "$(request_lines)" 'level=info' \
	"no credentials: logged at info, as SNS always starts so"
tap_is "$(wc -l <"$auth_out" | tr -d ' ')" 0 "no credentials: no alert"

expect_reject "wrong password" 401 auth_invalid -u "$user:wrong-$password"
tap_is "$(response_header WWW-Authenticate)" "$challenge" \
	"wrong password: WWW-Authenticate challenge"
tap_like "$(request_lines)" 'level=warn' "wrong password: logged at warn"
tap_like "$(request_lines)" 'reason="wrong user name or password"' \
	"wrong password: log reason"

expect_reject "wrong user" 401 auth_invalid -u "other:$password"
expect_reject "bearer scheme" 401 auth_invalid \
	-H 'Authorization: Bearer abc'
expect_reject "bad base64" 401 auth_invalid \
	-H 'Authorization: Basic c25z!!!!'

notification auth-right
tap_is "$(post_sns "$body" -u "$user:$password")" 200 \
	"right credentials: accepted"
tap_is "$(response_field .result)" accepted "right credentials: result"
wait_for_lines "$auth_out" 1
tap_is "$(head -n 1 "$auth_out" | jq -r .sns.message_id)" auth-right \
	"right credentials: alert written"

# The subscription URL form https://user:password@host/sns.
notification auth-url
tap_is "$(SNS_URL="http://$user:$password@127.0.0.1:$RELAY_PORT/sns" \
	post_sns "$body")" 200 "credentials in the URL: accepted"

tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/healthz")" 200 \
	"healthz: open without credentials"
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/readyz")" 200 \
	"readyz: open without credentials"
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/sns")" 405 \
	"GET on the endpoint: 405 before authentication"

# /metrics: open, Prometheus text, counting the responses above.
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/metrics")" 200 \
	"metrics: open without credentials"
tap_is "$(response_header Content-Type)" \
	'text/plain; version=0.0.4; charset=utf-8' "metrics: content type"
tap_like "$(cat "$RESPONSE")" '^snsrelay_' "metrics: snsrelay_ lines"
tap_like "$(cat "$RESPONSE")" \
	'^snsrelay_http_requests_total\{route="sns",status="401"\} 5$' \
	"metrics: five 401 answers counted"
tap_like "$(cat "$RESPONSE")" \
	'^snsrelay_http_requests_total\{route="healthz",status="200"\} 1$' \
	"metrics: healthz answer counted"
tap_like "$(cat "$RESPONSE")" \
	'^snsrelay_sns_request_duration_seconds_count 7$' \
	"metrics: every SNS POST timed"
tap_like "$(cat "$RESPONSE")" '^snsrelay_uptime_seconds [0-9]' \
	"metrics: uptime gauge"
tap_like "$(cat "$RESPONSE")" '^snsrelay_ready 1$' "metrics: ready gauge"
tap_like "$(cat "$RESPONSE")" '^snsrelay_spool_pending_deliveries [0-9]' \
	"metrics: spool gauge"
tap_like "$(cat "$RESPONSE")" '^snsrelay_http_connections [1-9]' \
	"metrics: connection gauge counts the scrape"
tap_like "$(cat "$RESPONSE")" '^snsrelay_cert_cache_entries 1$' \
	"metrics: the seeded certificate is cached"
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/metrics" -X POST)" 405 \
	"metrics: POST rejected"
tap_is "$(response_header Allow)" 'GET, HEAD' "metrics: Allow header"

stop_relay
encoded=$(printf '%s' "$user:$password" | base64 -w0)
tap_ok '! grep -qF -- "$password" "$auth_log"' "password never logged"
tap_ok '! grep -qF -- "$encoded" "$auth_log"' "credentials never logged"
tap_ok '! grep -qF -- "Bearer abc" "$auth_log"' \
	"Authorization value never logged"
tap_ok '! grep -qF -- "c25z!!!!" "$auth_log"' \
	"malformed Authorization value never logged"

# ------------------------------------------- password in its own file

printf '%s\n' "$file_password" >"$TEST_TMP/password"
chmod 600 "$TEST_TMP/password"
write_config authfile "basic_auth_user = $user" \
	"basic_auth_password_file = $TEST_TMP/password" \
	"metrics = no"
start_relay "$TEST_TMP/authfile.conf" authfile ||
	tap_bail "the relay did not start"
notification file-none
expect_reject "password file: no credentials" 401 auth_required
notification file-right
tap_is "$(post_sns "$body" -u "$user:$file_password")" 200 \
	"password file: right credentials accepted"
expect_reject "password file: newline is not part of it" 401 auth_invalid \
	-u "$user:$file_password
"
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/metrics")" 404 \
	"metrics = no: /metrics not found"
stop_relay
tap_ok '! grep -qF -- "$file_password" "$RELAY_LOG"' \
	"password file: password never logged"

# ------------------------------------------------------ allowed_sources

write_config allow "allowed_sources = 10.0.0.0/8"
start_relay "$TEST_TMP/allow.conf" allow || tap_bail "the relay did not start"
notification allow-refused
expect_reject "allowed_sources: loopback rejected" 403 source_not_allowed
tap_like "$(request_lines)" 'remote="?127\.0\.0\.1"?( |$)' \
	"allowed_sources: log shows the peer as remote"
tap_unlike "$(request_lines)" 'peer=' \
	"allowed_sources: no peer field when it is the client"
tap_is "$(wc -l <"$RELAY_OUT" | tr -d ' ')" 0 \
	"allowed_sources: no alert"
tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/healthz")" 200 \
	"allowed_sources: healthz still open"
stop_relay

# ---------------------------------------- X-Forwarded-For, trusted peer

write_config proxy "trusted_proxies = 127.0.0.1" \
	"allowed_sources = 203.0.113.0/24" \
	"basic_auth_user = $user" "basic_auth_password = $password"
start_relay "$TEST_TMP/proxy.conf" proxy || tap_bail "the relay did not start"

notification proxy-allowed
tap_is "$(post_sns "$body" -u "$user:$password" \
	-H 'X-Forwarded-For: 203.0.113.9')" 200 \
	"trusted proxy: forwarded address allowed"
tap_like "$(request_lines)" 'remote="?203\.0\.113\.9"?( |$)' \
	"trusted proxy: log shows the forwarded address"

notification proxy-chain
tap_is "$(post_sns "$body" -u "$user:$password" \
	-H 'X-Forwarded-For: 203.0.113.9, 127.0.0.1')" 200 \
	"trusted proxy: chain through a trusted hop"

notification proxy-spoof
expect_reject "trusted proxy: spoofed leftmost entry" 403 \
	source_not_allowed -u "$user:$password" \
	-H 'X-Forwarded-For: 203.0.113.9, 198.51.100.7'
tap_like "$(request_lines)" 'remote="?198\.51\.100\.7"?( |$)' \
	"trusted proxy: rightmost untrusted entry is the client"
tap_like "$(request_lines)" 'peer="?127\.0\.0\.1"?( |$)' \
	"trusted proxy: log shows the peer"

notification proxy-two-headers
tap_is "$(post_sns "$body" -u "$user:$password" \
	-H 'X-Forwarded-For: 198.51.100.7' \
	-H 'X-Forwarded-For: 203.0.113.9')" 200 \
	"trusted proxy: repeated headers read as one list"

notification proxy-none
expect_reject "trusted proxy: no header" 403 source_not_allowed \
	-u "$user:$password"
expect_reject "trusted proxy: malformed header" 403 source_not_allowed \
	-u "$user:$password" -H 'X-Forwarded-For: 203.0.113.9:443'
tap_like "$(request_lines)" 'remote="?127\.0\.0\.1"?( |$)' \
	"trusted proxy: malformed entry leaves the peer"

# The source check comes before authentication.
expect_reject "trusted proxy: source before credentials" 403 \
	source_not_allowed -H 'X-Forwarded-For: 198.51.100.7'
stop_relay

# -------------------------------------- X-Forwarded-For, untrusted peer

write_config noproxy "trusted_proxies = 10.0.0.0/8" \
	"allowed_sources = 203.0.113.0/24"
start_relay "$TEST_TMP/noproxy.conf" noproxy ||
	tap_bail "the relay did not start"
notification noproxy
expect_reject "untrusted peer: XFF ignored" 403 source_not_allowed \
	-H 'X-Forwarded-For: 203.0.113.9'
tap_like "$(request_lines)" 'remote="?127\.0\.0\.1"?( |$)' \
	"untrusted peer: log shows the peer"
tap_unlike "$(request_lines)" '203\.0\.113\.9' \
	"untrusted peer: forwarded address not used"
stop_relay

# ------------------------------------------- repeated rejections folded

# The default repeat limit: ten identical rejections make one log line,
# while every request still gets its own answer.
write_config repeat "basic_auth_user = $user" \
	"basic_auth_password = $password"
SNSRELAY_LOG_REPEAT_INTERVAL=1h start_relay "$TEST_TMP/repeat.conf" repeat ||
	tap_bail "the relay did not start"
notification repeat
statuses=
for i in 1 2 3 4 5 6 7 8 9 10; do
	statuses="$statuses$(post_sns "$body" -u "$user:wrong$i")"
done
tap_is "$statuses" 401401401401401401401401401401 \
	"repeat: every wrong password answered 401"
tap_is "$(grep -c 'code=auth_invalid' "$RELAY_LOG")" 1 \
	"repeat: one auth_invalid line for ten identical rejections"
tap_is "$(post_sns "$body" -u "$user:$password")" 200 \
	"repeat: the right password still accepted"
http_get "http://127.0.0.1:$RELAY_PORT/metrics" >/dev/null
tap_contains "$(cat "$RESPONSE")" \
	'snsrelay_sns_requests_total{outcome="auth_invalid"} 10' \
	"repeat: metrics count every rejection"
stop_relay

tap_done
