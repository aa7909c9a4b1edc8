-- wrk script: each request presents the next token from $TOKENS_FILE as a
-- Bearer token (and, for the /auth and verify benchmarks, in the body).
local tokens = {}
local i = 0

function init(args)
  local path = os.getenv("TOKENS_FILE")
  for line in io.lines(path) do
    tokens[#tokens + 1] = line
  end
  -- Each thread starts at a different place in the list.
  i = math.random(#tokens)
end

function request()
  i = (i % #tokens) + 1
  local mode = os.getenv("MODE") or "bearer"
  if mode == "verify" then
    return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
      '{"token":"' .. tokens[i] .. '"}')
  end
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
