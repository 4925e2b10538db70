/*
 * Address lists in CIDR notation; see include/snsrelay/cidr.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "snsrelay/cidr.h"

#define CIDR_TEXT_MAX 64

static const uint8_t cidr_v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

static void cidr_why(struct buf *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
cidr_why(struct buf *why, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return;
	va_start(ap, fmt);
	buf_vprintf(why, fmt, ap);
	va_end(ap);
}

/* Parses "123" into *out when it is a decimal number <= max. */
static int
cidr_parse_prefix(const char *text, unsigned max, unsigned *out)
{
	unsigned long value = 0;
	const char *p;

	if (*text == '\0' || strlen(text) > 3)
		return -1;
	for (p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		value = value * 10 + (unsigned long)(*p - '0');
	}
	if (value > max)
		return -1;
	*out = (unsigned)value;
	return 0;
}

static void
cidr_clear_host_bits(struct cidr *c)
{
	unsigned bytes = c->ipv6 ? 16 : 4;
	unsigned i;

	for (i = 0; i < bytes; i++) {
		unsigned first_bit = i * 8;

		if (first_bit >= c->prefix)
			c->addr[i] = 0;
		else if (first_bit + 8 > c->prefix)
			c->addr[i] &= (uint8_t)(0xff << (8 - (c->prefix -
							     first_bit)));
	}
}

int
cidr_parse(const char *text, struct cidr *out, struct buf *why)
{
	char copy[CIDR_TEXT_MAX];
	char *slash;
	unsigned max;

	memset(out, 0, sizeof(*out));
	if (strlen(text) >= sizeof(copy)) {
		cidr_why(why, "\"%.40s...\" is too long for an address",
			 text);
		return -1;
	}
	strcpy(copy, text);
	slash = strchr(copy, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, copy, out->addr) == 1) {
		max = 32;
	} else if (inet_pton(AF_INET6, copy, out->addr) == 1) {
		out->ipv6 = true;
		max = 128;
	} else {
		cidr_why(why, "\"%s\" is not a numeric IPv4 or IPv6 address",
			 text);
		return -1;
	}
	out->prefix = max;
	if (slash != NULL && cidr_parse_prefix(slash, max, &out->prefix)) {
		cidr_why(why, "\"%s\" has a bad prefix length; use /0 to /32 "
			 "for IPv4 and /0 to /128 for IPv6", text);
		return -1;
	}
	cidr_clear_host_bits(out);
	return 0;
}

static int
cidr_list_add(struct cidr_list *list, const struct cidr *c)
{
	struct cidr *grown;

	grown = realloc(list->entries, (list->count + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	list->entries = grown;
	list->entries[list->count++] = *c;
	return 0;
}

int
cidr_list_parse(const char *text, struct cidr_list *list, struct buf *why)
{
	char *copy = strdup(text);
	char *entry, *save = NULL;
	struct cidr c;

	cidr_list_free(list);
	if (copy == NULL) {
		cidr_why(why, "out of memory");
		return -1;
	}
	for (entry = strtok_r(copy, ", \t\n", &save); entry != NULL;
	     entry = strtok_r(NULL, ", \t\n", &save)) {
		if (cidr_parse(entry, &c, why) != 0 ||
		    cidr_list_add(list, &c) != 0) {
			if (why != NULL && why->len == 0)
				buf_printf(why, "out of memory");
			cidr_list_free(list);
			free(copy);
			return -1;
		}
	}
	free(copy);
	return 0;
}

/* True when the first prefix bits of a and b are equal. */
static bool
cidr_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

bool
cidr_list_contains(const struct cidr_list *list, const char *address)
{
	uint8_t addr[16];
	bool ipv6 = false;
	size_t i;

	if (address == NULL)
		return false;
	if (inet_pton(AF_INET, address, addr) != 1) {
		if (inet_pton(AF_INET6, address, addr) != 1)
			return false;
		ipv6 = true;
		if (memcmp(addr, cidr_v4_mapped, sizeof(cidr_v4_mapped)) == 0) {
			memmove(addr, addr + 12, 4);
			ipv6 = false;
		}
	}
	for (i = 0; i < list->count; i++) {
		const struct cidr *c = &list->entries[i];

		if (c->ipv6 == ipv6 &&
		    cidr_prefix_equal(c->addr, addr, c->prefix))
			return true;
	}
	return false;
}

void
cidr_list_free(struct cidr_list *list)
{
	free(list->entries);
	list->entries = NULL;
	list->count = 0;
}
