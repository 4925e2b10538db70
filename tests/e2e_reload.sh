#!/bin/sh
# End-to-end: SIGHUP reloads the configuration.  Checks that new topics
# and destinations apply to the next request, and that a request in
# flight during the reload finishes.  Requests sent while reloading all
# get a response.  An invalid or empty file leaves the running
# configuration in force, options that need a restart are named, and a
# new TLS certificate is served.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

gen_pki

topic_a=arn:aws:sns:us-east-1:123456789012:sg-alerts
topic_b=arn:aws:sns:eu-west-1:123456789012:audit
event=$top_srcdir/docs/examples/authorize-ssh-from-anywhere.json
hook_path=/api/webhooks/123/secrettoken
conf=$TEST_TMP/relay.conf
spool=$TEST_TMP/reload-spool.db
message_no=0

# write_config [extra lines]: the relay's file, rewritten in place as an
# operator would before sending SIGHUP.
write_config() {
	{
		config_base reload "$spool"
		cat <<EOF
cert_dir = $PKI_DIR/seed
sns_host_pattern = 127.0.0.1:*
EOF
		for lib_line in "$@"; do
			echo "$lib_line"
		done
	} >"$conf.new" && mv "$conf.new" "$conf"
}

# signed TOPIC FILE: writes a fresh Notification for TOPIC to FILE.
signed() {
	message_no=$((message_no + 1))
	sign --cert-url "https://127.0.0.1:1/$PKI_GOOD_CERT" \
		--topic-arn "$1" --message-file "$event" \
		--message-id "reload-$message_no" >"$2"
}

# reload: sends SIGHUP and waits for one more reloaded or reload_failed
# line in the log.
reload() {
	lib_before=$(grep -Ec 'event=(reloaded|reload_failed)' "$RELAY_LOG")
	kill -HUP "$RELAY_PID"
	lib_tries=400
	while [ "$lib_tries" -gt 0 ]; do
		[ "$(grep -Ec 'event=(reloaded|reload_failed)' \
			"$RELAY_LOG")" -gt "$lib_before" ] && return 0
		sleep 0.05
		lib_tries=$((lib_tries - 1))
	done
	tap_diag "no answer to SIGHUP within 20 s"
	return 1
}

start_mock discord || tap_bail "mock_server did not start"
discord_rec=$MOCK_REC
discord_port=$MOCK_PORT
start_mock generic || tap_bail "mock_server did not start"
generic_rec=$MOCK_REC
generic_port=$MOCK_PORT

write_config "topic = $topic_a" \
	"discord_webhook_url = http://127.0.0.1:$discord_port$hook_path"
start_relay "$conf" || tap_bail "the relay did not start"
port=$RELAY_PORT

# ----------------------------------------------- topics and destinations

signed "$topic_b" "$TEST_TMP/b1.json"
tap_is "$(post_sns "$TEST_TMP/b1.json")" 403 \
	"before the reload: topic B is not allowed"

write_config "topic = $topic_a" "topic = $topic_b" \
	"webhook = audit http://127.0.0.1:$generic_port/hooks/audit"
reload
tap_contains "$(log_events "$RELAY_LOG" reloaded)" reloaded "SIGHUP: reloaded"
tap_like "$(grep 'event=reloaded' "$RELAY_LOG" | tail -n 1)" \
	"port=$port " "reloaded: same port"
tap_like "$(grep 'event=reloaded' "$RELAY_LOG" | tail -n 1)" \
	'destinations=audit' "reloaded: the new destination list"

signed "$topic_b" "$TEST_TMP/b2.json"
tap_is "$(post_sns "$TEST_TMP/b2.json")" 200 \
	"after the reload: topic B is allowed"
tap_ok 'wait_for_mock_count "$generic_rec" ".method == \"POST\"" 1' \
	"the new generic webhook receives the alert"
tap_is "$(mock_count "$discord_rec" '.method == "POST"')" 0 \
	"the removed Discord webhook receives nothing"
tap_is "$(http_get "http://127.0.0.1:$port/healthz")" 200 \
	"healthz after the reload"

# ------------------------------------------------ requests in flight

# A body sent at 4 KiB/s takes about 3 s; SIGHUP arrives in the middle.
{
	jq -c --arg pad "$(head -c 12000 /dev/zero | tr '\0' x)" \
		'. + {padding: $pad}' "$event" >"$TEST_TMP/big-event.json"
}
message_no=$((message_no + 1))
sign --cert-url "https://127.0.0.1:1/$PKI_GOOD_CERT" --topic-arn "$topic_a" \
	--message-file "$TEST_TMP/big-event.json" \
	--message-id "reload-slow" >"$TEST_TMP/slow.json"
"$CURL" -sS --max-time 30 -o "$TEST_TMP/slow.out" -w '%{http_code}' \
	--limit-rate 4K -H 'x-amz-sns-message-type: Notification' \
	--data-binary "@$TEST_TMP/slow.json" \
	"http://127.0.0.1:$port/sns" >"$TEST_TMP/slow.status" 2>&1 &
slow_pid=$!

# Meanwhile, requests one after another on new connections.
(
	i=0
	while [ $i -lt 40 ]; do
		"$CURL" -sS --max-time 10 -o /dev/null -w '%{http_code}\n' \
			"http://127.0.0.1:$port/healthz" 2>&1
		i=$((i + 1))
		sleep 0.05
	done
) >"$TEST_TMP/probe.out" &
probe_pid=$!

sleep 1
reload
reload
wait "$slow_pid"
wait "$probe_pid"
tap_is "$(cat "$TEST_TMP/slow.status")" 200 \
	"a request uploading during two reloads is answered 200"
tap_is "$(grep -c '^200$' "$TEST_TMP/probe.out")" 40 \
	"40 requests sent during the reloads all got 200"

# ------------------------------------------------------ invalid file

printf 'topic = %s\nlisten_port = 1\n' "$topic_a" >"$conf"
reload
tap_contains "$(log_events "$RELAY_LOG" reload_failed)" reload_failed \
	"an unknown option fails the reload"
tap_like "$(grep 'event=reload_failed' "$RELAY_LOG" | tail -n 1)" \
	'listen_port' "reload_failed names the problem"
signed "$topic_b" "$TEST_TMP/b3.json"
tap_is "$(post_sns "$TEST_TMP/b3.json")" 200 \
	"the running configuration stays: topic B still allowed"
tap_ok 'kill -0 "$RELAY_PID"' "the relay runs on after a failed reload"

# A file emptied or cut short would reject every message: refused.
: >"$conf"
reload
tap_like "$(grep 'event=reload_failed' "$RELAY_LOG" | tail -n 1)" \
	'code=no_topics' "an empty file fails the reload"
tap_is "$(post_sns "$TEST_TMP/b3.json")" 200 \
	"after the empty file: topic B still allowed"

# ------------------------------------------ options needing a restart

write_config "topic = $topic_a" \
	"webhook = audit http://127.0.0.1:$generic_port/hooks/audit"
sed "s/^listen = .*/listen = [::1]:$CLOSED_PORT/" "$conf" >"$conf.new" &&
	mv "$conf.new" "$conf"
reload
tap_like "$(grep 'event=reload_needs_restart' "$RELAY_LOG" | tail -n 1)" \
	'option=listen' "a changed listen address is named"
tap_is "$(http_get "http://127.0.0.1:$port/healthz")" 200 \
	"the relay keeps its listening port"
tap_like "$(grep 'event=reloaded' "$RELAY_LOG" | tail -n 1)" \
	"address=127.0.0.1 port=$port " "reloaded: the running address kept"
tap_is "$(post_sns "$TEST_TMP/b3.json")" 403 \
	"other options of that file apply: topic B removed"

stop_relay
tap_like "$(grep 'event=stopped' "$RELAY_LOG")" 'event=stopped' \
	"SIGTERM after reloads stops cleanly"

# ---------------------------------------------------------------- TLS

"$OPENSSL" req -x509 -newkey rsa:2048 -nodes -days 2 \
	-subj "/CN=snsrelay reload test" -addext "subjectAltName=DNS:localhost" \
	-keyout "$TEST_TMP/second.key" -out "$TEST_TMP/second.pem" \
	2>/dev/null || tap_bail "openssl cannot make a second certificate"
cp "$PKI_DIR/server.pem" "$TEST_TMP/tls.pem"
cp "$PKI_DIR/server.key" "$TEST_TMP/tls.key"
write_config "topic = $topic_a" "tls_cert_file = $TEST_TMP/tls.pem" \
	"tls_key_file = $TEST_TMP/tls.key"
start_relay "$conf" relaytls || tap_bail "the TLS relay did not start"

# served_subject: the subject of the certificate the relay presents.
served_subject() {
	"$OPENSSL" s_client -connect "127.0.0.1:$RELAY_PORT" \
		-servername localhost </dev/null 2>/dev/null |
		"$OPENSSL" x509 -noout -subject 2>/dev/null
}

tap_like "$(served_subject)" 'localhost' "TLS: the first certificate"
cp "$TEST_TMP/second.pem" "$TEST_TMP/tls.pem"
cp "$TEST_TMP/second.key" "$TEST_TMP/tls.key"
reload
tap_like "$(served_subject)" 'snsrelay reload test' \
	"TLS: the new certificate after SIGHUP"
tap_is "$(http_get "https://localhost:$RELAY_PORT/healthz" \
	--cacert "$TEST_TMP/second.pem" \
	--resolve "localhost:$RELAY_PORT:127.0.0.1")" 200 \
	"TLS: healthz over the new certificate"

# A key that does not match the certificate fails the reload, and the
# certificate in force stays.
cp "$PKI_DIR/server.key" "$TEST_TMP/tls.key"
reload
tap_like "$(grep 'event=reload_failed' "$RELAY_LOG" | tail -n 1)" \
	'tls' "TLS: a mismatched key fails the reload"
tap_like "$(served_subject)" 'snsrelay reload test' \
	"TLS: the certificate in force stays"
stop_relay

tap_done
