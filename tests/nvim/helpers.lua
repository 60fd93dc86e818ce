-- A small test harness for specs run with `nvim --headless -l spec.lua`: numbered results,
-- waits on predicates (never fixed sleeps), real git repositories in the spec's temp dir, and
-- cleanup of every fanout the spec created.
--
-- The runner (tests/nvim/run) sets XDG_CONFIG_HOME / XDG_DATA_HOME / XDG_STATE_HOME to the
-- spec's own temp dir, FANOUT_BIN and FANOUT_REPO_ROOT; the `fanout lsp` started by Neovim
-- inherits that environment, and so do the agents it runs.
local H = {}

H.root = assert(vim.env.FANOUT_REPO_ROOT, 'FANOUT_REPO_ROOT is not set (run tests/nvim/run)')
H.bin = assert(vim.env.FANOUT_BIN, 'FANOUT_BIN is not set')
H.tmp = assert(vim.env.FANOUT_TEST_TMP, 'FANOUT_TEST_TMP is not set')
H.passed, H.failed = 0, 0
H.repos = {}
H.notifications = {} -- every vim.notify message, to check what the user was told

local spec_name = vim.fn.fnamemodify(arg[0] or '?', ':t:r')

local function out(line)
  io.stdout:write(line .. '\n')
  io.stdout:flush()
end

--- Runs one step of the story. A failing step is reported and the story goes on.
function H.test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    H.passed = H.passed + 1
    out(('ok   %s: %s'):format(spec_name, name))
  else
    H.failed = H.failed + 1
    out(('FAIL %s: %s\n%s'):format(spec_name, name, tostring(err):gsub('\n', '\n    ')))
  end
end

function H.eq(want, got, what)
  if not vim.deep_equal(want, got) then
    error(('%s:\n  want %s\n  got  %s'):format(what or 'not equal', vim.inspect(want), vim.inspect(got)), 2)
  end
end

function H.truthy(value, what)
  if not value then
    error(what or 'expected a true value', 2)
  end
  return value
end

--- Waits (processing events) until pred() is true; fails with `what` after timeout_ms.
---@param describe fun(): string|nil what was seen instead, for the failure message
function H.wait(what, pred, timeout_ms, describe)
  local ok = vim.wait(timeout_ms or 20000, function()
    local good, result = pcall(pred)
    return good and result
  end, 20)
  if not ok then
    local seen = describe and describe() or ''
    error(('timed out waiting for %s%s'):format(what, seen ~= '' and ('\n  seen: ' .. seen) or ''), 2)
  end
end

--- Runs a command to completion (with a timeout) and returns stdout; errors on failure.
-- Wait until `pred()` holds, showing the buffer's lenses if it never does.
function H.wait_lenses(bufnr, what, pred, timeout_ms)
  return H.wait(what, pred, timeout_ms, function()
    return vim.inspect(H.lenses(bufnr))
  end)
end

function H.system(cmd, cwd)
  local res = vim.system(cmd, { cwd = cwd, text = true }):wait(60000)
  if res.code ~= 0 then
    error(('%s failed (%s): %s%s'):format(table.concat(cmd, ' '), res.code, res.stdout or '', res.stderr or ''), 2)
  end
  return res.stdout
end

--- Writes fanout's user config into the spec's XDG_CONFIG_HOME: the fixture's fake agent, or
--- another script given as `agent` (a path).
function H.write_config(attempts, agent)
  local dir = vim.env.XDG_CONFIG_HOME .. '/fanout'
  vim.fn.mkdir(dir, 'p')
  agent = agent or (H.root .. '/tests/fixtures/agents/fake-agent')
  vim.fn.writefile({
    ('attempts = %d'):format(attempts or 3),
    'max_running = 16',
    'agents = ["fake"]',
    '[agent.fake]',
    ('command = ["python3", "%s", "{prompt_file}"]'):format(agent),
  }, dir .. '/config.toml')
end

--- Makes a git repository with the given files, committed.
---@param name string
---@param files table<string, string>
---@return string path
function H.make_repo(name, files)
  local dir = H.tmp .. '/' .. name
  vim.fn.mkdir(dir, 'p')
  H.system({ 'git', 'init', '-q', '-b', 'main', dir })
  H.system({ 'git', 'config', 'user.name', 'fanout tests' }, dir)
  H.system({ 'git', 'config', 'user.email', 'tests@fanout.invalid' }, dir)
  H.system({ 'git', 'config', 'commit.gpgsign', 'false' }, dir)
  for path, text in pairs(files) do
    local full = dir .. '/' .. path
    vim.fn.mkdir(vim.fn.fnamemodify(full, ':h'), 'p')
    local f = assert(io.open(full, 'wb'))
    f:write(text)
    f:close()
  end
  H.system({ 'git', 'add', '-A' }, dir)
  H.system({ 'git', 'commit', '-q', '-m', 'initial' }, dir)
  table.insert(H.repos, dir)
  return dir
end

--- Puts the plugin on the runtimepath the way a plugin manager would, and records
--- notifications. Plugins are not loaded by `-l`, so plugin/fanout.lua is sourced here.
function H.load_plugin()
  if vim.env.FANOUT_LSP_DEBUG then
    vim.lsp.set_log_level('debug') -- every message in $XDG_STATE_HOME/nvim/lsp.log
  end
  vim.opt.runtimepath:prepend(H.root .. '/editors/nvim')
  vim.cmd('filetype on')
  vim.cmd('runtime plugin/fanout.lua')
  local notify = vim.notify
  vim.notify = function(msg, level, opts)
    table.insert(H.notifications, { msg = msg, level = level })
    return notify(msg, level, opts)
  end
end

--- The fanout client attached to a buffer.
function H.client(bufnr)
  return vim.lsp.get_clients({ name = 'fanout', bufnr = bufnr or 0 })[1]
end

--- Lens titles by 0-based line.
function H.lenses(bufnr)
  local by_line = {}
  for _, lens in ipairs(vim.lsp.codelens.get(bufnr or 0)) do
    if lens.command then
      local line = lens.range.start.line
      by_line[line] = by_line[line] or {}
      table.insert(by_line[line], lens.command.title)
    end
  end
  for _, titles in pairs(by_line) do
    table.sort(titles)
  end
  return by_line
end

--- The lens titles of the buffer's task lines, as shown in the buffer (virtual text).
function H.lens_text(bufnr)
  local texts = {}
  for _, ns in pairs(vim.api.nvim_get_namespaces()) do
    for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(bufnr or 0, ns, 0, -1, { details = true })) do
      local chunks = mark[4].virt_text
      if chunks then
        local parts = {}
        for _, chunk in ipairs(chunks) do
          table.insert(parts, chunk[1])
        end
        texts[mark[2]] = table.concat(parts)
      end
    end
  end
  return texts
end

--- The cached status of the buffer's fanout client.
function H.status(bufnr)
  local client = H.client(bufnr)
  return client and require('fanout.state').get(client.id)
end

--- Attempts of the cached status, by attempt number, for the only fanout.
function H.attempts(bufnr)
  local status = H.status(bufnr)
  local by_n = {}
  for _, fanout in ipairs(status and status.fanouts or {}) do
    for _, attempt in ipairs(fanout.attempts or {}) do
      by_n[attempt.n] = attempt
    end
  end
  return by_n
end

function H.states(bufnr)
  local states = {}
  for n, attempt in pairs(H.attempts(bufnr)) do
    states[n] = attempt.state
  end
  return states
end

--- Makes vim.ui.select choose the first item whose label matches `pattern`, and records
--- the labels it was offered.
function H.select(pattern)
  local offered = {}
  vim.ui.select = function(items, opts, on_choice)
    local chosen
    for _, item in ipairs(items) do
      local label = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(offered, label)
      if not chosen and label:find(pattern) then
        chosen = item
      end
    end
    on_choice(chosen)
  end
  return offered
end

function H.buf_lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end

--- Discards every fanout of every repository the spec made, with the CLI, so no attempt
--- process outlives the test; then prints the result line the runner sums up and exits.
function H.finish()
  for _, repo in ipairs(H.repos) do
    local res = vim.system({ H.bin, 'status', '--json' }, { cwd = repo, text = true }):wait(30000)
    local ok, status = pcall(vim.json.decode, res.stdout or '')
    if res.code == 0 and ok and type(status) == 'table' then
      for _, fanout in ipairs(status.fanouts or {}) do
        local d = vim.system({ H.bin, 'discard', fanout.id }, { cwd = repo, text = true }):wait(30000)
        if d.code ~= 0 then
          out(('note %s: fanout discard %s failed: %s'):format(spec_name, fanout.id, d.stderr or ''))
        end
      end
    else
      out(('note %s: fanout status --json failed in %s: %s'):format(spec_name, repo, res.stderr or ''))
    end
  end
  for _, client in ipairs(vim.lsp.get_clients()) do
    if client.stop then
      pcall(client.stop, client)
    end
  end
  -- Quit only once the servers are gone: Neovim writing to a server that has just exited
  -- dies of SIGPIPE (exit 141) at quit. A server that does not go is forced.
  if not vim.wait(5000, function()
    return #vim.lsp.get_clients() == 0
  end, 20) then
    for _, client in ipairs(vim.lsp.get_clients()) do
      pcall(client.stop, client, true)
    end
    vim.wait(5000, function()
      return #vim.lsp.get_clients() == 0
    end, 20)
  end
  out(('RESULT %d %d'):format(H.passed, H.failed))
  vim.cmd(H.failed == 0 and 'qall!' or 'cquit!')
end

return H
