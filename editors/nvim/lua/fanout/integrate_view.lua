-- `:Fanout integrate`'s answer in a scratch buffer: the integration (its attempt and branch),
-- then what it did with each item of the task list, in the server's words (`text`). Keys: `a`
-- accepts the integration, `d` / <CR> open the diff of the item's attempt under the cursor
-- (else of the integration), `q` closes it.
local M = {}

local HELP = 'a accept the integration  d/<CR> diff  q close'

--- The lines to show, and the attempt each line stands for.
---@param result table a `fanout.integrate` result (docs/protocol.md)
---@return string[] lines, table<integer, string> targets line -> attempt id
function M.lines(result)
  local lines, targets = {}, {}
  local header = ('integration %s of %s, branch %s'):format(result.attempt or '?', result.file or '?', result.branch or '?')
  if result.rebuilt then
    header = header .. ' (rebuilt from the snapshot)'
  end
  lines[1] = header
  targets[1] = result.attempt
  local items = vim.deepcopy(result.items or {})
  table.sort(items, function(a, b)
    return (a.number or 0) < (b.number or 0)
  end)
  for _, item in ipairs(items) do
    table.insert(lines, ('  %s. %s: %s'):format(item.number or '?', item.title or '', item.text or ''))
    if type(item.attempt) == 'string' then
      targets[#lines] = item.attempt
    end
  end
  table.insert(lines, '')
  table.insert(lines, ' ' .. HELP)
  return lines, targets
end

--- Opens (or replaces) the view of one integration.
---@param result table
function M.show(result)
  local name = 'fanout://integrate/' .. (result.batch or '?')
  local old = vim.fn.bufnr(name)
  if old ~= -1 then
    vim.api.nvim_buf_delete(old, { force = true })
  end
  local origin = vim.api.nvim_get_current_win()
  local lines, targets = M.lines(result)
  vim.cmd('botright ' .. math.min(#lines, 15) .. 'new')
  local buf = vim.api.nvim_get_current_buf()
  local win = vim.api.nvim_get_current_win()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  pcall(vim.api.nvim_buf_set_name, buf, name)
  vim.b[buf].fanout_integration = result.attempt

  --- Closes the view and runs fn in the window it was opened from (the task list, usually).
  local function from_origin(fn)
    return function()
      local target = targets[vim.api.nvim_win_get_cursor(win)[1]] or result.attempt
      if vim.api.nvim_win_is_valid(win) and #vim.api.nvim_list_wins() > 1 then
        vim.api.nvim_win_close(win, true)
      end
      if vim.api.nvim_win_is_valid(origin) then
        vim.api.nvim_set_current_win(origin)
      end
      fn(target)
    end
  end
  local fanout = require('fanout')
  local maps = {
    a = from_origin(function()
      fanout.accept(result.attempt)
    end),
    d = from_origin(function(target)
      fanout.diff(target)
    end),
    q = function()
      if #vim.api.nvim_list_wins() > 1 then
        vim.api.nvim_win_close(win, true)
      end
    end,
  }
  maps['<CR>'] = maps.d
  for lhs, rhs in pairs(maps) do
    vim.keymap.set('n', lhs, rhs, { buffer = buf, nowait = true, desc = 'fanout: ' .. HELP })
  end
  -- The items start on line 2.
  if #lines > 3 then
    vim.api.nvim_win_set_cursor(win, { 2, 0 })
  end
end

return M
