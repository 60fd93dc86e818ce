-- Running attempts: the statusline and the status window follow them live, cancel from the
-- window, the log, and pickers when no attempt is named.
local H = dofile(vim.env.FANOUT_REPO_ROOT .. '/tests/nvim/helpers.lua')

H.write_config(3)
-- The agents wait for this file, so the test decides when they finish (no sleeps).
local go = H.tmp .. '/go'
vim.env.FAKE_AGENT_MODE = 'wait'
vim.env.FAKE_AGENT_WAIT = go
H.load_plugin()
require('fanout').setup({ bin = H.bin })

-- Work-done progress reaches Neovim's own progress machinery (LspProgress, vim.lsp.status()).
local progress = {}
vim.api.nvim_create_autocmd('LspProgress', {
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if client and client.name == 'fanout' then
      table.insert(progress, ev.data.params.value)
    end
  end,
})

local original = {
  'def parse(text):',
  '    # TODO: reject empty text',
  '    return text.split()',
  '',
}
local TASK = 1

local repo = H.make_repo('live', { ['parse.py'] = table.concat(original, '\n') .. '\n' })
vim.cmd.cd(vim.fn.fnameescape(repo))
vim.cmd.edit('parse.py')
local buf = vim.api.nvim_get_current_buf()
local win = vim.api.nvim_get_current_win()

local function window_text()
  local view = require('fanout.status_window').current()
  return view and table.concat(H.buf_lines(view.buf), '\n') or ''
end

local ids = {}

H.test(':Fanout try 2 below the task forks the task above the cursor into 2 attempts', function()
  H.wait_lenses(buf, 'the Try lens', function()
    return vim.tbl_contains(H.lenses(buf)[TASK] or {}, 'Try 3 approaches')
  end, 20000)
  vim.api.nvim_win_set_cursor(win, { TASK + 2, 0 }) -- the return line, under the TODO
  vim.cmd('Fanout try 2')
  H.wait('2 running attempts', function()
    local states = H.states(buf)
    return states[1] == 'running' and states[2] == 'running' and states[3] == nil
  end, 20000, function()
    return vim.inspect(H.states(buf))
  end)
  for n, attempt in pairs(H.attempts(buf)) do
    ids[n] = attempt.id
  end
  local fanout = H.status(buf).fanouts[1]
  H.eq(TASK + 1, fanout.task.line, '1-based task line in the status JSON')
end)

H.test('the statusline shows them running', function()
  H.eq('⟳2 ✓0 ✗0', require('fanout').statusline(buf), 'statusline')
end)

H.test('the running lenses show ⟳', function()
  H.wait_lenses(buf, 'running lenses', function()
    local titles = table.concat(H.lenses(buf)[TASK] or {}, ' | ')
    return titles:find('#1 fake ⟳', 1, true) and titles:find('#2 fake ⟳', 1, true)
  end, 20000)
end)

H.test(':Fanout status opens a floating window listing the attempts', function()
  vim.cmd('Fanout status')
  local view = H.truthy(require('fanout.status_window').current(), 'window open')
  H.eq('editor', vim.api.nvim_win_get_config(view.win).relative, 'a floating window')
  H.wait('both attempts listed as running', function()
    local text = window_text()
    return text:find(ids[1], 1, true) and text:find(ids[2], 1, true) and select(2, text:gsub('⟳ running', '')) == 2
  end, 20000, window_text)
  H.truthy(window_text():find('TODO: reject empty text', 1, true), window_text())
end)

H.test('c in the window cancels the attempt under the cursor; the window updates live', function()
  local view = require('fanout.status_window').current()
  vim.api.nvim_set_current_win(view.win)
  for lnum, line in ipairs(H.buf_lines(view.buf)) do
    if line:find(ids[1], 1, true) then
      vim.api.nvim_win_set_cursor(view.win, { lnum, 0 })
    end
  end
  vim.api.nvim_feedkeys('c', 'x', false)
  H.wait('attempt 1 cancelled in the window', function()
    return window_text():find('#1 fake ⊘ cancelled', 1, true)
  end, 20000, window_text)
  H.eq('cancelled', H.states(buf)[1], 'state')
  H.eq('running', H.states(buf)[2], 'attempt 2 untouched')
end)

H.test('attempt 2 finishes; window, statusline and lenses follow', function()
  vim.fn.writefile({}, go)
  H.wait('attempt 2 succeeded in the window', function()
    return window_text():find('#2 fake ✓', 1, true)
  end, 30000, window_text)
  H.eq('⟳0 ✓1 ✗0', require('fanout').statusline(buf), 'statusline')
  H.wait_lenses(buf, 'the succeeded lens', function()
    local titles = table.concat(H.lenses(buf)[TASK] or {}, ' | ')
    return titles:find('#2 fake ✓', 1, true) and titles:find('Accept #2', 1, true)
  end, 20000)
end)

H.test('progress went through LspProgress: begin 0/2 done ... end', function()
  H.wait('the end of the progress', function()
    return progress[#progress] and progress[#progress].kind == 'end'
  end, 20000, function()
    return vim.inspect(progress)
  end)
  H.eq('begin', progress[1].kind, 'first progress: ' .. vim.inspect(progress))
  H.eq('0/2 done', progress[1].message, 'begin message: ' .. vim.inspect(progress))
  H.eq('2/2 done', progress[#progress].message, 'end message')
end)

H.test('q closes the window', function()
  vim.api.nvim_feedkeys('q', 'x', false)
  H.eq(nil, require('fanout.status_window').current(), 'closed')
  H.eq(win, vim.api.nvim_get_current_win(), 'back in the file window')
end)

H.test(':Fanout log with no argument picks an attempt and shows its output', function()
  local offered = H.select('#2 fake')
  vim.cmd('Fanout log')
  H.eq(2, #offered, 'both attempts offered: ' .. vim.inspect(offered))
  H.wait('the log buffer', function()
    return vim.api.nvim_buf_get_name(0):find(ids[2] .. '/log', 1, true)
  end)
  local text = table.concat(H.buf_lines(0), '\n')
  H.truthy(text:find('fake-agent wait attempt=' .. ids[2], 1, true), text)
  H.truthy(text:find('fake-agent: done', 1, true), text)
  vim.cmd('close')
end)

H.test(':Fanout accept with no argument offers only the finished attempt', function()
  local offered = H.select('#2 fake')
  vim.cmd('let &undolevels = &undolevels')
  vim.cmd('Fanout accept')
  H.eq(1, #offered, 'only the succeeded attempt: ' .. vim.inspect(offered))
  H.wait('the accepted line', function()
    return H.buf_lines(buf)[TASK + 1] == '    # done by attempt 2'
  end, 20000, function()
    return vim.inspect(H.buf_lines(buf))
  end)
  vim.cmd('normal! u')
  H.eq(original, H.buf_lines(buf), 'undone')
end)

H.test(':Fanout discard with no argument offers all, fanouts and attempts', function()
  local offered = H.select('^all')
  vim.cmd('Fanout discard')
  H.truthy(#offered == 4, 'all + fanout + 2 attempts: ' .. vim.inspect(offered))
  H.wait('no fanouts', function()
    local status = H.status(buf)
    return status and #status.fanouts == 0
  end, 20000, function()
    return vim.inspect(H.status(buf))
  end)
  H.eq('', require('fanout').statusline(buf), 'statusline')
end)

H.finish()
