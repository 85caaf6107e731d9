-- Headless Neovim 0.12 shows and accepts llamafile-ls's inline completion: its own
-- vim.lsp.inline_completion client, enabled, in insert mode; the accepted text is written.
local test = vim.json.decode(os.getenv("LLAMAFILE_NVIM_INLINE"))

local function fail(message)
  io.stderr:write(message .. "\n")
  vim.cmd("cquit 1")
end

-- With test.setup: through editors/neovim/llamafile.lua's setup(test.options) instead, the
-- ghost text accepted with its accept_key (feedkeys, as typed), or, with inline_completion =
-- false, none asked for (the file is written unchanged after a while in insert mode).

local client_id
if test.setup then
  dofile(test.setup).setup(vim.tbl_extend("force", { cmd = test.cmd, config_path = test.config }, test.options))
  vim.cmd.edit(test.file) -- its filetype starts the client
  vim.wait(test.timeout_ms, function()
    local client = vim.lsp.get_clients({ bufnr = 0, name = "llamafile" })[1]
    client_id = client and client.initialized and client.id
    return client_id ~= nil
  end, 20)
else
  vim.cmd.edit(test.file)
  client_id = vim.lsp.start({
    name = "llamafile",
    cmd = test.cmd,
    root_dir = vim.fn.getcwd(),
    init_options = { configPath = test.config },
  })
end
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
if not test.setup then
  vim.lsp.inline_completion.enable(true)
end
vim.api.nvim_win_set_cursor(0, { test.line, test.col })
vim.api.nvim_feedkeys("a", "n", false) -- insert mode: InsertEnter asks for ghost text

local namespace = vim.api.nvim_create_namespace("nvim.lsp.inline_completion")
local function shown()
  return #vim.api.nvim_buf_get_extmarks(0, namespace, 0, -1, {}) > 0
end

local function finish()
  vim.cmd("stopinsert")
  vim.cmd("write")
  vim.cmd("qall!")
end

local deadline = vim.uv.now() + (test.expect_none and test.quiet_ms or test.timeout_ms)
local function poll()
  if test.expect_none then
    if shown() then
      return fail("ghost text was shown with inline_completion = false")
    end
    if vim.uv.now() > deadline then
      return finish()
    end
    return vim.defer_fn(poll, 50)
  end
  if vim.uv.now() > deadline then
    return fail("no inline completion was shown in time (mode " .. vim.api.nvim_get_mode().mode .. ")")
  end
  if vim.api.nvim_get_mode().mode == "i" and test.accept_key and shown() then
    vim.api.nvim_feedkeys(vim.keycode(test.accept_key), "m", false) -- mapped: the setup's accept_key
    return vim.defer_fn(function() -- get() applies it on the next tick
      if shown() then
        return fail("the ghost text is still shown after " .. test.accept_key)
      end
      finish()
    end, 200)
  end
  if vim.api.nvim_get_mode().mode == "i" and not test.accept_key and vim.lsp.inline_completion.get() then
    vim.defer_fn(finish, 100) -- get() applies it on the next tick
    return
  end
  vim.defer_fn(poll, 50)
end
vim.defer_fn(poll, 50)
