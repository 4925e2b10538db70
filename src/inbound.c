/*
 * Inbound checks on the SNS endpoint; see include/snsrelay/inbound.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "snsrelay/buf.h"
#include "snsrelay/inbound.h"

/* Bytes that INBOUND_BASIC_TOKEN_MAX characters of base64 decode to. */
#define INBOUND_BASIC_DECODED_MAX (INBOUND_BASIC_TOKEN_MAX / 4 * 3)

static int
inbound_sha256(const void *data, size_t len,
	       unsigned char digest[SHA256_DIGEST_LENGTH])
{
	unsigned int out_len = 0;

	if (EVP_Digest(data, len, digest, &out_len, EVP_sha256(), NULL) != 1 ||
	    out_len != SHA256_DIGEST_LENGTH)
		return -1;
	return 0;
}

int
inbound_credentials_set(struct inbound_credentials *credentials,
			const char *user, const char *password,
			struct err *e)
{
	memset(credentials, 0, sizeof(*credentials));
	if (user == NULL && password == NULL)
		return 0;
	if (user == NULL || password == NULL) {
		err_set(e, "auth_config_invalid",
			"HTTP Basic authentication needs both basic_auth_user "
			"and a password");
		return -1;
	}
	/* The +1 is the colon between user and password. */
	if (strlen(user) + 1 + strlen(password) > INBOUND_BASIC_DECODED_MAX) {
		err_set(e, "auth_config_invalid",
			"basic_auth_user and its password together exceed %d "
			"bytes; choose a shorter password",
			INBOUND_BASIC_DECODED_MAX - 1);
		return -1;
	}
	if (inbound_sha256(user, strlen(user),
			   credentials->user_digest) != 0 ||
	    inbound_sha256(password, strlen(password),
			   credentials->password_digest) != 0) {
		err_set(e, "auth_config_invalid",
			"SHA-256 is not available from OpenSSL");
		return -1;
	}
	credentials->enabled = true;
	return 0;
}

/* Parses one address list option; text NULL leaves list empty. */
static int
inbound_parse_list(const char *option, const char *text,
		   struct cidr_list *list, struct err *e)
{
	struct buf why;
	int rc = 0;

	if (text == NULL)
		return 0;
	buf_init(&why, 256);
	if (cidr_list_parse(text, list, &why) != 0) {
		err_set(e, "config_invalid", "%s: %s", option,
			why.data != NULL ? why.data : "invalid list");
		rc = -1;
	}
	buf_free(&why);
	return rc;
}

int
inbound_policy_init(struct inbound_policy *policy,
		    const struct relay_config *cfg, struct err *e)
{
	memset(policy, 0, sizeof(*policy));
	if (inbound_credentials_set(&policy->credentials,
				    cfg->basic_auth_user,
				    cfg->basic_auth_password, e) != 0)
		return -1;
	policy->restrict_sources = cfg->allowed_sources != NULL;
	if (inbound_parse_list("allowed_sources", cfg->allowed_sources,
			       &policy->allowed_sources, e) != 0 ||
	    inbound_parse_list("trusted_proxies", cfg->trusted_proxies,
			       &policy->trusted_proxies, e) != 0) {
		inbound_policy_free(policy);
		return -1;
	}
	return 0;
}

void
inbound_policy_free(struct inbound_policy *policy)
{
	cidr_list_free(&policy->allowed_sources);
	cidr_list_free(&policy->trusted_proxies);
	OPENSSL_cleanse(&policy->credentials, sizeof(policy->credentials));
}

/* ------------------------------------------------------------ Basic */

static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decodes padded base64 (RFC 4648, section 4) with nothing else in it:
 * no whitespace, no URL-safe alphabet, '=' only as the padding of the
 * last group, and zero bits after the last byte, so that each byte
 * string has exactly one accepted encoding.  out must have room for
 * len / 4 * 3 bytes.  Returns the decoded length, or -1.
 */
static long
base64_decode_strict(const char *in, size_t len, unsigned char *out)
{
	size_t i, j, n = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		unsigned long group = 0;
		unsigned pad = 0;
		int v;

		for (j = 0; j < 4; j++) {
			if (in[i + j] == '=' && last && j >= 2) {
				pad++;
				group <<= 6;
				continue;
			}
			v = base64_value((unsigned char)in[i + j]);
			if (v < 0 || pad > 0)
				return -1;
			group = group << 6 | (unsigned long)v;
		}
		/* The padded group's unused low bits must be zero. */
		if ((pad == 1 && (group & 0xff) != 0) ||
		    (pad == 2 && (group & 0xffff) != 0))
			return -1;
		out[n++] = (unsigned char)(group >> 16);
		if (pad < 2)
			out[n++] = (unsigned char)(group >> 8);
		if (pad < 1)
			out[n++] = (unsigned char)group;
	}
	return (long)n;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Finds the credentials token of a Basic header: "Basic", spaces or
 * tabs, the token, optional trailing whitespace.  Returns 0 with the
 * token in *token and *len, or -1 with the reason in *why.
 */
static int
basic_token(const char *header, const char **token, size_t *len,
	    const char **why)
{
	const char *p = header;
	size_t n;

	while (is_ows(*p))
		p++;
	if (strncasecmp(p, "Basic", 5) != 0 ||
	    (!is_ows(p[5]) && p[5] != '\0')) {
		*why = "the Authorization scheme is not Basic";
		return -1;
	}
	p += 5;
	while (is_ows(*p))
		p++;
	n = strcspn(p, " \t");
	if (n == 0) {
		*why = "the Basic credentials are empty";
		return -1;
	}
	if (p[n + strspn(p + n, " \t")] != '\0') {
		*why = "the Basic credentials contain whitespace";
		return -1;
	}
	if (n > INBOUND_BASIC_TOKEN_MAX) {
		*why = "the Basic credentials are too long";
		return -1;
	}
	*token = p;
	*len = n;
	return 0;
}

/* Compares decoded "user:password" with the configured digests.  Both
 * digests are always computed and compared, so the time spent does not
 * tell a wrong user from a wrong password. */
static bool
basic_matches(const struct inbound_credentials *credentials,
	      const unsigned char *decoded, size_t len, size_t colon)
{
	unsigned char user[SHA256_DIGEST_LENGTH];
	unsigned char password[SHA256_DIGEST_LENGTH];
	int diff;

	if (inbound_sha256(decoded, colon, user) != 0 ||
	    inbound_sha256(decoded + colon + 1, len - colon - 1,
			   password) != 0)
		return false;
	diff = CRYPTO_memcmp(user, credentials->user_digest, sizeof(user));
	diff |= CRYPTO_memcmp(password, credentials->password_digest,
			      sizeof(password));
	OPENSSL_cleanse(password, sizeof(password));
	return diff == 0;
}

enum inbound_auth
inbound_check_basic(const struct inbound_credentials *credentials,
		    const char *authorization, const char **why)
{
	unsigned char decoded[INBOUND_BASIC_DECODED_MAX];
	const char *reason = NULL;
	const char *token;
	const unsigned char *colon;
	size_t token_len;
	long len;
	enum inbound_auth result = INBOUND_AUTH_BAD;

	if (!credentials->enabled)
		return INBOUND_AUTH_OK;
	if (authorization == NULL) {
		if (why != NULL)
			*why = "no Authorization header";
		return INBOUND_AUTH_MISSING;
	}
	if (basic_token(authorization, &token, &token_len, &reason) != 0)
		goto done;
	len = base64_decode_strict(token, token_len, decoded);
	if (len < 0) {
		/* The groups before the invalid one were decoded. */
		OPENSSL_cleanse(decoded, token_len / 4 * 3);
		reason = "the Basic credentials are not valid base64";
		goto done;
	}
	colon = memchr(decoded, ':', (size_t)len);
	if (colon == NULL) {
		reason = "the Basic credentials have no colon between user "
			"and password";
	} else if (!basic_matches(credentials, decoded, (size_t)len,
				  (size_t)(colon - decoded))) {
		reason = "wrong user name or password";
	} else {
		result = INBOUND_AUTH_OK;
	}
	OPENSSL_cleanse(decoded, (size_t)len);
done:
	if (why != NULL && reason != NULL)
		*why = reason;
	return result;
}

/* ------------------------------------------------- X-Forwarded-For */

/*
 * Parses one X-Forwarded-For element [text, text + len) into hop, in
 * canonical form.  Returns 0, 1 for an empty element (RFC 9110 lets
 * lists contain them), or -1 when it is not a bare numeric address:
 * ports, brackets, zone ids and host names are all rejected.
 */
static int
forwarded_hop(const char *text, size_t len, char *hop, size_t size)
{
	char copy[INET6_ADDRSTRLEN];
	unsigned char addr[16];

	while (len > 0 && is_ows(*text)) {
		text++;
		len--;
	}
	while (len > 0 && is_ows(text[len - 1]))
		len--;
	if (len == 0)
		return 1;
	if (len >= sizeof(copy))
		return -1;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (inet_pton(AF_INET, copy, addr) == 1)
		return inet_ntop(AF_INET, addr, hop, (socklen_t)size) ? 0 : -1;
	if (inet_pton(AF_INET6, copy, addr) == 1)
		return inet_ntop(AF_INET6, addr, hop, (socklen_t)size) ? 0 :
			-1;
	return -1;
}

void
inbound_client_address(const struct cidr_list *trusted_proxies,
		       const char *peer, const char *forwarded_for,
		       char *out, size_t size)
{
	char hop[INET6_ADDRSTRLEN];
	size_t start, end;
	int rc;

	snprintf(out, size, "%s", peer);
	if (trusted_proxies == NULL || trusted_proxies->count == 0 ||
	    forwarded_for == NULL ||
	    !cidr_list_contains(trusted_proxies, peer))
		return;
	/* Each proxy appends the address it received the request from,
	 * so the peer vouches for the rightmost element only.  An element
	 * further left is only as good as the hop that added it. */
	end = strlen(forwarded_for);
	for (;;) {
		start = end;
		while (start > 0 && forwarded_for[start - 1] != ',')
			start--;
		rc = forwarded_hop(forwarded_for + start, end - start, hop,
				   sizeof(hop));
		/* A malformed element stops the walk, and out keeps the
		 * last trusted hop: nothing left of it can be believed, and
		 * the trusted hop is the nearest address known to be real. */
		if (rc < 0)
			return;
		if (rc == 0) {
			snprintf(out, size, "%s", hop);
			if (!cidr_list_contains(trusted_proxies, hop))
				return;
		}
		if (start == 0)
			return;
		end = start - 1;
	}
}

bool
inbound_source_allowed(const struct inbound_policy *policy,
		       const char *client)
{
	if (!policy->restrict_sources)
		return true;
	return cidr_list_contains(&policy->allowed_sources, client);
}
