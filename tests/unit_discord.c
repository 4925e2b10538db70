#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "snsrelay/buf.h"
#include "snsrelay/discord.h"
#include "snsrelay/limits.h"
#include "snsrelay/text.h"

#include "tap.h"

#define ZWSP "\xE2\x80\x8B"
#define ELLIPSIS "\xE2\x80\xA6"

/* ---- escaping ---- */

struct escape_case {
	const char *name;
	const char *in;
	const char *want;
};

static const struct escape_case escape_cases[] = {
	{ "plain", "plain text 123", "plain text 123" },
	{ "empty", "", "" },
	{ "markdown set", "a*b_c~d`e|f>g#h-i[j]k(l)m<n\\o",
	  "a\\*b\\_c\\~d\\`e\\|f>g#h-i\\[j\\]k(l)m\\<n\\\\o" },
	{ "bold", "**bold**", "\\*\\*bold\\*\\*" },
	{ "code block", "```sh\nrm```", "\\`\\`\\`sh\nrm\\`\\`\\`" },
	{ "masked link", "[x](http://a)", "\\[x\\](http://a)" },
	{ "heading at start", "# big", "\\# big" },
	{ "heading after newline", "a\n## b", "a\n\\## b" },
	{ "list item", "- item", "\\- item" },
	{ "indented list item", "a\n  - item", "a\n  \\- item" },
	{ "quote at start", "> quoted", "\\> quoted" },
	{ "hyphen inside", "us-east-1", "us-east-1" },
	{ "hash inside", "a#1", "a#1" },
	{ "everyone", "@everyone", "@" ZWSP "everyone" },
	{ "everyone mixed case", "@EveryOne", "@" ZWSP "EveryOne" },
	{ "here", "hi @here now", "hi @" ZWSP "here now" },
	{ "user mention", "<@123>", "\\<@" ZWSP "123>" },
	{ "nickname mention", "<@!123>", "\\<@" ZWSP "!123>" },
	{ "role mention", "<@&456>", "\\<@" ZWSP "&456>" },
	{ "channel mention", "<#789>", "\\<#789>" },
	{ "email untouched", "jane@example.com", "jane@example.com" },
	{ "control character", "a\x01" "b\x7f", "a b " },
	{ "invalid byte", "a\xFF", "a\xEF\xBF\xBD" },
	{ "newline kept", "a\nb", "a\nb" },
	{ "timestamp markup", "<t:1:R>", "\\<t:1:R>" },
	{ "tab before heading", "\t# a", "\t# a" },
	{ "control before heading", "\x01# a", " # a" },
	{ "heading after spaces and newline", "a\n   # b", "a\n   \\# b" },
	{ "quote after quote", ">> q", "\\>> q" },
	{ "markup after multibyte", "\xC3\xA9*\xC3\xA9",
	  "\xC3\xA9\\*\xC3\xA9" },
	{ "cut sequence before markup", "\xE2\x80*", "\xEF\xBF\xBD\\*" },
	{ "cut sequence before mention", "\xE2\x80@here",
	  "\xEF\xBF\xBD@" ZWSP "here" },
	{ "invalid byte after at", "@\xFF" "everyone",
	  "@\xEF\xBF\xBD" "everyone" },
	{ "mention after newline", "a\n@here", "a\n@" ZWSP "here" },
	{ "mention inside word", "x@everyone", "x@" ZWSP "everyone" },
	{ "lone at", "@", "@" },
	{ "long plain run", "abcdefghijklmnopqrstuvwxyz0123456789*end",
	  "abcdefghijklmnopqrstuvwxyz0123456789\\*end" },
	{ "every markup byte twice", "\\\\**__~~``||[[]]<<",
	  "\\\\\\\\\\*\\*\\_\\_\\~\\~\\`\\`\\|\\|\\[\\[\\]\\]\\<\\<" },
};

static void
test_escape(void)
{
	const struct escape_case *c;
	char *out;
	size_t i;

	for (i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		c = &escape_cases[i];
		out = discord_escape(c->in);
		is_str(out, c->want, "escape %s", c->name);
		free(out);
	}
	out = discord_escape(NULL);
	is_str(out, "", "escape NULL");
	free(out);
}

/* ---- helpers ---- */

/* Length of array, 0 for anything else (json-c asserts on a non-array). */
static size_t
array_length(json_object *array)
{
	if (!json_object_is_type(array, json_type_array))
		return 0;
	return json_object_array_length(array);
}

static json_object *
member(json_object *obj, const char *key)
{
	json_object *val = NULL;

	json_object_object_get_ex(obj, key, &val);
	return val;
}

static const char *
member_str(json_object *obj, const char *key)
{
	json_object *val = member(obj, key);

	return json_object_is_type(val, json_type_string) ?
		json_object_get_string(val) : NULL;
}

static size_t
length_of(const char *s)
{
	return s != NULL ? text_length(s) : 0;
}

static bool
contains(const char *s, const char *part)
{
	return s != NULL && strstr(s, part) != NULL;
}

static bool
is_blank(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t')
			return false;
	return true;
}

static json_object *
embed_at(json_object *payload, size_t i)
{
	return json_object_array_get_idx(member(payload, "embeds"), i);
}

static size_t
embed_count(json_object *payload)
{
	return array_length(member(payload, "embeds"));
}

/* Characters of an embed that count towards the 6000 of a message. */
static size_t
embed_size(json_object *embed)
{
	json_object *fields = member(embed, "fields"), *f;
	size_t i, total = 0;

	total += length_of(member_str(embed, "title"));
	total += length_of(member_str(embed, "description"));
	total += length_of(member_str(member(embed, "footer"), "text"));
	total += length_of(member_str(member(embed, "author"), "name"));
	for (i = 0; i < array_length(fields); i++) {
		f = json_object_array_get_idx(fields, i);
		total += length_of(member_str(f, "name"));
		total += length_of(member_str(f, "value"));
	}
	return total;
}

/* Counts the limits an embed breaks; every check is reported. */
static void
check_embed(json_object *embed, const char *name, size_t k)
{
	json_object *fields = member(embed, "fields"), *f;
	size_t i, n = array_length(fields);
	int bad_names = 0, bad_values = 0;

	ok(length_of(member_str(embed, "title")) <= DISCORD_TITLE_MAX &&
	   !is_blank(member_str(embed, "title")),
	   "%s embed %zu: title within 256", name, k);
	ok(length_of(member_str(embed, "description")) <=
	   DISCORD_DESCRIPTION_MAX, "%s embed %zu: description within 4096",
	   name, k);
	ok(n <= DISCORD_FIELDS_MAX, "%s embed %zu: at most 25 fields", name, k);
	for (i = 0; i < n; i++) {
		f = json_object_array_get_idx(fields, i);
		if (length_of(member_str(f, "name")) > DISCORD_FIELD_NAME_MAX ||
		    is_blank(member_str(f, "name")))
			bad_names++;
		if (length_of(member_str(f, "value")) >
		    DISCORD_FIELD_VALUE_MAX || is_blank(member_str(f, "value")))
			bad_values++;
	}
	is_int(bad_names, 0, "%s embed %zu: field names within 256", name, k);
	is_int(bad_values, 0, "%s embed %zu: field values within 1024", name,
	       k);
	ok(length_of(member_str(member(embed, "footer"), "text")) <=
	   DISCORD_FOOTER_MAX, "%s embed %zu: footer within 2048", name, k);
}

/* Checks every Discord limit of a payload. */
static void
check_limits(json_object *payload, const char *name)
{
	json_object *parse = member(member(payload, "allowed_mentions"),
				    "parse");
	size_t i, n = embed_count(payload), total = 0;

	ok(payload != NULL, "%s: payload built", name);
	is_str(member_str(payload, "username"), "snsrelay", "%s: username",
	       name);
	ok(json_object_is_type(parse, json_type_array) &&
	   array_length(parse) == 0,
	   "%s: allowed_mentions parse empty", name);
	ok(n <= DISCORD_EMBEDS_MAX, "%s: at most 10 embeds", name);
	for (i = 0; i < n; i++) {
		check_embed(embed_at(payload, i), name, i);
		total += embed_size(embed_at(payload, i));
	}
	ok(total <= DISCORD_EMBED_TOTAL_MAX, "%s: total %zu within 6000", name,
	   total);
	ok(!contains(json_object_to_json_string(payload), "@everyone"),
	   "%s: no live @everyone", name);
}

static json_object *
parse(const char *json)
{
	json_object *obj = json_tokener_parse(json);

	if (obj == NULL)
		diag("bad JSON in test: %.60s", json);
	return obj;
}

static char *
repeat(const char *unit, size_t times)
{
	struct buf b;
	size_t i;

	buf_init(&b, 16 << 20);
	buf_append_str(&b, "");
	for (i = 0; i < times; i++)
		buf_append_str(&b, unit);
	return buf_steal(&b);
}

static void
set_str(json_object *obj, const char *key, const char *value)
{
	json_object_object_add(obj, key, json_object_new_string(value));
}

/* ---- alerts ---- */

static const char sg_alert_json[] =
	"{\"schema\":\"snsrelay.alert/1\","
	"\"alert_id\":\"cloudtrail:0f0e0d0c-0000-4000-8000-000000000001\","
	"\"kind\":\"security_group_change\",\"severity\":\"critical\","
	"\"title\":\"Security group ingress opened to the internet: sg-0abc\","
	"\"summary\":\"alice added 1 ingress rule to sg-0abc in eu-central-1: "
	"tcp 22 from 0.0.0.0/0.\","
	"\"received_at\":\"2024-05-01T10:00:10Z\","
	"\"occurred_at\":\"2024-05-01T10:00:00Z\","
	"\"sns\":{\"message_id\":\"2f8c3b4e-5a6d-4e7f-8a9b-0c1d2e3f4a5b\","
	"\"topic_arn\":\"arn:aws:sns:us-east-1:111122223333:sg-alerts\","
	"\"subject\":null,\"timestamp\":\"2024-05-01T10:00:05.123Z\","
	"\"type\":\"Notification\"},"
	"\"event\":{\"name\":\"AuthorizeSecurityGroupIngress\","
	"\"time\":\"2024-05-01T10:00:00Z\",\"epoch\":1714557600,"
	"\"id\":\"0f0e0d0c-0000-4000-8000-000000000001\","
	"\"region\":\"eu-central-1\",\"account\":\"444455556666\","
	"\"source_ip\":\"192.0.2.10\",\"user_agent\":\"aws-cli/2.15.0\","
	"\"error_code\":null,\"error_message\":null,"
	"\"actor\":{\"type\":\"IAMUser\","
	"\"arn\":\"arn:aws:iam::444455556666:user/alice\","
	"\"invoked_by\":null,\"account_id\":\"444455556666\","
	"\"name\":\"alice\"}},"
	"\"security_groups\":[{\"id\":\"sg-0abc\",\"name\":\"web\"}],"
	"\"rules\":[{\"direction\":\"ingress\",\"change\":\"added\","
	"\"rule_id\":null,\"protocol\":\"tcp\",\"from_port\":22,"
	"\"to_port\":22,\"peer\":\"0.0.0.0/0\",\"peer_kind\":\"cidr_ipv4\","
	"\"peer_account\":null,\"open_to_internet\":true,"
	"\"description\":null,\"text\":\"tcp 22 from 0.0.0.0/0\"}]}";

static const char generic_alert_json[] =
	"{\"schema\":\"snsrelay.alert/1\",\"alert_id\":\"sns:m-1\","
	"\"kind\":\"notification\",\"severity\":\"info\","
	"\"title\":\"Notification on sg-alerts\","
	"\"summary\":\"Message published to sg-alerts.\","
	"\"received_at\":\"2024-05-01T10:00:10Z\","
	"\"occurred_at\":\"2024-05-01T10:00:05Z\","
	"\"sns\":{\"message_id\":\"m-1\","
	"\"topic_arn\":\"arn:aws:sns:us-east-1:111122223333:sg-alerts\","
	"\"subject\":null,\"timestamp\":\"2024-05-01T10:00:05.123Z\","
	"\"type\":\"Notification\"},\"format\":\"text\","
	"\"text\":\"Disk almost full\"}";

static json_object *
build_one(json_object *alert, size_t *used)
{
	return discord_build_payload(&alert, 1, used);
}

static const char *
field_value(json_object *embed, const char *name)
{
	json_object *fields = member(embed, "fields"), *f;
	size_t i;

	for (i = 0; i < array_length(fields); i++) {
		f = json_object_array_get_idx(fields, i);
		if (strcmp(member_str(f, "name"), name) == 0)
			return member_str(f, "value");
	}
	return NULL;
}

static char *
field_names(json_object *embed)
{
	json_object *fields = member(embed, "fields");
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	buf_append_str(&b, "");
	for (i = 0; i < array_length(fields); i++)
		buf_printf(&b, "%s%s", i ? "," : "",
			   member_str(json_object_array_get_idx(fields, i),
				      "name"));
	return buf_steal(&b);
}

static void
test_sg_embed(void)
{
	json_object *alert = parse(sg_alert_json), *payload, *embed;
	size_t used = 99;
	char *names;

	payload = build_one(alert, &used);
	check_limits(payload, "sg");
	is_int(used, 1, "sg: used");
	embed = embed_at(payload, 0);
	is_str(member_str(embed, "title"),
	       "[CRITICAL] Security group ingress opened to the internet: "
	       "sg-0abc", "sg: title");
	is_str(member_str(embed, "description"),
	       "alice added 1 ingress rule to sg-0abc in eu-central-1: "
	       "tcp 22 from 0.0.0.0/0.", "sg: description");
	is_int(json_object_get_int(member(embed, "color")), 0xD32F2F,
	       "sg: color");
	is_str(member_str(embed, "timestamp"), "2024-05-01T10:00:00Z",
	       "sg: timestamp");
	names = field_names(embed);
	is_str(names, "Event,Security group,Rules changed,Who,Source IP,Region,"
	       "Account,When,User agent,CloudTrail event id", "sg: fields");
	free(names);
	is_str(field_value(embed, "Rules changed"),
	       "added ingress: tcp 22 from 0.0.0.0/0", "sg: rule line");
	is_str(field_value(embed, "Security group"), "sg-0abc (web)",
	       "sg: group");
	is_str(field_value(embed, "Who"),
	       "alice (IAMUser)\narn:aws:iam::444455556666:user/alice",
	       "sg: who");
	is_str(field_value(embed, "When"),
	       "2024-05-01 10:00:00 UTC\n<t:1714557600:F> (<t:1714557600:R>)",
	       "sg: when");
	is_str(field_value(embed, "Region"), "eu-central-1", "sg: region");
	ok(field_value(embed, "Error") == NULL, "sg: no error field");
	is_str(member_str(member(embed, "footer"), "text"),
	       "SNS message 2f8c3b4e-5a6d-4e7f-8a9b-0c1d2e3f4a5b \xC2\xB7 "
	       "arn:aws:sns:us-east-1:111122223333:sg-alerts", "sg: footer");
	json_object_put(payload);
	json_object_put(alert);
}

static void
test_sg_error_field(void)
{
	json_object *alert = parse(sg_alert_json), *payload, *event;
	size_t used;

	event = member(alert, "event");
	set_str(event, "error_code", "Client.UnauthorizedOperation");
	set_str(event, "error_message", "You are not authorized");
	set_str(event, "user_agent", "   ");
	payload = build_one(alert, &used);
	is_str(field_value(embed_at(payload, 0), "Error"),
	       "Client.UnauthorizedOperation: You are not authorized",
	       "error: field");
	is_str(field_value(embed_at(payload, 0), "Event"),
	       "AuthorizeSecurityGroupIngress (failed)", "error: event field");
	ok(field_value(embed_at(payload, 0), "User agent") == NULL,
	   "error: blank user agent left out");
	json_object_put(payload);
	json_object_put(alert);
}

static void
test_generic_embed(void)
{
	json_object *alert = parse(generic_alert_json), *payload, *embed;
	size_t used;

	payload = build_one(alert, &used);
	check_limits(payload, "generic");
	embed = embed_at(payload, 0);
	is_str(member_str(embed, "title"), "[INFO] Notification on sg-alerts",
	       "generic: title");
	is_str(member_str(embed, "description"),
	       "Message published to sg-alerts.\n\nDisk almost full",
	       "generic: description has text");
	is_str(member_str(embed, "timestamp"), "2024-05-01T10:00:05Z",
	       "generic: timestamp");
	ok(contains(field_value(embed, "When"), "<t:1714557605:F>"),
	   "generic: when");
	json_object_put(payload);
	json_object_put(alert);
}

static void
test_unsubscribe_embed(void)
{
	json_object *alert = parse(generic_alert_json), *payload, *embed;
	size_t used;

	set_str(alert, "kind", "subscription_ended");
	set_str(alert, "severity", "warning");
	json_object_object_del(alert, "text");
	payload = build_one(alert, &used);
	embed = embed_at(payload, 0);
	is_int(json_object_get_int(member(embed, "color")), 0xFFA000,
	       "unsubscribe: color");
	is_str(field_value(embed, "Topic"),
	       "arn:aws:sns:us-east-1:111122223333:sg-alerts",
	       "unsubscribe: topic field");
	ok(contains(member_str(embed, "title"), "[WARNING]"),
	   "unsubscribe: title label");
	json_object_put(payload);
	json_object_put(alert);
}

/* ---- limits ---- */

/* An SG alert with count rules whose texts have text_len characters. */
static json_object *
big_sg_alert(size_t count, size_t text_len)
{
	json_object *alert = parse(sg_alert_json);
	json_object *rules = json_object_new_array(), *rule;
	char *text = repeat("r", text_len);
	size_t i;

	for (i = 0; i < count; i++) {
		rule = parse("{\"direction\":\"ingress\","
			     "\"change\":\"added\"}");
		set_str(rule, "text", text);
		json_object_array_add(rules, rule);
	}
	json_object_object_add(alert, "rules", rules);
	free(text);
	return alert;
}

static bool
has_prefix(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "규칙", the start of the Korean rule field names. */
#define KO_RULES	"\xEA\xB7\x9C\xEC\xB9\x99"

/* Number of rule fields and the value of the last one. */
static size_t
rule_fields(json_object *embed, const char **last)
{
	json_object *fields = member(embed, "fields"), *f;
	size_t i, count = 0;

	*last = NULL;
	for (i = 0; i < array_length(fields); i++) {
		f = json_object_array_get_idx(fields, i);
		if (has_prefix(member_str(f, "name"), "Rules") ||
		    has_prefix(member_str(f, "name"), KO_RULES)) {
			*last = member_str(f, "value");
			count++;
		}
	}
	return count;
}

static void
test_big_alert(void)
{
	json_object *alert = big_sg_alert(500, 300), *payload, *embed;
	char *summary = repeat("s", 5000), *title = repeat("t", 400);
	char *ua = repeat("u", 3000);
	const char *last;
	size_t used, count;

	set_str(alert, "summary", summary);
	set_str(alert, "title", title);
	set_str(member(alert, "event"), "user_agent", ua);
	payload = build_one(alert, &used);
	check_limits(payload, "big");
	is_int(used, 1, "big: used");
	embed = embed_at(payload, 0);
	is_int(length_of(member_str(embed, "title")), DISCORD_TITLE_MAX,
	       "big: title cut to 256");
	ok(contains(member_str(embed, "title"), ELLIPSIS),
	   "big: title ellipsis");
	ok(length_of(member_str(embed, "description")) >= 500,
	   "big: description kept in part");
	count = rule_fields(embed, &last);
	ok(count >= 2, "big: several rule fields (%zu)", count);
	ok(has_prefix(member_str(json_object_array_get_idx(
		member(embed, "fields"), 2), "name"), "Rules (1/"),
	   "big: first rule field numbered");
	ok(contains(last, ELLIPSIS " and "), "big: more rules noted");
	ok(contains(last, " more rules"), "big: more rules wording");
	ok(length_of(field_value(embed, "User agent")) <= 512,
	   "big: user agent shortened");
	json_object_put(payload);
	json_object_put(alert);
	free(summary);
	free(title);
	free(ua);
}

/* Korean words and values stay within every limit, counted in code
 * points, and the rule fields keep their Korean names. */
static void
test_korean_big(void)
{
	json_object *alert = big_sg_alert(500, 300), *payload, *embed;
	char *summary = repeat("\xEB\xB3\xB4\xEC\x95\x88 ", 3000);
	char *title = repeat("\xEA\xB7\xB8\xEB\xA3\xB9", 400);
	const char *last;
	size_t used;

	set_str(alert, "language", "ko");
	set_str(alert, "summary", summary);
	set_str(alert, "title", title);
	payload = build_one(alert, &used);
	check_limits(payload, "ko big");
	embed = embed_at(payload, 0);
	is_int(length_of(member_str(embed, "title")), DISCORD_TITLE_MAX,
	       "ko big: title cut to 256 code points");
	ok(has_prefix(member_str(embed, "title"), "[\xEC\x8B\xAC"),
	   "ko big: severity word in Korean");
	rule_fields(embed, &last);
	ok(contains(last, ELLIPSIS " \xEC\x99\xB8 \xEA\xB7\x9C\xEC\xB9\x99 "),
	   "ko big: more rules noted in Korean");
	ok(field_value(embed, "\xEC\x82\xAC\xEC\x9A\xA9\xEC\x9E\x90 "
		       "\xEC\x97\x90\xEC\x9D\xB4\xEC\xA0\x84\xED\x8A\xB8")
	   != NULL, "ko big: user agent field named in Korean");
	json_object_put(payload);
	json_object_put(alert);
	free(summary);
	free(title);
}

/* Rules that fit are all shown, split over numbered fields. */
static void
test_rules_split(void)
{
	json_object *alert = big_sg_alert(20, 80), *payload, *embed;
	const char *last;
	size_t used, count, lines = 0, i;
	json_object *fields, *f;
	const char *v;

	payload = build_one(alert, &used);
	check_limits(payload, "split");
	embed = embed_at(payload, 0);
	count = rule_fields(embed, &last);
	is_int(count, 2, "split: two rule fields");
	fields = member(embed, "fields");
	is_str(member_str(json_object_array_get_idx(fields, 2), "name"),
	       "Rules (1/2)", "split: first name");
	is_str(member_str(json_object_array_get_idx(fields, 3), "name"),
	       "Rules (2/2)", "split: second name");
	for (i = 0; i < array_length(fields); i++) {
		f = json_object_array_get_idx(fields, i);
		if (!has_prefix(member_str(f, "name"), "Rules"))
			continue;
		for (v = member_str(f, "value"); v != NULL && *v != '\0';
		     v++)
			lines += has_prefix(v, "added ingress: ");
	}
	is_int(lines, 20, "split: every rule shown");
	ok(!contains(last, " more rule"), "split: nothing left out");
	json_object_put(payload);
	json_object_put(alert);
}

/* One rule line longer than a field value is cut, not dropped. */
static void
test_long_rule_line(void)
{
	json_object *alert = big_sg_alert(1, 3000), *payload;
	const char *last;
	size_t used;

	payload = build_one(alert, &used);
	check_limits(payload, "long rule");
	rule_fields(embed_at(payload, 0), &last);
	ok(has_prefix(last, "added ingress: rrr"), "long rule: shown");
	ok(contains(last, ELLIPSIS), "long rule: cut");
	json_object_put(payload);
	json_object_put(alert);
}

static void
test_long_generic_text(void)
{
	json_object *alert = parse(generic_alert_json), *payload;
	char *text = repeat("x", 16384);
	const char *desc;
	size_t used;

	set_str(alert, "text", text);
	payload = build_one(alert, &used);
	check_limits(payload, "long text");
	desc = member_str(embed_at(payload, 0), "description");
	is_int(length_of(desc), DISCORD_DESCRIPTION_MAX,
	       "long text: description cut to 4096");
	ok(contains(desc, ELLIPSIS), "long text: ellipsis");
	json_object_put(payload);
	json_object_put(alert);
	free(text);
}

/* Characters that escaping doubles still end within the limits, and a
 * cut never leaves a lone backslash before the ellipsis. */
static void
test_escape_growth(void)
{
	json_object *alert = parse(generic_alert_json), *payload;
	char *text = repeat("\\", 5000), *title = repeat("*", 300);
	const char *desc, *end;
	size_t used, slashes = 0;

	set_str(alert, "text", text);
	set_str(alert, "title", title);
	payload = build_one(alert, &used);
	check_limits(payload, "escaped");
	desc = member_str(embed_at(payload, 0), "description");
	end = desc != NULL ? strstr(desc, ELLIPSIS) : NULL;
	ok(end != NULL, "escaped: description cut");
	while (end != NULL && end - (ptrdiff_t)slashes > desc &&
	       end[-1 - (ptrdiff_t)slashes] == '\\')
		slashes++;
	is_int(slashes % 2, 0, "escaped: no lone backslash at the cut");
	json_object_put(payload);
	json_object_put(alert);
	free(text);
	free(title);
}

static void
test_hostile_values(void)
{
	json_object *alert = parse(sg_alert_json), *payload;
	const char *json;
	size_t used;

	set_str(alert, "title", "@everyone look");
	set_str(alert, "summary", "ping <@123> and @here `code` **b**");
	set_str(member(alert, "event"), "user_agent", "@everyone\x01\xFF");
	payload = build_one(alert, &used);
	check_limits(payload, "hostile");
	json = json_object_to_json_string(payload);
	ok(!contains(json, "@here"), "hostile: no live @here");
	ok(!contains(json, "<@1"), "hostile: no live user mention");
	is_str(member_str(embed_at(payload, 0), "description"),
	       "ping \\<@" ZWSP "123> and @" ZWSP
	       "here \\`code\\` \\*\\*b\\*\\*",
	       "hostile: description escaped");
	is_str(field_value(embed_at(payload, 0), "User agent"),
	       "@" ZWSP "everyone \xEF\xBF\xBD", "hostile: user agent");
	json_object_put(payload);
	json_object_put(alert);
}

static void
test_odd_alerts(void)
{
	json_object *alerts[3], *payload;
	size_t used;

	alerts[0] = NULL;
	alerts[1] = json_object_new_string("not an alert");
	alerts[2] = parse("{\"kind\":\"security_group_change\","
			  "\"severity\":\"bogus\",\"event\":5,"
			  "\"rules\":{},\"security_groups\":\"x\","
			  "\"occurred_at\":\"garbage\","
			  "\"received_at\":\"2024-05-01T10:00:10Z\"}");
	payload = discord_build_payload(alerts, 3, &used);
	check_limits(payload, "odd");
	is_int(used, 3, "odd: all used");
	is_str(member_str(embed_at(payload, 0), "title"), "[INFO] Alert",
	       "odd: default title");
	ok(member(embed_at(payload, 0), "timestamp") == NULL,
	   "odd: no timestamp without a time");
	is_str(member_str(embed_at(payload, 2), "timestamp"),
	       "2024-05-01T10:00:10Z", "odd: timestamp from received_at");
	json_object_put(payload);
	json_object_put(alerts[1]);
	json_object_put(alerts[2]);
}

/* ---- links, access and root ---- */

#define SG_ID		"sg-0123456789abcdef0"
#define SG_URL \
	"https://eu-central-1.console.aws.amazon.com/ec2/home" \
	"?region=eu-central-1#SecurityGroup:groupId=" SG_ID

struct link_case {
	const char *name;
	const char *id;
	const char *url;
	const char *want;
};

static const struct link_case link_cases[] = {
	{ "link", SG_ID, SG_URL, "[" SG_ID "](" SG_URL ") (web)" },
	{ "no url", SG_ID, NULL, "sg-0123456789abcdef0 (web)" },
	{ "bad id", "sg-0abc", "https://x.example/sg-0abc",
	  "sg-0abc (web)" },
	{ "hostile url", SG_ID, "https://a.example/)[x](y)" SG_ID,
	  "sg-0123456789abcdef0 (web)" },
	{ "other id", SG_ID, SG_URL "1", "sg-0123456789abcdef0 (web)" },
	{ "http", SG_ID, "http://a.example/" SG_ID,
	  "sg-0123456789abcdef0 (web)" },
};

static void
test_group_link(const struct link_case *c)
{
	json_object *alert = parse(sg_alert_json), *payload, *group;
	size_t used;

	group = json_object_array_get_idx(member(alert, "security_groups"), 0);
	set_str(group, "id", c->id);
	if (c->url != NULL)
		set_str(group, "console_url", c->url);
	payload = build_one(alert, &used);
	is_str(field_value(embed_at(payload, 0), "Security group"), c->want,
	       "group link %s", c->name);
	json_object_put(payload);
	json_object_put(alert);
}

static void
test_group_links(void)
{
	size_t i;

	for (i = 0; i < sizeof(link_cases) / sizeof(link_cases[0]); i++)
		test_group_link(&link_cases[i]);
}

/* Fifty linked groups: whole lines only, then a count of the rest. */
static void
test_many_group_links(void)
{
	json_object *alert = parse(sg_alert_json), *groups, *group, *payload;
	const char *value;
	size_t i, used;

	groups = json_object_new_array();
	for (i = 0; i < 50; i++) {
		group = json_object_new_object();
		set_str(group, "id", SG_ID);
		set_str(group, "console_url", SG_URL);
		json_object_array_add(groups, group);
	}
	json_object_object_add(alert, "security_groups", groups);
	payload = build_one(alert, &used);
	check_limits(payload, "many links");
	value = field_value(embed_at(payload, 0), "Security groups");
	ok(value != NULL && length_of(value) <= 512,
	   "many links: value within cap");
	ok(value != NULL && contains(value, "\n\xE2\x80\xA6 and "),
	   "many links: rest counted");
	ok(value != NULL && contains(value, SG_URL ")\n\xE2\x80\xA6"),
	   "many links: last link whole");
	json_object_put(payload);
	json_object_put(alert);
}

static void
test_how_and_root(void)
{
	json_object *alert = parse(sg_alert_json), *payload, *event, *actor;
	json_object *fields, *how = NULL;
	size_t i, used;

	event = member(alert, "event");
	actor = member(event, "actor");
	set_str(event, "access_text", "AWS CLI");
	json_object_object_add(actor, "root", json_object_new_boolean(1));
	payload = build_one(alert, &used);
	is_str(field_value(embed_at(payload, 0), "How"), "AWS CLI",
	       "how: value");
	fields = member(embed_at(payload, 0), "fields");
	for (i = 0; i < array_length(fields); i++)
		if (strcmp(member_str(json_object_array_get_idx(fields, i),
				      "name"), "How") == 0)
			how = json_object_array_get_idx(fields, i);
	ok(how != NULL && json_object_get_boolean(member(how, "inline")),
	   "how: inline");
	is_str(field_value(embed_at(payload, 0), "Who"),
	       "**root (account owner)**\n"
	       "arn:aws:iam::444455556666:user/alice", "root: who");
	json_object_put(payload);
	json_object_put(alert);
}

/* ---- JSON text ---- */

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* discord_render_payload writes the bytes that json-c writes for the
 * payload discord_build_payload returns, and packs as many alerts. */
static void
check_render(json_object *const *alerts, size_t count, const char *name)
{
	json_object *payload;
	size_t built = 99, rendered = 98;
	char *text;

	payload = discord_build_payload(alerts, count, &built);
	text = discord_render_payload(alerts, count, &rendered);
	ok(payload != NULL, "%s: payload built", name);
	ok(text != NULL, "%s: text rendered", name);
	is_int(rendered, built, "%s: same alerts packed", name);
	is_str(text, payload != NULL ?
	       json_object_to_json_string_ext(payload, JSON_FLAGS) : NULL,
	       "%s: bytes as json-c writes them", name);
	json_object_put(payload);
	free(text);
}

/* Every byte from 0x01 to 0xFF in the values that reach the payload
 * without escaping or sanitizing: the event name and the local time. */
static void
test_render_all_bytes(void)
{
	json_object *alert = parse(sg_alert_json);
	char bytes[256];
	int i;

	for (i = 1; i < 256; i++)
		bytes[i - 1] = (char)i;
	bytes[255] = '\0';
	set_str(member(alert, "event"), "name", bytes);
	set_str(alert, "occurred_at_local", bytes);
	set_str(alert, "timezone", "Asia/Seoul");
	set_str(alert, "summary", bytes);
	check_render(&alert, 1, "render all bytes");
	json_object_put(alert);
}

/* Whether text is JSON that json-c's strict tokener accepts with UTF-8
 * validation on, as the receiver's JSON parser must. */
static bool
strict_json(const char *text)
{
	json_tokener *tok = json_tokener_new();
	json_object *obj;
	bool valid;

	if (tok == NULL)
		return false;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)strlen(text));
	valid = obj != NULL &&
		json_tokener_get_error(tok) == json_tokener_success;
	json_object_put(obj);
	json_tokener_free(tok);
	return valid;
}

/*
 * Every string of an alert that comes from the SNS message, set to every
 * byte from 0x01 to 0xFF, then to the encoded lone surrogate U+D800, an
 * overlong '/', U+2028 and U+2029.  The payload must stay valid JSON in
 * valid UTF-8, because Discord rejects anything else and the alert would
 * become a dead letter.
 */
static void
test_render_strict_utf8(void)
{
	static const char *const hostile[] = {
		NULL,	/* every byte */
		"a\xED\xA0\x80" "b\xC0\xAF" "c\xE2\x80\xA8" "d\xE2\x80\xA9",
		"\xF4\x90\x80\x80\xF8\x88\x80\x80\x80\xFF\xFE",
		"tail cut \xF0\x9F\x98",
	};
	char bytes[256], *text;
	json_object *alerts[2], *event, *group, *actor;
	size_t i, k, used;
	int c;

	ok(!strict_json("{\"a\":\"\xFF\"}"),
	   "strict UTF-8: the check rejects invalid UTF-8");
	for (c = 1; c < 256; c++)
		bytes[c - 1] = (char)c;
	bytes[255] = '\0';
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const char *v = hostile[i] != NULL ? hostile[i] : bytes;

		alerts[0] = parse(sg_alert_json);
		alerts[1] = parse(generic_alert_json);
		for (k = 0; k < 2; k++) {
			set_str(alerts[k], "title", v);
			set_str(alerts[k], "summary", v);
			set_str(alerts[k], "text", v);
			set_str(member(alerts[k], "sns"), "message_id", v);
			set_str(member(alerts[k], "sns"), "topic_arn", v);
		}
		event = member(alerts[0], "event");
		set_str(event, "user_agent", v);
		set_str(event, "source_ip", v);
		set_str(event, "region", v);
		set_str(event, "account", v);
		set_str(event, "error_code", v);
		set_str(event, "error_message", v);
		actor = member(event, "actor");
		set_str(actor, "arn", v);
		set_str(actor, "name", v);
		group = json_object_array_get_idx(member(alerts[0],
						   "security_groups"), 0);
		set_str(group, "id", v);
		set_str(group, "name", v);
		text = discord_render_payload(alerts, 2, &used);
		ok(text != NULL, "strict UTF-8 %zu: rendered", i);
		ok(text != NULL && strict_json(text),
		   "strict UTF-8 %zu: valid JSON and UTF-8", i);
		free(text);
		json_object_put(alerts[0]);
		json_object_put(alerts[1]);
	}
}

static void
test_render_matches_build(void)
{
	json_object *alerts[12];
	char *text = repeat("\\\"/\n\t<@x>", 900);
	size_t i;

	for (i = 0; i < 12; i++)
		alerts[i] = parse(i % 3 == 0 ? sg_alert_json :
				  generic_alert_json);
	check_render(alerts, 1, "render one");
	check_render(alerts, 12, "render twelve");
	check_render(alerts, 0, "render none");
	set_str(alerts[1], "text", text);
	set_str(alerts[2], "title", "quote \" backslash \\ slash /");
	check_render(alerts, 12, "render escaped text");
	check_render(alerts + 1, 11, "render first shrunk");
	for (i = 0; i < 12; i++)
		json_object_put(alerts[i]);
	alerts[0] = big_sg_alert(500, 300);
	check_render(alerts, 1, "render big");
	json_object_put(alerts[0]);
	free(text);
}

/* ---- packing ---- */

static void
test_pack_small(void)
{
	json_object *alerts[12], *payload;
	size_t i, used;

	for (i = 0; i < 12; i++)
		alerts[i] = parse(sg_alert_json);
	payload = discord_build_payload(alerts, 3, &used);
	check_limits(payload, "three small");
	is_int(used, 3, "three small: all packed");
	is_int(embed_count(payload), 3, "three small: three embeds");
	json_object_put(payload);

	payload = discord_build_payload(alerts, 12, &used);
	check_limits(payload, "twelve small");
	is_int(embed_count(payload), used, "twelve small: one embed each");
	ok(used >= 1 && used <= DISCORD_EMBEDS_MAX, "twelve small: at most 10");
	json_object_put(payload);

	payload = discord_build_payload(alerts, 0, &used);
	is_int(used, 0, "no alerts: none used");
	is_int(embed_count(payload), 0, "no alerts: no embeds");
	json_object_put(payload);
	for (i = 0; i < 12; i++)
		json_object_put(alerts[i]);
}

/* Small generic alerts: ten fit in one message. */
static void
test_pack_ten(void)
{
	json_object *alerts[12], *payload;
	size_t i, used;

	for (i = 0; i < 12; i++)
		alerts[i] = parse(generic_alert_json);
	payload = discord_build_payload(alerts, 12, &used);
	check_limits(payload, "ten");
	is_int(used, DISCORD_EMBEDS_MAX, "ten: stops at 10");
	json_object_put(payload);
	for (i = 0; i < 12; i++)
		json_object_put(alerts[i]);
}

/* Alerts of about 2500 characters: two per message, and the queue is
 * drained by repeated calls. */
static void
test_pack_drain(void)
{
	json_object *alerts[7], *payload;
	char *summary = repeat("s", 2500);
	size_t i, used, done = 0, rounds = 0, packed[7] = { 0 };
	char name[32];

	for (i = 0; i < 7; i++) {
		alerts[i] = parse(generic_alert_json);
		set_str(alerts[i], "summary", summary);
	}
	alerts[3] = (json_object_put(alerts[3]), big_sg_alert(400, 200));
	while (done < 7 && rounds < 10) {
		payload = discord_build_payload(alerts + done, 7 - done, &used);
		snprintf(name, sizeof(name), "drain %zu", rounds);
		check_limits(payload, name);
		ok(used >= 1, "%s: progress", name);
		packed[rounds] = used;
		done += used ? used : 7;
		rounds++;
		json_object_put(payload);
	}
	is_int(done, 7, "drain: every alert sent");
	is_int(packed[0], 2, "drain: two per message");
	ok(rounds >= 4, "drain: several messages (%zu)", rounds);
	for (i = 0; i < 7; i++)
		json_object_put(alerts[i]);
	free(summary);
}

int
main(void)
{
	test_escape();
	test_sg_embed();
	test_sg_error_field();
	test_generic_embed();
	test_unsubscribe_embed();
	test_big_alert();
	test_korean_big();
	test_rules_split();
	test_long_rule_line();
	test_long_generic_text();
	test_escape_growth();
	test_hostile_values();
	test_odd_alerts();
	test_group_links();
	test_many_group_links();
	test_how_and_root();
	test_pack_small();
	test_pack_ten();
	test_pack_drain();
	test_render_all_bytes();
	test_render_matches_build();
	test_render_strict_utf8();
	return tap_done();
}
