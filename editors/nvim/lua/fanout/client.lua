-- Finding the fanout client and talking to it. Everything that sends a request goes
-- through here, so the 0.10/0.11 API difference (client.request vs client:request)
-- is handled in one place.
local M = {}

M.name = 'fanout'

local has_011 = vim.fn.has('nvim-0.11') == 1

---@param client vim.lsp.Client
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- A request waited for (for :checkhealth, which must finish synchronously).
---@param client vim.lsp.Client
---@return table|nil result, string|nil error
function M.request_sync(client, method, params, timeout_ms, bufnr)
  local res, err
  if has_011 then
    res, err = client:request_sync(method, params, timeout_ms, bufnr)
  else
    res, err = client.request_sync(method, params, timeout_ms, bufnr)
  end
  if not res then
    return nil, err or 'no answer'
  end
  if res.err then
    return nil, res.err.message or vim.inspect(res.err)
  end
  return res.result
end

---@param client vim.lsp.Client
function M.notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

---@return vim.lsp.Client[]
function M.all()
  return vim.lsp.get_clients({ name = M.name })
end

--- The fanout client for a buffer. Buffers that are not files (the status window, a log,
--- a diff view) use the only client, or the one whose root holds the working directory.
---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.for_buf(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local attached = vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
  if attached[1] then
    return attached[1]
  end
  local all = M.all()
  if #all <= 1 then
    return all[1]
  end
  local root = vim.fs.root(vim.fn.getcwd(), '.git')
  for _, client in ipairs(all) do
    if client.config.root_dir == root then
      return client
    end
  end
  return all[1]
end

--- Like for_buf, but tells the user when there is no client.
---@return vim.lsp.Client|nil
function M.require(bufnr)
  local client = M.for_buf(bufnr)
  if not client then
    vim.notify(
      'fanout: no fanout language server is running (open a file inside a git repository, see :checkhealth fanout)',
      vim.log.levels.ERROR
    )
  end
  return client
end

--- Runs one of the server's `fanout.*` commands. Errors are reported to the user here;
--- on_result only sees successful results.
---@param client vim.lsp.Client
---@param command string
---@param arg table the one JSON object argument of docs/protocol.md
---@param on_result fun(result: any)|nil
---@param bufnr integer|nil
function M.execute(client, command, arg, on_result, bufnr)
  if next(arg) == nil then
    -- An empty Lua table encodes as a JSON array; the protocol wants an object.
    arg = vim.empty_dict()
  end
  local params = { command = command, arguments = { arg } }
  local sent = M.request(client, 'workspace/executeCommand', params, function(err, result)
    if err then
      vim.notify(('fanout: %s: %s'):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if on_result then
      on_result(result)
    end
  end, bufnr)
  if not sent then
    vim.notify(('fanout: %s: the language server is not running'):format(command), vim.log.levels.ERROR)
  end
end

return M
