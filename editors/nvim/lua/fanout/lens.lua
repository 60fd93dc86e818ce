-- Keeps fanout's code lenses fresh.
--
-- Neovim 0.11 does not handle `workspace/codeLens/refresh`, and vim.lsp.codelens.refresh()
-- drops a refresh asked for while another is in flight, so a state change arriving during a
-- refresh could leave stale lenses (`⟳ running` forever). This module asks fanout's client
-- only, one request per buffer at a time, and asks again once a request returns if something
-- changed meanwhile. The answers go to Neovim's own codelens display.
local client_mod = require('fanout.client')

local M = {}

local in_flight = {} ---@type table<integer, boolean> bufnr -> request outstanding
local stale = {} ---@type table<integer, boolean> bufnr -> asked again while in flight
local waiting = {} ---@type table<integer, fun()[]> bufnr -> called once its lenses are fresh

local function done(bufnr)
  local fns = waiting[bufnr] or {}
  waiting[bufnr] = nil
  for _, fn in ipairs(fns) do
    fn()
  end
end

---@param client vim.lsp.Client
---@param bufnr integer
---@param on_done fun()|nil called once the buffer shows lenses asked for after this call
function M.refresh_buf(client, bufnr, on_done)
  if on_done then
    waiting[bufnr] = waiting[bufnr] or {}
    table.insert(waiting[bufnr], on_done)
  end
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    done(bufnr)
    return
  end
  if in_flight[bufnr] then
    stale[bufnr] = true
    return
  end
  local on_codelens = vim.lsp.codelens.on_codelens
  if not on_codelens then
    -- A Neovim whose codelens module changed shape: use its public refresh.
    vim.lsp.codelens.refresh({ bufnr = bufnr })
    done(bufnr)
    return
  end
  in_flight[bufnr] = true
  local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }
  local sent = client_mod.request(client, 'textDocument/codeLens', params, function(err, result, ctx)
    in_flight[bufnr] = nil
    if vim.api.nvim_buf_is_loaded(bufnr) then
      on_codelens(err, result, ctx)
    end
    if stale[bufnr] then
      stale[bufnr] = nil
      M.refresh_buf(client, bufnr)
    else
      done(bufnr)
    end
  end, bufnr)
  if not sent then
    in_flight[bufnr] = nil -- the client is stopping: no answer will come
    done(bufnr)
  end
end

--- Refreshes every loaded buffer attached to the client; on_done once all are fresh.
---@param client_id integer
---@param on_done fun()|nil
function M.refresh_client(client_id, on_done)
  local client = vim.lsp.get_client_by_id(client_id)
  if not client then
    if on_done then
      on_done()
    end
    return
  end
  local buffers = vim.tbl_keys(client.attached_buffers or {})
  local left = #buffers
  if left == 0 and on_done then
    on_done()
  end
  for _, bufnr in ipairs(buffers) do
    M.refresh_buf(client, bufnr, on_done and function()
      left = left - 1
      if left == 0 then
        on_done()
      end
    end)
  end
end

--- Refreshes one buffer if a fanout client is attached to it.
---@param bufnr integer
function M.refresh(bufnr)
  for _, client in ipairs(vim.lsp.get_clients({ name = client_mod.name, bufnr = bufnr })) do
    M.refresh_buf(client, bufnr)
  end
end

--- fanout's lenses in a buffer, as last displayed.
---@param bufnr integer
---@return lsp.CodeLens[]
function M.get(bufnr)
  local lenses = {}
  for _, lens in ipairs(vim.lsp.codelens.get(bufnr) or {}) do
    if lens.command and vim.startswith(lens.command.command or '', 'fanout.') then
      table.insert(lenses, lens)
    end
  end
  return lenses
end

--- The 0-based line of the task for `:Fanout try`: the cursor's line if it carries a
--- `fanout.try` lens, else the nearest such line above it, else the cursor's line (the server
--- then says there is no task there).
---@param bufnr integer
---@param cursor_line integer 0-based
---@return integer
function M.task_line(bufnr, cursor_line)
  local best
  for _, lens in ipairs(M.get(bufnr)) do
    local line = lens.range.start.line
    if lens.command.command == 'fanout.try' and line <= cursor_line and (not best or line > best) then
      best = line
    end
  end
  return best or cursor_line
end

local group = vim.api.nvim_create_augroup('fanout.lens', { clear = true })
local debounce = {} ---@type table<integer, uv.uv_timer_t>

--- Installs the autocmds that keep lenses fresh (idempotent; called from plugin/fanout.lua).
---@param events string[]
function M.setup_autocmds(events)
  vim.api.nvim_clear_autocmds({ group = group })
  vim.api.nvim_create_autocmd('User', {
    group = group,
    pattern = 'FanoutStatus',
    callback = function(ev)
      M.refresh_client(ev.data.client_id)
    end,
  })
  if #events > 0 then
    vim.api.nvim_create_autocmd(events, {
      group = group,
      callback = function(ev)
        M.refresh(ev.buf)
      end,
    })
  end
  -- Edits in normal mode (dd, p, u) clear the lenses of the changed lines; bring them back
  -- once the user pauses rather than on every change.
  vim.api.nvim_create_autocmd('TextChanged', {
    group = group,
    callback = function(ev)
      local timer = debounce[ev.buf]
      if not timer then
        timer = assert(vim.uv.new_timer())
        debounce[ev.buf] = timer
      end
      timer:start(200, 0, vim.schedule_wrap(function()
        M.refresh(ev.buf)
      end))
    end,
  })
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = group,
    callback = function(ev)
      local timer = debounce[ev.buf]
      if timer then
        timer:stop()
        timer:close()
        debounce[ev.buf] = nil
      end
      in_flight[ev.buf], stale[ev.buf] = nil, nil
      done(ev.buf)
    end,
  })
end

return M
