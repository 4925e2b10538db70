#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "snsrelay/alert.h"
#include "snsrelay/buf.h"
#include "snsrelay/labels.h"
#include "snsrelay/teams.h"
#include "snsrelay/text.h"

#define TEAMS_ZWSP		"\xE2\x80\x8B"	/* U+200B zero-width space */
#define TEAMS_CARD_TYPE		"application/vnd.microsoft.card.adaptive"
#define TEAMS_CARD_SCHEMA \
	"http://adaptivecards.io/schemas/adaptive-card.json"
#define TEAMS_BUF_MAX		(512 * 1024)
/* Shortening rounds before the last resort (no rules, no text). */
#define TEAMS_FIT_ROUNDS	24

struct teams_severity {
	const char *name;
	const char *label;
	const char *color;	/* Adaptive Card TextBlock color */
};

static const struct teams_severity teams_severities[] = {
	{ "critical", "CRITICAL", "Attention" },
	{ "high", "HIGH", "Attention" },
	{ "medium", "MEDIUM", "Warning" },
	{ "low", "LOW", "Default" },
	{ "warning", "WARNING", "Warning" },
	{ "info", "INFO", "Default" },
};

/* Code points each part may use; teams_fit lowers them until the
 * payload fits in TEAMS_PAYLOAD_MAX bytes. */
struct teams_budget {
	size_t summary;
	size_t text;
	size_t rules;
	size_t fact;
};

static const struct teams_budget teams_full = { 2048, 6000, 6000, 500 };

/* The card while it is built; nomem records any failed allocation. */
struct teams_card {
	json_object *body;
	json_object *facts;
	struct teams_budget budget;
	bool nomem;
	enum label_language lang;	/* of the words, not the values */
};

/* ---- escaping ---- */

static bool
teams_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Whether the line at s starts a list item ("- ", "+ ", "* ", "1. ",
 * "1) "), a heading ("#") or a quote (">"). */
static bool
teams_starts_block(const char *s)
{
	size_t i = 0;

	if (*s == '#' || *s == '>')
		return true;
	if (strchr("-+*", *s) != NULL && *s != '\0')
		return s[1] == ' ' || s[1] == '\t';
	while (s[i] >= '0' && s[i] <= '9')
		i++;
	return i > 0 && (s[i] == '.' || s[i] == ')') &&
	       (s[i + 1] == ' ' || s[i + 1] == '\t' || s[i + 1] == '\0');
}

/* An "_" between two letters or digits cannot open or close emphasis. */
static bool
teams_is_intraword_underscore(const char *s, size_t i)
{
	return s[i] == '_' && i > 0 && teams_is_alnum(s[i - 1]) &&
	       teams_is_alnum(s[i + 1]);
}

/* Appends the character at s[i].  A zero-width space on each side of
 * * _ ~ ` [ ] keeps them from forming emphasis, code or links, one at the
 * start of a line keeps it from starting a list, heading or quote, and a
 * newline is doubled because a TextBlock joins single newlines. */
static int
teams_escape_char(struct buf *b, const char *s, size_t i)
{
	int rc = 0;

	if (s[i] == '\n')
		return buf_append_str(b, "\n\n");
	if ((i == 0 || s[i - 1] == '\n') && teams_starts_block(s + i))
		rc = buf_append_str(b, TEAMS_ZWSP);
	if (rc == 0 && strchr("*_~`[]", s[i]) != NULL &&
	    !teams_is_intraword_underscore(s, i))
		return buf_printf(b, TEAMS_ZWSP "%c" TEAMS_ZWSP, s[i]);
	if (rc == 0)
		rc = buf_append(b, &s[i], 1);
	return rc;
}

/* Bytes that teams_escape_char changes or surrounds anywhere on a line.
 * At the start of a line every byte goes through it. */
static const bool teams_special_bytes[256] = {
	['\n'] = true, ['*'] = true, ['_'] = true, ['~'] = true,
	['`'] = true, ['['] = true, [']'] = true,
};

/* Returns value cut to max code points, sanitized and escaped. */
static char *
teams_escape(const char *value, size_t max)
{
	char *cut = text_truncate(value != NULL ? value : "", max);
	char *clean = cut != NULL ? text_sanitize(cut, strlen(cut)) : NULL;
	struct buf out;
	size_t i, run = 0;	/* clean[run..i) is not appended yet */
	int rc = clean != NULL ? 0 : -1;

	/* Each byte becomes at most 7: "*" between two zero-width spaces. */
	buf_init(&out, clean != NULL ? strlen(clean) * 7 + 1 : 0);
	if (rc == 0)
		rc = buf_append(&out, "", 0);
	for (i = 0; rc == 0 && clean[i] != '\0'; i++) {
		if (!teams_special_bytes[(unsigned char)clean[i]] && i > 0 &&
		    clean[i - 1] != '\n')
			continue;
		rc = buf_append(&out, clean + run, i - run);
		if (rc == 0)
			rc = teams_escape_char(&out, clean, i);
		run = i + 1;
	}
	if (rc == 0)
		rc = buf_append(&out, clean + run, i - run);
	free(cut);
	free(clean);
	if (rc != 0) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out);
}

static int
teams_append_escaped(struct buf *b, const char *value, size_t max)
{
	char *escaped = teams_escape(value, max);
	int rc = escaped != NULL ? buf_append_str(b, escaped) : -1;

	free(escaped);
	return rc;
}

/* ---- reading the alert ---- */

static const struct teams_severity *
teams_severity_of(json_object *alert)
{
	const char *name = alert_get_string(alert, "severity");
	size_t i, n = sizeof(teams_severities) / sizeof(teams_severities[0]);

	for (i = 0; name != NULL && i < n; i++)
		if (strcmp(teams_severities[i].name, name) == 0)
			return &teams_severities[i];
	return &teams_severities[n - 1];
}

static bool
teams_is_blank(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t')
			return false;
	return true;
}

/* ---- JSON helpers ---- */

static void
teams_add(struct teams_card *c, json_object *obj, const char *key,
	  json_object *val)
{
	if (obj == NULL || val == NULL ||
	    json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		c->nomem = true;
	}
}

static void
teams_push(struct teams_card *c, json_object *array, json_object *val)
{
	if (array == NULL || val == NULL ||
	    json_object_array_add(array, val) != 0) {
		json_object_put(val);
		c->nomem = true;
	}
}

static void
teams_add_string(struct teams_card *c, json_object *obj, const char *key,
		 const char *value)
{
	teams_add(c, obj, key, json_object_new_string(value));
}

/* Adds a wrapping TextBlock with the final text in b; blank text adds
 * nothing.  Frees b. */
static void
teams_add_text_block(struct teams_card *c, struct buf *b, int rc,
		     const char *spacing)
{
	json_object *block;

	if (rc != 0)
		c->nomem = true;
	if (rc == 0 && !teams_is_blank(b->data)) {
		block = json_object_new_object();
		teams_add_string(c, block, "type", "TextBlock");
		teams_add_string(c, block, "text", b->data);
		teams_add(c, block, "wrap", json_object_new_boolean(1));
		if (spacing != NULL)
			teams_add_string(c, block, "spacing", spacing);
		teams_push(c, c->body, block);
	}
	buf_free(b);
}

/* ---- title, summary, text ---- */

static void
teams_add_title(struct teams_card *c, json_object *alert)
{
	const struct teams_severity *sev = teams_severity_of(alert);
	const char *title = alert_get_string(alert, "title");
	json_object *block = json_object_new_object();
	struct buf b;

	buf_init(&b, TEAMS_BUF_MAX);
	if (buf_printf(&b, "%s: ", label_severity(c->lang, sev->name)) != 0 ||
	    teams_append_escaped(&b, title != NULL ? title :
				 label(c->lang, LABEL_ALERT),
				 256) != 0)
		c->nomem = true;
	teams_add_string(c, block, "type", "TextBlock");
	teams_add_string(c, block, "text", b.data != NULL ? b.data : "");
	teams_add_string(c, block, "weight", "Bolder");
	teams_add_string(c, block, "size", "Medium");
	teams_add_string(c, block, "color", sev->color);
	teams_add(c, block, "wrap", json_object_new_boolean(1));
	teams_push(c, c->body, block);
	buf_free(&b);
}

static void
teams_add_summary(struct teams_card *c, json_object *alert)
{
	struct buf b;

	buf_init(&b, TEAMS_BUF_MAX);
	teams_add_text_block(c, &b, teams_append_escaped(&b,
		alert_get_string(alert, "summary"), c->budget.summary), NULL);
}

static void
teams_add_message_text(struct teams_card *c, json_object *alert)
{
	const char *text = alert_get_string(alert, "text");
	struct buf b;

	if (text == NULL || c->budget.text == 0)
		return;
	buf_init(&b, TEAMS_BUF_MAX);
	teams_add_text_block(c, &b, teams_append_escaped(&b, text,
		c->budget.text), "Medium");
}

/* ---- facts ---- */

/* Adds a fact with the final value in b; a blank value adds nothing.
 * Frees b. */
static void
teams_add_fact(struct teams_card *c, const char *title, struct buf *b,
	       int rc)
{
	json_object *fact;

	if (rc != 0)
		c->nomem = true;
	if (rc == 0 && !teams_is_blank(b->data)) {
		fact = json_object_new_object();
		teams_add_string(c, fact, "title", title);
		teams_add_string(c, fact, "value", b->data);
		teams_push(c, c->facts, fact);
	}
	buf_free(b);
}

static void
teams_add_value(struct teams_card *c, const char *title, const char *value)
{
	struct buf b;

	if (value == NULL)
		return;
	buf_init(&b, TEAMS_BUF_MAX);
	teams_add_fact(c, title, &b, teams_append_escaped(&b, value,
		c->budget.fact));
}

/* The time in UTC, with the configured zone's time when the alert has
 * one. */
static void
teams_add_when(struct teams_card *c, json_object *alert, time_t t)
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
	buf_init(&b, TEAMS_BUF_MAX);
	rc = buf_append_str(&b, utc);
	if (rc == 0 && local != NULL && zone != NULL &&
	    strcmp(zone, "UTC") != 0)
		rc = buf_append_str(&b, " (");
	if (rc == 0 && local != NULL && zone != NULL &&
	    strcmp(zone, "UTC") != 0)
		rc = teams_append_escaped(&b, local, 100);
	if (rc == 0 && local != NULL && zone != NULL &&
	    strcmp(zone, "UTC") != 0)
		rc = buf_append_str(&b, ")");
	teams_add_fact(c, label(c->lang, LABEL_WHEN), &b, rc);
}

/* One group: "[sg-0abc](url) (name)", or escaped text without a link. */
static int
teams_append_group(struct teams_card *c, struct buf *b, json_object *group)
{
	const char *id = alert_get_string(group, "id");
	const char *name = alert_get_string(group, "name");
	const char *url = alert_get_string(group, "console_url");
	int rc;

	if (alert_console_link_is_safe(id, url))
		rc = buf_printf(b, "[%s](%s)", id, url);
	else
		rc = teams_append_escaped(b, id != NULL ? id : name,
					  c->budget.fact);
	if (rc == 0 && id != NULL && name != NULL)
		rc = buf_append_str(b, " (");
	if (rc == 0 && id != NULL && name != NULL)
		rc = teams_append_escaped(b, name, c->budget.fact);
	if (rc == 0 && id != NULL && name != NULL)
		rc = buf_append_str(b, ")");
	return rc;
}

static void
teams_add_groups(struct teams_card *c, json_object *alert)
{
	json_object *groups = alert_get_member(alert, "security_groups",
					   json_type_array);
	size_t i, n = alert_array_length(groups);
	struct buf b;
	int rc = 0;

	buf_init(&b, TEAMS_BUF_MAX);
	for (i = 0; i < n && rc == 0 && b.len < c->budget.fact * 4; i++) {
		if (i > 0)
			rc = buf_append_str(&b, ", ");
		if (rc == 0)
			rc = teams_append_group(c, &b,
				json_object_array_get_idx(groups, i));
	}
	if (rc == 0 && i < n)
		rc = buf_append_str(&b, ", \xE2\x80\xA6 ");
	if (rc == 0 && i < n)
		rc = label_append_more(&b, c->lang, n - i, 0);
	teams_add_fact(c, label(c->lang, n > 1 ? LABEL_SECURITY_GROUPS :
				LABEL_SECURITY_GROUP), &b, rc);
}

static bool
teams_is_true(json_object *obj, const char *key)
{
	json_object *val = alert_get_member(obj, key, json_type_boolean);

	return val != NULL && json_object_get_boolean(val);
}

/* "name (type)", or the root user in bold. */
static int
teams_append_caller(struct teams_card *c, struct buf *b, json_object *actor)
{
	const char *name = alert_get_string(actor, "name");
	const char *type = alert_get_string(actor, "type");
	int rc = 0;

	if (teams_is_true(actor, "root"))
		return buf_printf(b, "**%s**", label(c->lang, LABEL_ROOT_OWNER));
	if (name != NULL)
		rc = teams_append_escaped(b, name, c->budget.fact);
	if (rc == 0 && type != NULL)
		rc = buf_append_str(b, name != NULL ? " (" : "(");
	if (rc == 0 && type != NULL)
		rc = teams_append_escaped(b, type, 64);
	if (rc == 0 && type != NULL)
		rc = buf_append_str(b, ")");
	return rc;
}

static void
teams_add_who(struct teams_card *c, json_object *actor)
{
	const char *arn = alert_get_string(actor, "arn");
	const char *via = alert_get_string(actor, "invoked_by");
	struct buf b;
	int rc;

	buf_init(&b, TEAMS_BUF_MAX);
	rc = teams_append_caller(c, &b, actor);
	if (rc == 0 && arn != NULL)
		rc = buf_append_str(&b, "\n\n");
	if (rc == 0 && arn != NULL)
		rc = teams_append_escaped(&b, arn, c->budget.fact);
	if (rc == 0 && via != NULL)
		rc = buf_printf(&b, "\n\n%s", label(c->lang, LABEL_VIA));
	if (rc == 0 && via != NULL)
		rc = teams_append_escaped(&b, via, c->budget.fact);
	teams_add_fact(c, label(c->lang, LABEL_WHO), &b, rc);
}

static void
teams_add_event(struct teams_card *c, json_object *event)
{
	const char *name = alert_get_string(event, "name");
	const char *code = alert_get_string(event, "error_code");
	const char *message = alert_get_string(event, "error_message");
	struct buf b;
	int rc;

	if (name != NULL) {
		buf_init(&b, TEAMS_BUF_MAX);
		rc = teams_append_escaped(&b, name, c->budget.fact);
		if (rc == 0 && code != NULL)
			rc = buf_printf(&b, " (%s)",
					label(c->lang, LABEL_FAILED));
		teams_add_fact(c, label(c->lang, LABEL_EVENT), &b, rc);
	}
	if (code == NULL)
		return;
	buf_init(&b, TEAMS_BUF_MAX);
	rc = teams_append_escaped(&b, code, 128);
	if (rc == 0 && message != NULL)
		rc = buf_append_str(&b, ": ");
	if (rc == 0 && message != NULL)
		rc = teams_append_escaped(&b, message, c->budget.fact);
	teams_add_fact(c, label(c->lang, LABEL_ERROR), &b, rc);
}

/* The access words in the card's language. */
static const char *
teams_access(const struct teams_card *c, json_object *event)
{
	const char *words = label_access(c->lang,
					 alert_get_string(event, "access"));

	if (c->lang == LABEL_LANG_EN || words == NULL)
		return alert_get_string(event, "access_text");
	return words;
}

static void
teams_add_sg_facts(struct teams_card *c, json_object *alert)
{
	json_object *event = alert_get_member(alert, "event", json_type_object);
	json_object *epoch = alert_get_member(event, "epoch", json_type_int);
	time_t t;

	teams_add_event(c, event);
	teams_add_groups(c, alert);
	teams_add_who(c, alert_get_member(event, "actor", json_type_object));
	teams_add_value(c, label(c->lang, LABEL_HOW), teams_access(c, event));
	teams_add_value(c, label(c->lang, LABEL_SOURCE_IP),
			alert_get_string(event, "source_ip"));
	teams_add_value(c, label(c->lang, LABEL_REGION),
			alert_get_string(event, "region"));
	teams_add_value(c, label(c->lang, LABEL_ACCOUNT),
			alert_get_string(event, "account"));
	if (epoch != NULL)
		teams_add_when(c, alert, (time_t)json_object_get_int64(epoch));
	else if (text_parse_time(alert_get_string(alert, "occurred_at"),
				 &t) == 0)
		teams_add_when(c, alert, t);
}

/* Facts of every kind: topic, time, severity and ids. */
static void
teams_add_common_facts(struct teams_card *c, json_object *alert, bool is_sg)
{
	json_object *sns = alert_get_member(alert, "sns", json_type_object);
	json_object *event = alert_get_member(alert, "event", json_type_object);
	const char *kind = alert_get_string(alert, "kind");
	time_t t;

	if (kind != NULL && strcmp(kind, "subscription_ended") == 0)
		teams_add_value(c, label(c->lang, LABEL_TOPIC),
				alert_get_string(sns, "topic_arn"));
	if (!is_sg &&
	    text_parse_time(alert_get_string(alert, "occurred_at"), &t) == 0)
		teams_add_when(c, alert, t);
	teams_add_value(c, label(c->lang, LABEL_SEVERITY),
			label_severity(c->lang, teams_severity_of(alert)->name));
	teams_add_value(c, label(c->lang, LABEL_SNS_MESSAGE),
			alert_get_string(sns, "message_id"));
	teams_add_value(c, label(c->lang, LABEL_CLOUDTRAIL_EVENT),
			alert_get_string(event, "id"));
}

static void
teams_add_fact_set(struct teams_card *c)
{
	json_object *set;

	if (alert_array_length(c->facts) == 0)
		return;
	set = json_object_new_object();
	teams_add_string(c, set, "type", "FactSet");
	teams_add(c, set, "facts", json_object_get(c->facts));
	teams_push(c, c->body, set);
}

/* ---- rules ---- */

/* "- added ingress: tcp 22 from 0.0.0.0/0", escaped and cut. */
static char *
teams_rule_line(json_object *rule, enum label_language lang)
{
	const char *change = alert_get_string(rule, "change");
	const char *direction = alert_get_string(rule, "direction");
	const char *text = alert_get_string(rule, "text");
	struct buf b;
	char *line = NULL;
	int rc;

	buf_init(&b, TEAMS_BUF_MAX);
	rc = buf_append_str(&b, "- ");
	if (rc == 0)
		rc = label_append_rule_action(&b, lang, change, direction);
	if (rc == 0)
		rc = buf_append_str(&b, ": ");
	if (rc == 0)
		rc = teams_append_escaped(&b, text != NULL ? text : "?", 400);
	if (rc == 0)
		line = buf_steal(&b);
	buf_free(&b);
	return line;
}

/* Appends whole rule lines, list items separated by "\r" as Adaptive
 * Card markdown expects, within the rules budget.  Returns how many were
 * written, or -1. */
static long
teams_fill_rules(struct teams_card *c, struct buf *b, json_object *rules,
		 size_t n)
{
	size_t i, used = 0, len;
	char *line;

	for (i = 0; i < n; i++) {
		line = teams_rule_line(json_object_array_get_idx(rules, i),
				       c->lang);
		if (line == NULL)
			return -1;
		len = text_length(line) + 1;
		if (used + len > c->budget.rules ||
		    buf_printf(b, "\r%s", line) != 0) {
			free(line);
			break;
		}
		used += len;
		free(line);
	}
	return (long)i;
}

static void
teams_add_rules(struct teams_card *c, json_object *alert)
{
	json_object *rules = alert_get_member(alert, "rules", json_type_array);
	size_t n = alert_array_length(rules);
	struct buf b;
	long shown;
	int rc;

	if (n == 0)
		return;
	buf_init(&b, TEAMS_BUF_MAX);
	rc = buf_printf(&b, "**%s (%zu)**", label(c->lang, LABEL_RULES_CHANGED),
			n);
	shown = rc == 0 ? teams_fill_rules(c, &b, rules, n) : -1;
	if (shown < 0)
		rc = -1;
	if (rc == 0 && (size_t)shown < n)
		rc = buf_append_str(&b, "\r\xE2\x80\xA6 ");
	if (rc == 0 && (size_t)shown < n)
		rc = label_append_more(&b, c->lang, n - (size_t)shown, 1);
	teams_add_text_block(c, &b, rc, "Medium");
}

/* ---- card and payload ---- */

static json_object *
teams_card_json(struct teams_card *c)
{
	json_object *card = json_object_new_object();
	json_object *msteams = json_object_new_object();

	teams_add_string(c, card, "$schema", TEAMS_CARD_SCHEMA);
	teams_add_string(c, card, "type", "AdaptiveCard");
	teams_add_string(c, card, "version", "1.4");
	teams_add(c, card, "body", json_object_get(c->body));
	teams_add_string(c, msteams, "width", "Full");
	teams_add(c, card, "msteams", msteams);
	if (card == NULL)
		c->nomem = true;
	return card;
}

static json_object *
teams_envelope(struct teams_card *c, json_object *card)
{
	json_object *payload = json_object_new_object();
	json_object *attachments = json_object_new_array();
	json_object *attachment = json_object_new_object();

	teams_add_string(c, attachment, "contentType", TEAMS_CARD_TYPE);
	if (attachment != NULL)
		json_object_object_add(attachment, "contentUrl", NULL);
	teams_add(c, attachment, "content", card);
	teams_push(c, attachments, attachment);
	teams_add_string(c, payload, "type", "message");
	teams_add(c, payload, "attachments", attachments);
	if (payload == NULL)
		c->nomem = true;
	return payload;
}

/* Builds the payload for alert within budget; NULL when memory is
 * short. */
static json_object *
teams_build_with(json_object *alert, const struct teams_budget *budget)
{
	const char *kind = alert_get_string(alert, "kind");
	bool is_sg = kind != NULL && strcmp(kind, "security_group_change") == 0;
	struct teams_card c = { NULL, NULL, *budget, false, LABEL_LANG_EN };
	json_object *payload = NULL;

	if (label_language_parse(alert_get_string(alert, "language"),
				 &c.lang) != 0)
		c.lang = LABEL_LANG_EN;
	c.body = json_object_new_array();
	c.facts = json_object_new_array();
	c.nomem = c.body == NULL || c.facts == NULL;
	teams_add_title(&c, alert);
	teams_add_summary(&c, alert);
	if (is_sg)
		teams_add_sg_facts(&c, alert);
	teams_add_common_facts(&c, alert, is_sg);
	teams_add_fact_set(&c);
	if (is_sg)
		teams_add_rules(&c, alert);
	else
		teams_add_message_text(&c, alert);
	if (!c.nomem)
		payload = teams_envelope(&c, teams_card_json(&c));
	json_object_put(c.body);
	json_object_put(c.facts);
	if (c.nomem) {
		json_object_put(payload);
		return NULL;
	}
	return payload;
}

/* Lowers the largest budget that can still shrink.  Returns false when
 * nothing is left to shorten. */
static bool
teams_shrink(struct teams_budget *b)
{
	if (b->rules > 0 && b->rules >= b->text) {
		b->rules = b->rules > 200 ? b->rules / 2 : 0;
		return true;
	}
	if (b->text > 0) {
		b->text = b->text > 200 ? b->text / 2 : 0;
		return true;
	}
	if (b->summary > 256) {
		b->summary /= 2;
		return true;
	}
	if (b->fact > 64) {
		b->fact /= 2;
		return true;
	}
	return false;
}

static size_t
teams_size(json_object *payload)
{
	return strlen(json_object_to_json_string_ext(payload,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

json_object *
teams_build_payload(json_object *alert)
{
	struct teams_budget budget = teams_full;
	json_object *payload = NULL;
	int round;

	for (round = 0; round < TEAMS_FIT_ROUNDS; round++) {
		json_object_put(payload);
		payload = teams_build_with(alert, &budget);
		if (payload == NULL || teams_size(payload) <= TEAMS_PAYLOAD_MAX)
			return payload;
		if (!teams_shrink(&budget))
			break;
	}
	/* With the smallest budget the title, summary and facts stay near
	 * 5000 bytes even when every character is escaped, so this is not
	 * reached in practice; the unit test checks hostile alerts. */
	return payload;
}
