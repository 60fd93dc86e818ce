-- The `workspace/applyEdit` handler of fanout's client: Neovim's own, after one fix.
--
-- Neovim's vim.lsp.util.apply_text_edits turns an insertion at the very end of a document
-- whose text ends in "\n" into an extra empty last line (it inserts the split text {..., ''}
-- as whole lines). The server's edits are right by the LSP spec, but accepting an attempt
-- that appends to a file, or adds a new file, would leave a stray blank line at the end. So
-- those insertions lose their final "\n" before Neovim applies them: the buffer's own
-- end-of-line ('eol') supplies it.
--
-- Also, Neovim 0.11 creates nothing for a CreateFile with `ignoreIfExists` (it reads the flag
-- as "never create"), so a new file in a new directory could not be saved. When the file does
-- not exist the flag changes nothing by the spec, so it is dropped and Neovim creates the
-- file and its directory.
local M = {}

local function file_size(uri)
  local stat = vim.uv.fs_stat(vim.uri_to_fname(uri))
  return stat and stat.size or nil
end

--- Lines of the document as the server sees it (0 for an empty or new file).
local function document_lines(uri, created)
  if created[uri] then
    return 0
  end
  local bufnr = vim.uri_to_bufnr(uri)
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    vim.fn.bufload(bufnr) -- Neovim's handler would load it too
  end
  local count = vim.api.nvim_buf_line_count(bufnr)
  if count == 1 and vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1] == '' then
    -- One empty line is how Neovim shows an empty file, and also a file holding "\n".
    if not vim.bo[bufnr].modified and (file_size(uri) or 0) == 0 then
      return 0
    end
  end
  return count
end

local function fix(edits, lines)
  for _, edit in ipairs(edits or {}) do
    local text = edit.newText
    if edit.range.start.line >= lines and type(text) == 'string' and text:sub(-1) == '\n' then
      edit.newText = text:sub(1, -2)
    end
  end
end

--- Rewrites end-of-document insertions in place (see the comment at the top).
---@param edit lsp.WorkspaceEdit
function M.normalize(edit)
  local created = {}
  for _, change in ipairs(edit.documentChanges or {}) do
    -- A create of an existing file (ignoreIfExists) leaves its text as it is.
    if change.kind == 'create' and (not file_size(change.uri) or (change.options or {}).overwrite) then
      created[change.uri] = true
      if change.options and not file_size(change.uri) then
        change.options.ignoreIfExists = nil
      end
    end
  end
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.textDocument and change.edits then
      fix(change.edits, document_lines(change.textDocument.uri, created))
    end
  end
  for uri, edits in pairs(edit.changes or {}) do
    fix(edits, document_lines(uri, created))
  end
end

function M.handler(err, params, ctx, config)
  if params and params.edit then
    local ok, problem = pcall(M.normalize, params.edit)
    if not ok then
      -- Apply it as Neovim would rather than not at all.
      vim.notify('fanout: could not prepare the edit: ' .. tostring(problem), vim.log.levels.DEBUG)
    end
  end
  return vim.lsp.handlers['workspace/applyEdit'](err, params, ctx, config)
end

return M
