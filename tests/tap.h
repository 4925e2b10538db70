/*
 * A minimal TAP producer for the unit tests, read by Automake's TAP
 * driver.  Each check prints "ok N - name" or "not ok N - name" with the
 * file, line and values that differed.
 */
#ifndef SNSRELAY_TEST_TAP_H
#define SNSRELAY_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static void tap_result(int passed, const char *file, int line,
		       const char *fmt, ...)
	__attribute__((format(printf, 4, 5), unused));

static void tap_result(int passed, const char *file, int line,
		       const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!passed)
		tap_failed++;
	printf("%s %d - ", passed ? "ok" : "not ok", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!passed)
		printf("#   at %s:%d\n", file, line);
	fflush(stdout);
}

#define ok(cond, ...) tap_result(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	tap_result(g_ == w_, __FILE__, __LINE__, __VA_ARGS__); \
	if (g_ != w_) \
		printf("#   got %lld, expected %lld\n", g_, w_); \
} while (0)

#define is_str(got, want, ...) do { \
	const char *g_ = (got), *w_ = (want); \
	int same_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_; \
	tap_result(same_, __FILE__, __LINE__, __VA_ARGS__); \
	if (!same_) \
		printf("#   got \"%s\"\n#   expected \"%s\"\n", \
		       g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

#define diag(...) do { printf("# "); printf(__VA_ARGS__); printf("\n"); } \
	while (0)

/* Prints the plan, skipping the whole program with a reason. */
#define skip_all(...) do { printf("1..0 # SKIP "); printf(__VA_ARGS__); \
	printf("\n"); exit(0); } while (0)

static int tap_done(void) __attribute__((unused));
static int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

/* The fixture folder: $SNSRELAY_FIXTURES, else ../shared/fixtures next to
 * the source tree. */
static const char *tap_fixtures_dir(void) __attribute__((unused));
static const char *tap_fixtures_dir(void)
{
	const char *dir = getenv("SNSRELAY_FIXTURES");

	return dir && *dir ? dir : FIXTURES_DIR;
}

#endif
