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

--- The strings of a TOML array value (`["a", 'b']`).
local function toml_strings(value)
  local items = {}
  for _, body in value:gmatch([[(["'])(.-)%1]]) do
    table.insert(items, body)
  end
  return items
end

--- Agents from fanout's user config file: the roster (`agents = [...]`) and the first word of
--- each `[agent.NAME] command`. Only the keys this check needs are read; the server is the
--- one that really parses the file.
---@return string[] roster, table<string, string> binaries, string path
local function read_user_config()
  local base = vim.env.XDG_CONFIG_HOME
  if not base or base == '' then
    base = vim.fs.joinpath(vim.env.HOME or '~', '.config')
  end
  local path = vim.fs.joinpath(base, 'fanout', 'config.toml')
  local roster, binaries = {}, {}
  local file = io.open(path, 'r')
  if not file then
    return roster, binaries, path
  end
  local text = file:read('*a')
  file:close()

  local section = ''
  local pending_key, pending_value
  for line in (text .. '\n'):gmatch('([^\n]*)\n') do
    line = line:gsub('^%s+', '')
    if pending_key then
      -- A multi-line array: collect until its closing bracket.
      pending_value = pending_value .. ' ' .. line
      if line:find(']', 1, true) then
        line, pending_key = pending_key .. ' = ' .. pending_value, nil
      end
    end
    if not pending_key then
      local header = line:match('^%[([^%]]+)%]')
      if header then
        section = vim.trim(header)
      else
        local key, value = line:match('^([%w_%-]+)%s*=%s*(.*)$')
        if key and value:match('^%[') and not value:find(']', 1, true) then
          pending_key, pending_value = key, value
        elseif key then
          if section == '' and key == 'agents' then
            roster = toml_strings(value)
          end
          local agent = section:match('^agent%.(.+)$')
          if agent and key == 'command' then
            local unquoted = agent:gsub('^"(.*)"$', '%1')
            binaries[unquoted] = toml_strings(value)[1]
          end
        end
      end
    end
  end
  return roster, binaries, path
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

local function check_agents()
  health.start('Agents')
  local roster, binaries, path = read_user_config()
  if config.options.agents then
    roster = config.options.agents
    health.info('roster from setup(): ' .. table.concat(roster, ', '))
  elseif #roster > 0 then
    health.info(('roster from %s: %s'):format(path, table.concat(roster, ', ')))
  else
    health.info(('no roster in setup() or %s: fanout uses its built-in default'):format(path))
    return
  end
  for _, name in ipairs(roster) do
    -- Without a user profile, a built-in profile runs the binary of the agent's name.
    local bin = binaries[name] or name
    local exe = vim.fn.exepath(bin)
    if exe ~= '' then
      health.ok(('%s: %s'):format(name, exe))
    else
      health.warn(('%s: %s not found on PATH'):format(name, bin), {
        ('install %s, or define [agent.%s] command = [...] in %s'):format(bin, name, path),
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

M._read_user_config = read_user_config

return M
