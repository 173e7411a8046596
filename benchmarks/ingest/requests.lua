-- Replays pre-signed requests from $REQUESTS (lines "signature<TAB>body"); each wrk thread takes
-- its own slice so that every request is a new event. $DELAY_MS adds think time per request.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("slice", counter)
  table.insert(threads, thread)
end

function init(args)
  local n_threads = tonumber(os.getenv("THREADS"))
  delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
  reqs = {}
  local i = 0
  for line in io.lines(os.getenv("REQUESTS")) do
    if i % n_threads == slice - 1 then
      local tab = line:find("\t")
      reqs[#reqs + 1] = wrk.format("POST", "/ingest/bench",
        {["Content-Type"] = "application/json", ["X-Signature"] = line:sub(1, tab - 1)},
        line:sub(tab + 1))
    end
    i = i + 1
  end
  idx = 0
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  io.write(string.format("JSON {\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"non2xx\": %d}\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status))
end
