-- Neovim 0.11+: `vim.lsp.enable('fanout')` reads this file. It attaches `fanout lsp` to
-- buffers inside git repositories. Options given to require('fanout').setup() (binary,
-- attempts, agents) are used when setup() ran first; vim.lsp.config('fanout', {...})
-- overrides any field.
return require('fanout.config').lsp_config()
