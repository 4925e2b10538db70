/*
 * The "snsrelay test-destinations" command: sends one alert marked as a
 * test to every configured destination, or to one, and prints the result
 * of each send.
 *
 *   snsrelay [-c FILE] test-destinations [--destination NAME]
 *                                        [--event FILE]
 *
 * It posts directly, once per destination, without the spool, so it works
 * while the relay runs on the same spool and leaves no trace there.
 */
#ifndef SNSRELAY_TEST_CLI_H
#define SNSRELAY_TEST_CLI_H

#include "snsrelay/config.h"

/* Runs the command with the arguments after "test-destinations", printing
 * one line per destination on stdout and problems on stderr.  Returns the
 * process exit status: 0 when every destination accepted the alert, 1
 * when one did not, 2 on a usage error. */
int test_cli_main(const struct relay_config *cfg, int argc, char **argv);

#endif
