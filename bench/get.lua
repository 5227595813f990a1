-- wrk script: authenticated GETs of BENCH_PATH, where "{id}" becomes a random line of the file
-- BENCH_IDS (exported by run.sh with psql). The bearer token is read from BENCH_TOKEN_FILE.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

local ids = {}
local token = ""
local template = os.getenv("BENCH_PATH") or "/healthz"

function init(args)
  local file = assert(io.open(os.getenv("BENCH_TOKEN_FILE"), "r"))
  token = file:read("*l")
  file:close()
  local ids_file = os.getenv("BENCH_IDS")
  if ids_file and ids_file ~= "" then
    for line in io.lines(ids_file) do
      ids[#ids + 1] = line
    end
  end
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  local path = template
  if #ids > 0 then
    path = string.gsub(template, "{id}", ids[math.random(#ids)])
  end
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
