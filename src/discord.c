#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "snsrelay/alert.h"
#include "snsrelay/buf.h"
#include "snsrelay/discord.h"
#include "snsrelay/labels.h"
#include "snsrelay/limits.h"
#include "snsrelay/text.h"

#define DISCORD_USERNAME	"snsrelay"
#define DISCORD_ZWSP		"\xE2\x80\x8B"	/* U+200B zero-width space */

/*
 * Caps, in code points, on the parts the renderer writes besides the
 * description and the rules.  With them a title (256), a footer (512)
 * and at most 12 short fields leave room in the 6000-character message
 * total for the description and the rules.
 */
#define DISCORD_FOOTER_CAP	512
#define DISCORD_VALUE_CAP	512
#define DISCORD_VALUE_SHRUNK	64
#define DISCORD_RULE_LINE_CAP	512
/* Description kept before the rules are shortened. */
#define DISCORD_DESCRIPTION_KEEP 512
/* Room for the "… and N more" line at the end of the rules. */
#define DISCORD_MORE_RESERVE	40
/* Maximum of a work buffer.  Values are cut to their Discord limit
 * before they are escaped, and escaping at most quadruples the bytes of
 * a code point, so no part comes near this. */
#define DISCORD_BUF_MAX		(256 * 1024)
/* Maximum of the payload text.  It only keeps the buffer's size
 * arithmetic from overflowing, because the json-c text it replaces had
 * no maximum and every part is capped at DISCORD_BUF_MAX already. */
#define DISCORD_BODY_MAX	(SIZE_MAX / 2)

struct discord_severity {
	const char *name;
	const char *label;
	int color;
};

static const struct discord_severity discord_severities[] = {
	{ "critical", "CRITICAL", 0xD32F2F },
	{ "high", "HIGH", 0xF57C00 },
	{ "medium", "MEDIUM", 0xFBC02D },
	{ "low", "LOW", 0x1976D2 },
	{ "warning", "WARNING", 0xFFA000 },
	{ "info", "INFO", 0x607D8B },
};

struct discord_field {
	char *name;
	char *value;
	bool is_inline;
};

/* One embed while it is built and shrunk; every text is final (escaped
 * where Discord renders markdown). */
struct discord_embed {
	enum label_language lang;	/* of the words, not the values */
	char *title;
	char *description;
	char *footer;
	char timestamp[TEXT_TIME_SIZE];
	int color;
	struct discord_field fields[DISCORD_FIELDS_MAX];
	size_t field_count;
	size_t rules_at;	/* index in fields before which rules go */
	char **lines;		/* rule lines */
	size_t line_count;
	struct discord_field rules[DISCORD_FIELDS_MAX];
	size_t rule_field_count;
	bool nomem;
};

/* ---- escaping ---- */

/* Classes of bytes for discord_append_escape. */
enum discord_byte_class {
	DISCORD_BYTE_OTHER = 0,
	DISCORD_BYTE_MARKUP,	/* escaped anywhere */
	DISCORD_BYTE_LINE_MARK,	/* escaped where it starts a line */
	DISCORD_BYTE_AT,	/* may start a mention */
	DISCORD_BYTE_SPACE,	/* keeps a line start */
	DISCORD_BYTE_NEWLINE,	/* starts a line */
};

/* Emphasis, code, spoiler, link and angle-bracket markup (<@id>,
 * <t:...>) is escaped anywhere; '#', '-' and '>' only where they start
 * a line, so ids and regions such as us-east-1 read as they are. */
static const unsigned char discord_byte_classes[256] = {
	['\\'] = DISCORD_BYTE_MARKUP,
	['*'] = DISCORD_BYTE_MARKUP,
	['_'] = DISCORD_BYTE_MARKUP,
	['~'] = DISCORD_BYTE_MARKUP,
	['`'] = DISCORD_BYTE_MARKUP,
	['|'] = DISCORD_BYTE_MARKUP,
	['['] = DISCORD_BYTE_MARKUP,
	[']'] = DISCORD_BYTE_MARKUP,
	['<'] = DISCORD_BYTE_MARKUP,
	['#'] = DISCORD_BYTE_LINE_MARK,
	['-'] = DISCORD_BYTE_LINE_MARK,
	['>'] = DISCORD_BYTE_LINE_MARK,
	['@'] = DISCORD_BYTE_AT,
	[' '] = DISCORD_BYTE_SPACE,
	['\n'] = DISCORD_BYTE_NEWLINE,
};

static bool
discord_starts_with_word(const char *s, const char *word)
{
	return strncasecmp(s, word, strlen(word)) == 0;
}

/* Whether the '@' at s[i] could start a mention: "@everyone", "@here",
 * or "<@id>", "<@!id>", "<@&id>". */
static bool
discord_is_mention(const char *s, size_t i)
{
	return discord_starts_with_word(s + i + 1, "everyone") ||
	       discord_starts_with_word(s + i + 1, "here") ||
	       (i > 0 && s[i - 1] == '<');
}

/*
 * Appends s to b as discord_escape returns it.  The bytes between two
 * insertions go through text_append_sanitized in one piece.  That gives
 * the same bytes as sanitizing the whole escaped text, because every
 * insertion sits next to an ASCII byte, where a UTF-8 sequence ends
 * anyway.  Returns 0, or -1 when b is full or memory is short.
 */
static int
discord_append_escape(struct buf *b, const char *s)
{
	bool line_start = true;	/* only spaces since the line began */
	size_t i, run = 0;	/* s[run..i) is not appended yet */
	int rc = 0;

	for (i = 0; s[i] != '\0' && rc == 0; i++) {
		switch (discord_byte_classes[(unsigned char)s[i]]) {
		case DISCORD_BYTE_SPACE:
			continue;
		case DISCORD_BYTE_NEWLINE:
			line_start = true;
			continue;
		case DISCORD_BYTE_LINE_MARK:
			if (!line_start)
				break;
			/* fall through */
		case DISCORD_BYTE_MARKUP:
			rc = text_append_sanitized(b, s + run, i - run);
			if (rc == 0)
				rc = buf_append(b, "\\", 1);
			run = i;
			break;
		case DISCORD_BYTE_AT:
			if (!discord_is_mention(s, i))
				break;
			rc = text_append_sanitized(b, s + run, i + 1 - run);
			if (rc == 0)
				rc = buf_append_str(b, DISCORD_ZWSP);
			run = i + 1;
			break;
		default:
			break;
		}
		line_start = false;
	}
	if (rc == 0)
		rc = text_append_sanitized(b, s + run, i - run);
	return rc;
}

char *
discord_escape(const char *s)
{
	struct buf out;

	if (s == NULL)
		s = "";
	/* Each byte becomes at most 4: "@" and a zero-width space. */
	buf_init(&out, strlen(s) * 4 + 1);
	if (discord_append_escape(&out, s) != 0 ||
	    buf_append(&out, "", 0) != 0) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out);
}

/* Shortens escaped text to max code points without leaving a lone
 * backslash before the "…", which Discord would show. */
static char *
discord_cut(const char *escaped, size_t max)
{
	char *out = text_truncate(escaped, max);
	size_t end, slashes = 0;

	if (out == NULL || strcmp(out, escaped) == 0 || strlen(out) < 3)
		return out;
	end = strlen(out) - 3;	/* before the 3-byte ellipsis */
	while (slashes < end && out[end - 1 - slashes] == '\\')
		slashes++;
	if (slashes % 2 == 1)
		memmove(out + end - 1, out + end, 4);
	return out;
}

/* Appends first, then second, to b, or nothing when either does not fit.
 * Returns 0 or -1. */
static int
discord_append_two(struct buf *b, const char *first, const char *second)
{
	size_t len = b->len;

	if (buf_append_str(b, first) == 0 && buf_append_str(b, second) == 0)
		return 0;
	if (b->data != NULL) {
		b->len = len;
		b->data[len] = '\0';
	}
	return -1;
}

/* Appends s, cut to max code points, escaped, to b.  Returns 0 or -1. */
static int
discord_append_cut(struct buf *b, const char *s, size_t max)
{
	char *cut;
	int rc;

	/* A code point takes at least one byte, so s needs no cut. */
	if (strlen(s) <= max)
		return discord_append_escape(b, s);
	cut = text_truncate(s, max);
	rc = cut != NULL ? discord_append_escape(b, cut) : -1;
	free(cut);
	return rc;
}

static int
discord_append_escaped(struct buf *b, const char *s)
{
	return discord_append_cut(b, s, DISCORD_FIELD_VALUE_MAX);
}

/* ---- reading the alert ---- */

static const struct discord_severity *
discord_severity_of(json_object *alert)
{
	const char *name = alert_get_string(alert, "severity");
	size_t i, n = sizeof(discord_severities) /
		      sizeof(discord_severities[0]);

	for (i = 0; name != NULL && i < n; i++)
		if (strcmp(discord_severities[i].name, name) == 0)
			return &discord_severities[i];
	return &discord_severities[n - 1];
}

static bool
discord_is_blank(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

/* ---- embed parts ---- */

static void
discord_embed_free(struct discord_embed *em)
{
	size_t i;

	free(em->title);
	free(em->description);
	free(em->footer);
	for (i = 0; i < em->field_count; i++) {
		free(em->fields[i].name);
		free(em->fields[i].value);
	}
	for (i = 0; i < em->rule_field_count; i++) {
		free(em->rules[i].name);
		free(em->rules[i].value);
	}
	for (i = 0; i < em->line_count; i++)
		free(em->lines[i]);
	free(em->lines);
	memset(em, 0, sizeof(*em));
}

/* Adds a field with the final text in b as value, cut to the cap.  A
 * blank value adds nothing, because Discord rejects empty fields.  Frees
 * b. */
static void
discord_add_field(struct discord_embed *em, const char *name, struct buf *b,
		  int rc, bool is_inline)
{
	struct discord_field *f;

	if (rc != 0)
		em->nomem = true;
	if (rc != 0 || discord_is_blank(b->data) ||
	    em->field_count >= DISCORD_FIELDS_MAX) {
		buf_free(b);
		return;
	}
	f = &em->fields[em->field_count];
	f->name = strdup(name);
	f->value = discord_cut(b->data, DISCORD_VALUE_CAP);
	f->is_inline = is_inline;
	if (f->name == NULL || f->value == NULL) {
		free(f->name);
		free(f->value);
		em->nomem = true;
	} else {
		em->field_count++;
	}
	buf_free(b);
}

/* Adds a field holding one escaped value from the alert. */
static void
discord_add_value(struct discord_embed *em, const char *name,
		  const char *value, bool is_inline)
{
	struct buf b;

	if (value == NULL)
		return;
	buf_init(&b, DISCORD_BUF_MAX);
	discord_add_field(em, name, &b, discord_append_escaped(&b, value),
			  is_inline);
}

static void
discord_set_title(struct discord_embed *em, json_object *alert,
		  const struct discord_severity *sev)
{
	const char *title = alert_get_string(alert, "title");
	struct buf b;
	int rc;

	buf_init(&b, DISCORD_BUF_MAX);
	rc = discord_append_two(&b, "[", label_severity(em->lang, sev->name));
	if (rc == 0)
		rc = buf_append_str(&b, "] ");
	if (rc == 0)
		rc = discord_append_cut(&b, title != NULL ? title :
					label(em->lang, LABEL_ALERT),
					DISCORD_TITLE_MAX);
	if (rc == 0)
		em->title = discord_cut(b.data, DISCORD_TITLE_MAX);
	if (em->title == NULL)
		em->nomem = true;
	buf_free(&b);
}

/* The summary and, for generic alerts, the text. */
static void
discord_set_description(struct discord_embed *em, json_object *alert)
{
	const char *summary = alert_get_string(alert, "summary");
	const char *text = alert_get_string(alert, "text");
	struct buf b;
	int rc = 0;

	buf_init(&b, DISCORD_BUF_MAX);
	if (summary != NULL)
		rc = discord_append_cut(&b, summary, DISCORD_DESCRIPTION_MAX);
	if (rc == 0 && text != NULL && !discord_is_blank(text))
		rc = buf_append_str(&b, summary != NULL ? "\n\n" : "");
	if (rc == 0 && text != NULL && !discord_is_blank(text))
		rc = discord_append_cut(&b, text, DISCORD_DESCRIPTION_MAX);
	if (rc == 0 && !discord_is_blank(b.data)) {
		em->description = discord_cut(b.data, DISCORD_DESCRIPTION_MAX);
		if (em->description == NULL)
			em->nomem = true;
	}
	buf_free(&b);
}

/* "SNS message <id> · <topic ARN>".  Footers render no markdown, so the
 * text is sanitized but not escaped. */
static void
discord_set_footer(struct discord_embed *em, json_object *alert)
{
	json_object *sns = alert_get_member(alert, "sns", json_type_object);
	const char *id = alert_get_string(sns, "message_id");
	const char *topic = alert_get_string(sns, "topic_arn");
	struct buf b;
	char *clean;
	int rc;

	if (id == NULL)
		id = "(no id)";
	buf_init(&b, DISCORD_BUF_MAX);
	rc = discord_append_two(&b, label(em->lang, LABEL_SNS_MESSAGE), " ");
	/* At most 256 bytes of the id and 1024 of the topic ARN. */
	if (rc == 0)
		rc = buf_append(&b, id, strnlen(id, 256));
	if (rc == 0 && topic != NULL)
		rc = buf_append_str(&b, " \xC2\xB7 ");
	if (rc == 0 && topic != NULL)
		rc = buf_append(&b, topic, strnlen(topic, 1024));
	if (rc != 0) {
		em->nomem = true;
		buf_free(&b);
		return;
	}
	clean = text_sanitize(b.data, b.len);
	em->footer = clean != NULL ? text_truncate(clean, DISCORD_FOOTER_CAP) :
		NULL;
	if (em->footer == NULL)
		em->nomem = true;
	free(clean);
	buf_free(&b);
}

/* The event time when the alert has one, else the time snsrelay
 * received it; re-formatted, because Discord rejects a malformed
 * timestamp. */
static void
discord_set_timestamp(struct discord_embed *em, json_object *alert)
{
	time_t t;

	if (text_parse_time(alert_get_string(alert, "occurred_at"), &t) != 0 &&
	    text_parse_time(alert_get_string(alert, "received_at"), &t) != 0)
		return;
	text_format_time(t, em->timestamp, sizeof(em->timestamp));
}

/* Adds the time in UTC, in the team's zone when the alert has one, and
 * as <t:...> markup that Discord shows in each reader's zone. */
static void
discord_add_when(struct discord_embed *em, json_object *alert, time_t t)
{
	const char *local = alert_get_string(alert, "occurred_at_local");
	const char *zone = alert_get_string(alert, "timezone");
	struct buf b;
	struct tm tm;
	char utc[32], text[128];
	int rc = 0;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(utc, sizeof(utc), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		return;
	/* utc (31 bytes at most), two 64-bit numbers (20 each) and 16 bytes
	 * of markup always fit. */
	snprintf(text, sizeof(text), "%s\n<t:%lld:F> (<t:%lld:R>)", utc,
		 (long long)t, (long long)t);
	buf_init(&b, DISCORD_BUF_MAX);
	if (local != NULL && zone != NULL && strcmp(zone, "UTC") != 0)
		rc = discord_append_two(&b, local, " ");
	if (rc == 0 && local != NULL && zone != NULL &&
	    strcmp(zone, "UTC") != 0)
		rc = discord_append_two(&b, zone, "\n");
	if (rc == 0)
		rc = buf_append_str(&b, text);
	discord_add_field(em, label(em->lang, LABEL_WHEN), &b, rc, false);
}

/* ---- security-group fields ---- */

/* One group: "[sg-0abc](url) (name)", or escaped text without a link. */
static int
discord_append_group(struct buf *b, json_object *group)
{
	const char *id = alert_get_string(group, "id");
	const char *name = alert_get_string(group, "name");
	const char *url = alert_get_string(group, "console_url");
	int rc;

	if (alert_console_link_is_safe(id, url)) {
		rc = discord_append_two(b, "[", id);
		if (rc == 0)
			rc = discord_append_two(b, "](", url);
		if (rc == 0)
			rc = buf_append(b, ")", 1);
	} else
		rc = discord_append_escaped(b, id != NULL ? id : name);
	if (rc == 0 && id != NULL && name != NULL)
		rc = buf_append_str(b, " (");
	if (rc == 0 && id != NULL && name != NULL)
		rc = discord_append_escaped(b, name);
	if (rc == 0 && id != NULL && name != NULL)
		rc = buf_append_str(b, ")");
	return rc;
}

/* The groups, one a line, as whole lines within the value cap (a cut
 * would break a link), then "… and N more". */
static void
discord_add_groups(struct discord_embed *em, json_object *alert)
{
	json_object *groups = alert_get_member(alert, "security_groups",
					     json_type_array);
	size_t i, n = alert_array_length(groups);
	struct buf b, line;
	int rc = 0;

	buf_init(&b, DISCORD_BUF_MAX);
	for (i = 0; i < n && rc == 0; i++) {
		buf_init(&line, DISCORD_BUF_MAX);
		rc = discord_append_group(&line,
					  json_object_array_get_idx(groups, i));
		if (rc == 0 && i > 0 && text_length(b.data) +
		    text_length(line.data) + 1 > DISCORD_VALUE_CAP -
		    DISCORD_MORE_RESERVE) {
			buf_free(&line);
			break;
		}
		if (rc == 0)
			rc = discord_append_two(&b, i > 0 ? "\n" : "",
						line.data);
		buf_free(&line);
	}
	if (rc == 0 && i < n)
		rc = buf_append_str(&b, "\n\xE2\x80\xA6 ");
	if (rc == 0 && i < n)
		rc = label_append_more(&b, em->lang, n - i, 0);
	discord_add_field(em, label(em->lang, n > 1 ? LABEL_SECURITY_GROUPS :
				    LABEL_SECURITY_GROUP), &b, rc, n <= 1);
}

static bool
discord_is_true(json_object *obj, const char *key)
{
	json_object *val = alert_get_member(obj, key, json_type_boolean);

	return val != NULL && json_object_get_boolean(val);
}

/* "name (type)", or the root user in bold. */
static int
discord_append_caller(struct buf *b, json_object *actor,
		      enum label_language lang)
{
	const char *name = alert_get_string(actor, "name");
	const char *type = alert_get_string(actor, "type");
	int rc = 0;

	if (discord_is_true(actor, "root"))
		return buf_printf(b, "**%s**", label(lang, LABEL_ROOT_OWNER));
	if (name != NULL)
		rc = discord_append_escaped(b, name);
	if (rc == 0 && type != NULL)
		rc = buf_append_str(b, name != NULL ? " (" : "(");
	if (rc == 0 && type != NULL)
		rc = discord_append_escaped(b, type);
	if (rc == 0 && type != NULL)
		rc = buf_append_str(b, ")");
	return rc;
}

static void
discord_add_who(struct discord_embed *em, json_object *actor)
{
	const char *arn = alert_get_string(actor, "arn");
	const char *via = alert_get_string(actor, "invoked_by");
	struct buf b;
	int rc;

	buf_init(&b, DISCORD_BUF_MAX);
	rc = discord_append_caller(&b, actor, em->lang);
	if (rc == 0 && arn != NULL)
		rc = buf_append_str(&b, "\n");
	if (rc == 0 && arn != NULL)
		rc = discord_append_escaped(&b, arn);
	if (rc == 0 && via != NULL)
		rc = buf_printf(&b, "\n%s", label(em->lang, LABEL_VIA));
	if (rc == 0 && via != NULL)
		rc = discord_append_escaped(&b, via);
	discord_add_field(em, label(em->lang, LABEL_WHO), &b, rc, false);
}

static void
discord_add_error(struct discord_embed *em, json_object *event)
{
	const char *code = alert_get_string(event, "error_code");
	const char *message = alert_get_string(event, "error_message");
	struct buf b;
	int rc;

	if (code == NULL)
		return;
	buf_init(&b, DISCORD_BUF_MAX);
	rc = discord_append_escaped(&b, code);
	if (rc == 0 && message != NULL)
		rc = buf_append_str(&b, ": ");
	if (rc == 0 && message != NULL)
		rc = discord_append_escaped(&b, message);
	discord_add_field(em, label(em->lang, LABEL_ERROR), &b, rc, false);
}

/* "added ingress: tcp 22 from 0.0.0.0/0", one per rule, escaped. */
static char *
discord_rule_line(json_object *rule, enum label_language lang)
{
	const char *change = alert_get_string(rule, "change");
	const char *direction = alert_get_string(rule, "direction");
	const char *text = alert_get_string(rule, "text");
	struct buf b;
	char *line = NULL;
	int rc;

	buf_init(&b, DISCORD_BUF_MAX);
	rc = label_append_rule_action(&b, lang, change, direction);
	if (rc == 0)
		rc = buf_append_str(&b, ": ");
	if (rc == 0)
		rc = discord_append_escaped(&b, text != NULL ? text : "?");
	if (rc == 0)
		line = discord_cut(b.data, DISCORD_RULE_LINE_CAP);
	buf_free(&b);
	return line;
}

static void
discord_read_rules(struct discord_embed *em, json_object *alert)
{
	json_object *rules = alert_get_member(alert, "rules", json_type_array);
	size_t i, n = alert_array_length(rules);

	em->rules_at = em->field_count;
	if (n == 0)
		return;
	em->lines = calloc(n, sizeof(char *));
	if (em->lines == NULL) {
		em->nomem = true;
		return;
	}
	for (i = 0; i < n; i++) {
		em->lines[i] = discord_rule_line(
			json_object_array_get_idx(rules, i), em->lang);
		if (em->lines[i] == NULL) {
			em->nomem = true;
			return;
		}
		em->line_count++;
	}
}

static bool
discord_failed(json_object *event)
{
	return alert_get_string(event, "error_code") != NULL;
}

/* The access words in the alert's language. */
static const char *
discord_access(const struct discord_embed *em, json_object *event)
{
	const char *words = label_access(em->lang,
					 alert_get_string(event, "access"));

	if (em->lang == LABEL_LANG_EN || words == NULL)
		return alert_get_string(event, "access_text");
	return words;
}

static void
discord_add_sg_fields(struct discord_embed *em, json_object *alert)
{
	json_object *event = alert_get_member(alert, "event", json_type_object);
	json_object *epoch = alert_get_member(event, "epoch", json_type_int);
	const char *name = alert_get_string(event, "name");
	struct buf b;
	int rc;

	if (name != NULL) {
		buf_init(&b, DISCORD_BUF_MAX);
		rc = buf_append_str(&b, name);
		if (rc == 0 && discord_failed(event))
			rc = discord_append_two(&b, " (",
						label(em->lang, LABEL_FAILED));
		if (rc == 0 && discord_failed(event))
			rc = buf_append_str(&b, ")");
		discord_add_field(em, label(em->lang, LABEL_EVENT), &b, rc,
				  true);
	}
	discord_add_groups(em, alert);
	discord_read_rules(em, alert);
	discord_add_who(em, alert_get_member(event, "actor", json_type_object));
	discord_add_value(em, label(em->lang, LABEL_HOW),
			  discord_access(em, event), true);
	discord_add_value(em, label(em->lang, LABEL_SOURCE_IP),
			  alert_get_string(event, "source_ip"), true);
	discord_add_value(em, label(em->lang, LABEL_REGION),
			  alert_get_string(event, "region"), true);
	discord_add_value(em, label(em->lang, LABEL_ACCOUNT),
			  alert_get_string(event, "account"), true);
	if (epoch != NULL)
		discord_add_when(em, alert,
				 (time_t)json_object_get_int64(epoch));
	else
		discord_add_value(em, label(em->lang, LABEL_WHEN),
				  alert_get_string(event, "time"), false);
	discord_add_value(em, label(em->lang, LABEL_USER_AGENT),
			  alert_get_string(event, "user_agent"), false);
	discord_add_value(em, label(em->lang, LABEL_CLOUDTRAIL_EVENT_ID),
			  alert_get_string(event, "id"), true);
	discord_add_error(em, event);
}

static void
discord_add_other_fields(struct discord_embed *em, json_object *alert)
{
	json_object *sns = alert_get_member(alert, "sns", json_type_object);
	const char *kind = alert_get_string(alert, "kind");
	time_t t;

	if (kind != NULL && strcmp(kind, "subscription_ended") == 0)
		discord_add_value(em, label(em->lang, LABEL_TOPIC),
				  alert_get_string(sns, "topic_arn"), false);
	if (text_parse_time(alert_get_string(alert, "occurred_at"), &t) == 0)
		discord_add_when(em, alert, t);
	em->rules_at = em->field_count;
}

/* ---- rules fields ---- */

static void
discord_clear_rule_fields(struct discord_embed *em)
{
	size_t i;

	for (i = 0; i < em->rule_field_count; i++) {
		free(em->rules[i].name);
		free(em->rules[i].value);
	}
	em->rule_field_count = 0;
}

/* Closes the rule field in b.  Returns 0 or -1. */
static int
discord_push_rule_field(struct discord_embed *em, struct buf *b)
{
	struct discord_field *f = &em->rules[em->rule_field_count];

	f->name = NULL;
	f->value = buf_steal(b);
	f->is_inline = false;
	if (f->value == NULL)
		return -1;
	em->rule_field_count++;
	return 0;
}

/* Fills one field with whole lines from *next on, within room code
 * points.  Returns the code points used. */
static size_t
discord_fill_rule_field(struct discord_embed *em, struct buf *b,
			size_t *next, size_t room)
{
	size_t used = 0, len;
	char *cut;

	while (*next < em->line_count) {
		len = text_length(em->lines[*next]) + (used > 0);
		if (used + len > room)
			break;
		if (discord_append_two(b, used > 0 ? "\n" : "",
				       em->lines[*next]) != 0)
			break;
		used += len;
		(*next)++;
	}
	if (used == 0 && *next < em->line_count && room > 8) {
		/* A line longer than the room: keep its start. */
		cut = discord_cut(em->lines[*next], room);
		if (cut != NULL && buf_append_str(b, cut) == 0) {
			used = text_length(cut);
			(*next)++;
		}
		free(cut);
	}
	return used;
}

/* Names the rule fields "Rules changed", or "Rules (1/3)" and so on. */
static int
discord_name_rule_fields(struct discord_embed *em)
{
	struct buf name;
	size_t i;

	for (i = 0; i < em->rule_field_count; i++) {
		buf_init(&name, DISCORD_BUF_MAX);
		if (em->rule_field_count == 1 ?
		    buf_append_str(&name, label(em->lang,
						LABEL_RULES_CHANGED)) :
		    buf_printf(&name, "%s (%zu/%zu)",
			       label(em->lang, LABEL_RULES), i + 1,
			       em->rule_field_count))
			return -1;
		em->rules[i].name = buf_steal(&name);
		if (em->rules[i].name == NULL)
			return -1;
	}
	return 0;
}

/* Maximum code points of a rule field's name ("Rules (25/25)"). */
#define DISCORD_RULE_NAME_MAX	16

/* Appends "… and N more rules" to the last rule field, or adds a field
 * for it.  discord_render_rules keeps room for this line in every field
 * and in the budget. */
static void
discord_note_more_rules(struct discord_embed *em, size_t count)
{
	struct discord_field *last;
	struct buf b;

	buf_init(&b, DISCORD_BUF_MAX);
	if (em->rule_field_count > 0) {
		last = &em->rules[em->rule_field_count - 1];
		if (buf_printf(&b, "%s\n", last->value) != 0)
			goto fail;
		free(last->value);
		last->value = NULL;
		em->rule_field_count--;
	}
	if (buf_append_str(&b, "\xE2\x80\xA6 ") != 0 ||
	    label_append_more(&b, em->lang, count, 1) != 0 ||
	    discord_push_rule_field(em, &b) != 0)
		goto fail;
	return;
fail:
	buf_free(&b);
	em->nomem = true;
}

/*
 * Lays the rule lines out in fields of at most 1024 code points, no
 * more than max_fields fields and budget code points in all (names
 * included).  Lines that do not fit are counted in a last "… and N more
 * rules" line.
 */
static void
discord_render_rules(struct discord_embed *em, size_t max_fields,
		     size_t budget)
{
	size_t next = 0, used = 0, room;
	struct buf b;

	discord_clear_rule_fields(em);
	while (next < em->line_count && em->rule_field_count < max_fields) {
		if (used + DISCORD_RULE_NAME_MAX + DISCORD_MORE_RESERVE +
		    8 > budget)
			break;
		room = budget - used - DISCORD_RULE_NAME_MAX -
		       DISCORD_MORE_RESERVE;
		if (room > DISCORD_FIELD_VALUE_MAX - DISCORD_MORE_RESERVE)
			room = DISCORD_FIELD_VALUE_MAX - DISCORD_MORE_RESERVE;
		buf_init(&b, DISCORD_BUF_MAX);
		used += discord_fill_rule_field(em, &b, &next, room) +
			DISCORD_RULE_NAME_MAX;
		if (b.len == 0 || discord_push_rule_field(em, &b) != 0) {
			buf_free(&b);
			break;
		}
	}
	/* Every field kept DISCORD_MORE_RESERVE free for the note; without
	 * a field, the note needs a field of its own. */
	if (next < em->line_count && (em->rule_field_count > 0 ||
	    (max_fields > 0 && used + DISCORD_RULE_NAME_MAX +
	     DISCORD_MORE_RESERVE <= budget)))
		discord_note_more_rules(em, em->line_count - next);
	if (discord_name_rule_fields(em) != 0)
		em->nomem = true;
}

/* ---- sizes and shrinking ---- */

static size_t
discord_length(const char *s)
{
	return s != NULL ? text_length(s) : 0;
}

static size_t
discord_fields_size(const struct discord_field *fields, size_t n)
{
	size_t i, total = 0;

	for (i = 0; i < n; i++)
		total += discord_length(fields[i].name) +
			 discord_length(fields[i].value);
	return total;
}

/* Characters that count towards the 6000 of a message. */
static size_t
discord_embed_size(const struct discord_embed *em)
{
	return discord_length(em->title) + discord_length(em->description) +
	       discord_length(em->footer) +
	       discord_fields_size(em->fields, em->field_count) +
	       discord_fields_size(em->rules, em->rule_field_count);
}

static size_t
discord_over(const struct discord_embed *em, size_t limit)
{
	size_t size = discord_embed_size(em);

	return size > limit ? size - limit : 0;
}

/* Shortens *text to max code points; 0 removes it. */
static void
discord_shrink(struct discord_embed *em, char **text, size_t max)
{
	char *cut = NULL;

	if (*text == NULL || text_length(*text) <= max)
		return;
	if (max > 0 && (cut = discord_cut(*text, max)) == NULL) {
		em->nomem = true;
		return;
	}
	free(*text);
	*text = cut;
}

static size_t
discord_saturating_sub(size_t a, size_t b)
{
	return a > b ? a - b : 0;
}

static void
discord_drop_field(struct discord_field *fields, size_t *count)
{
	(*count)--;
	free(fields[*count].name);
	free(fields[*count].value);
	fields[*count].name = fields[*count].value = NULL;
}

/* Last resort of discord_embed_fit: short field values, then fewer
 * fields.  Title and footer alone stay far below any limit used. */
static void
discord_fit_fields(struct discord_embed *em, size_t limit)
{
	size_t i;

	for (i = 0; i < em->field_count && discord_over(em, limit) > 0; i++)
		discord_shrink(em, &em->fields[i].value, DISCORD_VALUE_SHRUNK);
	while (discord_over(em, limit) > 0 && em->rule_field_count > 0)
		discord_drop_field(em->rules, &em->rule_field_count);
	while (discord_over(em, limit) > 0 && em->field_count > 0)
		discord_drop_field(em->fields, &em->field_count);
	if (em->rules_at > em->field_count)
		em->rules_at = em->field_count;
	while (discord_over(em, limit) > 0 && em->description != NULL)
		discord_shrink(em, &em->description, 0);
}

/* Shrinks a whole-message embed to limit characters: the description
 * first (down to DISCORD_DESCRIPTION_KEEP), then the rules, then the rest
 * of the description, the other field values, and at last the fields. */
static void
discord_embed_fit(struct discord_embed *em, size_t limit)
{
	size_t over, target, rules_size;

	if ((over = discord_over(em, limit)) > 0) {
		target = discord_saturating_sub(
			discord_length(em->description), over);
		if (target < DISCORD_DESCRIPTION_KEEP)
			target = DISCORD_DESCRIPTION_KEEP;
		discord_shrink(em, &em->description, target);
	}
	if ((over = discord_over(em, limit)) > 0) {
		rules_size = discord_fields_size(em->rules,
						 em->rule_field_count);
		discord_render_rules(em, DISCORD_FIELDS_MAX - em->field_count,
				     discord_saturating_sub(rules_size, over));
	}
	if ((over = discord_over(em, limit)) > 0)
		discord_shrink(em, &em->description, discord_saturating_sub(
			discord_length(em->description), over));
	discord_fit_fields(em, limit);
}

/* ---- JSON text ---- */

/*
 * The payload is written as JSON text directly, in the bytes that
 * json-c 0.16 writes for the same members with JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE: no spaces, members in insertion order.
 * The unit tests compare the two.
 */

#define DISCORD_BYTES_01	0x0101010101010101ULL
#define DISCORD_BYTES_80	0x8080808080808080ULL

/* Whether none of the eight bytes of word needs escaping in a JSON
 * string: no control character, '"' or '\\'.  Each term is the usual
 * test for a zero byte in a word, which sets a high bit exactly when
 * some byte matches. */
static bool
discord_json_word_is_plain(uint64_t word)
{
	uint64_t quote = word ^ (DISCORD_BYTES_01 * '"');
	uint64_t backslash = word ^ (DISCORD_BYTES_01 * '\\');
	uint64_t found = ((word - DISCORD_BYTES_01 * 0x20) & ~word) |
			 ((quote - DISCORD_BYTES_01) & ~quote) |
			 ((backslash - DISCORD_BYTES_01) & ~backslash);

	return (found & DISCORD_BYTES_80) == 0;
}

/* The two-character escape of c in a JSON string, or NULL. */
static const char *
discord_json_escape_of(unsigned char c)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		return NULL;
	}
}

/*
 * Appends prefix, JSON text that ends with the opening quote of a
 * string (",\"value\":\""), then s and the closing quote.  s is escaped
 * the way json-c's json_escape_str does it: '"', '\\' and control
 * characters (lowercase hex in \u00XX), every other byte as it is.
 */
static int
discord_json_string(struct buf *b, const char *prefix, const char *s)
{
	size_t i = 0, run = 0;	/* s[run..i) is not appended yet */
	size_t len = strlen(s);
	const char *esc;
	uint64_t word;
	int rc = buf_append_str(b, prefix);

	while (i < len && rc == 0) {
		if (i + 8 <= len) {
			memcpy(&word, s + i, sizeof(word));
			if (discord_json_word_is_plain(word)) {
				i += 8;
				continue;
			}
		}
		if ((unsigned char)s[i] >= 0x20 && s[i] != '"' &&
		    s[i] != '\\') {
			i++;
			continue;
		}
		rc = buf_append(b, s + run, i - run);
		esc = discord_json_escape_of((unsigned char)s[i]);
		if (rc == 0)
			rc = esc != NULL ? buf_append_str(b, esc) :
			     buf_printf(b, "\\u%04x", (unsigned char)s[i]);
		run = ++i;
	}
	if (rc == 0)
		rc = buf_append(b, s + run, len - run);
	if (rc == 0)
		rc = buf_append(b, "\"", 1);
	return rc;
}

/* Appends prefix and value in decimal.  snprintf into a local array
 * formats once, whereas buf_printf formats twice. */
static int
discord_json_int(struct buf *b, const char *prefix, int value)
{
	char text[16];

	snprintf(text, sizeof(text), "%d", value);
	if (buf_append_str(b, prefix) != 0)
		return -1;
	return buf_append_str(b, text);
}

static int
discord_field_write(struct buf *b, bool first, const struct discord_field *f)
{
	int rc = discord_json_string(b, first ? "{\"name\":\"" :
				     ",{\"name\":\"", f->name);

	if (rc == 0)
		rc = discord_json_string(b, ",\"value\":\"", f->value);
	if (rc == 0)
		rc = buf_append_str(b, f->is_inline ? ",\"inline\":true}" :
				    ",\"inline\":false}");
	return rc;
}

/* The fields in display order: those before the rules, the rules, the
 * rest. */
static int
discord_fields_write(struct buf *b, const struct discord_embed *em)
{
	size_t i, n = 0;
	int rc = buf_append_str(b, ",\"fields\":[");

	for (i = 0; i < em->rules_at && rc == 0; i++)
		rc = discord_field_write(b, n++ == 0, &em->fields[i]);
	for (i = 0; i < em->rule_field_count && rc == 0; i++)
		rc = discord_field_write(b, n++ == 0, &em->rules[i]);
	for (i = em->rules_at; i < em->field_count && rc == 0; i++)
		rc = discord_field_write(b, n++ == 0, &em->fields[i]);
	if (rc == 0)
		rc = buf_append_str(b, "]");
	return rc;
}

/* Appends the embed object. */
static int
discord_embed_write(struct buf *b, const struct discord_embed *em)
{
	int rc = discord_json_string(b, "{\"title\":\"", em->title);

	if (rc == 0 && em->description != NULL)
		rc = discord_json_string(b, ",\"description\":\"",
					 em->description);
	if (rc == 0)
		rc = discord_json_int(b, ",\"color\":", em->color);
	if (rc == 0 && em->timestamp[0] != '\0')
		rc = discord_json_string(b, ",\"timestamp\":\"",
					 em->timestamp);
	if (rc == 0 && em->field_count + em->rule_field_count > 0)
		rc = discord_fields_write(b, em);
	if (rc == 0)
		rc = discord_json_string(b, ",\"footer\":{\"text\":\"",
					 em->footer);
	if (rc == 0)
		rc = buf_append_str(b, "}}");
	return rc;
}

/* ---- payload ---- */

/* Builds the embed of alert with its rules laid out at full length.
 * Returns 0, or -1 when memory is short. */
static int
discord_embed_build(json_object *alert, struct discord_embed *em)
{
	const struct discord_severity *sev = discord_severity_of(alert);
	const char *kind = alert_get_string(alert, "kind");

	memset(em, 0, sizeof(*em));
	if (label_language_parse(alert_get_string(alert, "language"),
				 &em->lang) != 0)
		em->lang = LABEL_LANG_EN;
	em->color = sev->color;
	discord_set_title(em, alert, sev);
	discord_set_description(em, alert);
	discord_set_footer(em, alert);
	discord_set_timestamp(em, alert);
	if (kind != NULL && strcmp(kind, "security_group_change") == 0)
		discord_add_sg_fields(em, alert);
	else
		discord_add_other_fields(em, alert);
	discord_render_rules(em, DISCORD_FIELDS_MAX - em->field_count,
			     (size_t)-1);
	return em->nomem ? -1 : 0;
}

/* Appends the embed of alert to body, after the packed embeds before it,
 * when it fits in the characters left (the first embed is shrunk to
 * fit).  Returns 1 when added, 0 when it does not fit, -1 when memory is
 * short. */
static int
discord_pack_one(struct buf *body, size_t packed, json_object *alert,
		 size_t *total)
{
	struct discord_embed em;
	size_t size;
	int rc = -1;

	if (discord_embed_build(alert, &em) != 0)
		goto out;
	if (packed == 0)
		discord_embed_fit(&em, DISCORD_EMBED_TOTAL_MAX);
	size = discord_embed_size(&em);
	if (em.nomem)
		goto out;
	rc = 0;
	if (*total + size > DISCORD_EMBED_TOTAL_MAX)
		goto out;
	rc = -1;
	if (packed > 0 && buf_append(body, ",", 1) != 0)
		goto out;
	if (discord_embed_write(body, &em) != 0)
		goto out;
	*total += size;
	rc = 1;
out:
	discord_embed_free(&em);
	return rc;
}

char *
discord_render_payload(json_object *const *alerts, size_t count,
		       size_t *used)
{
	struct buf body;
	size_t i, total = 0;
	int rc = 1;

	*used = 0;
	buf_init(&body, DISCORD_BODY_MAX);
	if (buf_append_str(&body, "{\"username\":\"" DISCORD_USERNAME "\","
			   "\"allowed_mentions\":{\"parse\":[]},"
			   "\"embeds\":[") != 0)
		rc = -1;
	for (i = 0; i < count && i < DISCORD_EMBEDS_MAX && rc == 1; i++) {
		rc = discord_pack_one(&body, *used, alerts[i], &total);
		if (rc == 1)
			(*used)++;
	}
	if (rc >= 0 && buf_append_str(&body, "]}") != 0)
		rc = -1;
	if (rc < 0) {
		buf_free(&body);
		*used = 0;
		return NULL;
	}
	return buf_steal(&body);
}

json_object *
discord_build_payload(json_object *const *alerts, size_t count, size_t *used)
{
	char *body = discord_render_payload(alerts, count, used);
	json_object *payload = body != NULL ? json_tokener_parse(body) : NULL;

	free(body);
	if (payload == NULL)
		*used = 0;
	return payload;
}
