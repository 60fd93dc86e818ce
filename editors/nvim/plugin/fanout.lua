-- Loaded at startup by every plugin manager: only the user command, the client-side lens
-- commands and an LspAttach hook live here. Nothing is required until it is used, and no
-- server starts until setup() or vim.lsp.enable('fanout') asks for it.
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
  desc = 'fanout: try|status|diff|accept|discard|cancel|log',
  complete = function(arglead, cmdline, cursorpos)
    return require('fanout.commands').complete(arglead, cmdline, cursorpos)
  end,
})

-- Lens commands handled in the editor: openDiff gets a native diff view instead of the
-- server's fallback (a .diff file); try and accept report their outcome here.
vim.lsp.commands['fanout.openDiff'] = function(command, ctx)
  require('fanout.diff').from_lens(command, ctx)
end
vim.lsp.commands['fanout.try'] = function(command, ctx)
  require('fanout').try_lens(command, ctx)
end
vim.lsp.commands['fanout.accept'] = function(command, ctx)
  require('fanout').accept_lens(command, ctx)
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
