-- Shows an attempt's agent output in a scratch split. One buffer per attempt, reused, so
-- asking for the log again refreshes it instead of piling up splits.
local M = {}

local bufs = {} ---@type table<string, integer> attempt id -> buffer

---@param attempt_id string
---@param text string
---@return integer bufnr
function M.show(attempt_id, text)
  local buf = bufs[attempt_id]
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then
    buf = vim.api.nvim_create_buf(false, true)
    bufs[attempt_id] = buf
    vim.bo[buf].bufhidden = 'wipe'
    pcall(vim.api.nvim_buf_set_name, buf, ('fanout://%s/log'):format(attempt_id))
    vim.keymap.set('n', 'q', '<Cmd>close<CR>', { buffer = buf, desc = 'fanout: close the log' })
    vim.api.nvim_create_autocmd('BufWipeout', {
      buffer = buf,
      once = true,
      callback = function()
        bufs[attempt_id] = nil
      end,
    })
  end

  local lines = vim.split(text, '\n', { plain = true })
  if #lines > 1 and lines[#lines] == '' then
    table.remove(lines)
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false

  local win = vim.fn.bufwinid(buf)
  if win == -1 then
    vim.cmd('botright sbuffer ' .. buf)
    win = vim.api.nvim_get_current_win()
  else
    vim.api.nvim_set_current_win(win)
  end
  -- The end of a log is where the news is.
  vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  return buf
end

return M
