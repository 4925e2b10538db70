# shellcheck shell=bash disable=SC2034,SC2154 # run.sh sets and reads the globals
# Sourced by bench/run.sh: the end-to-end part.  BENCH_E2E bodies go one
# after the other with curl to a new relay at log_level info, and the
# relay's log lines time each alert from the POST to its delivery.
# Uses run.sh's globals and functions (TMP, E2E, SERVER_PORT, start_relay,
# write_config, wait_drained, stop_pid); sets E2E_ROW and E2E_P99.

# split_bodies COUNT DIR: writes the first COUNT bodies to DIR/1 ... DIR/COUNT.
split_bodies() {
	mkdir -p "$2"
	awk -v max="$1" -v dir="$2" '
		$0 == "\036" { close(f); n++; if (n >= max) exit; next }
		{ f = dir "/" n + 1; print > f }' "$TMP/bodies"
}

# latency_from_log SENT LOG: for each alert_id in SENT ("ID US" lines, US
# the microsecond of the UTC day the POST started), the ms until LOG's
# alert_delivered line for it, sorted.
latency_from_log() {
	awk '
		function field(name,   i, v) {
			for (i = 1; i <= NF; i++)
				if (index($i, name "=") == 1) {
					v = substr($i, length(name) + 2)
					gsub(/"/, "", v)
					return v
				}
			return ""
		}
		function ms(ts,   t, h) {
			t = substr(ts, 12)
			h = substr(t, 1, 2) * 3600 + substr(t, 4, 2) * 60
			return (h + substr(t, 7, 6)) * 1000
		}
		FNR == NR { sent["cloudtrail:" $1] = $2 / 1000; next }
		/event=alert_delivered/ {
			id = field("alert_id")
			if (!(id in sent))
				next
			d = ms(field("ts")) - sent[id]
			if (d < -43200000) d += 86400000
			print d
		}' "$1" "$2" | sort -n
}

# stored_to_delivered LOG: for each alert_id, the ms from its
# notification_stored line to its alert_delivered line, sorted.  LOG is
# read twice because a worker can log the delivery before the request
# thread logs the store.
stored_to_delivered() {
	awk '
		function field(name,   i, v) {
			for (i = 1; i <= NF; i++)
				if (index($i, name "=") == 1) {
					v = substr($i, length(name) + 2)
					gsub(/"/, "", v)
					return v
				}
			return ""
		}
		function ms(ts,   t, h) {
			t = substr(ts, 12)
			h = substr(t, 1, 2) * 3600 + substr(t, 4, 2) * 60
			return (h + substr(t, 7, 6)) * 1000
		}
		FNR == NR && /event=notification_stored/ {
			stored[field("alert_id")] = ms(field("ts"))
		}
		FNR != NR && /event=alert_delivered/ {
			id = field("alert_id")
			if (!(id in stored))
				next
			d = ms(field("ts")) - stored[id]
			if (d < -43200000) d += 86400000
			print d
		}' "$1" "$1" | sort -n
}

# percentile P FILE: the P-th percentile (nearest rank) of sorted numbers.
percentile() {
	awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1
		printf "%.1f", v[r]
	}' "$2"
}

# day_us: the microsecond of the current UTC day (CLOCK_REALTIME, the
# clock of the relay's log time stamps).
day_us() {
	local now=$EPOCHREALTIME

	printf '%d\n' $(( (${now%.*} % 86400) * 1000000 + 10#${now#*.} ))
}

run_e2e() {
	local dir=$TMP/e2e i code bad=0 n

	mkdir -p "$dir"
	split_bodies "$E2E" "$dir/bodies"
	write_config "$dir" info
	start_relay "$dir"
	: >"$dir/client"
	: >"$dir/sent"
	for ((i = 1; i <= E2E; i++)); do
		jq -r '.Message | fromjson | .detail.eventID' \
			"$dir/bodies/$i" >"$dir/bodies/$i.id"
	done
	for ((i = 1; i <= E2E; i++)); do
		printf '%s %s\n' "$(cat "$dir/bodies/$i.id")" "$(day_us)" \
			>>"$dir/sent"
		code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' \
			-H 'Content-Type: text/plain; charset=UTF-8' \
			-H 'x-amz-sns-message-type: Notification' \
			--data-binary "@$dir/bodies/$i" \
			"http://127.0.0.1:$SERVER_PORT/sns")
		[ "${code%% *}" = 200 ] || bad=$((bad + 1))
		echo "${code#* }" | awk '{ print $1 * 1000 }' >>"$dir/client"
	done
	wait_drained "$dir" >/dev/null
	stop_pid "$SERVER_PID"
	sort -n "$dir/client" -o "$dir/client"
	latency_from_log "$dir/sent" "$dir/relay.log" >"$dir/e2e"
	stored_to_delivered "$dir/relay.log" >"$dir/stored"
	n=$(wc -l <"$dir/e2e")
	E2E_P99=$(percentile 99 "$dir/e2e")
	E2E_ROW=$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |' \
		"$E2E" "$bad" \
		"$(percentile 50 "$dir/client")" "$(percentile 99 "$dir/client")" \
		"$n" "$(percentile 50 "$dir/e2e")" "$E2E_P99" \
		"$(percentile 50 "$dir/stored")" \
		"$(percentile 99 "$dir/stored")")
}
