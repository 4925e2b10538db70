/*
 * The "snsrelay spool" command line: inspect and repair the spool of a
 * configured relay, while it runs or not.
 *
 *   snsrelay [-c FILE] spool list [pending|dead|delivered|all] [--limit N]
 *   snsrelay [-c FILE] spool retry (ROW|--all) [--destination NAME]
 *   snsrelay [-c FILE] spool purge --older-than DURATION
 */
#ifndef SNSRELAY_SPOOL_CLI_H
#define SNSRELAY_SPOOL_CLI_H

#include "snsrelay/config.h"

/* Runs the subcommand in argv[0..argc) ("list", "retry", "purge") against
 * cfg->spool_path, printing to stdout and errors to stderr.  Returns the
 * process exit status: 0, 1 on failure, 2 on a usage error. */
int spool_cli_main(const struct relay_config *cfg, int argc, char **argv);

#endif
