#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snsrelay/buf.h"
#include "snsrelay/labels.h"
#include "snsrelay/severity.h"
#include "snsrelay/sg_event.h"
#include "snsrelay/text.h"

/*
 * Maximum length, in code points, of values copied from the event.
 * CloudTrail caps userAgent and errorMessage at 1 KB; EC2 caps group
 * names and rule descriptions at 255 characters.
 */
#define SG_SHORT_MAX		128
#define SG_NAME_MAX		255
#define SG_LONG_MAX		1024
#define SG_TITLE_MAX		256
#define SG_SUMMARY_MAX		2048
/* Security groups listed per alert; more are not expected in one call. */
#define SG_GROUPS_MAX		50
/* Rules quoted in the summary; the rules member lists all of them. */
#define SG_SUMMARY_RULES	3

/* The API calls snsrelay formats, with the words of their summary. */
struct sg_call {
	const char *name;
	const char *direction;	/* "ingress", "egress", NULL when unknown */
	const char *change;	/* rule change, NULL for group calls */
	const char *done;	/* summary verb after a success */
	const char *attempt;	/* summary verb after a failure */
	const char *preposition;
};

static const struct sg_call sg_calls[] = {
	{ "AuthorizeSecurityGroupIngress", "ingress", "added",
	  "added", "tried to add", "to" },
	{ "AuthorizeSecurityGroupEgress", "egress", "added",
	  "added", "tried to add", "to" },
	{ "RevokeSecurityGroupIngress", "ingress", "removed",
	  "removed", "tried to remove", "from" },
	{ "RevokeSecurityGroupEgress", "egress", "removed",
	  "removed", "tried to remove", "from" },
	{ "ModifySecurityGroupRules", NULL, "modified",
	  "modified", "tried to modify", "of" },
	{ "UpdateSecurityGroupRuleDescriptionsIngress", "ingress", "described",
	  "changed the description of", "tried to change the description of",
	  "of" },
	{ "UpdateSecurityGroupRuleDescriptionsEgress", "egress", "described",
	  "changed the description of", "tried to change the description of",
	  "of" },
	{ "CreateSecurityGroup", NULL, NULL,
	  "created", "tried to create", NULL },
	{ "DeleteSecurityGroup", NULL, NULL,
	  "deleted", "tried to delete", NULL },
};

/* Risk class of an added rule, in increasing order.  The high-risk
 * ports (by default those of Security Hub EC2.19) come from the severity
 * table. */
enum sg_risk {
	SG_RISK_NONE = 0,
	SG_RISK_WORLD_OPEN,		/* ingress open to the internet */
	SG_RISK_WORLD_OPEN_HIGH_RISK,	/* ... on all or a high-risk port */
};

struct sg_icmp_name {
	int type;
	const char *name;
};

static const struct sg_icmp_name sg_icmp_names[] = {
	{ 0, "echo-reply" }, { 3, "destination-unreachable" },
	{ 4, "source-quench" }, { 5, "redirect" }, { 8, "echo-request" },
	{ 9, "router-advertisement" }, { 10, "router-solicitation" },
	{ 11, "time-exceeded" }, { 12, "parameter-problem" },
	{ 13, "timestamp-request" }, { 14, "timestamp-reply" },
};

static const struct sg_icmp_name sg_icmpv6_names[] = {
	{ 1, "destination-unreachable" }, { 2, "packet-too-big" },
	{ 3, "time-exceeded" }, { 4, "parameter-problem" },
	{ 128, "echo-request" }, { 129, "echo-reply" },
	{ 133, "router-solicitation" }, { 134, "router-advertisement" },
	{ 135, "neighbor-solicitation" }, { 136, "neighbor-advertisement" },
	{ 137, "redirect" },
};

/* State of one sg_event_fill_alert call. */
struct sg_ctx {
	json_object *envelope;
	json_object *detail;
	const struct sg_call *call;
	struct err *e;
	bool failed;		/* e holds the first reason */
	json_object *event;	/* members of the alert being built */
	json_object *groups;
	json_object *rules;
	const struct severity_table *table;
	enum sg_risk rule_risk;		/* highest risk of an added rule */
	bool risk_unknown_direction;
	/* An added egress rule lets traffic out to the internet.  It keeps
	 * the severity of a change but gets a title naming it. */
	bool egress_world_open;
	enum label_language lang;	/* of the title */
};

/* One rule as read from the request, before it becomes JSON. */
struct sg_rule_spec {
	const char *direction;
	const char *change;
	char protocol[SG_SHORT_MAX];	/* empty when not given */
	int from_port, to_port;
	bool has_from, has_to;
	json_object *peer;		/* JSON strings from the event */
	const char *peer_kind;
	json_object *peer_account;
	json_object *description;
	json_object *rule_id;
};

/* A CloudTrail list: {"items": [...]}, a bare array, or one object (the
 * PascalCase request wrappers hold a single entry without a list). */
struct sg_list {
	json_object *array;
	json_object *single;
	size_t len;
};

/* Length of array, 0 for anything else (json-c asserts on a non-array). */
static size_t
sg_array_length(json_object *array)
{
	if (!json_object_is_type(array, json_type_array))
		return 0;
	return json_object_array_length(array);
}

static void sg_fail(struct sg_ctx *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
sg_fail(struct sg_ctx *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return;
	c->failed = true;
	if (c->e == NULL)
		return;
	c->e->code = code;
	va_start(ap, fmt);
	vsnprintf(c->e->msg, sizeof(c->e->msg), fmt, ap);
	va_end(ap);
}

static void
sg_nomem(struct sg_ctx *c)
{
	sg_fail(c, "out_of_memory", "memory is short");
}

static void
sg_add(struct sg_ctx *c, json_object *obj, const char *key, json_object *val)
{
	if (obj == NULL || json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		sg_nomem(c);
	}
}

/*
 * Member key of obj, or of its PascalCase twin ("groupId", "GroupId"):
 * CloudTrail writes most requests in camelCase but some calls keep the
 * API's XML wrapper in PascalCase.  NULL when absent or JSON null.
 */
static json_object *
sg_member(json_object *obj, const char *key)
{
	char twin[64];
	json_object *val = NULL;
	size_t len;

	if (!json_object_is_type(obj, json_type_object))
		return NULL;
	if (json_object_object_get_ex(obj, key, &val))
		return val;
	len = strlen(key);
	if (len >= sizeof(twin))
		return NULL;
	memcpy(twin, key, len + 1);
	twin[0] = (char)toupper((unsigned char)twin[0]);
	if (json_object_object_get_ex(obj, twin, &val))
		return val;
	return NULL;
}

/* Member key of obj when it has type want; NULL when absent or null.  A
 * member of another type fails the context. */
static json_object *
sg_get(struct sg_ctx *c, json_object *obj, const char *key,
       enum json_type want)
{
	json_object *val = sg_member(obj, key);

	if (val == NULL || json_object_is_type(val, want))
		return val;
	sg_fail(c, "sg_event_shape", "%s is of type %s, expected %s", key,
		json_type_to_name(json_object_get_type(val)),
		json_type_to_name(want));
	return NULL;
}

/* A sanitized copy of the JSON string src shortened to max code points,
 * or NULL when memory is short. */
static char *
sg_clean_copy(json_object *src, size_t max)
{
	char *clean, *cut;

	clean = text_sanitize(json_object_get_string(src),
			      (size_t)json_object_get_string_len(src));
	if (clean == NULL)
		return NULL;
	cut = text_truncate(clean, max);
	free(clean);
	return cut;
}

/* A new JSON string holding src (a JSON string) sanitized and shortened
 * to max code points. */
static json_object *
sg_text_from(struct sg_ctx *c, json_object *src, size_t max)
{
	char *cut = sg_clean_copy(src, max);
	json_object *out = NULL;

	if (cut != NULL)
		out = json_object_new_string(cut);
	if (out == NULL)
		sg_nomem(c);
	free(cut);
	return out;
}

/* Adds dst[key] = sanitized src[src_key], or null.  Returns the added
 * value (owned by dst) or NULL. */
static json_object *
sg_put_text(struct sg_ctx *c, json_object *dst, const char *key,
	    json_object *src, const char *src_key, size_t max)
{
	json_object *val = sg_get(c, src, src_key, json_type_string);

	if (val != NULL)
		val = sg_text_from(c, val, max);
	sg_add(c, dst, key, val);
	return val;
}

static json_object *
sg_new_string(struct sg_ctx *c, const char *s)
{
	json_object *out = s != NULL ? json_object_new_string(s) : NULL;

	if (s != NULL && out == NULL)
		sg_nomem(c);
	return out;
}

static const char *
sg_string_of(json_object *obj, const char *key)
{
	json_object *val = NULL;

	if (!json_object_object_get_ex(obj, key, &val) ||
	    !json_object_is_type(val, json_type_string))
		return NULL;
	return json_object_get_string(val);
}

static bool
sg_string_is(json_object *obj, const char *key, const char *want)
{
	const char *s = sg_string_of(obj, key);

	return s != NULL && strcmp(s, want) == 0;
}

static const struct sg_call *
sg_call_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(sg_calls) / sizeof(sg_calls[0]);
	     i++)
		if (strcmp(sg_calls[i].name, name) == 0)
			return &sg_calls[i];
	return NULL;
}

bool
sg_event_matches(json_object *event)
{
	json_object *detail = NULL;

	if (!json_object_is_type(event, json_type_object) ||
	    !sg_string_is(event, "detail-type",
			  "AWS API Call via CloudTrail") ||
	    !sg_string_is(event, "source", "aws.ec2") ||
	    !json_object_object_get_ex(event, "detail", &detail) ||
	    !json_object_is_type(detail, json_type_object))
		return false;
	return sg_string_is(detail, "eventSource", "ec2.amazonaws.com") &&
	       sg_call_find(sg_string_of(detail, "eventName")) != NULL;
}

/* ---- lists ---- */

static void
sg_list_open(struct sg_ctx *c, json_object *coll, const char *what,
	     struct sg_list *list)
{
	json_object *items = NULL;

	memset(list, 0, sizeof(*list));
	if (coll == NULL)
		return;
	if (json_object_is_type(coll, json_type_object)) {
		items = sg_member(coll, "items");
		if (items == NULL && json_object_object_length(coll) > 0 &&
		    !json_object_object_get_ex(coll, "items", NULL))
			items = coll;
		if (items == NULL)
			return;
		coll = items;
	}
	if (json_object_is_type(coll, json_type_array)) {
		list->array = coll;
		list->len = json_object_array_length(coll);
	} else if (json_object_is_type(coll, json_type_object)) {
		list->single = coll;
		list->len = 1;
	} else {
		sg_fail(c, "sg_event_shape", "%s is of type %s, expected a "
			"list", what,
			json_type_to_name(json_object_get_type(coll)));
	}
}

static json_object *
sg_list_at(const struct sg_list *list, size_t i)
{
	if (list->single != NULL)
		return list->single;
	return json_object_array_get_idx(list->array, i);
}

/* Entry i of list when it is an object; any other type fails c. */
static json_object *
sg_list_object(struct sg_ctx *c, const struct sg_list *list, size_t i,
	       const char *what)
{
	json_object *item = sg_list_at(list, i);

	if (json_object_is_type(item, json_type_object))
		return item;
	sg_fail(c, "sg_event_shape", "an entry of %s is of type %s, expected "
		"an object", what,
		json_type_to_name(json_object_get_type(item)));
	return NULL;
}

/* ---- event and actor ---- */

/* Resource part of an ARN ("user/name", "assumed-role/role/session"). */
static const char *
sg_arn_resource(const char *arn)
{
	int colons = 0;

	for (; arn != NULL && *arn != '\0'; arn++)
		if (*arn == ':' && ++colons == 5)
			return arn + 1;
	return NULL;
}

static const char *
sg_after_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (s == NULL || strncmp(s, prefix, n) != 0 || s[n] == '\0')
		return NULL;
	return s + n;
}

static const char *
sg_last_segment(const char *s)
{
	const char *slash = s != NULL ? strrchr(s, '/') : NULL;

	if (slash != NULL && slash[1] != '\0')
		return slash + 1;
	return s;
}

/* The short name of the caller: IAM user name, "role/session", "root". */
static const char *
sg_actor_name(json_object *actor, const char *user_name)
{
	const char *type = sg_string_of(actor, "type");
	const char *arn = sg_string_of(actor, "arn");
	const char *resource = sg_arn_resource(arn);
	const char *name = NULL;

	if (type != NULL && strcmp(type, "Root") == 0)
		return "root";
	if (type != NULL && strcmp(type, "IAMUser") == 0 && user_name != NULL)
		return user_name;
	name = sg_after_prefix(resource, "assumed-role/");
	if (name == NULL)
		name = sg_after_prefix(resource, "federated-user/");
	if (name == NULL && user_name != NULL)
		name = user_name;
	if (name == NULL && resource != NULL)
		name = sg_last_segment(resource);
	if (name == NULL)
		name = sg_string_of(actor, "invoked_by");
	if (name == NULL)
		name = arn;
	return name;
}

static void
sg_fill_actor(struct sg_ctx *c)
{
	json_object *identity, *actor, *user_name, *issuer;
	const char *name;

	identity = sg_get(c, c->detail, "userIdentity", json_type_object);
	actor = json_object_new_object();
	sg_add(c, c->event, "actor", actor);
	if (actor == NULL)
		return;
	sg_put_text(c, actor, "type", identity, "type", SG_SHORT_MAX);
	sg_put_text(c, actor, "arn", identity, "arn", SG_LONG_MAX);
	sg_put_text(c, actor, "invoked_by", identity, "invokedBy",
		    SG_NAME_MAX);
	sg_put_text(c, actor, "account_id", identity, "accountId",
		    SG_SHORT_MAX);
	user_name = sg_get(c, identity, "userName", json_type_string);
	if (user_name == NULL) {
		issuer = sg_get(c, sg_get(c, identity, "sessionContext",
					  json_type_object),
				"sessionIssuer", json_type_object);
		user_name = sg_get(c, issuer, "userName", json_type_string);
	}
	user_name = user_name != NULL ?
		sg_text_from(c, user_name, SG_NAME_MAX) : NULL;

	name = sg_actor_name(actor, json_object_get_string(user_name));
	sg_add(c, actor, "name", sg_new_string(c, name));
	sg_add(c, actor, "root", json_object_new_boolean(
		sg_string_is(actor, "type", "Root")));
	json_object_put(user_name);
}

/* detail[key], or the envelope's envelope_key when detail lacks it. */
static void
sg_put_detail_or_envelope(struct sg_ctx *c, const char *key,
			  const char *detail_key, const char *envelope_key)
{
	json_object *src = c->detail;

	if (sg_get(c, c->detail, detail_key, json_type_string) == NULL)
		src = c->envelope;
	sg_put_text(c, c->event, key, src, src == c->detail ? detail_key :
		    envelope_key, SG_SHORT_MAX);
}

static void
sg_fill_time(struct sg_ctx *c)
{
	json_object *when;
	time_t epoch;

	when = sg_put_text(c, c->event, "time", c->detail, "eventTime",
			   SG_SHORT_MAX);
	if (when != NULL &&
	    text_parse_time(json_object_get_string(when), &epoch) == 0)
		sg_add(c, c->event, "epoch", json_object_new_int64(epoch));
	else
		sg_add(c, c->event, "epoch", NULL);
}

static void
sg_fill_event(struct sg_ctx *c)
{
	c->event = json_object_new_object();
	if (c->event == NULL) {
		sg_nomem(c);
		return;
	}
	sg_add(c, c->event, "name", sg_new_string(c, c->call->name));
	sg_fill_time(c);
	sg_put_text(c, c->event, "id", c->detail, "eventID", SG_SHORT_MAX);
	sg_put_detail_or_envelope(c, "region", "awsRegion", "region");
	sg_put_detail_or_envelope(c, "account", "recipientAccountId",
				  "account");
	sg_put_text(c, c->event, "source_ip", c->detail, "sourceIPAddress",
		    SG_NAME_MAX);
	sg_put_text(c, c->event, "user_agent", c->detail, "userAgent",
		    SG_LONG_MAX);
	sg_put_text(c, c->event, "error_code", c->detail, "errorCode",
		    SG_NAME_MAX);
	sg_put_text(c, c->event, "error_message", c->detail, "errorMessage",
		    SG_LONG_MAX);
	sg_fill_actor(c);
}

/* ---- how the call was made ---- */

#define SG_CLOUDFORMATION	"cloudformation.amazonaws.com"
#define SG_SIGNIN		"signin.amazonaws.com"

struct sg_access {
	const char *code;
	const char *text;
};

static const struct sg_access sg_accesses[] = {
	{ "console", "AWS console" },
	{ "cli", "AWS CLI" },
	{ "terraform", "Terraform" },
	{ "cloudformation", "CloudFormation" },
	{ "sdk", "AWS SDK" },
	{ "aws_service", "AWS service" },
	{ "unknown", "unknown" },
};

static bool
sg_text_is(const char *s, const char *want)
{
	return s != NULL && strcmp(s, want) == 0;
}

static bool
sg_text_has(const char *s, const char *part)
{
	return s != NULL && strstr(s, part) != NULL;
}

static bool
sg_text_starts(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
sg_text_ends(const char *s, const char *suffix)
{
	size_t n = s != NULL ? strlen(s) : 0, k = strlen(suffix);

	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* The user agents of the AWS console: the EC2 console, the root user's
 * and an IAM user's console sign-in, and a browser. */
static bool
sg_agent_is_console(const char *agent)
{
	return sg_text_is(agent, "console.ec2.amazonaws.com") ||
	       sg_text_is(agent, "console.amazonaws.com") ||
	       sg_text_is(agent, SG_SIGNIN) ||
	       sg_text_starts(agent, "Mozilla/");
}

static bool
sg_agent_is_sdk(const char *agent)
{
	return sg_text_has(agent, "Boto3/") || sg_text_has(agent, "aws-sdk-") ||
	       sg_text_has(agent, "APN/");
}

/* The access code of a call; the first test that matches wins. */
static const char *
sg_access_code(const char *agent, const char *source_ip, const char *via,
	       bool from_console)
{
	if (sg_text_has(agent, "Terraform/"))
		return "terraform";
	if (sg_text_is(via, SG_CLOUDFORMATION) ||
	    sg_text_is(agent, SG_CLOUDFORMATION))
		return "cloudformation";
	if (sg_agent_is_console(agent) || sg_text_is(via, SG_SIGNIN))
		return "console";
	if (sg_text_starts(agent, "aws-cli/"))
		return "cli";
	if (sg_agent_is_sdk(agent))
		return "sdk";
	if (from_console)
		return "console";
	if (sg_text_starts(agent, "AWS Internal") ||
	    sg_text_starts(source_ip, "AWS Internal") ||
	    sg_text_ends(via, ".amazonaws.com"))
		return "aws_service";
	return "unknown";
}

/* detail.sessionCredentialFromConsole: the string "true" (or a JSON
 * true) when the credentials came from a console session. */
static bool
sg_from_console(json_object *detail)
{
	json_object *val = sg_member(detail, "sessionCredentialFromConsole");

	if (json_object_is_type(val, json_type_boolean))
		return json_object_get_boolean(val);
	return json_object_is_type(val, json_type_string) &&
	       strcmp(json_object_get_string(val), "true") == 0;
}

static void
sg_fill_access(struct sg_ctx *c)
{
	json_object *actor = sg_member(c->event, "actor");
	const char *code;
	size_t i, n = sizeof(sg_accesses) / sizeof(sg_accesses[0]);

	code = sg_access_code(sg_string_of(c->event, "user_agent"),
			      sg_string_of(c->event, "source_ip"),
			      sg_string_of(actor, "invoked_by"),
			      sg_from_console(c->detail));
	for (i = 0; i + 1 < n; i++)
		if (strcmp(sg_accesses[i].code, code) == 0)
			break;
	sg_add(c, c->event, "access", sg_new_string(c, sg_accesses[i].code));
	sg_add(c, c->event, "access_text",
	       sg_new_string(c, sg_accesses[i].text));
}

/* ---- security groups ---- */

static json_object *
sg_group_find(json_object *groups, const char *id)
{
	size_t i, n = sg_array_length(groups);
	const char *have;

	for (i = 0; i < n; i++) {
		have = sg_string_of(json_object_array_get_idx(groups, i), "id");
		if (have != NULL && strcmp(have, id) == 0)
			return json_object_array_get_idx(groups, i);
	}
	return NULL;
}

static json_object *
sg_group_new(struct sg_ctx *c)
{
	json_object *group = json_object_new_object();

	if (group == NULL) {
		sg_nomem(c);
		return NULL;
	}
	if (sg_array_length(c->groups) >= SG_GROUPS_MAX ||
	    json_object_array_add(c->groups, group) != 0) {
		json_object_put(group);
		return NULL;
	}
	sg_add(c, group, "id", NULL);
	sg_add(c, group, "name", NULL);
	return group;
}

/* Adds the group whose id is src[key], unless it is listed already.  The
 * first group, read from the request, may be known by name only; a
 * response id then completes it. */
static void
sg_group_add_id(struct sg_ctx *c, json_object *src, const char *key)
{
	json_object *first, *id;
	const char *value;

	id = sg_get(c, src, key, json_type_string);
	if (id == NULL || (id = sg_text_from(c, id, SG_NAME_MAX)) == NULL)
		return;
	value = json_object_get_string(id);
	first = sg_array_length(c->groups) > 0 ?
		json_object_array_get_idx(c->groups, 0) : NULL;
	if (sg_group_find(c->groups, value) != NULL) {
		json_object_put(id);
		return;
	}
	if (first == NULL || sg_string_of(first, "id") != NULL)
		first = sg_group_new(c);
	if (first == NULL) {
		json_object_put(id);
		return;
	}
	sg_add(c, first, "id", id);
}

static void
sg_groups_from_response(struct sg_ctx *c, json_object *response)
{
	struct sg_list set;
	json_object *item;
	size_t i;

	sg_group_add_id(c, response, "groupId");
	sg_list_open(c, sg_get(c, response, "securityGroupRuleSet",
			       json_type_object), "securityGroupRuleSet", &set);
	for (i = 0; i < set.len && !c->failed; i++) {
		item = sg_list_object(c, &set, i, "securityGroupRuleSet");
		sg_group_add_id(c, item, "groupId");
	}
}

static void
sg_fill_groups(struct sg_ctx *c, json_object *request, json_object *response)
{
	json_object *group;

	c->groups = json_object_new_array();
	if (c->groups == NULL) {
		sg_nomem(c);
		return;
	}
	group = sg_group_new(c);
	sg_put_text(c, group, "name", request, "groupName", SG_NAME_MAX);
	sg_group_add_id(c, request, "groupId");
	if (strcmp(c->call->name, "CreateSecurityGroup") == 0) {
		sg_put_text(c, group, "vpc_id", request, "vpcId",
			    SG_SHORT_MAX);
		sg_put_text(c, group, "description", request,
			    "groupDescription", SG_NAME_MAX);
	}
	sg_groups_from_response(c, response);

	/* Drop the placeholder when nothing named a group. */
	if (group != NULL && sg_string_of(group, "id") == NULL &&
	    sg_string_of(group, "name") == NULL)
		json_object_array_del_idx(c->groups, 0, 1);
}

/* ---- console links ---- */

#define SG_LOWER	"abcdefghijklmnopqrstuvwxyz"

/* "sg-" and 8 to 17 lowercase hexadecimal digits. */
static bool
sg_is_group_id(const char *id)
{
	size_t n;

	if (!sg_text_starts(id, "sg-"))
		return false;
	n = strspn(id + 3, "0123456789abcdef");
	return id[3 + n] == '\0' && n >= 8 && n <= 17;
}

/* A region code such as "eu-central-1" or "us-gov-west-1": two letters,
 * one or more words, and a number of one or two digits. */
static bool
sg_is_region(const char *region)
{
	size_t at = 3, words = 0, n;

	if (region == NULL || strlen(region) > 32 ||
	    strspn(region, SG_LOWER) != 2 || region[2] != '-')
		return false;
	while ((n = strspn(region + at, SG_LOWER)) > 0 &&
	       region[at + n] == '-') {
		at += n + 1;
		words++;
	}
	n = strspn(region + at, "0123456789");
	return words > 0 && n >= 1 && n <= 2 && region[at + n] == '\0';
}

/* Writes the console page of group id in region to out.  Returns false
 * when either does not look right or the partition has no public
 * console (the us-iso regions). */
static bool
sg_console_url(const char *id, const char *region, char *out, size_t size)
{
	const char *host = NULL;
	int n;

	if (!sg_is_group_id(id) || !sg_is_region(region) ||
	    sg_text_starts(region, "us-iso"))
		return false;
	if (sg_text_starts(region, "cn-"))
		host = "console.amazonaws.cn";
	else if (sg_text_starts(region, "us-gov-"))
		host = "console.amazonaws-us-gov.com";
	if (host != NULL)
		n = snprintf(out, size, "https://%s/ec2/home?region=%s"
			     "#SecurityGroup:groupId=%s", host, region, id);
	else
		n = snprintf(out, size, "https://%s.console.aws.amazon.com/"
			     "ec2/home?region=%s#SecurityGroup:groupId=%s",
			     region, region, id);
	return n > 0 && (size_t)n < size;
}

static void
sg_fill_console_urls(struct sg_ctx *c)
{
	const char *region = sg_string_of(c->event, "region");
	size_t i, n = sg_array_length(c->groups);
	json_object *group;
	char url[256];

	for (i = 0; i < n; i++) {
		group = json_object_array_get_idx(c->groups, i);
		if (sg_console_url(sg_string_of(group, "id"), region, url,
				   sizeof(url)))
			sg_add(c, group, "console_url",
			       sg_new_string(c, url));
		else
			sg_add(c, group, "console_url", NULL);
	}
}

/* ---- rules: reading ---- */

/* Reads a port (or ICMP type/code) given as a number or a numeric
 * string.  Returns true when present and valid. */
static bool
sg_get_port(struct sg_ctx *c, json_object *obj, const char *key, int *out)
{
	json_object *val = sg_member(obj, key);
	const char *s;
	char *end = NULL;
	long v;

	if (val == NULL)
		return false;
	if (json_object_is_type(val, json_type_int)) {
		errno = 0;
		v = (long)json_object_get_int64(val);
	} else if (json_object_is_type(val, json_type_string)) {
		s = json_object_get_string(val);
		errno = 0;
		v = strtol(s, &end, 10);
		if (end == s || *end != '\0')
			v = LONG_MIN;
	} else {
		v = LONG_MIN;
	}
	if (v < -1 || v > 65535 || errno != 0) {
		sg_fail(c, "sg_event_shape", "%s is not a port number (-1 to "
			"65535)", key);
		return false;
	}
	*out = (int)v;
	return true;
}

static void
sg_protocol_normalize(const char *in, char *out, size_t size)
{
	static const char *const numbers[][2] = {
		{ "-1", "all" }, { "1", "icmp" }, { "6", "tcp" },
		{ "17", "udp" }, { "58", "icmpv6" },
	};
	size_t i;

	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		if (strcmp(in, numbers[i][0]) == 0) {
			snprintf(out, size, "%s", numbers[i][1]);
			return;
		}
	for (i = 0; in[i] != '\0' && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

static void
sg_get_protocol(struct sg_ctx *c, json_object *obj, struct sg_rule_spec *r)
{
	json_object *val = sg_member(obj, "ipProtocol");
	char raw[SG_SHORT_MAX];
	char *clean = NULL;

	r->protocol[0] = '\0';
	if (val == NULL)
		return;
	if (json_object_is_type(val, json_type_int)) {
		snprintf(raw, sizeof(raw), "%lld",
			 (long long)json_object_get_int64(val));
	} else if (json_object_is_type(val, json_type_string)) {
		clean = sg_clean_copy(val, 24);
		if (clean == NULL) {
			sg_nomem(c);
			return;
		}
		snprintf(raw, sizeof(raw), "%s", clean);
		free(clean);
	} else {
		sg_fail(c, "sg_event_shape", "ipProtocol is of type %s, "
			"expected a string",
			json_type_to_name(json_object_get_type(val)));
		return;
	}
	sg_protocol_normalize(raw, r->protocol, sizeof(r->protocol));
}

/* Reads protocol and ports from a permission, a flat request or a
 * ModifySecurityGroupRules rule. */
static void
sg_spec_read_ports(struct sg_ctx *c, json_object *obj, struct sg_rule_spec *r)
{
	sg_get_protocol(c, obj, r);
	r->has_from = sg_get_port(c, obj, "fromPort", &r->from_port);
	r->has_to = sg_get_port(c, obj, "toPort", &r->to_port);
}

/* ---- rules: wording and risk ---- */

/* True for a CIDR peer whose prefix is short enough to count as the
 * whole internet: /0, or shorter than world_open_min_prefix. */
static bool
sg_peer_is_world(const struct severity_table *t, const struct sg_rule_spec *r)
{
	const char *s, *slash;
	unsigned prefix = 0;

	if (r->peer == NULL || strncmp(r->peer_kind, "cidr", 4) != 0)
		return false;
	s = json_object_get_string(r->peer);
	slash = strrchr(s, '/');
	if (slash == NULL || slash[1] == '\0')
		return false;
	for (slash++; *slash >= '0' && *slash <= '9'; slash++)
		if (prefix < 1000)
			prefix = prefix * 10 + (unsigned)(*slash - '0');
	if (*slash != '\0')
		return false;
	return severity_prefix_is_world(t, prefix,
					strcmp(r->peer_kind, "cidr_ipv6") == 0);
}

static bool
sg_ports_are_all(const struct sg_rule_spec *r)
{
	if (!r->has_from || !r->has_to)
		return true;
	return r->from_port == -1 || r->to_port == -1 ||
	       (r->from_port <= 0 && r->to_port >= 65535);
}

static bool
sg_ports_high_risk(const struct severity_table *t,
		   const struct sg_rule_spec *r)
{
	int from = r->from_port < 0 ? 0 : r->from_port;
	int to = r->to_port > 65535 ? 65535 : r->to_port;

	if (sg_ports_are_all(r))
		return true;
	if (from > to)
		return false;
	return severity_ports_high_risk(t, (unsigned)from, (unsigned)to);
}

/* Risk of one rule: ingress opened to the internet, on all or a
 * high-risk port or on others.  A rule of unknown direction
 * (ModifySecurityGroupRules) counts as ingress, because its request
 * carries no direction. */
static enum sg_risk
sg_rule_risk(const struct severity_table *t, const struct sg_rule_spec *r)
{
	bool ported;

	if (strcmp(r->change, "added") != 0 &&
	    strcmp(r->change, "modified") != 0)
		return SG_RISK_NONE;
	if ((r->direction != NULL && strcmp(r->direction, "ingress") != 0) ||
	    !sg_peer_is_world(t, r))
		return SG_RISK_NONE;
	if (r->protocol[0] == '\0' || strcmp(r->protocol, "all") == 0)
		return SG_RISK_WORLD_OPEN_HIGH_RISK;
	ported = strcmp(r->protocol, "tcp") == 0 ||
		 strcmp(r->protocol, "udp") == 0;
	if (ported && sg_ports_high_risk(t, r))
		return SG_RISK_WORLD_OPEN_HIGH_RISK;
	return SG_RISK_WORLD_OPEN;
}

static const char *
sg_icmp_name(const char *protocol, int type)
{
	const struct sg_icmp_name *names = sg_icmp_names;
	size_t i, n = sizeof(sg_icmp_names) / sizeof(sg_icmp_names[0]);

	if (strcmp(protocol, "icmpv6") == 0) {
		names = sg_icmpv6_names;
		n = sizeof(sg_icmpv6_names) / sizeof(sg_icmpv6_names[0]);
	}
	for (i = 0; i < n; i++)
		if (names[i].type == type)
			return names[i].name;
	return NULL;
}

static int
sg_text_icmp(const struct sg_rule_spec *r, struct buf *b)
{
	const char *name;

	if (!r->has_from)
		return buf_append_str(b, r->protocol);
	if (r->from_port == -1)
		return buf_printf(b, "%s all types", r->protocol);
	name = sg_icmp_name(r->protocol, r->from_port);
	if (buf_printf(b, "%s type %d", r->protocol, r->from_port) != 0 ||
	    (name != NULL && buf_printf(b, " (%s)", name) != 0))
		return -1;
	if (r->has_to)
		return buf_printf(b, " code %d", r->to_port);
	return 0;
}

/* Writes an IP protocol number as "protocol 47 (GRE)", naming the ones
 * security groups commonly carry besides tcp, udp and icmp. */
static int
sg_text_protocol_number(const char *number, struct buf *b)
{
	static const char *const names[][2] = {
		{ "4", "IP-in-IP" }, { "41", "IPv6-in-IPv4" }, { "47", "GRE" },
		{ "50", "ESP" }, { "51", "AH" }, { "132", "SCTP" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(number, names[i][0]) == 0)
			return buf_printf(b, "protocol %s (%s)", number,
					  names[i][1]);
	return buf_printf(b, "protocol %s", number);
}

/* "tcp 22", "udp 8000-8100", "all traffic", "icmp type 8 (echo-request)
 * code -1", "protocol 47 (GRE)". */
static int
sg_text_traffic(const struct sg_rule_spec *r, struct buf *b)
{
	if (strcmp(r->protocol, "all") == 0)
		return buf_append_str(b, "all traffic");
	if (strcmp(r->protocol, "icmp") == 0 ||
	    strcmp(r->protocol, "icmpv6") == 0)
		return sg_text_icmp(r, b);
	if (isdigit((unsigned char)r->protocol[0])) {
		/* A bare number would read as a port: "47 from ..." */
		if (sg_text_protocol_number(r->protocol, b) != 0)
			return -1;
	} else if (buf_append_str(b, r->protocol) != 0) {
		return -1;
	}
	if (!r->has_from && !r->has_to)
		return 0;
	if (sg_ports_are_all(r))
		return buf_append_str(b, " all ports");
	if (r->from_port == r->to_port)
		return buf_printf(b, " %d", r->from_port);
	return buf_printf(b, " %d-%d", r->from_port, r->to_port);
}

static int
sg_text_peer(const struct sg_rule_spec *r, struct buf *b)
{
	const char *link = "with peer";

	if (r->peer == NULL)
		return 0;
	if (r->direction != NULL)
		link = strcmp(r->direction, "egress") == 0 ? "to" : "from";
	if (buf_printf(b, "%s%s %s", b->len > 0 ? " " : "", link,
		       json_object_get_string(r->peer)) != 0)
		return -1;
	if (r->peer_account != NULL)
		return buf_printf(b, " (account %s)",
				  json_object_get_string(r->peer_account));
	return 0;
}

static char *
sg_rule_text(const struct sg_rule_spec *r)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, 4 * SG_LONG_MAX);
	if (r->rule_id != NULL && (r->direction == NULL ||
				   (r->protocol[0] == '\0' && r->peer == NULL)))
		rc = buf_printf(&b, "rule %s%s",
				json_object_get_string(r->rule_id),
				r->protocol[0] != '\0' ? " now " : "");
	if (rc == 0 && r->protocol[0] != '\0')
		rc = sg_text_traffic(r, &b);
	if (rc == 0)
		rc = sg_text_peer(r, &b);
	if (rc == 0 && r->description != NULL)
		rc = buf_printf(&b, "%s\xE2\x80\x94 \"%s\"",
				b.len > 0 ? " " : "",
				json_object_get_string(r->description));
	if (rc == 0 && b.len == 0)
		rc = buf_append_str(&b, "unspecified rule");
	if (rc != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* ---- rules: building ---- */

static void
sg_spec_init(struct sg_ctx *c, struct sg_rule_spec *r)
{
	memset(r, 0, sizeof(*r));
	r->direction = c->call->direction;
	r->change = c->call->change;
}

static void
sg_spec_release(struct sg_rule_spec *r)
{
	json_object_put(r->peer);
	json_object_put(r->peer_account);
	json_object_put(r->description);
	json_object_put(r->rule_id);
	r->peer = r->peer_account = r->description = r->rule_id = NULL;
}

static void
sg_rule_put_port(struct sg_ctx *c, json_object *rule, const char *key,
		 bool has, int port)
{
	sg_add(c, rule, key, has ? json_object_new_int(port) : NULL);
}

static json_object *
sg_ref(json_object *obj)
{
	return obj != NULL ? json_object_get(obj) : NULL;
}

/* Appends r to the rules member as JSON and releases r's values. */
static void
sg_rule_add(struct sg_ctx *c, struct sg_rule_spec *r)
{
	json_object *rule = NULL;
	enum sg_risk risk;
	char *text = NULL;

	if (c->failed || (rule = json_object_new_object()) == NULL ||
	    json_object_array_add(c->rules, rule) != 0) {
		json_object_put(rule);
		if (!c->failed)
			sg_nomem(c);
		sg_spec_release(r);
		return;
	}
	risk = sg_rule_risk(c->table, r);
	if (risk > c->rule_risk)
		c->rule_risk = risk;
	if (risk != SG_RISK_NONE && r->direction == NULL)
		c->risk_unknown_direction = true;
	if (r->direction != NULL && strcmp(r->direction, "egress") == 0 &&
	    (strcmp(r->change, "added") == 0 ||
	     strcmp(r->change, "modified") == 0) &&
	    sg_peer_is_world(c->table, r))
		c->egress_world_open = true;
	sg_add(c, rule, "direction", sg_new_string(c, r->direction));
	sg_add(c, rule, "change", sg_new_string(c, r->change));
	sg_add(c, rule, "rule_id", sg_ref(r->rule_id));
	sg_add(c, rule, "protocol", sg_new_string(c, r->protocol[0] != '\0' ?
						  r->protocol : NULL));
	sg_rule_put_port(c, rule, "from_port", r->has_from, r->from_port);
	sg_rule_put_port(c, rule, "to_port", r->has_to, r->to_port);
	sg_add(c, rule, "peer", sg_ref(r->peer));
	sg_add(c, rule, "peer_kind", sg_new_string(c, r->peer != NULL ?
						   r->peer_kind : NULL));
	sg_add(c, rule, "peer_account", sg_ref(r->peer_account));
	sg_add(c, rule, "open_to_internet",
	       json_object_new_boolean(sg_peer_is_world(c->table, r)));
	sg_add(c, rule, "description", sg_ref(r->description));
	text = sg_rule_text(r);
	if (text == NULL)
		sg_nomem(c);
	sg_add(c, rule, "text", sg_new_string(c, text));
	free(text);
	sg_spec_release(r);
}

/* Sets r's peer to the sanitized string src[key], if present. */
static bool
sg_spec_peer(struct sg_ctx *c, struct sg_rule_spec *r, json_object *src,
	     const char *key, const char *kind)
{
	json_object *val = sg_get(c, src, key, json_type_string);

	if (val == NULL || r->peer != NULL)
		return false;
	r->peer = sg_text_from(c, val, SG_NAME_MAX);
	r->peer_kind = kind;
	if (r->peer != NULL && strcmp(kind, "cidr_ipv4") == 0 &&
	    strchr(json_object_get_string(r->peer), ':') != NULL)
		r->peer_kind = "cidr_ipv6";
	return r->peer != NULL;
}

static json_object *
sg_text_of(struct sg_ctx *c, json_object *src, const char *key, size_t max)
{
	json_object *val = sg_get(c, src, key, json_type_string);

	return val != NULL ? sg_text_from(c, val, max) : NULL;
}

/* Reads one peer entry of a permission's collection into a copy of base
 * and adds the rule. */
static void
sg_rule_from_peer(struct sg_ctx *c, const struct sg_rule_spec *base,
		  json_object *item, const char *kind)
{
	struct sg_rule_spec r = *base;

	if (strcmp(kind, "security_group") == 0) {
		if (!sg_spec_peer(c, &r, item, "groupId", kind))
			sg_spec_peer(c, &r, item, "groupName", kind);
		r.peer_account = sg_text_of(c, item, "userId", SG_SHORT_MAX);
	} else if (strcmp(kind, "prefix_list") == 0) {
		sg_spec_peer(c, &r, item, "prefixListId", kind);
	} else if (strcmp(kind, "cidr_ipv6") == 0) {
		sg_spec_peer(c, &r, item, "cidrIpv6", kind);
	} else {
		sg_spec_peer(c, &r, item, "cidrIp", kind);
	}
	r.description = sg_text_of(c, item, "description", SG_NAME_MAX);
	sg_rule_add(c, &r);
}

struct sg_peer_collection {
	const char *key;
	const char *alias;	/* the API's name, when CloudTrail differs */
	const char *kind;
};

static const struct sg_peer_collection sg_peer_collections[] = {
	{ "ipRanges", NULL, "cidr_ipv4" },
	{ "ipv6Ranges", NULL, "cidr_ipv6" },
	{ "prefixListIds", NULL, "prefix_list" },
	{ "groups", "userIdGroupPairs", "security_group" },
};

/* Adds one rule per peer of an ipPermissions entry, or one rule without
 * a peer when every collection is empty. */
static void
sg_rules_from_permission(struct sg_ctx *c, json_object *perm)
{
	const struct sg_peer_collection *pc;
	struct sg_rule_spec base;
	struct sg_list list;
	json_object *coll, *item;
	size_t i, k, added = 0;

	sg_spec_init(c, &base);
	sg_spec_read_ports(c, perm, &base);
	for (k = 0; k < sizeof(sg_peer_collections) /
	     sizeof(sg_peer_collections[0]) && !c->failed; k++) {
		pc = &sg_peer_collections[k];
		coll = sg_member(perm, pc->key);
		if (coll == NULL && pc->alias != NULL)
			coll = sg_member(perm, pc->alias);
		sg_list_open(c, coll, pc->key, &list);
		for (i = 0; i < list.len && !c->failed; i++) {
			item = sg_list_object(c, &list, i, pc->key);
			if (item != NULL)
				sg_rule_from_peer(c, &base, item, pc->kind);
			added++;
		}
	}
	if (added == 0)
		sg_rule_add(c, &base);
}

static void
sg_rules_from_permissions(struct sg_ctx *c, json_object *request)
{
	struct sg_list list;
	json_object *perm;
	size_t i;

	sg_list_open(c, sg_member(request, "ipPermissions"), "ipPermissions",
		     &list);
	for (i = 0; i < list.len && !c->failed; i++) {
		perm = sg_list_object(c, &list, i, "ipPermissions");
		if (perm != NULL)
			sg_rules_from_permission(c, perm);
	}
}

/* The legacy form: cidrIp, ipProtocol, fromPort, toPort or
 * sourceSecurityGroupName at the top of the request. */
static void
sg_rules_from_flat(struct sg_ctx *c, json_object *request)
{
	struct sg_rule_spec r;

	if (sg_member(request, "cidrIp") == NULL &&
	    sg_member(request, "ipProtocol") == NULL &&
	    sg_member(request, "sourceSecurityGroupName") == NULL)
		return;
	sg_spec_init(c, &r);
	sg_spec_read_ports(c, request, &r);
	if (!sg_spec_peer(c, &r, request, "cidrIp", "cidr_ipv4") &&
	    sg_spec_peer(c, &r, request, "sourceSecurityGroupName",
			 "security_group"))
		r.peer_account = sg_text_of(c, request,
					    "sourceSecurityGroupOwnerId",
					    SG_SHORT_MAX);
	sg_rule_add(c, &r);
}

/* Revoke by rule id: securityGroupRuleIds (or SecurityGroupRuleId) as a
 * list of strings or of {securityGroupRuleId} objects. */
static void
sg_rules_from_rule_ids(struct sg_ctx *c, json_object *request)
{
	struct sg_rule_spec r;
	struct sg_list list;
	json_object *coll, *item;
	size_t i;

	coll = sg_member(request, "securityGroupRuleIds");
	if (coll == NULL)
		coll = sg_member(request, "securityGroupRuleId");
	if (json_object_is_type(coll, json_type_string)) {
		list.array = NULL;
		list.single = coll;
		list.len = 1;
	} else {
		sg_list_open(c, coll, "securityGroupRuleIds", &list);
	}
	for (i = 0; i < list.len && !c->failed; i++) {
		item = sg_list_at(&list, i);
		sg_spec_init(c, &r);
		if (json_object_is_type(item, json_type_string))
			r.rule_id = sg_text_from(c, item, SG_SHORT_MAX);
		else
			r.rule_id = sg_text_of(c, sg_list_object(c, &list, i,
				"securityGroupRuleIds"), "securityGroupRuleId",
				SG_SHORT_MAX);
		sg_rule_add(c, &r);
	}
}

/* One entry of ModifySecurityGroupRulesRequest.SecurityGroupRule. */
static void
sg_rule_from_modify(struct sg_ctx *c, json_object *item)
{
	struct sg_rule_spec r;
	json_object *inner;

	sg_spec_init(c, &r);
	r.rule_id = sg_text_of(c, item, "securityGroupRuleId", SG_SHORT_MAX);
	inner = sg_get(c, item, "securityGroupRule", json_type_object);
	sg_spec_read_ports(c, inner, &r);
	if (!sg_spec_peer(c, &r, inner, "cidrIpv4", "cidr_ipv4") &&
	    !sg_spec_peer(c, &r, inner, "cidrIpv6", "cidr_ipv6") &&
	    !sg_spec_peer(c, &r, inner, "prefixListId", "prefix_list"))
		sg_spec_peer(c, &r, inner, "referencedGroupId",
			     "security_group");
	r.description = sg_text_of(c, inner, "description", SG_NAME_MAX);
	sg_rule_add(c, &r);
}

static void
sg_rules_from_modify(struct sg_ctx *c, json_object *request)
{
	struct sg_list list;
	json_object *item;
	size_t i;

	sg_list_open(c, sg_member(request, "securityGroupRule"),
		     "SecurityGroupRule", &list);
	for (i = 0; i < list.len && !c->failed; i++) {
		item = sg_list_object(c, &list, i, "SecurityGroupRule");
		if (item != NULL)
			sg_rule_from_modify(c, item);
	}
}

/* UpdateSecurityGroupRuleDescriptions*: {securityGroupRuleId,
 * description} pairs. */
static void
sg_rules_from_descriptions(struct sg_ctx *c, json_object *request)
{
	struct sg_rule_spec r;
	struct sg_list list;
	json_object *item;
	size_t i;

	sg_list_open(c, sg_member(request, "securityGroupRuleDescriptions"),
		     "securityGroupRuleDescriptions", &list);
	for (i = 0; i < list.len && !c->failed; i++) {
		item = sg_list_object(c, &list, i,
				      "securityGroupRuleDescriptions");
		if (item == NULL)
			continue;
		sg_spec_init(c, &r);
		r.rule_id = sg_text_of(c, item, "securityGroupRuleId",
				       SG_SHORT_MAX);
		r.description = sg_text_of(c, item, "description",
					   SG_NAME_MAX);
		sg_rule_add(c, &r);
	}
}

static void
sg_fill_rules(struct sg_ctx *c, json_object *request)
{
	c->rules = json_object_new_array();
	if (c->rules == NULL) {
		sg_nomem(c);
		return;
	}
	if (c->call->change == NULL)
		return;
	sg_rules_from_permissions(c, request);
	sg_rules_from_flat(c, request);
	sg_rules_from_rule_ids(c, request);
	sg_rules_from_modify(c, request);
	sg_rules_from_descriptions(c, request);
}

/* ---- verdict: severity, title, summary ---- */

static int
sg_level_max(int a, int b)
{
	return a > b ? a : b;
}

/* The level of the severity table's rule class; a failed call is high
 * when it would have been critical and medium otherwise. */
static int
sg_severity_of(struct sg_ctx *c, bool root, bool failed)
{
	const struct severity_table *t = c->table;
	int sev = t->change;

	if (c->call->change != NULL && strcmp(c->call->change, "removed") == 0)
		sev = t->revoke;
	if (c->rule_risk == SG_RISK_WORLD_OPEN)
		sev = sg_level_max(sev, t->world_open);
	if (c->rule_risk == SG_RISK_WORLD_OPEN_HIGH_RISK)
		sev = sg_level_max(sev, t->world_open_high_risk);
	if (root)
		sev = sg_level_max(sev, t->root);
	if (failed)
		sev = sev == SEVERITY_CRITICAL ? SEVERITY_HIGH :
		      SEVERITY_MEDIUM;
	return sev;
}

/* "sg-0abc (web)", "sg-0abc and 2 more", "a security group". */
static int
sg_append_groups(json_object *groups, struct buf *b,
		 enum label_language lang)
{
	size_t n = sg_array_length(groups);
	json_object *first = n > 0 ?
		json_object_array_get_idx(groups, 0) : NULL;
	const char *id = sg_string_of(first, "id");
	const char *name = sg_string_of(first, "name");
	int rc;

	if (first == NULL)
		return buf_append_str(b, label(lang, LABEL_A_SECURITY_GROUP));
	if (id != NULL && name != NULL)
		rc = buf_printf(b, "%s (%s)", id, name);
	else
		rc = buf_append_str(b, id != NULL ? id : name);
	if (rc == 0 && n > 1)
		rc = buf_append_str(b, " ");
	if (rc == 0 && n > 1)
		rc = label_append_more(b, lang, n - 1, 0);
	return rc;
}

static bool
sg_error_is_denial(const char *code)
{
	return code != NULL && (strstr(code, "Unauthorized") != NULL ||
				strstr(code, "AccessDenied") != NULL);
}

static int
sg_title_write(struct sg_ctx *c, struct buf *b, bool root)
{
	const char *error = sg_string_of(c->event, "error_code");
	const char *on = c->lang == LABEL_LANG_EN ? " on " : ": ";
	int rc;

	if (error != NULL)
		rc = buf_printf(b, "%s: %s%s", label(c->lang,
				sg_error_is_denial(error) ? LABEL_TITLE_DENIED :
				LABEL_TITLE_FAILED),
				label_call(c->lang, c->call->name), on);
	else if (c->rule_risk != SG_RISK_NONE)
		rc = buf_append_str(b, label(c->lang,
				    c->risk_unknown_direction ?
				    LABEL_TITLE_OPEN_RULE :
				    LABEL_TITLE_OPEN_INGRESS));
	else if (c->egress_world_open)
		rc = buf_append_str(b, label(c->lang,
					     LABEL_TITLE_OPEN_EGRESS));
	else
		rc = buf_printf(b, "%s%s", label_call(c->lang, c->call->name),
				on);
	if (rc == 0)
		rc = sg_append_groups(c->groups, b, c->lang);
	if (rc == 0 && root)
		rc = buf_append_str(b, label(c->lang, LABEL_TITLE_ROOT));
	return rc;
}

static int
sg_summary_who(json_object *actor, struct buf *b)
{
	const char *name = sg_string_of(actor, "name");
	const char *via = sg_string_of(actor, "invoked_by");
	int rc;

	if (name != NULL && strcmp(name, "root") == 0)
		rc = buf_append_str(b, "The root user");
	else
		rc = buf_append_str(b, name != NULL ? name :
				    "An unknown caller");
	if (rc == 0 && via != NULL)
		rc = buf_printf(b, " (via %s)", via);
	return rc;
}

/* "added 2 ingress rules to sg-0abc" or "deleted security group sg-0abc". */
static int
sg_summary_action(struct sg_ctx *c, struct buf *b, bool failed)
{
	size_t n = sg_array_length(c->rules);
	const char *verb = failed ? c->call->attempt : c->call->done;
	int rc;

	if (c->call->change == NULL)
		rc = buf_printf(b, " %s security group ", verb);
	else if (n == 0)
		rc = buf_printf(b, " %s %s%srules %s ", verb,
				c->call->direction ? c->call->direction : "",
				c->call->direction ? " " : "",
				c->call->preposition);
	else
		rc = buf_printf(b, " %s %zu %s%srule%s %s ", verb, n,
				c->call->direction ? c->call->direction : "",
				c->call->direction ? " " : "",
				n == 1 ? "" : "s", c->call->preposition);
	if (rc == 0)
		rc = sg_append_groups(c->groups, b, LABEL_LANG_EN);
	return rc;
}

static int
sg_summary_rules(json_object *rules, struct buf *b)
{
	size_t i, n = sg_array_length(rules);
	const char *text;
	int rc = 0;

	for (i = 0; i < n && i < SG_SUMMARY_RULES && rc == 0; i++) {
		text = sg_string_of(json_object_array_get_idx(rules, i),
				    "text");
		rc = buf_printf(b, "%s%s", i == 0 ? ": " : "; ",
				text != NULL ? text : "?");
	}
	if (rc == 0 && n > SG_SUMMARY_RULES)
		rc = buf_printf(b, "; and %zu more", n - SG_SUMMARY_RULES);
	return rc;
}

static int
sg_summary_write(struct sg_ctx *c, struct buf *b, bool failed)
{
	const char *region = sg_string_of(c->event, "region");
	const char *error = sg_string_of(c->event, "error_code");
	const char *message = sg_string_of(c->event, "error_message");
	int rc;

	rc = sg_summary_who(sg_member(c->event, "actor"), b);
	if (rc == 0)
		rc = sg_summary_action(c, b, failed);
	if (rc == 0 && region != NULL)
		rc = buf_printf(b, " in %s", region);
	if (rc == 0)
		rc = sg_summary_rules(c->rules, b);
	if (rc == 0)
		rc = buf_append_str(b, ".");
	if (rc == 0 && error != NULL)
		rc = buf_printf(b, " The call failed with %s%s%s.", error,
				message != NULL ? ": " : "",
				message != NULL ? message : "");
	return rc;
}

static void
sg_put_built(struct sg_ctx *c, json_object *alert, const char *key,
	     struct buf *b, int rc, size_t max)
{
	char *cut = rc == 0 ? text_truncate(b->data, max) : NULL;

	if (cut == NULL)
		sg_nomem(c);
	sg_add(c, alert, key, sg_new_string(c, cut));
	free(cut);
	buf_free(b);
}

static void
sg_fill_verdict(struct sg_ctx *c, json_object *alert)
{
	json_object *actor = sg_member(c->event, "actor");
	bool root = sg_string_is(actor, "type", "Root");
	bool failed = sg_string_of(c->event, "error_code") != NULL;
	struct buf b;
	int rc;

	sg_add(c, alert, "severity", sg_new_string(c,
		severity_level_name(sg_severity_of(c, root, failed))));
	buf_init(&b, 16 * SG_LONG_MAX);
	rc = sg_title_write(c, &b, root);
	sg_put_built(c, alert, "title", &b, rc, SG_TITLE_MAX);
	buf_init(&b, 16 * SG_LONG_MAX);
	rc = sg_summary_write(c, &b, failed);
	sg_put_built(c, alert, "summary", &b, rc, SG_SUMMARY_MAX);
}

/* ---- entry point ---- */

/* The request, or the API's XML wrapper inside it
 * ("ModifySecurityGroupRulesRequest"). */
static json_object *
sg_request_of(struct sg_ctx *c)
{
	json_object *request, *wrapper;
	char key[96];

	request = sg_get(c, c->detail, "requestParameters", json_type_object);
	snprintf(key, sizeof(key), "%sRequest", c->call->name);
	wrapper = sg_get(c, request, key, json_type_object);
	return wrapper != NULL ? wrapper : request;
}

static void
sg_check_rules_found(struct sg_ctx *c)
{
	if (c->failed || c->call->change == NULL ||
	    sg_array_length(c->rules) > 0 ||
	    sg_string_of(c->event, "error_code") != NULL)
		return;
	sg_fail(c, "sg_event_shape", "%s names no rule that snsrelay can "
		"read in requestParameters", c->call->name);
}

int
sg_event_fill_alert(json_object *event, json_object *alert,
		    const char *zone,
		    const struct severity_table *severity, struct err *e)
{
	struct sg_ctx c;
	json_object *request, *response;

	/* Times stay in UTC here; alert.c adds the team's local time. */
	(void)zone;
	memset(&c, 0, sizeof(c));
	c.e = e;
	c.table = severity != NULL ? severity : severity_default();
	if (label_language_parse(sg_string_of(alert, "language"), &c.lang) != 0)
		c.lang = LABEL_LANG_EN;
	if (!sg_event_matches(event)) {
		err_set(e, "sg_event_shape", "not a CloudTrail record of a "
			"security-group call");
		return -1;
	}
	c.envelope = event;
	json_object_object_get_ex(event, "detail", &c.detail);
	c.call = sg_call_find(sg_string_of(c.detail, "eventName"));
	request = sg_request_of(&c);
	response = sg_get(&c, c.detail, "responseElements", json_type_object);

	sg_fill_event(&c);
	sg_fill_access(&c);
	sg_fill_groups(&c, request, response);
	sg_fill_console_urls(&c);
	sg_fill_rules(&c, request);
	sg_check_rules_found(&c);
	if (!c.failed)
		sg_fill_verdict(&c, alert);
	sg_add(&c, alert, "event", c.event);
	sg_add(&c, alert, "security_groups", c.groups);
	sg_add(&c, alert, "rules", c.rules);
	return c.failed ? -1 : 0;
}
