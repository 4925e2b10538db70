/*
 * cert_cache: certificate checks on certificates made here with OpenSSL,
 * the seeded directory, LRU eviction, statistics, and one shared load
 * for concurrent callers.  Network failures use 127.0.0.1 only.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "snsrelay/buf.h"
#include "snsrelay/cert_cache.h"
#include "snsrelay/err.h"
#include "snsrelay/http_client.h"
#include "tap.h"

/* T0 is 2026-03-06T19:55:38Z.  The generated certificates are valid
 * from a day before it to a year after it. */
#define T0 ((time_t)1772826938)
#define DAY 86400
#define NOT_BEFORE (T0 - DAY)
#define NOT_AFTER (T0 + 365 * DAY)

#define URL_PREFIX "https://sns.us-east-1.amazonaws.com/"
#define NAME_A "SimpleNotificationService-0000000000000000000000000000000a.pem"
#define NAME_B "SimpleNotificationService-0000000000000000000000000000000b.pem"
#define NAME_C "SimpleNotificationService-0000000000000000000000000000000c.pem"
#define NAME_BAD "SimpleNotificationService-0000000000000000000000000000000d.pem"

static EVP_PKEY *rsa_key;

static X509 *
make_x509(EVP_PKEY *key, const char *cn, const char *san, time_t not_before,
	  time_t not_after)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509_EXTENSION *ext = NULL;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	ASN1_TIME_set(X509_getm_notBefore(x), not_before);
	ASN1_TIME_set(X509_getm_notAfter(x), not_after);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
					  san);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, key, EVP_sha256());
	return x;
}

static char *
bio_text(BIO *bio)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	char *copy = malloc((size_t)n + 1);

	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	return copy;
}

/* Returns a PEM certificate for rsa_key (or key when not NULL). */
static char *
make_pem(EVP_PKEY *key, const char *cn, const char *san, time_t not_before,
	 time_t not_after)
{
	X509 *x = make_x509(key ? key : rsa_key, cn, san, not_before,
			    not_after);
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;

	PEM_write_bio_X509(bio, x);
	pem = bio_text(bio);
	BIO_free(bio);
	X509_free(x);
	return pem;
}

static char *
make_good_pem(void)
{
	return make_pem(NULL, "sns.amazonaws.com", "DNS:sns.amazonaws.com",
			NOT_BEFORE, NOT_AFTER);
}

static char *
concat(const char *a, const char *b)
{
	struct buf out;

	buf_init(&out, 1 << 20);
	buf_append_str(&out, a);
	buf_append_str(&out, b);
	return buf_steal(&out);
}

static char *
private_key_pem(void)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;

	PEM_write_bio_PrivateKey(bio, rsa_key, NULL, NULL, 0, NULL, NULL);
	pem = bio_text(bio);
	BIO_free(bio);
	return pem;
}

/* A PEM block whose DER is a valid certificate followed by two bytes. */
static char *
pem_with_trailing_der(void)
{
	X509 *x = make_x509(rsa_key, "sns.amazonaws.com",
			    "DNS:sns.amazonaws.com", NOT_BEFORE, NOT_AFTER);
	unsigned char *der = NULL, *b64;
	int n = i2d_X509(x, &der);
	struct buf out;

	der = OPENSSL_realloc(der, (size_t)n + 2);
	der[n] = 0;
	der[n + 1] = 0;
	b64 = malloc(4 * (((size_t)n + 4) / 3) + 1);
	EVP_EncodeBlock(b64, der, n + 2);
	buf_init(&out, 1 << 20);
	buf_printf(&out, "-----BEGIN CERTIFICATE-----\n%s\n"
		   "-----END CERTIFICATE-----\n", b64);
	free(b64);
	OPENSSL_free(der);
	X509_free(x);
	return buf_steal(&out);
}

static int
check(const char *pem, const char *region, time_t now, struct err *e)
{
	EVP_PKEY *key = NULL;
	time_t not_after = 0;
	int rc;

	err_clear(e);
	rc = cert_check_pem(pem, strlen(pem), region, now, &key, &not_after,
			    e);
	if (rc == RESULT_OK && not_after != NOT_AFTER)
		rc = 99;
	EVP_PKEY_free(key);
	return rc;
}

struct name_case {
	const char *name;
	const char *cn;
	const char *san;
	const char *region;
	int want;
};

static const struct name_case name_cases[] = {
	{ "san and cn", "sns.amazonaws.com", "DNS:sns.amazonaws.com",
	  "us-east-1", RESULT_OK },
	{ "cn only", "sns.amazonaws.com", NULL, "us-east-1", RESULT_OK },
	{ "no region", "sns.amazonaws.com", NULL, NULL, RESULT_OK },
	{ "san among others", "x", "DNS:a.example,DNS:sns.amazonaws.com",
	  "us-east-1", RESULT_OK },
	{ "wrong name", "evil.example", "DNS:evil.example", "us-east-1",
	  RESULT_REJECT },
	{ "san overrides cn", "sns.amazonaws.com", "DNS:evil.example",
	  "us-east-1", RESULT_REJECT },
	{ "wildcard", "*.amazonaws.com", "DNS:*.amazonaws.com", "us-east-1",
	  RESULT_REJECT },
	{ "regional host name", "sns.us-east-1.amazonaws.com",
	  "DNS:sns.us-east-1.amazonaws.com", "us-east-1", RESULT_REJECT },
	{ "signing name own region", "x",
	  "DNS:sns-signing.ap-southeast-3.amazonaws.com", "ap-southeast-3",
	  RESULT_OK },
	{ "signing name other region", "x",
	  "DNS:sns-signing.ap-southeast-3.amazonaws.com", "us-east-1",
	  RESULT_REJECT },
	{ "china name", "x", "DNS:sns-cn-north-1.amazonaws.com.cn",
	  "cn-north-1", RESULT_OK },
	{ "china northwest name", "x",
	  "DNS:sns-cn-northwest-1.amazonaws.com.cn", "cn-northwest-1",
	  RESULT_OK },
	{ "china name outside china", "x",
	  "DNS:sns-cn-north-1.amazonaws.com.cn", "us-east-1",
	  RESULT_REJECT },
	{ "govcloud name west", "x", "DNS:sns-us-gov-west-1.amazonaws.com",
	  "us-gov-west-1", RESULT_OK },
	{ "govcloud name east", "x", "DNS:sns-us-gov-west-1.amazonaws.com",
	  "us-gov-east-1", RESULT_OK },
	{ "govcloud name elsewhere", "x",
	  "DNS:sns-us-gov-west-1.amazonaws.com", "us-east-1",
	  RESULT_REJECT },
	{ "bad region text", "x", "DNS:sns-signing.a/b.amazonaws.com", "a/b",
	  RESULT_REJECT },
};

static void
test_names(void)
{
	const struct name_case *c;
	struct err e;
	char *pem;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		c = &name_cases[i];
		pem = make_pem(NULL, c->cn, c->san, NOT_BEFORE, NOT_AFTER);
		rc = check(pem, c->region, T0, &e);
		is_int(rc, c->want, "name %s: result", c->name);
		if (c->want != RESULT_OK)
			is_str(e.code, "cert_invalid", "name %s: code",
			       c->name);
		free(pem);
	}
}

static void
test_dates(void)
{
	char *pem = make_good_pem();
	struct err e;

	is_int(check(pem, "us-east-1", NOT_BEFORE, &e), RESULT_OK,
	       "dates: first valid second");
	is_int(check(pem, "us-east-1", NOT_AFTER - 1, &e), RESULT_OK,
	       "dates: last valid second");
	is_int(check(pem, "us-east-1", NOT_BEFORE - 1, &e), RESULT_REJECT,
	       "dates: not yet valid");
	ok(strstr(e.msg, "not valid before") != NULL,
	   "dates: not yet valid message");
	is_int(check(pem, "us-east-1", NOT_AFTER, &e), RESULT_REJECT,
	       "dates: expired at notAfter");
	is_int(check(pem, "us-east-1", NOT_AFTER + DAY, &e), RESULT_REJECT,
	       "dates: expired");
	ok(strstr(e.msg, "expired at 2027-03-06T19:55:38Z") != NULL,
	   "dates: expired message");
	free(pem);
}

static void
test_keys(void)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	EVP_PKEY *small = EVP_RSA_gen(1024);
	EVP_PKEY *key = NULL;
	struct err e;
	char *pem;

	pem = make_pem(ec, "sns.amazonaws.com", "DNS:sns.amazonaws.com",
		       NOT_BEFORE, NOT_AFTER);
	is_int(check(pem, "us-east-1", T0, &e), RESULT_REJECT,
	       "key: EC rejected");
	ok(strstr(e.msg, "not RSA") != NULL, "key: EC message");
	free(pem);

	pem = make_pem(small, "sns.amazonaws.com", "DNS:sns.amazonaws.com",
		       NOT_BEFORE, NOT_AFTER);
	is_int(check(pem, "us-east-1", T0, &e), RESULT_REJECT,
	       "key: RSA-1024 rejected");
	ok(strstr(e.msg, "1024 bits") != NULL, "key: RSA-1024 message");
	free(pem);

	pem = make_good_pem();
	cert_check_pem(pem, strlen(pem), "us-east-1", T0, &key, NULL, &e);
	ok(key != NULL && EVP_PKEY_eq(key, rsa_key) == 1,
	   "key: returned key is the certificate's");
	EVP_PKEY_free(key);
	free(pem);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(small);
}

static void
check_layout_reject(const char *name, const char *pem, size_t len)
{
	EVP_PKEY *key = NULL;
	struct err e;
	int rc;

	err_clear(&e);
	rc = cert_check_pem(pem, len, "us-east-1", T0, &key, NULL, &e);
	is_int(rc, RESULT_REJECT, "layout %s: rejected", name);
	is_str(e.code, "cert_invalid", "layout %s: code", name);
	ok(key == NULL, "layout %s: no key", name);
	EVP_PKEY_free(key);
}

#define TRUSTED_PEM "-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n" \
	"-----END TRUSTED CERTIFICATE-----\n"

static void
test_layout(void)
{
	char *good = make_good_pem();
	char *other = make_pem(NULL, "sns.amazonaws.com",
			       "DNS:sns.amazonaws.com", NOT_BEFORE, NOT_AFTER);
	char *keypem = private_key_pem();
	char *cases[8];
	struct buf big;
	struct err e;
	size_t i;

	cases[0] = concat(good, other);
	cases[1] = concat(good, keypem);
	cases[2] = concat(keypem, good);
	cases[3] = concat("garbage\n", good);
	cases[4] = concat(good, "garbage\n");
	cases[5] = concat("-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED"
			  "\n\n", good + 28);
	cases[6] = pem_with_trailing_der();
	cases[7] = concat("\n  \r\n", good);

	check_layout_reject("two certificates", cases[0], strlen(cases[0]));
	check_layout_reject("extra key block", cases[1], strlen(cases[1]));
	check_layout_reject("key block first", cases[2], strlen(cases[2]));
	check_layout_reject("garbage before", cases[3], strlen(cases[3]));
	check_layout_reject("garbage after", cases[4], strlen(cases[4]));
	check_layout_reject("pem header", cases[5], strlen(cases[5]));
	check_layout_reject("trailing der", cases[6], strlen(cases[6]));
	check_layout_reject("empty", "", 0);
	check_layout_reject("garbage", "not a certificate", 17);
	check_layout_reject("trusted certificate", TRUSTED_PEM,
			    strlen(TRUSTED_PEM));
	check_layout_reject("nul inside", good, strlen(good) + 1);
	check_layout_reject("no end line", good, strlen(good) - 27);

	buf_init(&big, 1 << 20);
	buf_append_str(&big, good);
	while (big.len <= 16 * 1024)
		buf_append_str(&big, "\n");
	check_layout_reject("too large", big.data, big.len);
	buf_free(&big);

	is_int(check(cases[7], "us-east-1", T0, &e), RESULT_OK,
	       "layout whitespace around: accepted");
	for (i = 0; i < 8; i++)
		free(cases[i]);
	free(good);
	free(other);
	free(keypem);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
}

static void
remove_file(const char *dir, const char *name)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static int
get(struct cert_cache *cache, const char *name, time_t now, struct err *e)
{
	char url[256];
	EVP_PKEY *key = NULL;
	int rc;

	snprintf(url, sizeof(url), URL_PREFIX "%s", name);
	err_clear(e);
	rc = cert_cache_get(cache, url, "us-east-1", now, &key, e);
	if (rc == RESULT_OK && (key == NULL || EVP_PKEY_eq(key, rsa_key) != 1))
		rc = 99;
	if (rc != RESULT_OK && key != NULL)
		rc = 98;
	EVP_PKEY_free(key);
	return rc;
}

static void
test_lru(const char *dir)
{
	struct cert_cache_options opts = { 2, dir, NULL, 1000 };
	struct cert_cache *cache = cert_cache_new(&opts);
	struct cert_cache_stats st;
	struct err e;

	is_int(get(cache, NAME_A, T0, &e), RESULT_OK, "lru: A loaded");
	is_int(get(cache, NAME_B, T0, &e), RESULT_OK, "lru: B loaded");
	is_int(get(cache, NAME_A, T0, &e), RESULT_OK, "lru: A hit");
	is_int(get(cache, NAME_C, T0, &e), RESULT_OK, "lru: C evicts B");
	is_int(get(cache, NAME_A, T0, &e), RESULT_OK, "lru: A still cached");
	cert_cache_get_stats(cache, &st);
	is_int(st.hits, 2, "lru: two hits");
	is_int(st.misses, 3, "lru: three misses");
	is_int(st.seeded_loads, 3, "lru: three seeded loads");

	is_int(get(cache, NAME_B, T0, &e), RESULT_OK, "lru: B loaded again");
	cert_cache_get_stats(cache, &st);
	is_int(st.misses, 4, "lru: B was evicted");
	is_int(st.fetches, 0, "lru: no network fetch");

	/* The dates are checked on a hit too, without a new load. */
	is_int(get(cache, NAME_B, NOT_AFTER + 1, &e), RESULT_REJECT,
	       "lru: expired hit rejected");
	is_str(e.code, "cert_invalid", "lru: expired hit code");
	is_int(get(cache, NAME_B, NOT_BEFORE - 1, &e), RESULT_REJECT,
	       "lru: early hit rejected");
	cert_cache_get_stats(cache, &st);
	is_int(st.seeded_loads, 4, "lru: expired hit not reloaded");
	is_int(st.hits, 4, "lru: expired hits counted");
	cert_cache_free(cache);
}

static void
test_seed_failures(const char *dir)
{
	struct cert_cache_options opts = { 4, dir, NULL, 1000 };
	struct cert_cache *cache = cert_cache_new(&opts);
	struct cert_cache_stats st;
	struct err e;

	is_int(get(cache, NAME_BAD, T0, &e), RESULT_REJECT,
	       "seed: invalid file rejected");
	is_str(e.code, "cert_invalid", "seed: invalid file code");
	is_int(get(cache, NAME_BAD, T0, &e), RESULT_REJECT,
	       "seed: failure not cached");
	cert_cache_get_stats(cache, &st);
	is_int(st.misses, 2, "seed: both calls missed");
	is_int(st.seeded_loads, 0, "seed: no successful load");
	is_int(st.fetches, 0, "seed: no network fetch");

	is_int(get(cache, NAME_A, NOT_AFTER + 1, &e), RESULT_REJECT,
	       "seed: expired seeded file rejected");
	is_int(get(cache, NAME_A, T0, &e), RESULT_OK,
	       "seed: valid later, loaded then");
	cert_cache_free(cache);
}

/* Returns a 127.0.0.1 port with nothing listening on it. */
static int
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &len);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Listens on 127.0.0.1 without ever accepting: a TLS handshake to it
 * hangs until the client's deadline. */
static int
silent_listener(int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		return -1;
	*port = ntohs(sa.sin_port);
	return fd;
}

static void
test_fetch_refused(void)
{
	struct cert_cache_options opts = { 4, NULL, NULL, 2000 };
	struct cert_cache *cache = cert_cache_new(&opts);
	struct cert_cache_stats st;
	EVP_PKEY *key = NULL;
	struct err e;
	char url[256];
	int rc;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/" NAME_A,
		 closed_port());
	err_clear(&e);
	rc = cert_cache_get(cache, url, "us-east-1", T0, &key, &e);
	is_int(rc, RESULT_RETRY, "fetch refused: retry");
	is_str(e.code, "cert_fetch_failed", "fetch refused: code");
	ok(strstr(e.msg, "127.0.0.1") != NULL, "fetch refused: names host");
	ok(strstr(e.msg, "SimpleNotificationService") == NULL,
	   "fetch refused: no path in message");
	ok(key == NULL, "fetch refused: no key");
	cert_cache_get_stats(cache, &st);
	is_int(st.fetches, 1, "fetch refused: one fetch");
	is_int(st.fetch_failures, 1, "fetch refused: one failure");

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/" NAME_A,
		 closed_port());
	rc = cert_cache_get(cache, url, "us-east-1", T0, &key, &e);
	is_int(rc, RESULT_RETRY, "fetch http: refused by policy");
	cert_cache_free(cache);
}

#define THREADS 8

struct worker {
	struct cert_cache *cache;
	pthread_barrier_t *start;
	const char *url;
	int rc;
	struct err err;
	EVP_PKEY *key;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->start);
	w->rc = cert_cache_get(w->cache, w->url, "us-east-1", T0, &w->key,
			       &w->err);
	return NULL;
}

/* Runs THREADS concurrent cert_cache_get calls for url; returns how
 * many succeeded with the key of rsa_key, and -1 on a setup failure. */
static int
run_workers(struct cert_cache *cache, const char *url,
	    struct worker *workers)
{
	pthread_t threads[THREADS];
	pthread_barrier_t start;
	int i, good = 0;

	pthread_barrier_init(&start, NULL, THREADS);
	for (i = 0; i < THREADS; i++) {
		workers[i] = (struct worker){ cache, &start, url, 0,
					      { NULL, "" }, NULL };
		if (pthread_create(&threads[i], NULL, worker_run,
				   &workers[i]) != 0)
			return -1;
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		if (workers[i].rc == RESULT_OK && workers[i].key != NULL &&
		    EVP_PKEY_eq(workers[i].key, rsa_key) == 1)
			good++;
		EVP_PKEY_free(workers[i].key);
	}
	pthread_barrier_destroy(&start);
	return good;
}

static void
test_single_flight_seeded(const char *dir)
{
	struct cert_cache_options opts = { 4, dir, NULL, 1000 };
	struct cert_cache *cache = cert_cache_new(&opts);
	struct worker workers[THREADS];
	struct cert_cache_stats st;

	is_int(run_workers(cache, URL_PREFIX NAME_C, workers), THREADS,
	       "single flight seeded: every caller gets the key");
	cert_cache_get_stats(cache, &st);
	is_int(st.seeded_loads, 1, "single flight seeded: one load");
	is_int(st.hits + st.misses, THREADS,
	       "single flight seeded: every call counted");
	cert_cache_free(cache);
}

static void
test_single_flight_failure(void)
{
	struct cert_cache_options opts = { 4, NULL, NULL, 1500 };
	struct cert_cache *cache = cert_cache_new(&opts);
	struct worker workers[THREADS];
	struct cert_cache_stats st;
	char url[256];
	int port = 0, fd, i, retries = 0, same = 0;

	fd = silent_listener(&port);
	if (fd < 0) {
		ok(0, "single flight failure: listener on 127.0.0.1");
		cert_cache_free(cache);
		return;
	}
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/" NAME_A, port);
	is_int(run_workers(cache, url, workers), 0,
	       "single flight failure: nobody gets a key");
	for (i = 0; i < THREADS; i++) {
		retries += workers[i].rc == RESULT_RETRY &&
			   strcmp(workers[i].err.code, "cert_fetch_failed") == 0;
		same += strcmp(workers[i].err.msg, workers[0].err.msg) == 0;
	}
	is_int(retries, THREADS, "single flight failure: all retry");
	is_int(same, THREADS, "single flight failure: one shared reason");
	ok(strstr(workers[0].err.msg, "timed out") != NULL,
	   "single flight failure: timed out");
	cert_cache_get_stats(cache, &st);
	is_int(st.fetches, 1, "single flight failure: one fetch");
	is_int(st.misses, THREADS, "single flight failure: all missed");
	close(fd);
	cert_cache_free(cache);
}

static void
test_fixture_seed(void)
{
	char dir[1024];
	struct cert_cache_options opts = { 4, dir, NULL, 1000 };
	struct cert_cache *cache;
	EVP_PKEY *key = NULL;
	struct err e;
	int rc;

	snprintf(dir, sizeof(dir), "%s/sns/certs", tap_fixtures_dir());
	if (access(dir, R_OK) != 0) {
		diag("fixtures not found in %s; seed test not run", dir);
		return;
	}
	cache = cert_cache_new(&opts);
	rc = cert_cache_get(cache, "https://sns.us-west-2.amazonaws.com/"
			    "SimpleNotificationService-"
			    "7506a1e35b36ef5a444dd1a8e7cc3ed8.pem", "us-west-2",
			    T0, &key, &e);
	is_int(rc, RESULT_OK, "fixture seed: genuine certificate loaded");
	EVP_PKEY_free(key);

	/* The certificate expired on 2026-10-14. */
	rc = cert_cache_get(cache, "https://sns.us-west-2.amazonaws.com/"
			    "SimpleNotificationService-"
			    "7506a1e35b36ef5a444dd1a8e7cc3ed8.pem", "us-west-2",
			    T0 + 240 * DAY, &key, &e);
	is_int(rc, RESULT_REJECT, "fixture seed: expired later");
	cert_cache_free(cache);
}

static void
test_seeded_dir(void)
{
	char dir[] = "/tmp/unit_cert_cache.XXXXXX";
	char *pem;

	if (mkdtemp(dir) == NULL) {
		ok(0, "seed: temporary directory created");
		return;
	}
	pem = make_good_pem();
	write_file(dir, NAME_A, pem);
	write_file(dir, NAME_B, pem);
	write_file(dir, NAME_C, pem);
	write_file(dir, NAME_BAD, "garbage\n");

	test_lru(dir);
	test_seed_failures(dir);
	test_single_flight_seeded(dir);

	remove_file(dir, NAME_A);
	remove_file(dir, NAME_B);
	remove_file(dir, NAME_C);
	remove_file(dir, NAME_BAD);
	rmdir(dir);
	free(pem);
}

int
main(void)
{
	http_client_global_init();
	rsa_key = EVP_RSA_gen(2048);
	if (rsa_key == NULL)
		skip_all("OpenSSL cannot generate an RSA key");

	test_names();
	test_dates();
	test_keys();
	test_layout();
	test_seeded_dir();
	test_fixture_seed();
	test_fetch_refused();
	test_single_flight_failure();

	EVP_PKEY_free(rsa_key);
	http_client_global_cleanup();
	return tap_done();
}
