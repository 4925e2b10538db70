#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "snsrelay/err.h"

void
err_set(struct err *e, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void
err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = "none";
	e->msg[0] = '\0';
}
