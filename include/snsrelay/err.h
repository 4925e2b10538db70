/*
 * Error reports handed from a module to its caller.  Modules fill a
 * struct err and return a result; callers decide how to log and respond.
 */
#ifndef SNSRELAY_ERR_H
#define SNSRELAY_ERR_H

#define ERR_MSG_MAX 256

/*
 * Outcome of an operation on untrusted input.  RESULT_REJECT means that
 * retrying cannot help (respond 4xx to SNS); RESULT_RETRY means a
 * transient fault (respond 503 so that SNS retries).
 */
enum result {
	RESULT_OK = 0,
	RESULT_REJECT = -1,
	RESULT_RETRY = -2,
};

struct err {
	/* Short machine-readable reason, a static string such as
	 * "bad_signature"; used for log fields and metrics. */
	const char *code;
	/* One-line human-readable reason with the offending value. */
	char msg[ERR_MSG_MAX];
};

/* Stores code and a printf-formatted message in e; e may be NULL. */
void err_set(struct err *e, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Clears e to code "none" and an empty message. */
void err_clear(struct err *e);

#endif
