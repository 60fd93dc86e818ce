-- fanout for Neovim: setup and the public API. Each action is a thin call to one of the
-- server's `fanout.*` commands (docs/protocol.md); views live in their own modules.
local client_mod = require('fanout.client')
local config = require('fanout.config')
local format = require('fanout.format')
local lens = require('fanout.lens')
local pick = require('fanout.pick')
local state = require('fanout.state')

local M = {}

-- Not cleared here: plugin/fanout.lua's default start lives in it until setup() replaces it.
local autostart_group = vim.api.nvim_create_augroup('fanout.autostart', { clear = false })
local autocmds_ready = false
local setup_called = false

--- Installs the lens autocmds once (setup() reinstalls them with its own events). Called on
--- the first fanout LspAttach too, so `vim.lsp.enable('fanout')` alone gets fresh lenses.
function M.ensure_autocmds()
  if not autocmds_ready then
    autocmds_ready = true
    lens.setup_autocmds(config.options.lens_events)
  end
end

local warned_missing = false

--- Starts (or attaches the running) `fanout lsp` for a buffer inside a git repository.
---@param bufnr integer|nil
---@return integer|nil client_id
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local root = config.git_root(bufnr)
  if not root then
    return nil
  end
  local cmd = config.cmd()
  if vim.fn.executable(cmd[1]) ~= 1 then
    if not warned_missing then
      warned_missing = true
      vim.notify(('fanout: %s not found; see :checkhealth fanout'):format(cmd[1]), vim.log.levels.WARN)
    end
    return nil
  end
  -- vim.lsp.start reuses the client with the same name and root: one server per repository.
  return vim.lsp.start(config.client_config(root), { bufnr = bufnr })
end

--- The start of a user who never called setup() (plugin/fanout.lua, on opening a buffer):
--- the defaults. Users of vim.lsp.enable('fanout') have it started their own way.
---@param bufnr integer
function M.autostart(bufnr)
  local enabled = vim.lsp.is_enabled and vim.lsp.is_enabled('fanout')
  if setup_called or enabled then
    return
  end
  M.start(bufnr)
end

---@param opts table|nil see fanout.Options and :help fanout-setup
function M.setup(opts)
  config.set(opts)
  setup_called = true
  autocmds_ready = true
  lens.setup_autocmds(config.options.lens_events)

  -- Neovim 0.11: users of vim.lsp.enable('fanout') get the same command and options.
  if vim.lsp.config then
    pcall(vim.lsp.config, 'fanout', { cmd = config.cmd(), init_options = config.init_options() })
  end
  for _, client in ipairs(client_mod.all()) do
    client_mod.notify(client, 'workspace/didChangeConfiguration', {
      settings = { fanout = config.init_options() or vim.empty_dict() },
    })
  end

  vim.api.nvim_clear_autocmds({ group = autostart_group })
  if config.options.autostart then
    vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile', 'FileType' }, {
      group = autostart_group,
      callback = function(ev)
        M.start(ev.buf)
      end,
    })
    -- Buffers opened before setup() ran (lazy loading) attach too.
    for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(bufnr) then
        M.start(bufnr)
      end
    end
  end
end

--- Asks the server for the whole status (`fanout.status`) and records it.
---@param client vim.lsp.Client|nil
---@param on_done fun()|nil
function M.refresh_status(client, on_done)
  client = client or client_mod.for_buf(0)
  if not client then
    return
  end
  local generation = state.generation(client.id)
  client_mod.execute(client, 'fanout.status', {}, function(result)
    state.set(client.id, result or {}, 'reply', generation)
    if on_done then
      on_done()
    end
  end)
end

--- Runs fn(client) with the state known, fetching it first when nothing arrived yet (pickers
--- and completion need it).
local function with_state(client, fn)
  if state.get(client.id) then
    fn()
  else
    M.refresh_status(client, fn)
  end
end

--- Forks the task under the cursor (or `opts.line`, 0-based).
---@param opts { count: integer|nil, agents: string[]|nil, prompt: string|nil, bufnr: integer|nil, line: integer|nil }|nil
function M.try(opts)
  opts = opts or {}
  local bufnr = (opts.bufnr == nil or opts.bufnr == 0) and vim.api.nvim_get_current_buf() or opts.bufnr
  local client = client_mod.require(bufnr)
  if not client then
    return
  end
  local line = opts.line
  if not line then
    local cursor = vim.api.nvim_win_get_cursor(0)[1] - 1
    line = vim.api.nvim_get_current_buf() == bufnr and lens.task_line(bufnr, cursor) or 0
  end
  local arg = {
    uri = vim.uri_from_bufnr(bufnr),
    line = line,
    count = opts.count,
    agents = (opts.agents and #opts.agents > 0) and opts.agents or nil,
    prompt = opts.prompt,
  }
  client_mod.execute(client, 'fanout.try', arg, function(result)
    local attempts = result and result.attempts or {}
    vim.notify(('fanout: forked %s into %d attempts'):format(result and result.fanout or '?', #attempts))
    M.refresh_status(client)
    lens.refresh_buf(client, bufnr)
  end, bufnr)
end

--- `fanout.try` lens, run client-side so it reports like :Fanout try.
function M.try_lens(command, ctx)
  local arg = (command.arguments or {})[1] or {}
  local bufnr = arg.uri and vim.uri_to_bufnr(arg.uri) or ctx.bufnr
  M.try({ bufnr = bufnr, line = arg.line, count = arg.count, agents = arg.agents, prompt = arg.prompt })
end

--- The task list the server sees in a buffer: the `uri` of its task list lenses (`Plan
--- tasks…`, `Run all K tasks`, `Integrate`, which the server puts on a TASKS.md's first line),
--- or nil when the buffer shows none.
---@param bufnr integer
---@return string|nil
local function task_list_uri(bufnr)
  for _, l in ipairs(lens.get(bufnr)) do
    local c = l.command.command
    if c == 'fanout.plan' or c == 'fanout.tryAll' or c == 'fanout.integrate' then
      local arg = (l.command.arguments or {})[1]
      if type(arg) == 'table' and type(arg.uri) == 'string' then
        return arg.uri
      end
    end
  end
end

local function buf_of(opts)
  return (opts.bufnr == nil or opts.bufnr == 0) and vim.api.nvim_get_current_buf() or opts.bufnr
end

--- `:Fanout plan [goal]` and the `Plan tasks…` lens: a lead agent writes or extends the task
--- list (`opts.uri`, else the buffer's when it is one, else the server's default: TASKS.md at
--- the repository's root) for the goal, asked with vim.ui.input when not given. Its result is
--- an attempt: diff it, accept it.
---@param opts { goal: string|nil, uri: string|nil, agent: string|nil, bufnr: integer|nil }|nil
function M.plan(opts)
  opts = opts or {}
  local bufnr = buf_of(opts)
  local client = client_mod.require(bufnr)
  if not client then
    return
  end
  local uri = opts.uri or task_list_uri(bufnr)
  local where = uri and vim.fn.fnamemodify(vim.uri_to_fname(uri), ':t') or "TASKS.md at the repository's root"
  local function run(goal)
    goal = goal and vim.trim(goal) or ''
    if goal == '' then
      vim.notify('fanout: no goal given, nothing planned', vim.log.levels.WARN)
      return
    end
    local arg = { prompt = goal, uri = uri, agent = opts.agent }
    client_mod.execute(client, 'fanout.plan', arg, function(result)
      result = result or {}
      vim.notify(('fanout: the lead is planning %s (%s); :Fanout diff %s, then :Fanout accept'):format(
        where,
        table.concat(result.attempts or {}, ', '),
        (result.attempts or {})[1] or ''
      ))
      M.refresh_status(client)
    end, bufnr)
  end
  if opts.goal and vim.trim(opts.goal) ~= '' then
    run(opts.goal)
  else
    vim.ui.input({ prompt = ('fanout: the goal (a lead writes %s for it): '):format(where) }, function(goal)
      if goal ~= nil then
        run(goal)
      end
    end)
  end
end

--- `fanout.plan` lens (`{uri}`, no goal): asks for the goal.
function M.plan_lens(command, ctx)
  local arg = (command.arguments or {})[1] or {}
  M.plan({ uri = arg.uri, bufnr = arg.uri and vim.uri_to_bufnr(arg.uri) or ctx.bufnr })
end

--- `:Fanout tryall [N] [agent...]` and the `Run all K tasks` lens: every unchecked item of
--- the task list (`opts.uri`, else the buffer's), each a fanout, all from one snapshot; items
--- whose `after:` is not done yet wait for `:Fanout integrate`.
---@param opts { count: integer|nil, agents: string[]|nil, uri: string|nil, bufnr: integer|nil }|nil
function M.tryall(opts)
  opts = opts or {}
  local bufnr = buf_of(opts)
  local client = client_mod.require(bufnr)
  if not client then
    return
  end
  local arg = {
    uri = opts.uri or task_list_uri(bufnr) or vim.uri_from_bufnr(bufnr),
    count = opts.count,
    agents = (opts.agents and #opts.agents > 0) and opts.agents or nil,
  }
  client_mod.execute(client, 'fanout.tryAll', arg, function(result)
    result = result or {}
    local started, waiting = {}, {}
    for _, s in ipairs(result.started or {}) do
      started[#started + 1] = s.title
    end
    for _, w in ipairs(result.waiting or {}) do
      waiting[#waiting + 1] = ('%s (after %s)'):format(w.title, table.concat(w.after or {}, ', '))
    end
    local message = ('fanout: started %s from %s'):format(#started > 0 and table.concat(started, ', ') or 'nothing', result.file or '?')
    if #waiting > 0 then
      message = message .. '; waiting: ' .. table.concat(waiting, ', ')
    end
    vim.notify(message)
    M.refresh_status(client)
    lens.refresh_buf(client, bufnr)
  end, bufnr)
end

--- `fanout.tryAll` lens (`{uri, count}`): runs at once, as its title says.
function M.tryall_lens(command, ctx)
  local arg = (command.arguments or {})[1] or {}
  M.tryall({ uri = arg.uri, count = arg.count, bufnr = arg.uri and vim.uri_to_bufnr(arg.uri) or ctx.bufnr })
end

--- `:Fanout integrate [ITEM=ATTEMPT...] [rebuild]` and the `Integrate` lens: merges each item's
--- chosen attempt (`picks`, else the best) onto the run's integration branch, verify after
--- each, and shows what it did with each item (the server's words) in a scratch buffer. The
--- run: `opts.batch`, else the latest of the task list `opts.uri` (else the buffer's), else
--- the latest.
---@param opts { batch: string|nil, uri: string|nil, picks: { item: string, attempt: string }[]|nil, rebuild: boolean|nil, bufnr: integer|nil }|nil
function M.integrate(opts)
  opts = opts or {}
  local bufnr = buf_of(opts)
  local client = client_mod.require(bufnr)
  if not client then
    return
  end
  local arg = {
    batch = opts.batch,
    uri = not opts.batch and (opts.uri or task_list_uri(bufnr)) or nil,
    picks = (opts.picks and #opts.picks > 0) and opts.picks or nil,
    rebuild = opts.rebuild or nil,
  }
  client_mod.execute(client, 'fanout.integrate', arg, function(result)
    M.refresh_status(client)
    lens.refresh_client(client.id)
    require('fanout.integrate_view').show(result or {})
  end, bufnr)
end

--- `fanout.integrate` lens (`{uri}`).
function M.integrate_lens(command, ctx)
  local arg = (command.arguments or {})[1] or {}
  M.integrate({ uri = arg.uri, bufnr = arg.uri and vim.uri_to_bufnr(arg.uri) or ctx.bufnr })
end

--- Runs fn(attempt_id) for the given id, or for one the user picks.
local function with_attempt(client, id, pick_opts, fn)
  if id and id ~= '' then
    fn(id)
    return
  end
  with_state(client, function()
    pick.attempt(client.id, pick_opts, fn)
  end)
end

--- Opens the attempt's version of the current file beside it, in diff mode.
---@param attempt_id string|nil picked with vim.ui.select when nil
function M.diff(attempt_id)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_mod.require(bufnr)
  if not client then
    return
  end
  with_attempt(client, attempt_id, { prompt = 'Diff', filter = pick.filters.diff }, function(id)
    require('fanout.diff').open(id, { bufnr = bufnr, client = client })
  end)
end

--- Applies the attempt through the server's WorkspaceEdit (so `u` undoes it).
---@param attempt_id string|nil
---@param on_done fun(result: table)|nil
---@param hunks string[]|nil only these hunks (ids as `fanout.hunks` lists them)
function M.accept(attempt_id, on_done, hunks)
  local client = client_mod.require(0)
  if not client then
    return
  end
  with_attempt(client, attempt_id, { prompt = 'Accept', filter = pick.filters.accept }, function(attempt)
    local id = hunks and ('hunk %s of %s'):format(table.concat(hunks, ', '), attempt) or attempt
    client_mod.execute(client, 'fanout.accept', { attempt = attempt, hunks = hunks }, function(result)
      result = result or {}
      if result.applied then
        vim.notify(('fanout: applied %s (u undoes it; save to keep it)'):format(id))
        M.refresh_status(client) -- it is marked accepted now
      elseif result.refused and #result.refused > 0 then
        -- Refused paths say why, in the server's words.
        local why = {}
        for _, r in ipairs(result.refused) do
          why[#why + 1] = ('%s %s'):format(r.path, r.reason)
        end
        vim.notify(
          ('fanout: %s was not applied: %s'):format(id, table.concat(why, '; ')),
          vim.log.levels.WARN
        )
      elseif result.conflicts and #result.conflicts > 0 then
        local conflicts = table.concat(result.conflicts, ', ')
        vim.notify(
          ('fanout: %s conflicts with your changes in %s; nothing was applied'):format(id, conflicts),
          vim.log.levels.WARN
        )
      else
        vim.notify(
          ('fanout: %s was not applied: %s'):format(id, result.reason or 'the editor refused the edit'),
          vim.log.levels.WARN
        )
      end
      if on_done then
        on_done(result)
      end
    end)
  end)
end

--- `gh` in a diff view: accepts the attempt's hunk under the cursor, from either window. In
--- the attempt's window the line is the attempt's; in yours it is the line of the file as it
--- was forked (the same unless you edited above it).
---@param attempt_id string
---@param diff_buf integer the attempt's side of the view
---@param source_buf integer the user's buffer
function M.accept_hunk_at(attempt_id, diff_buf, source_buf)
  local client = client_mod.require(source_buf)
  if not client then
    return
  end
  local line = vim.api.nvim_win_get_cursor(0)[1]
  local attempt_side = vim.api.nvim_get_current_buf() == diff_buf
  local arg = { attempt = attempt_id, uri = vim.uri_from_bufnr(source_buf) }
  client_mod.execute(client, 'fanout.hunks', arg, function(result)
    local hunk = require('fanout.diff').hunk_at(result and result.hunks or {}, line, attempt_side)
    if not hunk then
      vim.notify(('fanout: no change of %s at line %d'):format(attempt_id, line), vim.log.levels.WARN)
      return
    end
    vim.api.nvim_buf_call(source_buf, function()
      M.accept(attempt_id, nil, { hunk.id })
    end)
  end, source_buf)
end

--- A fanout id: the one given, else picked (the newest first).
local function with_fanout(client, id, prompt, fn)
  if id and id ~= '' then
    fn(id)
    return
  end
  with_state(client, function()
    local fanouts = pick.fanouts(client.id, pick.filters.any)
    if #fanouts == 0 then
      vim.notify('fanout: no fanouts to ' .. prompt:lower(), vim.log.levels.WARN)
      return
    end
    vim.ui.select(fanouts, {
      prompt = 'fanout: ' .. prompt,
      kind = 'fanout_fanout',
      format_item = function(f)
        return ('%s  %s'):format(f.id, require('fanout.format').task(f))
      end,
    }, function(f)
      if f then
        fn(f.id)
      end
    end)
  end)
end

--- `:Fanout compare [fanout]`: the attempts side by side, and the judge's verdict, in a
--- scratch buffer (`q` closes it).
function M.compare(fanout_id)
  local client = client_mod.require(0)
  if not client then
    return
  end
  with_fanout(client, fanout_id, 'Compare', function(id)
    client_mod.execute(client, 'fanout.compare', { fanout = id }, function(result)
      local lines = vim.split((result and result.text or ''):gsub('\n$', ''), '\n', { plain = true })
      vim.cmd('botright new')
      local buf = vim.api.nvim_get_current_buf()
      vim.bo[buf].buftype = 'nofile'
      vim.bo[buf].bufhidden = 'wipe'
      vim.bo[buf].swapfile = false
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
      vim.bo[buf].modifiable = false
      pcall(vim.api.nvim_buf_set_name, buf, 'fanout://compare/' .. id)
      vim.keymap.set('n', 'q', '<cmd>close<cr>', { buffer = buf, desc = 'fanout: close the comparison' })
    end)
  end)
end

--- `:Fanout review [fanout] [agent]`: a judge ranks the attempts; its verdict shows in the
--- status, the lenses and `:Fanout compare`.
function M.review(fanout_id, agent)
  local client = client_mod.require(0)
  if not client then
    return
  end
  with_fanout(client, fanout_id, 'Review', function(id)
    client_mod.execute(client, 'fanout.review', { fanout = id, agent = agent }, function(result)
      vim.notify(('fanout: %s is reviewing the attempts of %s'):format(result and result.agent or 'the judge', id))
    end)
  end)
end

--- `:Fanout synthesize [fanout] [agent]`: one more attempt that combines the others.
function M.synthesize(fanout_id, agent)
  local client = client_mod.require(0)
  if not client then
    return
  end
  with_fanout(client, fanout_id, 'Synthesize', function(id)
    client_mod.execute(client, 'fanout.synthesize', { fanout = id, agent = agent }, function(result)
      local from = {}
      for _, n in ipairs(result and result.from or {}) do
        from[#from + 1] = '#' .. n
      end
      vim.notify(('fanout: %s started, drawing on %s'):format(result and result.attempt or '?', table.concat(from, ', ')))
    end)
  end)
end

--- `fanout.accept` lens, run client-side so conflicts are reported.
function M.accept_lens(command, _)
  local arg = (command.arguments or {})[1] or {}
  M.accept(arg.attempt)
end

--- Turns a command-line word into a target: `all`, a fanout id, or an attempt id.
local function parse_target(client_id, word)
  if word == 'all' then
    return { all = true }
  end
  local status = state.get(client_id)
  -- Attempt ids are `<fanout>-<n>`; a word without the dash naming a fanout means all of it.
  if status and not word:find('-', 1, true) then
    for _, fanout in ipairs(status.fanouts) do
      if fanout.id == word then
        return { fanout = word }
      end
    end
  end
  return { attempt = word }
end

--- Discard and cancel: the same shape, a different command.
local function act_on_targets(command, prompt, verb, target_word, filter)
  local client = client_mod.require(0)
  if not client then
    return
  end
  local function run(target)
    local args = {}
    if target.all then
      for _, fanout in ipairs(pick.fanouts(client.id, filter)) do
        table.insert(args, { fanout = fanout.id })
      end
    else
      args = { target }
    end
    for _, arg in ipairs(args) do
      client_mod.execute(client, command, arg, function(result)
        local ids = result and result.attempts or {}
        vim.notify(('fanout: %s %s'):format(verb, #ids > 0 and table.concat(ids, ', ') or 'nothing'))
        M.refresh_status(client)
      end)
    end
  end
  if target_word and target_word ~= '' then
    with_state(client, function()
      run(parse_target(client.id, target_word))
    end)
    return
  end
  with_state(client, function()
    pick.target(client.id, { prompt = prompt, filter = filter, all = true }, run)
  end)
end

--- Stops the attempt(s) and removes their worktrees and branches.
---@param target string|nil attempt id, fanout id or `all`; picked when nil
function M.discard(target)
  act_on_targets('fanout.discard', 'Discard', 'discarded', target, pick.filters.any)
end

--- Stops the attempt(s), keeping their worktrees.
---@param target string|nil attempt id, fanout id or `all`; picked when nil
function M.cancel(target)
  act_on_targets('fanout.cancel', 'Cancel', 'cancelled', target, pick.filters.cancel)
end

--- Shows the agent's output of an attempt.
---@param attempt_id string|nil
function M.log(attempt_id)
  local client = client_mod.require(0)
  if not client then
    return
  end
  with_attempt(client, attempt_id, { prompt = 'Log', filter = pick.filters.any }, function(id)
    local arg = { attempt = id, tail = config.options.log_tail }
    client_mod.execute(client, 'fanout.log', arg, function(result)
      require('fanout.logview').show(id, result and result.text or '')
    end)
  end)
end

--- Opens the floating status window.
function M.status()
  local client = client_mod.require(0)
  if not client then
    return
  end
  require('fanout.status_window').open(client)
  M.refresh_status(client)
end

--- `⟳2 ✓1 ✗0` for a statusline ('' when there are no fanouts).
---@param bufnr integer|nil
---@return string
function M.statusline(bufnr)
  return state.statusline(bufnr)
end

--- Refreshes lenses and status now.
function M.refresh()
  lens.refresh(vim.api.nvim_get_current_buf())
  M.refresh_status()
end

--- One line that fits the command line: a longer message, or a second one in a row, would
--- stop everything at a hit-enter prompt.
local function one_line(message)
  message = message:gsub('%s*\n%s*', ' ')
  local room = vim.v.echospace
  if room <= 0 then
    room = vim.o.columns - 12
  end
  if vim.fn.strdisplaywidth(message) > room then
    message = vim.fn.strcharpart(message, 0, math.max(room - 1, 1)) .. '…'
  end
  return message
end

--- `fanout/finished` (asked for with `experimental.fanoutFinished`): the status and the
--- lenses are refreshed first, then the server's sentence is said in one line, without
--- blocking.
---@param client_id integer
---@param params { fanout: string, message: string }|nil
function M.on_finished(client_id, params)
  local client = vim.lsp.get_client_by_id(client_id)
  if not client then
    return
  end
  local message = params and params.message or ('fanout: %s finished'):format(params and params.fanout or '?')
  M.refresh_status(client, function()
    lens.refresh_client(client_id, function()
      vim.notify(one_line(message), vim.log.levels.INFO)
    end)
  end)
end

--- Called on LspAttach of a fanout client (plugin/fanout.lua).
---@param client vim.lsp.Client
function M.on_attach(client, bufnr)
  M.ensure_autocmds()
  lens.refresh_buf(client, bufnr)
  if not state.get(client.id) then
    M.refresh_status(client)
  end
end

M.format = format

return M
