#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "snsrelay/buf.h"
#include "snsrelay/cert_cache.h"
#include "snsrelay/http_client.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/metrics.h"
#include "snsrelay/sns_url.h"

#define CERT_INVALID "cert_invalid"
#define CERT_FETCH_FAILED "cert_fetch_failed"
#define CERT_FETCH_RATE_LIMITED "cert_fetch_rate_limited"
#define CERT_MIN_RSA_BITS 2048
#define CERT_NAME_MAX 128
#define CERT_REGION_MAX 32
/* Downloads allowed at once before the per-minute rate applies. */
#define CERT_FETCH_BURST 5
/* Interval between two cert_fetch_rate_limited lines. */
#define CERT_RATE_LOG_MS 60000
/* Maximum time a transient failure (network, timeout, 5xx) is cached.
 * SNS's default HTTP/S delivery policy retries 3 times, 20 s apart, so
 * each retry must find the failure expired. */
#define CERT_TRANSIENT_TTL_MS 10000
#define CERT_BUCKETS_MAX ((size_t)1 << 16)

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char pem_end[] = "-----END CERTIFICATE-----";

/* A checked certificate: its key and validity period. */
struct cert_key {
	EVP_PKEY *key;
	time_t not_before;
	time_t not_after;
};

/* A cached key, or a cached failure to load one. */
struct cert_entry {
	char *url;
	uint32_t hash;			/* cert_hash of url */
	struct cert_entry *prev;	/* towards the most recently used */
	struct cert_entry *next;
	struct cert_entry *chain;	/* next in the same hash bucket */
	struct cert_key cert;		/* a key entry */
	int result;			/* a failure entry: the outcome, */
	struct err err;			/* its reason, */
	int64_t expires_ms;		/* and when it is forgotten */
};

/* Entries in least recently used order, indexed by a hash of the URL. */
struct cert_table {
	struct cert_entry **buckets;
	size_t bucket_count;		/* a power of two */
	size_t capacity;		/* entries; the oldest is evicted */
	size_t count;
	struct cert_entry *head;	/* most recently used */
	struct cert_entry *tail;
};

/* One load of a URL that is not cached yet, shared by every caller that
 * asks for that URL while it runs. */
struct cert_flight {
	char *url;
	uint32_t hash;
	bool done;
	int result;
	struct err err;
	struct cert_key cert;
	unsigned users;			/* the loader and its waiters */
	pthread_cond_t cond;
	struct cert_flight *next;
};

/* The global download rate; see cert_budget_take. */
struct cert_fetch_budget {
	unsigned per_minute;		/* 0: no limit */
	int64_t interval_us;		/* between two downloads */
	int64_t tolerance_us;		/* (burst - 1) intervals */
	int64_t next_us;		/* when the bucket is full again */
	uint64_t refused;		/* since the last log line */
	int64_t logged_ms;		/* time of that line; -1: none yet */
};

/* Source of a loaded PEM document, counted in the statistics. */
enum cert_source {
	SOURCE_NONE = 0,
	SOURCE_SEED,
	SOURCE_NETWORK,
};

struct cert_cache {
	pthread_mutex_t lock;
	bool lock_ready;
	struct cert_table keys;		/* checked certificates */
	struct cert_table failures;	/* URLs that failed recently */
	struct cert_flight *flights;
	uint32_t hash_seed;		/* random, against chosen collisions */
	char *seed_dir;
	char *ca_file;
	unsigned fetch_timeout_ms;
	int64_t failure_ttl_ms;		/* 0: failures are not kept */
	struct cert_fetch_budget budget;
	int64_t (*clock_ms)(void);	/* monotonic */
	struct cert_cache_stats stats;
};

static bool
cert_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
cert_is_base64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

static size_t
cert_skip_space(const char *pem, size_t i, size_t len)
{
	while (i < len && cert_is_space(pem[i]))
		i++;
	return i;
}

/* Checks that pem is one CERTIFICATE block with only whitespace around
 * it: no PEM headers, no second certificate, no other block. */
static int
cert_check_layout(const char *pem, size_t len, struct err *e)
{
	size_t begin_len = sizeof(pem_begin) - 1;
	size_t end_len = sizeof(pem_end) - 1;
	size_t i = cert_skip_space(pem, 0, len);

	if (len - i < begin_len || memcmp(pem + i, pem_begin, begin_len)) {
		err_set(e, CERT_INVALID, "the certificate file does not "
			"start with a BEGIN CERTIFICATE line");
		return RESULT_REJECT;
	}
	for (i += begin_len; i < len && pem[i] != '-'; i++) {
		if (!cert_is_base64(pem[i]) && !cert_is_space(pem[i])) {
			err_set(e, CERT_INVALID, "the certificate block "
				"holds a byte that is not base64 at offset "
				"%zu", i);
			return RESULT_REJECT;
		}
	}
	if (len - i < end_len || memcmp(pem + i, pem_end, end_len) != 0) {
		err_set(e, CERT_INVALID, "the certificate block does not "
			"end with an END CERTIFICATE line");
		return RESULT_REJECT;
	}
	if (cert_skip_space(pem, i + end_len, len) != len) {
		err_set(e, CERT_INVALID, "the certificate file contains data "
			"after its END CERTIFICATE line; exactly one "
			"certificate is expected");
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

/* Decodes the single block; the DER must be one certificate with no
 * trailing bytes. */
static X509 *
cert_decode(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	long der_len = 0;
	X509 *cert = NULL;

	if (bio == NULL ||
	    PEM_read_bio(bio, &name, &header, &der, &der_len) != 1 ||
	    strcmp(name, "CERTIFICATE") != 0 || header[0] != '\0')
		goto out;
	p = der;
	cert = d2i_X509(NULL, &p, der_len);
	if (cert != NULL && p != der + der_len) {
		X509_free(cert);
		cert = NULL;
	}
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	return cert;
}

static bool
cert_region_ok(const char *region)
{
	size_t n;

	if (region == NULL)
		return false;
	n = strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-");
	return n > 0 && n < CERT_REGION_MAX && region[n] == '\0';
}

static bool
cert_has_name(X509 *cert, const char *name)
{
	return X509_check_host(cert, name, strlen(name),
			       X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
}

/*
 * Checks the certificate names against those SNS signs with, per the AWS
 * SDK for Java v2 (SnsHostProvider): sns.amazonaws.com everywhere,
 * sns-signing.<region>.amazonaws.com in opt-in regions,
 * sns-<region>.amazonaws.com.cn in China, and
 * sns-us-gov-west-1.amazonaws.com in both GovCloud regions.
 */
static bool
cert_name_ok(X509 *cert, const char *region)
{
	char name[CERT_NAME_MAX];

	if (cert_has_name(cert, "sns.amazonaws.com"))
		return true;
	if (!cert_region_ok(region))
		return false;
	snprintf(name, sizeof(name), "sns-signing.%s.amazonaws.com", region);
	if (cert_has_name(cert, name))
		return true;
	if (strncmp(region, "cn-", 3) == 0) {
		snprintf(name, sizeof(name), "sns-%s.amazonaws.com.cn",
			 region);
		return cert_has_name(cert, name);
	}
	if (strncmp(region, "us-gov-", 7) == 0)
		return cert_has_name(cert, "sns-us-gov-west-1.amazonaws.com");
	return false;
}

static int
cert_check_names(X509 *cert, const char *region, struct err *e)
{
	char subject[CERT_NAME_MAX];

	if (cert_name_ok(cert, region))
		return RESULT_OK;
	X509_NAME_oneline(X509_get_subject_name(cert), subject,
			  sizeof(subject));
	err_set(e, CERT_INVALID, "certificate \"%s\" is not issued to an "
		"SNS signing name such as sns.amazonaws.com", subject);
	return RESULT_REJECT;
}

static int
cert_check_key(X509 *cert, struct err *e)
{
	EVP_PKEY *key = X509_get0_pubkey(cert);

	if (key == NULL || !EVP_PKEY_is_a(key, "RSA")) {
		err_set(e, CERT_INVALID, "the certificate key is not RSA");
		return RESULT_REJECT;
	}
	if (EVP_PKEY_get_bits(key) < CERT_MIN_RSA_BITS) {
		err_set(e, CERT_INVALID, "the certificate RSA key has %d "
			"bits, fewer than %d", EVP_PKEY_get_bits(key),
			CERT_MIN_RSA_BITS);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

static int
cert_asn1_to_time(const ASN1_TIME *asn1, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(asn1, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

static void
cert_format_time(time_t t, char *out, size_t out_size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, out_size, "%lld", (long long)t);
}

static int
cert_check_dates(X509 *cert, time_t now, struct cert_key *out,
		 struct err *e)
{
	const ASN1_TIME *before = X509_get0_notBefore(cert);
	const ASN1_TIME *after = X509_get0_notAfter(cert);
	char when[32];

	if (cert_asn1_to_time(before, &out->not_before) != 0 ||
	    cert_asn1_to_time(after, &out->not_after) != 0) {
		err_set(e, CERT_INVALID, "the certificate validity dates "
			"are invalid");
		return RESULT_REJECT;
	}
	/* X509_cmp_time: -1 when the time is at or before now, 1 after. */
	if (X509_cmp_time(before, &now) != -1) {
		cert_format_time(out->not_before, when, sizeof(when));
		err_set(e, CERT_INVALID, "the certificate is not valid "
			"before %s", when);
		return RESULT_REJECT;
	}
	if (X509_cmp_time(after, &now) != 1) {
		cert_format_time(out->not_after, when, sizeof(when));
		err_set(e, CERT_INVALID, "the certificate expired at %s",
			when);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

/* cert_check_pem with both validity dates returned, for the cache. */
static int
cert_check(const char *pem, size_t len, const char *region, time_t now,
	   struct cert_key *out, struct err *e)
{
	X509 *cert = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > LIMIT_CERT_BYTES) {
		err_set(e, CERT_INVALID, "the certificate file is %zu bytes, "
			"more than %d", len, LIMIT_CERT_BYTES);
		return RESULT_REJECT;
	}
	rc = cert_check_layout(pem, len, e);
	if (rc != RESULT_OK)
		return rc;
	cert = cert_decode(pem, len);
	if (cert == NULL) {
		err_set(e, CERT_INVALID, "the certificate is not valid DER "
			"inside its PEM block");
		rc = RESULT_REJECT;
		goto out;
	}

	rc = cert_check_names(cert, region, e);
	if (rc == RESULT_OK)
		rc = cert_check_key(cert, e);
	if (rc == RESULT_OK)
		rc = cert_check_dates(cert, now, out, e);
	if (rc == RESULT_OK)
		out->key = X509_get_pubkey(cert);
	if (rc == RESULT_OK && out->key == NULL) {
		err_set(e, "out_of_memory", "no memory for the key");
		rc = RESULT_RETRY;
	}
out:
	ERR_clear_error();
	X509_free(cert);
	return rc;
}

int
cert_check_pem(const char *pem, size_t len, const char *topic_region,
	       time_t now, EVP_PKEY **key, time_t *not_after, struct err *e)
{
	struct cert_key cert;
	int rc;

	*key = NULL;
	rc = cert_check(pem, len, topic_region, now, &cert, e);
	if (rc != RESULT_OK)
		return rc;
	*key = cert.key;
	if (not_after != NULL)
		*not_after = cert.not_after;
	return RESULT_OK;
}

static char *
cert_strdup(const char *s)
{
	size_t n;
	char *copy;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	copy = malloc(n);
	if (copy != NULL)
		memcpy(copy, s, n);
	return copy;
}

static int64_t
cert_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a over the URL, started from a per-cache random seed. */
static uint32_t
cert_hash(uint32_t seed, const char *url)
{
	uint32_t hash = 2166136261u ^ seed;

	for (; *url != '\0'; url++) {
		hash ^= (unsigned char)*url;
		hash *= 16777619u;
	}
	return hash;
}

static void
cert_entry_free(struct cert_entry *entry)
{
	EVP_PKEY_free(entry->cert.key);
	free(entry->url);
	free(entry);
}

static int
cert_table_init(struct cert_table *table, size_t capacity)
{
	size_t buckets = 16;

	while (buckets < capacity && buckets < CERT_BUCKETS_MAX)
		buckets <<= 1;
	table->buckets = calloc(buckets, sizeof(*table->buckets));
	if (table->buckets == NULL)
		return -1;
	table->bucket_count = buckets;
	table->capacity = capacity > 0 ? capacity : 1;
	return 0;
}

static void
cert_table_clear(struct cert_table *table)
{
	struct cert_entry *entry, *next;

	for (entry = table->head; entry != NULL; entry = next) {
		next = entry->next;
		cert_entry_free(entry);
	}
	free(table->buckets);
	memset(table, 0, sizeof(*table));
}

static struct cert_entry **
cert_table_bucket(const struct cert_table *table, uint32_t hash)
{
	return &table->buckets[hash & (table->bucket_count - 1)];
}

static struct cert_entry *
cert_table_find(const struct cert_table *table, const char *url,
		uint32_t hash)
{
	struct cert_entry *entry;

	for (entry = *cert_table_bucket(table, hash); entry != NULL;
	     entry = entry->chain) {
		if (entry->hash == hash && strcmp(entry->url, url) == 0)
			return entry;
	}
	return NULL;
}

static void
cert_lru_unlink(struct cert_table *table, struct cert_entry *entry)
{
	if (entry->prev != NULL)
		entry->prev->next = entry->next;
	else
		table->head = entry->next;
	if (entry->next != NULL)
		entry->next->prev = entry->prev;
	else
		table->tail = entry->prev;
	entry->prev = NULL;
	entry->next = NULL;
}

static void
cert_lru_push_front(struct cert_table *table, struct cert_entry *entry)
{
	entry->prev = NULL;
	entry->next = table->head;
	if (table->head != NULL)
		table->head->prev = entry;
	table->head = entry;
	if (table->tail == NULL)
		table->tail = entry;
}

static void
cert_table_touch(struct cert_table *table, struct cert_entry *entry)
{
	cert_lru_unlink(table, entry);
	cert_lru_push_front(table, entry);
}

static void
cert_table_remove(struct cert_table *table, struct cert_entry *entry)
{
	struct cert_entry **link = cert_table_bucket(table, entry->hash);

	while (*link != entry)
		link = &(*link)->chain;
	*link = entry->chain;
	cert_lru_unlink(table, entry);
	table->count--;
	cert_entry_free(entry);
}

/* Adds entry, evicting the least recently used one when full. */
static void
cert_table_add(struct cert_table *table, struct cert_entry *entry)
{
	struct cert_entry **bucket = cert_table_bucket(table, entry->hash);

	if (table->count >= table->capacity && table->tail != NULL)
		cert_table_remove(table, table->tail);
	entry->chain = *bucket;
	*bucket = entry;
	cert_lru_push_front(table, entry);
	table->count++;
}

static struct cert_entry *
cert_entry_new(const char *url, uint32_t hash)
{
	struct cert_entry *entry = calloc(1, sizeof(*entry));

	if (entry == NULL)
		return NULL;
	entry->url = cert_strdup(url);
	if (entry->url == NULL) {
		free(entry);
		return NULL;
	}
	entry->hash = hash;
	return entry;
}

static void
cert_budget_init(struct cert_fetch_budget *budget, unsigned per_minute)
{
	unsigned burst = per_minute < CERT_FETCH_BURST ? per_minute :
			 CERT_FETCH_BURST;

	memset(budget, 0, sizeof(*budget));
	budget->per_minute = per_minute;
	budget->logged_ms = -1;
	if (per_minute == 0)
		return;
	budget->interval_us = 60000000 / per_minute;
	budget->tolerance_us = (int64_t)(burst - 1) * budget->interval_us;
}

struct cert_cache *
cert_cache_new(const struct cert_cache_options *opts)
{
	struct cert_cache *cache = calloc(1, sizeof(*cache));
	size_t failures = opts->failure_capacity > 0 ?
			  opts->failure_capacity : CERT_FAILURES_DEFAULT;

	if (cache == NULL)
		return NULL;
	if (pthread_mutex_init(&cache->lock, NULL) != 0) {
		free(cache);
		return NULL;
	}
	cache->lock_ready = true;
	if (RAND_bytes((unsigned char *)&cache->hash_seed,
		       sizeof(cache->hash_seed)) != 1)
		cache->hash_seed = (uint32_t)time(NULL);
	ERR_clear_error();
	cache->fetch_timeout_ms = opts->fetch_timeout_ms;
	cache->failure_ttl_ms = (int64_t)opts->failure_ttl_s * 1000;
	cache->clock_ms = opts->clock_ms != NULL ? opts->clock_ms :
			  cert_monotonic_ms;
	cert_budget_init(&cache->budget, opts->fetches_per_minute);
	cache->seed_dir = cert_strdup(opts->seed_dir);
	cache->ca_file = cert_strdup(opts->ca_file);
	if ((opts->seed_dir != NULL && cache->seed_dir == NULL) ||
	    (opts->ca_file != NULL && cache->ca_file == NULL) ||
	    cert_table_init(&cache->keys, opts->capacity) != 0 ||
	    cert_table_init(&cache->failures, failures) != 0) {
		cert_cache_free(cache);
		return NULL;
	}
	return cache;
}

/* Frees the cache; no call to cert_cache_get may still be running. */
void
cert_cache_free(struct cert_cache *cache)
{
	if (cache == NULL)
		return;
	cert_table_clear(&cache->keys);
	cert_table_clear(&cache->failures);
	if (cache->lock_ready)
		pthread_mutex_destroy(&cache->lock);
	free(cache->seed_dir);
	free(cache->ca_file);
	free(cache);
}

void
cert_cache_get_stats(struct cert_cache *cache, struct cert_cache_stats *out)
{
	pthread_mutex_lock(&cache->lock);
	*out = cache->stats;
	out->entries = cache->keys.count;
	out->failure_entries = cache->failures.count;
	pthread_mutex_unlock(&cache->lock);
}

/* Adds a loaded key.  When memory is short the key is simply not
 * cached. */
static void
cert_keys_insert(struct cert_cache *cache, const char *url, uint32_t hash,
		 const struct cert_key *cert)
{
	struct cert_entry *entry = cert_entry_new(url, hash);

	if (entry == NULL)
		return;
	if (EVP_PKEY_up_ref(cert->key) != 1) {
		cert_entry_free(entry);
		return;
	}
	entry->cert = *cert;
	cert_table_add(&cache->keys, entry);
}

static int
cert_key_share(const struct cert_key *cert, EVP_PKEY **key, struct err *e)
{
	if (EVP_PKEY_up_ref(cert->key) != 1) {
		err_set(e, "out_of_memory", "cannot take a key reference");
		return RESULT_RETRY;
	}
	*key = cert->key;
	return RESULT_OK;
}

/*
 * Looks url up among the keys, with the lock held.  Returns RESULT_OK or
 * RESULT_REJECT (the dates no longer cover now) for a cached URL, and 1
 * for a miss.  The dates are checked on every hit because the caller's
 * now moves on while the entry stays.
 */
static int
cert_keys_lookup(struct cert_cache *cache, const char *url, uint32_t hash,
		 time_t now, EVP_PKEY **key, struct err *e)
{
	struct cert_entry *entry = cert_table_find(&cache->keys, url, hash);
	char when[32];

	if (entry == NULL)
		return 1;
	cache->stats.hits++;
	metrics_inc(METRIC_CERT_CACHE_HITS, NULL, NULL);
	cert_table_touch(&cache->keys, entry);

	if (now < entry->cert.not_before) {
		cert_format_time(entry->cert.not_before, when, sizeof(when));
		err_set(e, CERT_INVALID, "the certificate is not valid "
			"before %s", when);
		return RESULT_REJECT;
	}
	if (now >= entry->cert.not_after) {
		cert_format_time(entry->cert.not_after, when, sizeof(when));
		err_set(e, CERT_INVALID, "the certificate expired at %s",
			when);
		return RESULT_REJECT;
	}
	return cert_key_share(&entry->cert, key, e);
}

/* Failures worth caching: those of the certificate itself or of its
 * download.  A refused download or a lack of memory is no fault of the
 * URL. */
static bool
cert_failure_cacheable(const struct err *e)
{
	return strcmp(e->code, CERT_INVALID) == 0 ||
	       strcmp(e->code, CERT_FETCH_FAILED) == 0;
}

static int64_t
cert_failure_ttl_ms(const struct cert_cache *cache, int result)
{
	if (result == RESULT_RETRY &&
	    cache->failure_ttl_ms > CERT_TRANSIENT_TTL_MS)
		return CERT_TRANSIENT_TTL_MS;
	return cache->failure_ttl_ms;
}

static void
cert_failures_insert(struct cert_cache *cache, const char *url,
		     uint32_t hash, int result, const struct err *e,
		     int64_t now_ms)
{
	struct cert_entry *entry;

	if (cache->failure_ttl_ms <= 0 || !cert_failure_cacheable(e))
		return;
	entry = cert_table_find(&cache->failures, url, hash);
	if (entry != NULL)
		cert_table_remove(&cache->failures, entry);
	entry = cert_entry_new(url, hash);
	if (entry == NULL)
		return;
	entry->result = result;
	entry->err = *e;
	entry->expires_ms = now_ms + cert_failure_ttl_ms(cache, result);
	cert_table_add(&cache->failures, entry);
}

/* Looks url up among the recent failures, with the lock held.  Returns
 * the cached result, or 1 when url has no failure that is still fresh. */
static int
cert_failures_lookup(struct cert_cache *cache, const char *url,
		     uint32_t hash, int64_t now_ms, struct err *e)
{
	struct cert_entry *entry = cert_table_find(&cache->failures, url,
						   hash);
	int64_t left_ms;

	if (entry == NULL)
		return 1;
	left_ms = entry->expires_ms - now_ms;
	if (left_ms <= 0) {
		cert_table_remove(&cache->failures, entry);
		return 1;
	}
	cache->stats.negative_hits++;
	metrics_inc(METRIC_CERT_FETCHES, "negative_cached", NULL);
	cert_table_touch(&cache->failures, entry);
	err_set(e, entry->err.code, "%.160s; this failure is cached for "
		"another %lld s (cert_failure_ttl)", entry->err.msg,
		(long long)((left_ms + 999) / 1000));
	return entry->result;
}

/*
 * Takes one download from the budget, a generic cell rate algorithm:
 * a bucket of up to CERT_FETCH_BURST downloads that refills one download
 * every 60 / per_minute seconds.  Returns 0, or the ms until the next
 * download is allowed.
 */
static int64_t
cert_budget_take(struct cert_fetch_budget *budget, int64_t now_ms)
{
	int64_t now_us = now_ms * 1000;
	int64_t next_us;

	if (budget->interval_us == 0)
		return 0;
	next_us = budget->next_us > now_us ? budget->next_us : now_us;
	if (next_us - now_us > budget->tolerance_us)
		return (next_us - budget->tolerance_us - now_us + 999) / 1000;
	budget->next_us = next_us + budget->interval_us;
	return 0;
}

/* Logs the first refusal, then at most one line a minute with the
 * number refused since the previous line. */
static void
cert_log_rate_limited(unsigned per_minute, uint64_t refused,
		      int64_t wait_ms)
{
	struct log_line line;

	log_begin(&line, LOG_WARN, "cert_fetch_rate_limited");
	log_int(&line, "refused", (long long)refused);
	log_int(&line, "cert_fetch_per_minute", per_minute);
	log_int(&line, "next_fetch_in_ms", wait_ms);
	log_str(&line, "reason", "signing certificate downloads are over "
		"budget; messages that need an uncached certificate get 503 "
		"until it refills");
	log_end(&line);
}

/* Takes a download from the budget, or refuses with
 * RESULT_RETRY and code "cert_fetch_rate_limited". */
static int
cert_budget_check(struct cert_cache *cache, struct err *e)
{
	struct cert_fetch_budget *budget = &cache->budget;
	uint64_t refused = 0;
	int64_t now_ms, wait_ms;

	pthread_mutex_lock(&cache->lock);
	now_ms = cache->clock_ms();
	wait_ms = cert_budget_take(budget, now_ms);
	if (wait_ms > 0) {
		cache->stats.rate_limited++;
		budget->refused++;
		if (budget->logged_ms < 0 ||
		    now_ms - budget->logged_ms >= CERT_RATE_LOG_MS) {
			refused = budget->refused;
			budget->refused = 0;
			budget->logged_ms = now_ms;
		}
	}
	pthread_mutex_unlock(&cache->lock);

	if (wait_ms == 0)
		return RESULT_OK;
	metrics_inc(METRIC_CERT_FETCHES, "rate_limited", NULL);
	if (refused > 0)
		cert_log_rate_limited(budget->per_minute, refused, wait_ms);
	err_set(e, CERT_FETCH_RATE_LIMITED, "signing certificate downloads "
		"are limited to %u a minute (cert_fetch_per_minute) and the "
		"next is allowed in %lld ms; retry later",
		budget->per_minute, (long long)wait_ms);
	return RESULT_RETRY;
}

/* Joins the load of url that is running, or registers a new one for the
 * caller to run (*loader set). */
static struct cert_flight *
cert_flight_join(struct cert_cache *cache, const char *url, uint32_t hash,
		 bool *loader)
{
	struct cert_flight *flight;

	for (flight = cache->flights; flight != NULL; flight = flight->next) {
		if (flight->hash == hash && strcmp(flight->url, url) == 0) {
			flight->users++;
			*loader = false;
			return flight;
		}
	}

	flight = calloc(1, sizeof(*flight));
	if (flight == NULL || (flight->url = cert_strdup(url)) == NULL ||
	    pthread_cond_init(&flight->cond, NULL) != 0) {
		free(flight ? flight->url : NULL);
		free(flight);
		return NULL;
	}
	flight->hash = hash;
	flight->users = 1;
	flight->next = cache->flights;
	cache->flights = flight;
	*loader = true;
	return flight;
}

static void
cert_flight_unlink(struct cert_cache *cache, struct cert_flight *flight)
{
	struct cert_flight **p;

	for (p = &cache->flights; *p != NULL; p = &(*p)->next) {
		if (*p == flight) {
			*p = flight->next;
			return;
		}
	}
}

static void
cert_flight_leave(struct cert_flight *flight)
{
	if (--flight->users > 0)
		return;
	EVP_PKEY_free(flight->cert.key);
	pthread_cond_destroy(&flight->cond);
	free(flight->url);
	free(flight);
}

static int
cert_flight_result(struct cert_flight *flight, EVP_PKEY **key,
		   struct err *e)
{
	if (flight->result != RESULT_OK) {
		if (e != NULL)
			*e = flight->err;
		return flight->result;
	}
	return cert_key_share(&flight->cert, key, e);
}

/*
 * Reads the pre-seeded file named like the URL's last path segment.
 * Returns RESULT_OK with *found false when there is no such file.
 */
static int
cert_read_seed(const struct cert_cache *cache, const char *url,
	       struct buf *pem, bool *found, struct err *e)
{
	char name[256], path[PATH_MAX], chunk[4096];
	int fd, n, rc = RESULT_OK;
	ssize_t got = 0;

	*found = false;
	if (cache->seed_dir == NULL)
		return RESULT_OK;
	n = sns_url_basename(url, name, sizeof(name)) == 0 ?
	    snprintf(path, sizeof(path), "%s/%s", cache->seed_dir, name) : -1;
	if (n < 0 || (size_t)n >= sizeof(path))
		return RESULT_OK;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return RESULT_OK;
	if (fd < 0) {
		err_set(e, CERT_FETCH_FAILED, "cannot open seeded "
			"certificate %s: %s", name, strerror(errno));
		return RESULT_RETRY;
	}
	*found = true;
	while (rc == RESULT_OK &&
	       ((got = read(fd, chunk, sizeof(chunk))) > 0 ||
		(got < 0 && errno == EINTR))) {
		if (got > 0 && buf_append(pem, chunk, (size_t)got) != 0) {
			err_set(e, CERT_INVALID, "seeded certificate %s is "
				"larger than %d bytes", name,
				LIMIT_CERT_BYTES);
			rc = RESULT_REJECT;
		}
	}
	if (rc == RESULT_OK && got < 0) {
		err_set(e, CERT_FETCH_FAILED, "cannot read seeded "
			"certificate %s: %s", name, strerror(errno));
		rc = RESULT_RETRY;
	}
	close(fd);
	return rc;
}

/* GETs url into pem.  A 404 is final; other statuses may pass. */
static int
cert_fetch(const struct cert_cache *cache, const char *url, struct buf *pem,
	   struct err *e)
{
	struct http_request req = {
		.method = "GET",
		.url = url,
		.timeout_ms = cache->fetch_timeout_ms,
		.max_response_bytes = LIMIT_CERT_BYTES,
		.ca_file = cache->ca_file,
		.allow_http = false,
	};
	struct http_response resp;
	int rc;

	rc = http_client_perform(&req, &resp, e);
	if (rc != RESULT_OK) {
		if (e != NULL)
			e->code = CERT_FETCH_FAILED;
	} else if (resp.status == 404) {
		err_set(e, CERT_INVALID, "the certificate URL returned 404 "
			"Not Found");
		rc = RESULT_REJECT;
	} else if (resp.status != 200) {
		err_set(e, CERT_FETCH_FAILED, "the certificate URL returned "
			"HTTP %ld", resp.status);
		rc = RESULT_RETRY;
	} else if (buf_append(pem, resp.body.data ? resp.body.data : "",
			      resp.body.len) != 0) {
		err_set(e, "out_of_memory", "no memory for the certificate");
		rc = RESULT_RETRY;
	}
	http_response_free(&resp);
	return rc;
}

/* Loads url from the seed directory or, budget allowing, the network,
 * without the lock. */
static int
cert_load(struct cert_cache *cache, const char *url, const char *region,
	  time_t now, struct cert_key *out, enum cert_source *source,
	  struct err *e)
{
	struct buf pem;
	bool found = false;
	int rc;

	buf_init(&pem, LIMIT_CERT_BYTES);
	*source = SOURCE_SEED;
	rc = cert_read_seed(cache, url, &pem, &found, e);
	if (rc == RESULT_OK && !found) {
		*source = SOURCE_NONE;
		rc = cert_budget_check(cache, e);
	}
	if (rc == RESULT_OK && !found) {
		*source = SOURCE_NETWORK;
		rc = cert_fetch(cache, url, &pem, e);
	}
	if (rc == RESULT_OK)
		rc = cert_check(pem.data ? pem.data : "", pem.len, region, now,
				out, e);
	buf_free(&pem);
	return rc;
}

static const char *
cert_source_name(enum cert_source source)
{
	return source == SOURCE_SEED ? "seed" : "network";
}

/* One line per load rather than per message: concurrent callers share
 * the load, and a cached failure is not loaded again until it expires. */
static void
cert_log_load(const struct cert_cache *cache,
	      const struct cert_flight *flight, enum cert_source source)
{
	struct log_line line;
	char when[32];

	if (flight->result == RESULT_OK) {
		if (source != SOURCE_NETWORK)
			return;
		cert_format_time(flight->cert.not_after, when, sizeof(when));
		log_begin(&line, LOG_INFO, "cert_fetched");
		log_str(&line, "url", flight->url);
		log_str(&line, "not_after", when);
		log_end(&line);
		return;
	}
	if (!cert_failure_cacheable(&flight->err))
		return;
	log_begin(&line, LOG_WARN, "cert_load_failed");
	log_str(&line, "url", flight->url);
	log_str(&line, "from", cert_source_name(source));
	log_str(&line, "code", flight->err.code);
	log_str(&line, "reason", flight->err.msg);
	if (cache->failure_ttl_ms > 0)
		log_int(&line, "cached_s",
			cert_failure_ttl_ms(cache, flight->result) / 1000);
	log_end(&line);
}

/* Records the outcome of a load with the lock held and wakes waiters. */
static void
cert_flight_finish(struct cert_cache *cache, struct cert_flight *flight,
		   enum cert_source source)
{
	bool ok = flight->result == RESULT_OK;

	if (source == SOURCE_NETWORK) {
		cache->stats.fetches++;
		if (!ok)
			cache->stats.fetch_failures++;
		metrics_inc(METRIC_CERT_FETCHES, ok ? "ok" : "failed", NULL);
	} else if (source == SOURCE_SEED && ok) {
		cache->stats.seeded_loads++;
	}
	if (ok)
		cert_keys_insert(cache, flight->url, flight->hash,
				 &flight->cert);
	else
		cert_failures_insert(cache, flight->url, flight->hash,
				     flight->result, &flight->err,
				     cache->clock_ms());

	flight->done = true;
	cert_flight_unlink(cache, flight);
	pthread_cond_broadcast(&flight->cond);
}

static void
cert_flight_run(struct cert_cache *cache, struct cert_flight *flight,
		const char *region, time_t now)
{
	enum cert_source source = SOURCE_NONE;

	pthread_mutex_unlock(&cache->lock);
	err_clear(&flight->err);
	flight->result = cert_load(cache, flight->url, region, now,
				   &flight->cert, &source, &flight->err);
	cert_log_load(cache, flight, source);
	pthread_mutex_lock(&cache->lock);
	cert_flight_finish(cache, flight, source);
}

int
cert_cache_get(struct cert_cache *cache, const char *url,
	       const char *topic_region, time_t now, EVP_PKEY **key,
	       struct err *e)
{
	struct cert_flight *flight = NULL;
	uint32_t hash = cert_hash(cache->hash_seed, url);
	bool loader = false;
	int rc;

	*key = NULL;
	pthread_mutex_lock(&cache->lock);
	rc = cert_keys_lookup(cache, url, hash, now, key, e);
	if (rc == 1)
		rc = cert_failures_lookup(cache, url, hash, cache->clock_ms(),
					  e);
	if (rc != 1)
		goto out;
	cache->stats.misses++;

	flight = cert_flight_join(cache, url, hash, &loader);
	if (flight == NULL) {
		err_set(e, "out_of_memory", "no memory to load a "
			"certificate");
		rc = RESULT_RETRY;
		goto out;
	}
	if (loader)
		cert_flight_run(cache, flight, topic_region, now);
	while (!flight->done)
		pthread_cond_wait(&flight->cond, &cache->lock);
	rc = cert_flight_result(flight, key, e);
	cert_flight_leave(flight);
out:
	pthread_mutex_unlock(&cache->lock);
	return rc;
}
