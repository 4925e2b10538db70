/*
 * Fuzz target for the configuration file parser.  The input is the text
 * of a file.  It is written to a memory file (memfd), loaded with
 * config_load_file on top of the embedded default as snsrelay -c does,
 * and checked with config_validate.  Properties:
 *
 *   - config_load_file returns the number of lines it added to the
 *     report, and config_validate likewise;
 *   - every report line is one line of text without control characters,
 *     so a file cannot forge lines or terminal escapes in the output of
 *     --check-config.
 *
 * Nothing is written except the memory file: config_validate only reads
 * the files an input names (stat, access, opening TLS files), relative
 * to the working folder.  The target must not change folders, because
 * libFuzzer writes its corpus and crash files to relative paths.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "snsrelay/config.h"
#include "snsrelay/log.h"

static int memfd = -1;
static char memfd_path[64];

static void
setup(void)
{
	log_setup(LOG_ERROR, LOG_FORMAT_LOGFMT);
	memfd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("fuzz_config: memfd_create");
		exit(2);
	}
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
}

static void
write_input(const uint8_t *data, size_t size)
{
	size_t done = 0;
	ssize_t n;

	FUZZ_ASSERT(ftruncate(memfd, 0) == 0, "cannot truncate the memfd");
	while (done < size) {
		n = pwrite(memfd, data + done, size - done, (off_t)done);
		FUZZ_ASSERT(n > 0, "cannot write the memfd");
		done += (size_t)n;
	}
}

/* Checks the lines from first on. */
static void
check_report(const struct config_report *report, size_t first)
{
	const unsigned char *s;
	size_t i;

	for (i = first; i < report->count; i++) {
		for (s = (const unsigned char *)report->lines[i]; *s; s++)
			FUZZ_ASSERT(*s >= 0x20 && *s != 0x7f,
				    "a report line holds a control character");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_report report = { NULL, 0 };
	struct relay_config cfg;
	size_t loaded;
	int problems;

	if (memfd < 0)
		setup();
	write_input(data, size);

	FUZZ_ASSERT(config_init_defaults(&cfg) == 0, "no memory");
	problems = config_load_file(&cfg, memfd_path, &report);
	FUZZ_ASSERT(problems >= 0 && (size_t)problems == report.count,
		    "config_load_file returned another count than it "
		    "reported");
	check_report(&report, 0);
	loaded = report.count;

	problems = config_validate(&cfg, memfd_path, &report);
	FUZZ_ASSERT(problems >= 0 && (size_t)problems == report.count - loaded,
		    "config_validate returned another count than it reported");
	check_report(&report, loaded);
	if (report.count == 0) {
		(void)config_topic_allowed(&cfg,
			"arn:aws:sns:us-east-1:123456789012:sg-alerts");
		(void)config_topic_allowed(&cfg,
			"arn:aws-cn:sns:cn-north-1:123456789012:x");
	}
	config_report_free(&report);
	config_free(&cfg);
	return 0;
}
