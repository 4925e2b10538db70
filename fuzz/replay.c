/*
 * main() for the fuzz targets in builds without libFuzzer: feeds each
 * file named on the command line, and each file of each folder named
 * there, to LLVMFuzzerTestOneInput once.  A broken property or a
 * sanitizer report ends the process; the "Running:" line before it names
 * the input.
 *
 *   fuzz/fuzz_NAME FILE_OR_FOLDER...
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* The largest input replayed; libFuzzer's -max_len in tools/fuzz.sh is
 * far below it. */
#define REPLAY_MAX_BYTES (16 * 1024 * 1024)

static int
replay_read(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (f == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    len > REPLAY_MAX_BYTES || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read %s: not a regular file "
			"of at most 16 MiB\n", path);
		fclose(f);
		return -1;
	}
	/* One more byte, so that an empty file still gets a buffer. */
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	*data = buf;
	*size = (size_t)len;
	return 0;
}

/* Runs one file.  Returns the number of inputs run (1), or -1. */
static int
replay_file(const char *path)
{
	uint8_t *data;
	size_t size;

	if (replay_read(path, &data, &size) != 0)
		return -1;
	fprintf(stderr, "Running: %s\n", path);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 1;
}

static int
replay_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of folder, in name order, so that two runs
 * replay the same sequence. */
static int
replay_folder(const char *folder)
{
	char **names = NULL, **grown, path[4096];
	size_t count = 0, i;
	struct dirent *entry;
	struct stat st;
	int done = 0, rc;
	DIR *dir = opendir(folder);

	if (dir == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", folder,
			strerror(errno));
		return -1;
	}
	while ((entry = readdir(dir)) != NULL) {
		if (entry->d_name[0] == '.')
			continue;
		grown = realloc(names, (count + 1) * sizeof(*names));
		if (grown == NULL || (grown[count] = strdup(entry->d_name)) ==
		    NULL) {
			fprintf(stderr, "replay: out of memory\n");
			exit(2);
		}
		names = grown;
		count++;
	}
	closedir(dir);
	qsort(names, count, sizeof(*names), replay_compare);
	for (i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/%s", folder, names[i]);
		rc = stat(path, &st) == 0 && S_ISREG(st.st_mode) ?
		     replay_file(path) : 0;
		if (rc < 0)
			done = -1;
		else if (done >= 0)
			done += rc;
		free(names[i]);
	}
	free(names);
	return done;
}

int
main(int argc, char **argv)
{
	struct stat st;
	int i, rc, total = 0, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n"
			"Runs each input once; build with --enable-fuzzing "
			"(clang) to fuzz.\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			failed = 1;
			continue;
		}
		rc = S_ISDIR(st.st_mode) ? replay_folder(argv[i]) :
		     replay_file(argv[i]);
		if (rc < 0)
			failed = 1;
		else
			total += rc;
	}
	fprintf(stderr, "replay: %d inputs run\n", total);
	return failed ? 1 : 0;
}
