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

  vim.keymap.set('n', 'q', '<Cmd>close<CR>', { buffer = buf, desc = 'fanout: close the diff' })
  vim.keymap.set('n', 'ga', function()
    require('fanout').accept(attempt_id)
  end, { buffer = buf, desc = 'fanout: accept this attempt' })
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
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
