/*
 * EventBridge events of detail-type "AWS API Call via CloudTrail" for EC2
 * security-group calls, turned into the security-group part of an alert.
 */
#ifndef SNSRELAY_SG_EVENT_H
#define SNSRELAY_SG_EVENT_H

#include <stdbool.h>

#include <json-c/json.h>

#include "snsrelay/err.h"
#include "snsrelay/severity.h"

/* True when event is a CloudTrail record (EventBridge envelope) for one
 * of the security-group API calls snsrelay formats. */
bool sg_event_matches(json_object *event);

/*
 * Adds the members of a "security_group_change" alert (title, summary,
 * severity, event, security_groups, rules) to alert.  Returns 0, or -1
 * with the reason in e when the event's shape is not understood; alert
 * may then hold some members and the caller builds a generic alert
 * instead.  severity is the table of levels; NULL: the built-in one.
 * When alert already has "language": "ko", the title is written in
 * Korean; the summary and rule texts stay English.
 */
int sg_event_fill_alert(json_object *event, json_object *alert,
			const char *zone,
			const struct severity_table *severity, struct err *e);

#endif
