/*
 * Fuzz target for the alert formatter and the renderers.  The input is
 * the Message of a verified SNS Notification, usually an EventBridge
 * event; an optional first line "Subject: TEXT" sets the Subject.  The
 * alert is built in English without a time zone for inputs of even
 * length, and in Korean with a time zone for the others, serialized as
 * the spool stores it, parsed again, and rendered for Discord, Slack and
 * Teams.  Korean alerts are also packed into one Discord message with
 * copies of themselves.  Doing one language and one packing per input
 * keeps the target fast.  Each output is
 * serialized as the delivery code sends it and must be valid UTF-8 JSON
 * within the limits of its service:
 *
 *   alert    the docs/alert-schema.md rules: known kind and severity,
 *            title of one line and at most 256 characters, summary of
 *            at most 2048, sanitized strings;
 *   Discord  at most 10 embeds and 6000 characters, the per-part limits
 *            of include/snsrelay/limits.h, no blank field, a valid
 *            timestamp, no mention, and no "<" or link markup except
 *            <t:...> times and links to security groups;
 *   Slack    the Block Kit limits of include/snsrelay/slack.h, no
 *            broadcast, and no "<" markup except <!date^...> and links;
 *   Teams    at most TEAMS_PAYLOAD_MAX bytes, and no links except to
 *            security groups.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "snsrelay/alert.h"
#include "snsrelay/discord.h"
#include "snsrelay/filter.h"
#include "snsrelay/labels.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/slack.h"
#include "snsrelay/sns_message.h"
#include "snsrelay/teams.h"
#include "snsrelay/text.h"

#define SUBJECT_PREFIX	"Subject: "
#define TIMEZONE	"Asia/Seoul"
#define RECEIVED_AT	1714557610	/* 2024-05-01T10:00:10Z */
/* More alerts than a Discord message holds, to exercise packing. */
#define PACKED_ALERTS	(DISCORD_EMBEDS_MAX + 2)

#define ZWSP		"\xE2\x80\x8B"

static bool ready;

/* ---- generic checks ---- */

static size_t
length_of(json_object *obj)
{
	return text_length(json_object_get_string(obj));
}

static const char *
string_member(json_object *obj, const char *key)
{
	return alert_get_string(obj, key);
}

/* Serializes doc as the delivery code sends it, checks that the text is
 * UTF-8 JSON, and returns it parsed again. */
static json_object *
reparse(json_object *doc, size_t *text_len)
{
	struct json_tokener *tok;
	json_object *copy;
	const char *text;
	size_t len;

	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	FUZZ_ASSERT(text != NULL, "a document cannot be serialized");
	len = strlen(text);
	FUZZ_ASSERT(fuzz_is_utf8(text, len), "a document is not UTF-8");
	tok = json_tokener_new();
	FUZZ_ASSERT(tok != NULL, "no memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_VALIDATE_UTF8);
	copy = json_tokener_parse_ex(tok, text, (int)len);
	FUZZ_ASSERT(copy != NULL && json_tokener_get_parse_end(tok) == len,
		    "a serialized document does not parse back");
	json_tokener_free(tok);
	if (text_len != NULL)
		*text_len = len;
	return copy;
}

/* True when the UTF-8 code point at s is one that sanitizing replaces:
 * C0 controls except newline and tab, DEL, C1 controls, bidirectional
 * overrides and isolates. */
static bool
is_unsanitized(const unsigned char *s)
{
	if ((s[0] < 0x20 && s[0] != '\n' && s[0] != '\t') || s[0] == 0x7f)
		return true;
	if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
		return true;
	if (s[0] == 0xe2 && s[1] == 0x80 && s[2] >= 0xaa && s[2] <= 0xae)
		return true;
	return s[0] == 0xe2 && s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9;
}

/* Checks every string value under obj, recursively. */
static void
check_sanitized(json_object *obj)
{
	const unsigned char *s;
	size_t i, n;

	switch (json_object_get_type(obj)) {
	case json_type_string:
		s = (const unsigned char *)json_object_get_string(obj);
		n = (size_t)json_object_get_string_len(obj);
		FUZZ_ASSERT(strlen((const char *)s) == n,
			    "an alert string holds a NUL");
		for (i = 0; i < n; i++)
			FUZZ_ASSERT(!is_unsanitized(s + i),
				    "an alert string holds a control or "
				    "bidirectional character");
		break;
	case json_type_object: {
		json_object_object_foreach(obj, key, val) {
			(void)key;
			check_sanitized(val);
		}
		break;
	}
	case json_type_array:
		for (i = 0; i < json_object_array_length(obj); i++)
			check_sanitized(json_object_array_get_idx(obj, i));
		break;
	default:
		break;
	}
}

static bool
is_one_of(const char *s, const char *const *names)
{
	for (; s != NULL && *names != NULL; names++)
		if (strcmp(s, *names) == 0)
			return true;
	return false;
}

static void
check_alert(json_object *alert)
{
	static const char *const kinds[] = {
		"security_group_change", "notification", NULL,
	};
	static const char *const severities[] = {
		"critical", "high", "medium", "low", "info", "warning", NULL,
	};
	const char *title = string_member(alert, "title");
	const char *summary = string_member(alert, "summary");

	FUZZ_ASSERT(json_object_is_type(alert, json_type_object),
		    "the alert is not an object");
	FUZZ_ASSERT(strcmp(string_member(alert, "schema") ?
			   string_member(alert, "schema") : "",
			   ALERT_SCHEMA) == 0, "wrong alert schema");
	FUZZ_ASSERT(string_member(alert, "alert_id") != NULL,
		    "the alert has no alert_id");
	FUZZ_ASSERT(is_one_of(string_member(alert, "kind"), kinds),
		    "unknown alert kind");
	FUZZ_ASSERT(is_one_of(string_member(alert, "severity"), severities),
		    "unknown alert severity");
	FUZZ_ASSERT(title != NULL && text_length(title) <= 256 &&
		    strchr(title, '\n') == NULL,
		    "the title is missing, longer than 256 characters or not "
		    "one line");
	FUZZ_ASSERT(summary != NULL && text_length(summary) <= 2048,
		    "the summary is missing or longer than 2048 characters");
	FUZZ_ASSERT(alert_get_member(alert, "sns", json_type_object) != NULL,
		    "the alert has no sns object");
	check_sanitized(alert);
}

/* ---- markdown links ---- */

/* True when s[i] follows an odd number of backslashes, which Discord
 * markdown reads as an escape. */
static bool
is_escaped(const char *s, size_t i)
{
	size_t n = 0;

	while (i > n && s[i - n - 1] == '\\')
		n++;
	return n % 2 == 1;
}

/* Checks that every markdown link "[text](url)" in s is the renderers'
 * own link to a security group: "[sg-...](https://...)".  With
 * backslash_escapes, a "\]" (Discord) is literal text. */
static void
check_links(const char *s, bool backslash_escapes)
{
	const char *open;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] != ']' || s[i + 1] != '(' ||
		    (backslash_escapes && is_escaped(s, i)))
			continue;
		for (open = s + i; open > s && *open != '['; open--)
			;
		FUZZ_ASSERT(strncmp(open, "[sg-", 4) == 0 &&
			    strspn(open + 4, "0123456789abcdef") ==
			    (size_t)(s + i - open - 4) &&
			    strncmp(s + i + 1, "(https://", 9) == 0,
			    "a text holds a markdown link that is not a "
			    "security-group link");
	}
}

/* ---- Discord ---- */

/* No "@everyone", "@here" or "<@id>" that Discord would turn into a
 * mention (the renderer puts a zero-width space after the '@'). */
static void
check_no_mention(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '<' && !is_escaped(s, i))
			FUZZ_ASSERT(strncmp(s + i, "<t:", 3) == 0 &&
				    s[i + 3 + strspn(s + i + 3,
					"-0123456789")] == ':',
				    "a Discord text holds < markup other "
				    "than <t:...>");
		if (s[i] != '@')
			continue;
		FUZZ_ASSERT(strncasecmp(s + i + 1, "everyone", 8) != 0 &&
			    strncasecmp(s + i + 1, "here", 4) != 0,
			    "a Discord text holds @everyone or @here");
		FUZZ_ASSERT(i == 0 || s[i - 1] != '<' ||
			    strncmp(s + i + 1, ZWSP, 3) == 0 ||
			    strncmp(s + i + 1, "\xE2\x80\xA6", 3) == 0 ||
			    s[i + 1] == '\0',
			    "a Discord text holds a <@ mention");
	}
}

/* Checks a text of at most max characters; returns its length. */
static size_t
check_discord_text(json_object *obj, size_t max, bool required)
{
	const char *s = json_object_get_string(obj);
	size_t n;

	if (!json_object_is_type(obj, json_type_string)) {
		FUZZ_ASSERT(!required && obj == NULL,
			    "a Discord text is missing or not a string");
		return 0;
	}
	n = length_of(obj);
	FUZZ_ASSERT(n <= max, "a Discord text is over its limit");
	FUZZ_ASSERT(s[strspn(s, " \t\n\r\f\v")] != '\0',
		    "a Discord text is blank");
	check_no_mention(s);
	check_links(s, true);
	return n;
}

static size_t
check_discord_embed(json_object *embed)
{
	json_object *fields = NULL, *footer = NULL, *val = NULL, *field;
	size_t i, n, total = 0;
	time_t t;

	if (json_object_object_get_ex(embed, "timestamp", &val))
		FUZZ_ASSERT(text_parse_time(json_object_get_string(val),
					    &t) == 0,
			    "a Discord timestamp is not an ISO 8601 time");
	val = NULL;
	json_object_object_get_ex(embed, "title", &val);
	total += check_discord_text(val, DISCORD_TITLE_MAX, true);
	val = NULL;
	json_object_object_get_ex(embed, "description", &val);
	total += check_discord_text(val, DISCORD_DESCRIPTION_MAX, false);

	json_object_object_get_ex(embed, "fields", &fields);
	n = alert_array_length(fields);
	FUZZ_ASSERT(n <= DISCORD_FIELDS_MAX, "more than 25 Discord fields");
	for (i = 0; i < n; i++) {
		field = json_object_array_get_idx(fields, i);
		val = NULL;
		json_object_object_get_ex(field, "name", &val);
		total += check_discord_text(val, DISCORD_FIELD_NAME_MAX, true);
		val = NULL;
		json_object_object_get_ex(field, "value", &val);
		total += check_discord_text(val, DISCORD_FIELD_VALUE_MAX,
					    true);
	}

	/* Footers show no markdown and ping no one, but count in the
	 * total. */
	val = NULL;
	json_object_object_get_ex(embed, "footer", &footer);
	json_object_object_get_ex(footer, "text", &val);
	if (val != NULL) {
		FUZZ_ASSERT(length_of(val) <= DISCORD_FOOTER_MAX,
			    "a Discord footer is over its limit");
		total += length_of(val);
	}
	return total;
}

static void
check_discord(json_object *const *alerts, size_t count)
{
	json_object *payload, *copy, *embeds = NULL, *mentions = NULL;
	json_object *parse = NULL;
	size_t i, used = 0, total = 0;

	payload = discord_build_payload(alerts, count, &used);
	FUZZ_ASSERT(payload != NULL, "discord_build_payload failed");
	FUZZ_ASSERT(used >= 1 && used <= count && used <= DISCORD_EMBEDS_MAX,
		    "discord_build_payload packed a wrong number of alerts");
	copy = reparse(payload, NULL);
	json_object_put(payload);

	json_object_object_get_ex(copy, "allowed_mentions", &mentions);
	json_object_object_get_ex(mentions, "parse", &parse);
	FUZZ_ASSERT(json_object_is_type(parse, json_type_array) &&
		    json_object_array_length(parse) == 0,
		    "allowed_mentions.parse is not an empty array");
	json_object_object_get_ex(copy, "embeds", &embeds);
	FUZZ_ASSERT(alert_array_length(embeds) == used,
		    "the embed count differs from the alerts packed");
	for (i = 0; i < used; i++)
		total += check_discord_embed(json_object_array_get_idx(embeds,
								      i));
	FUZZ_ASSERT(total <= DISCORD_EMBED_TOTAL_MAX,
		    "a Discord message is over 6000 characters");
	json_object_put(copy);
}

/* ---- Slack ---- */

/* Slack mrkdwn: the only "<" markup is the renderer's own <!date^...>
 * and <https://...|sg-...> links, and broadcasts are broken up. */
static void
check_slack_mrkdwn(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '<')
			FUZZ_ASSERT(strncmp(s + i, "<!date^", 7) == 0 ||
				    strncmp(s + i, "<https://", 9) == 0,
				    "a Slack text holds < markup");
		if (s[i] == '@')
			FUZZ_ASSERT(strncasecmp(s + i + 1, "channel", 7) != 0 &&
				    strncasecmp(s + i + 1, "here", 4) != 0 &&
				    strncasecmp(s + i + 1, "everyone", 8) != 0,
				    "a Slack text holds a broadcast");
	}
}

/* Checks a text object; returns its length. */
static size_t
check_slack_text_object(json_object *text, size_t max)
{
	const char *type = string_member(text, "type");
	json_object *val = NULL;
	const char *s;

	json_object_object_get_ex(text, "text", &val);
	FUZZ_ASSERT(json_object_is_type(val, json_type_string) &&
		    type != NULL, "a Slack text object is malformed");
	s = json_object_get_string(val);
	FUZZ_ASSERT(length_of(val) <= max && s[0] != '\0',
		    "a Slack text is empty or over its limit");
	if (strcmp(type, "mrkdwn") == 0)
		check_slack_mrkdwn(s);
	return length_of(val);
}

static void
check_slack_block(json_object *block)
{
	const char *type = string_member(block, "type");
	json_object *text = NULL, *list = NULL;
	size_t i, n;

	FUZZ_ASSERT(type != NULL, "a Slack block has no type");
	json_object_object_get_ex(block, "text", &text);
	if (strcmp(type, "header") == 0) {
		FUZZ_ASSERT(strcmp(string_member(text, "type") ?
				   string_member(text, "type") : "",
				   "plain_text") == 0,
			    "a Slack header is not plain_text");
		check_slack_text_object(text, SLACK_HEADER_MAX);
	} else if (strcmp(type, "section") == 0) {
		json_object_object_get_ex(block, "fields", &list);
		FUZZ_ASSERT(text != NULL || list != NULL,
			    "a Slack section has neither text nor fields");
		if (text != NULL)
			check_slack_text_object(text, SLACK_SECTION_TEXT_MAX);
		n = alert_array_length(list);
		FUZZ_ASSERT(n <= SLACK_FIELDS_MAX, "too many Slack fields");
		for (i = 0; i < n; i++)
			check_slack_text_object(json_object_array_get_idx(list,
				i), SLACK_FIELD_TEXT_MAX);
	} else if (strcmp(type, "context") == 0) {
		json_object_object_get_ex(block, "elements", &list);
		n = alert_array_length(list);
		FUZZ_ASSERT(n >= 1 && n <= SLACK_CONTEXT_ELEMENTS_MAX,
			    "a Slack context has 0 or too many elements");
		for (i = 0; i < n; i++)
			check_slack_text_object(json_object_array_get_idx(list,
				i), SLACK_SECTION_TEXT_MAX);
	}
}

static void
check_slack(json_object *alert)
{
	json_object *payload = slack_build_payload(alert), *copy;
	json_object *blocks = NULL, *text = NULL;
	size_t i, n;

	FUZZ_ASSERT(payload != NULL, "slack_build_payload failed");
	copy = reparse(payload, NULL);
	json_object_put(payload);
	json_object_object_get_ex(copy, "text", &text);
	FUZZ_ASSERT(json_object_is_type(text, json_type_string) &&
		    length_of(text) <= SLACK_TEXT_MAX,
		    "the Slack fallback text is missing or too long");
	check_slack_mrkdwn(json_object_get_string(text));
	json_object_object_get_ex(copy, "blocks", &blocks);
	n = alert_array_length(blocks);
	FUZZ_ASSERT(n >= 1 && n <= SLACK_BLOCKS_MAX,
		    "no Slack blocks or too many");
	for (i = 0; i < n; i++)
		check_slack_block(json_object_array_get_idx(blocks, i));
	json_object_put(copy);
}

/* ---- Teams ---- */

/* Checks the links of every string under obj, keys excepted. */
static void
check_teams_links(json_object *obj)
{
	size_t i;

	switch (json_object_get_type(obj)) {
	case json_type_string:
		check_links(json_object_get_string(obj), false);
		break;
	case json_type_object: {
		json_object_object_foreach(obj, key, val) {
			(void)key;
			check_teams_links(val);
		}
		break;
	}
	case json_type_array:
		for (i = 0; i < json_object_array_length(obj); i++)
			check_teams_links(json_object_array_get_idx(obj, i));
		break;
	default:
		break;
	}
}

static void
check_teams(json_object *alert)
{
	json_object *payload = teams_build_payload(alert), *copy;
	json_object *attachments = NULL;
	size_t len = 0;

	FUZZ_ASSERT(payload != NULL, "teams_build_payload failed");
	copy = reparse(payload, &len);
	json_object_put(payload);
	FUZZ_ASSERT(len <= TEAMS_PAYLOAD_MAX,
		    "a Teams payload is over TEAMS_PAYLOAD_MAX bytes");
	FUZZ_ASSERT(strcmp(string_member(copy, "type") ?
			   string_member(copy, "type") : "", "message") == 0,
		    "a Teams payload is not a message");
	json_object_object_get_ex(copy, "attachments", &attachments);
	FUZZ_ASSERT(alert_array_length(attachments) == 1,
		    "a Teams payload has not one attachment");
	check_teams_links(attachments);
	json_object_put(copy);
}

/* ---- driver ---- */

static void
render(const struct sns_message *msg, const struct alert_options *opts,
       bool pack)
{
	json_object *built, *alert, *packed[PACKED_ALERTS];
	size_t i;

	built = alert_from_notification(msg, opts, RECEIVED_AT);
	FUZZ_ASSERT(built != NULL, "alert_from_notification failed");
	/* The delivery workers read the alert back from the spool. */
	alert = reparse(built, NULL);
	json_object_put(built);
	check_alert(alert);
	FUZZ_ASSERT(filter_accepts(NULL, alert), "no filter drops an alert");

	check_discord(&alert, 1);
	for (i = 0; pack && i < PACKED_ALERTS; i++)
		packed[i] = alert;
	if (pack)
		check_discord(packed, PACKED_ALERTS);
	check_slack(alert);
	check_teams(alert);
	json_object_put(alert);
}

static void
set_field(struct sns_field *field, const char *s, size_t len)
{
	field->str = malloc(len + 1);
	FUZZ_ASSERT(field->str != NULL, "no memory");
	memcpy(field->str, s, len);
	field->str[len] = '\0';
	field->len = len;
}

static void
set_string(struct sns_field *field, const char *s)
{
	set_field(field, s, strlen(s));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct alert_options english = { 0 };
	static const struct alert_options korean = {
		.timezone = TIMEZONE,
		.language = LABEL_LANG_KO,
	};
	const char *text = (const char *)data, *eol;
	size_t prefix = strlen(SUBJECT_PREFIX);
	struct sns_message msg;

	if (!ready) {
		log_setup(LOG_ERROR, LOG_FORMAT_LOGFMT);
		FUZZ_ASSERT(text_use_timezone(TIMEZONE) == 0, "no memory");
		ready = true;
	}
	memset(&msg, 0, sizeof(msg));
	msg.type = SNS_TYPE_NOTIFICATION;
	if (size >= prefix && memcmp(text, SUBJECT_PREFIX, prefix) == 0 &&
	    (eol = memchr(text, '\n', size)) != NULL) {
		set_field(&msg.subject, text + prefix,
			  (size_t)(eol - text) - prefix);
		size -= (size_t)(eol + 1 - text);
		text = eol + 1;
	}
	set_field(&msg.message, text, size);
	set_string(&msg.type_name, "Notification");
	set_string(&msg.message_id, "0d5e6f70-8192-4a3b-bc4d-5e6f70819203");
	set_string(&msg.timestamp, "2024-05-01T10:00:05.123Z");
	set_string(&msg.topic_arn,
		   "arn:aws:sns:us-east-1:123456789012:sg-alerts");

	if (size % 2 == 0)
		render(&msg, &english, false);
	else
		render(&msg, &korean, true);
	sns_message_free(&msg);
	return 0;
}
