/*
 * Alerts: what a verified SNS message becomes before it is rendered for a
 * destination.  An alert is a JSON document (json-c object) whose schema
 * docs/alert-schema.md describes; the generic webhook format sends it as
 * it is, and the Discord renderer reads it.
 */
#ifndef SNSRELAY_ALERT_H
#define SNSRELAY_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include "snsrelay/labels.h"
#include "snsrelay/severity.h"
#include "snsrelay/sns_message.h"

#define ALERT_SCHEMA "snsrelay.alert/1"

struct alert_options {
	/* IANA zone of "occurred_at_local"; NULL or "": no local time.
	 * It must be the zone given to text_use_timezone. */
	const char *timezone;
	/* Levels of security-group alerts; NULL: the built-in table. */
	const struct severity_table *severity;
	/* Words of titles and renderers; zero (LABEL_LANG_EN): English.
	 * Other languages add "language" to the alert. */
	enum label_language language;
};

/*
 * Builds the alert for a verified Notification.  An EventBridge event for
 * a security-group API call becomes a "security_group_change" alert; any
 * other content (other events, alarms, plain text) becomes a generic
 * "notification" alert with the Subject and text.  Never fails on
 * content: a shape the formatter does not understand falls back to the
 * generic alert.  Returns NULL only when memory is short.
 */
json_object *alert_from_notification(const struct sns_message *msg,
				     const struct alert_options *opts,
				     time_t received_at);

/* Builds the warning that a topic stopped delivering to this endpoint. */
json_object *alert_from_unsubscribe(const struct sns_message *msg,
				    const struct alert_options *opts,
				    time_t received_at);

/* Returns obj's string member key, or NULL when it is absent or not a
 * string.  obj may be NULL. */
const char *alert_get_string(json_object *obj, const char *key);

/* Returns obj's member key when it has the given type, else NULL. */
json_object *alert_get_member(json_object *obj, const char *key,
			      enum json_type type);

/* Number of elements of array, or 0 when it is not an array. */
size_t alert_array_length(json_object *array);

/*
 * True when id and url are a security-group id (sg- and 8 to 17 hex
 * digits) and a console link built for it: https, ending in the id, and
 * made only of letters, digits and "-.:/?=#".  Such a pair contains no
 * character that Discord, Slack or Teams markup gives a meaning in a
 * link, so renderers may link it without escaping.
 */
bool alert_console_link_is_safe(const char *id, const char *url);

#endif
