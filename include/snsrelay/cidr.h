/*
 * Address lists for the inbound checks: allowed_sources (who may post to
 * the SNS endpoint) and trusted_proxies (whose X-Forwarded-For is
 * believed).  A list is written as comma- or space-separated entries,
 * each a numeric IPv4 or IPv6 address with an optional /prefix:
 *
 *   10.0.0.0/8, 192.0.2.7, 2001:db8::/32
 *
 * An IPv4 address given as IPv4-mapped IPv6 (::ffff:192.0.2.7), as
 * libmicrohttpd reports clients on a dual-stack socket, matches IPv4
 * entries.
 */
#ifndef SNSRELAY_CIDR_H
#define SNSRELAY_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snsrelay/buf.h"

struct cidr {
	uint8_t addr[16];	/* IPv4 in the first 4 bytes */
	unsigned prefix;	/* 0..32 for IPv4, 0..128 for IPv6 */
	bool ipv6;
};

struct cidr_list {
	struct cidr *entries;
	size_t count;
};

/* Parses one entry ("192.0.2.0/24", "::1").  Host bits beyond the prefix
 * are cleared.  Returns 0, or -1 with the reason in why (may be NULL). */
int cidr_parse(const char *text, struct cidr *out, struct buf *why);

/* Parses a whole list into list (emptied first).  Returns 0, or -1 with
 * the first bad entry named in why; list is then empty. */
int cidr_list_parse(const char *text, struct cidr_list *list,
		    struct buf *why);

/* True when the numeric address text (IPv4, IPv6 or IPv4-mapped IPv6)
 * lies in one of the entries.  False for text that is not an address. */
bool cidr_list_contains(const struct cidr_list *list, const char *address);

void cidr_list_free(struct cidr_list *list);

#endif
