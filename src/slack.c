#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "snsrelay/alert.h"
#include "snsrelay/buf.h"
#include "snsrelay/labels.h"
#include "snsrelay/slack.h"
#include "snsrelay/text.h"

#define SLACK_ZWSP		"\xE2\x80\x8B"	/* U+200B zero-width space */

/*
 * Caps, in code points, on parts of the message.  They keep the sum of
 * all block texts near 12000 characters, below the total at which Slack
 * has been reported to reject with msg_blocks_too_long (about 13000).
 */
#define SLACK_VALUE_CAP		500
#define SLACK_RULE_LINE_CAP	400
#define SLACK_CONTEXT_CAP	300
/* Room for the "… and N more rules" line. */
#define SLACK_MORE_RESERVE	40
/* Maximum of a work buffer; every part is cut far below it. */
#define SLACK_BUF_MAX		(256 * 1024)

struct slack_severity {
	const char *name;
	const char *label;
};

static const struct slack_severity slack_severities[] = {
	{ "critical", "CRITICAL" },
	{ "high", "HIGH" },
	{ "medium", "MEDIUM" },
	{ "low", "LOW" },
	{ "warning", "WARNING" },
	{ "info", "INFO" },
};

/* How much slack_escape_mode escapes: only broadcast mentions (for
 * plain_text, which Slack shows without parsing markup), also entities
 * (slack_escape), or also mrkdwn formatting characters. */
enum slack_escape_level {
	SLACK_ESCAPE_PLAIN,
	SLACK_ESCAPE_ENTITIES,
	SLACK_ESCAPE_MRKDWN,
};

/* The payload while it is built; nomem records any failed allocation. */
struct slack_message {
	json_object *blocks;
	json_object *fields;
	bool nomem;
	enum label_language lang;	/* of the words, not the values */
};

/* ---- escaping ---- */

static bool
slack_is_broadcast(const char *at)
{
	return strncasecmp(at + 1, "channel", 7) == 0 ||
	       strncasecmp(at + 1, "here", 4) == 0 ||
	       strncasecmp(at + 1, "everyone", 8) == 0;
}

static bool
slack_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* An "_" between two letters or digits cannot open or close italics, so
 * names such as "AWSReservedSSO_Admin" stay as they are (and copyable). */
static bool
slack_is_intraword_underscore(const char *s, size_t i)
{
	return s[i] == '_' && i > 0 && slack_is_alnum(s[i - 1]) &&
	       slack_is_alnum(s[i + 1]);
}

/* Appends the escaped form of the character at s[i].  In mrkdwn mode a
 * zero-width space on each side of * _ ~ ` keeps them from pairing into
 * formatting, and one before ">" keeps a line from becoming a quote. */
static int
slack_escape_char(struct buf *b, const char *s, size_t i,
		  enum slack_escape_level level)
{
	bool mrkdwn = level == SLACK_ESCAPE_MRKDWN;
	bool entities = level != SLACK_ESCAPE_PLAIN;
	int rc = 0;

	if (entities && s[i] == '&')
		return buf_append_str(b, "&amp;");
	if (entities && s[i] == '<')
		return buf_append_str(b, "&lt;");
	if (entities && s[i] == '>')
		return buf_append_str(b, mrkdwn ? SLACK_ZWSP "&gt;" : "&gt;");
	if (mrkdwn && strchr("*_~`", s[i]) != NULL &&
	    !slack_is_intraword_underscore(s, i))
		return buf_printf(b, SLACK_ZWSP "%c" SLACK_ZWSP, s[i]);
	rc = buf_append(b, &s[i], 1);
	if (rc == 0 && s[i] == '@' && slack_is_broadcast(s + i))
		rc = buf_append_str(b, SLACK_ZWSP);
	return rc;
}

/* Bytes that slack_escape_char may change or follow with a zero-width
 * space.  slack_escape_mode copies every other byte as it is. */
static const bool slack_special_bytes[256] = {
	['&'] = true, ['<'] = true, ['>'] = true, ['*'] = true,
	['_'] = true, ['~'] = true, ['`'] = true, ['@'] = true,
};

static char *
slack_escape_mode(const char *s, enum slack_escape_level level)
{
	char *clean = text_sanitize(s, s != NULL ? strlen(s) : 0);
	struct buf out;
	size_t i, run = 0;	/* clean[run..i) is not appended yet */
	int rc = clean != NULL ? 0 : -1;

	/* Each byte becomes at most 7 ("&gt;" or "*" between two 3-byte
	 * zero-width spaces). */
	buf_init(&out, clean != NULL ? strlen(clean) * 7 + 1 : 0);
	if (rc == 0)
		rc = buf_append(&out, "", 0);
	for (i = 0; rc == 0 && clean[i] != '\0'; i++) {
		if (!slack_special_bytes[(unsigned char)clean[i]])
			continue;
		rc = buf_append(&out, clean + run, i - run);
		if (rc == 0)
			rc = slack_escape_char(&out, clean, i, level);
		run = i + 1;
	}
	if (rc == 0)
		rc = buf_append(&out, clean + run, i - run);
	free(clean);
	if (rc != 0) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out);
}

char *
slack_escape(const char *s)
{
	return slack_escape_mode(s, SLACK_ESCAPE_ENTITIES);
}

/* Shortens escaped text to max code points without leaving part of an
 * entity ("&am") before the "…". */
static char *
slack_cut(const char *escaped, size_t max)
{
	char *out = text_truncate(escaped, max);
	size_t end, amp;

	if (out == NULL || strcmp(out, escaped) == 0 || strlen(out) < 3)
		return out;
	end = strlen(out) - 3;	/* before the 3-byte ellipsis */

	/* An entity is at most 5 bytes, so a cut one starts in the last 4. */
	for (amp = end; amp > 0 && end - amp < 4; amp--)
		if (out[amp - 1] == '&' || out[amp - 1] == ';')
			break;
	if (amp > 0 && out[amp - 1] == '&')
		memmove(out + amp - 1, out + end, 4);
	return out;
}

/* Returns value cut to max code points before and after mrkdwn
 * escaping. */
static char *
slack_mrkdwn(const char *value, size_t max)
{
	char *cut = text_truncate(value != NULL ? value : "", max);
	char *escaped = cut != NULL ?
		slack_escape_mode(cut, SLACK_ESCAPE_MRKDWN) : NULL;
	char *out = escaped != NULL ? slack_cut(escaped, max) : NULL;

	free(cut);
	free(escaped);
	return out;
}

static int
slack_append_mrkdwn(struct buf *b, const char *value, size_t max)
{
	char *escaped = slack_mrkdwn(value, max);
	int rc = escaped != NULL ? buf_append_str(b, escaped) : -1;

	free(escaped);
	return rc;
}

/* ---- reading the alert ---- */

/* The language of the alert's words: English unless it is "ko". */
static enum label_language
slack_lang(json_object *alert)
{
	enum label_language lang = LABEL_LANG_EN;

	if (label_language_parse(alert_get_string(alert, "language"),
				 &lang) != 0)
		lang = LABEL_LANG_EN;
	return lang;
}

static const char *
slack_severity_label(json_object *alert)
{
	const char *name = alert_get_string(alert, "severity");
	size_t i, n = sizeof(slack_severities) / sizeof(slack_severities[0]);

	for (i = 0; name != NULL && i < n; i++)
		if (strcmp(slack_severities[i].name, name) == 0)
			return label_severity(slack_lang(alert), name);
	return label(slack_lang(alert), LABEL_SEV_INFO);
}

static bool
slack_is_blank(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t')
			return false;
	return true;
}

/* ---- JSON helpers ---- */

static void
slack_add(struct slack_message *m, json_object *obj, const char *key,
	  json_object *val)
{
	if (obj == NULL || val == NULL ||
	    json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		m->nomem = true;
	}
}

static void
slack_push(struct slack_message *m, json_object *array, json_object *val)
{
	if (array == NULL || val == NULL ||
	    json_object_array_add(array, val) != 0) {
		json_object_put(val);
		m->nomem = true;
	}
}

/* A text object; mrkdwn texts are verbatim, so Slack links and parses
 * nothing by itself. */
static json_object *
slack_text(struct slack_message *m, const char *type, const char *text)
{
	json_object *obj = json_object_new_object();

	slack_add(m, obj, "type", json_object_new_string(type));
	slack_add(m, obj, "text", json_object_new_string(text));
	if (strcmp(type, "mrkdwn") == 0)
		slack_add(m, obj, "verbatim", json_object_new_boolean(1));
	if (obj == NULL)
		m->nomem = true;
	return obj;
}

static json_object *
slack_block(struct slack_message *m, const char *type)
{
	json_object *block = json_object_new_object();

	slack_add(m, block, "type", json_object_new_string(type));
	if (block == NULL)
		m->nomem = true;
	return block;
}

/* Adds a section block with the mrkdwn text in b, cut to the section
 * limit; blank text adds nothing, because Slack rejects empty text.
 * Frees b. */
static void
slack_add_section(struct slack_message *m, struct buf *b, int rc)
{
	json_object *block;
	char *text;

	if (rc != 0)
		m->nomem = true;
	if (rc != 0 || slack_is_blank(b->data)) {
		buf_free(b);
		return;
	}
	text = slack_cut(b->data, SLACK_SECTION_TEXT_MAX);
	buf_free(b);
	if (text == NULL) {
		m->nomem = true;
		return;
	}
	block = slack_block(m, "section");
	slack_add(m, block, "text", slack_text(m, "mrkdwn", text));
	slack_push(m, m->blocks, block);
	free(text);
}

/* ---- header, summary, fallback ---- */

/* "CRITICAL: <title>" as plain text, which Slack shows without parsing
 * markup, so only broadcast mentions are broken. */
static char *
slack_header_text(json_object *alert)
{
	const char *title = alert_get_string(alert, "title");
	char *cut = text_truncate(title != NULL ? title :
				  label(slack_lang(alert), LABEL_ALERT),
				  SLACK_HEADER_MAX);
	char *clean = cut != NULL ?
		slack_escape_mode(cut, SLACK_ESCAPE_PLAIN) : NULL;
	char *out = NULL;
	struct buf b;

	buf_init(&b, SLACK_BUF_MAX);
	if (clean != NULL && buf_printf(&b, "%s: %s",
			slack_severity_label(alert), clean) == 0)
		out = text_truncate(b.data, SLACK_HEADER_MAX);
	buf_free(&b);
	free(cut);
	free(clean);
	return out;
}

static void
slack_add_header(struct slack_message *m, const char *header)
{
	json_object *block = slack_block(m, "header");

	slack_add(m, block, "text", slack_text(m, "plain_text", header));
	slack_push(m, m->blocks, block);
}

static void
slack_add_summary(struct slack_message *m, json_object *alert)
{
	struct buf b;

	buf_init(&b, SLACK_BUF_MAX);
	slack_add_section(m, &b, slack_append_mrkdwn(&b,
		alert_get_string(alert, "summary"), SLACK_SECTION_TEXT_MAX));
}

/* The generic alert's message text, in a section of its own. */
static void
slack_add_message_text(struct slack_message *m, json_object *alert)
{
	const char *text = alert_get_string(alert, "text");
	struct buf b;

	if (text == NULL)
		return;
	buf_init(&b, SLACK_BUF_MAX);
	slack_add_section(m, &b, slack_append_mrkdwn(&b, text,
		SLACK_SECTION_TEXT_MAX));
}

/* ---- fields ---- */

/* Adds "*name*\n<value>" with value already escaped; a blank value adds
 * nothing.  Frees b. */
static void
slack_add_field(struct slack_message *m, const char *name, struct buf *b,
		int rc)
{
	struct buf field;
	char *cut;

	if (rc != 0)
		m->nomem = true;
	if (rc != 0 || slack_is_blank(b->data) ||
	    alert_array_length(m->fields) >= SLACK_FIELDS_MAX) {
		buf_free(b);
		return;
	}
	cut = slack_cut(b->data, SLACK_VALUE_CAP);
	buf_free(b);
	buf_init(&field, SLACK_BUF_MAX);
	if (cut == NULL || buf_printf(&field, "*%s*\n%s", name, cut) != 0)
		m->nomem = true;
	else
		slack_push(m, m->fields, slack_text(m, "mrkdwn", field.data));
	buf_free(&field);
	free(cut);
}

static void
slack_add_value(struct slack_message *m, const char *name, const char *value)
{
	struct buf b;

	if (value == NULL)
		return;
	buf_init(&b, SLACK_BUF_MAX);
	slack_add_field(m, name, &b, slack_append_mrkdwn(&b, value,
		SLACK_VALUE_CAP));
}

/* The time in UTC, in the configured zone when the alert has one, and as
 * <!date> markup that Slack shows in each reader's zone. */
static void
slack_add_when(struct slack_message *m, json_object *alert, time_t t)
{
	const char *local = alert_get_string(alert, "occurred_at_local");
	const char *zone = alert_get_string(alert, "timezone");
	struct buf b;
	struct tm tm;
	char utc[32];
	int rc = 0;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(utc, sizeof(utc), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		return;
	buf_init(&b, SLACK_BUF_MAX);
	if (local != NULL && zone != NULL && strcmp(zone, "UTC") != 0)
		rc = slack_append_mrkdwn(&b, local, 100);
	if (rc == 0 && local != NULL && zone != NULL &&
	    strcmp(zone, "UTC") != 0)
		rc = buf_append_str(&b, "\n");
	if (rc == 0)
		rc = buf_printf(&b, "%s\n<!date^%lld^{date_short_pretty} "
				"{time}|%s>", utc, (long long)t, utc);
	slack_add_field(m, label(m->lang, LABEL_WHEN), &b, rc);
}

/* One group: "<url|sg-0abc> (name)", or escaped text without a link. */
static int
slack_append_group(struct buf *b, json_object *group)
{
	const char *id = alert_get_string(group, "id");
	const char *name = alert_get_string(group, "name");
	const char *url = alert_get_string(group, "console_url");
	int rc;

	if (alert_console_link_is_safe(id, url))
		rc = buf_printf(b, "<%s|%s>", url, id);
	else
		rc = slack_append_mrkdwn(b, id != NULL ? id : name,
					 SLACK_VALUE_CAP);
	if (rc == 0 && id != NULL && name != NULL)
		rc = buf_append_str(b, " (");
	if (rc == 0 && id != NULL && name != NULL)
		rc = slack_append_mrkdwn(b, name, SLACK_VALUE_CAP);
	if (rc == 0 && id != NULL && name != NULL)
		rc = buf_append_str(b, ")");
	return rc;
}

/* The groups, one a line, as whole lines within the value cap (a cut
 * would break a link), then "… and N more". */
static void
slack_add_groups(struct slack_message *m, json_object *alert)
{
	json_object *groups = alert_get_member(alert, "security_groups",
					   json_type_array);
	size_t i, n = alert_array_length(groups);
	struct buf b, line;
	int rc = 0;

	buf_init(&b, SLACK_BUF_MAX);
	for (i = 0; i < n && rc == 0; i++) {
		buf_init(&line, SLACK_BUF_MAX);
		rc = slack_append_group(&line,
					json_object_array_get_idx(groups, i));
		if (rc == 0 && i > 0 && text_length(b.data) +
		    text_length(line.data) + 1 > SLACK_VALUE_CAP -
		    SLACK_MORE_RESERVE) {
			buf_free(&line);
			break;
		}
		if (rc == 0)
			rc = buf_printf(&b, "%s%s", i > 0 ? "\n" : "",
					line.data);
		buf_free(&line);
	}
	if (rc == 0 && i < n)
		rc = buf_append_str(&b, "\n\xE2\x80\xA6 ");
	if (rc == 0 && i < n)
		rc = label_append_more(&b, m->lang, n - i, 0);
	slack_add_field(m, label(m->lang, n > 1 ? LABEL_SECURITY_GROUPS :
				 LABEL_SECURITY_GROUP), &b,
			rc);
}

static bool
slack_is_true(json_object *obj, const char *key)
{
	json_object *val = alert_get_member(obj, key, json_type_boolean);

	return val != NULL && json_object_get_boolean(val);
}

/* "name (type)", or the root user in bold. */
static int
slack_append_caller(struct buf *b, json_object *actor,
		    enum label_language lang)
{
	const char *name = alert_get_string(actor, "name");
	const char *type = alert_get_string(actor, "type");
	int rc = 0;

	if (slack_is_true(actor, "root"))
		return buf_printf(b, "*%s*", label(lang, LABEL_ROOT_OWNER));
	if (name != NULL)
		rc = slack_append_mrkdwn(b, name, SLACK_VALUE_CAP);
	if (rc == 0 && type != NULL)
		rc = buf_append_str(b, name != NULL ? " (" : "(");
	if (rc == 0 && type != NULL)
		rc = slack_append_mrkdwn(b, type, 64);
	if (rc == 0 && type != NULL)
		rc = buf_append_str(b, ")");
	return rc;
}

static void
slack_add_who(struct slack_message *m, json_object *actor)
{
	const char *arn = alert_get_string(actor, "arn");
	const char *via = alert_get_string(actor, "invoked_by");
	struct buf b;
	int rc;

	buf_init(&b, SLACK_BUF_MAX);
	rc = slack_append_caller(&b, actor, m->lang);
	if (rc == 0 && arn != NULL)
		rc = buf_append_str(&b, "\n");
	if (rc == 0 && arn != NULL)
		rc = slack_append_mrkdwn(&b, arn, SLACK_VALUE_CAP);
	if (rc == 0 && via != NULL)
		rc = buf_printf(&b, "\n%s", label(m->lang, LABEL_VIA));
	if (rc == 0 && via != NULL)
		rc = slack_append_mrkdwn(&b, via, SLACK_VALUE_CAP);
	slack_add_field(m, label(m->lang, LABEL_WHO), &b, rc);
}

static void
slack_add_event(struct slack_message *m, json_object *event)
{
	const char *name = alert_get_string(event, "name");
	struct buf b;
	int rc;

	if (name == NULL)
		return;
	buf_init(&b, SLACK_BUF_MAX);
	rc = slack_append_mrkdwn(&b, name, SLACK_VALUE_CAP);
	if (rc == 0 && alert_get_string(event, "error_code") != NULL)
		rc = buf_printf(&b, " (%s)", label(m->lang, LABEL_FAILED));
	slack_add_field(m, label(m->lang, LABEL_EVENT), &b, rc);
}

static void
slack_add_error(struct slack_message *m, json_object *event)
{
	const char *code = alert_get_string(event, "error_code");
	const char *message = alert_get_string(event, "error_message");
	struct buf b;
	int rc;

	if (code == NULL)
		return;
	buf_init(&b, SLACK_BUF_MAX);
	rc = slack_append_mrkdwn(&b, code, 128);
	if (rc == 0 && message != NULL)
		rc = buf_append_str(&b, ": ");
	if (rc == 0 && message != NULL)
		rc = slack_append_mrkdwn(&b, message, SLACK_VALUE_CAP);
	slack_add_field(m, label(m->lang, LABEL_ERROR), &b, rc);
}

/* The access words in the message's language. */
static const char *
slack_access(const struct slack_message *m, json_object *event)
{
	const char *words = label_access(m->lang,
					 alert_get_string(event, "access"));

	if (m->lang == LABEL_LANG_EN || words == NULL)
		return alert_get_string(event, "access_text");
	return words;
}

static void
slack_add_sg_fields(struct slack_message *m, json_object *alert)
{
	json_object *event = alert_get_member(alert, "event", json_type_object);
	json_object *epoch = alert_get_member(event, "epoch", json_type_int);
	time_t t;

	slack_add_event(m, event);
	slack_add_groups(m, alert);
	slack_add_who(m, alert_get_member(event, "actor", json_type_object));
	slack_add_value(m, label(m->lang, LABEL_HOW), slack_access(m, event));
	slack_add_value(m, label(m->lang, LABEL_SOURCE_IP),
			alert_get_string(event, "source_ip"));
	slack_add_value(m, label(m->lang, LABEL_REGION),
			alert_get_string(event, "region"));
	slack_add_value(m, label(m->lang, LABEL_ACCOUNT),
			alert_get_string(event, "account"));
	if (epoch != NULL)
		slack_add_when(m, alert, (time_t)json_object_get_int64(epoch));
	else if (text_parse_time(alert_get_string(alert, "occurred_at"),
				 &t) == 0)
		slack_add_when(m, alert, t);
	slack_add_error(m, event);
}

static void
slack_add_other_fields(struct slack_message *m, json_object *alert)
{
	json_object *sns = alert_get_member(alert, "sns", json_type_object);
	const char *kind = alert_get_string(alert, "kind");
	time_t t;

	if (kind != NULL && strcmp(kind, "subscription_ended") == 0)
		slack_add_value(m, label(m->lang, LABEL_TOPIC),
				alert_get_string(sns, "topic_arn"));
	if (text_parse_time(alert_get_string(alert, "occurred_at"), &t) == 0)
		slack_add_when(m, alert, t);
}

/* Adds the fields section when it has any field. */
static void
slack_add_fields_block(struct slack_message *m)
{
	json_object *block;

	if (alert_array_length(m->fields) == 0)
		return;
	block = slack_block(m, "section");
	slack_add(m, block, "fields", json_object_get(m->fields));
	slack_push(m, m->blocks, block);
}

/* ---- rules ---- */

/* "added ingress: tcp 22 from 0.0.0.0/0", escaped and cut. */
static char *
slack_rule_line(json_object *rule, enum label_language lang)
{
	const char *change = alert_get_string(rule, "change");
	const char *direction = alert_get_string(rule, "direction");
	const char *text = alert_get_string(rule, "text");
	struct buf b;
	char *line = NULL;
	int rc;

	buf_init(&b, SLACK_BUF_MAX);
	rc = label_append_rule_action(&b, lang, change, direction);
	if (rc == 0)
		rc = buf_append_str(&b, ": ");
	if (rc == 0)
		rc = slack_append_mrkdwn(&b, text != NULL ? text : "?",
					 SLACK_RULE_LINE_CAP);
	if (rc == 0)
		line = slack_cut(b.data, SLACK_RULE_LINE_CAP);
	buf_free(&b);
	return line;
}

/* Appends whole rule lines while they fit in the section with room for
 * the closing note.  Returns how many were written, or -1. */
static long
slack_fill_rules(struct buf *b, json_object *rules, size_t n,
		 enum label_language lang)
{
	size_t i, used = text_length(b->data);
	size_t room = SLACK_SECTION_TEXT_MAX - SLACK_MORE_RESERVE;
	char *line;
	size_t len;

	for (i = 0; i < n; i++) {
		line = slack_rule_line(json_object_array_get_idx(rules, i),
				       lang);
		if (line == NULL)
			return -1;
		len = text_length(line) + 1;
		if (used + len > room) {
			free(line);
			break;
		}
		if (buf_printf(b, "\n%s", line) != 0) {
			free(line);
			return -1;
		}
		used += len;
		free(line);
	}
	return (long)i;
}

static void
slack_add_rules(struct slack_message *m, json_object *alert)
{
	json_object *rules = alert_get_member(alert, "rules", json_type_array);
	size_t n = alert_array_length(rules);
	struct buf b;
	long shown;
	int rc = 0;

	if (n == 0)
		return;
	buf_init(&b, SLACK_BUF_MAX);
	rc = buf_printf(&b, "*%s (%zu)*", label(m->lang, LABEL_RULES_CHANGED),
			n);
	shown = rc == 0 ? slack_fill_rules(&b, rules, n, m->lang) : -1;
	if (shown < 0)
		rc = -1;
	if (rc == 0 && (size_t)shown < n)
		rc = buf_append_str(&b, "\n\xE2\x80\xA6 ");
	if (rc == 0 && (size_t)shown < n)
		rc = label_append_more(&b, m->lang, n - (size_t)shown, 1);
	slack_add_section(m, &b, rc);
}

/* ---- context ---- */

static void
slack_add_context_text(struct slack_message *m, json_object *elements,
		       const char *label, const char *value)
{
	struct buf b;

	if (value == NULL)
		return;
	buf_init(&b, SLACK_BUF_MAX);
	if (buf_append_str(&b, label) != 0 ||
	    slack_append_mrkdwn(&b, value, SLACK_CONTEXT_CAP) != 0)
		m->nomem = true;
	else
		slack_push(m, elements, slack_text(m, "mrkdwn", b.data));
	buf_free(&b);
}

/* The context text "<label><sep><value>" in the message's language. */
static void
slack_add_context_labeled(struct slack_message *m, json_object *elements,
			  enum label_key key, const char *sep,
			  const char *value)
{
	char name[128];

	snprintf(name, sizeof(name), "%s%s", label(m->lang, key), sep);
	slack_add_context_text(m, elements, name, value);
}

/* Severity, SNS MessageId and CloudTrail event id. */
static void
slack_add_context(struct slack_message *m, json_object *alert)
{
	json_object *sns = alert_get_member(alert, "sns", json_type_object);
	json_object *event = alert_get_member(alert, "event", json_type_object);
	json_object *block = slack_block(m, "context");
	json_object *elements = json_object_new_array();

	slack_add_context_labeled(m, elements, LABEL_SEVERITY, ": ",
				  slack_severity_label(alert));
	slack_add_context_labeled(m, elements, LABEL_SNS_MESSAGE, " ",
				  alert_get_string(sns, "message_id"));
	slack_add_context_labeled(m, elements, LABEL_CLOUDTRAIL_EVENT, " ",
				  alert_get_string(event, "id"));
	slack_add(m, block, "elements", elements);
	slack_push(m, m->blocks, block);
}

/* ---- payload ---- */

/* The notification text: the header line, escaped, as mrkdwn. */
static char *
slack_fallback_text(const char *header)
{
	return slack_mrkdwn(header, SLACK_TEXT_MAX);
}

static void
slack_add_blocks(struct slack_message *m, json_object *alert,
		 const char *header)
{
	const char *kind = alert_get_string(alert, "kind");
	bool is_sg = kind != NULL && strcmp(kind, "security_group_change") == 0;

	slack_add_header(m, header);
	slack_add_summary(m, alert);
	if (is_sg)
		slack_add_sg_fields(m, alert);
	else
		slack_add_other_fields(m, alert);
	slack_add_fields_block(m);
	if (is_sg)
		slack_add_rules(m, alert);
	else
		slack_add_message_text(m, alert);
	slack_add_context(m, alert);
}

json_object *
slack_build_payload(json_object *alert)
{
	struct slack_message m = { NULL, NULL, false, slack_lang(alert) };
	json_object *payload = json_object_new_object();
	char *header = slack_header_text(alert);
	char *fallback = header != NULL ? slack_fallback_text(header) : NULL;

	m.blocks = json_object_new_array();
	m.fields = json_object_new_array();
	m.nomem = payload == NULL || fallback == NULL || m.blocks == NULL ||
		  m.fields == NULL;
	if (!m.nomem) {
		slack_add(&m, payload, "text",
			  json_object_new_string(fallback));
		slack_add_blocks(&m, alert, header);
		slack_add(&m, payload, "blocks", json_object_get(m.blocks));
	}
	json_object_put(m.blocks);
	json_object_put(m.fields);
	free(header);
	free(fallback);
	if (m.nomem) {
		json_object_put(payload);
		return NULL;
	}
	return payload;
}
