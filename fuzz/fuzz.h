/*
 * Shared by the fuzz targets.  Each target defines LLVMFuzzerTestOneInput.
 * In a --enable-fuzzing build libFuzzer calls it with generated inputs,
 * and in every other build fuzz/replay.c calls it once per input file.
 */
#ifndef SNSRELAY_FUZZ_H
#define SNSRELAY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs the code under test on one input.  Returns 0; a broken property
 * aborts the process, which both libFuzzer and fuzz/replay.c report. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints message to standard error and aborts when cond is false, so
 * that the fuzzer keeps the input as a crash. */
#define FUZZ_ASSERT(cond, message)					\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: property broken: %s\n",	\
				__FILE__, __LINE__, (message));		\
			abort();					\
		}							\
	} while (0)

/* True when s[0..len) is well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF) with no NUL byte. */
int fuzz_is_utf8(const char *s, size_t len);

/* Creates a private temporary folder, removed at exit with its files.
 * Returns its path, or exits when it cannot be created. */
const char *fuzz_temp_dir(void);

#endif
