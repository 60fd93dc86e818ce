-- Neovim 0.11's own way: vim.lsp.enable('fanout') with lsp/fanout.lua and no setup().
-- Git repositories only; lenses and the fanout/status handler work as with setup().
local H = dofile(vim.env.FANOUT_REPO_ROOT .. '/tests/nvim/helpers.lua')

H.write_config(2)
vim.env.FAKE_AGENT_MODE = 'same'
H.load_plugin()

if vim.fn.has('nvim-0.11') ~= 1 then
  H.test('vim.lsp.enable needs Neovim 0.11 (skipped)', function() end)
  H.finish()
  return
end

vim.lsp.config('fanout', { cmd = { H.bin, 'lsp' } })
vim.lsp.enable('fanout')

local repo = H.make_repo('enable', { ['notes.sh'] = '#!/bin/sh\n# TODO: print a greeting\n' })
local outside = H.tmp .. '/not-a-repo'
vim.fn.mkdir(outside, 'p')
vim.fn.writefile({ '# TODO: not in git' }, outside .. '/loose.sh')

H.test('a file outside any git repository gets no fanout client', function()
  vim.cmd.edit(vim.fn.fnameescape(outside .. '/loose.sh'))
  H.eq('sh', vim.bo.filetype, 'filetype detected (vim.lsp.enable works on FileType)')
  -- Give a client every chance to start: wait for the other buffer's client below, then look.
end)

local buf
H.test('a file inside a repository gets the client from lsp/fanout.lua', function()
  vim.cmd.edit(vim.fn.fnameescape(repo .. '/notes.sh'))
  buf = vim.api.nvim_get_current_buf()
  H.wait('the fanout client', function()
    local client = H.client(buf)
    return client and client.server_capabilities ~= nil
  end)
  H.eq(vim.uv.fs_realpath(repo), vim.uv.fs_realpath(H.client(buf).config.root_dir), 'root')
  local loose = vim.fn.bufnr(outside .. '/loose.sh')
  H.eq(0, #vim.lsp.get_clients({ name = 'fanout', bufnr = loose }), 'no client on the file outside git')
end)

H.test('the lens appears with the server-configured count', function()
  H.wait_lenses(buf, 'the Try lens', function()
    return vim.tbl_contains(H.lenses(buf)[1] or {}, 'Try 2 approaches')
  end, 20000)
end)

H.test('a fork updates the statusline through the fanout/status handler of lsp/fanout.lua', function()
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd('Fanout try')
  H.wait('2 succeeded', function()
    return require('fanout').statusline(buf) == '⟳0 ✓2 ✗0'
  end, 60000, function()
    return require('fanout').statusline(buf) .. ' ' .. vim.inspect(H.states(buf))
  end)
  H.wait_lenses(buf, 'the attempt lenses', function()
    return table.concat(H.lenses(buf)[1] or {}, ' | '):find('#2 fake ✓', 1, true)
  end, 20000)
end)

H.test('the openDiff lens handler works here too', function()
  local offered = H.select('#1 fake')
  vim.lsp.codelens.run()
  H.truthy(#offered > 0, 'lens picker')
  H.wait('the diff window', function()
    return #vim.api.nvim_tabpage_list_wins(0) == 2
  end)
  local other = vim.tbl_filter(function(w)
    return vim.api.nvim_win_get_buf(w) ~= buf
  end, vim.api.nvim_tabpage_list_wins(0))[1]
  H.eq({ '#!/bin/sh', '# done by every attempt' }, H.buf_lines(vim.api.nvim_win_get_buf(other)), 'attempt text')
  vim.api.nvim_win_close(other, true)
end)

H.test('a discard made with the CLI shows up in the statusline and lenses', function()
  local fanout_id = H.status(buf).fanouts[1].id
  H.system({ H.bin, 'discard', fanout_id }, repo)
  H.wait('no fanouts', function()
    local status = H.status(buf)
    return status and #status.fanouts == 0 and require('fanout').statusline(buf) == ''
  end, 20000, function()
    return vim.inspect(H.status(buf))
  end)
  H.wait_lenses(buf, 'only the Try lens', function()
    return table.concat(H.lenses(buf)[1] or {}, ' | ') == 'Try 2 approaches'
  end, 20000)
end)

H.finish()
