-- `:checkhealth fanout`: the binary and its version, the server, the git repository, and
-- the configured agents with their binaries.
local config = require('fanout.config')

local M = {}

local health = vim.health

--- Runs a command and returns its trimmed stdout, or nil and a reason.
local function run(cmd, cwd)
  local ok, proc = pcall(vim.system, cmd, { text = true, cwd = cwd })
  if not ok then
    return nil, tostring(proc)
  end
  local res = proc:wait(5000)
  if res.code ~= 0 then
    return nil, vim.trim((res.stderr ~= '' and res.stderr) or res.stdout or ('exit ' .. res.code))
  end
  return vim.trim(res.stdout or '')
end

local function check_neovim()
  health.start('Neovim')
  local v = vim.version()
  local version = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.10') == 1 then
    health.ok('Neovim ' .. version)
  else
    health.error('Neovim ' .. version .. ': fanout needs 0.10 or newer')
  end
end

local function check_binary()
  health.start('fanout binary')
  local cmd = config.cmd()
  local exe = vim.fn.exepath(cmd[1])
  if exe == '' then
    health.error(('%s not found'):format(cmd[1]), {
      'Install fanout (cargo install --path server) or set the path:',
      "require('fanout').setup({ bin = '/path/to/fanout' })",
    })
    return
  end
  local version, err = run({ exe, '--version' })
  if version then
    health.ok(('%s (%s)'):format(version ~= '' and version or 'version unknown', exe))
  else
    health.warn(('%s --version failed: %s'):format(exe, err or '?'))
  end
  health.info('server command: ' .. table.concat(cmd, ' '))
end

local function check_server()
  health.start('Language server')
  local clients = vim.lsp.get_clients({ name = 'fanout' })
  if #clients == 0 then
    health.info('not running (it starts for files inside git repositories)')
  end
  for _, client in ipairs(clients) do
    health.ok(('running for %s (client %d)'):format(client.config.root_dir or '?', client.id))
  end
end

--- The buffer to check the repository of: the one :checkhealth was run from.
local function user_buffer()
  local alt = vim.fn.bufnr('#')
  if alt > 0 and vim.bo[alt].buftype == '' and vim.api.nvim_buf_get_name(alt) ~= '' then
    return alt
  end
  return vim.api.nvim_get_current_buf()
end

local function check_git()
  health.start('Git repository')
  if vim.fn.executable('git') ~= 1 then
    health.error('git not found on PATH')
    return
  end
  local root = config.git_root(user_buffer())
  if not root then
    root = vim.fs.root(vim.fn.getcwd(), '.git')
  end
  if not root then
    health.warn('the current file and directory are not inside a git repository', {
      'fanout forks tasks of git repositories only',
    })
    return
  end
  local top, err = run({ 'git', 'rev-parse', '--show-toplevel' }, root)
  if top then
    health.ok('repository: ' .. top)
  else
    health.error(('%s: git rev-parse failed: %s'):format(root, err or '?'))
  end
end

--- What the server says of the configuration and the agents (`fanout.config`,
--- `fanout.agents`): the language server's answer when it runs, else the CLI's
--- (`fanout agents --json`). fanout itself reads the files; nothing is parsed here.
local function ask_server(command, buf)
  local client = require('fanout.client').for_buf(buf)
  if not client then
    return nil
  end
  local uri = vim.uri_from_bufnr(buf)
  local params = { command = command, arguments = { { uri = uri } } }
  return require('fanout.client').request_sync(client, 'workspace/executeCommand', params, 10000, buf)
end

local function check_agents()
  health.start('Configuration and agents')
  local buf = user_buffer()
  local cfg = ask_server('fanout.config', buf)
  if cfg then
    health.info(('user config: %s%s'):format(cfg.user_config, cfg.user_config_exists and '' or ' (none)'))
    if cfg.repo_config ~= vim.NIL and cfg.repo_config then
      health.info(('repository config: %s (%s)'):format(cfg.repo_config, cfg.repo_config_trusted and 'trusted' or 'not trusted'))
    end
    if cfg.attempts ~= vim.NIL and cfg.attempts then
      health.info(('attempts: %d; roster: %s'):format(cfg.attempts, table.concat(cfg.roster or {}, ', ')))
    end
    health.info('log: ' .. cfg.log_file)
    for _, p in ipairs(cfg.problems or {}) do
      health.warn(p)
    end
  end
  local agents = ask_server('fanout.agents', buf)
  if not agents then
    local out, err = run({ config.cmd()[1], 'agents', '--json' }, vim.fn.getcwd())
    if not out then
      health.warn('cannot list the agents: ' .. (err or '?'))
      return
    end
    local ok, decoded = pcall(vim.json.decode, out)
    if not ok then
      health.warn('cannot read `fanout agents --json`: ' .. tostring(decoded))
      return
    end
    agents = decoded
  end
  local in_roster = {}
  for _, name in ipairs(agents.roster or {}) do
    in_roster[name] = true
  end
  for _, a in ipairs(agents.agents or {}) do
    local bin = (a.binary ~= vim.NIL and a.binary) or (a.argv or {})[1] or a.name
    if a.usable then
      health.ok(('%s: %s (%s%s)'):format(a.name, bin, a.source, in_roster[a.name] and ', in the roster' or ''))
    elseif in_roster[a.name] then
      local note = (a.note ~= vim.NIL and a.note) or (bin .. ' not found')
      health.warn(('%s: %s'):format(a.name, note), {
        ('install it, or define [agent.%s] command = [...] in your config'):format(a.name),
      })
    end
  end
end

function M.check()
  check_neovim()
  check_binary()
  check_server()
  check_git()
  check_agents()
end

return M
