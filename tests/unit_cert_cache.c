/*
 * cert_cache: certificate checks on certificates made here with OpenSSL,
 * the seeded directory, LRU eviction, statistics, one shared load for
 * concurrent callers, the cache of failures and the download budget.
 * The network is a loopback HTTPS server on 127.0.0.1 only.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
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
	struct cert_cache_options opts = {
		.capacity = 2,
		.seed_dir = dir,
		.fetch_timeout_ms = 1000,
	};
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
	struct cert_cache_options opts = {
		.capacity = 4,
		.seed_dir = dir,
		.fetch_timeout_ms = 1000,
	};
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
	struct cert_cache_options opts = {
		.capacity = 4,
		.fetch_timeout_ms = 2000,
	};
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
	struct cert_cache_options opts = {
		.capacity = 4,
		.seed_dir = dir,
		.fetch_timeout_ms = 1000,
	};
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
	struct cert_cache_options opts = {
		.capacity = 4,
		.fetch_timeout_ms = 1500,
	};
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

/*
 * A loopback HTTPS server for the network paths: it serves pem for the
 * path /NAME_A, 404 for any other path, and counts the requests.  It
 * serves one connection at a time, after delay_ms, so that callers that
 * did not share a download would each show up in the count.
 */
struct tls_server {
	SSL_CTX *ctx;
	int fd;
	int port;
	pthread_t thread;
	atomic_int requests;
	atomic_bool stopping;
	atomic_uint delay_ms;
	const char *pem;
	char ca_file[64];		/* the server's own certificate */
};

static void
tls_server_answer(struct tls_server *server, SSL *ssl)
{
	char request[2048], head[256], path[256];
	const char *body = "not found\n";
	const char *status = "404 Not Found";
	unsigned delay_ms = atomic_load(&server->delay_ms);
	struct timespec pause;
	int len = 0, n;

	while (len < (int)sizeof(request) - 1 &&
	       (n = SSL_read(ssl, request + len,
			     (int)sizeof(request) - 1 - len)) > 0) {
		len += n;
		request[len] = '\0';
		if (strstr(request, "\r\n\r\n") != NULL)
			break;
	}
	request[len] = '\0';
	if (sscanf(request, "GET %255s ", path) != 1)
		return;
	atomic_fetch_add(&server->requests, 1);
	pause.tv_sec = delay_ms / 1000;
	pause.tv_nsec = (long)(delay_ms % 1000) * 1000000;
	nanosleep(&pause, NULL);
	if (strcmp(path, "/" NAME_A) == 0) {
		status = "200 OK";
		body = server->pem;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n", status, strlen(body));
	SSL_write(ssl, head, (int)strlen(head));
	SSL_write(ssl, body, (int)strlen(body));
	SSL_shutdown(ssl);
}

static void *
tls_server_run(void *arg)
{
	struct tls_server *server = arg;
	struct timeval limit = { 5, 0 };
	SSL *ssl;
	int fd;

	while (!atomic_load(&server->stopping)) {
		fd = accept(server->fd, NULL, NULL);
		if (fd < 0)
			break;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
		ssl = SSL_new(server->ctx);
		if (ssl != NULL && SSL_set_fd(ssl, fd) == 1 &&
		    SSL_accept(ssl) == 1)
			tls_server_answer(server, ssl);
		SSL_free(ssl);
		close(fd);
	}
	return NULL;
}

/* Starts the server with a certificate for IP 127.0.0.1 that is its own
 * CA file.  Returns 0 or -1. */
static int
tls_server_start(struct tls_server *server, const char *pem,
		 unsigned delay_ms)
{
	time_t now = time(NULL);
	X509 *cert = make_x509(rsa_key, "127.0.0.1", "IP:127.0.0.1",
			       now - DAY, now + DAY);
	FILE *f;
	int fd;

	memset(server, 0, sizeof(*server));
	server->pem = pem;
	atomic_init(&server->delay_ms, delay_ms);
	snprintf(server->ca_file, sizeof(server->ca_file),
		 "/tmp/unit_cert_cache_ca.XXXXXX");
	fd = mkstemp(server->ca_file);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL || PEM_write_X509(f, cert) != 1) {
		X509_free(cert);
		return -1;
	}
	fclose(f);
	server->ctx = SSL_CTX_new(TLS_server_method());
	if (server->ctx == NULL ||
	    SSL_CTX_use_certificate(server->ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(server->ctx, rsa_key) != 1) {
		X509_free(cert);
		return -1;
	}
	X509_free(cert);
	server->fd = silent_listener(&server->port);
	if (server->fd < 0)
		return -1;
	return pthread_create(&server->thread, NULL, tls_server_run,
			      server) == 0 ? 0 : -1;
}

static void
tls_server_stop(struct tls_server *server)
{
	atomic_store(&server->stopping, true);
	shutdown(server->fd, SHUT_RDWR);
	pthread_join(server->thread, NULL);
	close(server->fd);
	SSL_CTX_free(server->ctx);
	unlink(server->ca_file);
}

/* The clock of the caches that need one, in ms. */
static int64_t fake_now_ms = 1000000;

static int64_t
fake_clock(void)
{
	return fake_now_ms;
}

/* Gets https://127.0.0.1:port/name from cache. */
static int
get_local(struct cert_cache *cache, int port, const char *name,
	  struct err *e)
{
	char url[256];
	EVP_PKEY *key = NULL;
	int rc;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/%s", port, name);
	err_clear(e);
	rc = cert_cache_get(cache, url, "us-east-1", T0, &key, e);
	if (rc == RESULT_OK && (key == NULL || EVP_PKEY_eq(key, rsa_key) != 1))
		rc = 99;
	if (rc != RESULT_OK && key != NULL)
		rc = 98;
	EVP_PKEY_free(key);
	return rc;
}

static void
test_single_flight_network(struct tls_server *server)
{
	struct cert_cache_options opts = {
		.capacity = 4,
		.ca_file = server->ca_file,
		.fetch_timeout_ms = 5000,
	};
	struct cert_cache *cache = cert_cache_new(&opts);
	struct worker workers[THREADS];
	struct cert_cache_stats st;
	struct err e;
	char url[256];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/" NAME_A,
		 server->port);
	atomic_store(&server->requests, 0);
	is_int(run_workers(cache, url, workers), THREADS,
	       "single flight network: every caller gets the key");
	is_int(atomic_load(&server->requests), 1,
	       "single flight network: one request reached the server");
	cert_cache_get_stats(cache, &st);
	is_int(st.fetches, 1, "single flight network: one fetch counted");
	is_int(st.hits + st.misses, THREADS,
	       "single flight network: every call counted");

	is_int(get_local(cache, server->port, NAME_A, &e), RESULT_OK,
	       "single flight network: later call hits the cache");
	is_int(atomic_load(&server->requests), 1,
	       "single flight network: no request for a hit");
	cert_cache_free(cache);
}

static void
test_negative_cache(struct tls_server *server)
{
	struct cert_cache_options opts = {
		.capacity = 4,
		.ca_file = server->ca_file,
		.fetch_timeout_ms = 5000,
		.failure_ttl_s = 60,
		.clock_ms = fake_clock,
	};
	struct cert_cache *cache = cert_cache_new(&opts);
	struct cert_cache_stats st;
	struct err e;
	int port;

	atomic_store(&server->requests, 0);
	is_int(get_local(cache, server->port, NAME_B, &e), RESULT_REJECT,
	       "negative: 404 rejected");
	is_str(e.code, "cert_invalid", "negative: 404 code");
	is_int(atomic_load(&server->requests), 1, "negative: one download");

	fake_now_ms += 59 * 1000;
	is_int(get_local(cache, server->port, NAME_B, &e), RESULT_REJECT,
	       "negative: cached failure rejected");
	is_str(e.code, "cert_invalid", "negative: cached failure code");
	ok(strstr(e.msg, "404") != NULL, "negative: cached reason kept");
	ok(strstr(e.msg, "cached for another 1 s") != NULL,
	   "negative: message says cached");
	is_int(atomic_load(&server->requests), 1,
	       "negative: no download within the ttl");
	cert_cache_get_stats(cache, &st);
	is_int(st.negative_hits, 1, "negative: one negative hit");
	is_int(st.failure_entries, 1, "negative: one failure kept");
	is_int(st.fetches, 1, "negative: one fetch counted");

	fake_now_ms += 1000;
	is_int(get_local(cache, server->port, NAME_B, &e), RESULT_REJECT,
	       "negative: rejected again after the ttl");
	is_int(atomic_load(&server->requests), 2,
	       "negative: downloaded again after the ttl");

	/* A transient failure is kept too, with its 503 result. */
	port = closed_port();
	is_int(get_local(cache, port, NAME_B, &e), RESULT_RETRY,
	       "negative: unreachable host retry");
	is_int(get_local(cache, port, NAME_B, &e), RESULT_RETRY,
	       "negative: unreachable host cached retry");
	is_str(e.code, "cert_fetch_failed",
	       "negative: unreachable host cached code");
	cert_cache_get_stats(cache, &st);
	is_int(st.fetches, 3, "negative: unreachable host fetched once");
	is_int(st.negative_hits, 2, "negative: unreachable host cached");

	/* ... but for 10 s only, less than the ttl. */
	fake_now_ms += 9 * 1000;
	get_local(cache, port, NAME_B, &e);
	cert_cache_get_stats(cache, &st);
	is_int(st.fetches, 3, "negative: unreachable host cached for 9 s");
	fake_now_ms += 1000;
	is_int(get_local(cache, port, NAME_B, &e), RESULT_RETRY,
	       "negative: unreachable host retry after 10 s");
	cert_cache_get_stats(cache, &st);
	is_int(st.fetches, 4, "negative: unreachable host fetched after 10 s");
	cert_cache_free(cache);
}

static void
test_negative_cache_bound(struct tls_server *server)
{
	struct cert_cache_options opts = {
		.capacity = 4,
		.ca_file = server->ca_file,
		.fetch_timeout_ms = 5000,
		.failure_ttl_s = 60,
		.failure_capacity = 3,
		.clock_ms = fake_clock,
	};
	struct cert_cache *cache = cert_cache_new(&opts);
	struct cert_cache_stats st;
	const char *names[] = { NAME_B, NAME_C, NAME_BAD, "e.pem", "f.pem" };
	struct err e;
	size_t i;

	atomic_store(&server->requests, 0);
	for (i = 0; i < 5; i++)
		get_local(cache, server->port, names[i], &e);
	cert_cache_get_stats(cache, &st);
	is_int(st.failure_entries, 3, "bound: three failures kept of five");
	is_int(atomic_load(&server->requests), 5, "bound: five downloads");

	is_int(get_local(cache, server->port, names[4], &e), RESULT_REJECT,
	       "bound: newest failure rejected");
	is_int(atomic_load(&server->requests), 5,
	       "bound: newest failure still cached");
	is_int(get_local(cache, server->port, names[0], &e), RESULT_REJECT,
	       "bound: oldest failure rejected");
	is_int(atomic_load(&server->requests), 6,
	       "bound: oldest failure was evicted");
	cert_cache_get_stats(cache, &st);
	is_int(st.failure_entries, 3, "bound: still three failures kept");
	cert_cache_free(cache);
}

static void
test_rate_limit(struct tls_server *server, const char *dir)
{
	struct cert_cache_options opts = {
		.capacity = 4,
		.seed_dir = dir,
		.ca_file = server->ca_file,
		.fetch_timeout_ms = 5000,
		.fetches_per_minute = 2,
		.failure_ttl_s = 60,
		.clock_ms = fake_clock,
	};
	struct cert_cache *cache = cert_cache_new(&opts);
	struct cert_cache_stats st;
	struct err e;

	atomic_store(&server->requests, 0);
	is_int(get_local(cache, server->port, NAME_BAD, &e), RESULT_REJECT,
	       "rate: first download allowed");
	is_int(get_local(cache, server->port, "e.pem", &e), RESULT_REJECT,
	       "rate: second download allowed");
	is_int(get_local(cache, server->port, "f.pem", &e), RESULT_RETRY,
	       "rate: third download refused");
	is_str(e.code, "cert_fetch_rate_limited", "rate: refusal code");
	ok(strstr(e.msg, "cert_fetch_per_minute") != NULL,
	   "rate: refusal names the option");
	is_int(atomic_load(&server->requests), 2,
	       "rate: no request for the refusal");

	is_int(get_local(cache, server->port, "f.pem", &e), RESULT_RETRY,
	       "rate: refused again");
	cert_cache_get_stats(cache, &st);
	is_int(st.rate_limited, 2, "rate: two refusals counted");
	is_int(st.negative_hits, 0, "rate: refusal not cached");
	is_int(st.fetches, 2, "rate: two fetches counted");

	/* NAME_A is in the seed directory: no download is needed. */
	is_int(get_local(cache, server->port, NAME_A, &e), RESULT_OK,
	       "rate: seeded certificate loads without budget");

	fake_now_ms += 30 * 1000;
	is_int(get_local(cache, server->port, "f.pem", &e), RESULT_REJECT,
	       "rate: allowed once a download refilled");
	is_int(atomic_load(&server->requests), 3,
	       "rate: one more request after the refill");
	is_int(get_local(cache, server->port, "g.pem", &e), RESULT_RETRY,
	       "rate: refused again until the next refill");
	is_int(atomic_load(&server->requests), 3,
	       "rate: no request for the second refusal");
	cert_cache_free(cache);
}

static void
test_network_limits(void)
{
	char dir[] = "/tmp/unit_cert_cache.XXXXXX";
	struct tls_server server;
	char *pem = make_good_pem();

	if (mkdtemp(dir) == NULL ||
	    tls_server_start(&server, pem, 300) != 0) {
		ok(0, "network: loopback HTTPS server started");
		free(pem);
		return;
	}
	write_file(dir, NAME_A, pem);

	test_single_flight_network(&server);
	atomic_store(&server.delay_ms, 0);
	test_negative_cache(&server);
	test_negative_cache_bound(&server);
	test_rate_limit(&server, dir);

	tls_server_stop(&server);
	remove_file(dir, NAME_A);
	rmdir(dir);
	free(pem);
}

static void
test_fixture_seed(void)
{
	char dir[1024];
	struct cert_cache_options opts = {
		.capacity = 4,
		.seed_dir = dir,
		.fetch_timeout_ms = 1000,
	};
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
	test_network_limits();

	EVP_PKEY_free(rsa_key);
	http_client_global_cleanup();
	return tap_done();
}
