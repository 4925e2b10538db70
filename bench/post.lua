-- wrk script for bench/run.sh: POSTs pre-signed SNS notifications, each
-- request a different body, and counts the responses that are not 200.
--
-- Environment:
--   BENCH_BODIES  file of signed bodies, each followed by a line containing
--                 only the ASCII record separator (octal 036)
--   BENCH_THREADS the -t value given to wrk (init() runs before the last
--                 thread exists, so it cannot count them itself)
--   BENCH_COUNTS  file that done() writes the request and non-200 counts
--                 to, as "requests=N non200=N wrapped=N"
--
-- Thread t of T sends bodies t, t + T, t + 2T, ... so no two threads send
-- the same body.  A thread that runs out of bodies starts again from its
-- first one; those requests are counted as "wrapped" (they measure the
-- duplicate path, not the store path).

local threads = {}

function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end

local bodies = {}
local next_body = 1
local sent = 0
-- Globals, so that done() can read them with thread:get().
non200 = 0
wrapped = 0

local function load_bodies(path, tid, tcount)
	local f = assert(io.open(path, "rb"))
	local data = f:read("*a")
	f:close()

	local i = 0
	for body in data:gmatch("(.-)\n\030\n") do
		if i % tcount == tid then
			bodies[#bodies + 1] = body
		end
		i = i + 1
	end
	assert(#bodies > 0, "no bodies for thread " .. tid .. " in " .. path)
end

function init(args)
	local tcount = tonumber(os.getenv("BENCH_THREADS") or "")

	assert(tcount ~= nil and tcount > 0, "BENCH_THREADS is not set")
	load_bodies(assert(os.getenv("BENCH_BODIES"), "BENCH_BODIES is not set"),
		tid, tcount)
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "text/plain; charset=UTF-8"
	wrk.headers["x-amz-sns-message-type"] = "Notification"
	wrk.headers["User-Agent"] = "Amazon Simple Notification Service Agent"
end

function request()
	local body = bodies[next_body]

	next_body = next_body + 1
	if next_body > #bodies then
		next_body = 1
	end
	sent = sent + 1
	if sent > #bodies then
		wrapped = wrapped + 1
	end
	return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
	if status ~= 200 then
		non200 = non200 + 1
	end
end

function done(summary, latency, requests)
	local total_non200 = 0
	local total_wrapped = 0

	for _, t in ipairs(threads) do
		total_non200 = total_non200 + t:get("non200")
		total_wrapped = total_wrapped + t:get("wrapped")
	end
	local path = os.getenv("BENCH_COUNTS")
	if path ~= nil then
		local f = assert(io.open(path, "w"))
		f:write(string.format("requests=%d non200=%d wrapped=%d\n",
			summary.requests, total_non200, total_wrapped))
		f:close()
	end
end
