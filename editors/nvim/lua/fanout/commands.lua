-- `:Fanout {subcommand} [args]`: parsing and <Tab> completion. plugin/fanout.lua only
-- registers the command; the work is done by the API in init.lua.
local M = {}

local function api()
  return require('fanout')
end

---@type table<string, { run: fun(args: string[]), complete: (fun(arglead: string): string[])|nil }>
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
  complete = function(arglead)
    -- The agents the server knows (fanout.agents: configured, built-in, installed or not),
    -- then models: `claude:sonnet` for models used in this repository or set by a profile,
    -- offered once `claude:` is typed and the agent's command takes a model.
    local names = vim.deepcopy(require('fanout.config').options.agents or {})
    local client = require('fanout.client').for_buf(0)
    if not client then
      return names
    end
    local params = { command = 'fanout.agents', arguments = { { uri = vim.uri_from_bufnr(0) } } }
    local known = require('fanout.client').request_sync(client, 'workspace/executeCommand', params, 2000, 0)
    local takes_model = {}
    for _, agent in ipairs(known and known.agents or {}) do
      if not vim.tbl_contains(names, agent.name) then
        table.insert(names, agent.name)
      end
      takes_model[agent.name] = agent.takes_model == true
      if agent.model and agent.model ~= vim.NIL and arglead:find(':', 1, true) then
        table.insert(names, agent.name .. ':' .. agent.model)
      end
    end
    if arglead:find(':', 1, true) then
      for _, item in ipairs(require('fanout.state').attempts(client.id)) do
        local a = item.attempt
        local spec = a.model and a.model ~= vim.NIL and (a.agent .. ':' .. a.model)
        if spec and takes_model[a.agent] and not vim.tbl_contains(names, spec) then
          table.insert(names, spec)
        end
      end
    end
    return names
  end,
}

subcommands.plan = {
  -- :Fanout plan [goal...]   (no goal: asked with vim.ui.input)
  run = function(args)
    api().plan({ goal = #args > 0 and table.concat(args, ' ') or nil })
  end,
}

subcommands.tryall = {
  -- :Fanout tryall [N] [agent...]   (the current buffer's task list)
  run = function(args)
    local count
    if args[1] and args[1]:match('^%d+$') then
      count = tonumber(table.remove(args, 1))
    end
    api().tryall({ count = count, agents = args })
  end,
  complete = function(arglead)
    return subcommands.try.complete(arglead)
  end,
}

subcommands.integrate = {
  -- :Fanout integrate [ITEM=ATTEMPT...] [rebuild]
  run = function(args)
    local picks, rebuild = {}, false
    for _, word in ipairs(args) do
      local item, attempt = word:match('^(.-)=(.+)$')
      if word == 'rebuild' then
        rebuild = true
      elseif item and item ~= '' then
        table.insert(picks, { item = item, attempt = attempt })
      else
        vim.notify(
          ('fanout: integrate takes ITEM=ATTEMPT picks and `rebuild`, not %q'):format(word),
          vim.log.levels.ERROR
        )
        return
      end
    end
    api().integrate({ picks = picks, rebuild = rebuild })
  end,
  complete = function()
    return { 'rebuild' }
  end,
}

--- Fanout ids for completion, from the cached state.
local function fanout_ids()
  local client = require('fanout.client').for_buf(0)
  local out = {}
  for _, item in ipairs(client and require('fanout.state').attempts(client.id) or {}) do
    if not vim.tbl_contains(out, item.fanout.id) then
      table.insert(out, item.fanout.id)
    end
  end
  return out
end

subcommands.compare = {
  -- :Fanout compare [fanout]
  run = function(args)
    api().compare(args[1])
  end,
  complete = fanout_ids,
}

subcommands.review = {
  -- :Fanout review [fanout] [agent]
  run = function(args)
    api().review(args[1], args[2])
  end,
  complete = fanout_ids,
}

subcommands.synthesize = {
  -- :Fanout synthesize [fanout] [agent]
  run = function(args)
    api().synthesize(args[1], args[2])
  end,
  complete = fanout_ids,
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
    candidates = sub and sub.complete and sub.complete(arglead) or {}
  end
  return vim.tbl_filter(function(c)
    return vim.startswith(c, arglead)
  end, candidates)
end

return M
