/*
 * Unit tests for severity.c: the port list parser and its messages, range
 * membership, world-open prefixes, level names and the built-in table.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "snsrelay/buf.h"
#include "snsrelay/severity.h"
#include "tap.h"

struct ports_case {
	const char *text;
	size_t count;		/* ranges parsed; 0 for a problem */
	unsigned first_from, first_to, last_from, last_to;
	const char *problem;	/* NULL when the text is valid */
};

static const struct ports_case ports_cases[] = {
	{ "22", 1, 22, 22, 22, 22, NULL },
	{ "0", 1, 0, 0, 0, 0, NULL },
	{ "65535", 1, 65535, 65535, 65535, 65535, NULL },
	{ "20,21,22,8000-8100", 4, 20, 20, 8000, 8100, NULL },
	{ "0-65535", 1, 0, 65535, 0, 65535, NULL },
	{ "443-443", 1, 443, 443, 443, 443, NULL },
	{ "", 0, 0, 0, 0, 0, "empty list: expected ports and ranges "
	  "separated by ',' such as 22,3389,8000-8100" },
	{ "22,,23", 0, 0, 0, 0, 0, "empty entry: expected ports and ranges "
	  "separated by ',' such as 22,3389,8000-8100" },
	{ "22,", 0, 0, 0, 0, 0, "empty entry: expected ports and ranges "
	  "separated by ',' such as 22,3389,8000-8100" },
	{ "ssh", 0, 0, 0, 0, 0, "\"ssh\" is not a port or range such as 22 "
	  "or 8000-8100" },
	{ "22 ", 0, 0, 0, 0, 0, "\"22 \" is not a port or range such as 22 "
	  "or 8000-8100" },
	{ "-5", 0, 0, 0, 0, 0, "\"-5\" is not a port or range such as 22 "
	  "or 8000-8100" },
	{ "8000-", 0, 0, 0, 0, 0, "\"8000-\" is not a port or range such "
	  "as 22 or 8000-8100" },
	{ "1-2-3", 0, 0, 0, 0, 0, "\"1-2-3\" is not a port or range such "
	  "as 22 or 8000-8100" },
	{ "65536", 0, 0, 0, 0, 0, "port in \"65536\" is out of range: "
	  "expected 0 to 65535" },
	{ "1-99999999999999999999", 0, 0, 0, 0, 0, "port in "
	  "\"1-99999999999999999999\" is out of range: expected 0 to 65535" },
	{ "8100-8000", 0, 0, 0, 0, 0, "range \"8100-8000\" is reversed: "
	  "write the lower port first" },
};

static void
test_parse_ports(void)
{
	struct severity_table t;
	struct buf why;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(ports_cases) / sizeof(*ports_cases); i++) {
		const struct ports_case *c = &ports_cases[i];

		memset(&t, 0, sizeof(t));
		t.range_count = 99;
		buf_init(&why, 1024);
		rc = severity_parse_ports(&t, c->text, &why);
		if (c->problem != NULL) {
			is_int(rc, -1, "ports \"%s\" rejected", c->text);
			is_str(why.data, c->problem, "ports \"%s\" message",
			       c->text);
			is_int(t.range_count, 99, "ports \"%s\" unchanged",
			       c->text);
			buf_free(&why);
			continue;
		}
		is_int(rc, 0, "ports \"%s\" parsed", c->text);
		is_int(t.range_count, c->count, "ports \"%s\" count", c->text);
		is_int(t.ranges[0].from, c->first_from, "ports \"%s\" first",
		       c->text);
		is_int(t.ranges[0].to, c->first_to, "ports \"%s\" first end",
		       c->text);
		is_int(t.ranges[c->count - 1].from, c->last_from,
		       "ports \"%s\" last", c->text);
		is_int(t.ranges[c->count - 1].to, c->last_to,
		       "ports \"%s\" last end", c->text);
		buf_free(&why);
	}
}

static void
test_too_many_ports(void)
{
	struct severity_table t;
	struct buf text, why;
	int i;

	memset(&t, 0, sizeof(t));
	buf_init(&text, 8192);
	buf_init(&why, 1024);
	for (i = 0; i <= SEVERITY_RANGES_MAX; i++)
		buf_printf(&text, "%s%d", i ? "," : "", i);
	is_int(severity_parse_ports(&t, text.data, &why), -1,
	       "ports too many rejected");
	is_str(why.data, "more than 256 ports and ranges",
	       "ports too many message");
	buf_free(&text);
	buf_free(&why);
}

struct member_case {
	unsigned from, to;
	bool want;
};

static const struct member_case member_cases[] = {
	{ 22, 22, true }, { 21, 21, true }, { 80, 80, false },
	{ 7000, 7999, false }, { 8000, 8100, true }, { 8100, 8200, true },
	{ 8050, 8060, true }, { 8101, 8999, false }, { 1, 21, true },
	{ 0, 0, false }, { 65535, 65535, false }, { 23, 24, false },
};

static void
test_membership(void)
{
	struct severity_table t;
	struct buf why;
	size_t i;

	memset(&t, 0, sizeof(t));
	buf_init(&why, 1024);
	is_int(severity_parse_ports(&t, "21,22,8000-8100", &why), 0,
	       "member table parsed");
	buf_free(&why);
	for (i = 0; i < sizeof(member_cases) / sizeof(*member_cases); i++) {
		const struct member_case *c = &member_cases[i];

		is_int(severity_ports_high_risk(&t, c->from, c->to), c->want,
		       "member %u-%u", c->from, c->to);
	}
}

static void
test_prefixes(void)
{
	struct severity_table t = *severity_default();

	ok(severity_prefix_is_world(&t, 0, false), "prefix v4 /0 default");
	ok(!severity_prefix_is_world(&t, 1, false), "prefix v4 /1 default");
	ok(severity_prefix_is_world(&t, 0, true), "prefix v6 /0 default");
	ok(!severity_prefix_is_world(&t, 1, true), "prefix v6 /1 default");
	t.world_open_min_prefix = 8;
	ok(severity_prefix_is_world(&t, 1, false), "prefix v4 /1 min 8");
	ok(severity_prefix_is_world(&t, 7, false), "prefix v4 /7 min 8");
	ok(!severity_prefix_is_world(&t, 8, false), "prefix v4 /8 min 8");
	ok(severity_prefix_is_world(&t, 31, true), "prefix v6 /31 min 8");
	ok(!severity_prefix_is_world(&t, 32, true), "prefix v6 /32 min 8");
}

static void
test_levels(void)
{
	static const char *const names[] = {
		"info", "low", "medium", "high", "critical",
	};
	int i;

	for (i = 0; i < 5; i++) {
		is_int(severity_parse_level(names[i]), i, "level %s parsed",
		       names[i]);
		is_str(severity_level_name(i), names[i], "level %d named", i);
	}
	is_int(severity_parse_level("Critical"), -1, "level case matters");
	is_int(severity_parse_level("warning"), -1, "level warning unknown");
	is_int(severity_parse_level(""), -1, "level empty unknown");
	is_int(severity_parse_level(NULL), -1, "level NULL unknown");
	is_str(severity_level_name(5), "info", "level 5 falls back");
	is_str(severity_level_name(-1), "info", "level -1 falls back");
}

/* The built-in table is the EC2.19 list of docs/alert-schema.md and the
 * documented levels. */
static void
test_default_table(void)
{
	static const unsigned ec2_19[] = {
		20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000,
		3306, 3389, 4333, 5000, 5432, 5500, 5601, 8080, 8088, 8888,
		9200, 9300,
	};
	const struct severity_table *d = severity_default();
	struct severity_table parsed;
	struct buf why;
	size_t i, n = sizeof(ec2_19) / sizeof(*ec2_19);

	is_int(d->range_count, n, "default port count");
	for (i = 0; i < n && i < d->range_count; i++) {
		is_int(d->ranges[i].from, ec2_19[i], "default port %zu", i);
		is_int(d->ranges[i].to, ec2_19[i], "default port %zu end", i);
	}
	memset(&parsed, 0, sizeof(parsed));
	buf_init(&why, 1024);
	is_int(severity_parse_ports(&parsed, SEVERITY_DEFAULT_PORTS, &why), 0,
	       "default text parses");
	buf_free(&why);
	is_int(parsed.range_count, d->range_count, "default text count");
	ok(memcmp(parsed.ranges, d->ranges, sizeof(parsed.ranges)) == 0,
	   "default text equals table");
	is_int(d->world_open_min_prefix, 0, "default min prefix");
	is_int(d->world_open_high_risk, SEVERITY_CRITICAL,
	       "default world open high risk");
	is_int(d->world_open, SEVERITY_HIGH, "default world open");
	is_int(d->root, SEVERITY_HIGH, "default root");
	is_int(d->change, SEVERITY_MEDIUM, "default change");
	is_int(d->revoke, SEVERITY_LOW, "default revoke");
}

int
main(void)
{
	test_parse_ports();
	test_too_many_ports();
	test_membership();
	test_prefixes();
	test_levels();
	test_default_table();
	return tap_done();
}
