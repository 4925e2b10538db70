/*
 * The severity table of security-group alerts: which ports count as high
 * risk, which CIDR prefixes count as open to the internet, and the level
 * of each rule class.  config.c fills one from the options; sg_event.c
 * reads it.  docs/alert-schema.md describes the classes.
 */
#ifndef SNSRELAY_SEVERITY_H
#define SNSRELAY_SEVERITY_H

#include <stdbool.h>
#include <stddef.h>

#include "snsrelay/buf.h"

/* Maximum number of ports and ranges in high_risk_ports. */
#define SEVERITY_RANGES_MAX	256

/* The Security Hub EC2.19 high-risk ports, the default of
 * high_risk_ports. */
#define SEVERITY_DEFAULT_PORTS "20,21,22,23,25,110,135,143,445,1433,1434," \
	"3000,3306,3389,4333,5000,5432,5500,5601,8080,8088,8888,9200,9300"

/* Levels in increasing order, as in enum filter_severity. */
enum severity_level {
	SEVERITY_INFO = 0,
	SEVERITY_LOW,
	SEVERITY_MEDIUM,
	SEVERITY_HIGH,
	SEVERITY_CRITICAL,
};

struct severity_port_range {
	unsigned from, to;		/* inclusive, from <= to <= 65535 */
};

struct severity_table {
	struct severity_port_range ranges[SEVERITY_RANGES_MAX];
	size_t range_count;
	/* An IPv4 CIDR with a prefix shorter than this (IPv6: 4 times
	 * this) counts as open to the internet; /0 always does. */
	unsigned world_open_min_prefix;
	int world_open_high_risk;	/* enum severity_level */
	int world_open;
	int root;			/* minimum for the root user */
	int change;
	int revoke;
};

/* The built-in table: the EC2.19 ports and the documented levels. */
const struct severity_table *severity_default(void);

/* Parses "20,21,8000-8100" into t's ranges.  Returns 0, or -1 with the
 * reason in why (t's ranges are then unchanged). */
int severity_parse_ports(struct severity_table *t, const char *text,
			 struct buf *why);

/* Returns the level named by text (info, low, medium, high, critical),
 * or -1. */
int severity_parse_level(const char *text);

/* The name of level, or "info" for a value out of range. */
const char *severity_level_name(int level);

/* True when a port of from..to is in t's high-risk ranges. */
bool severity_ports_high_risk(const struct severity_table *t,
			      unsigned from, unsigned to);

/* True when a prefix length of an IPv4 (ipv6 false) or IPv6 CIDR counts
 * as open to the internet. */
bool severity_prefix_is_world(const struct severity_table *t,
			      unsigned prefix, bool ipv6);

#endif
