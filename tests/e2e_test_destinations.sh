#!/bin/sh
# End-to-end: "snsrelay test-destinations" posts one alert marked as a
# test to mock Discord, Slack, Teams and generic webhooks, each in its
# own format.  It prints one line per destination, with a hint for each
# failure.  It neither creates nor changes the spool, also while a relay
# runs on it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

OUT=$TEST_TMP/test-cli.out
ERR=$TEST_TMP/test-cli.err
spool=$TEST_TMP/shared-spool.db
posts='.method == "POST"'
example=$top_srcdir/docs/examples/authorize-ssh-from-anywhere.json

# run_test CONFIG [ARGUMENTS...]: runs "snsrelay -c CONFIG
# test-destinations ARGUMENTS" with standard output in $OUT and standard
# error in $ERR, and sets STATUS to its exit status.
run_test() {
	lib_conf=$1
	shift
	"$top_builddir/snsrelay" -c "$lib_conf" test-destinations "$@" \
		>"$OUT" 2>"$ERR"
	STATUS=$?
}

# dest_line NAME: prints the output line of destination NAME.
dest_line() {
	grep -E "^$1 " "$OUT"
}

# body RECORD [JQ_FILTER]: prints the last recorded request body,
# filtered by JQ_FILTER when given.
body() {
	tail -n 1 "$1" | jq -r .body | jq -r "${2:-.}"
}

# write_config NAME LINES...: writes $TEST_TMP/NAME.conf with the shared
# spool path and the given lines; prints its path.
write_config() {
	lib_conf=$TEST_TMP/$1.conf
	shift
	{
		config_base "$(basename "$lib_conf" .conf)" "$spool"
		for lib_line in "$@"; do
			echo "$lib_line"
		done
	} >"$lib_conf"
	echo "$lib_conf"
}

start_mock discord || tap_bail "cannot start the Discord mock"
discord_pid=$MOCK_PID discord_rec=$MOCK_REC
discord_url=http://127.0.0.1:$MOCK_PORT/api/webhooks/123/discordsecret
start_mock slack || tap_bail "cannot start the Slack mock"
slack_pid=$MOCK_PID slack_rec=$MOCK_REC
slack_url=http://127.0.0.1:$MOCK_PORT/services/T0/B0/slacksecret
start_mock generic || tap_bail "cannot start the generic mock"
generic_pid=$MOCK_PID generic_rec=$MOCK_REC
generic_url=http://127.0.0.1:$MOCK_PORT/hooks/genericsecret

good=$(write_config good \
	"discord_webhook_url = $discord_url" \
	"webhook = chat $slack_url slack" \
	"webhook = pager $generic_url generic")

# ---- every destination accepts

run_test "$good"
tap_is "$STATUS" 0 "all ok exits 0"
tap_like "$(dest_line discord)" '^discord +discord +http://127\.0\.0\.1:[0-9]+/api/REDACTED/REDACTED/REDACTED +ok, HTTP 200 in [0-9]+ ms$' \
	"all ok discord line"
tap_like "$(dest_line chat)" '^chat +slack +http://127\.0\.0\.1:[0-9]+/services/REDACTED/REDACTED/REDACTED +ok, HTTP 200 in [0-9]+ ms$' \
	"all ok slack line"
tap_like "$(dest_line pager)" '^pager +generic +http://127\.0\.0\.1:[0-9]+/hooks/REDACTED +ok, HTTP 200 in [0-9]+ ms$' \
	"all ok generic line"
tap_contains "$(tail -n 1 "$OUT")" "3 of 3 destinations accepted" \
	"all ok summary line"
tap_unlike "$(cat "$OUT" "$ERR")" 'discordsecret|slacksecret|genericsecret' \
	"all ok output hides the tokens"
tap_is "$(mock_count "$discord_rec" "$posts")" 1 "discord mock got one POST"
tap_is "$(mock_count "$slack_rec" "$posts")" 1 "slack mock got one POST"
tap_is "$(mock_count "$generic_rec" "$posts")" 1 "generic mock got one POST"
tap_ok "[ ! -e '$spool' ]" "all ok creates no spool"

# Discord: an embed with mentions disabled, posted with wait=true.
tap_is "$(tail -n 1 "$discord_rec" | jq -r .query)" "wait=true" \
	"discord body posted with wait=true"
tap_like "$(body "$discord_rec" '.embeds[0].title')" 'TEST from snsrelay on ' \
	"discord embed title says test"
tap_like "$(body "$discord_rec" '.embeds[0].description')" \
	'^Test only, not a real change: sent by "snsrelay test-destinations" on .+ at [0-9T:-]+Z' \
	"discord embed description says test"
tap_is "$(body "$discord_rec" '.allowed_mentions.parse | length')" 0 \
	"discord mentions disabled"
# Slack: Block Kit with a header block.
tap_is "$(body "$slack_rec" '.blocks[0].type')" header \
	"slack body starts with a header block"
tap_like "$(body "$slack_rec" '.blocks[0].text.text')" 'TEST from snsrelay on ' \
	"slack header says test"
tap_contains "$(body "$slack_rec" '.text')" "TEST from snsrelay" \
	"slack fallback text says test"
# Generic: the alert document itself.
tap_is "$(body "$generic_rec" '.schema')" snsrelay.alert/1 \
	"generic body is an alert document"
tap_is "$(body "$generic_rec" '.test')" true "generic alert has test true"
tap_is "$(body "$generic_rec" '.kind')" security_group_change \
	"generic alert went through the security-group formatter"
tap_like "$(body "$generic_rec" '.title')" '^TEST from snsrelay on ' \
	"generic title says test"
tap_contains "$(body "$generic_rec" '.summary')" "not a real change" \
	"generic summary says not a real change"

# ---- one destination by name

run_test "$good" --destination chat
tap_is "$STATUS" 0 "one destination exits 0"
tap_is "$(grep -c . "$OUT")" 2 "one destination prints its line and summary"
tap_is "$(mock_count "$slack_rec" "$posts")" 2 "named destination got a POST"
tap_is "$(mock_count "$discord_rec" "$posts")" 1 "other destination got none"

run_test "$good" --destination nowhere
tap_is "$STATUS" 2 "unknown destination exits 2"
tap_contains "$(cat "$ERR")" 'no destination is named "nowhere"; the configured destinations are: discord, chat, pager' \
	"unknown destination lists the names"
run_test "$good" --destination
tap_is "$STATUS" 2 "missing destination name exits 2"
run_test "$good" --verbose
tap_is "$STATUS" 2 "unknown option exits 2"
run_test "$good" --help
tap_is "$STATUS" 0 "help exits 0"
tap_contains "$(cat "$OUT")" "Usage: snsrelay [-c FILE] test-destinations" \
	"help prints the usage"
tap_is "$(mock_count "$generic_rec" "$posts")" 1 \
	"usage errors and help send nothing"

# ---- --event FILE

run_test "$good" --destination pager --event "$example"
tap_is "$STATUS" 0 "event file exits 0"
tap_is "$(body "$generic_rec" '.event.id')" \
	9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d "event file is the one formatted"
tap_is "$(body "$generic_rec" '.security_groups[0].id')" \
	sg-0123456789abcdef0 "event file security group"
tap_like "$(body "$generic_rec" '.title')" '^TEST from snsrelay on ' \
	"event file title says test"

printf '{"detail-type": ' >"$TEST_TMP/broken.json"
run_test "$good" --event "$TEST_TMP/broken.json"
tap_is "$STATUS" 2 "invalid event file exits 2"
tap_contains "$(cat "$ERR")" "is not an EventBridge event: invalid JSON" \
	"invalid event file says why"
run_test "$good" --event "$TEST_TMP/missing.json"
tap_is "$STATUS" 2 "missing event file exits 2"
tap_contains "$(cat "$ERR")" "cannot open the event file" \
	"missing event file says why"
tap_is "$(mock_count "$generic_rec" "$posts")" 2 \
	"bad event files send nothing"

# ---- failures: 404, 429, timeout, refused, password in the URL

start_mock gone --status 404 || tap_bail "cannot start the 404 mock"
gone_url=http://127.0.0.1:$MOCK_PORT/webhookb2/gonesecret
start_mock limited --status 429 || tap_bail "cannot start the 429 mock"
limited_url=http://127.0.0.1:$MOCK_PORT/hooks/limitedsecret
start_mock slow --delay-ms 5000 || tap_bail "cannot start the slow mock"
slow_pid=$MOCK_PID
slow_url=http://127.0.0.1:$MOCK_PORT/hooks/slowsecret

bad=$(write_config bad \
	"delivery_timeout = 300ms" \
	"discord_webhook_url = $discord_url" \
	"webhook = gone $gone_url teams" \
	"webhook = limited $limited_url generic" \
	"webhook = slow $slow_url generic" \
	"webhook = down http://127.0.0.1:$CLOSED_PORT/hooks/downsecret generic" \
	"webhook = basic https://alice:pa55word@127.0.0.1:$CLOSED_PORT/hooks/basicsecret generic")

run_test "$bad"
tap_is "$STATUS" 1 "a failed destination exits 1"
tap_like "$(dest_line discord)" ' ok, HTTP 200 in ' \
	"failures leave the good destination ok"
tap_like "$(dest_line gone)" '^gone +teams +http://127\.0\.0\.1:[0-9]+/webhookb2/REDACTED +failed, HTTP 404 in [0-9]+ ms: .*; the webhook URL is wrong or the webhook was deleted' \
	"404 line says failed with the hint"
# The mock sends retry_after 0.5 and Retry-After: 1; the longer wins.
tap_like "$(dest_line limited)" 'failed, HTTP 429 in [0-9]+ ms: .*; rate limited; retry after 1 s$' \
	"429 line says when to retry"
tap_like "$(dest_line slow)" 'failed after [0-9]+ ms: .*timed out.*; no answer within delivery_timeout \(300 ms\); check the network path to the service and any proxy' \
	"timeout line points at the network and proxy"
tap_like "$(dest_line down)" 'failed after [0-9]+ ms: .*; check the host name, DNS, the network path and any proxy' \
	"refused line points at the host and network"
tap_like "$(dest_line basic)" '^basic +generic +https://REDACTED@127\.0\.0\.1:1/hooks/REDACTED +failed' \
	"user info is redacted in the line"
tap_contains "$(tail -n 1 "$OUT")" "1 of 6 destinations accepted" \
	"failures summary line"
tap_unlike "$(cat "$OUT" "$ERR")" 'pa55word|alice|gonesecret|limitedsecret|slowsecret|downsecret|basicsecret' \
	"failure output hides passwords and tokens"
kill_pid "$slow_pid"

# ---- no webhook: standard output

stdout_conf=$(write_config stdout-only)
run_test "$stdout_conf"
tap_is "$STATUS" 0 "stdout only exits 0"
tap_contains "$(cat "$ERR")" "no webhook is configured" \
	"stdout only says no webhook is configured"
tap_is "$(head -n 1 "$OUT" | jq -r .test)" true \
	"stdout only prints the alert JSON"
tap_like "$(dest_line stdout)" '^stdout +stdout +- +ok, the alert is printed above' \
	"stdout only line"

tap_ok "[ ! -e '$spool' ] && [ ! -e '$spool-wal' ]" \
	"no run created the spool"

# ---- a relay runs on the same spool

start_relay "$good" || tap_bail "relay did not start"
before=$(mock_count "$generic_rec" "$posts")
run_test "$good" --destination pager
tap_is "$STATUS" 0 "with a running relay exits 0"
tap_is "$(mock_count "$generic_rec" "$posts")" $((before + 1)) \
	"with a running relay the mock got one POST"
spool_cli "$good" list all
tap_is "$SPOOL_STATUS" 0 "spool list works next to the relay"
tap_is "$(grep -vc '^ROW' "$SPOOL_OUT")" 0 \
	"with a running relay the spool holds no alert"
stop_relay
tap_is "$STOP_STATUS" 0 "relay stops cleanly"

sum_before=$(cksum <"$spool")
run_test "$good" --destination pager
tap_is "$STATUS" 0 "existing spool exits 0"
tap_is "$(cksum <"$spool")" "$sum_before" "existing spool is unchanged"
tap_ok "[ ! -e '$spool-wal' ] && [ ! -e '$spool-journal' ]" \
	"existing spool gets no journal"

stop_mock "$discord_pid"
stop_mock "$slack_pid"
stop_mock "$generic_pid"
tap_done
