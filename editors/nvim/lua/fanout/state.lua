-- The last known status of each fanout client's repository, fed by `fanout/status`
-- notifications and by `fanout.status` answers, both of which carry the server's counts.
-- Completion, pickers, the status window and the statusline read it synchronously, so none
-- of them waits on the server.
local M = {}

---@class fanout.Status
---@field running integer
---@field queued integer
---@field succeeded integer
---@field failed integer
---@field fanouts table[] fanout objects of `fanout status --json`
---@field batches table[] task list runs (`batches` of `fanout status --json`)
---@field repo string|nil
---@field generation integer bumped on every update

---@type table<integer, fanout.Status>
local by_client = {}

---@param client_id integer
---@return integer generation to pass to set() with a reply, so a slow reply cannot
---        overwrite a newer notification
function M.generation(client_id)
  return by_client[client_id] and by_client[client_id].generation or 0
end

--- Records a status and tells everyone listening (`User FanoutStatus`).
---@param client_id integer
---@param status table `fanout/status` params or a `fanout.status` result
---@param source 'notification'|'reply'
---@param generation integer|nil for replies: M.generation() when the request was sent
function M.set(client_id, status, source, generation)
  local old = by_client[client_id]
  if source == 'reply' and old and generation and old.generation ~= generation then
    return
  end
  by_client[client_id] = {
    running = status.running or 0,
    queued = status.queued or 0,
    succeeded = status.succeeded or 0,
    failed = status.failed or 0,
    fanouts = status.fanouts or {},
    batches = status.batches or {},
    repo = status.repo or (old and old.repo),
    generation = (old and old.generation or 0) + 1,
  }
  vim.api.nvim_exec_autocmds('User', {
    pattern = 'FanoutStatus',
    modeline = false,
    data = { client_id = client_id },
  })
  -- Statuslines only re-evaluate on redraw; this may run from a fast callback.
  vim.schedule(function()
    pcall(vim.cmd, 'redrawstatus!')
  end)
end

---@param client_id integer
function M.forget(client_id)
  by_client[client_id] = nil
end

---@param client_id integer
---@return fanout.Status|nil
function M.get(client_id)
  return by_client[client_id]
end

--- Every attempt of the client's repository, newest fanout first.
---@param client_id integer
---@return { attempt: table, fanout: table }[]
function M.attempts(client_id)
  local status = by_client[client_id]
  if not status then
    return {}
  end
  local fanouts = vim.deepcopy(status.fanouts)
  table.sort(fanouts, function(a, b)
    return (a.created_at or 0) > (b.created_at or 0)
  end)
  local items = {}
  for _, fanout in ipairs(fanouts) do
    for _, attempt in ipairs(fanout.attempts or {}) do
      table.insert(items, { attempt = attempt, fanout = fanout })
    end
  end
  return items
end

--- The attempt with this id (as the server sent it) and its fanout. Ids the user typed, which
--- may be prefixes, go to the server as they are: it resolves them.
---@return table|nil attempt, table|nil fanout
function M.find(client_id, id)
  for _, item in ipairs(M.attempts(client_id)) do
    if item.attempt.id == id then
      return item.attempt, item.fanout
    end
  end
end

--- `⟳2 ✓1 ✗0` for the repository of the buffer (all repositories when the buffer has no
--- fanout client), `⟳2 …1 ✓1 ✗0` while some wait to run, or '' when there are no fanouts.
---@param bufnr integer|nil
---@return string
function M.statusline(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local clients = vim.lsp.get_clients({ name = 'fanout', bufnr = bufnr })
  if #clients == 0 then
    clients = vim.lsp.get_clients({ name = 'fanout' })
  end
  local r, q, s, f, any = 0, 0, 0, 0, false
  for _, client in ipairs(clients) do
    local status = by_client[client.id]
    if status and #status.fanouts > 0 then
      any = true
      r, q, s, f = r + status.running, q + status.queued, s + status.succeeded, f + status.failed
    end
  end
  if not any then
    return ''
  end
  if q > 0 then
    return ('⟳%d …%d ✓%d ✗%d'):format(r, q, s, f)
  end
  return ('⟳%d ✓%d ✗%d'):format(r, s, f)
end

return M
