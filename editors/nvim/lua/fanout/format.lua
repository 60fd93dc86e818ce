-- How attempts read to a person, shared by pickers, the status window and messages. The
-- server names each attempt (`title`, the same text as its lens: `★ #2 codex ✓ +12 −3`) and
-- labels each task; these only put the pieces side by side.
local M = {}

--- The server's title of the attempt (escaped by the server).
---@param attempt table an attempt object of `fanout status --json`
---@return string
function M.attempt(attempt)
  return attempt.title or ('#%s %s'):format(attempt.n or '?', attempt.agent or '?')
end

--- `TODO: handle empty input (src/lib.rs:12)`
---@param fanout table a fanout object of `fanout status --json`
function M.task(fanout)
  local task = fanout.task or {}
  local text = task.label or task.text or ''
  if task.file then
    text = ('%s (%s:%s)'):format(text, task.file, task.line or '?')
  end
  return text
end

return M
