-- wrk script: each request presents the next token from $TOKENS_FILE as a
-- Bearer token (MODE=bearer, the default) or in a verify body (MODE=verify).
-- The same script drives the "scripted floor" (/healthz, which ignores the
-- token), so that wrk's own per-request Lua work is in both figures.
local tokens = {}
local i = 0
local verify = false

function init(args)
  local path = os.getenv("TOKENS_FILE")
  for line in io.lines(path) do
    tokens[#tokens + 1] = line
  end
  verify = (os.getenv("MODE") or "bearer") == "verify"
  -- Each thread starts at a different place in the list.
  i = math.random(#tokens)
end

function request()
  i = (i % #tokens) + 1
  if verify then
    return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
      '{"token":"' .. tokens[i] .. '"}')
  end
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
