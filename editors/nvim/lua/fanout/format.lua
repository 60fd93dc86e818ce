-- How attempts read to a person, shared by pickers, the status window and messages so
-- they all match the server's lens titles (`#2 codex ✓ +12 −3`).
local M = {}

M.icons = {
  queued = '…',
  running = '⟳',
  succeeded = '✓',
  failed = '✗',
  cancelled = '⊘',
  interrupted = '!',
  empty = '∅',
}

---@param secs number|nil
---@return string
function M.duration(secs)
  if not secs or secs < 0 then
    return ''
  end
  secs = math.floor(secs)
  if secs < 60 then
    return secs .. 's'
  end
  if secs < 3600 then
    return ('%dm%02ds'):format(math.floor(secs / 60), secs % 60)
  end
  return ('%dh%02dm'):format(math.floor(secs / 3600), math.floor(secs % 3600 / 60))
end

--- Seconds the attempt has run: its recorded elapsed time, or the time since it started
--- for one still running (the server only records elapsed_secs at the end).
function M.elapsed(attempt)
  if attempt.state == 'running' and attempt.started_at then
    return os.time() - attempt.started_at
  end
  return attempt.elapsed_secs
end

--- `#2 fake ✓ succeeded +1 −1`, with `★ ` in front of the fanout's best attempt (as the
--- server's lenses have it).
---@param attempt table an attempt object of `fanout status --json`
---@param fanout table|nil its fanout, to mark the best attempt
---@return string
function M.attempt(attempt, fanout)
  local parts = {
    ('#%s'):format(attempt.n or '?'),
    attempt.agent or '?',
    M.icons[attempt.state] or '?',
    attempt.state or 'unknown',
  }
  local stat = attempt.diffstat
  if type(stat) == 'table' then
    table.insert(parts, ('+%d −%d'):format(stat.additions or 0, stat.deletions or 0))
  elseif attempt.state == 'failed' and attempt.exit_code then
    table.insert(parts, 'exit ' .. attempt.exit_code)
  end
  local elapsed = M.duration(M.elapsed(attempt))
  if elapsed ~= '' then
    table.insert(parts, elapsed)
  end
  if type(attempt.error) == 'string' and attempt.error ~= '' then
    table.insert(parts, '(' .. attempt.error .. ')')
  end
  if type(attempt.accepted_at) == 'number' then
    table.insert(parts, 'accepted ' .. os.date('%H:%M', attempt.accepted_at))
  end
  local text = table.concat(parts, ' ')
  if fanout and fanout.best and fanout.best == attempt.id then
    text = '★ ' .. text
  end
  return text
end

--- `TODO: handle empty input (src/lib.rs:12)`
---@param fanout table a fanout object of `fanout status --json`
function M.task(fanout)
  local task = fanout.task or {}
  local text = task.text or ''
  if task.marker and task.marker ~= '' then
    text = task.marker .. ': ' .. text
  end
  if task.file then
    text = ('%s (%s:%s)'):format(text, task.file, task.line or '?')
  end
  return text
end

return M
