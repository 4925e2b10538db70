#include "config.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "snsrelay/alert.h"
#include "snsrelay/buf.h"
#include "snsrelay/severity.h"
#include "snsrelay/text.h"

#include "tap.h"

#define MESSAGE_ID	"2f8c3b4e-5a6d-4e7f-8a9b-0c1d2e3f4a5b"
#define TOPIC_ARN	"arn:aws:sns:us-east-1:111122223333:sg-alerts"
#define SNS_TIMESTAMP	"2024-05-01T10:00:05.123Z"
#define RECEIVED_AT	1714557610	/* 2024-05-01T10:00:10Z */
#define FFFD		"\xEF\xBF\xBD"

/* ---- helpers ---- */

/* Length of array, 0 for anything else (json-c asserts on a non-array). */
static size_t
array_length(json_object *array)
{
	if (!json_object_is_type(array, json_type_array))
		return 0;
	return json_object_array_length(array);
}

static void
field_set(struct sns_field *f, const char *s, size_t len)
{
	f->str = NULL;
	f->len = 0;
	if (s == NULL)
		return;
	f->str = malloc(len + 1);
	memcpy(f->str, s, len);
	f->str[len] = '\0';
	f->len = len;
}

static void
msg_init(struct sns_message *m, const char *message, size_t len,
	 const char *subject)
{
	memset(m, 0, sizeof(*m));
	m->type = SNS_TYPE_NOTIFICATION;
	field_set(&m->type_name, "Notification", 12);
	field_set(&m->message, message, len);
	field_set(&m->message_id, MESSAGE_ID, strlen(MESSAGE_ID));
	field_set(&m->subject, subject, subject ? strlen(subject) : 0);
	field_set(&m->timestamp, SNS_TIMESTAMP, strlen(SNS_TIMESTAMP));
	field_set(&m->topic_arn, TOPIC_ARN, strlen(TOPIC_ARN));
}

static void
msg_free(struct sns_message *m)
{
	free(m->type_name.str);
	free(m->message.str);
	free(m->message_id.str);
	free(m->subject.str);
	free(m->timestamp.str);
	free(m->topic_arn.str);
}

static json_object *
alert_of_bytes(const char *message, size_t len, const char *subject)
{
	struct sns_message m;
	json_object *alert;

	msg_init(&m, message, len, subject);
	alert = alert_from_notification(&m, NULL, RECEIVED_AT);
	msg_free(&m);
	return alert;
}

static json_object *
alert_of(const char *message)
{
	return alert_of_bytes(message, strlen(message), NULL);
}

/* The member at a dotted path ("event.actor.name", "rules.0.text"). */
static json_object *
path_get(json_object *obj, const char *path)
{
	char key[128];
	const char *dot;
	size_t n;
	char *end;
	long idx;

	while (obj != NULL && *path != '\0') {
		dot = strchr(path, '.');
		n = dot ? (size_t)(dot - path) : strlen(path);
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		if (json_object_is_type(obj, json_type_array)) {
			idx = strtol(key, &end, 10);
			obj = json_object_array_get_idx(obj, (size_t)idx);
		} else if (!json_object_object_get_ex(obj, key, &obj)) {
			obj = NULL;
		}
		path += n + (dot != NULL);
	}
	return obj;
}

static const char *
path_str(json_object *obj, const char *path)
{
	json_object *val = path_get(obj, path);

	return json_object_is_type(val, json_type_string) ?
		json_object_get_string(val) : NULL;
}

static bool
path_is_null(json_object *obj, const char *path)
{
	json_object *val = NULL;
	const char *dot = strrchr(path, '.');
	char parent[128];

	snprintf(parent, sizeof(parent), "%.*s",
		 dot ? (int)(dot - path) : 0, path);
	return json_object_object_get_ex(dot ? path_get(obj, parent) : obj,
					 dot ? dot + 1 : path, &val) &&
	       val == NULL;
}

/* Joins member of each entry of array_key with sep; an entry without it
 * shows as "name:<name>" (for groups known by name only). */
static char *
join_members(json_object *alert, const char *array_key, const char *member,
	     const char *sep)
{
	json_object *array = path_get(alert, array_key), *item;
	const char *value;
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	buf_append_str(&b, "");
	for (i = 0; i < array_length(array); i++) {
		item = json_object_array_get_idx(array, i);
		value = path_str(item, member);
		if (i > 0)
			buf_append_str(&b, sep);
		if (value != NULL)
			buf_append_str(&b, value);
		else
			buf_printf(&b, "name:%s", path_str(item, "name"));
	}
	return buf_steal(&b);
}

/* True when the alert serializes to valid UTF-8 JSON. */
static bool
alert_is_valid_utf8(json_object *alert)
{
	const char *s = json_object_to_json_string_ext(alert,
		JSON_C_TO_STRING_PLAIN);
	struct json_tokener *tok = json_tokener_new();
	json_object *back;
	bool valid;

	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	back = json_tokener_parse_ex(tok, s, (int)strlen(s));
	valid = back != NULL;
	json_object_put(back);
	json_tokener_free(tok);
	return valid;
}

static size_t
length_of(const char *s)
{
	return s != NULL ? text_length(s) : 0;
}

static bool
has_prefix(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
contains(const char *s, const char *part)
{
	return s != NULL && strstr(s, part) != NULL;
}

static bool
is_severity(const char *s)
{
	static const char *const names[] = {
		"critical", "high", "medium", "low", "info", "warning",
	};
	size_t i;

	for (i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* The members every alert carries. */
static void
check_common(json_object *alert, const char *name)
{
	const char *id = path_str(alert, "alert_id");

	ok(alert != NULL, "%s: alert built", name);
	is_str(path_str(alert, "schema"), ALERT_SCHEMA, "%s: schema", name);
	ok(has_prefix(id, "cloudtrail:") || has_prefix(id, "sns:"),
	   "%s: alert_id prefix", name);
	ok(is_severity(path_str(alert, "severity")), "%s: severity known",
	   name);
	ok(path_str(alert, "title") && *path_str(alert, "title"),
	   "%s: title set", name);
	ok(path_str(alert, "summary") && *path_str(alert, "summary"),
	   "%s: summary set", name);
	is_str(path_str(alert, "received_at"), "2024-05-01T10:00:10Z",
	       "%s: received_at", name);
	is_str(path_str(alert, "sns.message_id"), MESSAGE_ID,
	       "%s: sns.message_id", name);
	is_str(path_str(alert, "sns.topic_arn"), TOPIC_ARN,
	       "%s: sns.topic_arn", name);
	is_str(path_str(alert, "sns.timestamp"), SNS_TIMESTAMP,
	       "%s: sns.timestamp", name);
	ok(path_str(alert, "sns.type") != NULL, "%s: sns.type", name);
	ok(path_get(alert, "sns.subject") != NULL ||
	   path_is_null(alert, "sns.subject"), "%s: sns.subject present",
	   name);
	ok(length_of(path_str(alert, "title")) <= 256,
	   "%s: title within 256", name);
	ok(alert_is_valid_utf8(alert), "%s: valid UTF-8", name);
}

static char *
read_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (fp == NULL)
		return NULL;
	buf_init(&b, 1 << 22);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	return buf_steal(&b);
}

static char *
read_fixture(const char *name)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/events/%s", tap_fixtures_dir(), name);
	return read_file(path);
}

/* ---- events built in the test ---- */

static const char event_template[] =
	"{\"version\":\"0\",\"id\":\"6a7e8feb-b491-4cf7-a9f1-bf3703467718\","
	"\"detail-type\":\"AWS API Call via CloudTrail\","
	"\"source\":\"aws.ec2\",\"account\":\"111122223333\","
	"\"time\":\"2024-05-01T10:00:02Z\",\"region\":\"us-east-1\","
	"\"resources\":[],\"detail\":{\"eventVersion\":\"1.09\","
	"\"userIdentity\":{\"type\":\"IAMUser\","
	"\"principalId\":\"AIDAEXAMPLEUSER000009\","
	"\"arn\":\"arn:aws:iam::444455556666:user/alice\","
	"\"accountId\":\"444455556666\",\"userName\":\"alice\"},"
	"\"eventTime\":\"2024-05-01T10:00:00Z\","
	"\"eventSource\":\"ec2.amazonaws.com\","
	"\"eventName\":\"AuthorizeSecurityGroupIngress\","
	"\"awsRegion\":\"eu-central-1\",\"sourceIPAddress\":\"192.0.2.10\","
	"\"userAgent\":\"aws-cli/2.15.0\",\"requestParameters\":{"
	"\"groupId\":\"sg-0a1\",\"ipPermissions\":{\"items\":[{"
	"\"ipProtocol\":\"tcp\",\"fromPort\":22,\"toPort\":22,\"groups\":{},"
	"\"ipRanges\":{\"items\":[{\"cidrIp\":\"0.0.0.0/0\"}]},"
	"\"ipv6Ranges\":{},\"prefixListIds\":{}}]}},"
	"\"responseElements\":{\"_return\":true},"
	"\"eventID\":\"0f0e0d0c-0000-4000-8000-000000000001\","
	"\"eventType\":\"AwsApiCall\","
	"\"recipientAccountId\":\"444455556666\"}}";

/* Sets the member at path to the JSON value, or deletes it when value is
 * NULL.  Array entries are addressed by index. */
static void
set_path(json_object *root, const char *path, const char *value)
{
	char parent[256];
	const char *dot = strrchr(path, '.');
	json_object *target = root, *val;
	char *end;
	long idx;

	if (dot != NULL) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(dot - path),
			 path);
		target = path_get(root, parent);
		path = dot + 1;
	}
	if (json_object_is_type(target, json_type_array)) {
		idx = strtol(path, &end, 10);
		val = value ? json_tokener_parse(value) : NULL;
		json_object_array_put_idx(target, (size_t)idx, val);
		return;
	}
	if (value == NULL) {
		json_object_object_del(target, path);
		return;
	}
	val = json_tokener_parse(value);
	if (val == NULL && strcmp(value, "null") != 0)
		diag("bad JSON in test: %s", value);
	json_object_object_add(target, path, val);
}

static json_object *
event_new(const char *call)
{
	json_object *event = json_tokener_parse(event_template);
	char name[128];

	snprintf(name, sizeof(name), "\"%s\"", call);
	set_path(event, "detail.eventName", name);
	return event;
}

static json_object *
alert_of_event(json_object *event)
{
	return alert_of(json_object_to_json_string_ext(event,
		JSON_C_TO_STRING_PLAIN));
}

/* ---- the fixtures ---- */

struct fixture_case {
	const char *file;
	const char *kind;
	const char *severity;
	const char *event_name;
	const char *groups;	/* ids joined with "," */
	const char *group_names;
	const char *region;
	const char *account;
	const char *user;
	const char *source_ip;
	const char *rules;	/* rule texts joined with " | " */
	const char *alert_id;
};

static const struct fixture_case fixture_cases[] = {
	{ "AuthorizeSecurityGroupEgress-1.json", "security_group_change",
	  "medium", "AuthorizeSecurityGroupEgress", "sg-038ccc3a1f7b05f42",
	  "name:(null)", "us-east-1", "123456789012",
	  "ec2-instance-role/i-06815aa7cf7d21f8f", "203.0.113.56",
	  "tcp 4444 to 198.51.100.36/32",
	  "cloudtrail:72a37ea2-cbf9-47bf-9ae0-0149d8acbbbc" },
	{ "AuthorizeSecurityGroupEgress-2.json", "security_group_change",
	  "medium", "AuthorizeSecurityGroupEgress", "sg-03eee825d6bb78f54",
	  "name:(null)", "us-east-1", "112233445566",
	  "ContinousDeployment/ryan@example.com", "203.0.113.142",
	  "all traffic to 0.0.0.0/0 \xE2\x80\x94 \"Allow egress to the "
	  "internet. Required for now until we land ECS/ECR endpoints in "
	  "the VPC\"",
	  "cloudtrail:1a593035-e072-49c4-8c72-4ff35e195330" },
	{ "AuthorizeSecurityGroupIngress-1.json", "security_group_change",
	  "critical", "AuthorizeSecurityGroupIngress", "sg-b15kasfs",
	  "name:(null)", "eu-west-1", "123456789012",
	  "AWSReservedSSO_AWSAdministratorAccess_0a1b2c3d4e5f6789/"
	  "jane.doe@example.com", "198.51.100.29",
	  "tcp all ports from 0.0.0.0/0",
	  "cloudtrail:ed2b58c7-5b71-49d8-412d-66b695f0e2a7" },
	{ "AuthorizeSecurityGroupIngress-2.json", "security_group_change",
	  "medium", "AuthorizeSecurityGroupIngress", "sg-01f414f5313452cd1",
	  "name:(null)", "us-east-1", "123456789012",
	  "SAML-InfraAdmin/jdoe@example.edu", "AWS Internal",
	  "tcp 1521 from sg-000537769a1c2d858 \xE2\x80\x94 \"Allows ingress "
	  "to an rds instance created in another stack from application "
	  "ec2 instances created in this stack.\"",
	  "cloudtrail:50dd3491-f4bc-4a04-a4e0-db6d5311049d" },
	{ "AuthorizeSecurityGroupIngress-3.json", "security_group_change",
	  "critical", "AuthorizeSecurityGroupIngress", "sg-003dc7f1f1c686164",
	  "name:(null)", "us-northeast-1r", "123456789012", "example-user",
	  "203.0.113.253", "tcp 22 from 198.51.100.254/0",
	  "cloudtrail:9fd68588-ecbf-4528-a345-199fa6bb0821" },
	{ "AuthorizeSecurityGroupIngress-4.json", "security_group_change",
	  "medium", "AuthorizeSecurityGroupIngress", "sg-0f63fecfa17ef4fee",
	  "name:(null)", "us-east-1", "123456789012", "test-user@example.com",
	  "198.51.100.56", "tcp 22 from 203.0.113.0/24",
	  "cloudtrail:c409b898-91e4-44d5-a994-68741a8a0212" },
	{ "AuthorizeSecurityGroupIngress-5.json", "security_group_change",
	  "critical", "AuthorizeSecurityGroupIngress", "sg-0db7d4784c4db8612",
	  "name:(null)", "us-east-1", "123456789012", "root",
	  "203.0.113.77", "tcp 22 from 0.0.0.0/0 | tcp 22 from ::/0",
	  "cloudtrail:7718d386-c058-4b0a-b6b7-6ffa2870aeaf" },
	{ "CreateSecurityGroup-1.json", "security_group_change", "high",
	  "CreateSecurityGroup", "sg-0efcc20525890441d", "dedeed",
	  "ap-south-1", "123456789012", "root", "203.0.113.82", "",
	  "cloudtrail:0bcc75d2-93a2-4872-98fb-11c364b5cbfb" },
	{ "CreateSecurityGroup-2.json", "security_group_change", "medium",
	  "CreateSecurityGroup", "sg-04d018d184a18f647",
	  "prod-webapp-webserver-security", "us-east-1", "112233445566",
	  "Operator/ryan@example.com", "203.0.113.142", "",
	  "cloudtrail:52601748-2659-4ed8-b5fd-c530547b07ec" },
	{ "DeleteSecurityGroup-1.json", "security_group_change", "medium",
	  "DeleteSecurityGroup", "sg-12345678901234567", "name:(null)",
	  "us-west-1", "0987654321", "john.doe",
	  "cloudformation.amazonaws.com", "",
	  "cloudtrail:12ab34c-1234-abcd-1234-123456789" },
	{ "FailedCall-EC2-RunInstances-1.json", "notification", "info",
	  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  "cloudtrail:1a4debbb-12e9-4bde-b8c7-ea29002bb2a7" },
	{ "RevokeSecurityGroupIngress-1.json", "security_group_change", "low",
	  "RevokeSecurityGroupIngress", "sg-0f4f552819eac34fc", "name:(null)",
	  "us-west-2", "123456789012", "example-admin", "192.0.2.20",
	  "tcp all ports from 127.0.0.1/32",
	  "cloudtrail:58dbdc64-e66c-4e2a-85ad-346393d8fe09" },
};

#define FRAGMENT_FILE "ModifySecurityGroupRules-fragment-1.json"

static const struct fixture_case *
fixture_case_find(const char *file)
{
	size_t i;

	for (i = 0; i < sizeof(fixture_cases) / sizeof(fixture_cases[0]); i++)
		if (strcmp(fixture_cases[i].file, file) == 0)
			return &fixture_cases[i];
	return NULL;
}

static void
check_joined(json_object *alert, const char *array, const char *member,
	     const char *sep, const char *want, const char *name,
	     const char *what)
{
	char *got = join_members(alert, array, member, sep);

	is_str(got, want, "%s: %s", name, what);
	free(got);
}

static void
check_fixture_sg(json_object *alert, const struct fixture_case *c)
{
	is_str(path_str(alert, "event.name"), c->event_name, "%s: event name",
	       c->file);
	check_joined(alert, "security_groups", "id", ",", c->groups, c->file,
		     "group ids");
	check_joined(alert, "security_groups", "name", ",", c->group_names,
		     c->file, "group names");
	is_str(path_str(alert, "event.region"), c->region, "%s: region",
	       c->file);
	is_str(path_str(alert, "event.account"), c->account, "%s: account",
	       c->file);
	is_str(path_str(alert, "event.actor.name"), c->user, "%s: user",
	       c->file);
	is_str(path_str(alert, "event.source_ip"), c->source_ip,
	       "%s: source IP", c->file);
	check_joined(alert, "rules", "text", " | ", c->rules, c->file,
		     "rule texts");
	ok(json_object_is_type(path_get(alert, "event.epoch"), json_type_int),
	   "%s: epoch", c->file);
}

static void
test_fixture(const struct fixture_case *c)
{
	char *text = read_fixture(c->file);
	json_object *alert;

	if (text == NULL) {
		ok(0, "%s: fixture readable", c->file);
		return;
	}
	alert = alert_of(text);
	check_common(alert, c->file);
	is_str(path_str(alert, "kind"), c->kind, "%s: kind", c->file);
	is_str(path_str(alert, "severity"), c->severity, "%s: severity",
	       c->file);
	is_str(path_str(alert, "alert_id"), c->alert_id, "%s: alert_id",
	       c->file);
	if (c->event_name != NULL)
		check_fixture_sg(alert, c);
	json_object_put(alert);
	free(text);
}

/* Every event file has a row in fixture_cases, so a new file cannot be
 * left untested. */
static void
test_fixture_coverage(const char *dir)
{
	struct dirent *ent;
	DIR *d = opendir(dir);
	size_t n, seen = 0;

	if (d == NULL) {
		ok(0, "fixture folder readable");
		return;
	}
	while ((ent = readdir(d)) != NULL) {
		n = strlen(ent->d_name);
		if (n < 5 || strcmp(ent->d_name + n - 5, ".json") != 0 ||
		    strcmp(ent->d_name, FRAGMENT_FILE) == 0)
			continue;
		ok(fixture_case_find(ent->d_name) != NULL,
		   "fixture %s has a case", ent->d_name);
		seen++;
	}
	closedir(d);
	is_int(seen, sizeof(fixture_cases) / sizeof(fixture_cases[0]),
	       "fixture count");
}

static void
test_fixtures(void)
{
	char dir[1024];
	size_t i;

	snprintf(dir, sizeof(dir), "%s/events", tap_fixtures_dir());
	test_fixture_coverage(dir);
	for (i = 0; i < sizeof(fixture_cases) / sizeof(fixture_cases[0]); i++)
		test_fixture(&fixture_cases[i]);
}

static void
test_failed_call_text(void)
{
	char *text = read_fixture("FailedCall-EC2-RunInstances-1.json");
	json_object *alert = text ? alert_of(text) : NULL;
	const char *body = path_str(alert, "text");

	is_str(path_str(alert, "format"), "eventbridge", "failed call: format");
	is_str(path_str(alert, "title"),
	       "AWS API Call via CloudTrail: RunInstances",
	       "failed call: title");
	ok(contains(body, "Detail type: AWS API Call via CloudTrail\n"),
	   "failed call: detail type line");
	ok(contains(body, "Region: ca-south-3r\n"), "failed call: region line");
	ok(contains(body, "API call: RunInstances\n"), "failed call: API line");
	ok(contains(body, "Error: Client.UnauthorizedOperation\n"),
	   "failed call: error line");
	ok(!contains(body, "{"), "failed call: no raw JSON");
	is_str(path_str(alert, "occurred_at"), "2024-08-01T11:30:23Z",
	       "failed call: occurred_at");
	json_object_put(alert);
	free(text);
}

/* The fragment is the requestParameters of a ModifySecurityGroupRules
 * record; it is placed into a full event here. */
static void
test_fragment(void)
{
	char *text = read_fixture(FRAGMENT_FILE);
	json_object *frag = text ? json_tokener_parse(text) : NULL;
	json_object *request = path_get(frag, "requestParameters");
	json_object *event = event_new("ModifySecurityGroupRules");
	json_object *alert;

	ok(request != NULL, "fragment: requestParameters read");
	set_path(event, "detail.requestParameters",
		 json_object_to_json_string(request));
	alert = alert_of_event(event);
	check_common(alert, "fragment");
	is_str(path_str(alert, "kind"), "security_group_change",
	       "fragment: kind");
	is_str(path_str(alert, "severity"), "high", "fragment: severity");
	check_joined(alert, "security_groups", "id", ",",
		     "sg-0123456789abcdef0", "fragment", "group ids");
	is_str(path_str(alert, "rules.0.text"),
	       "rule sgr-0d28445c956a5d8ac now tcp 443 with peer 0.0.0.0/0",
	       "fragment: rule text");
	is_str(path_str(alert, "rules.0.change"), "modified",
	       "fragment: change");
	ok(path_is_null(alert, "rules.0.direction"), "fragment: direction");
	is_str(path_str(alert, "rules.0.rule_id"), "sgr-0d28445c956a5d8ac",
	       "fragment: rule id");
	is_int(json_object_get_int(path_get(alert, "rules.0.from_port")), 443,
	       "fragment: from_port");
	is_str(path_str(alert, "title"),
	       "Security group rule opened to the internet: "
	       "sg-0123456789abcdef0", "fragment: title");
	json_object_put(alert);
	json_object_put(event);
	json_object_put(frag);
	free(text);
}

/* ---- request shapes ---- */

struct shape_case {
	const char *name;
	const char *call;
	const char *request;
	const char *response;	/* NULL: {"_return":true} */
	const char *extra_path;	/* another member to set, or NULL */
	const char *extra_value;
	const char *severity;
	const char *groups;
	const char *rules;
	const char *title;	/* NULL: not checked */
};

#define PERM(proto, from, to, coll) \
	"{\"groupId\":\"sg-0a1\",\"ipPermissions\":{\"items\":[{" \
	"\"ipProtocol\":" proto ",\"fromPort\":" from ",\"toPort\":" to \
	"," coll "}]}}"
#define RANGE(cidr) "\"ipRanges\":{\"items\":[{\"cidrIp\":\"" cidr "\"}]}"
#define RANGE6(cidr) \
	"\"ipv6Ranges\":{\"items\":[{\"cidrIpv6\":\"" cidr "\"}]}"
#define IN "AuthorizeSecurityGroupIngress"
#define OUT "AuthorizeSecurityGroupEgress"

static const struct shape_case shape_cases[] = {
	{ "prefix list", IN, PERM("\"tcp\"", "443", "443",
	  "\"groups\":{},\"ipRanges\":{},\"ipv6Ranges\":{},"
	  "\"prefixListIds\":{\"items\":[{\"prefixListId\":\"pl-63a5400a\","
	  "\"description\":\"S3\"}]}"), NULL, NULL, NULL, "medium", "sg-0a1",
	  "tcp 443 from pl-63a5400a \xE2\x80\x94 \"S3\"",
	  "AuthorizeSecurityGroupIngress on sg-0a1" },
	{ "group peer with account", IN, PERM("\"udp\"", "53", "53",
	  "\"groups\":{\"items\":[{\"groupId\":\"sg-0abc\","
	  "\"userId\":\"111122223333\"}]}"), NULL, NULL, NULL, "medium",
	  "sg-0a1", "udp 53 from sg-0abc (account 111122223333)", NULL },
	{ "group peer by name", IN, PERM("\"tcp\"", "80", "80",
	  "\"groups\":{\"items\":[{\"groupName\":\"lb\"}]}"), NULL, NULL,
	  NULL, "medium", "sg-0a1", "tcp 80 from lb", NULL },
	{ "icmp echo from world", IN, PERM("\"icmp\"", "8", "-1",
	  RANGE("0.0.0.0/0")), NULL, NULL, NULL, "high", "sg-0a1",
	  "icmp type 8 (echo-request) code -1 from 0.0.0.0/0",
	  "Security group ingress opened to the internet: sg-0a1" },
	{ "icmp all types", IN, PERM("\"icmp\"", "-1", "-1",
	  RANGE("10.0.0.0/8")), NULL, NULL, NULL, "medium", "sg-0a1",
	  "icmp all types from 10.0.0.0/8", NULL },
	{ "protocol 6", IN, PERM("\"6\"", "3389", "3389", RANGE("0.0.0.0/0")),
	  NULL, NULL, NULL, "critical", "sg-0a1", "tcp 3389 from 0.0.0.0/0",
	  NULL },
	{ "protocol 17", IN, PERM("\"17\"", "500", "500",
	  RANGE("192.0.2.0/24")), NULL, NULL, NULL, "medium", "sg-0a1",
	  "udp 500 from 192.0.2.0/24", NULL },
	{ "protocol 58", IN, PERM("\"58\"", "128", "0",
	  RANGE6("2001:db8::/32")), NULL, NULL, NULL, "medium", "sg-0a1",
	  "icmpv6 type 128 (echo-request) code 0 from 2001:db8::/32", NULL },
	{ "protocol 1", IN, PERM("\"1\"", "3", "4", RANGE("192.0.2.0/24")),
	  NULL, NULL, NULL, "medium", "sg-0a1",
	  "icmp type 3 (destination-unreachable) code 4 from 192.0.2.0/24",
	  NULL },
	{ "protocol as number", IN, PERM("6", "22", "22", RANGE("::/0")),
	  NULL, NULL, NULL, "critical", "sg-0a1", "tcp 22 from ::/0", NULL },
	{ "protocol 47", IN, PERM("\"47\"", "-1", "-1", RANGE("0.0.0.0/0")),
	  NULL, NULL, NULL, "high", "sg-0a1",
	  "protocol 47 (GRE) all ports from 0.0.0.0/0",
	  NULL },
	{ "uppercase protocol", IN, PERM("\"TCP\"", "22", "22",
	  RANGE("192.0.2.0/24")), NULL, NULL, NULL, "medium", "sg-0a1",
	  "tcp 22 from 192.0.2.0/24", NULL },
	{ "all traffic from ipv6 world", IN,
	  "{\"groupId\":\"sg-0a1\",\"ipPermissions\":{\"items\":[{"
	  "\"ipProtocol\":\"-1\"," RANGE6("::/0") "}]}}", NULL, NULL, NULL,
	  "critical", "sg-0a1", "all traffic from ::/0", NULL },
	{ "egress port range", OUT, PERM("\"tcp\"", "8000", "8100",
	  RANGE("10.0.0.0/8")), NULL, NULL, NULL, "medium", "sg-0a1",
	  "tcp 8000-8100 to 10.0.0.0/8",
	  "AuthorizeSecurityGroupEgress on sg-0a1" },
	{ "egress to world", OUT, PERM("\"tcp\"", "22", "22",
	  RANGE("0.0.0.0/0")), NULL, NULL, NULL, "medium", "sg-0a1",
	  "tcp 22 to 0.0.0.0/0", NULL },
	{ "range holding a risky port", IN, PERM("\"tcp\"", "2990", "3010",
	  RANGE("0.0.0.0/0")), NULL, NULL, NULL, "critical", "sg-0a1",
	  "tcp 2990-3010 from 0.0.0.0/0", NULL },
	{ "world https", IN, PERM("\"tcp\"", "443", "443",
	  RANGE("0.0.0.0/0")), NULL, NULL, NULL, "high", "sg-0a1",
	  "tcp 443 from 0.0.0.0/0",
	  "Security group ingress opened to the internet: sg-0a1" },
	{ "world safe range", IN, PERM("\"tcp\"", "10000", "10100",
	  RANGE6("::/0")), NULL, NULL, NULL, "high", "sg-0a1",
	  "tcp 10000-10100 from ::/0", NULL },
	{ "udp risky port", IN, PERM("\"udp\"", "5000", "5000",
	  RANGE("0.0.0.0/0")), NULL, NULL, NULL, "critical", "sg-0a1",
	  "udp 5000 from 0.0.0.0/0", NULL },
	{ "tcp without ports", IN,
	  "{\"groupId\":\"sg-0a1\",\"ipPermissions\":{\"items\":[{"
	  "\"ipProtocol\":\"tcp\"," RANGE("0.0.0.0/0") "}]}}", NULL, NULL,
	  NULL, "critical", "sg-0a1", "tcp from 0.0.0.0/0", NULL },
	{ "collections all empty", IN, PERM("\"tcp\"", "22", "22",
	  "\"groups\":{},\"ipRanges\":{},\"ipv6Ranges\":{},"
	  "\"prefixListIds\":{}"), NULL, NULL, NULL, "medium", "sg-0a1",
	  "tcp 22", NULL },
	{ "items empty array", IN, PERM("\"tcp\"", "22", "22",
	  "\"ipRanges\":{\"items\":[]}," RANGE6("2001:db8::/48")), NULL,
	  NULL, NULL, "medium", "sg-0a1", "tcp 22 from 2001:db8::/48", NULL },
	{ "items null", IN, PERM("\"tcp\"", "25", "25",
	  "\"ipRanges\":{\"items\":null},\"groups\":{\"items\":[{"
	  "\"groupId\":\"sg-0b2\"}]}"), NULL, NULL, NULL, "medium", "sg-0a1",
	  "tcp 25 from sg-0b2", NULL },
	{ "collection without items", IN, PERM("\"tcp\"", "80", "80",
	  "\"ipRanges\":{\"cidrIp\":\"192.0.2.1/32\"}"), NULL, NULL, NULL,
	  "medium", "sg-0a1", "tcp 80 from 192.0.2.1/32", NULL },
	{ "collection as array", IN, PERM("\"tcp\"", "80", "80",
	  "\"ipRanges\":[{\"cidrIp\":\"192.0.2.2/32\"}]"), NULL, NULL, NULL,
	  "medium", "sg-0a1", "tcp 80 from 192.0.2.2/32", NULL },
	{ "two permissions three peers", IN,
	  "{\"groupId\":\"sg-0a1\",\"ipPermissions\":{\"items\":[{"
	  "\"ipProtocol\":\"tcp\",\"fromPort\":443,\"toPort\":443,"
	  "\"ipRanges\":{\"items\":[{\"cidrIp\":\"192.0.2.0/24\"},"
	  "{\"cidrIp\":\"198.51.100.0/24\",\"description\":\"vpn\"}]}},"
	  "{\"ipProtocol\":\"udp\",\"fromPort\":123,\"toPort\":123,"
	  "\"groups\":{\"items\":[{\"groupId\":\"sg-0c3\"}]}}]}}", NULL, NULL,
	  NULL, "medium", "sg-0a1",
	  "tcp 443 from 192.0.2.0/24 | tcp 443 from 198.51.100.0/24 "
	  "\xE2\x80\x94 \"vpn\" | udp 123 from sg-0c3", NULL },
	{ "legacy flat", IN,
	  "{\"groupId\":\"sg-0a1\",\"ipPermissions\":{},\"ipProtocol\":\"tcp\","
	  "\"fromPort\":5432,\"toPort\":5432,\"cidrIp\":\"0.0.0.0/0\"}", NULL,
	  NULL, NULL, "critical", "sg-0a1", "tcp 5432 from 0.0.0.0/0", NULL },
	{ "legacy flat string ports", IN,
	  "{\"groupId\":\"sg-0a1\",\"ipProtocol\":\"tcp\","
	  "\"fromPort\":\"8080\",\"toPort\":\"8080\","
	  "\"cidrIp\":\"192.0.2.0/24\"}", NULL, NULL, NULL, "medium",
	  "sg-0a1", "tcp 8080 from 192.0.2.0/24", NULL },
	{ "legacy source group", IN,
	  "{\"groupName\":\"web\",\"sourceSecurityGroupName\":\"lb\","
	  "\"sourceSecurityGroupOwnerId\":\"111122223333\"}", NULL, NULL, NULL,
	  "medium", "name:web", "from lb (account 111122223333)",
	  "AuthorizeSecurityGroupIngress on web" },
	{ "revoke rule ids", "RevokeSecurityGroupIngress",
	  "{\"groupId\":\"sg-0a1\",\"securityGroupRuleIds\":{\"items\":["
	  "{\"securityGroupRuleId\":\"sgr-01\"},"
	  "{\"securityGroupRuleId\":\"sgr-02\"}]}}", NULL, NULL, NULL, "low",
	  "sg-0a1", "rule sgr-01 | rule sgr-02",
	  "RevokeSecurityGroupIngress on sg-0a1" },
	{ "revoke rule id strings", "RevokeSecurityGroupEgress",
	  "{\"groupId\":\"sg-0a1\",\"SecurityGroupRuleId\":[\"sgr-03\"]}",
	  NULL, NULL, NULL, "low", "sg-0a1", "rule sgr-03", NULL },
	{ "revoke rule id single", "RevokeSecurityGroupEgress",
	  "{\"groupId\":\"sg-0a1\",\"securityGroupRuleId\":\"sgr-04\"}", NULL,
	  NULL, NULL, "low", "sg-0a1", "rule sgr-04", NULL },
	{ "revoke world ssh", "RevokeSecurityGroupIngress",
	  PERM("\"tcp\"", "22", "22", RANGE("0.0.0.0/0")), NULL, NULL, NULL,
	  "low", "sg-0a1", "tcp 22 from 0.0.0.0/0", NULL },
	{ "modify array", "ModifySecurityGroupRules",
	  "{\"ModifySecurityGroupRulesRequest\":{\"GroupId\":\"sg-0a1\","
	  "\"SecurityGroupRule\":[{\"SecurityGroupRuleId\":\"sgr-05\","
	  "\"tag\":1,\"SecurityGroupRule\":{\"IpProtocol\":\"tcp\","
	  "\"FromPort\":22,\"ToPort\":22,\"CidrIpv4\":\"0.0.0.0/0\","
	  "\"Description\":\"ssh\"}},"
	  "{\"SecurityGroupRuleId\":\"sgr-06\",\"tag\":2,"
	  "\"SecurityGroupRule\":{\"IpProtocol\":\"udp\",\"FromPort\":53,"
	  "\"ToPort\":53,\"ReferencedGroupId\":\"sg-0b2\"}}]}}", NULL, NULL,
	  NULL, "critical", "sg-0a1",
	  "rule sgr-05 now tcp 22 with peer 0.0.0.0/0 \xE2\x80\x94 \"ssh\" | "
	  "rule sgr-06 now udp 53 with peer sg-0b2", NULL },
	{ "modify prefix list", "ModifySecurityGroupRules",
	  "{\"ModifySecurityGroupRulesRequest\":{\"GroupId\":\"sg-0a1\","
	  "\"SecurityGroupRule\":{\"SecurityGroupRuleId\":\"sgr-07\","
	  "\"SecurityGroupRule\":{\"IpProtocol\":\"-1\","
	  "\"PrefixListId\":\"pl-1\"}}}}", NULL, NULL, NULL, "medium",
	  "sg-0a1", "rule sgr-07 now all traffic with peer pl-1",
	  "ModifySecurityGroupRules on sg-0a1" },
	{ "descriptions camel", "UpdateSecurityGroupRuleDescriptionsIngress",
	  "{\"groupId\":\"sg-0a1\",\"ipPermissions\":{\"items\":[{"
	  "\"ipProtocol\":\"tcp\",\"fromPort\":22,\"toPort\":22,"
	  "\"ipRanges\":{\"items\":[{\"cidrIp\":\"0.0.0.0/0\","
	  "\"description\":\"office\"}]}}]}}", NULL, NULL, NULL, "medium",
	  "sg-0a1", "tcp 22 from 0.0.0.0/0 \xE2\x80\x94 \"office\"", NULL },
	{ "descriptions pascal", "UpdateSecurityGroupRuleDescriptionsEgress",
	  "{\"UpdateSecurityGroupRuleDescriptionsEgressRequest\":{"
	  "\"GroupId\":\"sg-0a1\",\"IpPermissions\":{\"IpProtocol\":\"tcp\","
	  "\"FromPort\":443,\"ToPort\":443,\"IpRanges\":{"
	  "\"CidrIp\":\"192.0.2.0/24\",\"Description\":\"web\"}}}}", NULL, NULL,
	  NULL, "medium", "sg-0a1",
	  "tcp 443 to 192.0.2.0/24 \xE2\x80\x94 \"web\"", NULL },
	{ "descriptions by rule id",
	  "UpdateSecurityGroupRuleDescriptionsIngress",
	  "{\"groupId\":\"sg-0a1\",\"securityGroupRuleDescriptions\":{"
	  "\"items\":[{\"securityGroupRuleId\":\"sgr-08\","
	  "\"description\":\"db\"}]}}", NULL, NULL, NULL, "medium", "sg-0a1",
	  "rule sgr-08 \xE2\x80\x94 \"db\"", NULL },
	{ "default vpc by name", IN,
	  "{\"groupName\":\"default\",\"ipPermissions\":{\"items\":[{"
	  "\"ipProtocol\":\"tcp\",\"fromPort\":80,\"toPort\":80,"
	  RANGE("192.0.2.0/24") "}]}}",
	  "{\"_return\":true,\"securityGroupRuleSet\":{\"items\":[{"
	  "\"groupId\":\"sg-0def\",\"securityGroupRuleId\":\"sgr-09\"}]}}",
	  NULL, NULL, "medium", "sg-0def", "tcp 80 from 192.0.2.0/24",
	  "AuthorizeSecurityGroupIngress on sg-0def (default)" },
	{ "revoke by name", "RevokeSecurityGroupIngress",
	  "{\"groupName\":\"default\",\"ipPermissions\":{\"items\":[{"
	  "\"ipProtocol\":\"tcp\",\"fromPort\":80,\"toPort\":80,"
	  RANGE("192.0.2.0/24") "}]}}", NULL, NULL, NULL, "low",
	  "name:default", "tcp 80 from 192.0.2.0/24",
	  "RevokeSecurityGroupIngress on default" },
	{ "several groups", IN, PERM("\"tcp\"", "80", "80",
	  RANGE("192.0.2.0/24")),
	  "{\"_return\":true,\"securityGroupRuleSet\":{\"items\":["
	  "{\"groupId\":\"sg-0a1\"},{\"groupId\":\"sg-0b2\"},"
	  "{\"groupId\":\"sg-0b2\"}]}}", NULL, NULL, "medium", "sg-0a1,sg-0b2",
	  "tcp 80 from 192.0.2.0/24",
	  "AuthorizeSecurityGroupIngress on sg-0a1 and 1 more" },
	{ "create group", "CreateSecurityGroup",
	  "{\"groupName\":\"web\",\"groupDescription\":\"web tier\","
	  "\"vpcId\":\"vpc-1\"}", "{\"_return\":true,\"groupId\":\"sg-0n1\"}",
	  NULL, NULL, "medium", "sg-0n1", "",
	  "CreateSecurityGroup on sg-0n1 (web)" },
	{ "delete by name", "DeleteSecurityGroup", "{\"groupName\":\"old\"}",
	  NULL, NULL, NULL, "medium", "name:old", "",
	  "DeleteSecurityGroup on old" },
	{ "denied world ssh", IN, PERM("\"tcp\"", "22", "22",
	  RANGE("0.0.0.0/0")), "null", "detail.errorCode",
	  "\"Client.UnauthorizedOperation\"", "high", "sg-0a1",
	  "tcp 22 from 0.0.0.0/0",
	  "Denied attempt: AuthorizeSecurityGroupIngress on sg-0a1" },
	{ "failed duplicate", IN, PERM("\"tcp\"", "80", "80",
	  RANGE("192.0.2.0/24")), "null", "detail.errorCode",
	  "\"Client.InvalidPermission.Duplicate\"", "medium", "sg-0a1",
	  "tcp 80 from 192.0.2.0/24",
	  "Failed attempt: AuthorizeSecurityGroupIngress on sg-0a1" },
	{ "failed without request", IN, "null", "null", "detail.errorCode",
	  "\"Client.UnauthorizedOperation\"", "medium", "", "",
	  "Denied attempt: AuthorizeSecurityGroupIngress on a security group" },
	{ "failed revoke", "RevokeSecurityGroupIngress",
	  PERM("\"tcp\"", "22", "22", RANGE("0.0.0.0/0")), "null",
	  "detail.errorCode", "\"Client.AccessDenied\"", "medium", "sg-0a1",
	  "tcp 22 from 0.0.0.0/0", NULL },
};

static void
test_shape(const struct shape_case *c)
{
	json_object *event = event_new(c->call), *alert;

	set_path(event, "detail.requestParameters", c->request);
	set_path(event, "detail.responseElements",
		 c->response ? c->response : "{\"_return\":true}");
	if (c->extra_path != NULL)
		set_path(event, c->extra_path, c->extra_value);
	alert = alert_of_event(event);
	is_str(path_str(alert, "kind"), "security_group_change", "%s: kind",
	       c->name);
	is_str(path_str(alert, "severity"), c->severity, "%s: severity",
	       c->name);
	check_joined(alert, "security_groups", "id", ",", c->groups, c->name,
		     "groups");
	check_joined(alert, "rules", "text", " | ", c->rules, c->name,
		     "rules");
	if (c->title != NULL)
		is_str(path_str(alert, "title"), c->title, "%s: title",
		       c->name);
	ok(alert_is_valid_utf8(alert), "%s: valid UTF-8", c->name);
	json_object_put(alert);
	json_object_put(event);
}

static void
test_shapes(void)
{
	size_t i;

	for (i = 0; i < sizeof(shape_cases) / sizeof(shape_cases[0]); i++)
		test_shape(&shape_cases[i]);
}

/* Members of the template event that every SG alert must carry. */
static void
test_event_members(void)
{
	json_object *event = event_new(IN), *alert = alert_of_event(event);

	check_common(alert, "template");
	is_str(path_str(alert, "alert_id"),
	       "cloudtrail:0f0e0d0c-0000-4000-8000-000000000001",
	       "template: alert_id");
	is_str(path_str(alert, "event.region"), "eu-central-1",
	       "template: region from awsRegion");
	is_str(path_str(alert, "event.account"), "444455556666",
	       "template: account from recipientAccountId");
	is_str(path_str(alert, "event.time"), "2024-05-01T10:00:00Z",
	       "template: time");
	is_int(json_object_get_int64(path_get(alert, "event.epoch")),
	       1714557600, "template: epoch");
	is_str(path_str(alert, "occurred_at"), "2024-05-01T10:00:00Z",
	       "template: occurred_at");
	is_str(path_str(alert, "event.user_agent"), "aws-cli/2.15.0",
	       "template: user agent");
	is_str(path_str(alert, "event.actor.type"), "IAMUser",
	       "template: actor type");
	is_str(path_str(alert, "event.actor.arn"),
	       "arn:aws:iam::444455556666:user/alice", "template: actor arn");
	ok(path_is_null(alert, "event.error_code"), "template: no error");
	is_str(path_str(alert, "rules.0.direction"), "ingress",
	       "template: direction");
	is_str(path_str(alert, "rules.0.change"), "added", "template: change");
	is_str(path_str(alert, "rules.0.protocol"), "tcp",
	       "template: protocol");
	is_int(json_object_get_int(path_get(alert, "rules.0.to_port")), 22,
	       "template: to_port");
	is_str(path_str(alert, "rules.0.peer"), "0.0.0.0/0", "template: peer");
	is_str(path_str(alert, "rules.0.peer_kind"), "cidr_ipv4",
	       "template: peer kind");
	ok(json_object_get_boolean(path_get(alert, "rules.0.open_to_internet")),
	   "template: open to internet");
	is_str(path_str(alert, "summary"),
	       "alice added 1 ingress rule to sg-0a1 in eu-central-1: tcp 22 "
	       "from 0.0.0.0/0.", "template: summary");
	json_object_put(alert);
	json_object_put(event);
}

static void
test_failure_members(void)
{
	json_object *event = event_new(IN), *alert;

	set_path(event, "detail.errorCode", "\"Client.UnauthorizedOperation\"");
	set_path(event, "detail.errorMessage",
		 "\"You are not authorized to perform this operation.\"");
	set_path(event, "detail.responseElements", "null");
	alert = alert_of_event(event);
	is_str(path_str(alert, "event.error_code"),
	       "Client.UnauthorizedOperation", "denied: error code");
	is_str(path_str(alert, "event.error_message"),
	       "You are not authorized to perform this operation.",
	       "denied: error message");
	ok(contains(path_str(alert, "summary"), "tried to add 1 ingress rule"),
	   "denied: summary says tried");
	ok(contains(path_str(alert, "summary"),
		    "failed with Client.UnauthorizedOperation"),
	   "denied: summary names error");
	json_object_put(alert);
	json_object_put(event);
}

/* ---- actors ---- */

struct actor_case {
	const char *name;
	const char *identity;	/* NULL: removed */
	const char *want;	/* NULL: null */
	const char *severity;
};

static const struct actor_case actor_cases[] = {
	{ "iam user", "{\"type\":\"IAMUser\",\"userName\":\"bob\","
	  "\"arn\":\"arn:aws:iam::1:user/bob\"}", "bob", "critical" },
	{ "iam user from arn", "{\"type\":\"IAMUser\","
	  "\"arn\":\"arn:aws:iam::1:user/ops/carol\"}", "carol", "critical" },
	{ "assumed role", "{\"type\":\"AssumedRole\","
	  "\"arn\":\"arn:aws:sts::1:assumed-role/Admin/sess-1\"}",
	  "Admin/sess-1", "critical" },
	{ "assumed role without arn", "{\"type\":\"AssumedRole\","
	  "\"sessionContext\":{\"sessionIssuer\":{\"userName\":\"Admin\"}}}",
	  "Admin", "critical" },
	{ "federated user", "{\"type\":\"FederatedUser\","
	  "\"arn\":\"arn:aws:sts::1:federated-user/dave\"}", "dave",
	  "critical" },
	{ "aws service", "{\"type\":\"AWSService\","
	  "\"invokedBy\":\"ec2.amazonaws.com\"}", "ec2.amazonaws.com",
	  "critical" },
	{ "root", "{\"type\":\"Root\",\"arn\":\"arn:aws:iam::1:root\"}",
	  "root", "critical" },
	{ "empty identity", "{}", NULL, "critical" },
	{ "missing identity", NULL, NULL, "critical" },
};

static void
test_actors(void)
{
	const struct actor_case *c;
	json_object *event, *alert;
	size_t i;

	for (i = 0; i < sizeof(actor_cases) / sizeof(actor_cases[0]); i++) {
		c = &actor_cases[i];
		event = event_new(IN);
		set_path(event, "detail.userIdentity", c->identity);
		alert = alert_of_event(event);
		is_str(path_str(alert, "kind"), "security_group_change",
		       "actor %s: kind", c->name);
		is_str(path_str(alert, "event.actor.name"), c->want,
		       "actor %s: name", c->name);
		is_str(path_str(alert, "severity"), c->severity,
		       "actor %s: severity", c->name);
		json_object_put(alert);
		json_object_put(event);
	}
}

static void
test_root_severity(void)
{
	json_object *event = event_new("RevokeSecurityGroupIngress"), *alert;

	set_path(event, "detail.userIdentity",
		 "{\"type\":\"Root\",\"arn\":\"arn:aws:iam::1:root\"}");
	alert = alert_of_event(event);
	is_str(path_str(alert, "severity"), "high", "root revoke: severity");
	is_str(path_str(alert, "title"),
	       "RevokeSecurityGroupIngress on sg-0a1 by the root user",
	       "root revoke: title");
	ok(has_prefix(path_str(alert, "summary"), "The root user removed"),
	   "root revoke: summary");
	json_object_put(alert);
	json_object_put(event);
}

/* ---- access, console links, root ---- */

struct access_fixture_case {
	const char *file;
	const char *access;
	const char *text;
};

static const struct access_fixture_case access_fixture_cases[] = {
	{ "AuthorizeSecurityGroupEgress-1.json", "cli", "AWS CLI" },
	{ "AuthorizeSecurityGroupEgress-2.json", "terraform", "Terraform" },
	{ "AuthorizeSecurityGroupIngress-1.json", "console", "AWS console" },
	{ "AuthorizeSecurityGroupIngress-2.json", "cloudformation",
	  "CloudFormation" },
	{ "AuthorizeSecurityGroupIngress-3.json", "unknown", "unknown" },
	{ "AuthorizeSecurityGroupIngress-4.json", "cli", "AWS CLI" },
	{ "AuthorizeSecurityGroupIngress-5.json", "console", "AWS console" },
	{ "CreateSecurityGroup-1.json", "console", "AWS console" },
	{ "CreateSecurityGroup-2.json", "terraform", "Terraform" },
	{ "DeleteSecurityGroup-1.json", "cloudformation", "CloudFormation" },
	{ "RevokeSecurityGroupIngress-1.json", "console", "AWS console" },
};

static void
test_access_fixtures(void)
{
	const struct access_fixture_case *c;
	json_object *alert;
	char *text;
	size_t i;

	for (i = 0; i < sizeof(access_fixture_cases) /
	     sizeof(access_fixture_cases[0]); i++) {
		c = &access_fixture_cases[i];
		text = read_fixture(c->file);
		alert = text != NULL ? alert_of(text) : NULL;
		is_str(path_str(alert, "event.access"), c->access,
		       "access %s: code", c->file);
		is_str(path_str(alert, "event.access_text"), c->text,
		       "access %s: text", c->file);
		json_object_put(alert);
		free(text);
	}
}

/* Made-up calls; NULL removes the member. */
struct access_case {
	const char *name;
	const char *agent;		/* JSON values */
	const char *source_ip;
	const char *invoked_by;
	const char *from_console;
	const char *want;
};

static const struct access_case access_cases[] = {
	{ "ec2 console", "\"console.ec2.amazonaws.com\"", NULL, NULL, NULL,
	  "console" },
	{ "root console", "\"console.amazonaws.com\"", NULL, NULL, NULL,
	  "console" },
	{ "signin", "\"signin.amazonaws.com\"", NULL,
	  "\"signin.amazonaws.com\"", NULL, "console" },
	{ "browser", "\"Mozilla/5.0 (Macintosh)\"", NULL, NULL, NULL,
	  "console" },
	{ "console flag", "\"AWS Internal\"", "\"AWS Internal\"", NULL,
	  "\"true\"", "console" },
	{ "console flag false", "\"AWS Internal\"", NULL, NULL, "\"false\"",
	  "aws_service" },
	{ "cli", "\"aws-cli/1.32.0 Python/3.11 botocore/1.34\"", NULL, NULL,
	  NULL, "cli" },
	{ "cloudshell", "\"aws-cli/2.15.0 exec-env/CloudShell\"", NULL, NULL,
	  "\"true\"", "cli" },
	{ "terraform", "\"APN/1.0 HashiCorp/1.0 Terraform/1.7.5 "
	  "terraform-provider-aws/5.40.0 aws-sdk-go-v2/1.25.0\"", NULL, NULL,
	  NULL, "terraform" },
	{ "cloudformation agent", "\"cloudformation.amazonaws.com\"", NULL,
	  NULL, NULL, "cloudformation" },
	{ "cloudformation via", "\"AWS Internal\"", NULL,
	  "\"cloudformation.amazonaws.com\"", "\"true\"", "cloudformation" },
	{ "boto3", "\"Boto3/1.34.0 md/Botocore#1.34.0 "
	  "exec-env/AWS_Lambda_python3.12\"", NULL, NULL, NULL, "sdk" },
	{ "sdk js", "\"aws-sdk-js/3.500.0 os/linux\"", NULL, NULL, NULL,
	  "sdk" },
	{ "apn", "\"APN/1.0 Pulumi/3.0\"", NULL, NULL, NULL, "sdk" },
	{ "internal agent", "\"AWS Internal/3\"", "\"192.0.2.1\"", NULL, NULL,
	  "aws_service" },
	{ "internal ip", NULL, "\"AWS Internal\"", NULL, NULL,
	  "aws_service" },
	{ "other service", "\"elasticmapreduce.amazonaws.com\"", NULL,
	  "\"elasticmapreduce.amazonaws.com\"", NULL, "aws_service" },
	{ "made up", "\"curl/8.0\"", NULL, NULL, NULL, "unknown" },
	{ "no agent", NULL, NULL, NULL, NULL, "unknown" },
	{ "not a string", "42", NULL, NULL, NULL, NULL },
};

static void
test_access_case(const struct access_case *c)
{
	json_object *event = event_new(IN), *alert;

	set_path(event, "detail.userAgent", c->agent);
	set_path(event, "detail.sourceIPAddress", c->source_ip);
	set_path(event, "detail.userIdentity.invokedBy", c->invoked_by);
	set_path(event, "detail.sessionCredentialFromConsole",
		 c->from_console);
	alert = alert_of_event(event);
	if (c->want == NULL)
		is_str(path_str(alert, "kind"), "notification",
		       "access %s: fallback", c->name);
	else
		is_str(path_str(alert, "event.access"), c->want,
		       "access %s", c->name);
	json_object_put(alert);
	json_object_put(event);
}

static void
test_access(void)
{
	size_t i;

	for (i = 0; i < sizeof(access_cases) / sizeof(access_cases[0]); i++)
		test_access_case(&access_cases[i]);
}

struct url_case {
	const char *name;
	const char *group_id;	/* JSON value */
	const char *region;	/* JSON value */
	const char *want;	/* NULL: null */
};

#define URL_ID	"sg-0123456789abcdef0"

static const struct url_case url_cases[] = {
	{ "normal", "\"" URL_ID "\"", "\"eu-central-1\"",
	  "https://eu-central-1.console.aws.amazon.com/ec2/home"
	  "?region=eu-central-1#SecurityGroup:groupId=" URL_ID },
	{ "short id", "\"sg-0a1b2c3d\"", "\"ap-southeast-2\"",
	  "https://ap-southeast-2.console.aws.amazon.com/ec2/home"
	  "?region=ap-southeast-2#SecurityGroup:groupId=sg-0a1b2c3d" },
	{ "china", "\"" URL_ID "\"", "\"cn-northwest-1\"",
	  "https://console.amazonaws.cn/ec2/home?region=cn-northwest-1"
	  "#SecurityGroup:groupId=" URL_ID },
	{ "govcloud", "\"" URL_ID "\"", "\"us-gov-west-1\"",
	  "https://console.amazonaws-us-gov.com/ec2/home"
	  "?region=us-gov-west-1#SecurityGroup:groupId=" URL_ID },
	{ "iso", "\"" URL_ID "\"", "\"us-iso-east-1\"", NULL },
	{ "id too short", "\"sg-0a1b2c3\"", "\"eu-central-1\"", NULL },
	{ "id too long", "\"sg-0123456789abcdef01\"", "\"eu-central-1\"",
	  NULL },
	{ "id not hex", "\"sg-b15kasfs\"", "\"eu-central-1\"", NULL },
	{ "id upper case", "\"sg-0123456789ABCDEF0\"", "\"eu-central-1\"",
	  NULL },
	{ "id markup", "\"sg-01234567)[x](y\"", "\"eu-central-1\"", NULL },
	{ "region odd", "\"" URL_ID "\"", "\"us-northeast-1r\"", NULL },
	{ "region path", "\"" URL_ID "\"", "\"eu-central-1/../x\"", NULL },
	{ "region one word", "\"" URL_ID "\"", "\"eu-1\"", NULL },
};

static void
test_console_url(const struct url_case *c)
{
	json_object *event = event_new(IN), *alert;

	set_path(event, "detail.requestParameters.groupId", c->group_id);
	set_path(event, "detail.awsRegion", c->region);
	alert = alert_of_event(event);
	if (c->want == NULL)
		ok(path_is_null(alert, "security_groups.0.console_url"),
		   "console url %s: null", c->name);
	else
		is_str(path_str(alert, "security_groups.0.console_url"),
		       c->want, "console url %s", c->name);
	json_object_put(alert);
	json_object_put(event);
}

static void
test_console_urls(void)
{
	json_object *event = event_new(IN), *alert;
	size_t i;

	for (i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++)
		test_console_url(&url_cases[i]);

	/* A group known by name only has no link. */
	set_path(event, "detail.requestParameters.groupId", NULL);
	set_path(event, "detail.requestParameters.groupName", "\"web\"");
	alert = alert_of_event(event);
	ok(path_is_null(alert, "security_groups.0.console_url"),
	   "console url name only: null");
	json_object_put(alert);
	json_object_put(event);
}

static void
test_actor_root(void)
{
	json_object *event = event_new(IN), *alert;

	alert = alert_of_event(event);
	ok(path_get(alert, "event.actor.root") != NULL &&
	   !json_object_get_boolean(path_get(alert, "event.actor.root")),
	   "actor root: false for an IAM user");
	json_object_put(alert);
	set_path(event, "detail.userIdentity",
		 "{\"type\":\"Root\",\"arn\":\"arn:aws:iam::1:root\"}");
	alert = alert_of_event(event);
	ok(json_object_get_boolean(path_get(alert, "event.actor.root")),
	   "actor root: true for the root user");
	json_object_put(alert);
	json_object_put(event);
}

/* ---- missing keys ---- */

struct missing_case {
	const char *path;
	const char *kind;
	const char *check_path;
	const char *want;	/* NULL: the member is null */
};

static const struct missing_case missing_cases[] = {
	{ "detail.userIdentity", "security_group_change", "event.actor.name",
	  NULL },
	{ "detail.eventTime", "security_group_change", "event.time", NULL },
	{ "detail.awsRegion", "security_group_change", "event.region",
	  "us-east-1" },
	{ "detail.recipientAccountId", "security_group_change",
	  "event.account", "111122223333" },
	{ "detail.responseElements", "security_group_change", "rules.0.text",
	  "tcp 22 from 0.0.0.0/0" },
	{ "detail.sourceIPAddress", "security_group_change",
	  "event.source_ip", NULL },
	{ "detail.eventID", "security_group_change", "alert_id",
	  "sns:" MESSAGE_ID },
	{ "detail.requestParameters", "notification", "format",
	  "eventbridge" },
	{ "detail.requestParameters.groupId", "security_group_change",
	  "title", "Security group ingress opened to the internet: a "
	  "security group" },
};

static void
test_missing_keys(void)
{
	const struct missing_case *c;
	json_object *event, *alert;
	size_t i;

	for (i = 0; i < sizeof(missing_cases) / sizeof(missing_cases[0]);
	     i++) {
		c = &missing_cases[i];
		event = event_new(IN);
		set_path(event, c->path, NULL);
		alert = alert_of_event(event);
		is_str(path_str(alert, "kind"), c->kind, "without %s: kind",
		       c->path);
		if (c->want != NULL)
			is_str(path_str(alert, c->check_path), c->want,
			       "without %s: %s", c->path, c->check_path);
		else
			ok(path_is_null(alert, c->check_path),
			   "without %s: %s is null", c->path, c->check_path);
		json_object_put(alert);
		json_object_put(event);
	}
}

/* ---- wrong types: fall back to the generic alert ---- */

struct wrong_case {
	const char *path;
	const char *value;
};

#define P0 "detail.requestParameters.ipPermissions.items.0"

static const struct wrong_case wrong_cases[] = {
	{ "detail.requestParameters", "\"text\"" },
	{ "detail.requestParameters", "42" },
	{ "detail.requestParameters", "[1,2]" },
	{ "detail.requestParameters.ipPermissions", "5" },
	{ "detail.requestParameters.ipPermissions", "{\"items\":\"x\"}" },
	{ "detail.requestParameters.ipPermissions", "{\"items\":[\"x\"]}" },
	{ "detail.requestParameters.ipPermissions", "{\"items\":[null]}" },
	{ "detail.requestParameters.groupId", "[]" },
	{ "detail.requestParameters.groupName", "7" },
	{ P0 ".fromPort", "{}" },
	{ P0 ".fromPort", "70000" },
	{ P0 ".fromPort", "-2" },
	{ P0 ".fromPort", "\"22x\"" },
	{ P0 ".fromPort", "22.5" },
	{ P0 ".toPort", "true" },
	{ P0 ".ipProtocol", "[]" },
	{ P0 ".ipRanges", "\"0.0.0.0/0\"" },
	{ P0 ".ipRanges", "{\"items\":[1]}" },
	{ P0 ".ipRanges.items.0.cidrIp", "5" },
	{ P0 ".ipRanges.items.0.description", "{\"a\":1}" },
	{ P0 ".groups", "{\"items\":[{\"groupId\":[]}]}" },
	{ P0 ".groups", "{\"items\":[{\"groupId\":\"sg-1\",\"userId\":1}]}" },
	{ P0 ".ipv6Ranges", "7" },
	{ P0 ".prefixListIds", "{\"items\":[{\"prefixListId\":false}]}" },
	{ "detail.responseElements", "\"x\"" },
	{ "detail.responseElements", "{\"securityGroupRuleSet\":3}" },
	{ "detail.responseElements",
	  "{\"securityGroupRuleSet\":{\"items\":[{\"groupId\":9}]}}" },
	{ "detail.responseElements", "{\"groupId\":{}}" },
	{ "detail.userIdentity", "[]" },
	{ "detail.userIdentity", "\"root\"" },
	{ "detail.userIdentity.type", "5" },
	{ "detail.userIdentity.arn", "1" },
	{ "detail.userIdentity.userName", "[]" },
	{ "detail.userIdentity.invokedBy", "{}" },
	{ "detail.eventTime", "5" },
	{ "detail.awsRegion", "true" },
	{ "detail.recipientAccountId", "{}" },
	{ "detail.sourceIPAddress", "[]" },
	{ "detail.userAgent", "1" },
	{ "detail.errorCode", "1" },
	{ "detail.errorMessage", "[]" },
	{ "detail.eventID", "[]" },
	{ "detail.eventName", "5" },
	{ "detail.eventSource", "{}" },
	{ "detail", "\"x\"" },
	{ "detail-type", "1" },
	{ "source", "null" },
};

static void
test_wrong_types(void)
{
	const struct wrong_case *c;
	json_object *event, *alert;
	size_t i;

	for (i = 0; i < sizeof(wrong_cases) / sizeof(wrong_cases[0]); i++) {
		c = &wrong_cases[i];
		event = event_new(IN);
		set_path(event, c->path, c->value);
		alert = alert_of_event(event);
		ok(alert != NULL, "%s=%s: alert built", c->path, c->value);
		is_str(path_str(alert, "kind"), "notification",
		       "%s=%s: falls back", c->path, c->value);
		ok(alert_is_valid_utf8(alert), "%s=%s: valid UTF-8", c->path,
		   c->value);
		json_object_put(alert);
		json_object_put(event);
	}
}

/* A wrong type in ModifySecurityGroupRules and the other wrappers. */
static void
test_wrong_types_wrappers(void)
{
	static const char *const requests[] = {
		"{\"ModifySecurityGroupRulesRequest\":1}",
		"{\"ModifySecurityGroupRulesRequest\":{\"GroupId\":\"sg-1\","
		"\"SecurityGroupRule\":\"x\"}}",
		"{\"ModifySecurityGroupRulesRequest\":{\"GroupId\":\"sg-1\","
		"\"SecurityGroupRule\":{\"SecurityGroupRuleId\":\"sgr-1\","
		"\"SecurityGroupRule\":\"x\"}}}",
		"{\"ModifySecurityGroupRulesRequest\":{\"GroupId\":\"sg-1\","
		"\"SecurityGroupRule\":[{\"SecurityGroupRuleId\":5}]}}",
		"{\"ModifySecurityGroupRulesRequest\":{\"GroupId\":\"sg-1\","
		"\"SecurityGroupRule\":{\"SecurityGroupRule\":{"
		"\"FromPort\":\"x\"}}}}",
		"{\"groupId\":\"sg-1\",\"securityGroupRuleIds\":{"
		"\"items\":[5]}}",
		"{\"groupId\":\"sg-1\",\"securityGroupRuleIds\":{\"items\":[{"
		"\"securityGroupRuleId\":[]}]}}",
		"{\"groupId\":\"sg-1\",\"securityGroupRuleDescriptions\":7}",
		"{\"groupId\":\"sg-1\"}",
	};
	json_object *event, *alert;
	size_t i;

	for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		event = event_new("ModifySecurityGroupRules");
		set_path(event, "detail.requestParameters", requests[i]);
		alert = alert_of_event(event);
		is_str(path_str(alert, "kind"), "notification",
		       "wrapper case %zu: falls back", i);
		json_object_put(alert);
		json_object_put(event);
	}
}

/* The fallback is logged as one warn line with the message id. */
static void
test_fallback_logged(void)
{
	char path[] = "/tmp/unit_alert_log_XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	json_object *event = event_new(IN), *alert;
	char *logged;

	if (fd < 0 || saved < 0) {
		ok(0, "fallback log: temp file");
		return;
	}
	set_path(event, "detail.requestParameters", "5");
	fflush(stderr);
	dup2(fd, 2);
	alert = alert_of_event(event);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	logged = read_file(path);
	unlink(path);
	ok(contains(logged, "event=format_fallback"), "fallback log: event");
	ok(contains(logged, "level=warn"), "fallback log: level");
	ok(contains(logged, MESSAGE_ID), "fallback log: message id");
	ok(contains(logged, "requestParameters"), "fallback log: reason");
	ok(logged != NULL && strchr(logged, '\n') == strrchr(logged, '\n'),
	   "fallback log: one line");
	free(logged);
	json_object_put(alert);
	json_object_put(event);
}

/* ---- hostile values ---- */

static void
test_hostile_description(void)
{
	json_object *event = event_new(IN), *alert;

	set_path(event, P0 ".ipRanges.items.0.description",
		 "\"@everyone `rm -rf` **bold** <@123> [x](http://a)\"");
	alert = alert_of_event(event);
	is_str(path_str(alert, "kind"), "security_group_change",
	       "hostile markdown: kind");
	is_str(path_str(alert, "rules.0.description"),
	       "@everyone `rm -rf` **bold** <@123> [x](http://a)",
	       "hostile markdown: kept raw for JSON consumers");
	json_object_put(alert);
	json_object_put(event);
}

static void
test_long_description(void)
{
	json_object *event = event_new(IN), *alert;
	struct buf b;
	const char *desc;
	int i;

	buf_init(&b, 1 << 20);
	buf_append_str(&b, "\"");
	for (i = 0; i < 10240; i++)
		buf_append_str(&b, "d");
	buf_append_str(&b, "\"");
	set_path(event, P0 ".ipRanges.items.0.description", b.data);
	alert = alert_of_event(event);
	desc = path_str(alert, "rules.0.description");
	is_str(path_str(alert, "kind"), "security_group_change",
	       "10 KB description: kind");
	is_int(length_of(desc), 255,
	       "10 KB description: shortened");
	ok(contains(desc, "\xE2\x80\xA6"), "10 KB description: ellipsis");
	ok(length_of(path_str(alert, "summary")) <= 2048,
	   "10 KB description: summary within 2048");
	buf_free(&b);
	json_object_put(alert);
	json_object_put(event);
}

struct control_case {
	const char *name;
	const char *json;	/* the description as a JSON string */
	const char *want;
};

static const struct control_case control_cases[] = {
	{ "control characters", "\"a\\u0001b\\u001b[31mc\\r\"",
	  "a b [31mc " },
	{ "NUL escape", "\"x\\u0000y\"", "x y" },
	{ "lone surrogate", "\"a\\ud800b\"", "a" FFFD "b" },
	{ "bidi override", "\"a\\u202eb\"", "a b" },
	{ "newline kept", "\"a\\nb\"", "a\nb" },
};

static void
test_control_characters(void)
{
	const struct control_case *c;
	json_object *event, *alert;
	size_t i;

	for (i = 0; i < sizeof(control_cases) / sizeof(control_cases[0]);
	     i++) {
		c = &control_cases[i];
		event = event_new(IN);
		set_path(event, P0 ".ipRanges.items.0.description", c->json);
		set_path(event, "detail.requestParameters.groupId", c->json);
		alert = alert_of_event(event);
		is_str(path_str(alert, "rules.0.description"), c->want,
		       "%s: description", c->name);
		is_str(path_str(alert, "security_groups.0.id"), c->want,
		       "%s: group id", c->name);
		ok(alert_is_valid_utf8(alert), "%s: valid UTF-8", c->name);
		json_object_put(alert);
		json_object_put(event);
	}
}

/* Raw invalid bytes make the message invalid JSON: it is shown as text. */
static void
test_invalid_utf8_event(void)
{
	json_object *event = event_new(IN), *alert;
	struct buf b;
	const char *json, *mark;

	set_path(event, "detail.userAgent", "\"UAMARK\"");
	json = json_object_to_json_string_ext(event, JSON_C_TO_STRING_PLAIN);
	mark = strstr(json, "UAMARK");
	buf_init(&b, 1 << 20);
	buf_append(&b, json, (size_t)(mark - json));
	buf_append_str(&b, "\xC3\x28\xFF\xFE");
	buf_append_str(&b, mark + 6);
	alert = alert_of_bytes(b.data, b.len, NULL);
	is_str(path_str(alert, "kind"), "notification",
	       "invalid UTF-8 event: generic");
	is_str(path_str(alert, "format"), "text", "invalid UTF-8 event: text");
	ok(contains(path_str(alert, "text"), FFFD "(" FFFD FFFD),
	   "invalid UTF-8 event: replaced");
	ok(alert_is_valid_utf8(alert), "invalid UTF-8 event: valid UTF-8");
	buf_free(&b);
	json_object_put(alert);
	json_object_put(event);
}

static void
test_deep_nesting(void)
{
	struct buf b;
	json_object *alert;
	int i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < 10000; i++)
		buf_append_str(&b, "{\"a\":");
	buf_append_str(&b, "1");
	for (i = 0; i < 10000; i++)
		buf_append_str(&b, "}");
	alert = alert_of(b.data);
	is_str(path_str(alert, "kind"), "notification", "deep JSON: generic");
	is_str(path_str(alert, "format"), "text", "deep JSON: shown as text");
	ok(length_of(path_str(alert, "text")) == 16384,
	   "deep JSON: text shortened");
	buf_free(&b);
	json_object_put(alert);
}

/* A member nested 40 levels deep inside an otherwise valid event passes
 * the depth limit of 32: the message is not parsed. */
static void
test_deep_member(void)
{
	json_object *event = event_new(IN), *alert;
	const char *json, *mark;
	struct buf b;
	int i;

	set_path(event, "detail.requestParameters.deep", "[]");
	json = json_object_to_json_string_ext(event, JSON_C_TO_STRING_PLAIN);
	mark = strstr(json, "\"deep\":[]");
	buf_init(&b, 1 << 20);
	buf_append(&b, json, (size_t)(mark - json) + strlen("\"deep\":"));
	for (i = 0; i < 40; i++)
		buf_append_str(&b, "[");
	for (i = 0; i < 40; i++)
		buf_append_str(&b, "]");
	buf_append_str(&b, mark + strlen("\"deep\":[]"));
	alert = alert_of(b.data);
	is_str(path_str(alert, "kind"), "notification",
	       "deep member in event: generic");
	is_str(path_str(alert, "format"), "text",
	       "deep member in event: text");
	buf_free(&b);
	json_object_put(alert);
	json_object_put(event);
}

/* ---- generic alerts ---- */

static void
test_plain_text(void)
{
	json_object *alert = alert_of("Disk almost full on host-1\n"
				      "second line");

	check_common(alert, "plain text");
	is_str(path_str(alert, "kind"), "notification", "plain text: kind");
	is_str(path_str(alert, "format"), "text", "plain text: format");
	is_str(path_str(alert, "severity"), "info", "plain text: severity");
	is_str(path_str(alert, "text"),
	       "Disk almost full on host-1\nsecond line", "plain text: text");
	is_str(path_str(alert, "title"), "Notification on sg-alerts",
	       "plain text: title");
	is_str(path_str(alert, "summary"), "Message published to sg-alerts.",
	       "plain text: summary");
	is_str(path_str(alert, "alert_id"), "sns:" MESSAGE_ID,
	       "plain text: alert_id");
	is_str(path_str(alert, "occurred_at"), "2024-05-01T10:00:05Z",
	       "plain text: occurred_at from Timestamp");
	ok(path_is_null(alert, "sns.subject"), "plain text: subject null");
	json_object_put(alert);
}

static void
test_subject(void)
{
	const char *msg = "body";
	json_object *alert = alert_of_bytes(msg, 4,
					    "Disk\x01 alert\x1b[0m \xFF");

	is_str(path_str(alert, "title"), "Disk  alert [0m " FFFD,
	       "subject: title sanitized");
	is_str(path_str(alert, "sns.subject"), "Disk  alert [0m " FFFD,
	       "subject: sns.subject sanitized");
	ok(alert_is_valid_utf8(alert), "subject: valid UTF-8");
	json_object_put(alert);
}

/* A Subject longer than the title's working buffer still gives an alert;
 * the Korean text puts a multi-byte sequence across the cut. */
static void
test_long_subject(void)
{
	char subject[6001];
	json_object *alert;
	size_t i;

	subject[0] = 'x';
	for (i = 1; i + 3 <= sizeof(subject) - 1; i += 3)
		memcpy(subject + i, "\xea\xb2\xbd", 3);	/* U+ACBD */
	subject[i] = '\0';
	alert = alert_of_bytes("body", 4, subject);
	ok(alert != NULL, "long subject: alert built");
	ok(path_str(alert, "title") != NULL &&
	   strncmp(path_str(alert, "title"), "x\xea\xb2\xbd", 4) == 0,
	   "long subject: title starts with the Subject");
	ok(path_str(alert, "title") != NULL &&
	   strlen(path_str(alert, "title")) < 256 * 3 + 4,
	   "long subject: title shortened");
	ok(alert_is_valid_utf8(alert), "long subject: valid UTF-8");
	json_object_put(alert);
}

static void
test_nul_in_message(void)
{
	json_object *alert = alert_of_bytes("{\"a\":1}\0tail", 12, NULL);

	is_str(path_str(alert, "format"), "text", "NUL message: text");
	is_str(path_str(alert, "text"), "{\"a\":1} tail",
	       "NUL message: NUL as space");
	json_object_put(alert);
}

static void
test_alarm(void)
{
	json_object *alert = alert_of(
		"{\"AlarmName\":\"cis-sg-changes\","
		"\"AlarmDescription\":\"CIS 4.10\","
		"\"AWSAccountId\":\"111122223333\",\"NewStateValue\":\"ALARM\","
		"\"NewStateReason\":\"Threshold Crossed: 1 datapoint [1.0] "
		"was greater than or equal to the threshold (1.0).\","
		"\"StateChangeTime\":\"2024-05-01T10:01:00.000+0000\","
		"\"Region\":\"US East (N. Virginia)\",\"OldStateValue\":\"OK\","
		"\"Trigger\":{\"MetricName\":\"SecurityGroupEventCount\","
		"\"Namespace\":\"LogMetrics\"}}");
	const char *text = path_str(alert, "text");

	check_common(alert, "alarm");
	is_str(path_str(alert, "format"), "cloudwatch_alarm", "alarm: format");
	is_str(path_str(alert, "severity"), "high", "alarm: severity");
	is_str(path_str(alert, "title"), "ALARM: cis-sg-changes",
	       "alarm: title");
	ok(contains(text, "Alarm: cis-sg-changes\n"), "alarm: name line");
	ok(contains(text, "State: ALARM\n"), "alarm: state line");
	ok(contains(text, "Reason: Threshold Crossed"), "alarm: reason line");
	ok(contains(text, "Metric: SecurityGroupEventCount"),
	   "alarm: metric line");
	ok(!contains(text, "{"), "alarm: no raw JSON");
	is_str(path_str(alert, "occurred_at"), "2024-05-01T10:01:00Z",
	       "alarm: occurred_at");
	is_str(path_str(alert, "summary"),
	       "CloudWatch alarm cis-sg-changes is now ALARM (was OK).",
	       "alarm: summary");
	json_object_put(alert);

	alert = alert_of("{\"AlarmName\":\"x\",\"NewStateValue\":\"OK\"}");
	is_str(path_str(alert, "severity"), "info", "alarm OK: severity");
	json_object_put(alert);
}

static void
test_other_eventbridge(void)
{
	json_object *alert = alert_of(
		"{\"version\":\"0\",\"id\":\"e2\",\"detail-type\":"
		"\"GuardDuty Finding\",\"source\":\"aws.guardduty\","
		"\"account\":\"111122223333\","
		"\"time\":\"2024-05-01T10:02:00Z\","
		"\"region\":\"us-east-1\",\"resources\":["
		"\"arn:aws:ec2:us-east-1:111122223333:instance/i-0abc\","
		"\"arn:aws:ec2:us-east-1:111122223333:instance/i-0def\"],"
		"\"detail\":{\"severity\":8}}");
	const char *text = path_str(alert, "text");

	check_common(alert, "guardduty");
	is_str(path_str(alert, "kind"), "notification", "guardduty: kind");
	is_str(path_str(alert, "format"), "eventbridge", "guardduty: format");
	is_str(path_str(alert, "title"), "GuardDuty Finding",
	       "guardduty: title");
	is_str(path_str(alert, "alert_id"), "sns:" MESSAGE_ID,
	       "guardduty: alert_id");
	ok(contains(text, "Detail type: GuardDuty Finding\n"),
	   "guardduty: detail type");
	ok(contains(text, "Source: aws.guardduty\n"), "guardduty: source");
	ok(contains(text, "Account: 111122223333\n"), "guardduty: account");
	ok(contains(text, "Region: us-east-1\n"), "guardduty: region");
	ok(contains(text, "Time: 2024-05-01T10:02:00Z\n"), "guardduty: time");
	ok(contains(text, "Resources: arn:aws:ec2:us-east-1:111122223333:"
		    "instance/i-0abc, arn:aws:ec2:us-east-1:111122223333:"
		    "instance/i-0def"), "guardduty: resources");
	ok(!contains(text, "{"), "guardduty: no raw JSON");
	is_str(path_str(alert, "occurred_at"), "2024-05-01T10:02:00Z",
	       "guardduty: occurred_at");
	json_object_put(alert);
}

static void
test_unmatched_sg_events(void)
{
	json_object *event = event_new(IN), *alert;

	set_path(event, "detail-type", "\"AWS Service Event via CloudTrail\"");
	alert = alert_of_event(event);
	is_str(path_str(alert, "kind"), "notification",
	       "other detail-type: generic");
	json_object_put(alert);
	json_object_put(event);

	event = event_new("DescribeSecurityGroups");
	alert = alert_of_event(event);
	is_str(path_str(alert, "kind"), "notification",
	       "other event name: generic");
	ok(contains(path_str(alert, "text"),
		    "API call: DescribeSecurityGroups"),
	   "other event name: text");
	json_object_put(alert);
	json_object_put(event);

	event = event_new(IN);
	set_path(event, "detail.eventSource", "\"iam.amazonaws.com\"");
	alert = alert_of_event(event);
	is_str(path_str(alert, "kind"), "notification",
	       "other event source: generic");
	json_object_put(alert);
	json_object_put(event);

	event = event_new(IN);
	set_path(event, "detail.eventID", "\"bad id with spaces\"");
	alert = alert_of_event(event);
	is_str(path_str(alert, "alert_id"), "sns:" MESSAGE_ID,
	       "odd eventID: sns id");
	json_object_put(alert);
	json_object_put(event);
}

static void
test_unknown_json(void)
{
	json_object *alert = alert_of(
		"{\"foo\":\"bar\",\"n\":1,\"nested\":{\"a\":[1,2]},"
		"\"z\":null}");

	is_str(path_str(alert, "format"), "json", "unknown JSON: format");
	is_str(path_str(alert, "text"),
	       "foo: bar\nn: 1\nnested: {\"a\":[1,2]}\nz: null",
	       "unknown JSON: key lines");
	is_str(path_str(alert, "summary"),
	       "JSON message published to sg-alerts.", "unknown JSON: summary");
	json_object_put(alert);
}

struct not_json_case {
	const char *name;
	const char *message;
};

static const struct not_json_case not_json_cases[] = {
	{ "broken JSON", "{oops" },
	{ "trailing garbage", "{\"a\":1} x" },
	{ "array", "[1,2]" },
	{ "number", "42" },
	{ "empty", "" },
	{ "two objects", "{}{}" },
};

static void
test_not_json(void)
{
	const struct not_json_case *c;
	json_object *alert;
	size_t i;

	for (i = 0; i < sizeof(not_json_cases) / sizeof(not_json_cases[0]);
	     i++) {
		c = &not_json_cases[i];
		alert = alert_of(c->message);
		is_str(path_str(alert, "format"), "text", "%s: text", c->name);
		is_str(path_str(alert, "text"), c->message, "%s: verbatim",
		       c->name);
		json_object_put(alert);
	}
	alert = alert_of("  {\"a\":1}\n");
	is_str(path_str(alert, "format"), "json", "padded JSON: parsed");
	json_object_put(alert);
}

static void
test_long_text(void)
{
	struct buf b;
	json_object *alert;
	int i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < 300 * 1024; i++)
		buf_append_str(&b, "x");
	alert = alert_of(b.data);
	is_int(length_of(path_str(alert, "text")), 16384,
	       "300 KB text: shortened");
	buf_free(&b);
	json_object_put(alert);
}

/* ---- unsubscribe ---- */

static void
test_unsubscribe(void)
{
	struct sns_message m;
	json_object *alert;
	const char *summary;

	msg_init(&m, "You have chosen to deactivate subscription", 42, NULL);
	m.type = SNS_TYPE_UNSUBSCRIBE_CONFIRMATION;
	free(m.type_name.str);
	field_set(&m.type_name, "UnsubscribeConfirmation", 23);
	alert = alert_from_unsubscribe(&m, NULL, RECEIVED_AT);
	summary = path_str(alert, "summary");
	check_common(alert, "unsubscribe");
	is_str(path_str(alert, "kind"), "subscription_ended",
	       "unsubscribe: kind");
	is_str(path_str(alert, "severity"), "warning", "unsubscribe: severity");
	is_str(path_str(alert, "title"), "SNS subscription ended: sg-alerts",
	       "unsubscribe: title");
	ok(contains(summary, TOPIC_ARN), "unsubscribe: summary has topic");
	ok(contains(summary, "stopped delivering to this endpoint"),
	   "unsubscribe: summary says stopped");
	ok(contains(summary, "someone (or something) unsubscribed it"),
	   "unsubscribe: summary says who");
	ok(contains(summary, SNS_TIMESTAMP), "unsubscribe: summary has time");
	is_str(path_str(alert, "sns.type"), "UnsubscribeConfirmation",
	       "unsubscribe: sns.type");
	is_str(path_str(alert, "alert_id"), "sns:" MESSAGE_ID,
	       "unsubscribe: alert_id");
	is_str(path_str(alert, "occurred_at"), "2024-05-01T10:00:05Z",
	       "unsubscribe: occurred_at");
	is_str(alert_get_string(alert, "kind"), "subscription_ended",
	       "alert_get_string: string member");
	ok(alert_get_string(alert, "sns") == NULL,
	   "alert_get_string: object member");
	ok(alert_get_string(alert, "nope") == NULL,
	   "alert_get_string: missing member");
	json_object_put(alert);
	msg_free(&m);
}

/* The team's zone converts the UTC event time; without one there is no
 * local time at all. */
static void
test_local_time(void)
{
	json_object *event = event_new("AuthorizeSecurityGroupIngress");
	const char *text = json_object_to_json_string_ext(event,
		JSON_C_TO_STRING_PLAIN);
	struct alert_options seoul = { .timezone = "Asia/Seoul" };
	struct sns_message m;
	json_object *alert;

	set_path(event, "detail.eventTime", "\"2024-05-01T16:30:00Z\"");
	text = json_object_to_json_string_ext(event, JSON_C_TO_STRING_PLAIN);
	msg_init(&m, text, strlen(text), NULL);

	is_int(text_use_timezone("Asia/Seoul"), 0, "local time: zone set");
	alert = alert_from_notification(&m, &seoul, RECEIVED_AT);
	is_str(path_str(alert, "timezone"), "Asia/Seoul",
	       "local time: zone named");
	is_str(path_str(alert, "occurred_at_local"),
	       "2024-05-02 01:30:00 KST (+0900)",
	       "local time: converted across midnight");
	is_str(path_str(alert, "occurred_at"), "2024-05-01T16:30:00Z",
	       "local time: UTC time unchanged");
	json_object_put(alert);

	alert = alert_from_notification(&m, NULL, RECEIVED_AT);
	ok(path_get(alert, "occurred_at_local") == NULL,
	   "local time: absent without a zone");
	json_object_put(alert);
	is_int(text_use_timezone("UTC"), 0, "local time: zone reset");
	msg_free(&m);
	json_object_put(event);
}

/* ---- a configured severity table ---- */

struct table_case {
	const char *name;
	const char *call;
	const char *permissions;	/* ipPermissions JSON, NULL: template */
	const char *ports;		/* high_risk_ports, NULL: default */
	unsigned min_prefix;
	int change;			/* severity_change */
	const char *severity;		/* with the custom table */
	const char *default_severity;	/* with the built-in table */
	bool open;			/* rules.0.open_to_internet */
};

#define PERM_V4(proto, from, to, cidr) \
	"{\"items\":[{\"ipProtocol\":\"" proto "\",\"fromPort\":" from \
	",\"toPort\":" to ",\"ipRanges\":{\"items\":[{\"cidrIp\":\"" \
	cidr "\"}]}}]}"
#define PERM_V6(proto, from, to, cidr) \
	"{\"items\":[{\"ipProtocol\":\"" proto "\",\"fromPort\":" from \
	",\"toPort\":" to ",\"ipv6Ranges\":{\"items\":[{\"cidrIpv6\":\"" \
	cidr "\"}]}}]}"

static const struct table_case table_cases[] = {
	{ "8443 high risk", "AuthorizeSecurityGroupIngress",
	  PERM_V4("tcp", "8443", "8443", "0.0.0.0/0"), "22,8443", 0,
	  SEVERITY_MEDIUM, "critical", "high", true },
	{ "22 dropped", "AuthorizeSecurityGroupIngress",
	  PERM_V4("tcp", "22", "22", "0.0.0.0/0"), "8443", 0,
	  SEVERITY_MEDIUM, "high", "critical", true },
	{ "range overlap", "AuthorizeSecurityGroupIngress",
	  PERM_V4("tcp", "8000", "8100", "0.0.0.0/0"), "8050-9000", 0,
	  SEVERITY_MEDIUM, "critical", "critical", true },
	{ "range apart", "AuthorizeSecurityGroupIngress",
	  PERM_V4("udp", "7000", "7999", "::/0"), "8000-8100", 0,
	  SEVERITY_MEDIUM, "high", "high", true },
	{ "delete raised", "DeleteSecurityGroup", NULL, NULL, 0,
	  SEVERITY_HIGH, "high", "medium", false },
	{ "slash 1 min 8", "AuthorizeSecurityGroupIngress",
	  PERM_V4("tcp", "22", "22", "0.0.0.0/1"), NULL, 8,
	  SEVERITY_MEDIUM, "critical", "medium", true },
	{ "128 slash 1 min 8", "AuthorizeSecurityGroupIngress",
	  PERM_V4("tcp", "443", "443", "128.0.0.0/1"), NULL, 8,
	  SEVERITY_MEDIUM, "high", "medium", true },
	{ "slash 8 min 8", "AuthorizeSecurityGroupIngress",
	  PERM_V4("tcp", "22", "22", "10.0.0.0/8"), NULL, 8,
	  SEVERITY_MEDIUM, "medium", "medium", false },
	{ "v6 slash 31 min 8", "AuthorizeSecurityGroupIngress",
	  PERM_V6("tcp", "22", "22", "2000::/31"), NULL, 8,
	  SEVERITY_MEDIUM, "critical", "medium", true },
	{ "v6 slash 32 min 8", "AuthorizeSecurityGroupIngress",
	  PERM_V6("tcp", "22", "22", "2000::/32"), NULL, 8,
	  SEVERITY_MEDIUM, "medium", "medium", false },
};

/* The alert of event built with opts. */
static json_object *
alert_of_event_with(json_object *event, const struct alert_options *opts)
{
	const char *text = json_object_to_json_string_ext(event,
		JSON_C_TO_STRING_PLAIN);
	struct sns_message m;
	json_object *alert;

	msg_init(&m, text, strlen(text), NULL);
	alert = alert_from_notification(&m, opts, RECEIVED_AT);
	msg_free(&m);
	return alert;
}

static void
table_case_run(const struct table_case *c)
{
	struct severity_table table = *severity_default();
	struct alert_options opts = { .severity = &table };
	json_object *event = event_new(c->call), *alert;
	struct buf why;

	buf_init(&why, 1024);
	if (c->ports != NULL && severity_parse_ports(&table, c->ports,
						     &why) != 0)
		diag("bad ports in test: %s", why.data);
	buf_free(&why);
	table.world_open_min_prefix = c->min_prefix;
	table.change = c->change;
	if (c->permissions != NULL)
		set_path(event, "detail.requestParameters.ipPermissions",
			 c->permissions);
	alert = alert_of_event_with(event, &opts);
	is_str(path_str(alert, "severity"), c->severity, "table %s: severity",
	       c->name);
	if (c->permissions != NULL)
		ok(json_object_get_boolean(path_get(alert,
			"rules.0.open_to_internet")) == c->open,
		   "table %s: open_to_internet", c->name);
	json_object_put(alert);
	alert = alert_of_event(event);
	is_str(path_str(alert, "severity"), c->default_severity,
	       "table %s: default severity", c->name);
	json_object_put(alert);
	json_object_put(event);
}

/* Each level of the table reaches the alert. */
static void
test_table_levels(void)
{
	struct severity_table table = *severity_default();
	struct alert_options opts = { .severity = &table };
	json_object *event = event_new("RevokeSecurityGroupIngress"), *alert;

	table.revoke = SEVERITY_INFO;
	alert = alert_of_event_with(event, &opts);
	is_str(path_str(alert, "severity"), "info", "table revoke: info");
	json_object_put(alert);

	set_path(event, "detail.userIdentity",
		 "{\"type\":\"Root\",\"arn\":\"arn:aws:iam::1:root\"}");
	table.root = SEVERITY_CRITICAL;
	alert = alert_of_event_with(event, &opts);
	is_str(path_str(alert, "severity"), "critical", "table root: critical");
	json_object_put(alert);
	json_object_put(event);

	event = event_new("AuthorizeSecurityGroupIngress");
	table = *severity_default();
	table.world_open_high_risk = SEVERITY_LOW;
	alert = alert_of_event_with(event, &opts);
	is_str(path_str(alert, "severity"), "medium",
	       "table high risk below change: change wins");
	ok(has_prefix(path_str(alert, "title"), "Security group ingress "
		      "opened to the internet"), "table high risk: title");
	json_object_put(alert);
	json_object_put(event);
}

static void
test_severity_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(table_cases) / sizeof(*table_cases); i++)
		table_case_run(&table_cases[i]);
	test_table_levels();
}

int
main(void)
{
	char dir[1024];
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/events", tap_fixtures_dir());
	d = opendir(dir);
	if (d == NULL)
		skip_all("fixture folder %s not found; set SNSRELAY_FIXTURES",
			 dir);
	closedir(d);

	test_fixtures();
	test_failed_call_text();
	test_fragment();
	test_shapes();
	test_event_members();
	test_failure_members();
	test_actors();
	test_root_severity();
	test_access_fixtures();
	test_access();
	test_console_urls();
	test_actor_root();
	test_missing_keys();
	test_wrong_types();
	test_wrong_types_wrappers();
	test_fallback_logged();
	test_hostile_description();
	test_long_description();
	test_control_characters();
	test_invalid_utf8_event();
	test_deep_nesting();
	test_deep_member();
	test_plain_text();
	test_subject();
	test_long_subject();
	test_nul_in_message();
	test_alarm();
	test_other_eventbridge();
	test_unmatched_sg_events();
	test_unknown_json();
	test_not_json();
	test_long_text();
	test_unsubscribe();
	test_local_time();
	test_severity_table();
	return tap_done();
}
