/*
 * Fuzz target for the check that every fetched or pre-seeded signing
 * certificate goes through (cert_check_pem).  The input is a PEM file as
 * an SNS host would serve it.  It is checked for topics in two commercial
 * regions (one opt-in), a China and a GovCloud region, and with no
 * region.  A certificate that is accepted must carry an RSA key of at
 * least 2048 bits and must not have expired.
 */
#include "config.h"

#include <time.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "snsrelay/cert_cache.h"
#include "snsrelay/err.h"

static const char *const regions[] = {
	"us-east-1", "ap-southeast-3", "cn-north-1", "us-gov-west-1", "",
};

static time_t started;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *key;
	time_t not_after;
	struct err e;
	size_t i;

	if (started == 0)
		started = time(NULL);
	for (i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
		key = NULL;
		not_after = 0;
		if (cert_check_pem((const char *)data, size, regions[i],
				   started, &key, &not_after, &e) != RESULT_OK) {
			FUZZ_ASSERT(key == NULL, "a rejected certificate "
				    "returned a key");
			continue;
		}
		FUZZ_ASSERT(key != NULL && EVP_PKEY_is_a(key, "RSA") &&
			    EVP_PKEY_get_bits(key) >= 2048,
			    "an accepted certificate has no RSA key of 2048 "
			    "bits or more");
		FUZZ_ASSERT(not_after > started,
			    "an accepted certificate has expired");
		EVP_PKEY_free(key);
	}
	return 0;
}
