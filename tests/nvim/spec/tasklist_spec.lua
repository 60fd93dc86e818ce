-- A task list in Neovim: the `Run all 2 tasks` lens on a TASKS.md of two independent items
-- runs each of them (the team fixture agent writes each item's file), each item's line shows
-- the server's label once its attempts are done, :Fanout integrate shows what it did with
-- each item, the `Accept the integration` lens checks the boxes in the buffer (one edit, `u`
-- undoes it), and the `Plan tasks…` lens asks for a goal and starts the lead.
local H = dofile(vim.env.FANOUT_REPO_ROOT .. '/tests/nvim/helpers.lua')

-- The team agent (tests/fixtures/agents/team-agent) as the roster's one agent, and so the
-- lead too: per item title, the files it writes; as a lead, the list it writes.
H.write_config(2, H.root .. '/tests/fixtures/agents/team-agent')
local TASKS = {
  '# Game',
  '',
  '- [ ] Board',
  '  Done when: board.py exists',
  '  Touches: board.py',
  '- [ ] Search',
  '  Touches: search.py',
}
local BOARD, SEARCH = 2, 5 -- 0-based lines of the items
local spec = H.tmp .. '/team-spec.json'
vim.fn.writefile({ vim.json.encode({
  Board = { ['board.py'] = 'BOARD = {attempt}\n' },
  Search = { ['search.py'] = 'def search():\n    return {attempt}\n' },
}) }, spec)
local plan = H.tmp .. '/team-plan.json'
local planned = vim.list_extend(vim.deepcopy(TASKS), { '- [ ] Clock', '  Touches: clock.py' })
vim.fn.writefile({ vim.json.encode({ file = 'TASKS.md', text = table.concat(planned, '\n') .. '\n' }) }, plan)
-- Inherited by `fanout lsp`, its supervisors and the agents.
vim.env.TEAM_AGENT_SPEC = spec
vim.env.TEAM_AGENT_PLAN = plan

H.load_plugin()
require('fanout').setup({ bin = H.bin })

local repo = H.make_repo('tasklist', {
  ['TASKS.md'] = table.concat(TASKS, '\n') .. '\n',
  ['README.md'] = '# game\n',
})
vim.cmd.cd(vim.fn.fnameescape(repo))
vim.cmd.edit('TASKS.md')
local buf = vim.api.nvim_get_current_buf()
local win = vim.api.nvim_get_current_win()

local function told(text)
  for _, n in ipairs(H.notifications) do
    if n.msg:find(text, 1, true) then
      return n.msg
    end
  end
end

local function messages()
  local all = {}
  for _, n in ipairs(H.notifications) do
    all[#all + 1] = n.msg
  end
  return table.concat(all, '\n')
end

--- Runs the lens of the first line whose title starts with `title`, as a user would with
--- vim.lsp.codelens.run() on that line (it offers the line's lenses with vim.ui.select).
local function run_lens(line, title)
  vim.api.nvim_set_current_win(win)
  vim.api.nvim_win_set_cursor(win, { line + 1, 0 })
  local offered = H.select('^' .. vim.pesc(title))
  vim.lsp.codelens.run()
  return offered
end

H.test("the task list's lenses are on its first line, with the count in force", function()
  H.wait_lenses(buf, 'the Run all lens', function()
    return (H.lens_text(buf)[0] or ''):find('Run all 2 tasks (2 approaches each)', 1, true)
  end, 20000)
  H.truthy((H.lens_text(buf)[0] or ''):find('Plan tasks…', 1, true), vim.inspect(H.lens_text(buf)))
  H.truthy((H.lens_text(buf)[BOARD] or ''):find('Try 2 approaches', 1, true), vim.inspect(H.lens_text(buf)))
end)

H.test('the Run all lens runs every item and says what started', function()
  run_lens(0, 'Run all 2 tasks')
  H.wait('the started message', function()
    return told('fanout: started Board, Search from TASKS.md')
  end, 20000, messages)
end)

H.test("each item's line shows the server's label once its attempts are done", function()
  H.wait_lenses(buf, 'both items ready to integrate', function()
    local t = H.lens_text(buf)
    return (t[BOARD] or ''):find('ready to integrate', 1, true) and (t[SEARCH] or ''):find('ready to integrate', 1, true)
  end, 60000)
  H.wait_lenses(buf, 'the Integrate lens', function()
    return (H.lens_text(buf)[0] or ''):find('Integrate (2 items: 2 ready)', 1, true)
  end)
end)

H.test('the status window lists the run and its items', function()
  vim.cmd('Fanout status')
  local view
  H.wait('the status window', function()
    view = require('fanout.status_window').current()
    return view and table.concat(H.buf_lines(view.buf), '\n'):find('TASKS.md  2 items: 2 ready', 1, true)
  end, 20000, function()
    return view and table.concat(H.buf_lines(view.buf), '\n') or 'no window'
  end)
  local text = table.concat(H.buf_lines(view.buf), '\n')
  H.truthy(text:find('1. Board   ★ [0-9a-f]+%-%d ready to integrate'), text)
  H.truthy(text:find('2. Search   ★ [0-9a-f]+%-%d ready to integrate'), text)
  vim.api.nvim_feedkeys('q', 'x', false)
  H.wait('the status window closed', function()
    return require('fanout.status_window').current() == nil
  end)
end)

H.test(":Fanout integrate shows each item's outcome in the server's words", function()
  vim.api.nvim_set_current_win(win)
  vim.cmd('Fanout integrate')
  H.wait('the integration buffer', function()
    return vim.api.nvim_buf_get_name(0):find('fanout://integrate/', 1, true)
  end, 60000, messages)
  local text = table.concat(H.buf_lines(0), '\n')
  H.truthy(text:find('^integration [0-9a-f]+%-1 of TASKS.md, branch fanout/integration%-'), text)
  H.truthy(text:find('\n  1%. Board: merged [0-9a-f]+%-%d'), text)
  H.truthy(text:find('\n  2%. Search: merged [0-9a-f]+%-%d'), text)
  vim.api.nvim_feedkeys('q', 'x', false)
  H.wait('back to the task list', function()
    return vim.api.nvim_get_current_buf() == buf and #vim.api.nvim_tabpage_list_wins(0) == 1
  end)
  H.wait_lenses(buf, 'the integration lens', function()
    local first = H.lens_text(buf)[0] or ''
    return first:find('integration: 2 of 2 merged', 1, true) and first:find('Accept the integration', 1, true)
  end, 20000)
end)

H.test("the Accept the integration lens checks the items' boxes in the buffer, undoably", function()
  run_lens(0, 'Accept the integration')
  local checked = vim.tbl_map(function(l)
    return (l:gsub('^%- %[ %]', '- [x]'))
  end, TASKS)
  H.wait('the boxes checked', function()
    return vim.deep_equal(H.buf_lines(buf), checked)
  end, 20000, function()
    return vim.inspect(H.buf_lines(buf)) .. '\n' .. messages()
  end)
  -- The edit comes before the command's answer.
  H.wait("accept's answer", function()
    return told('fanout: applied ')
  end, 20000, messages)
  -- The items' files came in the same edit, as new buffers, as the attempt the run chose
  -- for each item wrote them (the best: not always #1).
  local runs = H.status(buf).batches
  local function n(k)
    return runs[#runs].items[k].chosen:match('%-(%d+)$')
  end
  local board = vim.fn.bufnr(repo .. '/board.py')
  H.truthy(board ~= -1, 'board.py is a buffer')
  H.eq({ 'BOARD = ' .. n(1) }, H.buf_lines(board), 'board.py')
  vim.api.nvim_set_current_win(win)
  vim.cmd('undo')
  H.eq(TASKS, H.buf_lines(buf), 'u undoes the checks')
  vim.cmd('redo')
  H.eq(checked, H.buf_lines(buf), 'and redo')
  vim.cmd('silent wall')
  H.eq(checked, vim.fn.readfile(repo .. '/TASKS.md'), 'TASKS.md on disk once written')
  H.eq({ 'def search():', '    return ' .. n(2) }, vim.fn.readfile(repo .. '/search.py'), 'search.py on disk')
  H.wait_lenses(buf, 'no unchecked item left to run', function()
    return not (H.lens_text(buf)[0] or ''):find('Run all', 1, true)
  end, 20000)
end)

H.test('the Plan tasks… lens asks for the goal, then the lead plans', function()
  local asked
  vim.ui.input = function(opts, on_confirm)
    asked = opts.prompt
    on_confirm('Add a clock')
  end
  run_lens(0, 'Plan tasks…')
  H.truthy(asked and asked:find('goal', 1, true), tostring(asked))
  local lead
  H.wait('the lead succeeded', function()
    for _, f in ipairs(H.status(buf).fanouts) do
      if f.task.marker == 'plan' and f.task.text == 'Add a clock' and f.attempts[1].state == 'succeeded' then
        lead = f.attempts[1]
        return true
      end
    end
  end, 60000, function()
    return messages()
  end)
  H.truthy(told('fanout: the lead is planning TASKS.md'), messages())
  -- Its plan is an attempt's change to the task list: read like any diff.
  local params = { command = 'fanout.diff', arguments = { { attempt = lead.id } } }
  local diff = require('fanout.client').request_sync(H.client(buf), 'workspace/executeCommand', params, 20000, buf)
  H.truthy(diff and diff.diff:find('+- [ ] Clock', 1, true), vim.inspect(diff))
end)

H.test(':Fanout plan GOAL from another file plans the root TASKS.md; :Fanout tryall says why not', function()
  -- Every item is checked now: the server says there is nothing to run.
  vim.api.nvim_set_current_win(win)
  vim.cmd('Fanout tryall')
  H.wait("the server's reason", function()
    for _, n in ipairs(H.notifications) do
      if n.level == vim.log.levels.ERROR and n.msg:find('fanout.tryAll', 1, true) then
        return n.msg
      end
    end
  end, 20000, messages)
  vim.cmd.edit('README.md')
  vim.cmd('Fanout plan Add a timer')
  H.wait('the second lead succeeded', function()
    for _, f in ipairs(H.status(buf).fanouts) do
      if f.task.marker == 'plan' and f.task.text == 'Add a timer' and f.attempts[1].state == 'succeeded' then
        return f.task.file == 'TASKS.md'
      end
    end
  end, 60000, messages)
  H.truthy(told("fanout: the lead is planning TASKS.md at the repository's root"), messages())
end)

H.finish()
