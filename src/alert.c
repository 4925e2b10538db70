#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "snsrelay/alert.h"
#include "snsrelay/buf.h"
#include "snsrelay/err.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/sg_event.h"
#include "snsrelay/text.h"

/* Maximum lengths in code points.  SNS caps Subject at 100 characters
 * and the message at 256 KiB; a generic alert keeps the first
 * ALERT_TEXT_MAX characters of the text. */
#define ALERT_TEXT_MAX		16384
#define ALERT_TITLE_MAX		256
#define ALERT_SUMMARY_MAX	2048
#define ALERT_VALUE_MAX		1024
#define ALERT_ID_MAX		128

/* Members that alert_assemble places first, in this order. */
static const char *const alert_head_members[] = {
	"severity", "title", "summary",
};

/* Shapes of a Notification's Message that a generic alert recognises. */
enum alert_format {
	ALERT_FORMAT_TEXT = 0,
	ALERT_FORMAT_JSON,
	ALERT_FORMAT_EVENTBRIDGE,
	ALERT_FORMAT_ALARM,
};

static const char *const alert_format_names[] = {
	"text", "json", "eventbridge", "cloudwatch_alarm",
};

const char *
alert_get_string(json_object *obj, const char *key)
{
	json_object *val = alert_get_member(obj, key, json_type_string);

	return val != NULL ? json_object_get_string(val) : NULL;
}

json_object *
alert_get_member(json_object *obj, const char *key, enum json_type type)
{
	json_object *val = NULL;

	if (!json_object_object_get_ex(obj, key, &val) ||
	    !json_object_is_type(val, type))
		return NULL;
	return val;
}

size_t
alert_array_length(json_object *array)
{
	if (!json_object_is_type(array, json_type_array))
		return 0;
	return json_object_array_length(array);
}

#define ALERT_URL_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" \
	"-.:/?=#"

bool
alert_console_link_is_safe(const char *id, const char *url)
{
	size_t n, len;

	if (id == NULL || url == NULL || strncmp(id, "sg-", 3) != 0)
		return false;
	n = strspn(id + 3, "0123456789abcdef");
	if (id[3 + n] != '\0' || n < 8 || n > 17)
		return false;
	len = strlen(url);
	return strncmp(url, "https://", 8) == 0 &&
	       url[strspn(url, ALERT_URL_CHARS)] == '\0' &&
	       len > strlen(id) && strcmp(url + len - strlen(id), id) == 0;
}

static void
alert_add(bool *nomem, json_object *obj, const char *key, json_object *val)
{
	if (obj == NULL || json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		*nomem = true;
	}
}

/* A JSON string of the first len bytes of s, sanitized and shortened to
 * max code points; NULL for a NULL s or when memory is short. */
static json_object *
alert_text_json(bool *nomem, const char *s, size_t len, size_t max)
{
	char *clean = NULL, *cut = NULL;
	json_object *out = NULL;

	if (s == NULL)
		return NULL;
	clean = text_sanitize(s, len);
	if (clean != NULL)
		cut = text_truncate(clean, max);
	if (cut != NULL)
		out = json_object_new_string(cut);
	if (out == NULL)
		*nomem = true;
	free(clean);
	free(cut);
	return out;
}

static void
alert_add_text(bool *nomem, json_object *obj, const char *key, const char *s,
	       size_t max)
{
	alert_add(nomem, obj, key,
		  alert_text_json(nomem, s, s != NULL ? strlen(s) : 0, max));
}

static void
alert_add_field(bool *nomem, json_object *obj, const char *key,
		const struct sns_field *field, size_t max)
{
	alert_add(nomem, obj, key,
		  alert_text_json(nomem, field->str, field->len, max));
}

static const char *
alert_member_string(json_object *obj, const char *key)
{
	return alert_get_string(obj, key);
}

static json_object *
alert_member_object(json_object *obj, const char *key)
{
	json_object *val = NULL;

	if (!json_object_object_get_ex(obj, key, &val) ||
	    !json_object_is_type(val, json_type_object))
		return NULL;
	return val;
}

/* ---- common members ---- */

static const char *
alert_type_name(const struct sns_message *msg)
{
	if (msg->type_name.str != NULL)
		return msg->type_name.str;
	switch (msg->type) {
	case SNS_TYPE_SUBSCRIPTION_CONFIRMATION:
		return "SubscriptionConfirmation";
	case SNS_TYPE_UNSUBSCRIBE_CONFIRMATION:
		return "UnsubscribeConfirmation";
	default:
		return "Notification";
	}
}

static json_object *
alert_new_sns(bool *nomem, const struct sns_message *msg)
{
	json_object *sns = json_object_new_object();

	if (sns == NULL) {
		*nomem = true;
		return NULL;
	}
	alert_add_field(nomem, sns, "message_id", &msg->message_id,
			ALERT_ID_MAX);
	alert_add_field(nomem, sns, "topic_arn", &msg->topic_arn,
			ALERT_VALUE_MAX);
	alert_add_field(nomem, sns, "subject", &msg->subject,
			ALERT_TITLE_MAX);
	alert_add_field(nomem, sns, "timestamp", &msg->timestamp,
			ALERT_ID_MAX);
	alert_add_text(nomem, sns, "type", alert_type_name(msg),
		       ALERT_ID_MAX);
	return sns;
}

static bool
alert_id_is_plain(const char *id)
{
	size_t n = 0;

	for (; id[n] != '\0'; n++)
		if (!((id[n] >= 'a' && id[n] <= 'z') ||
		      (id[n] >= 'A' && id[n] <= 'Z') ||
		      (id[n] >= '0' && id[n] <= '9') ||
		      strchr("-_.:", id[n]) != NULL))
			return false;
	return n > 0 && n <= ALERT_ID_MAX;
}

/* The CloudTrail eventID of a CloudTrail record inside an EventBridge
 * event, when it is a plausible id. */
static const char *
alert_cloudtrail_id(json_object *event)
{
	json_object *detail = alert_member_object(event, "detail");
	const char *id = alert_member_string(detail, "eventID");

	if (id == NULL || alert_member_string(detail, "eventSource") == NULL ||
	    !alert_id_is_plain(id))
		return NULL;
	return id;
}

static json_object *
alert_new_id(bool *nomem, const struct sns_message *msg, json_object *event)
{
	const char *trail = alert_cloudtrail_id(event);
	struct buf b;
	char *clean;
	json_object *id = NULL;

	buf_init(&b, 4 * ALERT_ID_MAX);
	if (trail != NULL) {
		if (buf_printf(&b, "cloudtrail:%s", trail) == 0)
			id = json_object_new_string(b.data);
	} else {
		clean = text_sanitize(msg->message_id.str, msg->message_id.len);
		if (clean != NULL && buf_printf(&b, "sns:%s", clean) == 0)
			id = alert_text_json(nomem, b.data, b.len,
					     ALERT_ID_MAX + 4);
		free(clean);
	}
	buf_free(&b);
	if (id == NULL)
		*nomem = true;
	return id;
}

static json_object *
alert_new_time(bool *nomem, time_t t, bool known)
{
	char iso[TEXT_TIME_SIZE];
	json_object *out;

	if (!known || text_format_time(t, iso, sizeof(iso)) != 0)
		return NULL;
	out = json_object_new_string(iso);
	if (out == NULL)
		*nomem = true;
	return out;
}

static json_object *
alert_new_time_of(bool *nomem, const char *iso)
{
	time_t t = 0;
	bool known = iso != NULL && text_parse_time(iso, &t) == 0;

	return alert_new_time(nomem, t, known);
}

static bool
alert_is_head_member(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(alert_head_members) / sizeof(char *); i++)
		if (strcmp(alert_head_members[i], key) == 0)
			return true;
	return false;
}

static void
alert_move(bool *nomem, json_object *alert, json_object *parts,
	   const char *key)
{
	json_object *val = NULL;

	json_object_object_get_ex(parts, key, &val);
	alert_add(nomem, alert, key, val != NULL ? json_object_get(val) : NULL);
}

/*
 * Returns a new reference to title, or to a copy with each newline and
 * tab replaced by a space.  A title is one line, but the values it quotes
 * may contain both: sanitizing keeps them, and a failed call's CloudTrail
 * record contains request parameters exactly as the caller sent them.
 */
static json_object *
alert_one_line(bool *nomem, json_object *title)
{
	const char *s = json_object_get_string(title);
	json_object *out;
	char *copy, *p;

	if (s == NULL || strpbrk(s, "\n\t") == NULL)
		return title != NULL ? json_object_get(title) : NULL;
	if ((copy = strdup(s)) == NULL) {
		*nomem = true;
		return NULL;
	}
	for (p = copy; (p = strpbrk(p, "\n\t")) != NULL; p++)
		*p = ' ';
	out = json_object_new_string(copy);
	free(copy);
	if (out == NULL)
		*nomem = true;
	return out;
}

/*
 * Builds the alert from parts, the kind-specific members (severity,
 * title, summary and the rest), in a fixed order: schema, alert_id,
 * kind, severity, title, summary, received_at, occurred_at, sns, then
 * the other members of parts.  Takes ownership of parts and occurred.
 */
static json_object *
alert_assemble(const struct sns_message *msg, json_object *event,
	       const char *kind, json_object *parts, json_object *occurred,
	       time_t received_at)
{
	json_object *alert = json_object_new_object();
	bool nomem = alert == NULL || parts == NULL;
	size_t i;

	alert_add(&nomem, alert, "schema",
		  json_object_new_string(ALERT_SCHEMA));
	alert_add(&nomem, alert, "alert_id", alert_new_id(&nomem, msg, event));
	alert_add(&nomem, alert, "kind", json_object_new_string(kind));
	for (i = 0; i < sizeof(alert_head_members) / sizeof(char *); i++) {
		if (strcmp(alert_head_members[i], "title") == 0)
			alert_add(&nomem, alert, "title", alert_one_line(&nomem,
				  alert_get_member(parts, "title",
						   json_type_string)));
		else
			alert_move(&nomem, alert, parts,
				   alert_head_members[i]);
	}
	alert_add(&nomem, alert, "received_at",
		  alert_new_time(&nomem, received_at, true));
	alert_add(&nomem, alert, "occurred_at", occurred);
	alert_add(&nomem, alert, "sns", alert_new_sns(&nomem, msg));
	if (parts != NULL) {
		json_object_object_foreach(parts, key, val) {
			if (!alert_is_head_member(key))
				alert_add(&nomem, alert, key,
					  val != NULL ? json_object_get(val) :
					  NULL);
		}
	}
	json_object_put(parts);
	if (nomem) {
		json_object_put(alert);
		return NULL;
	}
	return alert;
}

/* ---- the message as JSON ---- */

/* The Message parsed as a JSON object, or NULL when it is not one. */
static json_object *
alert_parse_message(const struct sns_message *msg)
{
	const char *s = msg->message.str;
	size_t len = msg->message.len, start = 0;
	struct json_tokener *tok;
	json_object *obj;

	if (s == NULL || strlen(s) != len || len > INT_MAX)
		return NULL;
	while (start < len && strchr(" \t\r\n", s[start]) != NULL)
		start++;
	while (len > start && strchr(" \t\r\n", s[len - 1]) != NULL)
		len--;
	if (start == len || s[start] != '{')
		return NULL;
	tok = json_tokener_new_ex(LIMIT_JSON_DEPTH);
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, s + start, (int)(len - start));
	if (obj != NULL &&
	    (json_tokener_get_error(tok) != json_tokener_success ||
	     json_tokener_get_parse_end(tok) != len - start ||
	     !json_object_is_type(obj, json_type_object))) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

static enum alert_format
alert_format_of(json_object *obj)
{
	if (obj == NULL)
		return ALERT_FORMAT_TEXT;
	if (alert_member_string(obj, "detail-type") != NULL &&
	    alert_member_string(obj, "source") != NULL)
		return ALERT_FORMAT_EVENTBRIDGE;
	if (alert_member_string(obj, "AlarmName") != NULL &&
	    alert_member_string(obj, "NewStateValue") != NULL)
		return ALERT_FORMAT_ALARM;
	return ALERT_FORMAT_JSON;
}

/* ---- generic alerts: text ---- */

/* Appends "label: value\n" for a JSON value: a string as it is, another
 * scalar or a container as compact JSON. */
static int
alert_line_json(struct buf *b, const char *label, json_object *val)
{
	const char *s;
	size_t len;
	char *clean;
	int rc;

	if (val == NULL)
		return 0;
	if (json_object_is_type(val, json_type_string)) {
		s = json_object_get_string(val);
		len = (size_t)json_object_get_string_len(val);
	} else {
		s = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN |
			JSON_C_TO_STRING_NOSLASHESCAPE);
		len = s != NULL ? strlen(s) : 0;
	}
	clean = text_sanitize(s, len);
	if (clean == NULL)
		return -1;
	rc = buf_printf(b, "%s: %s\n", label, clean);
	free(clean);
	return rc;
}

static int
alert_line_member(struct buf *b, const char *label, json_object *obj,
		  const char *key)
{
	json_object *val = NULL;

	if (!json_object_object_get_ex(obj, key, &val))
		return 0;
	return alert_line_json(b, label, val);
}

/* "Resources: arn1, arn2" from an EventBridge resources array. */
static int
alert_line_resources(struct buf *b, json_object *event)
{
	json_object *list = NULL, *item;
	size_t i, n;
	struct buf joined;
	int rc = 0;

	if (!json_object_object_get_ex(event, "resources", &list) ||
	    !json_object_is_type(list, json_type_array) ||
	    (n = json_object_array_length(list)) == 0)
		return 0;
	buf_init(&joined, ALERT_TEXT_MAX);
	for (i = 0; i < n && rc == 0; i++) {
		item = json_object_array_get_idx(list, i);
		rc = buf_printf(&joined, "%s%s", i > 0 ? ", " : "",
				json_object_is_type(item, json_type_string) ?
				json_object_get_string(item) :
				json_object_to_json_string(item));
	}
	/* A list longer than the buffer keeps the entries that fit. */
	if (joined.len > 0)
		rc = buf_printf(b, "Resources: %s\n", joined.data);
	buf_free(&joined);
	return rc;
}

static int
alert_text_eventbridge(struct buf *b, json_object *event)
{
	json_object *detail = alert_member_object(event, "detail");
	json_object *identity = alert_member_object(detail, "userIdentity");
	int rc = 0;

	rc |= alert_line_member(b, "Detail type", event, "detail-type");
	rc |= alert_line_member(b, "Source", event, "source");
	rc |= alert_line_member(b, "Account", event, "account");
	rc |= alert_line_member(b, "Region", event, "region");
	rc |= alert_line_member(b, "Time", event, "time");
	rc |= alert_line_resources(b, event);
	rc |= alert_line_member(b, "API call", detail, "eventName");
	rc |= alert_line_member(b, "Service", detail, "eventSource");
	rc |= alert_line_member(b, "Caller", identity, "arn");
	rc |= alert_line_member(b, "Source IP", detail, "sourceIPAddress");
	rc |= alert_line_member(b, "Error", detail, "errorCode");
	rc |= alert_line_member(b, "Error message", detail, "errorMessage");
	return rc != 0 ? -1 : 0;
}

static int
alert_text_alarm(struct buf *b, json_object *alarm)
{
	json_object *trigger = alert_member_object(alarm, "Trigger");
	int rc = 0;

	rc |= alert_line_member(b, "Alarm", alarm, "AlarmName");
	rc |= alert_line_member(b, "State", alarm, "NewStateValue");
	rc |= alert_line_member(b, "Previous state", alarm, "OldStateValue");
	rc |= alert_line_member(b, "Reason", alarm, "NewStateReason");
	rc |= alert_line_member(b, "Description", alarm, "AlarmDescription");
	rc |= alert_line_member(b, "Metric", trigger, "MetricName");
	rc |= alert_line_member(b, "Namespace", trigger, "Namespace");
	rc |= alert_line_member(b, "Account", alarm, "AWSAccountId");
	rc |= alert_line_member(b, "Region", alarm, "Region");
	rc |= alert_line_member(b, "Time", alarm, "StateChangeTime");
	return rc != 0 ? -1 : 0;
}

/* Unknown JSON as "key: value" lines, nested values as compact JSON. */
static int
alert_text_json_lines(struct buf *b, json_object *obj)
{
	int rc = 0;

	json_object_object_foreach(obj, key, val) {
		if (rc == 0 && val == NULL)
			rc = buf_printf(b, "%s: null\n", key);
		else if (rc == 0)
			rc = alert_line_json(b, key, val);
	}
	return rc;
}

static json_object *
alert_new_text(bool *nomem, const struct sns_message *msg,
	       json_object *obj, enum alert_format format)
{
	struct buf b;
	json_object *out;

	if (format == ALERT_FORMAT_TEXT)
		return alert_text_json(nomem, msg->message.str,
				       msg->message.len, ALERT_TEXT_MAX);

	/* The writers return -1 when a line does not fit in the buffer;
	 * the text then keeps the lines written so far. */
	buf_init(&b, 8 * ALERT_TEXT_MAX);
	if (format == ALERT_FORMAT_EVENTBRIDGE)
		alert_text_eventbridge(&b, obj);
	else if (format == ALERT_FORMAT_ALARM)
		alert_text_alarm(&b, obj);
	else
		alert_text_json_lines(&b, obj);
	while (b.len > 0 && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	out = alert_text_json(nomem, b.data != NULL ? b.data : "", b.len,
			      ALERT_TEXT_MAX);
	buf_free(&b);
	return out;
}

/* ---- generic alerts: title, summary, severity ---- */

/* The topic's name: the part of its ARN after the last colon. */
static char *
alert_topic_name(const struct sns_message *msg)
{
	const char *arn = msg->topic_arn.str;
	const char *colon = arn != NULL ? strrchr(arn, ':') : NULL;
	const char *name = colon != NULL && colon[1] != '\0' ? colon + 1 : arn;

	if (name == NULL)
		name = "an unknown topic";
	return text_sanitize(name, strlen(name));
}

static const char *
alert_alarm_severity(const char *state)
{
	if (strcmp(state, "ALARM") == 0)
		return "high";
	if (strcmp(state, "INSUFFICIENT_DATA") == 0)
		return "low";
	return "info";
}

static int
alert_write_title(struct buf *b, json_object *obj, enum alert_format format,
		  const char *topic, enum label_language lang)
{
	const char *api;

	if (format == ALERT_FORMAT_ALARM)
		return buf_printf(b, "%s: %s",
				  alert_member_string(obj, "NewStateValue"),
				  alert_member_string(obj, "AlarmName"));
	if (format != ALERT_FORMAT_EVENTBRIDGE)
		return buf_printf(b, "%s%s",
				  label(lang, LABEL_NOTIFICATION_ON), topic);
	api = alert_member_string(alert_member_object(obj, "detail"),
				  "eventName");
	return buf_printf(b, "%s%s%s", alert_member_string(obj, "detail-type"),
			  api != NULL ? ": " : "", api != NULL ? api : "");
}

static int
alert_write_summary(struct buf *b, json_object *obj, enum alert_format format,
		    const char *topic)
{
	const char *region, *old;

	switch (format) {
	case ALERT_FORMAT_EVENTBRIDGE:
		region = alert_member_string(obj, "region");
		return buf_printf(b, "EventBridge event \"%s\" from %s%s%s, "
				  "published to %s.",
				  alert_member_string(obj, "detail-type"),
				  alert_member_string(obj, "source"),
				  region != NULL ? " in " : "",
				  region != NULL ? region : "", topic);
	case ALERT_FORMAT_ALARM:
		old = alert_member_string(obj, "OldStateValue");
		return buf_printf(b, "CloudWatch alarm %s is now %s%s%s%s.",
				  alert_member_string(obj, "AlarmName"),
				  alert_member_string(obj, "NewStateValue"),
				  old != NULL ? " (was " : "",
				  old != NULL ? old : "",
				  old != NULL ? ")" : "");
	case ALERT_FORMAT_JSON:
		return buf_printf(b, "JSON message published to %s.", topic);
	default:
		return buf_printf(b, "Message published to %s.", topic);
	}
}

static void
alert_add_built(bool *nomem, json_object *obj, const char *key,
		struct buf *b, int rc, size_t max)
{
	if (rc != 0)
		*nomem = true;
	else
		alert_add(nomem, obj, key,
			  alert_text_json(nomem, b->data, b->len, max));
	buf_free(b);
}

/* Title, summary and severity of a generic alert.  The Subject, when
 * present, is the title. */
static void
alert_fill_generic_head(bool *nomem, json_object *parts,
			const struct sns_message *msg, json_object *obj,
			enum alert_format format, enum label_language lang)
{
	char *topic = alert_topic_name(msg);
	const char *state = alert_member_string(obj, "NewStateValue");
	struct buf b;

	if (topic == NULL) {
		*nomem = true;
		return;
	}
	alert_add_text(nomem, parts, "severity",
		       format == ALERT_FORMAT_ALARM ?
		       alert_alarm_severity(state) : "info", ALERT_ID_MAX);
	buf_init(&b, 4 * ALERT_VALUE_MAX);
	/* Only the start of a long Subject can reach the title, and a
	 * sequence cut at the end is beyond ALERT_TITLE_MAX code points. */
	if (msg->subject.str != NULL && msg->subject.len > 0)
		alert_add_built(nomem, parts, "title", &b,
				buf_append(&b, msg->subject.str,
					   msg->subject.len < b.max ?
					   msg->subject.len : b.max),
				ALERT_TITLE_MAX);
	else
		alert_add_built(nomem, parts, "title", &b,
				alert_write_title(&b, obj, format, topic, lang),
				ALERT_TITLE_MAX);
	buf_init(&b, 4 * ALERT_VALUE_MAX);
	alert_add_built(nomem, parts, "summary", &b,
			alert_write_summary(&b, obj, format, topic),
			ALERT_SUMMARY_MAX);
	free(topic);
}

/* When the content happened: the EventBridge time, the alarm's state
 * change, else the SNS Timestamp. */
static json_object *
alert_generic_occurred(bool *nomem, const struct sns_message *msg,
		       json_object *obj, enum alert_format format)
{
	const char *when = NULL;
	json_object *out = NULL;

	if (format == ALERT_FORMAT_EVENTBRIDGE)
		when = alert_member_string(obj, "time");
	else if (format == ALERT_FORMAT_ALARM)
		when = alert_member_string(obj, "StateChangeTime");
	if (when != NULL)
		out = alert_new_time_of(nomem, when);
	if (out == NULL)
		out = alert_new_time_of(nomem, msg->timestamp.str);
	return out;
}

static json_object *
alert_build_generic(const struct sns_message *msg, json_object *obj,
		    enum label_language lang, time_t received_at)
{
	enum alert_format format = alert_format_of(obj);
	json_object *parts = json_object_new_object();
	bool nomem = parts == NULL;
	json_object *occurred;

	alert_fill_generic_head(&nomem, parts, msg, obj, format, lang);
	alert_add_text(&nomem, parts, "format", alert_format_names[format],
		       ALERT_ID_MAX);
	alert_add(&nomem, parts, "text",
		  alert_new_text(&nomem, msg, obj, format));
	occurred = alert_generic_occurred(&nomem, msg, obj, format);
	if (nomem) {
		json_object_put(parts);
		json_object_put(occurred);
		return NULL;
	}
	return alert_assemble(msg, obj, "notification", parts, occurred,
			      received_at);
}

/* ---- security-group alerts ---- */

static enum label_language
alert_language(const struct alert_options *opts)
{
	return opts != NULL ? opts->language : LABEL_LANG_EN;
}

/* Adds "language" when it is not English.  Returns alert, or NULL after
 * freeing it when memory is short. */
static json_object *
alert_add_language(json_object *alert, const struct alert_options *opts)
{
	bool nomem = false;

	if (alert == NULL || alert_language(opts) == LABEL_LANG_EN)
		return alert;
	alert_add(&nomem, alert, "language", json_object_new_string(
		label_language_name(alert_language(opts))));
	if (nomem) {
		json_object_put(alert);
		return NULL;
	}
	return alert;
}

static void
alert_log_fallback(const struct sns_message *msg, const struct err *e)
{
	struct log_line line;

	log_begin(&line, LOG_WARN, "format_fallback");
	if (msg->message_id.str != NULL)
		log_strn(&line, "message_id", msg->message_id.str,
			 msg->message_id.len);
	if (msg->topic_arn.str != NULL)
		log_strn(&line, "topic_arn", msg->topic_arn.str,
			 msg->topic_arn.len);
	log_str(&line, "code", e->code);
	log_str(&line, "reason", e->msg);
	log_end(&line);
}

static json_object *
alert_sg_occurred(json_object *parts)
{
	json_object *event = alert_member_object(parts, "event");
	json_object *epoch = NULL;
	bool nomem = false;

	if (!json_object_object_get_ex(event, "epoch", &epoch) ||
	    !json_object_is_type(epoch, json_type_int))
		return NULL;
	return alert_new_time(&nomem, (time_t)json_object_get_int64(epoch),
			      true);
}

/* The security-group alert, or NULL (after logging why) when the event's
 * shape is not understood. */
static json_object *
alert_build_sg(const struct sns_message *msg, json_object *event,
	       const struct alert_options *opts, time_t received_at)
{
	json_object *parts = json_object_new_object();
	struct err e;

	err_clear(&e);
	if (parts == NULL)
		return NULL;
	if (alert_language(opts) != LABEL_LANG_EN &&
	    json_object_object_add(parts, "language", json_object_new_string(
		label_language_name(alert_language(opts)))) != 0) {
		json_object_put(parts);
		return NULL;
	}
	if (sg_event_fill_alert(event, parts,
				opts != NULL ? opts->timezone : NULL,
				opts != NULL ? opts->severity : NULL,
				&e) != 0) {
		alert_log_fallback(msg, &e);
		json_object_put(parts);
		return NULL;
	}
	json_object_object_del(parts, "language");
	return alert_assemble(msg, event, "security_group_change", parts,
			      alert_sg_occurred(parts), received_at);
}

/*
 * Adds the event time in the team's zone: "timezone" and
 * "occurred_at_local".  The zone itself is process-wide (see
 * text_use_timezone); opts only names it.  Returns alert, or NULL after
 * freeing it when memory is short.
 */
static json_object *
alert_add_local_time(json_object *alert, const struct alert_options *opts)
{
	const char *zone = opts != NULL ? opts->timezone : NULL;
	const char *iso = alert_get_string(alert, "occurred_at");
	char local[64];
	bool nomem = false;
	time_t t;

	if (alert == NULL || zone == NULL || *zone == '\0')
		return alert;
	if (iso == NULL)
		iso = alert_get_string(alert, "received_at");
	if (iso == NULL || text_parse_time(iso, &t) != 0 ||
	    text_format_local_time(t, local, sizeof(local)) != 0)
		return alert;
	alert_add(&nomem, alert, "timezone", json_object_new_string(zone));
	alert_add(&nomem, alert, "occurred_at_local",
		  json_object_new_string(local));
	if (nomem) {
		json_object_put(alert);
		return NULL;
	}
	return alert;
}

json_object *
alert_from_notification(const struct sns_message *msg,
			const struct alert_options *opts, time_t received_at)
{
	json_object *event = alert_parse_message(msg);
	json_object *alert = NULL;

	if (event != NULL && sg_event_matches(event))
		alert = alert_build_sg(msg, event, opts, received_at);
	if (alert == NULL)
		alert = alert_build_generic(msg, event, alert_language(opts),
					    received_at);
	json_object_put(event);
	return alert_add_language(alert_add_local_time(alert, opts), opts);
}

/* ---- subscription ended ---- */

static int
alert_write_unsubscribe(struct buf *b, const struct sns_message *msg)
{
	char *arn = text_sanitize(msg->topic_arn.str, msg->topic_arn.len);
	char *when = text_sanitize(msg->timestamp.str, msg->timestamp.len);
	int rc = -1;

	if (arn != NULL && when != NULL)
		rc = buf_printf(b, "Topic %s stopped delivering to this "
				"endpoint at %s: someone (or something) "
				"unsubscribed it. Alerts from this topic will "
				"not arrive until the endpoint is subscribed "
				"again.", arn[0] != '\0' ? arn : "(unknown)",
				when[0] != '\0' ? when : "an unknown time");
	free(arn);
	free(when);
	return rc;
}

json_object *
alert_from_unsubscribe(const struct sns_message *msg,
		       const struct alert_options *opts, time_t received_at)
{
	json_object *parts = json_object_new_object();
	bool nomem = parts == NULL;
	char *topic = alert_topic_name(msg);
	json_object *occurred;
	struct buf b;

	alert_add_text(&nomem, parts, "severity", "warning", ALERT_ID_MAX);
	buf_init(&b, 4 * ALERT_VALUE_MAX);
	alert_add_built(&nomem, parts, "title", &b,
			topic == NULL ? -1 :
			buf_printf(&b, "%s%s", label(alert_language(opts),
				   LABEL_SUBSCRIPTION_ENDED), topic),
			ALERT_TITLE_MAX);
	buf_init(&b, 8 * ALERT_VALUE_MAX);
	alert_add_built(&nomem, parts, "summary", &b,
			alert_write_unsubscribe(&b, msg), ALERT_SUMMARY_MAX);
	free(topic);
	occurred = alert_new_time_of(&nomem, msg->timestamp.str);
	if (nomem) {
		json_object_put(parts);
		json_object_put(occurred);
		return NULL;
	}
	return alert_add_language(alert_add_local_time(alert_assemble(msg,
		NULL, "subscription_ended", parts, occurred, received_at),
		opts), opts);
}
