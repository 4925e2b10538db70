#!/bin/sh
# End-to-end: the snsrelay command line and configuration loading:
# --version, --help, --help-config, --check-config on the sample file and
# on broken files, environment overrides, and start-up failures.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

relay=$top_builddir/snsrelay
sample=$top_srcdir/conf/snsrelay.conf

# run NAME [arguments]: runs snsrelay with standard output in
# $TEST_TMP/NAME.out and standard error in $TEST_TMP/NAME.err; sets
# RUN_STATUS, RUN_OUT and RUN_ERR.
run() {
	lib_name=$1
	shift
	"$relay" "$@" >"$TEST_TMP/$lib_name.out" 2>"$TEST_TMP/$lib_name.err"
	RUN_STATUS=$?
	RUN_OUT=$(cat "$TEST_TMP/$lib_name.out")
	RUN_ERR=$(cat "$TEST_TMP/$lib_name.err")
}

# ------------------------------------------------- --version and --help

run version --version
tap_is "$RUN_STATUS" 0 "version exits 0"
tap_like "$(echo "$RUN_OUT" | head -n 1)" '^snsrelay [0-9]+\.[0-9]+\.[0-9]+' \
	"version first line"
for lib in libmicrohttpd libcurl json-c OpenSSL SQLite; do
	tap_like "$RUN_OUT" "^$lib [0-9]" "version names $lib"
done

run help --help
tap_is "$RUN_STATUS" 0 "help exits 0"
for opt in "-c, --config FILE" --check-config --help-config --version; do
	tap_contains "$RUN_OUT" "$opt" "help lists $opt"
done

run help_config --help-config
tap_is "$RUN_STATUS" 0 "help-config exits 0"
for opt in listen endpoint_path tls_cert_file tls_key_file max_body_bytes \
	max_connections max_connections_per_ip connection_memory_limit \
	request_timeout topic max_message_age max_clock_skew cert_dir \
	sns_host_pattern ca_file cert_cache_size cert_fetch_timeout \
	auto_confirm confirm_timeout discord_webhook_url webhook \
	delivery_timeout timezone log_level log_format spool_path \
	dedup_window delivery_max_age retry_min_delay retry_max_delay \
	shutdown_grace filter high_risk_ports world_open_min_prefix \
	severity_world_open_high_risk severity_world_open severity_root \
	severity_change severity_revoke; do
	tap_like "$RUN_OUT" "^$opt \(" "help-config lists $opt"
	tap_ok "grep -Eq '^#?$opt = ' '$sample'" "sample shows $opt"
done

run bad_option --no-such-option
tap_is "$RUN_STATUS" 2 "unknown command-line option exits 2"
run extra_arg extra
tap_is "$RUN_STATUS" 2 "extra argument exits 2"

# ------------------------------------------------------- --check-config

run sample --check-config -c "$sample"
tap_is "$RUN_STATUS" 0 "sample configuration passes"
tap_contains "$RUN_OUT" "configuration OK" "sample check prints OK"
# The sample configures no topic, which --check-config reports as a
# "warning: " line; any other line would be a problem.
tap_is "$(printf '%s\n' "$RUN_ERR" | grep -v '^warning: ')" "" \
	"sample check prints no problem"

run defaults --check-config
tap_is "$RUN_STATUS" 0 "embedded defaults pass"

bad=$TEST_TMP/bad.conf
cat >"$bad" <<EOF
# a comment, then a blank line

lsten = 127.0.0.1:8080
listen = localhost:8080
max_body_bytes = 10
request_timeout = soon
topic = arn:aws:sns:us-east-1:123456789012:sg-alerts
topic = not-an-arn
auto_confirm = maybe
webhook = audit https://example.com/hooks/a
webhook = audit http://example.com/hooks/b/secret-token
log_level = loud
log_level = info
endpoint_path
tls_cert_file = $TEST_TMP/missing-cert.pem
EOF
run bad --check-config -c "$bad"
tap_is "$RUN_STATUS" 1 "bad configuration exits 1"
for expected in \
	"$bad:3: unknown option \"lsten\"; did you mean \"listen\"?" \
	"$bad:4: invalid value \"localhost:8080\" for listen: expected a numeric address" \
	"$bad:5: max_body_bytes = 10 is out of range: expected 64KiB to 64MiB" \
	"$bad:6: invalid value \"soon\" for request_timeout: expected a duration" \
	"$bad:8: invalid value \"not-an-arn\" for topic:" \
	"$bad:9: invalid value \"maybe\" for auto_confirm: expected yes, no" \
	"$bad:11: duplicate webhook name \"audit\"" \
	"$bad:12: invalid value \"loud\" for log_level: expected one of" \
	"$bad:13: option \"log_level\" given twice (first on line 12)" \
	"$bad:14: missing '=' in \"endpoint_path\"" \
	"$bad: tls_cert_file and tls_key_file must be set together"; do
	where=${expected#"$bad:"}
	case $where in
	[0-9]*) where="line ${where%%:*}" ;;
	*) where="cross-option rule" ;;
	esac
	tap_contains "$RUN_ERR" "$expected" "bad file reports $where"
done
tap_like "$RUN_ERR" '^snsrelay: 11 configuration problems$' \
	"bad file counts every problem"
tap_unlike "$RUN_ERR" 'secret-token' "bad file hides webhook tokens"

# ------------------------------------------------ HTTPS key and certificate

if [ -n "${OPENSSL:-}" ]; then
	"$OPENSSL" req -x509 -newkey rsa:2048 -nodes -days 2 \
		-keyout "$TEST_TMP/tls-key.pem" -subj /CN=localhost \
		-out "$TEST_TMP/tls-cert.pem" >/dev/null 2>&1
	"$OPENSSL" genpkey -algorithm RSA -out "$TEST_TMP/other-key.pem" \
		>/dev/null 2>&1
	for case in match mismatch notakey; do
		case $case in
		match) key=$TEST_TMP/tls-key.pem ;;
		mismatch) key=$TEST_TMP/other-key.pem ;;
		notakey) key=$TEST_TMP/tls-cert.pem ;;
		esac
		printf 'tls_cert_file = %s\ntls_key_file = %s\n' \
			"$TEST_TMP/tls-cert.pem" "$key" >"$TEST_TMP/tls-$case.conf"
	done
	run tls_match --check-config -c "$TEST_TMP/tls-match.conf"
	tap_is "$RUN_STATUS" 0 "tls pair that matches passes"
	run tls_mismatch --check-config -c "$TEST_TMP/tls-mismatch.conf"
	tap_is "$RUN_STATUS" 1 "tls key of another certificate fails"
	tap_contains "$RUN_ERR" "tls_key_file is not the private key of the certificate in tls_cert_file" \
		"tls mismatch reported"
	run tls_notakey --check-config -c "$TEST_TMP/tls-notakey.conf"
	tap_is "$RUN_STATUS" 1 "tls key file without a key fails"
	tap_contains "$RUN_ERR" "tls_key_file holds no PEM private key" \
		"tls missing key reported"
else
	tap_skip "openssl command not found" 5
fi

run missing --check-config -c "$TEST_TMP/none.conf"
tap_is "$RUN_STATUS" 1 "missing file exits 1"
tap_contains "$RUN_ERR" "$TEST_TMP/none.conf: cannot open: " \
	"missing file reported"

# ------------------------------------------------ environment overrides

# Assignments in front of a shell function may outlive the call, so the
# variables are exported and unset explicitly.
SNSRELAY_MAX_CONNECTIONS=lots
export SNSRELAY_MAX_CONNECTIONS
run env_bad --check-config -c "$sample"
unset SNSRELAY_MAX_CONNECTIONS
tap_is "$RUN_STATUS" 1 "bad environment value exits 1"
tap_contains "$RUN_ERR" "environment:SNSRELAY_MAX_CONNECTIONS: invalid value \"lots\" for max_connections: expected a whole number" \
	"bad environment value reported"

DISCORD_WEBHOOK_URL=http://discord.example/api/webhooks/1/secret-token
export DISCORD_WEBHOOK_URL
run env_discord --check-config
unset DISCORD_WEBHOOK_URL
tap_is "$RUN_STATUS" 1 "bad DISCORD_WEBHOOK_URL exits 1"
tap_contains "$RUN_ERR" "environment:DISCORD_WEBHOOK_URL: invalid value" \
	"bad DISCORD_WEBHOOK_URL reported"
tap_unlike "$RUN_ERR" 'secret-token' "DISCORD_WEBHOOK_URL token hidden"

SNSRELAY_TOPIC='arn:aws:sns:us-east-1:123456789012:a,arn:aws:sns:*:123456789012:b'
export SNSRELAY_TOPIC
run env_topics --check-config -c "$sample"
unset SNSRELAY_TOPIC
tap_is "$RUN_STATUS" 0 "environment topic list accepted"

# The environment overrides the file in a running relay.
config=$TEST_TMP/relay.conf
{
	config_base relay
	echo "endpoint_path = /from-file"
} >"$config"
SNSRELAY_ENDPOINT_PATH=/from-env
SNSRELAY_AUTO_CONFIRM=no
export SNSRELAY_ENDPOINT_PATH SNSRELAY_AUTO_CONFIRM
start_relay "$config" env_relay || tap_bail "the relay did not start"
unset SNSRELAY_ENDPOINT_PATH SNSRELAY_AUTO_CONFIRM
ready=$(log_events "$RELAY_LOG" ready)
tap_like "$ready" ' path="?/from-env"?( |$)' "environment overrides the file"
tap_like "$ready" ' topics=0( |$)' "ready line counts topics"
tap_like "$ready" ' tls=off( |$)' "ready line tls off"
tap_like "$(log_events "$RELAY_LOG" starting)" " config=\"?$config\"?( |\$)" \
	"starting line names the file"
tap_ok "log_events '$RELAY_LOG' no_topics >/dev/null" "no_topics warning"
tap_ok "log_events '$RELAY_LOG' auto_confirm_off >/dev/null" \
	"auto_confirm off warning"
kill -HUP "$RELAY_PID"
sleep 0.2
tap_ok "kill -0 $RELAY_PID" "SIGHUP does not stop the relay"
stop_relay
tap_is "$STOP_STATUS" 0 "SIGTERM stops with status 0"
tap_ok "log_events '$RELAY_LOG' stopping >/dev/null" "stopping logged"
tap_ok "log_events '$RELAY_LOG' stopped >/dev/null" "stopped logged"

# ------------------------------------------------------ start-up failures

run startup_bad -c "$bad"
tap_is "$RUN_STATUS" 1 "invalid configuration does not start"
tap_like "$RUN_ERR" 'event=startup_failed .*code=config_invalid' \
	"invalid configuration logs startup_failed"

# A second relay on the port of a running one cannot bind.
start_relay "$config" first || tap_bail "the relay did not start"
SNSRELAY_LISTEN=127.0.0.1:$RELAY_PORT
export SNSRELAY_LISTEN
run busy -c "$config"
unset SNSRELAY_LISTEN
tap_is "$RUN_STATUS" 1 "port in use exits 1"
tap_like "$RUN_ERR" 'event=startup_failed ' "port in use logs startup_failed"
stop_relay

# Settings that work but are probably mistakes: warnings, not problems.
warn_out=$(SNSRELAY_LOGLEVEL=debug SNSRELAY_DISCORD_WEBHOOK=unused \
	SNSRELAY_TOPIC='arn:aws:sns:us-east-1:*:alerts' \
	SNSRELAY_TRUSTED_PROXIES=0.0.0.0/0 \
	"$top_builddir/snsrelay" --check-config 2>&1)
tap_is "$?" 0 "warnings: --check-config still succeeds"
tap_contains "$warn_out" 'SNSRELAY_LOGLEVEL: not an option, ignored; did you mean SNSRELAY_LOG_LEVEL?' \
	"warnings: a misspelt variable is named with a suggestion"
tap_contains "$warn_out" 'SNSRELAY_DISCORD_WEBHOOK: not an option, ignored; did you mean SNSRELAY_DISCORD_WEBHOOK_URL?' \
	"warnings: a cut-short variable is completed"
tap_contains "$warn_out" 'allows topics of any AWS account' \
	"warnings: a topic of any account"
tap_contains "$warn_out" 'trusted_proxies trusts every address' \
	"warnings: trusted_proxies 0.0.0.0/0"

tap_done
