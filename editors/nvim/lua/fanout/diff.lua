-- The native diff view: the attempt's version of a file in a scratch buffer beside the
-- user's buffer, both in diff mode. The attempt side is a scratch buffer (not the file in the
-- worktree) so nothing in the worktree can be edited by accident, and the user's side is the
-- live buffer, so unsaved edits are diffed as they are.
local client_mod = require('fanout.client')
local state = require('fanout.state')

local M = {}

local function is_file_buf(bufnr)
  return vim.api.nvim_buf_is_valid(bufnr)
    and vim.bo[bufnr].buftype == ''
    and vim.api.nvim_buf_get_name(bufnr) ~= ''
end

--- Path of the buffer relative to the repository root, for the scratch buffer's name.
local function relative(bufnr, root)
  local path = vim.api.nvim_buf_get_name(bufnr)
  if root and vim.startswith(path, root .. '/') then
    return path:sub(#root + 2)
  end
  return vim.fn.fnamemodify(path, ':t')
end

--- Closes diff views opened earlier in this tab, so looking at #2 after #1 replaces the view
--- instead of stacking three-way diffs.
local function close_previous()
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    local buf = vim.api.nvim_win_get_buf(win)
    if vim.b[buf].fanout_diff and #vim.api.nvim_tabpage_list_wins(0) > 1 then
      vim.api.nvim_win_close(win, true)
    end
  end
end

--- Leaves diff mode in the user's windows once no fanout diff view is left, so closing the
--- attempt's side does not leave the user's buffer folded in a one-sided diff.
local function diffoff_source(source_buf, closing_buf)
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    local buf = vim.api.nvim_win_get_buf(win)
    if buf ~= closing_buf and vim.b[buf].fanout_diff then
      return
    end
  end
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_buf(win) == source_buf and vim.wo[win].diff then
      vim.api.nvim_win_call(win, function()
        vim.cmd('diffoff')
      end)
    end
  end
end

-- The diff's keys, in both of its windows: buffer-local in the attempt's scratch buffer, and
-- in the user's buffer for as long as the view is open (then whatever the user's buffer had
-- mapped to them before comes back).
local KEYS = { 'ga', 'gh', 'q' }
local saved = {} ---@type table<integer, { owner: integer, maps: table<string, table|false> }>

--- Closes every window showing the attempt's side of a view.
local function close_view(diff_buf)
  for _, win in ipairs(vim.fn.win_findbuf(diff_buf)) do
    if #vim.api.nvim_list_wins() > 1 then
      vim.api.nvim_win_close(win, true)
    end
  end
end

---@param diff_buf integer the attempt's side
---@param source_buf integer the user's buffer
local function set_keys(diff_buf, source_buf, attempt_id)
  local function accept()
    require('fanout').accept(attempt_id)
  end
  local function accept_hunk()
    require('fanout').accept_hunk_at(attempt_id, diff_buf, source_buf)
  end
  local function close()
    close_view(diff_buf)
  end
  -- What the user's buffer had on these keys, unless an earlier view's keys are still there.
  local before = saved[source_buf] and saved[source_buf].maps or {}
  if not saved[source_buf] then
    vim.api.nvim_buf_call(source_buf, function()
      for _, lhs in ipairs(KEYS) do
        local m = vim.fn.maparg(lhs, 'n', false, true)
        before[lhs] = (m.buffer == 1) and m or false
      end
    end)
  end
  saved[source_buf] = { owner = diff_buf, maps = before }
  for _, b in ipairs({ diff_buf, source_buf }) do
    vim.keymap.set('n', 'ga', accept, { buffer = b, desc = 'fanout: accept ' .. attempt_id })
    vim.keymap.set('n', 'gh', accept_hunk, { buffer = b, desc = 'fanout: accept the hunk under the cursor of ' .. attempt_id })
    vim.keymap.set('n', 'q', close, { buffer = b, desc = 'fanout: close the diff of ' .. attempt_id })
  end
end

--- The view of `diff_buf` closes: the user's buffer gets its own keys back, unless a newer
--- view has taken them since.
local function unset_source_keys(source_buf, diff_buf)
  local s = saved[source_buf]
  if not s or s.owner ~= diff_buf or not vim.api.nvim_buf_is_valid(source_buf) then
    return
  end
  saved[source_buf] = nil
  vim.api.nvim_buf_call(source_buf, function()
    for _, lhs in ipairs(KEYS) do
      pcall(vim.keymap.del, 'n', lhs, { buffer = source_buf })
      if s.maps[lhs] then
        pcall(vim.fn.mapset, 'n', false, s.maps[lhs])
      end
    end
  end)
end

--- The hunk (of `fanout.hunks`) at `line`: of the attempt's file when `attempt_side`, else of
--- the file as forked. A whole-file hunk (added, deleted, binary) is at every line.
---@param hunks table[]
---@param line integer 1-based
---@param attempt_side boolean
---@return table|nil
function M.hunk_at(hunks, line, attempt_side)
  for _, h in ipairs(hunks) do
    if h.kind == 'file' then
      return h
    end
    local start = attempt_side and h.new_start or h.old_start
    local count = attempt_side and h.new_lines or h.old_lines
    -- An empty side (lines only added, or only removed) sits between two lines.
    if (count == 0 and (line == start or line == start + 1)) or (line >= start and line < start + count) then
      return h
    end
  end
end

--- Opens the view beside `win`.
---@param win integer the window holding the user's buffer
---@param attempt_id string
---@param text string the file as the attempt has it
---@param root string|nil repository root, for the buffer name
---@return integer diff_win, integer diff_buf
function M.show(win, attempt_id, text, root)
  local source_buf = vim.api.nvim_win_get_buf(win)
  vim.api.nvim_set_current_win(win)
  close_previous()

  local lines = vim.split(text, '\n', { plain = true })
  if #lines > 1 and lines[#lines] == '' then
    table.remove(lines) -- the file's final newline, not an extra empty line
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].modifiable = false
  vim.bo[buf].readonly = true
  vim.b[buf].fanout_diff = { attempt = attempt_id, source = source_buf }
  pcall(vim.api.nvim_buf_set_name, buf, ('fanout://%s/%s'):format(attempt_id, relative(source_buf, root)))
  -- Same filetype, so both sides are highlighted alike (buftype=nofile keeps LSP clients off).
  vim.bo[buf].filetype = vim.bo[source_buf].filetype

  vim.cmd('rightbelow vertical sbuffer ' .. buf)
  local diff_win = vim.api.nvim_get_current_win()
  vim.cmd('diffthis')
  vim.api.nvim_win_call(win, function()
    vim.cmd('diffthis')
  end)

  set_keys(buf, source_buf, attempt_id)
  vim.wo[diff_win].winbar = ('fanout %s  ·  ga accept  ·  gh accept hunk  ·  q close  (in either window)'):format(attempt_id)
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      unset_source_keys(source_buf, buf)
      vim.schedule(function()
        diffoff_source(source_buf, buf)
      end)
    end,
  })

  -- The user's buffer keeps the focus: it is the editable side.
  vim.api.nvim_set_current_win(win)
  return diff_win, buf
end

--- A window for a buffer to diff: the current window if it shows a file, else the attempt's
--- task file opened in the current window (from the status window, say).
---@return integer|nil win
local function target_window(client, attempt_id, bufnr)
  if bufnr and is_file_buf(bufnr) then
    if vim.api.nvim_win_get_buf(0) == bufnr then
      return vim.api.nvim_get_current_win()
    end
    local win = vim.fn.bufwinid(bufnr)
    if win ~= -1 then
      return win
    end
    vim.cmd('buffer ' .. bufnr)
    return vim.api.nvim_get_current_win()
  end
  local _, fanout = state.find(client.id, attempt_id)
  local status = state.get(client.id)
  local root = (status and status.repo) or client.config.root_dir
  if not (fanout and fanout.task and fanout.task.file and root) then
    vim.notify('fanout: open the file to compare first', vim.log.levels.ERROR)
    return nil
  end
  vim.cmd.edit(vim.fn.fnameescape(root .. '/' .. fanout.task.file))
  return vim.api.nvim_get_current_win()
end

--- `:Fanout diff {attempt}`: asks the server for the attempt's text and shows it.
---@param attempt_id string
---@param opts { bufnr: integer|nil, client: vim.lsp.Client|nil }|nil
function M.open(attempt_id, opts)
  opts = opts or {}
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  local client = opts.client or client_mod.require(bufnr)
  if not client then
    return
  end
  local win = target_window(client, attempt_id, bufnr)
  if not win then
    return
  end
  local file_buf = vim.api.nvim_win_get_buf(win)
  local arg = { attempt = attempt_id, uri = vim.uri_from_bufnr(file_buf) }
  client_mod.execute(client, 'fanout.attemptText', arg, function(result)
    if not vim.api.nvim_win_is_valid(win) or vim.api.nvim_win_get_buf(win) ~= file_buf then
      return -- the user moved on before the answer came
    end
    if result.exists == false then
      vim.notify(('fanout: attempt %s deletes this file'):format(attempt_id), vim.log.levels.WARN)
    end
    M.show(win, attempt_id, result.text or '', client.config.root_dir)
  end, file_buf)
end

--- Client-side handler of the `fanout.openDiff` lens command (vim.lsp.commands).
---@param command lsp.Command
---@param ctx { bufnr: integer, client_id: integer }
function M.from_lens(command, ctx)
  local arg = (command.arguments or {})[1] or {}
  if type(arg.attempt) ~= 'string' then
    vim.notify('fanout: fanout.openDiff without an attempt', vim.log.levels.ERROR)
    return
  end
  local bufnr = ctx.bufnr
  if arg.uri and (not bufnr or vim.uri_from_bufnr(bufnr) ~= arg.uri) then
    vim.cmd.edit(vim.fn.fnameescape(vim.uri_to_fname(arg.uri)))
    bufnr = vim.api.nvim_get_current_buf()
  end
  M.open(arg.attempt, { bufnr = bufnr, client = vim.lsp.get_client_by_id(ctx.client_id) })
end

return M
