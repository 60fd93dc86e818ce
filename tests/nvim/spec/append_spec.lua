-- Accepting an attempt that appends to a file and adds a new one: the buffers, once saved,
-- hold exactly the attempt's files (no stray blank line at the end).
local H = dofile(vim.env.FANOUT_REPO_ROOT .. '/tests/nvim/helpers.lua')

H.write_config(1, H.root .. '/tests/nvim/agents/append-agent')
H.load_plugin()
require('fanout').setup({ bin = H.bin })

local original = 'import sys\n\n# TODO: add a main guard\n'
local repo = H.make_repo('append', { ['tool.py'] = original })
vim.cmd.cd(vim.fn.fnameescape(repo))
vim.cmd.edit('tool.py')
local buf = vim.api.nvim_get_current_buf()

local function read(path)
  local f = io.open(path, 'rb')
  if not f then
    return nil
  end
  local text = f:read('*a')
  f:close()
  return text
end

local id

H.test('one attempt appends to the file and adds another', function()
  H.wait_lenses(buf, 'the Try lens', function()
    return vim.tbl_contains(H.lenses(buf)[2] or {}, 'Try 1 approaches')
      or vim.tbl_contains(H.lenses(buf)[2] or {}, 'Try 1 approach')
  end, 20000)
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  vim.cmd('Fanout try')
  H.wait('the attempt to succeed', function()
    return H.states(buf)[1] == 'succeeded'
  end, 60000, function()
    return vim.inspect(H.states(buf))
  end)
  id = H.attempts(buf)[1].id
end)

H.test('accept: the appended line and the new file, with no extra empty line', function()
  vim.cmd('Fanout accept ' .. id)
  H.wait('the appended line', function()
    return H.buf_lines(buf)[4] == '# appended by attempt 1'
  end, 20000, function()
    return vim.inspect(H.buf_lines(buf))
  end)
  H.eq({ 'import sys', '', '# TODO: add a main guard', '# appended by attempt 1' }, H.buf_lines(buf), 'tool.py buffer')
  local added = vim.fn.bufnr(repo .. '/added/new-1.txt')
  if added == -1 then
    added = vim.fn.bufnr(vim.uv.fs_realpath(repo) .. '/added/new-1.txt')
  end
  H.truthy(added ~= -1, 'the new file has a buffer')
  H.eq({ 'line one', 'line two' }, H.buf_lines(added), 'new file buffer')
end)

H.test('saved, the files hold exactly what the attempt wrote', function()
  vim.cmd('silent wall')
  H.eq(original .. '# appended by attempt 1\n', read(repo .. '/tool.py'), 'tool.py on disk')
  H.eq('line one\nline two\n', read(repo .. '/added/new-1.txt'), 'new file on disk')
end)

H.finish()
