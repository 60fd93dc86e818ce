-- The review in Neovim: :Fanout compare shows the attempts side by side, `gh` in the diff
-- view takes only the hunk under the cursor (from either window, undoable), and :Fanout
-- review runs a judge whose verdict reaches the status and the lenses.
local H = dofile(vim.env.FANOUT_REPO_ROOT .. '/tests/nvim/helpers.lua')

H.write_config(2)
-- A judge next to the fake agent.
local config = vim.env.XDG_CONFIG_HOME .. '/fanout/config.toml'
vim.fn.writefile({
  '[agent.judge]',
  ('command = ["python3", "%s", "{prompt_file}"]'):format(H.root .. '/tests/fixtures/agents/judge-agent'),
}, config, 'a')
vim.env.FAKE_AGENT_MODE = 'edit'
H.load_plugin()
require('fanout').setup({ bin = H.bin })

local original = {
  'local M = {}',
  '-- TODO: handle empty input',
  'function M.first(list)',
  '  return list[1]',
  'end',
  'return M',
}
local TASK = 1 -- 0-based line of the TODO

local repo = H.make_repo('review', { ['src/main.lua'] = table.concat(original, '\n') .. '\n' })
vim.cmd.cd(vim.fn.fnameescape(repo))
vim.cmd.edit('src/main.lua')
local buf = vim.api.nvim_get_current_buf()
local win = vim.api.nvim_get_current_win()
local ids, fanout = {}, nil

H.test('two attempts run and succeed', function()
  H.wait_lenses(buf, 'the Try lens', function()
    return (H.lens_text(buf)[TASK] or ''):find('Try 2 approaches', 1, true)
  end, 20000)
  vim.api.nvim_win_set_cursor(win, { TASK + 1, 0 })
  vim.cmd('Fanout try')
  H.wait('2 succeeded attempts', function()
    local status = H.status(buf)
    return status and status.succeeded == 2 and status.running == 0
  end, 60000, function()
    return vim.inspect(H.states(buf))
  end)
  for n, attempt in pairs(H.attempts(buf)) do
    ids[n] = attempt.id
    fanout = attempt.fanout
  end
end)

H.test(':Fanout compare shows the attempts side by side in a scratch buffer', function()
  vim.cmd('Fanout compare ' .. fanout)
  H.wait('the comparison buffer', function()
    return vim.api.nvim_buf_get_name(0):find('fanout://compare/' .. fanout, 1, true)
  end)
  local text = table.concat(H.buf_lines(0), '\n')
  H.truthy(text:find('#1 fake', 1, true) and text:find('#2 fake', 1, true), text)
  H.truthy(text:find('src/main.lua', 1, true) and text:find('notes/attempt-1.txt', 1, true), text)
  H.truthy(text:find('touching the same lines', 1, true), 'both changed line 2: ' .. text)
  vim.api.nvim_feedkeys('q', 'x', false)
  H.wait('back to the file', function()
    return vim.api.nvim_get_current_buf() == buf and #vim.api.nvim_tabpage_list_wins(0) == 1
  end)
end)

--- The diff view's other window.
local function diff_window()
  return vim.tbl_filter(function(w)
    return w ~= win
  end, vim.api.nvim_tabpage_list_wins(0))[1]
end

local function open_diff(id)
  vim.cmd('Fanout diff ' .. id)
  H.wait('the diff window', function()
    return #vim.api.nvim_tabpage_list_wins(0) == 2
  end)
  return diff_window()
end

H.test('gh in the attempt window takes only the hunk under the cursor', function()
  local other = open_diff(ids[1])
  H.truthy(vim.wo[other].winbar:find('gh accept hunk', 1, true), vim.wo[other].winbar)
  vim.api.nvim_set_current_win(other)
  vim.api.nvim_win_set_cursor(other, { TASK + 1, 0 })
  vim.api.nvim_feedkeys('gh', 'x', false)
  H.wait('the hunk applied to the buffer', function()
    return H.buf_lines(buf)[TASK + 1] == '-- done by attempt 1'
  end, 20000, function()
    return vim.inspect(H.buf_lines(buf)) .. vim.inspect(H.notifications)
  end)
  local lines = H.buf_lines(buf)
  H.eq(#original, #lines, 'only that line changed')
  H.eq(0, vim.fn.filereadable(repo .. '/notes/attempt-1.txt'), "the attempt's other file is another hunk, not taken")
  -- Undoable, like a whole accept.
  vim.api.nvim_set_current_win(win)
  vim.cmd('undo')
  H.eq(original, H.buf_lines(buf), 'u undoes the hunk')
end)

H.test("gh in the user's window works too", function()
  vim.api.nvim_set_current_win(win)
  vim.api.nvim_win_set_cursor(win, { TASK + 1, 0 })
  vim.api.nvim_feedkeys('gh', 'x', false)
  H.wait('the hunk applied again', function()
    return H.buf_lines(buf)[TASK + 1] == '-- done by attempt 1'
  end, 20000, function()
    return vim.inspect(H.buf_lines(buf)) .. vim.inspect(H.notifications)
  end)
  vim.cmd('undo')
  vim.api.nvim_feedkeys('q', 'x', false)
  H.wait('one window left', function()
    return #vim.api.nvim_tabpage_list_wins(0) == 1
  end)
end)

H.test(':Fanout review runs the judge; its verdict reaches the status and the lenses', function()
  vim.cmd('Fanout review ' .. fanout .. ' judge')
  H.wait('a verdict', function()
    local status = H.status(buf)
    for _, f in ipairs(status and status.fanouts or {}) do
      if f.id == fanout and f.verdict and f.verdict ~= vim.NIL then
        return true
      end
    end
  end, 60000, function()
    return vim.inspect(H.status(buf))
  end)
  -- The fixture judge ranks the highest number first.
  H.wait_lenses(buf, 'the judge in the lenses', function()
    return (H.lens_text(buf)[TASK] or ''):find('★ judge:', 1, true)
  end, 20000)
end)

H.finish()
