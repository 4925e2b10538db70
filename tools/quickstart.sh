#!/bin/sh
# Installs what snsrelay needs (Debian packages), builds it in build/, and
# starts it in the foreground on its embedded default configuration:
# http://127.0.0.1:8080/sns for SNS, /healthz for health checks, alerts on
# standard output.  Arguments are passed on to snsrelay, e.g. -c FILE.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# Progress goes to standard error: standard output carries the alerts.
sh tools/install-deps.sh >&2
[ -x configure ] || autoreconf -fi >&2
mkdir -p build
cd build
[ -f Makefile ] || ../configure --quiet >&2
make -j"$(nproc)" --no-print-directory >/dev/null
echo "quickstart: built $top/build/snsrelay; starting it (Ctrl-C stops it)" >&2
exec ./snsrelay "$@"
