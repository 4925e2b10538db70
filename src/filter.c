#include "config.h"

#include <fnmatch.h>
#include <stddef.h>
#include <string.h>

#include "snsrelay/filter.h"

static const char *const filter_severity_names[] = {
	[FILTER_SEVERITY_INFO] = "info",
	[FILTER_SEVERITY_LOW] = "low",
	[FILTER_SEVERITY_MEDIUM] = "medium",
	[FILTER_SEVERITY_HIGH] = "high",
	[FILTER_SEVERITY_CRITICAL] = "critical",
};

#define FILTER_SEVERITY_COUNT \
	(sizeof(filter_severity_names) / sizeof(*filter_severity_names))

int
filter_parse_severity(const char *text)
{
	size_t i;

	if (text == NULL)
		return -1;
	if (strcmp(text, "warning") == 0)
		return FILTER_SEVERITY_MEDIUM;
	for (i = 0; i < FILTER_SEVERITY_COUNT; i++)
		if (strcmp(text, filter_severity_names[i]) == 0)
			return (int)i;
	return -1;
}

const struct filter_config *
filter_find(const struct relay_config *cfg, const char *destination)
{
	size_t i;

	if (destination == NULL)
		return NULL;
	for (i = 0; i < cfg->filter_count; i++)
		if (strcmp(cfg->filters[i].destination, destination) == 0)
			return &cfg->filters[i];
	return NULL;
}

/* The string member key of object, or NULL when absent or not a string. */
static const char *
filter_get_string(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (object == NULL || !json_object_is_type(object, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(object, key, &value) ||
	    !json_object_is_type(value, json_type_string))
		return NULL;
	return json_object_get_string(value);
}

static bool
filter_severity_passes(const struct filter_config *filter,
		       json_object *alert)
{
	int level = filter_parse_severity(filter_get_string(alert,
							    "severity"));

	if (level < 0)
		level = FILTER_SEVERITY_CRITICAL;
	return level >= filter->min_severity;
}

static bool
filter_event_passes(const struct filter_config *filter, json_object *alert)
{
	json_object *event = NULL;
	const char *name = NULL;
	size_t i;

	if (filter->event_count == 0)
		return true;
	if (json_object_is_type(alert, json_type_object) &&
	    json_object_object_get_ex(alert, "event", &event))
		name = filter_get_string(event, "name");
	for (i = 0; i < filter->event_count; i++) {
		if (name == NULL && strcmp(filter->events[i], "*") == 0)
			return true;
		if (name != NULL && fnmatch(filter->events[i], name, 0) == 0)
			return true;
	}
	return false;
}

bool
filter_accepts(const struct filter_config *filter, json_object *alert)
{
	const char *kind = filter_get_string(alert, "kind");

	if (filter == NULL)
		return true;
	if (kind != NULL && strcmp(kind, "subscription_ended") == 0)
		return true;
	return filter_severity_passes(filter, alert) &&
	       filter_event_passes(filter, alert);
}
