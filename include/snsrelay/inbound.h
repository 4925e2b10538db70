/*
 * Inbound checks on POSTs to the SNS endpoint, independent of the HTTP
 * server: the client address behind trusted proxies (X-Forwarded-For),
 * the allowed_sources list, and HTTP Basic authentication (RFC 7617).
 *
 *   struct inbound_policy policy;
 *   inbound_policy_init(&policy, cfg, &e);
 *   inbound_client_address(&policy.trusted_proxies, peer, xff,
 *                          client, sizeof(client));
 *   if (!inbound_source_allowed(&policy, client)) -> 403
 *   if (inbound_check_basic(&policy.credentials, authorization, &why)
 *       != INBOUND_AUTH_OK) -> 401
 */
#ifndef SNSRELAY_INBOUND_H
#define SNSRELAY_INBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/sha.h>

#include "snsrelay/cidr.h"
#include "snsrelay/config.h"
#include "snsrelay/err.h"

/* Maximum length of the base64 credentials token of an Authorization
 * header.  It decodes to at most 3072 bytes of "user:password". */
#define INBOUND_BASIC_TOKEN_MAX 4096

enum inbound_auth {
	INBOUND_AUTH_OK = 0,
	INBOUND_AUTH_MISSING,	/* no Authorization header */
	INBOUND_AUTH_BAD,	/* malformed, another scheme, or wrong */
};

/* The configured Basic credentials as SHA-256 digests, so the time a
 * comparison takes depends neither on the configured lengths nor on how
 * many leading bytes match. */
struct inbound_credentials {
	bool enabled;		/* false: no authentication required */
	unsigned char user_digest[SHA256_DIGEST_LENGTH];
	unsigned char password_digest[SHA256_DIGEST_LENGTH];
};

struct inbound_policy {
	struct inbound_credentials credentials;
	bool restrict_sources;		/* false: any source may post */
	struct cidr_list allowed_sources;
	struct cidr_list trusted_proxies;	/* empty: XFF is ignored */
};

/* Builds the policy from basic_auth_user, basic_auth_password (already
 * read from its file by config_read_secrets), allowed_sources and
 * trusted_proxies.  Returns 0, or -1 with the reason in e. */
int inbound_policy_init(struct inbound_policy *policy,
			const struct relay_config *cfg, struct err *e);
void inbound_policy_free(struct inbound_policy *policy);

/* Stores the digests of user and password; both NULL disables the
 * check.  Returns 0, or -1 with the reason in e when only one is set or
 * "user:password" is longer than INBOUND_BASIC_TOKEN_MAX decodes to. */
int inbound_credentials_set(struct inbound_credentials *credentials,
			    const char *user, const char *password,
			    struct err *e);

/*
 * Checks an Authorization header value (NULL when the header is absent)
 * against the credentials: scheme "Basic" in any case, one token of
 * padded base64, decoding to user:password split at the first colon.
 * Returns INBOUND_AUTH_OK when the credentials are disabled or match.
 * For any other result, *why (when why is not NULL) points to a static
 * reason that is safe to log, because it never contains header bytes.
 */
enum inbound_auth inbound_check_basic(
	const struct inbound_credentials *credentials,
	const char *authorization, const char **why);

/*
 * Writes the client address to out: the peer address, unless the peer
 * is in trusted_proxies.  Then forwarded_for (the X-Forwarded-For
 * values, several headers joined with commas) is read from the right,
 * skipping addresses in trusted_proxies.  The first other address is the
 * client.  When every address is trusted, the leftmost one is.  An
 * element that is not a bare numeric address stops the walk at the
 * last trusted hop.  A forwarded address is written in the canonical
 * form of inet_ntop(3).  out should hold INET6_ADDRSTRLEN bytes.
 */
void inbound_client_address(const struct cidr_list *trusted_proxies,
			    const char *peer, const char *forwarded_for,
			    char *out, size_t size);

/* True when allowed_sources is unset or contains client. */
bool inbound_source_allowed(const struct inbound_policy *policy,
			    const char *client);

#endif
