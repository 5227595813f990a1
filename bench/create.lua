-- wrk script: POST /api/v1/pledges, a draft target pledge of a random commune (a line of
-- BENCH_IDS) in campaign BENCH_CAMPAIGN, each with its own Idempotency-Key
-- (BENCH_NONCE-thread-counter, so reruns never replay). Token from BENCH_TOKEN_FILE.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

local ids = {}
local token = ""
local campaign = os.getenv("BENCH_CAMPAIGN")
local nonce = os.getenv("BENCH_NONCE") or tostring(os.time())
local sent = 0

function init(args)
  local file = assert(io.open(os.getenv("BENCH_TOKEN_FILE"), "r"))
  token = file:read("*l")
  file:close()
  for line in io.lines(os.getenv("BENCH_IDS")) do
    ids[#ids + 1] = line
  end
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"campaign_id":"%s","organization_id":"%s","year":2025,"kind":"target",'
      .. '"field":"van_hoa","title":"Benchmark pledge","target_value":12.5,"target_unit":"%%",'
      .. '"deadline":"2025-12-15"}',
    campaign, ids[math.random(#ids)])
  return wrk.format("POST", "/api/v1/pledges", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = nonce .. "-" .. tostring(thread_id) .. "-" .. tostring(sent),
  }, body)
end
