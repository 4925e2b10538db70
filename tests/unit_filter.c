/*
 * Unit tests for filter.c: severity levels, event name patterns, the
 * kinds that bypass filters, and alerts with missing or mistyped
 * members.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "snsrelay/filter.h"
#include "tap.h"

static char *pager_events[] = { "Authorize*", "DeleteSecurityGroup" };
static char *star_events[] = { "Revoke*", "*" };

static const struct filter_config filter_critical = {
	.destination = "pager",
	.min_severity = FILTER_SEVERITY_CRITICAL,
};
static const struct filter_config filter_medium = {
	.destination = "team",
	.min_severity = FILTER_SEVERITY_MEDIUM,
};
static const struct filter_config filter_events = {
	.destination = "pager",
	.events = pager_events,
	.event_count = 2,
};
static const struct filter_config filter_star = {
	.destination = "audit",
	.events = star_events,
	.event_count = 2,
};
static const struct filter_config filter_both = {
	.destination = "pager",
	.min_severity = FILTER_SEVERITY_HIGH,
	.events = pager_events,
	.event_count = 2,
};

struct accept_case {
	const char *name;
	const struct filter_config *filter;
	const char *alert;
	bool want;
};

#define SG(severity, event) "{\"kind\":\"security_group_change\"," \
	"\"severity\":\"" severity "\",\"event\":{\"name\":\"" event "\"}}"
#define NOTIFICATION(severity) "{\"kind\":\"notification\"," \
	"\"severity\":\"" severity "\"}"
#define ENDED "{\"kind\":\"subscription_ended\",\"severity\":\"warning\"}"

static const struct accept_case accept_cases[] = {
	{ "no filter", NULL, SG("info", "RevokeSecurityGroupIngress"),
	  true },
	{ "critical passes critical", &filter_critical,
	  SG("critical", "AuthorizeSecurityGroupIngress"), true },
	{ "high fails critical", &filter_critical,
	  SG("high", "AuthorizeSecurityGroupIngress"), false },
	{ "low fails critical", &filter_critical,
	  SG("low", "RevokeSecurityGroupIngress"), false },
	{ "info fails medium", &filter_medium, NOTIFICATION("info"), false },
	{ "low fails medium", &filter_medium, NOTIFICATION("low"), false },
	{ "medium passes medium", &filter_medium, NOTIFICATION("medium"), true },
	{ "warning passes medium", &filter_medium,
	  "{\"kind\":\"notification\",\"severity\":\"warning\"}", true },
	{ "high passes medium", &filter_medium, NOTIFICATION("high"), true },
	{ "glob matches", &filter_events,
	  SG("low", "AuthorizeSecurityGroupEgress"), true },
	{ "exact name matches", &filter_events,
	  SG("info", "DeleteSecurityGroup"), true },
	{ "glob misses", &filter_events,
	  SG("critical", "RevokeSecurityGroupIngress"), false },
	{ "glob is case-sensitive", &filter_events,
	  SG("critical", "authorizeSecurityGroupIngress"), false },
	{ "glob needs whole name", &filter_events,
	  SG("critical", "DeleteSecurityGroupX"), false },
	{ "both pass", &filter_both,
	  SG("critical", "AuthorizeSecurityGroupIngress"), true },
	{ "both, severity fails", &filter_both,
	  SG("medium", "AuthorizeSecurityGroupIngress"), false },
	{ "both, event fails", &filter_both,
	  SG("critical", "CreateSecurityGroup"), false },
	{ "notification fails events", &filter_events, NOTIFICATION("critical"),
	  false },
	{ "notification passes star", &filter_star, NOTIFICATION("info"), true },
	{ "notification passes severity", &filter_medium, NOTIFICATION("high"),
	  true },
	{ "ended passes critical", &filter_critical, ENDED, true },
	{ "ended passes events", &filter_events, ENDED, true },
	{ "ended passes both", &filter_both, ENDED, true },
	{ "missing severity passes", &filter_critical,
	  "{\"kind\":\"notification\"}", true },
	{ "unknown severity passes", &filter_critical,
	  "{\"kind\":\"notification\",\"severity\":\"urgent\"}", true },
	{ "number severity passes", &filter_critical,
	  "{\"kind\":\"notification\",\"severity\":4}", true },
	{ "missing kind, low fails", &filter_medium,
	  "{\"severity\":\"low\"}", false },
	{ "number kind, low fails", &filter_critical,
	  "{\"kind\":1,\"severity\":\"low\"}", false },
	{ "event not object", &filter_events,
	  "{\"kind\":\"notification\",\"severity\":\"low\","
	  "\"event\":\"AuthorizeSecurityGroupIngress\"}", false },
	{ "event name not string", &filter_events,
	  "{\"kind\":\"notification\",\"severity\":\"low\","
	  "\"event\":{\"name\":7}}", false },
	{ "event name null, star", &filter_star,
	  "{\"kind\":\"notification\",\"severity\":\"low\","
	  "\"event\":{\"name\":null}}", true },
	{ "event without name", &filter_events,
	  "{\"kind\":\"security_group_change\",\"severity\":\"high\","
	  "\"event\":{}}", false },
	{ "alert not object", &filter_critical, "[1,2]", true },
};

static void
test_accepts(void)
{
	const struct accept_case *c;
	json_object *alert;
	size_t i;

	for (i = 0; i < sizeof(accept_cases) / sizeof(*accept_cases); i++) {
		c = &accept_cases[i];
		alert = json_tokener_parse(c->alert);
		if (alert == NULL) {
			ok(0, "accepts %s: test alert is not JSON", c->name);
			continue;
		}
		is_int(filter_accepts(c->filter, alert), c->want, "accepts %s",
		       c->name);
		json_object_put(alert);
	}
	ok(filter_accepts(&filter_critical, NULL), "accepts NULL, severity");
	ok(!filter_accepts(&filter_events, NULL), "accepts NULL, events");
}

static void
test_parse_severity(void)
{
	is_int(filter_parse_severity("info"), FILTER_SEVERITY_INFO,
	       "severity info");
	is_int(filter_parse_severity("low"), FILTER_SEVERITY_LOW,
	       "severity low");
	is_int(filter_parse_severity("medium"), FILTER_SEVERITY_MEDIUM,
	       "severity medium");
	is_int(filter_parse_severity("warning"), FILTER_SEVERITY_MEDIUM,
	       "severity warning is medium");
	is_int(filter_parse_severity("high"), FILTER_SEVERITY_HIGH,
	       "severity high");
	is_int(filter_parse_severity("critical"), FILTER_SEVERITY_CRITICAL,
	       "severity critical");
	is_int(filter_parse_severity("Critical"), -1, "severity case");
	is_int(filter_parse_severity(""), -1, "severity empty");
	is_int(filter_parse_severity("urgent"), -1, "severity unknown");
	is_int(filter_parse_severity(NULL), -1, "severity NULL");
}

static void
test_find(void)
{
	struct filter_config filters[2] = {
		{ .destination = "discord" },
		{ .destination = "pager" },
	};
	struct relay_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	ok(filter_find(&cfg, "pager") == NULL, "find in empty list");
	cfg.filters = filters;
	cfg.filter_count = 2;
	ok(filter_find(&cfg, "pager") == &filters[1], "find pager");
	ok(filter_find(&cfg, "discord") == &filters[0], "find discord");
	ok(filter_find(&cfg, "audit") == NULL, "find missing");
	ok(filter_find(&cfg, "Pager") == NULL, "find is case-sensitive");
	ok(filter_find(&cfg, NULL) == NULL, "find NULL name");
}

int
main(void)
{
	test_parse_severity();
	test_accepts();
	test_find();
	return tap_done();
}
