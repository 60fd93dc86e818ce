-- Options, and the one LSP client configuration shared by `setup()` and `lsp/fanout.lua`,
-- so the two ways of starting fanout cannot drift apart.
local M = {}

---@class fanout.Options
---@field bin string the fanout binary (a name on PATH or a path)
---@field cmd string[]|nil the full server command; default `{ bin, "lsp" }`
---@field attempts integer|nil attempts per fork; nil lets fanout's config.toml decide
---@field agents string[]|nil agent roster; nil lets fanout's config.toml decide
---@field log_level string|nil server log level (FANOUT_LOG levels)
---@field warm_pool boolean|nil fill the pool of warm worktrees while nothing runs (off)
---@field autostart boolean start `fanout lsp` for buffers inside git repositories
---@field lens_events string[] autocmd events that refresh the lenses of a buffer
---@field log_tail integer|nil lines shown by `:Fanout log` (nil: the whole log)
M.defaults = {
  bin = 'fanout',
  cmd = nil,
  attempts = nil,
  agents = nil,
  log_level = nil,
  warm_pool = nil,
  autostart = true,
  lens_events = { 'BufEnter', 'InsertLeave', 'BufWritePost', 'CursorHold' },
  log_tail = nil,
}

---@type fanout.Options
M.options = vim.deepcopy(M.defaults)

---@param opts table|nil
function M.set(opts)
  -- Checked by hand: vim.validate changed its signature between 0.10 and 0.11.
  local types = { bin = 'string', cmd = 'table', attempts = 'number', agents = 'table', warm_pool = 'boolean' }
  for key, want in pairs(types) do
    local got = opts and opts[key]
    if got ~= nil and type(got) ~= want then
      error(('fanout.setup: %s must be a %s, got %s'):format(key, want, type(got)), 3)
    end
  end
  -- Lists (cmd, agents, lens_events) replace the defaults rather than merging index by index.
  local merged = vim.deepcopy(M.defaults)
  for k, v in pairs(opts or {}) do
    merged[k] = v
  end
  M.options = merged
end

---@return string[]
function M.cmd()
  return M.options.cmd or { M.options.bin, 'lsp' }
end

--- The `initializationOptions` of docs/protocol.md; nil when empty so the server's own
--- config.toml stays in charge.
---@return table|nil
function M.init_options()
  local o = M.options
  local init = { attempts = o.attempts, agents = o.agents, logLevel = o.log_level, warmPool = o.warm_pool }
  return next(init) and init or nil
end

--- The git work tree holding the buffer's file, or nil: fanout forks git repositories only.
---@param bufnr integer
---@return string|nil
function M.git_root(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' or name:match('^%a[%w+.-]*://') then
    return nil
  end
  -- `.git` is a file in linked worktrees; vim.fs.root accepts both.
  return vim.fs.root(name, '.git')
end

--- Handlers every fanout client needs, however it was started.
local function handlers()
  return {
    ['fanout/status'] = function(_, result, ctx)
      require('fanout.state').set(ctx.client_id, result or {}, 'notification')
    end,
    ['fanout/finished'] = function(_, result, ctx)
      require('fanout').on_finished(ctx.client_id, result)
    end,
    ['workspace/applyEdit'] = function(...)
      return require('fanout.apply_edit').handler(...)
    end,
  }
end

--- Neovim applies `documentChanges` (and the create/delete operations it announces in
--- `resourceOperations`) but does not say so; without it the server cannot send the new files
--- of an attempt in the accept WorkspaceEdit.
local function capabilities()
  -- Merged with the defaults here, whether or not this Neovim version merges them itself.
  -- fanoutFinished: a finished fanout comes as `fanout/finished`, which the plugin says after
  -- refreshing the lenses, instead of a showMessage said before them.
  return vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(), {
    workspace = { workspaceEdit = { documentChanges = true } },
    experimental = { fanoutFinished = true },
  })
end

--- The config for `vim.lsp.start()` for one repository root.
---@param root_dir string
---@return table
function M.client_config(root_dir)
  return {
    name = 'fanout',
    cmd = M.cmd(),
    root_dir = root_dir,
    init_options = M.init_options(),
    capabilities = capabilities(),
    handlers = handlers(),
  }
end

--- The config for Neovim 0.11's `vim.lsp.config` (read by `lsp/fanout.lua`).
---@return table
function M.lsp_config()
  return {
    cmd = M.cmd(),
    -- Only git repositories: on_dir is not called elsewhere, so no client starts there.
    root_dir = function(bufnr, on_dir)
      local root = M.git_root(bufnr)
      if root then
        on_dir(root)
      end
    end,
    workspace_required = true,
    init_options = M.init_options(),
    capabilities = capabilities(),
    handlers = handlers(),
  }
end

return M
