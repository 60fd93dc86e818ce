-- `:Fanout {subcommand} [args]`: parsing and <Tab> completion. plugin/fanout.lua only
-- registers the command; the work is done by the API in init.lua.
local M = {}

local function api()
  return require('fanout')
end

---@type table<string, { run: fun(args: string[]), complete: (fun(): string[])|nil }>
local subcommands = {}

--- Attempt ids (and fanout ids / `all`) for completion, from the cached state.
local function ids(filter_name, with_fanouts, with_all)
  return function()
    local client = require('fanout.client').for_buf(0)
    local pick = require('fanout.pick')
    return pick.ids(client and client.id, pick.filters[filter_name], with_fanouts, with_all)
  end
end

subcommands.try = {
  -- :Fanout try [N] [agent...]
  run = function(args)
    local count
    if args[1] and args[1]:match('^%d+$') then
      count = tonumber(table.remove(args, 1))
    end
    api().try({ count = count, agents = args })
  end,
  complete = function()
    local names = vim.deepcopy(require('fanout.config').options.agents or {})
    -- Agents seen in this repository's attempts are worth offering too.
    local client = require('fanout.client').for_buf(0)
    if client then
      for _, item in ipairs(require('fanout.state').attempts(client.id)) do
        if item.attempt.agent and not vim.tbl_contains(names, item.attempt.agent) then
          table.insert(names, item.attempt.agent)
        end
      end
    end
    return names
  end,
}

subcommands.status = {
  run = function()
    api().status()
  end,
}

subcommands.diff = {
  run = function(args)
    api().diff(args[1])
  end,
  complete = ids('diff', false, false),
}

subcommands.accept = {
  run = function(args)
    api().accept(args[1])
  end,
  complete = ids('accept', false, false),
}

subcommands.discard = {
  run = function(args)
    api().discard(args[1])
  end,
  complete = ids('any', true, true),
}

subcommands.cancel = {
  run = function(args)
    api().cancel(args[1])
  end,
  complete = ids('cancel', true, true),
}

subcommands.log = {
  run = function(args)
    api().log(args[1])
  end,
  complete = ids('any', false, false),
}

M.names = vim.tbl_keys(subcommands)
table.sort(M.names)

--- Handler of the user command.
---@param opts { fargs: string[] }
function M.run(opts)
  local args = vim.deepcopy(opts.fargs)
  local name = table.remove(args, 1) or 'status'
  local sub = subcommands[name]
  if not sub then
    vim.notify(
      ('fanout: unknown subcommand %q; one of: %s'):format(name, table.concat(M.names, ', ')),
      vim.log.levels.ERROR
    )
    return
  end
  sub.run(args)
end

--- Completion of the user command.
---@param arglead string
---@param cmdline string
---@param cursorpos integer
---@return string[]
function M.complete(arglead, cmdline, cursorpos)
  local before = cmdline:sub(1, cursorpos)
  local words = vim.split(vim.trim(before), '%s+')
  -- words[1] is the command itself; a trailing space means a new word has started.
  local nth = #words - (before:match('%s$') and 0 or 1)
  local candidates
  if nth <= 1 then
    candidates = M.names
  else
    local sub = subcommands[words[2]]
    candidates = sub and sub.complete and sub.complete() or {}
  end
  return vim.tbl_filter(function(c)
    return vim.startswith(c, arglead)
  end, candidates)
end

return M
