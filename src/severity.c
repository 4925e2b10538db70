#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "snsrelay/buf.h"
#include "snsrelay/severity.h"

#define SEVERITY_PORT_MAX	65535U
#define SEVERITY_QUOTE_MAX	32

static const char *const severity_names[] = {
	"info", "low", "medium", "high", "critical",
};

#define SEVERITY_LEVEL_COUNT (sizeof(severity_names) / sizeof(*severity_names))

/* One port as a range. */
#define ONE(port) { (port), (port) }

/* Kept equal to SEVERITY_DEFAULT_PORTS; tests/unit_severity checks it. */
static const struct severity_table severity_builtin = {
	.ranges = {
		ONE(20), ONE(21), ONE(22), ONE(23), ONE(25), ONE(110),
		ONE(135), ONE(143), ONE(445), ONE(1433), ONE(1434),
		ONE(3000), ONE(3306), ONE(3389), ONE(4333), ONE(5000),
		ONE(5432), ONE(5500), ONE(5601), ONE(8080), ONE(8088),
		ONE(8888), ONE(9200), ONE(9300),
	},
	.range_count = 24,
	.world_open_min_prefix = 0,
	.world_open_high_risk = SEVERITY_CRITICAL,
	.world_open = SEVERITY_HIGH,
	.root = SEVERITY_HIGH,
	.change = SEVERITY_MEDIUM,
	.revoke = SEVERITY_LOW,
};

#undef ONE

const struct severity_table *
severity_default(void)
{
	return &severity_builtin;
}

int
severity_parse_level(const char *text)
{
	size_t i;

	for (i = 0; text != NULL && i < SEVERITY_LEVEL_COUNT; i++)
		if (strcmp(text, severity_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
severity_level_name(int level)
{
	if (level < 0 || (size_t)level >= SEVERITY_LEVEL_COUNT)
		return severity_names[0];
	return severity_names[level];
}

/* Parses the decimal port at *s and moves *s past it.  Returns 0, or -1
 * with the reason in why. */
static int
severity_parse_port(const char **s, const char *item, unsigned *port,
		    struct buf *why)
{
	unsigned long v = 0;
	const char *p = *s;

	if (*p < '0' || *p > '9') {
		buf_printf(why, "\"%.*s\" is not a port or range such as 22 "
			   "or 8000-8100", SEVERITY_QUOTE_MAX, item);
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++)
		if (v <= SEVERITY_PORT_MAX)
			v = v * 10 + (unsigned long)(*p - '0');
	if (v > SEVERITY_PORT_MAX) {
		buf_printf(why, "port in \"%.*s\" is out of range: expected "
			   "0 to 65535", SEVERITY_QUOTE_MAX, item);
		return -1;
	}
	*port = (unsigned)v;
	*s = p;
	return 0;
}

/* Parses one item ("22" or "8000-8100", item_len bytes) into r. */
static int
severity_parse_item(const char *item, size_t item_len,
		    struct severity_port_range *r, struct buf *why)
{
	char text[SEVERITY_QUOTE_MAX + 1];
	const char *p = text;
	size_t i;

	if (item_len > SEVERITY_QUOTE_MAX)
		item_len = SEVERITY_QUOTE_MAX;
	memcpy(text, item, item_len);
	text[item_len] = '\0';
	for (i = 0; i < item_len; i++)
		if ((unsigned char)text[i] < 0x20 ||
		    (unsigned char)text[i] >= 0x7f)
			text[i] = '?';
	if (severity_parse_port(&p, text, &r->from, why) != 0)
		return -1;
	r->to = r->from;
	if (*p == '-') {
		p++;
		if (severity_parse_port(&p, text, &r->to, why) != 0)
			return -1;
	}
	if (*p != '\0') {
		buf_printf(why, "\"%s\" is not a port or range such as 22 "
			   "or 8000-8100", text);
		return -1;
	}
	if (r->to < r->from) {
		buf_printf(why, "range \"%s\" is reversed: write the lower "
			   "port first", text);
		return -1;
	}
	return 0;
}

static int
severity_parse_list(struct severity_table *out, const char *text,
		    struct buf *why)
{
	const char *item = text;
	size_t len;

	for (;;) {
		len = strcspn(item, ",");
		if (len == 0) {
			buf_printf(why, "empty entry: expected ports and "
				   "ranges separated by ',' such as "
				   "22,3389,8000-8100");
			return -1;
		}
		if (out->range_count == SEVERITY_RANGES_MAX) {
			buf_printf(why, "more than %d ports and ranges",
				   SEVERITY_RANGES_MAX);
			return -1;
		}
		if (severity_parse_item(item, len,
					&out->ranges[out->range_count++],
					why) != 0)
			return -1;
		if (item[len] == '\0')
			return 0;
		item += len + 1;
	}
}

int
severity_parse_ports(struct severity_table *t, const char *text,
		     struct buf *why)
{
	struct severity_table parsed;

	memset(&parsed, 0, sizeof(parsed));
	if (text == NULL || text[0] == '\0') {
		buf_printf(why, "empty list: expected ports and ranges "
			   "separated by ',' such as 22,3389,8000-8100");
		return -1;
	}
	if (severity_parse_list(&parsed, text, why) != 0)
		return -1;
	memcpy(t->ranges, parsed.ranges, sizeof(t->ranges));
	t->range_count = parsed.range_count;
	return 0;
}

bool
severity_ports_high_risk(const struct severity_table *t, unsigned from,
			 unsigned to)
{
	size_t i;

	for (i = 0; i < t->range_count; i++)
		if (t->ranges[i].from <= to && t->ranges[i].to >= from)
			return true;
	return false;
}

bool
severity_prefix_is_world(const struct severity_table *t, unsigned prefix,
			 bool ipv6)
{
	unsigned limit = t->world_open_min_prefix * (ipv6 ? 4 : 1);

	return prefix == 0 || prefix < limit;
}
