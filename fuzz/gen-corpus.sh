#!/bin/sh
# Writes the seed corpora of the fuzz targets into fuzz/corpus/, from the
# project's own data (docs/examples/, conf/snsrelay.conf) and from the
# variants and edge cases below.  SNS envelopes are signed by
# snsrelay-sign with fuzz/sns-signing-key.pem, the key fuzz_sns_message
# trusts, so they verify in the target.  Needs jq and openssl.
#
# Usage: fuzz/gen-corpus.sh BUILD_DIR    (a built tree with snsrelay-sign)
#
# Envelopes, events and configurations are written with fixed times and
# ids, so a second run gives the same files.  Certificates get new dates
# and, for the small RSA and the EC key, new keys.  Files of earlier runs
# are replaced, others are kept.
set -eu

if [ $# -ne 1 ] || [ ! -x "$1/snsrelay-sign" ]; then
	echo "usage: $0 BUILD_DIR (a build tree with snsrelay-sign)" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
fuzz=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$fuzz/.." && pwd)
command -v jq >/dev/null 2>&1 || {
	echo "gen-corpus.sh: jq not found; tools/install-deps.sh installs it" >&2
	exit 1
}

example=$top/docs/examples/authorize-ssh-from-anywhere.json
events=$fuzz/corpus/fuzz_event_format
envelopes=$fuzz/corpus/fuzz_sns_message
configs=$fuzz/corpus/fuzz_config
certs=$fuzz/corpus/fuzz_cert_pem
mkdir -p "$events" "$envelopes" "$configs" "$certs"

# ------------------------------------------------------------- events

# event NAME JQ_FILTER: writes the example event changed by JQ_FILTER.
event() {
	jq "$2" "$example" >"$events/$1.json"
}

cp "$example" "$events/authorize-ssh-from-anywhere.json"
event authorize-egress '.detail.eventName = "AuthorizeSecurityGroupEgress"'
event revoke-ingress '.detail.eventName = "RevokeSecurityGroupIngress"
	| del(.detail.responseElements.securityGroupRuleSet)'
event revoke-egress-by-rule-id '.detail.eventName = "RevokeSecurityGroupEgress"
	| .detail.requestParameters = {groupId: "sg-0123456789abcdef0",
	    securityGroupRuleIds: {items: [
	      {securityGroupRuleId: "sgr-0a1b2c3d4e5f60718"}]}}'
event ipv6-all-traffic '.detail.requestParameters.ipPermissions.items[0]
	|= (.ipProtocol = "-1" | del(.fromPort, .toPort)
	| .ipRanges = {} | .ipv6Ranges = {items: [{cidrIpv6: "::/0"}]})'
event port-range-udp '.detail.requestParameters.ipPermissions.items[0]
	|= (.ipProtocol = "udp" | .fromPort = 1000 | .toPort = 65535
	| .ipRanges.items[0].cidrIp = "10.0.0.0/8")'
event icmp-prefix-list-and-group '.detail.requestParameters.ipPermissions.items =
	[{ipProtocol: "icmp", fromPort: 8, toPort: -1,
	  prefixListIds: {items: [{prefixListId: "pl-0123abcd"}]}},
	 {ipProtocol: "tcp", fromPort: 443, toPort: 443,
	  groups: {items: [{groupId: "sg-0fedcba9876543210",
	    userId: "210987654321"}]}}]'
event create-group '.detail.eventName = "CreateSecurityGroup"
	| .detail.requestParameters = {groupName: "web", vpcId: "vpc-0a1b2c3d",
	    groupDescription: "web servers"}
	| .detail.responseElements = {_return: true,
	    groupId: "sg-0aaaabbbbccccdddd"}'
event delete-group '.detail.eventName = "DeleteSecurityGroup"
	| .detail.requestParameters = {groupId: "sg-0123456789abcdef0"}
	| .detail.responseElements = {_return: true}'
event modify-rules '.detail.eventName = "ModifySecurityGroupRules"
	| .detail.requestParameters = {ModifySecurityGroupRulesRequest: {
	    GroupId: "sg-0123456789abcdef0",
	    SecurityGroupRule: {SecurityGroupRuleId: "sgr-0a1b2c3d4e5f60718",
	      SecurityGroupRule: {IpProtocol: "tcp", FromPort: 3389,
	        ToPort: 3389, CidrIpv4: "0.0.0.0/0",
	        Description: "rdp"}}}}'
event update-descriptions '.detail.eventName =
	"UpdateSecurityGroupRuleDescriptionsIngress"
	| .detail.requestParameters = {groupId: "sg-0123456789abcdef0",
	    securityGroupRuleDescriptions: {items: [
	      {securityGroupRuleId: "sgr-0a1b2c3d4e5f60718",
	       description: "office"}]}}'
event failed-call '.detail.errorCode = "Client.UnauthorizedOperation"
	| .detail.errorMessage = "You are not authorized to perform this operation."
	| del(.detail.responseElements)'
event root-user '.detail.userIdentity = {type: "Root",
	principalId: "123456789012", arn: "arn:aws:iam::123456789012:root",
	accountId: "123456789012"}'
event aws-service-terraform '.detail.userIdentity.invokedBy =
	"cloudformation.amazonaws.com"
	| .detail.userAgent = "APN/1.0 HashiCorp/1.0 Terraform/1.5.7"'
event many-rules '.detail.requestParameters.ipPermissions.items[0]
	.ipRanges.items = [range(40) | {cidrIp: "198.51.100.\(.)/32",
	  description: "host \(.) of the build farm"}]'
event markup-and-mentions '.detail.requestParameters.ipPermissions
	.items[0].ipRanges.items[0].description =
	"@everyone <@123456> <!channel> @here **bold** `code` ||x|| [a](b) # h"
	| .detail.userIdentity.arn = "arn:aws:sts::1:assumed-role/r/_x_*y*~z~"'
event controls-and-bidi '.detail.requestParameters.ipPermissions
	.items[0].ipRanges.items[0].description =
	"a\u0007b\u001bc\u202ed\u2066e\u0085f\nline\ttab"'
event long-description '.detail.requestParameters.ipPermissions
	.items[0].ipRanges.items[0].description = ([range(700)] | map("ab\u00e9")
	| join(""))'
event korean-text '.detail.requestParameters.ipPermissions.items[0]
	.ipRanges.items[0].description = "임시 디버그 접근"'
event pascal-case '.detail.requestParameters = {GroupId:
	"sg-0123456789abcdef0", IpPermissions: {Items: [{IpProtocol: "tcp",
	FromPort: 22, ToPort: 22, IpRanges: {Items: [{CidrIp: "0.0.0.0/0"}]}}]}}'
event wrong-types '.detail.requestParameters.ipPermissions.items[0]
	|= (.fromPort = "22" | .toPort = 1e20 | .ipRanges.items[0].cidrIp = 5)'
event not-security-group '.detail.eventName = "RunInstances"'
jq '.detail' "$example" >"$events/cloudtrail-record-alone.json"

cat >"$events/cloudwatch-alarm.json" <<'EOF'
{"AlarmName":"cpu-high","AlarmDescription":"CPU above 90%","AWSAccountId":"123456789012","NewStateValue":"ALARM","NewStateReason":"Threshold Crossed: 1 datapoint [95.0] was greater than the threshold (90.0).","StateChangeTime":"2024-05-01T10:00:00.000+0000","Region":"US East (N. Virginia)","OldStateValue":"OK","Trigger":{"MetricName":"CPUUtilization","Namespace":"AWS/EC2","Statistic":"AVERAGE","Period":300,"EvaluationPeriods":1,"ComparisonOperator":"GreaterThanThreshold","Threshold":90.0}}
EOF
printf 'Subject: Disk usage above 90%% on db-1\nFree space on /var is 4 GiB.\n' \
	>"$events/plain-text-with-subject.txt"
printf 'Subject: @everyone\n<@123> *bold* \033[31m red\n' \
	>"$events/plain-text-markup.txt"
printf '{"source":"custom.app","detail-type":"Deploy","time":"2024-05-01T10:00:00Z","detail":{"service":"api","version":"1.2.3"}}' \
	>"$events/eventbridge-other.json"
printf '{"a":[1,2,{"b":null}],"c":true,"d":1.5e300}' >"$events/json-other.json"
printf '\377\376not UTF-8 \300\200' >"$events/invalid-utf8.txt"
: >"$events/empty.txt"

# ---------------------------------------------------------- envelopes

key=$fuzz/sns-signing-key.pem
cert_hex=f022000000000000000000000000000
topic=arn:aws:sns:us-east-1:123456789012:sg-alerts
host=https://sns.us-east-1.amazonaws.com
message=$(jq -c . "$example")

# sign NAME [snsrelay-sign options]: writes a signed envelope.
sign() {
	sign_name=$1
	shift
	"$build/snsrelay-sign" --key "$key" --timestamp 2024-05-01T10:00:05.123Z \
		--message-id 2f8c3b4e-5a6d-4e7f-8a9b-0c1d2e3f4a5b "$@" \
		>"$envelopes/$sign_name.json"
}

sign notification-v2 --cert-url "$host/SimpleNotificationService-${cert_hex}1.pem" \
	--topic-arn "$topic" --message "$message" \
	--unsubscribe-url "$host/?Action=Unsubscribe&SubscriptionArn=$topic:1"
sign notification-v1-subject --signature-version 1 --subject "SG change" \
	--cert-url "$host/SimpleNotificationService-${cert_hex}1.pem" \
	--topic-arn "$topic" --message "$message"
sign notification-regional-cert \
	--cert-url "https://sns.ap-southeast-3.amazonaws.com/SimpleNotificationService-${cert_hex}2.pem" \
	--topic-arn arn:aws:sns:ap-southeast-3:123456789012:sg-alerts \
	--message "plain text"
sign notification-china \
	--cert-url "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-${cert_hex}1.pem" \
	--topic-arn arn:aws-cn:sns:cn-north-1:123456789012:sg-alerts \
	--message "plain text"
sign notification-wrong-cert-name \
	--cert-url "$host/SimpleNotificationService-${cert_hex}3.pem" \
	--topic-arn "$topic" --message "x"
sign notification-cert-not-pem \
	--cert-url "$host/SimpleNotificationService-${cert_hex}4.pem" \
	--topic-arn "$topic" --message "x"
sign notification-local-host \
	--cert-url "https://127.0.0.1:8443/SimpleNotificationService-${cert_hex}1.pem" \
	--topic-arn "$topic" --message "x"
sign subscription-confirmation --type SubscriptionConfirmation \
	--token 2336412f37fb687f5d51e6e2425dacbba \
	--subscribe-url "$host/?Action=ConfirmSubscription&TopicArn=$topic&Token=2336412f37fb687f5d51e6e2425dacbba" \
	--cert-url "$host/SimpleNotificationService-${cert_hex}1.pem" \
	--topic-arn "$topic" \
	--message "You have chosen to subscribe to the topic $topic."
sign unsubscribe-confirmation --type UnsubscribeConfirmation \
	--signature-version 1 --token 2336412f37fb687f5d51e6e2425dacbbb \
	--subscribe-url "$host/?Action=ConfirmSubscription&TopicArn=$topic&Token=2336412f37fb687f5d51e6e2425dacbbb" \
	--cert-url "$host/SimpleNotificationService-${cert_hex}1.pem" \
	--topic-arn "$topic" --message "You have chosen to deactivate subscription."
sign notification-controls-in-message \
	--cert-url "$host/SimpleNotificationService-${cert_hex}1.pem" \
	--topic-arn "$topic" --message-file "$events/controls-and-bidi.json"

# Lambda-style key spellings; the signature still verifies.
sed 's/"SigningCertURL"/"SigningCertUrl"/; s/"UnsubscribeURL"/"UnsubscribeUrl"/' \
	"$envelopes/notification-v2.json" >"$envelopes/lambda-spelling.json"
# One byte changed in the signed Message.
sed 's/AuthorizeSecurityGroupIngress/AuthorizeSecurityGroupIngresS/' \
	"$envelopes/notification-v2.json" >"$envelopes/altered-message.json"
sed 's/"SignatureVersion" : "2"/"SignatureVersion" : "3"/' \
	"$envelopes/notification-v2.json" >"$envelopes/signature-version-3.json"
jq '.Subject = null' "$envelopes/notification-v2.json" \
	>"$envelopes/subject-null.json"
jq '.Message = "nul \u0000 inside"' "$envelopes/notification-v2.json" \
	>"$envelopes/message-with-nul-escape.json"

printf '%s' '{"Type":"Notification","Type":"Notification"}' \
	>"$envelopes/duplicate-key.json"
printf '%s' '{"Type":"Notification","MessageId":NaN}' >"$envelopes/nan.json"
printf '%s' "{'Type':'Notification'}" >"$envelopes/single-quotes.json"
printf '{"Type":"Noti\tfication"}' >"$envelopes/raw-tab.json"
printf '%s' '{"Type":"Notification"} x' >"$envelopes/trailing-data.json"
printf '%s' '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]' \
	>"$envelopes/deep-nesting.json"
printf '%s' 'null' >"$envelopes/null.json"
jq '.SigningCertUrl = .SigningCertURL' "$envelopes/notification-v2.json" \
	>"$envelopes/both-cert-url-spellings.json"
printf '%s' '<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:us-east-1:123456789012:sg-alerts:0f1e2d3c</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>' \
	>"$envelopes/confirm-response.xml"

# ------------------------------------------------------ configurations

cp "$top/conf/snsrelay.conf" "$configs/snsrelay.conf"
cat >"$configs/every-list.conf" <<'EOF'
listen = [::1]:8443
endpoint_path = "/sns/in"
topic = arn:aws:sns:us-east-1:123456789012:sg-alerts
topic = arn:aws:sns:*:123456789012:*
webhook = audit http://127.0.0.1:9000/hook generic
webhook = chat https://hooks.slack.com/services/T0/B0/X slack
webhook = teams https://example.com/workflows/1 teams
discord_webhook_url = https://discord.com/api/webhooks/1/token
filter = discord min_severity=high events=Authorize*,Revoke*
filter = audit events=*
timezone = Europe/Berlin
language = ko
high_risk_ports = 22,3389,8000-8100
world_open_min_prefix = 8
max_body_bytes = 256KiB
request_timeout = 30s
dedup_window = 1h
retry_min_delay = 250ms
retry_max_delay = 5m
allowed_sources = 10.0.0.0/8, 2001:db8::/32
trusted_proxies = 127.0.0.1
basic_auth_user = sns
basic_auth_password = "correct horse"
log_format = json
EOF
cat >"$configs/problems.conf" <<'EOF'
listen = 127.0.0.1
listne = 127.0.0.1:1
topic = arn:aws:sns:us-east-1
timezone = ../../etc/passwd
max_body_bytes = 1 PiB
request_timeout = -1s
webhook = bad name http://example.com/x
webhook = dup http://example.com/a generic
webhook = dup http://example.com/b slack
filter = nowhere min_severity=loud
retry_min_delay = 10m
retry_max_delay = 1s
tls_cert_file = missing.pem
cert_dir = /nonexistent
language = fr
log_level = verbose
= no name
no equals sign
value = "unterminated
EOF
printf 'listen = 127.0.0.1:8080\nlisten = 127.0.0.1:8081\r\n# comment\n\n\t topic = "a\\"b"\n' \
	>"$configs/repeats-and-quotes.conf"
printf 'topic = arn:aws:sns:us-east-1:1:x\0hidden\nlog_level = \033[31mred\n' \
	>"$configs/nul-and-escape.conf"
printf 'high_risk_ports = 65535,0-65535,1-0,70000\nworld_open_min_prefix = 33\n' \
	>"$configs/port-ranges.conf"
# -------------------------------------------------------- certificates

: "${OPENSSL:=openssl}"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/gen-corpus.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# cert NAME DNS_NAME [KEY]: a self-signed certificate for DNS_NAME (CN
# and subject alternative name) and KEY (default: the fuzz key), valid
# for 100 years from today.
cert() {
	"$OPENSSL" req -x509 -new -key "${3:-$key}" -subj "/CN=$2" \
		-addext "subjectAltName=DNS:$2" -days 36500 \
		-out "$certs/$1.pem" 2>"$scratch/openssl.log" || {
		cat "$scratch/openssl.log" >&2
		exit 1
	}
}

cert sns sns.amazonaws.com
cert sns-signing-regional sns-signing.ap-southeast-3.amazonaws.com
cert sns-china sns-cn-north-1.amazonaws.com.cn
cert sns-govcloud sns-us-gov-west-1.amazonaws.com
cert wrong-name example.com
"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$scratch/ec.key" 2>/dev/null
cert ec-key sns.amazonaws.com "$scratch/ec.key"
"$OPENSSL" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 \
	-out "$scratch/rsa1024.key" 2>/dev/null
cert rsa-1024 sns.amazonaws.com "$scratch/rsa1024.key"
cat "$certs/sns.pem" "$certs/wrong-name.pem" >"$certs/two-certificates.pem"
sed 's/$/\r/' "$certs/sns.pem" >"$certs/crlf-line-ends.pem"
{
	printf '\n  \n'
	cat "$certs/sns.pem"
	printf '\n\t\n'
} >"$certs/space-around.pem"
sed '1a Proc-Type: 4,ENCRYPTED' "$certs/sns.pem" >"$certs/pem-header.pem"
sed '3s/./!/' "$certs/sns.pem" >"$certs/not-base64.pem"
sed '$d' "$certs/sns.pem" >"$certs/no-end-line.pem"
{
	cat "$certs/sns.pem"
	echo "-----BEGIN PRIVATE KEY-----"
} >"$certs/second-block.pem"

echo "gen-corpus.sh: wrote $(ls "$events" | wc -l) event," \
	"$(ls "$envelopes" | wc -l) envelope, $(ls "$configs" | wc -l)" \
	"configuration and $(ls "$certs" | wc -l) certificate seeds"
