/*
 * Unit tests for inbound.c and cidr.c: HTTP Basic header parsing and
 * comparison, client address resolution through X-Forwarded-For, the
 * allowed_sources check, and the CIDR lists under them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "snsrelay/cidr.h"
#include "snsrelay/config.h"
#include "snsrelay/inbound.h"
#include "tap.h"

#define USER "sns"
#define PASSWORD "correct horse"

/* "Basic " + base64 of len bytes of text, in a static buffer. */
static const char *
basic_header_n(const char *scheme, const char *text, size_t len)
{
	static char header[8192];
	unsigned char encoded[8192];
	int n;

	if (len > 3 * 2000) {
		printf("Bail out! credentials too long for the test buffer\n");
		exit(1);
	}
	n = EVP_EncodeBlock(encoded, (const unsigned char *)text, (int)len);
	snprintf(header, sizeof(header), "%s %.*s", scheme, n,
		 (const char *)encoded);
	return header;
}

static const char *
basic_header(const char *text)
{
	return basic_header_n("Basic", text, strlen(text));
}

static struct inbound_credentials creds;

static enum inbound_auth
check(const char *header)
{
	return inbound_check_basic(&creds, header, NULL);
}

static void
test_basic_accepts(void)
{
	is_int(check(basic_header(USER ":" PASSWORD)), INBOUND_AUTH_OK,
	       "basic: right credentials");
	is_int(check(basic_header_n("basic", USER ":" PASSWORD,
				    strlen(USER ":" PASSWORD))),
	       INBOUND_AUTH_OK, "basic: lower-case scheme");
	is_int(check(basic_header_n("BASIC", USER ":" PASSWORD,
				    strlen(USER ":" PASSWORD))),
	       INBOUND_AUTH_OK, "basic: upper-case scheme");
	/* "sns:correct horse" */
	is_int(check("  Basic   c25zOmNvcnJlY3QgaG9yc2U=  "), INBOUND_AUTH_OK,
	       "basic: whitespace around the token");
	is_int(check("Basic\tc25zOmNvcnJlY3QgaG9yc2U="), INBOUND_AUTH_OK,
	       "basic: tab after the scheme");
}

static void
test_basic_missing_and_scheme(void)
{
	const char *why = NULL;

	is_int(inbound_check_basic(&creds, NULL, &why), INBOUND_AUTH_MISSING,
	       "basic: no header is missing");
	ok(why != NULL && strstr(why, "no Authorization") != NULL,
	   "basic: missing reason");
	is_int(check(""), INBOUND_AUTH_BAD, "basic: empty header");
	is_int(check("c25zOmNvcnJlY3QgaG9yc2U="), INBOUND_AUTH_BAD,
	       "basic: token without scheme");
	why = NULL;
	is_int(inbound_check_basic(&creds, "Bearer c25zOmNvcnJlY3QgaG9yc2U=",
				   &why), INBOUND_AUTH_BAD,
	       "basic: Bearer scheme");
	ok(why != NULL && strstr(why, "not Basic") != NULL,
	   "basic: scheme reason");
	is_int(check("Basicc25zOmNvcnJlY3QgaG9yc2U="), INBOUND_AUTH_BAD,
	       "basic: no space after scheme");
	is_int(check("Basically c25zOmNvcnJlY3QgaG9yc2U="), INBOUND_AUTH_BAD,
	       "basic: longer scheme name");
	is_int(check("Basic"), INBOUND_AUTH_BAD, "basic: scheme alone");
	is_int(check("Basic   "), INBOUND_AUTH_BAD, "basic: empty token");
	is_int(check("Basic c25zOmNv cnJlY3QgaG9yc2U="), INBOUND_AUTH_BAD,
	       "basic: space inside token");
	is_int(check("Basic c25zOmNvcnJlY3QgaG9yc2U= x"), INBOUND_AUTH_BAD,
	       "basic: second token");
}

static void
test_basic_base64(void)
{
	const char *why = NULL;

	is_int(inbound_check_basic(&creds, "Basic c25zOmNvcnJlY3QgaG9yc2U",
				   &why), INBOUND_AUTH_BAD,
	       "base64: missing padding");
	ok(why != NULL && strstr(why, "base64") != NULL,
	   "base64: reason names base64");
	is_int(check("Basic c25zOmNvcnJlY3QgaG9yc2U!"), INBOUND_AUTH_BAD,
	       "base64: character outside the alphabet");
	/* "s?>" in base64 is "cz8+"; the URL-safe form "cz8-" is rejected. */
	is_int(check("Basic cz8-"), INBOUND_AUTH_BAD,
	       "base64: URL-safe alphabet");
	is_int(check("Basic c2==c25z"), INBOUND_AUTH_BAD,
	       "base64: padding inside the token");
	is_int(check("Basic c===") , INBOUND_AUTH_BAD,
	       "base64: three padding characters");
	is_int(check("Basic ===="), INBOUND_AUTH_BAD,
	       "base64: padding only");
	/* "c25zOmNvcnJlY3QgaG9yc2U=" with the last data character changed
	 * from U to V decodes to the same bytes with a non-zero pad bit. */
	is_int(check("Basic c25zOmNvcnJlY3QgaG9yc2V="), INBOUND_AUTH_BAD,
	       "base64: non-zero bits in the padding");
	is_int(check("Basic c25zOmNvcnJlY3QgaG9yc2U=="), INBOUND_AUTH_BAD,
	       "base64: length not a multiple of 4");
	is_int(check("Basic c25z\nOmNvcnJlY3QgaG9yc2U="), INBOUND_AUTH_BAD,
	       "base64: line break inside token");
}

static void
test_basic_credentials(void)
{
	const char *why = NULL;
	static const char nul_user[] = "sns\0:" PASSWORD;
	char *long_text;
	size_t i;

	is_int(inbound_check_basic(&creds, basic_header(USER PASSWORD), &why),
	       INBOUND_AUTH_BAD, "credentials: no colon");
	ok(why != NULL && strstr(why, "colon") != NULL,
	   "credentials: no colon reason");
	why = NULL;
	is_int(inbound_check_basic(&creds, basic_header("other:" PASSWORD),
				   &why), INBOUND_AUTH_BAD,
	       "credentials: wrong user");
	is_str(why, "wrong user name or password",
	       "credentials: wrong user reason");
	is_int(check(basic_header(USER ":wrong")), INBOUND_AUTH_BAD,
	       "credentials: wrong password");
	is_int(check(basic_header(USER ":")), INBOUND_AUTH_BAD,
	       "credentials: empty password");
	is_int(check(basic_header(":" PASSWORD)), INBOUND_AUTH_BAD,
	       "credentials: empty user");
	is_int(check(basic_header(USER ":" PASSWORD "x")), INBOUND_AUTH_BAD,
	       "credentials: password with extra byte");
	is_int(check(basic_header(USER ":correct hors")), INBOUND_AUTH_BAD,
	       "credentials: password prefix");
	is_int(check(basic_header("sn:" PASSWORD)), INBOUND_AUTH_BAD,
	       "credentials: user prefix");
	is_int(check(basic_header("SNS:" PASSWORD)), INBOUND_AUTH_BAD,
	       "credentials: user case differs");
	is_int(check(basic_header_n("Basic", nul_user, sizeof(nul_user) - 1)),
	       INBOUND_AUTH_BAD, "credentials: NUL in user");

	/* A token of INBOUND_BASIC_TOKEN_MAX characters is decoded and
	 * compared; one group more is rejected before decoding. */
	long_text = malloc(INBOUND_BASIC_TOKEN_MAX + 16);
	if (long_text == NULL) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	memcpy(long_text, "Basic ", 6);
	for (i = 0; i < INBOUND_BASIC_TOKEN_MAX; i++)
		long_text[6 + i] = 'Q';
	long_text[6 + INBOUND_BASIC_TOKEN_MAX] = '\0';
	why = NULL;
	is_int(inbound_check_basic(&creds, long_text, &why), INBOUND_AUTH_BAD,
	       "credentials: longest token is compared");
	ok(why != NULL && strstr(why, "colon") != NULL,
	   "credentials: longest token reaches the colon check");
	memcpy(long_text + 6 + INBOUND_BASIC_TOKEN_MAX, "QQQQ", 5);
	why = NULL;
	is_int(inbound_check_basic(&creds, long_text, &why), INBOUND_AUTH_BAD,
	       "credentials: token too long");
	ok(why != NULL && strstr(why, "too long") != NULL,
	   "credentials: too long reason");
	free(long_text);
}

static void
test_basic_colon_in_password(void)
{
	struct inbound_credentials colon;
	struct err e;

	err_clear(&e);
	is_int(inbound_credentials_set(&colon, USER, "pa:ss:", &e), 0,
	       "colon password: credentials set");
	is_int(inbound_check_basic(&colon, basic_header(USER ":pa:ss:"), NULL),
	       INBOUND_AUTH_OK, "colon password: split at first colon");
	is_int(inbound_check_basic(&colon, basic_header(USER ":pa"), NULL),
	       INBOUND_AUTH_BAD, "colon password: part of it");
	is_int(inbound_check_basic(&colon, basic_header(USER ":pa:ss"), NULL),
	       INBOUND_AUTH_BAD, "colon password: without last colon");
}

static void
test_credentials_set(void)
{
	struct inbound_credentials c;
	struct err e;
	char *long_password;

	err_clear(&e);
	is_int(inbound_credentials_set(&c, NULL, NULL, &e), 0,
	       "credentials_set: none");
	ok(!c.enabled, "credentials_set: none disables the check");
	is_int(inbound_check_basic(&c, NULL, NULL), INBOUND_AUTH_OK,
	       "credentials_set: disabled accepts no header");
	is_int(inbound_check_basic(&c, "garbage", NULL), INBOUND_AUTH_OK,
	       "credentials_set: disabled ignores the header");
	is_int(inbound_credentials_set(&c, USER, NULL, &e), -1,
	       "credentials_set: user without password");
	ok(strstr(e.msg, "basic_auth_user") != NULL,
	   "credentials_set: message names the option");

	long_password = malloc(INBOUND_BASIC_TOKEN_MAX);
	if (long_password == NULL) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	memset(long_password, 'p', INBOUND_BASIC_TOKEN_MAX - 1);
	long_password[INBOUND_BASIC_TOKEN_MAX - 1] = '\0';
	err_clear(&e);
	is_int(inbound_credentials_set(&c, USER, long_password, &e), -1,
	       "credentials_set: password too long");
	ok(strstr(e.msg, "shorter password") != NULL,
	   "credentials_set: too long message");
	/* user ":" password fills the decoded maximum exactly. */
	long_password[INBOUND_BASIC_TOKEN_MAX / 4 * 3 - strlen(USER) - 1] =
		'\0';
	is_int(inbound_credentials_set(&c, USER, long_password, &e), 0,
	       "credentials_set: longest password");
	free(long_password);
}

/* ----------------------------------------------------- X-Forwarded-For */

static struct cidr_list trusted;

static const char *
client(const char *peer, const char *forwarded_for)
{
	static char out[64];

	inbound_client_address(&trusted, peer, forwarded_for, out,
			       sizeof(out));
	return out;
}

static void
test_forwarded_untrusted(void)
{
	struct cidr_list none = { NULL, 0 };
	char out[64];

	inbound_client_address(&none, "198.51.100.7", "203.0.113.9", out,
			       sizeof(out));
	is_str(out, "198.51.100.7", "xff: no trusted_proxies ignores XFF");
	is_str(client("198.51.100.7", "203.0.113.9"), "198.51.100.7",
	       "xff: untrusted peer ignores XFF");
	is_str(client("198.51.100.7", "10.0.0.9"), "198.51.100.7",
	       "xff: untrusted peer cannot claim a proxy address");
	is_str(client("10.0.0.5", NULL), "10.0.0.5",
	       "xff: trusted peer without XFF");
	is_str(client("10.0.0.5", ""), "10.0.0.5",
	       "xff: trusted peer with empty XFF");
}

static void
test_forwarded_trusted(void)
{
	is_str(client("10.0.0.5", "203.0.113.9"), "203.0.113.9",
	       "xff: one hop");
	is_str(client("10.0.0.5", "203.0.113.9, 10.1.1.1, 10.2.2.2"),
	       "203.0.113.9", "xff: chain of trusted proxies");
	is_str(client("10.0.0.5", "6.6.6.6, 203.0.113.9"), "203.0.113.9",
	       "xff: spoofed leftmost entry ignored");
	is_str(client("10.0.0.5", "10.9.9.9, 192.0.2.1, 203.0.113.9"),
	       "203.0.113.9", "xff: spoofed trusted-looking entries ignored");
	is_str(client("10.0.0.5", "203.0.113.9,10.1.1.1"), "203.0.113.9",
	       "xff: joined headers without spaces");
	is_str(client("10.0.0.5", "10.1.1.1, 10.2.2.2"), "10.1.1.1",
	       "xff: all trusted gives the leftmost");
	is_str(client("10.0.0.5", " \t203.0.113.9\t "), "203.0.113.9",
	       "xff: whitespace around an entry");
	is_str(client("10.0.0.5", "203.0.113.9, , 10.1.1.1"), "203.0.113.9",
	       "xff: empty element skipped");
	is_str(client("10.0.0.5", "203.0.113.9,"), "203.0.113.9",
	       "xff: trailing comma");
	is_str(client("10.0.0.5", "203.000.113.009"), "10.0.0.5",
	       "xff: leading zeros are malformed");
}

static void
test_forwarded_ipv6(void)
{
	is_str(client("2001:db8::1", "2001:0DB9:0000::0001"), "2001:db9::1",
	       "xff: IPv6 client in canonical form");
	is_str(client("2001:db8::1", "2001:db9::1, 2001:db8:ffff::2"),
	       "2001:db9::1", "xff: IPv6 trusted chain");
	is_str(client("2001:db9::1", "203.0.113.9"), "2001:db9::1",
	       "xff: untrusted IPv6 peer");
	is_str(client("::ffff:10.0.0.5", "203.0.113.9"), "203.0.113.9",
	       "xff: IPv4-mapped peer is trusted");
	is_str(client("10.0.0.5", "203.0.113.9, ::ffff:10.1.1.1"),
	       "203.0.113.9", "xff: IPv4-mapped hop is trusted");
	is_str(client("10.0.0.5", "::ffff:203.0.113.9"), "::ffff:203.0.113.9",
	       "xff: IPv4-mapped client kept");
}

static void
test_forwarded_garbage(void)
{
	is_str(client("10.0.0.5", "garbage"), "10.0.0.5",
	       "xff: garbage keeps the peer");
	is_str(client("10.0.0.5", "203.0.113.9, garbage"), "10.0.0.5",
	       "xff: garbage on the right stops the walk");
	is_str(client("10.0.0.5", "203.0.113.9, junk, 10.1.1.1"), "10.1.1.1",
	       "xff: garbage stops at the last trusted hop");
	is_str(client("10.0.0.5", "garbage, 203.0.113.9"), "203.0.113.9",
	       "xff: garbage left of the client is never read");
	is_str(client("10.0.0.5", "203.0.113.9:443"), "10.0.0.5",
	       "xff: address with port is malformed");
	is_str(client("10.0.0.5", "[2001:db9::1]"), "10.0.0.5",
	       "xff: bracketed IPv6 is malformed");
	is_str(client("10.0.0.5", "fe80::1%eth0"), "10.0.0.5",
	       "xff: zone id is malformed");
	is_str(client("10.0.0.5", "unknown"), "10.0.0.5",
	       "xff: unknown is malformed");
	is_str(client("10.0.0.5", "1111:2222:3333:4444:5555:6666:7777:8888:"
		      "9999:aaaa"), "10.0.0.5", "xff: overlong entry");
	is_str(client("10.0.0.5", "203.0.113.9\r\nX-Evil: 1"), "10.0.0.5",
	       "xff: control characters are malformed");
}

/* ------------------------------------------------------- allowed_sources */

static void
test_policy(void)
{
	struct relay_config cfg;
	struct inbound_policy policy;
	struct err e;

	if (config_init_defaults(&cfg) != 0) {
		printf("Bail out! config_init_defaults failed\n");
		exit(1);
	}
	err_clear(&e);
	is_int(inbound_policy_init(&policy, &cfg, &e), 0,
	       "policy: defaults");
	ok(!policy.credentials.enabled, "policy: no auth by default");
	ok(inbound_source_allowed(&policy, "192.0.2.1"),
	   "policy: any source by default");
	ok(inbound_source_allowed(&policy, "unknown"),
	   "policy: even an unknown source by default");
	inbound_policy_free(&policy);

	cfg.basic_auth_user = strdup(USER);
	cfg.basic_auth_password = strdup(PASSWORD);
	cfg.allowed_sources = strdup("10.0.0.0/8, 2001:db8::/32 192.0.2.7");
	cfg.trusted_proxies = strdup("172.16.0.1");
	is_int(inbound_policy_init(&policy, &cfg, &e), 0, "policy: all set");
	ok(policy.credentials.enabled, "policy: auth enabled");
	is_int(inbound_check_basic(&policy.credentials,
				   basic_header(USER ":" PASSWORD), NULL),
	       INBOUND_AUTH_OK, "policy: configured credentials match");
	is_int((long long)policy.trusted_proxies.count, 1,
	       "policy: one trusted proxy");
	ok(inbound_source_allowed(&policy, "10.200.3.4"),
	   "allowed: inside 10.0.0.0/8");
	ok(inbound_source_allowed(&policy, "::ffff:10.200.3.4"),
	   "allowed: IPv4-mapped inside 10.0.0.0/8");
	ok(inbound_source_allowed(&policy, "192.0.2.7"),
	   "allowed: single address");
	ok(!inbound_source_allowed(&policy, "192.0.2.8"),
	   "allowed: next address rejected");
	ok(!inbound_source_allowed(&policy, "11.0.0.1"),
	   "allowed: outside 10.0.0.0/8 rejected");
	ok(!inbound_source_allowed(&policy, "127.0.0.1"),
	   "allowed: loopback rejected");
	ok(inbound_source_allowed(&policy, "2001:db8:1::5"),
	   "allowed: inside 2001:db8::/32");
	ok(!inbound_source_allowed(&policy, "2001:db9::5"),
	   "allowed: outside 2001:db8::/32 rejected");
	ok(!inbound_source_allowed(&policy, "unknown"),
	   "allowed: unknown address rejected");
	inbound_policy_free(&policy);

	free(cfg.trusted_proxies);
	cfg.trusted_proxies = strdup("10.0.0.0/8, not-an-address");
	err_clear(&e);
	is_int(inbound_policy_init(&policy, &cfg, &e), -1,
	       "policy: bad trusted_proxies");
	ok(strstr(e.msg, "trusted_proxies") != NULL &&
	   strstr(e.msg, "not-an-address") != NULL,
	   "policy: message names option and entry");

	free(cfg.basic_auth_password);
	cfg.basic_auth_password = NULL;
	err_clear(&e);
	is_int(inbound_policy_init(&policy, &cfg, &e), -1,
	       "policy: user without password");
	config_free(&cfg);
}

/* ------------------------------------------------------------------ cidr */

static void
test_cidr(void)
{
	struct cidr c;
	struct cidr_list list = { NULL, 0 };
	struct buf why;

	buf_init(&why, 256);
	is_int(cidr_parse("192.0.2.77/24", &c, &why), 0, "cidr: IPv4 block");
	is_int(c.prefix, 24, "cidr: IPv4 prefix");
	is_int(c.addr[3], 0, "cidr: host bits cleared");
	is_int(cidr_parse("192.0.2.1", &c, NULL), 0, "cidr: bare IPv4");
	is_int(c.prefix, 32, "cidr: bare IPv4 is /32");
	is_int(cidr_parse("2001:db8::ff/120", &c, NULL), 0, "cidr: IPv6");
	ok(c.ipv6 && c.addr[15] == 0, "cidr: IPv6 host bits cleared");
	is_int(cidr_parse("192.0.2.0/33", &c, NULL), -1, "cidr: /33 rejected");
	is_int(cidr_parse("2001:db8::/129", &c, NULL), -1,
	       "cidr: /129 rejected");
	is_int(cidr_parse("192.0.2.0/", &c, NULL), -1,
	       "cidr: empty prefix rejected");
	is_int(cidr_parse("192.0.2.0/-1", &c, NULL), -1,
	       "cidr: negative prefix rejected");
	is_int(cidr_parse("example.com", &c, NULL), -1,
	       "cidr: host name rejected");

	is_int(cidr_list_parse("0.0.0.0/0", &list, NULL), 0, "cidr: /0");
	ok(cidr_list_contains(&list, "203.0.113.9"), "cidr: /0 has IPv4");
	ok(!cidr_list_contains(&list, "2001:db8::1"),
	   "cidr: IPv4 /0 lacks IPv6");
	is_int(cidr_list_parse("10.0.0.0/9,2001:db8::/32", &list, NULL), 0,
	       "cidr: list");
	ok(cidr_list_contains(&list, "10.127.255.255"),
	   "cidr: last address of /9");
	ok(!cidr_list_contains(&list, "10.128.0.0"), "cidr: beyond /9");
	ok(!cidr_list_contains(&list, NULL), "cidr: NULL address");
	ok(!cidr_list_contains(&list, "10.0.0.1/32"),
	   "cidr: block is not an address");
	buf_reset(&why);
	is_int(cidr_list_parse("10.0.0.0/8, 300.0.0.1", &list, &why), -1,
	       "cidr: bad entry in list");
	ok(why.data != NULL && strstr(why.data, "300.0.0.1") != NULL,
	   "cidr: reason names the entry");
	is_int((long long)list.count, 0, "cidr: failed list is empty");
	cidr_list_free(&list);
	buf_free(&why);
}

int
main(void)
{
	struct err e;

	err_clear(&e);
	if (inbound_credentials_set(&creds, USER, PASSWORD, &e) != 0) {
		printf("Bail out! %s\n", e.msg);
		return 1;
	}
	if (cidr_list_parse("10.0.0.0/8, 2001:db8::/32", &trusted, NULL)) {
		printf("Bail out! cannot parse the trusted list\n");
		return 1;
	}
	test_basic_accepts();
	test_basic_missing_and_scheme();
	test_basic_base64();
	test_basic_credentials();
	test_basic_colon_in_password();
	test_credentials_set();
	test_forwarded_untrusted();
	test_forwarded_trusted();
	test_forwarded_ipv6();
	test_forwarded_garbage();
	test_policy();
	test_cidr();
	cidr_list_free(&trusted);
	return tap_done();
}
