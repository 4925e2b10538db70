/*
 * Helpers shared by the fuzz targets.
 */
#include "config.h"

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static char fuzz_dir[256];

int
fuzz_is_utf8(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned long cp;
	size_t i = 0, n, k;

	while (i < len) {
		if (u[i] == 0)
			return 0;
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if (u[i] >= 0xc2 && u[i] <= 0xdf)
			n = 2;
		else if (u[i] >= 0xe0 && u[i] <= 0xef)
			n = 3;
		else if (u[i] >= 0xf0 && u[i] <= 0xf4)
			n = 4;
		else
			return 0;
		if (len - i < n)
			return 0;
		cp = u[i] & (0x7f >> n);
		for (k = 1; k < n; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (u[i + k] & 0x3f);
		}
		if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += n;
	}
	return 1;
}

static int
fuzz_remove_entry(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void
fuzz_remove_temp_dir(void)
{
	if (fuzz_dir[0] != '\0')
		nftw(fuzz_dir, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_temp_dir(void)
{
	const char *base = getenv("TMPDIR");

	if (fuzz_dir[0] != '\0')
		return fuzz_dir;
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if ((size_t)snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/snsrelay-fuzz.XXXXXX",
			     base) >= sizeof(fuzz_dir) ||
	    mkdtemp(fuzz_dir) == NULL) {
		fprintf(stderr, "fuzz: cannot create a temporary folder under "
			"%s; set TMPDIR to a writable folder\n", base);
		exit(2);
	}
	atexit(fuzz_remove_temp_dir);
	return fuzz_dir;
}
