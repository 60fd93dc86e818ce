-- A newcomer's setup: the plugin on the runtimepath and `fanout` on PATH, no setup() call.
-- The server starts by itself, the lenses read in attempt order with each Accept beside its
-- attempt, "finished" is said in one line once the lenses are fresh (no hit-enter prompt),
-- and the diff view's keys work from both of its windows.
local H = dofile(vim.env.FANOUT_REPO_ROOT .. '/tests/nvim/helpers.lua')

H.write_config(3)
vim.env.FAKE_AGENT_MODE = 'edit'
-- Installed as the README says: `fanout` on PATH (cargo install), nothing else configured.
vim.env.PATH = vim.fn.fnamemodify(H.bin, ':h') .. ':' .. vim.env.PATH
H.load_plugin()

-- What the user was told, and what the lenses showed at that moment.
local said = {}
local notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(said, { msg = msg, lenses = vim.deepcopy(H.lens_text(0)) })
  return notify(msg, level, opts)
end

local original = {
  'local M = {}',
  '-- TODO: handle empty input',
  'function M.first(list)',
  '  return list[1]',
  'end',
  'return M',
}
local TASK = 1 -- 0-based line of the TODO

local repo = H.make_repo('newcomer', { ['src/main.lua'] = table.concat(original, '\n') .. '\n' })
vim.cmd.cd(vim.fn.fnameescape(repo))
vim.cmd.edit('src/main.lua')
local buf = vim.api.nvim_get_current_buf()
local win = vim.api.nvim_get_current_win()

H.test('with no setup() call, opening a file in a repository starts the server and its lenses', function()
  H.wait('an initialized fanout client', function()
    local client = H.client(buf)
    return client and client.server_capabilities ~= nil
  end)
  H.wait_lenses(buf, 'the Try lens', function()
    return (H.lens_text(buf)[TASK] or ''):find('Try 3 approaches', 1, true)
  end, 20000)
  H.eq('fanout', require('fanout.config').options.bin, 'the defaults are in force')
end)

local ids = {}

H.test('"finished" comes once, in one line, after the lenses show the result', function()
  vim.api.nvim_win_set_cursor(win, { TASK + 1, 0 })
  vim.cmd('Fanout try')
  H.wait('the finished message', function()
    for _, s in ipairs(said) do
      if s.msg:find('attempts succeeded', 1, true) then
        return true
      end
    end
  end, 60000, function()
    return vim.inspect(said)
  end)
  for n, attempt in pairs(H.attempts(buf)) do
    ids[n] = attempt.id
  end
  local finished = vim.tbl_filter(function(s)
    return s.msg:find('attempts succeeded', 1, true) ~= nil
  end, said)
  H.eq(1, #finished, 'said once (fanout/finished, not also a showMessage): ' .. vim.inspect(said))
  local msg = finished[1].msg
  H.truthy(msg:find('^fanout: 3 of 3 attempts succeeded'), msg)
  H.truthy(not msg:find('\n'), 'one line')
  H.truthy(vim.fn.strdisplaywidth(msg) <= math.max(vim.v.echospace, vim.o.columns - 12),
    'fits the command line, so no hit-enter prompt: ' .. msg)
  local shown = finished[1].lenses[TASK] or ''
  H.truthy(shown:find('#3 fake ✓', 1, true) and not shown:find('⟳', 1, true),
    'the lenses were fresh when it was said: ' .. shown)
end)

H.test('the lenses read Try, then each attempt by number with its Accept beside it', function()
  local text = H.lens_text(buf)[TASK] or ''
  local at = {}
  for _, needle in ipairs({ 'Try 3 approaches', '#1 fake', 'Accept #1', '#2 fake', 'Accept #2', '#3 fake', 'Accept #3' }) do
    local i = text:find(needle, 1, true)
    H.truthy(i, needle .. ' in ' .. text)
    H.truthy(#at == 0 or i > at[#at], needle .. ' comes after the one before it: ' .. text)
    table.insert(at, i)
  end
end)

--- The diff view's other window.
local function diff_window()
  return vim.tbl_filter(function(w)
    return w ~= win
  end, vim.api.nvim_tabpage_list_wins(0))[1]
end

H.test('the diff view says its keys and they work from the user window too', function()
  -- A mapping of the user's own on `q`, to come back when the view closes.
  vim.keymap.set('n', 'q', '<Nop>', { buffer = buf, desc = 'mine' })
  vim.cmd('Fanout diff ' .. ids[2])
  H.wait('the diff window', function()
    return #vim.api.nvim_tabpage_list_wins(0) == 2
  end)
  local other = diff_window()
  local other_buf = vim.api.nvim_win_get_buf(other)
  H.truthy(vim.wo[other].winbar:find('ga accept', 1, true) and vim.wo[other].winbar:find('q close', 1, true),
    'the winbar says the keys: ' .. vim.wo[other].winbar)
  for _, b in ipairs({ buf, other_buf }) do
    for _, lhs in ipairs({ 'ga', 'q' }) do
      local m = vim.api.nvim_buf_call(b, function()
        return vim.fn.maparg(lhs, 'n', false, true)
      end)
      H.eq(1, m.buffer, lhs .. ' is buffer-local in buffer ' .. b)
      H.truthy((m.desc or ''):find('fanout', 1, true), lhs .. ' is the diff view key: ' .. vim.inspect(m))
    end
  end
  -- `ga` from the user's own window: the built-in `ga` would only print a character code.
  vim.api.nvim_set_current_win(win)
  vim.api.nvim_feedkeys('ga', 'x', false)
  H.wait('the accept applied to the buffer', function()
    return H.buf_lines(buf)[TASK + 1] == '-- done by attempt 2'
  end, 20000, function()
    return vim.inspect(H.buf_lines(buf))
  end)
  -- Accepted: the pickers' and the status window's line says so.
  H.wait('the accepted mark in the status', function()
    return require('fanout.format').attempt(H.attempts(buf)[2]):find(' accepted %d%d:%d%d$')
  end, 20000, function()
    return require('fanout.format').attempt(H.attempts(buf)[2])
  end)
  -- `q` from the user's window closes the view.
  vim.api.nvim_feedkeys('q', 'x', false)
  H.wait('one window left', function()
    return #vim.api.nvim_tabpage_list_wins(0) == 1
  end)
  H.wait('diff mode off', function()
    return not vim.wo[win].diff
  end)
  local q = vim.fn.maparg('q', 'n', false, true)
  H.eq('mine', q.desc, 'the user buffer has its own q back')
  H.eq(vim.empty_dict(), vim.fn.maparg('ga', 'n', false, true), 'and no ga of the view')
end)

H.test(':Fanout discard all leaves nothing running', function()
  vim.cmd('Fanout discard all')
  H.wait('no fanouts', function()
    local status = H.status(buf)
    return status and #status.fanouts == 0
  end, 20000, function()
    return vim.inspect(H.status(buf))
  end)
end)

H.finish()
