-- wrk script: each request presents the next token from $TOKENS_FILE as a
-- Bearer token (MODE=bearer, the default) or in a verify body (MODE=verify),
-- asking as the verifier whose secret is $VERIFIER (none if unset: a server
-- with `[verify] require_verifier = false`).
-- The same script drives the "scripted floor" (/healthz, which ignores the
-- token), so that wrk's own per-request Lua work is in both figures.
--
-- Every request is formatted once, in init: wrk and the server share the
-- machine's cores, and formatting a request per call in Lua cost wrk a
-- fifth of the floor's throughput, which is the load generator measuring
-- itself rather than the server.
local requests = {}
local i = 0

function init(args)
  local path = os.getenv("TOKENS_FILE")
  local verify = (os.getenv("MODE") or "bearer") == "verify"
  local verifier = os.getenv("VERIFIER") or ""
  for token in io.lines(path) do
    local headers = {}
    if verifier ~= "" then
      headers["Tessera-Verifier"] = verifier
    end
    if verify then
      headers["Content-Type"] = "application/json"
      requests[#requests + 1] = wrk.format("POST", nil, headers, '{"token":"' .. token .. '"}')
    else
      headers["Authorization"] = "Bearer " .. token
      requests[#requests + 1] = wrk.format(nil, nil, headers)
    end
  end
  -- Each thread starts at a different place in the list.
  i = math.random(#requests)
end

function request()
  i = (i % #requests) + 1
  return requests[i]
end
