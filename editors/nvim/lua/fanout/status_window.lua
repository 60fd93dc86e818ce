-- `:Fanout status`: a floating window listing the repository's fanouts and attempts. It
-- re-renders on every `User FanoutStatus`, asks the server again every two seconds while
-- attempts run (the titles it sends carry their elapsed time), and its keys act on the
-- attempt or fanout under the cursor.
local format = require('fanout.format')
local state = require('fanout.state')

local M = {}

local HELP = '<CR>/d diff  a accept  x discard  c cancel  l log  r refresh  q close'
local ns = vim.api.nvim_create_namespace('fanout.status')

---@class fanout.StatusView
---@field buf integer
---@field win integer
---@field client_id integer
---@field origin_win integer the window to open diffs in
---@field targets table<integer, { attempt: string|nil, fanout: string }> line -> target
---@field timer uv.uv_timer_t|nil

---@type fanout.StatusView|nil
local view

local function is_open()
  return view ~= nil and vim.api.nvim_win_is_valid(view.win)
end

--- The lines to show, and what each line stands for.
local function build(status)
  local lines, targets, highlights = {}, {}, {}
  local running = false
  if not status then
    table.insert(lines, '  waiting for the server…')
  elseif #status.fanouts == 0 then
    table.insert(lines, '  no fanouts in this repository')
  else
    -- Task list runs first: each item with the server's label, then the integration, each
    -- line standing for the attempt the integration takes (keys act on it).
    local batches = vim.deepcopy(status.batches or {})
    table.sort(batches, function(a, b)
      return (a.created_at or 0) > (b.created_at or 0)
    end)
    for _, b in ipairs(batches) do
      if #lines > 0 then
        table.insert(lines, '')
      end
      table.insert(lines, (' %s  %s  (run %s)'):format(b.file, b.summary or '', b.id))
      highlights[#lines] = 'Title'
      for _, it in ipairs(b.items or {}) do
        table.insert(lines, ('   %s. %s   %s'):format(it.number, it.title, it.label or ''))
        local chosen = type(it.chosen) == 'string' and it.chosen or nil
        if chosen then
          targets[#lines] = { attempt = chosen, fanout = it.fanout }
        elseif type(it.fanout) == 'string' then
          targets[#lines] = { fanout = it.fanout }
        end
      end
      local i = type(b.integration) == 'table' and b.integration or nil
      if i then
        local a = state.find(view.client_id, i.attempt)
        table.insert(lines, ('   integration   %s   %s'):format(a and format.attempt(a) or i.branch, i.attempt))
        targets[#lines] = { attempt = i.attempt, fanout = i.fanout }
      end
    end
    local current
    for _, item in ipairs(state.attempts(view.client_id)) do
      if item.fanout ~= current then
        current = item.fanout
        if #lines > 0 then
          table.insert(lines, '')
        end
        table.insert(lines, (' %s  %s'):format(current.id, format.task(current)))
        targets[#lines] = { fanout = current.id }
        highlights[#lines] = 'Title'
      end
      local attempt = item.attempt
      running = running or attempt.state == 'running' or attempt.state == 'queued'
      table.insert(lines, ('   %s   %s'):format(format.attempt(attempt), attempt.id))
      targets[#lines] = { attempt = attempt.id, fanout = current.id }
    end
  end
  table.insert(lines, '')
  table.insert(lines, ' ' .. HELP)
  highlights[#lines] = 'Comment'
  return lines, targets, highlights, running
end

local function stop_timer()
  if view and view.timer then
    view.timer:stop()
    view.timer:close()
    view.timer = nil
  end
end

--- Redraws the window from the cached state.
function M.render()
  if not is_open() then
    return
  end
  local status = state.get(view.client_id)
  local lines, targets, highlights, running = build(status)
  view.targets = targets

  vim.bo[view.buf].modifiable = true
  vim.api.nvim_buf_set_lines(view.buf, 0, -1, false, lines)
  vim.bo[view.buf].modifiable = false
  vim.api.nvim_buf_clear_namespace(view.buf, ns, 0, -1)
  for lnum, group in pairs(highlights) do
    vim.api.nvim_buf_set_extmark(view.buf, ns, lnum - 1, 0, { end_row = lnum, hl_group = group, hl_eol = false })
  end

  local width = 20
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line) + 2)
  end
  local config = vim.api.nvim_win_get_config(view.win)
  config.width = math.min(width, vim.o.columns - 4)
  config.height = math.max(1, math.min(#lines, vim.o.lines - 6))
  config.row = math.floor((vim.o.lines - config.height) / 2) - 1
  config.col = math.floor((vim.o.columns - config.width) / 2)
  if status and vim.api.nvim_win_is_valid(view.origin_win) then
    config.title = (' fanout %s '):format(state.statusline(vim.api.nvim_win_get_buf(view.origin_win)))
  end
  vim.api.nvim_win_set_config(view.win, config)
  -- Painted now: drawn from a callback (a status answer, a notification), a float is
  -- otherwise not shown until the next redraw (Ctrl-L, a key).
  vim.cmd('redraw')

  -- Elapsed times of running attempts move: the server's answer re-renders the window.
  if running and not view.timer then
    view.timer = assert(vim.uv.new_timer())
    view.timer:start(
      2000,
      2000,
      vim.schedule_wrap(function()
        local client = view and vim.lsp.get_client_by_id(view.client_id)
        if client then
          require('fanout').refresh_status(client)
        end
      end)
    )
  elseif not running then
    stop_timer()
  end
end

function M.close()
  stop_timer()
  if is_open() then
    vim.api.nvim_win_close(view.win, true)
  end
  view = nil
end

--- The target under the cursor.
local function current_target()
  if not is_open() then
    return nil
  end
  return view.targets[vim.api.nvim_win_get_cursor(view.win)[1]]
end

--- Runs an action on the attempt under the cursor, after closing the window when the action
--- opens something in the editor (diff, log).
local function on_attempt(fn, close_first)
  return function()
    local target = current_target()
    if not (target and target.attempt) then
      vim.notify('fanout: put the cursor on an attempt', vim.log.levels.WARN)
      return
    end
    local origin = view.origin_win
    if close_first then
      M.close()
      if vim.api.nvim_win_is_valid(origin) then
        vim.api.nvim_set_current_win(origin)
      end
    end
    fn(target.attempt)
  end
end

--- Discard and cancel act on a whole fanout when the cursor is on its title line.
local function on_target(fn)
  return function()
    local target = current_target()
    if target then
      fn(target.attempt or target.fanout)
    end
  end
end

local function set_keys(buf)
  local api = require('fanout')
  local maps = {
    ['<CR>'] = on_attempt(api.diff, true),
    d = on_attempt(api.diff, true),
    a = on_attempt(api.accept, false),
    l = on_attempt(api.log, true),
    x = on_target(api.discard),
    c = on_target(api.cancel),
    r = function()
      api.refresh_status(vim.lsp.get_client_by_id(view.client_id))
    end,
    q = M.close,
    ['<Esc>'] = M.close,
  }
  for lhs, rhs in pairs(maps) do
    vim.keymap.set('n', lhs, rhs, { buffer = buf, nowait = true })
  end
end

--- Opens the window (or focuses it) for a client's repository.
---@param client vim.lsp.Client
function M.open(client)
  if is_open() then
    vim.api.nvim_set_current_win(view.win)
    return
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'fanoutstatus'
  local origin_win = vim.api.nvim_get_current_win()
  local win = vim.api.nvim_open_win(buf, true, {
    relative = 'editor',
    row = 1,
    col = 1,
    width = 40,
    height = 3,
    style = 'minimal',
    border = 'rounded',
    title = ' fanout ',
    title_pos = 'center',
  })
  vim.wo[win].cursorline = true
  view = { buf = buf, win = win, client_id = client.id, origin_win = origin_win, targets = {} }
  set_keys(buf)

  local group = vim.api.nvim_create_augroup('fanout.status_window', { clear = true })
  vim.api.nvim_create_autocmd('User', {
    group = group,
    pattern = 'FanoutStatus',
    callback = function(ev)
      if view and ev.data and ev.data.client_id == view.client_id then
        M.render()
      end
    end,
  })
  vim.api.nvim_create_autocmd('WinClosed', {
    group = group,
    pattern = tostring(win),
    callback = function()
      stop_timer()
      view = nil
      vim.api.nvim_clear_autocmds({ group = group })
    end,
  })
  M.render()
  -- Start on the first attempt, where the keys do something.
  for lnum = 1, vim.api.nvim_buf_line_count(buf) do
    if view.targets[lnum] and view.targets[lnum].attempt then
      vim.api.nvim_win_set_cursor(win, { lnum, 0 })
      break
    end
  end
end

--- For tests and statuslines: the window and buffer when open.
---@return { win: integer, buf: integer }|nil
function M.current()
  if is_open() then
    return { win = view.win, buf = view.buf }
  end
end

return M
