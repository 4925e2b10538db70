#!/bin/sh
# End-to-end: the HTTP front end of a running relay (health check,
# routing, limits, request ids, IPv6 and HTTPS listeners), a notification
# printed on standard output, and a clean stop.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts

gen_pki
# The relay reads the signing certificate from the seed directory.  The
# URL names port 1, where nothing listens, so a fetch attempt would fail
# instead of reaching a server.
cert_url=https://127.0.0.1:1/$PKI_GOOD_CERT

config=$TEST_TMP/relay.conf
{
	config_base relay
	cat <<EOF
max_body_bytes = 64KiB
topic = $topic
cert_dir = $PKI_DIR/seed
sns_host_pattern = 127.0.0.1:*
EOF
} >"$config"

start_relay "$config" relay || tap_bail "the relay did not start"
main_pid=$RELAY_PID
main_log=$RELAY_LOG
main_out=$RELAY_OUT
base=http://127.0.0.1:$RELAY_PORT

# ------------------------------------------------------------ start-up

tap_like "$(log_events "$main_log" starting)" ' version=' \
	"starting event has version"
tap_like "$(log_events "$main_log" ready)" ' path="?/sns"?( |$)' \
	"ready event has path"
tap_like "$(log_events "$main_log" ready)" ' address="?127\.0\.0\.1' \
	"ready event has address"

# ------------------------------------------------------------- healthz

tap_is "$(http_get "$base/healthz")" 200 "healthz status"
tap_like "$(response_header Content-Type)" '^application/json' \
	"healthz content type"
tap_is "$(response_field .status)" ok "healthz status member"
tap_like "$(response_field .version)" '^[0-9]+\.[0-9]+\.[0-9]+' \
	"healthz version member"
tap_is "$(jq -r '.uptime_s | type' "$RESPONSE")" number \
	"healthz uptime_s is a number"
tap_ok '[ "$(jq -r .uptime_s "$RESPONSE")" -ge 0 ]' \
	"healthz uptime_s not negative"
first_id=$(response_header X-Request-Id)
tap_like "$first_id" '.' "healthz has X-Request-Id"
http_get "$base/healthz" >/dev/null
tap_ok '[ "$(response_header X-Request-Id)" != "$first_id" ]' \
	"request ids differ"

# -------------------------------------------------------------- readyz

tap_is "$(http_get "$base/readyz")" 200 "readyz status"
tap_like "$(response_header Content-Type)" '^application/json' \
	"readyz content type"
tap_is "$(response_field .status)" ready "readyz status member"
tap_like "$(response_header X-Request-Id)" '.' "readyz has X-Request-Id"

# ------------------------------------------------------------- routing

tap_is "$(http_get "$base/nope")" 404 "unknown path 404"
tap_like "$(response_field .error)" '.' "404 has error"
tap_like "$(response_field .code)" '.' "404 has code"
tap_is "$(response_field .request_id)" "$(response_header X-Request-Id)" \
	"404 request_id matches header"

tap_is "$(http_get "$base/sns")" 405 "GET on endpoint 405"
tap_like "$(response_header Allow)" 'POST' "405 Allow names POST"
tap_like "$(response_field .code)" '.' "405 has code"
tap_like "$(response_header X-Request-Id)" '.' "405 has X-Request-Id"

tap_is "$(http_get "$base/healthz" -X POST -d x)" 405 \
	"POST on healthz 405"
tap_like "$(response_header Allow)" 'GET' "healthz Allow names GET"

# -------------------------------------------------------------- limits

big=$TEST_TMP/big.txt
head -c 100000 /dev/zero | tr '\0' 'a' >"$big"
tap_is "$(post_sns "$big")" 413 "100 KB body 413"
tap_is "$(response_field .code)" body_too_large "413 code"
tap_is "$(response_field .request_id)" "$(response_header X-Request-Id)" \
	"413 request_id matches header"
tap_is "$(post_sns "$big" -H 'Transfer-Encoding: chunked')" 413 \
	"100 KB chunked body 413"

under=$TEST_TMP/under.txt
head -c 60000 /dev/zero | tr '\0' 'a' >"$under"
tap_is "$(post_sns "$under")" 400 "60 KB body reaches parser"
tap_is "$(response_field .code)" malformed_body "60 KB body code"

# -------------------------------------------- notification on stdout

note=$TEST_TMP/note.json
sign --cert-url "$cert_url" --topic-arn "$topic" \
	--subject "Basics test subject" --message "basics test message" \
	--message-id basics-0001 >"$note" || tap_bail "snsrelay-sign failed"
tap_is "$(post_sns "$note")" 200 "notification 200"
tap_is "$(response_field .result)" accepted "notification result"
tap_is "$(response_field .message_id)" basics-0001 \
	"notification message_id"
tap_ok 'wait_for_file_line "$main_out" "." 5' "alert printed on stdout"
tap_is "$(wc -l <"$main_out" | tr -d ' ')" 1 "one stdout line"
tap_is "$(jq -r .schema "$main_out")" snsrelay.alert/1 "alert schema"
tap_is "$(jq -r .kind "$main_out")" notification "alert kind"
tap_like "$(jq -c . "$main_out")" 'Basics test subject' \
	"alert carries subject"
tap_ok 'wait_for_log_event "$main_log" alert_delivered \
	"destination=\"?stdout"' "alert_delivered to stdout"
tap_like "$(log_events "$main_log" notification_stored)" \
	'alert_id="?sns:basics-0001' "notification_stored logged"

# --------------------------------------------------------------- IPv6

if [ -r /proc/net/if_inet6 ] &&
    grep -q '^0\{31\}1 ' /proc/net/if_inet6; then
	{
		config_base relay6 | sed 's/^listen = .*/listen = [::1]:0/'
		echo "topic = $topic"
	} >"$TEST_TMP/relay6.conf"
	if start_relay "$TEST_TMP/relay6.conf" relay6; then
		tap_ok true "IPv6 relay starts"
		tap_is "$(http_get "http://[::1]:$RELAY_PORT/healthz")" 200 \
			"IPv6 healthz 200"
		stop_relay
	else
		tap_ok false "IPv6 relay starts"
		tap_skip "IPv6 relay did not start"
	fi
else
	tap_skip "no IPv6 loopback address" 2
fi

# -------------------------------------------------------------- HTTPS

{
	config_base relaytls
	cat <<EOF
topic = $topic
tls_cert_file = $PKI_DIR/server.pem
tls_key_file = $PKI_DIR/server.key
EOF
} >"$TEST_TMP/relaytls.conf"
if start_relay "$TEST_TMP/relaytls.conf" relaytls; then
	tap_ok true "HTTPS relay starts"
	tls_port=$RELAY_PORT
	tap_is "$(http_get "https://127.0.0.1:$tls_port/healthz" \
		--cacert "$PKI_DIR/ca.pem")" 200 "HTTPS healthz by address"
	tap_is "$(http_get "https://localhost:$tls_port/healthz" \
		--cacert "$PKI_DIR/ca.pem")" 200 "HTTPS healthz by name"
	tap_like "$(response_header X-Request-Id)" '.' \
		"HTTPS answer has X-Request-Id"
	tap_ok '[ "$(http_get "http://127.0.0.1:$tls_port/healthz" \
		2>/dev/null)" != 200 ]' "plain HTTP on HTTPS port fails"
	tap_ok '[ "$(log_events "$RELAY_LOG" ready |
		sed -n "s/.* tls=\([^ ]*\).*/\1/p")" != \
		"$(log_events "$main_log" ready |
		sed -n "s/.* tls=\([^ ]*\).*/\1/p")" ]' \
		"ready tls field differs from HTTP"
	stop_relay
else
	tap_ok false "HTTPS relay starts"
	tap_skip "HTTPS relay did not start" 5
fi

# ----------------------------------------------------------- no topics

config_base relaynotopic >"$TEST_TMP/relaynotopic.conf"
if start_relay "$TEST_TMP/relaynotopic.conf" relaynotopic; then
	tap_like "$(log_events "$RELAY_LOG" no_topics)" 'level="?warn' \
		"no_topics warning"
	tap_is "$(post_sns "$note")" 403 "no topics rejects"
	tap_is "$(response_field .code)" topic_not_allowed \
		"no topics code"
	stop_relay
else
	tap_skip "relay without topics did not start" 3
fi

# ---------------------------------------------------------------- stop

stop_relay "$main_pid"
tap_is "$STOP_STATUS" 0 "SIGTERM exit status"
tap_like "$(log_events "$main_log" stopping)" 'event=' "stopping event"
tap_like "$(log_events "$main_log" stopped)" 'event=' "stopped event"

tap_done
