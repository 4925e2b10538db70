# shellcheck shell=bash disable=SC2034,SC2154 # run.sh sets and reads the globals
# Sourced by bench/run.sh: the Markdown report.  Reads the rows that
# run.sh collected in $TMP/rows (one tab-separated line per wrk run:
# server, conns, threads, answered, window s, req/s, p50 ms, p99 ms,
# non-200, CPU s, CPU us/msg, peak RSS MiB, exhausted threads, wrk CPU s)
# and $TMP/relay-table, and run.sh's globals.

machine_info() {
	printf -- '- date: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf -- '- command: `bench/run.sh %s` (BENCH_N=%s BENCH_CONNS="%s" BENCH_THREADS=%s BENCH_DURATION=%s BENCH_NODE_WARMUP=%s BENCH_E2E=%s BENCH_DELIVER=%s)\n' \
		"$BUILD" "$N" "$CONNS" "$THREADS" "$DURATION" "$NODE_WARMUP" \
		"$E2E" "$DELIVER${SPOOL_DIR:+ BENCH_SPOOL_DIR=$SPOOL_DIR}"
	printf -- '- source: %s, CFLAGS %s\n' \
		"$(git -C "$top_srcdir" describe --always --dirty 2>/dev/null ||
			echo 'not a git checkout')" \
		"$(sed -n 's/^CFLAGS = //p' "$BUILD/Makefile" 2>/dev/null)"
	printf -- '- CPU: %s, %s cores (nproc)\n' \
		"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		"$(nproc)"
	printf -- '- memory: %s MiB\n' \
		"$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"
	printf -- '- kernel: %s\n' "$(uname -sr)"
	printf -- '- load average (1, 5, 15 min): %s at the start, %s after signing, %s at the end\n' \
		"$LOAD_BEFORE" "$LOAD_MEASURE" "$LOAD_AFTER"
	printf -- '- spool file system: %s\n' \
		"$(df -T "$SPOOL_ROOT" | awk 'NR == 2 { print $2 }')"
	printf -- '- %s\n' "$(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
	printf -- '- %s\n' "$("$BUILD/snsrelay" --version | paste -sd, |
		sed 's/,/, /g')"
	if [ "$NODE_ON" = 1 ]; then
		printf -- '- Node.js %s, npm %s, sns-validator %s\n' \
			"$(node --version)" "$(npm --version)" \
			"$(jq -r .version "$NODE_DIR/node_modules/sns-validator/package.json")"
	fi
	printf -- '- bodies: %s signed in %s s by %s signers, %s SignatureVersion 1 and %s SignatureVersion 2, %s bytes on average, events from %s\n' \
		"$N" "$SIGN_SECONDS" "$JOBS" "$SIGV1" "$SIGV2" "$BODY_BYTES" \
		"${EVENTS#"$top_srcdir"/}"
}

# throughput_table: the rows of both servers.
throughput_table() {
	printf '| server | conns | wrk threads | requests | window s | req/s | p50 ms | p99 ms | non-200 | CPU s | CPU µs/msg | peak RSS MiB | wrk CPU s |\n'
	printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
	awk -F'\t' '{
		printf "| %s | %s | %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			$1, $2, $3, $4, $5, ($13 > 0 ? "*" : ""), $6, $7, $8,
			$9, $10, $11, $12, $14
	}' "$TMP/rows"
}

# ratio_table: snsrelay against the Node server at each connection count.
ratio_table() {
	printf '| conns | snsrelay req/s | Node req/s | ratio | snsrelay p99 ms | Node p99 ms | snsrelay CPU µs/msg | Node CPU µs/msg | snsrelay RSS MiB | Node RSS MiB |\n'
	printf '|---|---|---|---|---|---|---|---|---|---|\n'
	awk -F'\t' '
		$1 == "snsrelay" {
			r[$2] = $6; rp[$2] = $8; rc[$2] = $11; rm[$2] = $12
			order[++n] = $2
		}
		$1 == "node" { q[$2] = $6; qp[$2] = $8; qc[$2] = $11; qm[$2] = $12 }
		END {
			for (i = 1; i <= n; i++) {
				c = order[i]
				if (!(c in q)) continue
				printf "| %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s |\n",
					c, r[c], q[c], r[c] / q[c], rp[c], qp[c],
					rc[c], qc[c], rm[c], qm[c]
			}
		}' "$TMP/rows"
}

# summary: the headline ratio and the targets, one line each.
summary() {
	awk -F'\t' -v e2e="$E2E_P99" '
		function verdict(ok) { return ok ? "met" : "missed" }
		$1 == "snsrelay" {
			if ($6 > rbest) { rbest = $6; rc = $2 }
			if ($12 > rss) rss = $12
			if ($2 == 32) { p32 = $8; rcpu32 = $11; have32 = 1 }
		}
		$1 == "node" && $6 > nbest { nbest = $6; nc = $2 }
		$1 == "node" && $2 == 32 { ncpu32 = $11 }
		END {
			if (nbest > 0)
				printf "- headline: snsrelay %d req/s at best (%s connections), the Node.js server %d req/s at best (%s connections): %.1fx (target at least 10x: %s)\n",
					rbest, rc, nbest, nc, rbest / nbest,
					verdict(rbest / nbest >= 10)
			if (have32 && ncpu32 > 0)
				printf "- CPU time per message at 32 connections: snsrelay %d µs (receive, verify, store, deliver), the Node.js server %d µs (receive, verify): %.1fx\n",
					rcpu32, ncpu32, ncpu32 / rcpu32
			if (have32)
				printf "- snsrelay p99 at 32 connections: %s ms (target under 5 ms: %s)\n",
					p32, verdict(p32 < 5)
			printf "- snsrelay peak RSS: %s MiB at most (target under 32 MiB: %s)\n",
				rss, verdict(rss < 32)
			if (e2e != "-")
				printf "- end to end, POST sent to delivered, p99: %s ms (target under 50 ms: %s)\n",
					e2e, verdict(e2e < 50)
		}' "$TMP/rows"
}

report() {
	printf '## snsrelay benchmark\n\n'
	machine_info

	printf '\n### Verification check\n\n'
	printf '%s' "$CHECK_LOG" | sed 's/^/- /'

	printf '\n### Summary\n\n'
	summary

	printf '\n### Throughput (wrk, at most %s s per run, each body sent once per run)\n\n' \
		"$DURATION"
	throughput_table
	printf '\nreq/s: requests answered / window (first request to last\n'
	printf 'response).  A window marked * ended early because the wrk threads\n'
	printf 'had sent every body.  CPU s: the server process'"'"'s utime + stime;\n'
	printf 'for snsrelay from the start of wrk until every alert was delivered,\n'
	printf 'for Node.js during wrk.  CPU µs/msg: CPU s per stored alert\n'
	printf '(snsrelay) or per answered request (Node.js).  Peak RSS: VmHWM.\n'
	printf 'wrk CPU s: user + system time of wrk itself, which shares the\n'
	printf 'cores with the server, from the start of the window to the end\n'
	printf 'of wrk.\n\n'

	if [ "$NODE_ON" = 1 ]; then
		printf '### snsrelay against the Node.js server\n\n'
		ratio_table
		printf '\n'
	fi

	if [ -s "$TMP/stages" ]; then
		printf '### Steps of one notification (bench/stages, one thread)\n\n'
		cat "$TMP/stages"
		printf '\nverify includes rsa.  The relay also spends CPU time on HTTP,\n'
		printf 'threads, the spool and its fsync, and curl, which no step\n'
		printf 'here contains; compare with CPU µs/msg above.\n\n'
	fi

	printf '### snsrelay deliveries\n\n'
	printf '| conns | requests | delivered / stored | drain s |\n'
	printf '|---|---|---|---|\n'
	cat "$TMP/relay-table"
	if [ "$DELIVER" = 0 ]; then
		printf '\nBENCH_DELIVER=0: a filter kept every alert from the webhook.\n'
	fi
	printf '\n"stored" can exceed "requests" by the requests in flight when a\n'
	printf 'wrk thread stopped.  "drain s": time after wrk ended until no\n'
	printf 'delivery was pending (at most %s s, polled every second).\n\n' \
		"$DRAIN_WAIT"

	printf '### End to end (sequential curl, log_level info)\n\n'
	printf '| requests | non-200 | POST answered p50 ms | p99 ms | alerts timed | POST sent to delivered p50 ms | p99 ms | stored to delivered p50 ms | p99 ms |\n'
	printf '|---|---|---|---|---|---|---|---|---|\n'
	printf '%s\n\n' "$E2E_ROW"
	printf 'POST answered: curl time_total.  POST sent to delivered: from the\n'
	printf 'moment the script started curl to the ts of the alert_delivered\n'
	printf 'line for that alert_id, logged after the mock answered the\n'
	printf 'webhook POST (same clock; log ts has 1 ms resolution; includes\n'
	printf 'starting curl, a few ms).  Stored to delivered: from the\n'
	printf 'notification_stored line to the alert_delivered line.\n'
}
