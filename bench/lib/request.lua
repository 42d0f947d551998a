-- wrk script for bench/compare.sh: one request shape per run, built once from the environment
-- (no request() function, so wrk sends a prebuilt request and stays on its fast path).
--   BENCH_SCENARIO  signed | invalid  -> POST with BENCH_BODY_FILE and Stripe-Signature BENCH_SIG
--                   preflight         -> OPTIONS, Origin: null, Access-Control-Request-*
--   BENCH_COUNT_STATUS=1  count every response's status (a response() hook: costs the load
--                   generator CPU, so compare.sh uses it for the warm-up only)
-- done() prints one line: BENCHJSON {...} (requests, errors, latency percentiles in µs, statuses).

local scenario = os.getenv("BENCH_SCENARIO") or "signed"

if scenario == "preflight" then
  wrk.method = "OPTIONS"
  wrk.headers["Origin"] = "null"
  wrk.headers["Access-Control-Request-Method"] = "POST"
  wrk.headers["Access-Control-Request-Headers"] = "content-type,stripe-signature"
else
  wrk.method = "POST"
  local f = assert(io.open(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE unset"), "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
  local sig = os.getenv("BENCH_SIG")
  if sig and sig ~= "" then wrk.headers["Stripe-Signature"] = sig end
end

-- Each wrk thread runs its own copy of this script: the counts live per thread and done()
-- (run in the main interpreter) adds them up through thread:get().
local threads = {}
function setup(thread) threads[#threads + 1] = thread end

if os.getenv("BENCH_COUNT_STATUS") == "1" then
  statuses = {}
  function response(status, _headers, _body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, _requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    if type(counts) == "table" then
      for status, n in pairs(counts) do total[status] = (total[status] or 0) + n end
    end
  end
  local parts = {}
  for status, n in pairs(total) do parts[#parts + 1] = string.format('"%d":%d', status, n) end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"statuses":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ",")))
end
