-- Headless Neovim 0.12 shows and accepts llamafile-ls's inline completion: its own
-- vim.lsp.inline_completion client, enabled, in insert mode; the accepted text is written.
local test = vim.json.decode(os.getenv("LLAMAFILE_NVIM_INLINE"))

local function fail(message)
  io.stderr:write(message .. "\n")
  vim.cmd("cquit 1")
end

vim.cmd.edit(test.file)
local client_id = vim.lsp.start({
  name = "llamafile",
  cmd = test.cmd,
  root_dir = vim.fn.getcwd(),
  init_options = { configPath = test.config },
})
if not client_id then
  fail("the server did not start")
end
local ready = vim.wait(test.timeout_ms, function()
  local client = vim.lsp.get_client_by_id(client_id)
  return client ~= nil and client.initialized == true
end, 20)
if not ready then
  fail("the server did not initialize")
end
vim.lsp.inline_completion.enable(true)
vim.api.nvim_win_set_cursor(0, { test.line, test.col })
vim.api.nvim_feedkeys("a", "n", false) -- insert mode: InsertEnter asks for ghost text

local deadline = vim.uv.now() + test.timeout_ms
local function poll()
  if vim.uv.now() > deadline then
    return fail("no inline completion was shown in time (mode " .. vim.api.nvim_get_mode().mode .. ")")
  end
  if vim.api.nvim_get_mode().mode == "i" and vim.lsp.inline_completion.get() then
    vim.defer_fn(function() -- get() applies it on the next tick
      vim.cmd("stopinsert")
      vim.cmd("write")
      vim.cmd("qall!")
    end, 100)
    return
  end
  vim.defer_fn(poll, 50)
end
vim.defer_fn(poll, 50)
