#!/bin/sh
# The container image and the systemd unit, without Docker or systemd.
# The test checks that docker/Dockerfile builds and installs through
# tools/install-deps.sh and tools/container-build.sh, and runs that build
# script on a copy of the Docker build context into a temporary DESTDIR.
# It starts the installed daemon configured the way the image configures
# it and runs the image's HEALTHCHECK command against it.  Then it checks
# the installed systemd unit and docker/compose.yaml.
. "$top_srcdir/tests/lib.sh"

dockerfile=$top_srcdir/docker/Dockerfile
compose=$top_srcdir/docker/compose.yaml
context=$TEST_TMP/context
dest=$TEST_TMP/dest

for tool in autoreconf make tar; do
	command -v "$tool" >/dev/null 2>&1 ||
		tap_skip_all "$tool not found; run tools/install-deps.sh"
done

# ------------------------------------------------------- Dockerfile

# Prints each instruction of the Dockerfile on one line, prefixed with
# its stage number and a tab: continuation lines joined, comment lines
# and blank lines dropped, runs of blanks made one space.
dockerfile_instructions() {
	awk '
	/^[ \t]*#/ { next }
	{
		line = $0
		if (sub(/\\[ \t]*$/, "", line)) {
			pending = pending line " "
			next
		}
		text = pending line
		pending = ""
		gsub(/[ \t]+/, " ", text)
		sub(/^ /, "", text)
		sub(/ $/, "", text)
		if (text == "")
			next
		if (toupper(text) ~ /^FROM /)
			stage++
		print stage "\t" text
	}' "$dockerfile"
}

# instructions STAGE KEYWORD: prints the arguments of the instructions
# KEYWORD of stage STAGE ("last" for the final stage), one per line.
instructions() {
	printf '%s\n' "$all_instructions" | awk -F '\t' -v stage="$1" \
		-v keyword="$2" -v last="$stage_count" '
	(stage == "last" ? $1 == last : $1 == stage) &&
	    index($2, keyword " ") == 1 {
		print substr($2, length(keyword) + 2)
	}'
}

all_instructions=$(dockerfile_instructions)
stage_count=$(printf '%s\n' "$all_instructions" | cut -f 1 | sort -n |
	tail -n 1)
tap_is "$stage_count" 2 "Dockerfile has two stages"
tap_is "$(instructions 1 FROM)" "debian:bookworm AS build" \
	"build stage is debian:bookworm"
tap_is "$(instructions last FROM)" "debian:bookworm-slim" \
	"runtime stage is debian:bookworm-slim"

build_runs=$(instructions 1 RUN)
runtime_runs=$(instructions last RUN)
tap_like "$build_runs" '(^|&& )sh tools/install-deps\.sh( &&|$)' \
	"build stage runs install-deps.sh"
tap_like "$build_runs" '(^|&& )sh tools/container-build\.sh /[^ ]+( &&|$)' \
	"build stage runs container-build.sh"
tap_like "$runtime_runs" 'sh [^ ]*install-deps\.sh --runtime( &&|$)' \
	"runtime stage runs install-deps.sh --runtime"
install_dir=$(printf '%s\n' "$build_runs" |
	sed -n 's/.*tools\/container-build\.sh \(\/[^ ]*\).*/\1/p')

# Every COPY from the build context names files that exist there, and
# the COPY from the build stage takes what container-build.sh installed.
copy_problems=
copy_from_build=
copy_sources=
stage=1
while [ "$stage" -le "$stage_count" ]; do
	while IFS= read -r copy; do
		[ -n "$copy" ] || continue
		case $copy in
		--from=build\ *)
			copy_from_build=${copy#--from=build }
			continue
			;;
		--*)
			copy_problems="$copy_problems; unexpected flag in $copy"
			continue
			;;
		esac
		# shellcheck disable=SC2086 # one word per path
		set -- $copy
		while [ $# -gt 1 ]; do
			[ -e "$top_srcdir/$1" ] ||
				copy_problems="$copy_problems; $1 not found"
			copy_sources="$copy_sources $1"
			shift
		done
	done <<EOF
$(instructions "$stage" COPY)
EOF
	stage=$((stage + 1))
done
tap_is "$copy_problems" "" "files the Dockerfile copies exist"
tap_is "$copy_from_build" "$install_dir/ /" \
	"runtime stage copies the installed tree"

tap_is "$(instructions last ENV)" "SNSRELAY_LISTEN=0.0.0.0:8080" \
	"image listens on every interface"
workdir=$(instructions last WORKDIR)
tap_is "$workdir" /var/lib/snsrelay "image works in the spool folder"
tap_is "$(instructions last VOLUME)" '["/var/lib/snsrelay"]' \
	"spool folder is a volume"
tap_is "$(instructions last EXPOSE)" 8080 "image exposes port 8080"
image_user=$(instructions last USER)
tap_unlike "$image_user" '^(0|root)(:|$)' "image runs as a non-root user"
tap_like "$runtime_runs" "useradd .*--uid ${image_user%%:*} " \
	"USER is the uid that useradd creates"
tap_like "$runtime_runs" "groupadd .*--gid ${image_user#*:} " \
	"USER is the gid that groupadd creates"
entrypoint=$(instructions last ENTRYPOINT)
tap_is "$entrypoint" '["/usr/bin/snsrelay"]' "entry point is snsrelay"

health=$(instructions last HEALTHCHECK)
health_cmd=$(printf '%s\n' "$health" | sed -n 's/^.*CMD //p')
tap_like "$health_cmd" '^[^[]' "HEALTHCHECK uses the shell form"
tap_contains "$health_cmd" /healthz "HEALTHCHECK requests /healthz"

# The HEALTHCHECK's program must come with install-deps.sh --runtime.
# shellcheck disable=SC2034 # read by the tap_ok condition below
runtime_packages=$(awk '
	/^runtime_packages="/ { on = 1; sub(/^runtime_packages="/, "") }
	on {
		line = $0
		if (sub(/".*$/, "", line)) {
			print line
			exit
		}
		print line
	}' "$top_srcdir/tools/install-deps.sh" | tr -s ' \t' '\n')
health_program=${health_cmd%% *}
tap_ok "printf '%s\n' \"\$runtime_packages\" | grep -qx '$health_program'" \
	"runtime packages include $health_program"

# ------------------------------------------------- container build

# Copies the source tree to $context without what .dockerignore leaves
# out of Docker's build context.  The file uses two pattern forms only:
# PATTERN, matched from the top folder, and **/NAME, matched in any.
copy_context() {
	set --
	while IFS= read -r pattern || [ -n "$pattern" ]; do
		case $pattern in
		"" | \#*)
			continue
			;;
		# Exceptions, absolute paths, "**" after the start, and a
		# folder after a leading "**/".
		!* | /* | ?*\*\** | \*\*/*/*)
			tap_diag "unsupported .dockerignore pattern: $pattern"
			return 1
			;;
		\*\*/*)
			set -- "$@" -o -name "${pattern#\*\*/}"
			;;
		*)
			set -- "$@" -o -path "./$pattern"
			;;
		esac
	done <"$top_srcdir/.dockerignore"

	# A build folder inside the source tree (make distcheck's _build)
	# is no part of the context.
	case $top_builddir in
	"$top_srcdir"/*)
		inner=${top_builddir#"$top_srcdir"/}
		set -- "$@" -o -path "./${inner%%/*}"
		;;
	esac
	shift

	mkdir -p "$context" &&
	(cd "$top_srcdir" && find . \( "$@" \) -prune -o \
		\( -type f -o -type l \) -print) >"$TEST_TMP/context.list" &&
	(cd "$top_srcdir" && tar -cf - -T "$TEST_TMP/context.list") |
		(cd "$context" && tar -xf -) &&
	# make distcheck's source tree is read-only.
	chmod -R u+w "$context"
}

if copy_context; then
	lib_result 0 "build context copied"
else
	lib_result 1 "build context copied"
	tap_done
fi
tap_ok '[ ! -e "$context/configure" ] && [ ! -e "$context/.git" ]' \
	"context leaves out generated files"
missing=
for source in $copy_sources; do
	[ -e "$context/$source" ] || missing="$missing $source"
done
tap_is "$missing" "" "context has the files the Dockerfile copies"

# The build runs as the Dockerfile runs it, from the copied tree, with
# none of this make's settings.  One job, because "make -j2 check" runs
# other tests beside this one.
build_start=$(date +%s)
(
	unset MAKEFLAGS MFLAGS MAKELEVEL
	cd "$context" &&
	MAKE_JOBS=1 sh tools/container-build.sh --build-dir "$TEST_TMP/build" \
		"$dest"
) >"$TEST_TMP/container-build.log" 2>&1
build_status=$?
tap_diag "container-build.sh took $(($(date +%s) - build_start)) s"
tap_is "$build_status" 0 "container-build.sh succeeds"
if [ "$build_status" -ne 0 ]; then
	tail -n 40 "$TEST_TMP/container-build.log" | sed 's/^/#   /'
	tap_done
fi
tap_ok "grep -q 'generating configure' '$TEST_TMP/container-build.log'" \
	"container-build.sh ran autoreconf"

for file in usr/bin/snsrelay usr/bin/snsrelay-sign etc/snsrelay.conf \
	usr/share/man/man8/snsrelay.8 usr/share/man/man5/snsrelay.conf.5 \
	usr/lib/systemd/system/snsrelay.service; do
	tap_ok "[ -f '$dest/$file' ]" "installs /$file"
done
tap_ok "[ -d '$dest$workdir' ]" "installs the spool folder $workdir"
entry_program=$(printf '%s\n' "$entrypoint" |
	sed -n 's/^\["\([^"]*\)"\]$/\1/p')
tap_ok "[ -n '$entry_program' ] && [ -x '$dest$entry_program' ]" \
	"entry point is installed"
tap_is "$("$dest/usr/bin/snsrelay" --version 2>&1 | head -n 1)" \
	"$("$top_builddir/snsrelay" --version | head -n 1)" \
	"installed snsrelay has this version"
"$dest/usr/bin/snsrelay" --check-config -c "$dest/etc/snsrelay.conf" \
	>"$TEST_TMP/check-config.out" 2>&1
tap_is "$?" 0 "installed sample configuration is valid"

# ------------------------------------------ run it like the image

spool_dir=$dest$workdir

# start_image NAME [VARIABLE=VALUE...]: starts the installed snsrelay in
# the spool folder with only the Dockerfile's environment, the given
# variables and a loopback listener, like "docker run -e".
start_image() {
	lib_name=$1
	shift
	RELAY_LOG=$TEST_TMP/$lib_name.log
	RELAY_OUT=$TEST_TMP/$lib_name.out
	# shellcheck disable=SC2046 # one word per ENV assignment
	(cd "$spool_dir" && exec env -i PATH="$PATH" \
		$(instructions last ENV) SNSRELAY_LISTEN=127.0.0.1:0 "$@" \
		"$dest/usr/bin/snsrelay") >"$RELAY_OUT" 2>"$RELAY_LOG" &
	RELAY_PID=$!
	lib_pids="$lib_pids $RELAY_PID"
	lib_wait_ready || return 1
	RELAY_PORT=$(sed -n 's/.*event=ready.* port=\([0-9][0-9]*\).*/\1/p' \
		"$RELAY_LOG" | head -n 1)
	[ -n "$RELAY_PORT" ]
}

# run_healthcheck PORT: runs the HEALTHCHECK command the way Docker
# does, with "sh -c" and the image's environment, and prints its status.
run_healthcheck() {
	(cd "$spool_dir" && env -i PATH="$PATH" SNSRELAY_LISTEN="0.0.0.0:$1" \
		sh -c "$health_cmd") >"$TEST_TMP/healthcheck.out" 2>&1
	echo $?
}

topic=arn:aws:sns:us-east-1:123456789012:sg-changes
if start_image env SNSRELAY_TOPIC="$topic"; then
	lib_result 0 "image starts on environment only"
	ready=$(log_events "$RELAY_LOG" ready)
	tap_like "$ready" ' topics=1( |$)' "topic comes from the environment"
	tap_like "$(log_events "$RELAY_LOG" starting)" \
		'config="?embedded defaults' "no configuration file is read"
	tap_is "$(http_get "http://127.0.0.1:$RELAY_PORT/healthz")" 200 \
		"/healthz answers 200"
	tap_is "$(response_field .status)" ok "/healthz says ok"
	tap_ok "[ -f '$spool_dir/data/spool.db' ]" \
		"spool is in the spool folder"
	tap_is "$(run_healthcheck "$RELAY_PORT")" 0 \
		"HEALTHCHECK passes while the relay runs"
	stop_relay
	tap_is "$STOP_STATUS" 0 "SIGTERM stops it with status 0"
	# Not the stopped relay's port, which another test's relay may
	# get next.
	tap_is "$(run_healthcheck "$CLOSED_PORT")" 1 \
		"HEALTHCHECK fails where nothing listens"
else
	lib_result 1 "image starts on environment only"
	tap_skip "the relay did not start" 8
fi

# A mounted file named by SNSRELAY_CONFIG, as docker/README.md shows.
# Its listen address does not exist, so only the variable's can work.
cat >"$TEST_TMP/mounted.conf" <<EOF
listen = 192.0.2.1:8080
topic = $topic
topic = arn:aws:sns:us-east-1:123456789012:other
log_level = debug
EOF
if start_image file SNSRELAY_CONFIG="$TEST_TMP/mounted.conf"; then
	lib_result 0 "image starts on SNSRELAY_CONFIG"
	tap_like "$(log_events "$RELAY_LOG" ready)" ' topics=2( |$)' \
		"topics come from the file"
	tap_like "$(log_events "$RELAY_LOG" ready)" ' address=127\.0\.0\.1 ' \
		"SNSRELAY_LISTEN overrides the file"
	stop_relay
else
	lib_result 1 "image starts on SNSRELAY_CONFIG"
	tap_skip "the relay did not start" 2
fi

# Docker runs the entry point as process 1 of a PID namespace, which
# gets no default action for a signal it has no handler for: SIGTERM
# and SIGHUP must still reach the relay's sigwait.
if unshare --pid --fork true 2>/dev/null; then
	pid1_log=$TEST_TMP/pid1.log
	# shellcheck disable=SC2046 # one word per ENV assignment
	(cd "$spool_dir" && exec env -i PATH="$PATH" \
		$(instructions last ENV) SNSRELAY_LISTEN=127.0.0.1:0 \
		unshare --pid --fork "$dest/usr/bin/snsrelay") \
		>"$TEST_TMP/pid1.out" 2>"$pid1_log" &
	unshare_pid=$!
	lib_pids="$lib_pids $unshare_pid"
	wait_for_file_line "$pid1_log" 'event=ready'
	tap_is "$?" 0 "relay starts as process 1"
	pid1=$(lib_children "$unshare_pid")
	tap_like "$(grep '^NSpid:' "/proc/$pid1/status" 2>&1)" \
		'[[:space:]]1$' "relay is process 1 of its namespace"
	kill -HUP "$pid1" 2>/dev/null
	wait_for_file_line "$pid1_log" 'event=reloaded'
	tap_is "$?" 0 "process 1 reloads on SIGHUP"
	kill -TERM "$pid1" 2>/dev/null
	wait_for_file_line "$pid1_log" 'event=stopped'
	tap_is "$?" 0 "process 1 stops on SIGTERM"
	stop_pid "$unshare_pid"
	tap_is "$STOP_STATUS" 0 "process 1 exits with status 0"
else
	tap_skip "unshare --pid needs root" 5
fi

# ------------------------------------------------------ systemd unit

unit=$dest/usr/lib/systemd/system/snsrelay.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
unit_program=${exec_start%% *}
tap_is "$unit_program" /usr/bin/snsrelay "unit starts /usr/bin/snsrelay"
tap_ok "[ -x '$dest$unit_program' ]" "unit's program is installed"
unit_config=$(printf '%s\n' "$exec_start" | sed -n 's/.* -c \([^ ]*\).*/\1/p')
tap_is "$unit_config" /etc/snsrelay.conf "unit reads /etc/snsrelay.conf"
tap_ok "[ -f '$dest$unit_config' ]" "unit's configuration is installed"
tap_unlike "$(cat "$unit")" '@[a-z]+@' "unit has no placeholder left"
tap_is "$(sed -n 's/^WorkingDirectory=//p' "$unit")" "$workdir" \
	"unit works in the image's spool folder"
tap_is "$(grep -c '^\[\(Unit\|Service\|Install\)\]$' "$unit")" 3 \
	"unit has its three sections"
while IFS= read -r setting; do
	tap_ok "grep -qxF '$setting' '$unit'" "unit sets $setting"
done <<'EOF'
Type=simple
User=snsrelay
StateDirectory=snsrelay
EnvironmentFile=-/etc/default/snsrelay
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
CapabilityBoundingSet=
SystemCallFilter=@system-service
WantedBy=multi-user.target
EOF
tap_like "$(cat "$unit")" '^MemoryMax=[0-9]+[KMG]$' "unit limits memory"

# systemd-analyze checks every key and value, that ExecStart names an
# existing program and that man(1) finds the Documentation= pages, so
# the copy points ExecStart and MANPATH into DESTDIR.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$TEST_TMP/unit"
	sed "s|^ExecStart=/usr/bin/snsrelay|ExecStart=$dest/usr/bin/snsrelay|" \
		"$unit" >"$TEST_TMP/unit/snsrelay.service"
	MANPATH=$dest/usr/share/man systemd-analyze verify \
		"$TEST_TMP/unit/snsrelay.service" >"$TEST_TMP/verify.out" 2>&1
	tap_is "$?:$(cat "$TEST_TMP/verify.out")" "0:" \
		"systemd-analyze verify accepts the unit"
else
	tap_skip "systemd-analyze not found"
fi

# --------------------------------------------------------- compose

if command -v yq >/dev/null 2>&1; then
	service='.services.snsrelay'
	compose_get() {
		yq -r "$1" "$compose" 2>"$TEST_TMP/yq.err"
	}
	tap_is "$(compose_get "$service.build.context")/$(compose_get \
		"$service.build.dockerfile")" ../docker/Dockerfile \
		"compose builds docker/Dockerfile from the top folder"
	tap_is "$(compose_get "$service.volumes[]")" "spool:$workdir" \
		"compose puts the spool on a volume"
	tap_is "$(compose_get '.volumes | keys[]')" spool \
		"compose defines the spool volume"
	tap_is "$(compose_get "$service.read_only"):$(compose_get \
		"$service.tmpfs[]")" "true:/tmp" \
		"compose root is read-only with a /tmp"
	password_file=$(compose_get \
		"$service.environment.SNSRELAY_BASIC_AUTH_PASSWORD_FILE")
	secret=$(compose_get "$service.secrets[0]")
	tap_is "$password_file" "/run/secrets/$secret" \
		"password file is the service's secret"
	tap_ok "[ -n \"\$(compose_get '.secrets.\"$secret\".file // empty')\" ]" \
		"compose defines the secret's file"
	for variable in DISCORD_WEBHOOK_URL SNSRELAY_TOPIC; do
		tap_ok "[ -n \"\$(compose_get \
			'$service.environment.$variable // empty')\" ]" \
			"compose sets $variable"
	done
	# Every SNSRELAY_ variable must be one the relay reads.
	"$top_builddir/snsrelay" --help-config >"$TEST_TMP/help-config"
	unknown=
	for variable in $(compose_get "$service.environment | keys[]" |
		grep '^SNSRELAY_'); do
		grep -qx "    environment: $variable" "$TEST_TMP/help-config" ||
			unknown="$unknown $variable"
	done
	tap_is "$unknown" "" "compose variables are options"
	tap_is "$(compose_get "$service.healthcheck.test[1]" |
		sed 's/\$\$/$/g')" "$health_cmd" \
		"compose health check is the image's"
else
	tap_skip "yq not found" 10
fi

tap_done
