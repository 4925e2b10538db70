/*
 * Signing certificates: fetched from SNS over verified TLS, or read from a
 * directory of pre-seeded PEM files, checked, and cached as public keys.
 *
 * A certificate is accepted when the PEM holds exactly one certificate,
 * its subject alternative names (or CN) include a name SNS signs with
 * (sns.amazonaws.com, sns-signing.<region>.amazonaws.com, and the China
 * and GovCloud names), its key is RSA of at least 2048 bits, and now lies
 * within its validity period.  The dates are checked on every use,
 * including cache hits.  The chain is not verified, because SNS serves the
 * leaf only: trust comes from fetching over verified TLS from the host
 * that sns_url_check_cert allows.
 *
 * The cache is bounded (least recently used entry evicted) and
 * thread-safe: concurrent requests for a URL that is not cached yet share
 * one load.  Against floods of forged messages that each name a new
 * certificate URL:
 *   - a URL whose download or checks failed gets the same failure from
 *     a second, bounded cache for failure_ttl_s, without a new download.
 *     A transient failure (RESULT_RETRY) is cached for at most 10 s, so
 *     that the retries SNS sends 20 s apart try the download again;
 *   - downloads from the network, all hosts together, are limited to
 *     fetches_per_minute, with bursts of up to 5; a call that needs one
 *     beyond that fails with RESULT_RETRY and code
 *     "cert_fetch_rate_limited", without any network request, so that
 *     SNS retries the message later.  Reads from the seed directory are
 *     not limited.
 */
#ifndef SNSRELAY_CERT_CACHE_H
#define SNSRELAY_CERT_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "snsrelay/err.h"

/* Failures kept when cert_cache_options.failure_capacity is 0; each
 * takes well under 1 KiB because certificate URLs are short. */
#define CERT_FAILURES_DEFAULT 1024

struct cert_cache_options {
	size_t capacity;		/* entries; at least 1 */
	const char *seed_dir;		/* NULL: no pre-seeded certificates */
	const char *ca_file;		/* NULL: system CA store */
	unsigned fetch_timeout_ms;	/* whole fetch, connect included */
	unsigned fetches_per_minute;	/* network downloads; 0: no limit */
	unsigned failure_ttl_s;		/* 0: failures are not cached */
	size_t failure_capacity;	/* 0: CERT_FAILURES_DEFAULT */
	/* Monotonic clock in ms for the two above; NULL: CLOCK_MONOTONIC.
	 * For tests. */
	int64_t (*clock_ms)(void);
};

struct cert_cache_stats {
	uint64_t hits;			/* answered from the cached keys */
	uint64_t negative_hits;		/* answered from cached failures */
	uint64_t misses;		/* needed a load */
	uint64_t fetches;		/* network downloads */
	uint64_t fetch_failures;	/* downloads or checks that failed */
	uint64_t rate_limited;		/* downloads refused by the budget */
	uint64_t seeded_loads;
	uint64_t entries;		/* keys cached now */
	uint64_t failure_entries;	/* failures cached now */
};

struct cert_cache;

/* Copies the strings it needs from opts.  Returns NULL when memory is
 * short. */
struct cert_cache *cert_cache_new(const struct cert_cache_options *opts);
void cert_cache_free(struct cert_cache *cache);

/*
 * Returns in *key a new reference (EVP_PKEY_free it) to the public key of
 * the certificate at url, which the caller has already checked with
 * sns_url_check_cert.  topic_region selects the accepted signing names.
 * The cache is tried first, then the seed directory (by the URL's file
 * name), then the network; a key loaded from either is cached.
 *
 * RESULT_RETRY (code "cert_fetch_failed"): network error, timeout, or an
 * HTTP status other than 200 and 404.  RESULT_RETRY (code
 * "cert_fetch_rate_limited"): a download was needed and the budget has
 * none left.  RESULT_REJECT (code "cert_invalid"): a 404, or a body that
 * fails the certificate checks above.  A cached failure returns the
 * result and code of the original one.
 */
int cert_cache_get(struct cert_cache *cache, const char *url,
		   const char *topic_region, time_t now, EVP_PKEY **key,
		   struct err *e);

/*
 * Checks one PEM document against the rules above and returns its public
 * key.  Exposed for tests and for the pre-seeded directory.
 */
int cert_check_pem(const char *pem, size_t len, const char *topic_region,
		   time_t now, EVP_PKEY **key, time_t *not_after,
		   struct err *e);

void cert_cache_get_stats(struct cert_cache *cache,
			  struct cert_cache_stats *out);

#endif
