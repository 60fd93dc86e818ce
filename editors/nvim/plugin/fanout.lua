-- Loaded at startup by every plugin manager: only the user command, the client-side lens
-- commands, the default start and an LspAttach hook live here. Nothing is required until it
-- is used: `fanout lsp` starts when a file inside a git repository opens, with the defaults,
-- whether or not setup() is ever called. setup(opts) replaces that start with its options
-- (`autostart = false` turns it off); so does `vim.g.fanout_autostart = false` set before the
-- plugin loads, and so does vim.lsp.enable('fanout'), which starts it its own way.
if vim.g.loaded_fanout then
  return
end
vim.g.loaded_fanout = true

if vim.fn.has('nvim-0.10') ~= 1 then
  vim.api.nvim_echo({ { 'fanout.nvim needs Neovim 0.10 or newer', 'WarningMsg' } }, true, {})
  return
end

vim.api.nvim_create_user_command('Fanout', function(opts)
  require('fanout.commands').run(opts)
end, {
  nargs = '*',
  desc = 'fanout: try|status|diff|accept|discard|cancel|log|compare|review|synthesize|plan|tryall|integrate',
  complete = function(arglead, cmdline, cursorpos)
    return require('fanout.commands').complete(arglead, cmdline, cursorpos)
  end,
})

-- Lens commands handled in the editor: openDiff gets a native diff view instead of the
-- server's fallback (a .diff file); try and accept report their outcome here; `Plan tasks…`
-- asks for the goal; `Run all` and `Integrate` say what they did; a task list item's label
-- (`fanout.status` before the item has an attempt) opens the status window.
vim.lsp.commands['fanout.openDiff'] = function(command, ctx)
  require('fanout.diff').from_lens(command, ctx)
end
vim.lsp.commands['fanout.try'] = function(command, ctx)
  require('fanout').try_lens(command, ctx)
end
vim.lsp.commands['fanout.accept'] = function(command, ctx)
  require('fanout').accept_lens(command, ctx)
end
vim.lsp.commands['fanout.plan'] = function(command, ctx)
  require('fanout').plan_lens(command, ctx)
end
vim.lsp.commands['fanout.tryAll'] = function(command, ctx)
  require('fanout').tryall_lens(command, ctx)
end
vim.lsp.commands['fanout.integrate'] = function(command, ctx)
  require('fanout').integrate_lens(command, ctx)
end
vim.lsp.commands['fanout.status'] = function()
  require('fanout').status()
end

if vim.g.fanout_autostart ~= false then
  -- The same group setup() uses, so that setup() replaces these with its own.
  vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile', 'FileType' }, {
    group = vim.api.nvim_create_augroup('fanout.autostart', { clear = false }),
    callback = function(ev)
      require('fanout').autostart(ev.buf)
    end,
  })
  if vim.v.vim_did_enter == 1 then
    -- Loaded late (lazily): the files already open get the server too.
    for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(bufnr) and vim.api.nvim_buf_get_name(bufnr) ~= '' then
        require('fanout').autostart(bufnr)
      end
    end
  end
end

vim.api.nvim_create_autocmd('LspAttach', {
  group = vim.api.nvim_create_augroup('fanout.attach', { clear = true }),
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if client and client.name == 'fanout' then
      require('fanout').on_attach(client, ev.buf)
    end
  end,
})

vim.api.nvim_create_autocmd('LspDetach', {
  group = 'fanout.attach',
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    -- The state goes with the client's last buffer (the client is stopping).
    if client and client.name == 'fanout' and vim.tbl_count(client.attached_buffers or {}) <= 1 then
      require('fanout.state').forget(client.id)
    end
  end,
})
