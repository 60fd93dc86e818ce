-- Choosing attempts: vim.ui.select pickers (so telescope/fzf-lua/snacks users get their own
-- UI) and the ids offered by <Tab> completion. Both read the cached state.
local format = require('fanout.format')
local state = require('fanout.state')

local M = {}

--- Which attempts each action makes sense for.
M.filters = {
  any = function()
    return true
  end,
  -- As the server says: it has files to diff, or a change that can be accepted.
  diff = function(a)
    return a.can_diff == true
  end,
  accept = function(a)
    return a.can_accept == true
  end,
  cancel = function(a)
    return a.state == 'running' or a.state == 'queued'
  end,
}

---@param client_id integer
---@param filter fun(attempt: table): boolean
---@return { attempt: table, fanout: table }[]
function M.items(client_id, filter)
  return vim.tbl_filter(function(item)
    return filter(item.attempt)
  end, state.attempts(client_id))
end

--- Fanout ids with at least one attempt passing the filter, newest first.
---@return table[] fanouts
function M.fanouts(client_id, filter)
  local seen, fanouts = {}, {}
  for _, item in ipairs(M.items(client_id, filter)) do
    if not seen[item.fanout.id] then
      seen[item.fanout.id] = true
      table.insert(fanouts, item.fanout)
    end
  end
  return fanouts
end

--- Asks the user for one attempt.
---@param client_id integer
---@param opts { prompt: string, filter: fun(a: table): boolean }
---@param on_choice fun(attempt_id: string)
function M.attempt(client_id, opts, on_choice)
  local items = M.items(client_id, opts.filter)
  if #items == 0 then
    vim.notify('fanout: no attempts to ' .. opts.prompt:lower(), vim.log.levels.WARN)
    return
  end
  vim.ui.select(items, {
    prompt = 'fanout: ' .. opts.prompt,
    kind = 'fanout_attempt',
    format_item = function(item)
      return ('%s  %s  %s'):format(format.attempt(item.attempt), item.attempt.id, format.task(item.fanout))
    end,
  }, function(item)
    if item then
      on_choice(item.attempt.id)
    end
  end)
end

--- Asks the user for attempts or whole fanouts (discard, cancel): returns a target of the form
--- `{ attempt = id }`, `{ fanout = id }` or `{ all = true }`.
---@param opts { prompt: string, filter: fun(a: table): boolean, all: boolean|nil }
---@param on_choice fun(target: table)
function M.target(client_id, opts, on_choice)
  local choices = {}
  for _, fanout in ipairs(M.fanouts(client_id, opts.filter)) do
    table.insert(choices, { target = { fanout = fanout.id }, label = ('%s  all attempts of %s'):format(fanout.id, format.task(fanout)) })
  end
  for _, item in ipairs(M.items(client_id, opts.filter)) do
    table.insert(choices, {
      target = { attempt = item.attempt.id },
      label = ('%s  %s  %s'):format(item.attempt.id, format.attempt(item.attempt), format.task(item.fanout)),
    })
  end
  if #choices == 0 then
    vim.notify('fanout: nothing to ' .. opts.prompt:lower(), vim.log.levels.WARN)
    return
  end
  if opts.all and #choices > 1 then
    table.insert(choices, 1, { target = { all = true }, label = 'all  every fanout of this repository' })
  end
  vim.ui.select(choices, {
    prompt = 'fanout: ' .. opts.prompt,
    kind = 'fanout_target',
    format_item = function(choice)
      return choice.label
    end,
  }, function(choice)
    if choice then
      on_choice(choice.target)
    end
  end)
end

--- Completion candidates: attempt ids (and fanout ids / `all` where the action takes them).
---@param client_id integer|nil
---@param filter fun(a: table): boolean
---@param with_fanouts boolean
---@param with_all boolean
---@return string[]
function M.ids(client_id, filter, with_fanouts, with_all)
  local ids = {}
  if not client_id then
    return ids
  end
  if with_all then
    table.insert(ids, 'all')
  end
  if with_fanouts then
    for _, fanout in ipairs(M.fanouts(client_id, filter)) do
      table.insert(ids, fanout.id)
    end
  end
  for _, item in ipairs(M.items(client_id, filter)) do
    table.insert(ids, item.attempt.id)
  end
  return ids
end

return M
