#!/bin/sh
# End-to-end: notifications relayed to a mock Discord webhook and a mock
# generic webhook.  Every EventBridge event in the fixtures is signed as
# the Message of a Notification, and the Discord payload the relay sends
# is checked field by field.  The relay responds once the alert is in its
# spool and delivers afterwards, so every check of a payload first waits
# for the mock to record it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

require_fixtures
gen_pki

topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
cert_url=https://127.0.0.1:1/$PKI_GOOD_CERT
events_dir=$SNSRELAY_FIXTURES/events
hook_path=/api/webhooks/123/secrettoken
body=$TEST_TMP/body.json
payload=$TEST_TMP/payload.json

# write_config NAME [extra lines]: a relay that reads the signing
# certificate from the seed directory.
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

# last_payload RECORD: writes the body of the last recorded request to
# $payload.
last_payload() {
	tail -n 1 "$1" | jq -r .body >"$payload"
}

# embed_fields: prints the first embed's fields as "name: value" lines with
# Discord's markdown escapes removed.
embed_fields() {
	jq -r '.embeds[0].fields[]? | "\(.name): \(.value)"' "$payload" |
		sed 's/\\//g'
}

# embed_text: prints every text of the first embed, one per line.
embed_text() {
	jq -r '.embeds[0] | [.title, .description, .footer.text,
		(.fields[]? | .name, .value)] | map(select(. != null)) |
		.[]' "$payload" | sed 's/\\//g'
}

# check_discord_request RECORD NAME: the request line and the envelope of
# the last Discord payload.
check_discord_request() {
	lib_last=$(tail -n 1 "$1")
	tap_is "$(printf '%s' "$lib_last" | jq -r .method)" POST \
		"$2: method"
	tap_is "$(printf '%s' "$lib_last" | jq -r .path)" "$hook_path" \
		"$2: webhook path"
	tap_like "$(printf '%s' "$lib_last" | jq -r .query)" \
		'(^|&)wait=true(&|$)' "$2: wait=true"
	tap_like "$(printf '%s' "$lib_last" | jq -r .content_type)" \
		'^application/json' "$2: content type"
	last_payload "$1"
	tap_is "$(jq -c .allowed_mentions.parse "$payload")" '[]' \
		"$2: allowed_mentions parse nothing"
	tap_is "$(jq '.embeds | length' "$payload")" 1 "$2: one embed"
	tap_like "$(jq -r '.embeds[0].title // empty' "$payload")" '.' \
		"$2: embed title"
	tap_ok '[ "$(jq ".embeds[0].fields // [] | length" "$payload")" \
		-le 25 ]' "$2: at most 25 fields"
	tap_ok '[ "$(jq "[.embeds[0] | .title, .description, .footer.text,
		(.fields[]? | .name, .value)] | map(select(. != null) |
		length) | add" "$payload")" -le 6000 ]' \
		"$2: at most 6000 characters"
}

# check_sg_fields EVENT NAME: the embed fields name the event's group,
# caller, source address, region, account and rules.
check_sg_fields() {
	lib_fields=$(embed_fields)
	lib_detail=$(jq -c .detail "$1")
	tap_contains "$lib_fields" "$(printf '%s' "$lib_detail" | jq -r \
		'.requestParameters.groupId // .responseElements.groupId')" \
		"$2: fields show group id"
	tap_contains "$lib_fields" \
		"$(printf '%s' "$lib_detail" | jq -r .userIdentity.arn)" \
		"$2: fields show user ARN"
	tap_contains "$lib_fields" \
		"$(printf '%s' "$lib_detail" | jq -r .sourceIPAddress)" \
		"$2: fields show source IP"
	tap_contains "$lib_fields" \
		"$(printf '%s' "$lib_detail" | jq -r .awsRegion)" \
		"$2: fields show region"
	tap_contains "$lib_fields" "$(jq -r .account "$1")" \
		"$2: fields show account"
	tap_like "$(embed_text)" "$(jq -r .detail.eventName "$1")" \
		"$2: embed names the API call"
	for lib_cidr in $(jq -r '.detail.requestParameters |
	    (.cidrIp // empty),
	    (.ipPermissions.items[]? | (.ipRanges.items[]?.cidrIp),
	    (.ipv6Ranges.items[]?.cidrIpv6), (.groups.items[]?.groupId))' \
	    "$1"); do
		tap_contains "$lib_fields" "$lib_cidr" \
			"$2: fields show rule $lib_cidr"
	done
}

# Checks that an event opening port 22 shows protocol and port.
check_port_22() {
	tap_like "$(embed_fields)" '[Tt][Cc][Pp]' "$1: rule protocol tcp"
	tap_like "$(embed_fields)" '(^|[^0-9])22([^0-9]|$)' "$1: rule port 22"
}

# ------------------------------------------------- events to Discord

start_mock discord || tap_bail "mock_server did not start"
discord_rec=$MOCK_REC
discord_port=$MOCK_PORT
write_config relay \
	"discord_webhook_url = http://127.0.0.1:$discord_port$hook_path"
start_relay "$TEST_TMP/relay.conf" relay || tap_bail "the relay did not start"
relay_out=$RELAY_OUT

for event in "$events_dir"/*.json; do
	name=$(basename "$event" .json)
	case $name in
	*-fragment-*) continue ;;
	esac
	sign --cert-url "$cert_url" --topic-arn "$topic" \
		--message-file "$event" --message-id "notify-$name" \
		>"$body" || tap_bail "snsrelay-sign failed on $name"
	before=$(wc -l <"$discord_rec")
	tap_is "$(post_sns "$body")" 200 "$name: accepted"
	tap_is "$(response_field .result)" accepted "$name: result"
	wait_for_mock_count "$discord_rec" true $((before + 1))
	tap_is "$(($(wc -l <"$discord_rec") - before))" 1 \
		"$name: one Discord request"
	check_discord_request "$discord_rec" "$name"
	case $name in
	*SecurityGroup*) check_sg_fields "$event" "$name" ;;
	esac
	case $name in
	AuthorizeSecurityGroupIngress-[345]) check_port_22 "$name" ;;
	esac
done
tap_is "$(wc -c <"$relay_out" | tr -d ' ')" 0 "nothing on stdout"

# ----------------------------------------------- plain text message

sign --cert-url "$cert_url" --topic-arn "$topic" \
	--subject "Disk usage above 90% on db-1" \
	--message "Free space on /var is 4 GiB." \
	--message-id notify-plain >"$body" || tap_bail "snsrelay-sign failed"
before=$(wc -l <"$discord_rec")
tap_is "$(post_sns "$body")" 200 "plain text: accepted"
tap_ok 'wait_for_mock_count "$discord_rec" true $((before + 1))' \
	"plain text: Discord request"
check_discord_request "$discord_rec" "plain text"
tap_like "$(jq -r '.embeds[0].title' "$payload" | sed 's/\\//g')" \
	'Disk usage above 90% on db-1' "plain text: title is subject"
tap_like "$(embed_text)" 'Free space on /var is 4 GiB' \
	"plain text: embed has message"

sign --cert-url "$cert_url" --topic-arn "$topic" \
	--subject "@everyone look" --message "ping @here and <@123456>" \
	--message-id notify-mention >"$body" || tap_bail "snsrelay-sign failed"
before=$(wc -l <"$discord_rec")
tap_is "$(post_sns "$body")" 200 "mentions: accepted"
tap_ok 'wait_for_mock_count "$discord_rec" true $((before + 1))' \
	"mentions: Discord request"
last_payload "$discord_rec"
tap_is "$(jq -c .allowed_mentions.parse "$payload")" '[]' \
	"mentions: parse nothing"
tap_unlike "$(jq -r '.. | strings' "$payload")" '@everyone|@here|<@123456>' \
	"mentions: broken up"
stop_relay

# ------------------------------------------------- Discord failures

sign --cert-url "$cert_url" --topic-arn "$topic" --subject "Failure test" \
	--message "Discord is down." --message-id notify-fail >"$body" ||
	tap_bail "snsrelay-sign failed"

# A 500 is transient.  The alert is accepted at once and retried until
# the webhook returns 200, and it is not sent again after that.
start_mock discord500 --status 500,500,200 ||
	tap_bail "mock_server did not start"
write_config relay500 \
	"discord_webhook_url = http://127.0.0.1:$MOCK_PORT$hook_path" \
	"retry_min_delay = 50ms" "retry_max_delay = 500ms"
start_relay "$TEST_TMP/relay500.conf" relay500 ||
	tap_bail "the relay for Discord 500 did not start"
tap_is "$(post_sns "$body")" 200 "Discord 500: relay 200"
tap_is "$(response_field .result)" accepted "Discord 500: accepted"
tap_ok 'wait_for_log_event "$RELAY_LOG" alert_delivered \
	"alert_id=\"?sns:notify-fail\"?( |\$)"' "Discord 500: delivered at last"
# A POST after the 200 would be a second copy of the alert.
sleep 0.3
tap_is "$(mock_count "$MOCK_REC" '.method == "POST"')" 3 \
	"Discord 500: two failures, one success"
tap_is "$(log_events "$RELAY_LOG" delivery_retry | wc -l | tr -d ' ')" 2 \
	"Discord 500: delivery_retry logged twice"
tap_like "$(log_events "$RELAY_LOG" delivery_retry)" \
	'destination="?discord.* status=500' "Discord 500: retry names status"
tap_like "$(log_events "$RELAY_LOG" alert_delivered)" \
	' attempts=3 .*status=200' "Discord 500: delivered on attempt 3"
retry_line=$(grep -n -E 'event=delivery_retry ' "$RELAY_LOG" |
	tail -n 1 | cut -d: -f1)
delivered_line=$(grep -n -E 'event=alert_delivered ' "$RELAY_LOG" |
	head -n 1 | cut -d: -f1)
tap_ok '[ "${retry_line:-0}" -gt 0 ] &&
	[ "${delivered_line:-0}" -gt "$retry_line" ]' \
	"Discord 500: retries logged before delivery"
stop_relay
stop_mock

# A 404 means the webhook is gone: the alert becomes a dead letter, the
# destination is disabled, and later alerts are dead without a POST.
start_mock discord404 --status 404 || tap_bail "mock_server did not start"
write_config relay404 \
	"discord_webhook_url = http://127.0.0.1:$MOCK_PORT$hook_path"
start_relay "$TEST_TMP/relay404.conf" relay404 ||
	tap_bail "the relay for Discord 404 did not start"
tap_is "$(post_sns "$body")" 200 "Discord 404: relay 200"
tap_is "$(response_field .result)" accepted "Discord 404: accepted"
tap_ok 'wait_for_log_event "$RELAY_LOG" dead_letter \
	"alert_id=\"?sns:notify-fail\"?( |\$)"' "Discord 404: dead letter"
tap_like "$(log_events "$RELAY_LOG" dead_letter)" 'reason=.*404' \
	"Discord 404: dead letter reason"
tap_like "$(log_events "$RELAY_LOG" destination_disabled)" \
	'destination="?discord' "Discord 404: destination_disabled logged"
spool_cli "$TEST_TMP/relay404.conf" list dead
tap_is "$SPOOL_STATUS" 0 "Discord 404: spool list exits 0"
tap_like "$(cat "$SPOOL_OUT")" '^[0-9]+ +sns:notify-fail +discord +dead ' \
	"Discord 404: spool list shows dead letter"
tap_unlike "$(cat "$SPOOL_OUT")" secrettoken \
	"Discord 404: spool list hides token"
sign --cert-url "$cert_url" --topic-arn "$topic" --subject "Failure test" \
	--message "Discord is gone." --message-id notify-gone >"$body" ||
	tap_bail "snsrelay-sign failed"
tap_is "$(post_sns "$body")" 200 "Discord 404: second alert 200"
tap_ok 'wait_for_log_event "$RELAY_LOG" dead_letter \
	"alert_id=\"?sns:notify-gone\"?( |\$)"' \
	"Discord 404: second alert dead"
tap_is "$(mock_count "$MOCK_REC" '.method == "POST"')" 1 \
	"Discord 404: no POST after 404"
stop_relay
stop_mock

# -------------------------------------------- DISCORD_WEBHOOK_URL

start_mock discordenv || tap_bail "mock_server did not start"
env_rec=$MOCK_REC
write_config relayenv
DISCORD_WEBHOOK_URL=http://127.0.0.1:$MOCK_PORT/api/webhooks/456/envtoken
export DISCORD_WEBHOOK_URL
start_relay "$TEST_TMP/relayenv.conf" relayenv ||
	tap_bail "the relay with DISCORD_WEBHOOK_URL did not start"
unset DISCORD_WEBHOOK_URL
tap_is "$(post_sns "$body")" 200 "environment URL: accepted"
wait_for_mock_count "$env_rec" true 1
tap_is "$(mock_count "$env_rec" \
	'.path == "/api/webhooks/456/envtoken"')" 1 \
	"environment URL: webhook called"
tap_is "$(wc -c <"$RELAY_OUT" | tr -d ' ')" 0 \
	"environment URL: nothing on stdout"
tap_unlike "$(cat "$RELAY_LOG")" 'envtoken' \
	"environment URL: token not logged"
stop_relay
stop_mock

# --------------------------------------------------- generic webhook

start_mock generic || tap_bail "mock_server did not start"
generic_rec=$MOCK_REC
write_config relaygeneric \
	"discord_webhook_url = http://127.0.0.1:$discord_port$hook_path" \
	"webhook = audit http://127.0.0.1:$MOCK_PORT/hook generic"
start_relay "$TEST_TMP/relaygeneric.conf" relaygeneric ||
	tap_bail "the relay with a generic webhook did not start"
event=$events_dir/AuthorizeSecurityGroupIngress-5.json
sign --cert-url "$cert_url" --topic-arn "$topic" --message-file "$event" \
	--message-id notify-generic >"$body" || tap_bail "snsrelay-sign failed"
before=$(wc -l <"$discord_rec")
tap_is "$(post_sns "$body")" 200 "generic: accepted"
wait_for_mock_count "$generic_rec" true 1
wait_for_mock_count "$discord_rec" true $((before + 1))
tap_is "$(mock_count "$generic_rec" '.method == "POST"')" 1 \
	"generic: one request"
tap_is "$(jq -r .path "$generic_rec")" /hook "generic: path"
tap_like "$(jq -r .content_type "$generic_rec")" '^application/json' \
	"generic: content type"
jq -r .body "$generic_rec" >"$payload"
tap_is "$(jq -r .schema "$payload")" snsrelay.alert/1 "generic: schema"
tap_is "$(jq -r .kind "$payload")" security_group_change "generic: kind"
tap_like "$(jq -c . "$payload")" sg-0db7d4784c4db8612 \
	"generic: names the group"
tap_is "$(($(wc -l <"$discord_rec") - before))" 1 \
	"generic: Discord also called"
tap_ok 'wait_for_log_event "$RELAY_LOG" alert_delivered \
	"destination=\"?audit"' "generic: alert_delivered logged"
stop_relay

# ----------------------------------------------------------- secrets

tap_unlike "$(cat "$TEST_TMP"/relay*.log)" secrettoken \
	"webhook token never logged"

tap_done
