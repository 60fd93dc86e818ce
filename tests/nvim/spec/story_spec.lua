-- The user's story: a TODO in a real repository, its lens, three fake-agent attempts, a diff
-- view beside the unsaved buffer, accept, undo, discard, the statusline and :checkhealth.
local H = dofile(vim.env.FANOUT_REPO_ROOT .. '/tests/nvim/helpers.lua')

H.write_config(3)
vim.env.FAKE_AGENT_MODE = 'edit'
H.load_plugin()
require('fanout').setup({ bin = H.bin })

local original = {
  'local M = {}',
  '',
  '-- TODO: handle empty input',
  'function M.first(list)',
  '  return list[1]',
  'end',
  '',
  'return M',
}
local TASK = 2 -- 0-based line of the TODO

local repo = H.make_repo('story', { ['src/main.lua'] = table.concat(original, '\n') .. '\n' })
vim.cmd.cd(vim.fn.fnameescape(repo))
vim.cmd.edit('src/main.lua')
local buf = vim.api.nvim_get_current_buf()
local win = vim.api.nvim_get_current_win()

--- The file as attempt n leaves it (the fake agent rewrites the task line).
local function attempt_text(n, lines, task)
  local copy = vim.deepcopy(lines)
  copy[task + 1] = '-- done by attempt ' .. n
  return copy
end

local function lens_titles(line)
  return table.concat(H.lenses(buf)[line] or {}, ' | ')
end

H.test('fanout lsp attaches to a file inside a git repository', function()
  H.wait('an initialized fanout client', function()
    local client = H.client(buf)
    return client and client.server_capabilities ~= nil
  end)
  H.eq(vim.uv.fs_realpath(repo), vim.uv.fs_realpath(H.client(buf).config.root_dir), 'client root')
end)

H.test('the task line shows the "Try 3 approaches" lens', function()
  H.wait_lenses(buf, 'the Try lens on line ' .. TASK, function()
    return lens_titles(TASK) == 'Try 3 approaches'
  end, 20000)
  H.wait('the lens drawn as virtual text', function()
    return (H.lens_text(buf)[TASK] or ''):find('Try 3 approaches', 1, true)
  end)
end)

local ids = {}

H.test('running the lens forks the task into 3 attempts', function()
  vim.api.nvim_win_set_cursor(win, { TASK + 1, 0 })
  vim.lsp.codelens.run()
  H.wait('3 attempts in the status', function()
    return vim.tbl_count(H.attempts(buf)) == 3
  end, 20000, function()
    return vim.inspect(H.status(buf))
  end)
  for n, attempt in pairs(H.attempts(buf)) do
    ids[n] = attempt.id
  end
  H.truthy(ids[2] and ids[2]:match('^%w+%-2$'), 'attempt ids look like <fanout>-<n>: ' .. vim.inspect(ids))
end)

H.test('the attempts finish and fanout/status reports them', function()
  H.wait('3 succeeded attempts', function()
    local status = H.status(buf)
    return status and status.succeeded == 3 and status.running == 0
  end, 60000, function()
    return vim.inspect(H.states(buf))
  end)
end)

H.test('the lenses show each attempt and Accept, refreshed without workspace/codeLens/refresh', function()
  H.wait_lenses(buf, 'attempt lenses', function()
    local titles = lens_titles(TASK)
    return titles:find('#1 fake ✓', 1, true)
      and titles:find('#2 fake ✓', 1, true)
      and titles:find('#3 fake ✓', 1, true)
      and titles:find('Accept #2', 1, true)
  end, 20000)
end)

H.test('the statusline counts running, succeeded and failed attempts', function()
  H.eq('⟳0 ✓3 ✗0', require('fanout').statusline(buf), 'statusline')
end)

H.test('<Tab> completes subcommands and attempt ids', function()
  H.eq(
    { 'accept', 'cancel', 'compare', 'diff', 'discard', 'integrate', 'log', 'plan', 'review', 'status', 'synthesize', 'try', 'tryall' },
    vim.fn.getcompletion('Fanout ', 'cmdline'),
    'subcommands'
  )
  local diff_ids = vim.fn.getcompletion('Fanout diff ', 'cmdline')
  for n = 1, 3 do
    H.truthy(vim.tbl_contains(diff_ids, ids[n]), ids[n] .. ' in ' .. vim.inspect(diff_ids))
  end
  local fanout_id = ids[1]:match('^(.*)%-1$')
  local discard_ids = vim.fn.getcompletion('Fanout discard ', 'cmdline')
  H.truthy(vim.tbl_contains(discard_ids, 'all') and vim.tbl_contains(discard_ids, fanout_id), vim.inspect(discard_ids))
  H.eq({ ids[2] }, vim.fn.getcompletion('Fanout log ' .. ids[2], 'cmdline'), 'prefix completion')
  -- Agents come from the server (fanout.agents): the configured one and the built-ins.
  local agents = vim.fn.getcompletion('Fanout try 2 ', 'cmdline')
  H.truthy(vim.tbl_contains(agents, 'fake') and vim.tbl_contains(agents, 'claude'), vim.inspect(agents))
  H.truthy(vim.tbl_contains(agents, 'qwen'), 'every built-in, installed or not: ' .. vim.inspect(agents))
end)

-- The user types a line above the task and does not save: diffs and accept use the buffer.
local edited = vim.list_extend({ '-- an unsaved line' }, vim.deepcopy(original))
local diff_win, diff_buf

H.test('the openDiff lens opens the attempt beside the unsaved buffer, both in diff mode', function()
  vim.api.nvim_buf_set_lines(buf, 0, 0, false, { '-- an unsaved line' })
  require('fanout').refresh()
  H.wait_lenses(buf, 'the lenses to follow the task one line down', function()
    return lens_titles(TASK + 1):find('#2 fake', 1, true)
  end, 20000)

  vim.api.nvim_win_set_cursor(win, { TASK + 2, 0 })
  local offered = H.select('#2 fake')
  vim.lsp.codelens.run()
  H.truthy(#offered >= 4, 'the lens picker offered the attempt lenses: ' .. vim.inspect(offered))
  H.wait('the diff window', function()
    return #vim.api.nvim_tabpage_list_wins(0) == 2
  end)
  for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if w ~= win then
      diff_win, diff_buf = w, vim.api.nvim_win_get_buf(w)
    end
  end
  H.eq(win, vim.api.nvim_get_current_win(), 'focus stays in the user window')
  H.eq(attempt_text(2, original, TASK), H.buf_lines(diff_buf), 'attempt side')
  H.eq(edited, H.buf_lines(buf), 'user side, unsaved edit included')
  H.truthy(vim.wo[win].diff, 'user window in diff mode')
  H.truthy(vim.wo[diff_win].diff, 'attempt window in diff mode')
  H.eq('nofile', vim.bo[diff_buf].buftype, 'attempt side is a scratch buffer')
  H.eq(false, vim.bo[diff_buf].modifiable, 'attempt side is read-only')
  H.eq('lua', vim.bo[diff_buf].filetype, 'attempt side filetype')
  H.truthy(vim.api.nvim_buf_get_name(diff_buf):find(ids[2] .. '/src/main.lua', 1, true), vim.api.nvim_buf_get_name(diff_buf))
  H.truthy(vim.bo[buf].modifiable and vim.bo[buf].modified, 'the user buffer stays editable and unsaved')
  -- The view is a left/right split.
  local left = vim.api.nvim_win_get_position(win)[2]
  local right = vim.api.nvim_win_get_position(diff_win)[2]
  H.truthy(right > left, 'attempt on the right')
end)

H.test('q closes the attempt side and the user window leaves diff mode', function()
  vim.api.nvim_win_call(diff_win, function()
    vim.cmd('normal q')
  end)
  H.wait('one window left', function()
    return #vim.api.nvim_tabpage_list_wins(0) == 1
  end)
  H.wait('diff mode off', function()
    return not vim.wo[win].diff
  end)
end)

H.test(':Fanout diff ID opens the same view for another attempt', function()
  vim.cmd('Fanout diff ' .. ids[3])
  H.wait('the diff window', function()
    return #vim.api.nvim_tabpage_list_wins(0) == 2
  end)
  local other = vim.tbl_filter(function(w)
    return w ~= win
  end, vim.api.nvim_tabpage_list_wins(0))[1]
  H.eq(attempt_text(3, original, TASK), H.buf_lines(vim.api.nvim_win_get_buf(other)), 'attempt 3 side')
  H.truthy(vim.wo[win].diff and vim.wo[other].diff, 'both in diff mode')
  vim.api.nvim_win_close(other, true)
  H.wait('diff mode off', function()
    return not vim.wo[win].diff
  end)
end)

H.test(':Fanout accept applies the attempt onto the unsaved buffer', function()
  -- Typed commands end undo blocks on their own; a script has to say so.
  vim.cmd('let &undolevels = &undolevels')
  vim.cmd('Fanout accept ' .. ids[2])
  local expected = attempt_text(2, edited, TASK + 1)
  H.wait('the accepted text', function()
    return vim.deep_equal(expected, H.buf_lines(buf))
  end, 20000, function()
    return vim.inspect(H.buf_lines(buf))
  end)
  H.truthy(vim.bo[buf].modified, 'accepted, not saved')
  local notes = vim.fn.bufnr(vim.uv.fs_realpath(repo) .. '/notes/attempt-2.txt')
  if notes == -1 then
    notes = vim.fn.bufnr(repo .. '/notes/attempt-2.txt')
  end
  H.truthy(notes ~= -1, "the attempt's new file is part of the edit")
  H.eq({ 'notes of attempt 2' }, H.buf_lines(notes), 'new file text')
end)

H.test('u undoes the accept', function()
  vim.api.nvim_set_current_win(win)
  vim.cmd('normal! u')
  H.eq(edited, H.buf_lines(buf), 'text after undo')
end)

H.test('accept over a conflicting unsaved edit changes nothing and says which file', function()
  local mine = vim.deepcopy(edited)
  mine[TASK + 2] = '-- handled differently by me'
  vim.api.nvim_buf_set_lines(buf, TASK + 1, TASK + 2, false, { mine[TASK + 2] })
  H.notifications = {}
  vim.cmd('Fanout accept ' .. ids[3])
  H.wait('the conflict warning', function()
    for _, n in ipairs(H.notifications) do
      if n.level == vim.log.levels.WARN and n.msg:find('conflicts', 1, true) and n.msg:find('src/main.lua', 1, true) then
        return true
      end
    end
  end, 20000, function()
    return vim.inspect(H.notifications)
  end)
  H.eq(mine, H.buf_lines(buf), 'buffer untouched')
  vim.api.nvim_buf_set_lines(buf, TASK + 1, TASK + 2, false, { edited[TASK + 2] })
end)

H.test(':Fanout discard ID removes one attempt; statusline follows', function()
  vim.cmd('Fanout discard ' .. ids[1])
  H.wait('attempt 1 gone', function()
    local attempts = H.attempts(buf)
    return attempts[1] == nil and attempts[2] ~= nil and attempts[3] ~= nil
  end, 20000, function()
    return vim.inspect(H.states(buf))
  end)
  H.eq('⟳0 ✓2 ✗0', require('fanout').statusline(buf), 'statusline')
  H.wait_lenses(buf, 'lens of #1 gone', function()
    local titles = lens_titles(TASK + 1)
    return not titles:find('#1 fake', 1, true) and titles:find('#2 fake', 1, true)
  end, 20000)
end)

H.test(':Fanout discard all empties the status and the statusline', function()
  vim.cmd('Fanout discard all')
  H.wait('no fanouts', function()
    local status = H.status(buf)
    return status and #status.fanouts == 0
  end, 20000, function()
    return vim.inspect(H.status(buf))
  end)
  H.eq('', require('fanout').statusline(buf), 'statusline')
  H.wait_lenses(buf, 'only the Try lens again', function()
    return lens_titles(TASK + 1) == 'Try 3 approaches'
  end, 20000)
end)

H.test(':checkhealth fanout reports the binary, the server, the repository and the agent', function()
  vim.cmd('checkhealth fanout')
  local text = table.concat(H.buf_lines(0), '\n')
  H.truthy(text:find('fanout binary', 1, true), text)
  H.truthy(text:find(H.bin, 1, true), 'binary path in:\n' .. text)
  H.truthy(text:find('running for', 1, true), 'server in:\n' .. text)
  H.truthy(text:find('repository: ', 1, true), 'repository in:\n' .. text)
  H.truthy(text:find('fake: [^\n]*python3'), 'agent in:\n' .. text)
  H.truthy(not text:find('ERROR', 1, true), 'no errors in:\n' .. text)
  pcall(vim.cmd, 'tabclose')
end)

H.test(':help fanout works (the help file has valid, unique tags)', function()
  local rtp = H.tmp .. '/helprtp'
  vim.fn.mkdir(rtp .. '/doc', 'p')
  vim.fn.writefile(vim.fn.readfile(H.root .. '/editors/nvim/doc/fanout.txt'), rtp .. '/doc/fanout.txt')
  vim.cmd('helptags ' .. vim.fn.fnameescape(rtp .. '/doc')) -- E154 on a duplicate tag
  vim.opt.runtimepath:prepend(rtp)
  for _, tag in ipairs({ 'fanout', ':Fanout-diff', 'fanout.statusline()', 'fanout-setup' }) do
    vim.cmd('help ' .. tag)
    H.truthy(vim.api.nvim_buf_get_name(0):find('fanout.txt', 1, true), tag)
  end
  vim.cmd('helpclose')
end)

H.finish()
