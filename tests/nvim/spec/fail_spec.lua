-- Attempts whose agent fails: ✗ in lenses and statusline, no Accept, the reason in the log.
-- Also: setup({ attempts }) overrides fanout's config.toml, and :Fanout try N AGENT.
local H = dofile(vim.env.FANOUT_REPO_ROOT .. '/tests/nvim/helpers.lua')

H.write_config(3)
vim.env.FAKE_AGENT_MODE = 'fail'
H.load_plugin()
require('fanout').setup({ bin = H.bin, attempts = 2 }) -- config.toml says 3

local repo = H.make_repo('fail', {
  ['main.c'] = 'int main(void) {\n  // FIXME: return a real status\n  return 0;\n}\n',
})
vim.cmd.cd(vim.fn.fnameescape(repo))
vim.cmd.edit('main.c')
local buf = vim.api.nvim_get_current_buf()
local TASK = 1

local ids = {}

H.test('setup({ attempts = 2 }) reaches the server: the lens says 2', function()
  H.wait_lenses(buf, 'the Try lens', function()
    return vim.tbl_contains(H.lenses(buf)[TASK] or {}, 'Try 2 approaches')
  end, 20000)
end)

H.test(':Fanout try forks 2 attempts that both fail', function()
  vim.api.nvim_win_set_cursor(0, { TASK + 1, 0 })
  vim.cmd('Fanout try')
  H.wait('2 failed attempts', function()
    local status = H.status(buf)
    return status and status.failed == 2 and status.running == 0
  end, 60000, function()
    return vim.inspect(H.states(buf))
  end)
  for n, attempt in pairs(H.attempts(buf)) do
    ids[n] = attempt.id
    H.eq(1, attempt.exit_code, 'exit code of #' .. n)
  end
end)

H.test(':Fanout try 1 fake forks one more attempt with that agent', function()
  vim.cmd('Fanout try 1 fake')
  H.wait('a second fanout with 1 failed attempt', function()
    local status = H.status(buf)
    if not (status and #status.fanouts == 2 and status.failed == 3) then
      return false
    end
    for _, fanout in ipairs(status.fanouts) do
      if #fanout.attempts == 1 then
        return fanout.attempts[1].agent == 'fake'
      end
    end
  end, 60000, function()
    return vim.inspect(H.status(buf))
  end)
end)

H.test('statusline ⟳0 ✓0 ✗3', function()
  H.eq('⟳0 ✓0 ✗3', require('fanout').statusline(buf), 'statusline')
end)

H.test('lenses show ✗ exit 1 and no Accept', function()
  H.wait_lenses(buf, 'failed lenses', function()
    local titles = table.concat(H.lenses(buf)[TASK] or {}, ' | ')
    -- Three attempt lenses: #1 and #2 of the first fanout, #1 of the second.
    return select(2, titles:gsub('fake ✗', '')) == 3 and titles:find('#2 fake ✗', 1, true)
  end, 20000)
  local titles = table.concat(H.lenses(buf)[TASK] or {}, ' | ')
  H.truthy(titles:find('exit 1', 1, true), titles)
  H.truthy(not titles:find('Accept', 1, true), titles)
end)

H.test(':Fanout accept with nothing to accept says so', function()
  local offered = H.select('.')
  H.notifications = {}
  vim.cmd('Fanout accept')
  H.eq(0, #offered, 'no picker items')
  H.truthy(H.notifications[1] and H.notifications[1].msg:find('no attempts to accept', 1, true), vim.inspect(H.notifications))
end)

H.test(':Fanout log ID shows why it failed', function()
  vim.cmd('Fanout log ' .. ids[1])
  H.wait('the log buffer', function()
    return vim.api.nvim_buf_get_name(0):find(ids[1] .. '/log', 1, true)
  end)
  local text = table.concat(H.buf_lines(0), '\n')
  H.truthy(text:find('fake-agent: giving up', 1, true), text)
  vim.cmd('close')
end)

H.test(':Fanout discard FANOUT discards a whole fanout', function()
  local fanout_id = ids[1]:match('^(.*)%-1$')
  vim.cmd('Fanout discard ' .. fanout_id)
  H.wait('one fanout left', function()
    local status = H.status(buf)
    return status and #status.fanouts == 1 and status.fanouts[1].id ~= fanout_id
  end, 20000, function()
    return vim.inspect(H.status(buf))
  end)
  vim.cmd('Fanout discard all')
  H.wait('no fanouts', function()
    local status = H.status(buf)
    return status and #status.fanouts == 0
  end, 20000, function()
    return vim.inspect(H.status(buf))
  end)
end)

H.test('an unknown attempt id is reported as an error', function()
  H.notifications = {}
  vim.cmd('Fanout log nosuchattempt-9')
  H.wait('an error message', function()
    for _, n in ipairs(H.notifications) do
      if n.level == vim.log.levels.ERROR and n.msg:find('fanout.log', 1, true) then
        return true
      end
    end
  end, 20000, function()
    return vim.inspect(H.notifications)
  end)
end)

H.finish()
