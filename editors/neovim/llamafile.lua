-- llamafile-ls in Neovim 0.11+: AI edits of the selected lines by a local model.
--
-- Install the server (`pip install .` in the llamafile-ls repository; `llamafile-ls` must be on
-- $PATH), copy this file to ~/.config/nvim/lua/llamafile.lua and add to init.lua:
--
--   require('llamafile').setup({
--     config_path = '~/.continue/config.json', -- optional: Continue's config.json with your models
--     model = nil,                             -- optional: a model title from it (default: the first)
--     inline_completion = true,                -- optional: false turns ghost text off (Neovim 0.12+)
--     accept_key = '<Tab>',                    -- optional: accepts the ghost text in insert mode
--   })
--
-- It gives every buffer that has a filetype a `llamafile` LSP client, and:
--   :'<,'>LlamafileEdit make it async   rewrite the selected lines (no range: the current line;
--                                       no instruction: you are asked for one)
--   :LlamafileModel [title]             pick the model edits go to (no title: choose from a list)
--   :LlamafileCancel                    stop the edits under way
--   vim.lsp.buf.code_action()           on a selection offers "Llamafile: Edit selection…" (it
--                                       asks for the instruction with vim.ui.input)
--   ghost text (Neovim 0.12+)            in insert mode, from the config's autocomplete model
--                                       (tabAutocompleteModel, or roles: [autocomplete]); accept
--                                       it with accept_key, or vim.lsp.inline_completion.get()
-- The model's progress is echoed as it streams (see also vim.lsp.status()); when an edit ends,
-- the `User LlamafileEditDone` autocmd fires with data = { bufnr, result, err }.

local M = {}

local NAME = 'llamafile'
local running = {} -- request id -> { client, bufnr } of each edit under way, for :LlamafileCancel

local function notify(message, level)
  vim.notify('llamafile: ' .. message, level or vim.log.levels.INFO)
end

--- The llamafile client attached to a buffer, or nil (with a message).
local function client_for(bufnr)
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = NAME })[1]
  if not client then
    notify('llamafile-ls is not attached to this buffer (see :checkhealth vim.lsp)', vim.log.levels.ERROR)
  end
  return client
end

--- An edit is over: tell autocmds (User LlamafileEditDone, data = { bufnr, result, err }).
local function finish(id, err, result)
  local pending = running[id]
  running[id] = nil
  if pending then
    local data = { bufnr = pending.bufnr, result = result, err = err }
    vim.api.nvim_exec_autocmds('User', { pattern = 'LlamafileEditDone', modeline = false, data = data })
  end
end

--- Runs `llamafile.edit` on the server, which applies the edit itself (workspace/applyEdit).
--- `argument` is { uri, range, instruction?, model? }; without an instruction the user is asked.
local function edit(client, bufnr, argument)
  if not argument.instruction or vim.trim(argument.instruction) == '' then
    vim.ui.input({ prompt = 'Llamafile: ' }, function(instruction)
      if instruction and vim.trim(instruction) ~= '' then
        edit(client, bufnr, vim.tbl_extend('force', argument, { instruction = instruction }))
      end
    end)
    return
  end
  local params = { command = 'llamafile.edit', arguments = { argument } }
  local sent, id
  sent, id = client:request('workspace/executeCommand', params, function(err, result)
    -- A failed edit ({ applied = false, reason = ... }) was already told: by the server's
    -- window/showMessage, or as the end of its progress ("unchanged").
    if err then
      notify(err.message, vim.log.levels.ERROR)
    end
    finish(id, err, result)
  end, bufnr)
  if sent then
    running[id] = { client = client, bufnr = bufnr }
  end
end

--- Asks the server to run `command` with `argument`; calls on_result(result) unless it failed.
local function execute(client, bufnr, command, argument, on_result)
  client:request('workspace/executeCommand', { command = command, arguments = { argument } }, function(err, result)
    if err then
      notify(err.message, vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end, bufnr)
end

local function select_model(client, bufnr, title)
  execute(client, bufnr, 'llamafile.selectModel', { title = title }, function()
    notify('edits go to ' .. title)
  end)
end

--- Neovim skips a versioned edit made for an older text of the buffer but answers "applied".
--- Answer "not applied" instead: the server then moves the edit onto the new text and resends it.
local function apply_edit(err, params, ctx)
  for _, change in ipairs(params.edit.documentChanges or {}) do
    local document = change.textDocument
    local version = document and document.version
    if type(version) == 'number' and vim.lsp.util.buf_versions[vim.uri_to_bufnr(document.uri)] > version then
      return { applied = false, failureReason = 'the buffer changed meanwhile' }
    end
  end
  return vim.lsp.handlers['workspace/applyEdit'](err, params, ctx)
end

--- Ghost text (Neovim 0.12's vim.lsp.inline_completion) from the llamafile client, and
--- accept_key (if any) to accept it in insert mode; where there is no ghost text, the key
--- does what it does without the mapping.
local function inline_completion(accept_key)
  vim.api.nvim_create_autocmd('LspAttach', {
    group = vim.api.nvim_create_augroup('llamafile.inline_completion', {}),
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == NAME and client:supports_method('textDocument/inlineCompletion') then
        vim.lsp.inline_completion.enable(true, { client_id = client.id })
      end
    end,
  })
  if accept_key then
    vim.keymap.set('i', accept_key, function()
      if not vim.lsp.inline_completion.get() then
        return accept_key
      end
    end, { expr = true, desc = 'llamafile: accept the inline completion' })
  end
end

--- opts: { cmd?: string[], config_path?: string, model?: string, filetypes?: string[],
---         inline_completion?: boolean (default true), accept_key?: string }
function M.setup(opts)
  opts = opts or {}
  local init_options = vim.empty_dict()
  if opts.config_path then
    init_options.configPath = vim.fn.expand(opts.config_path)
  end
  if opts.model then
    init_options.model = opts.model
  end

  vim.lsp.config(NAME, {
    cmd = opts.cmd or { 'llamafile-ls' },
    filetypes = opts.filetypes, -- nil: every filetype
    init_options = init_options,
    -- Typing while the model answers must not put its edit on the wrong lines: ask for edits
    -- tied to a buffer version, refuse stale ones (above), and send each change at once, so that
    -- the server knows the text it moves a refused edit onto. (Neovim uses the smallest debounce
    -- among clients with the same sync kind and position encoding.)
    capabilities = { workspace = { workspaceEdit = { documentChanges = true } } },
    handlers = { ['workspace/applyEdit'] = apply_edit },
    flags = { debounce_text_changes = 0 },
    -- The server's code action carries uri and range but no instruction: ask for it here.
    commands = {
      ['llamafile.edit'] = function(command, ctx)
        local client = assert(vim.lsp.get_client_by_id(ctx.client_id))
        edit(client, ctx.bufnr, vim.deepcopy(command.arguments[1]))
      end,
    },
  })
  vim.lsp.enable(NAME)
  if opts.inline_completion ~= false and vim.lsp.inline_completion then
    inline_completion(opts.accept_key)
  end

  vim.api.nvim_create_user_command('LlamafileEdit', function(cmd)
    local bufnr = vim.api.nvim_get_current_buf()
    local client = client_for(bufnr)
    if not client then
      return
    end
    -- Whole lines line1..line2: the range ends at the start of the line after them.
    edit(client, bufnr, {
      uri = vim.uri_from_bufnr(bufnr),
      range = { start = { line = cmd.line1 - 1, character = 0 }, ['end'] = { line = cmd.line2, character = 0 } },
      instruction = cmd.args,
    })
  end, { range = true, nargs = '*', desc = 'llamafile: rewrite the lines with the local model' })

  vim.api.nvim_create_user_command('LlamafileModel', function(cmd)
    local bufnr = vim.api.nvim_get_current_buf()
    local client = client_for(bufnr)
    if not client then
      return
    end
    if cmd.args ~= '' then
      return select_model(client, bufnr, cmd.args)
    end
    execute(client, bufnr, 'llamafile.listModels', vim.empty_dict(), function(models)
      vim.ui.select(models, {
        prompt = 'Llamafile model',
        format_item = function(m)
          return m.title .. (m.active and ' (active)' or '')
        end,
      }, function(choice)
        if choice then
          select_model(client, bufnr, choice.title)
        end
      end)
    end)
  end, { nargs = '?', desc = 'llamafile: pick the model for edits' })

  vim.api.nvim_create_user_command('LlamafileCancel', function()
    for id, pending in pairs(running) do
      pending.client:cancel_request(id) -- the server stops the model and changes nothing
      -- Neovim drops the server's "cancelled" reply, so the edit ends here.
      finish(id, { code = vim.lsp.protocol.ErrorCodes.RequestCancelled, message = 'cancelled' })
    end
  end, { desc = 'llamafile: stop the edits under way' })

  -- The server reports each edit's progress (title, "editing lines 2-3", "12 tokens", "applied").
  vim.api.nvim_create_autocmd('LspProgress', {
    group = vim.api.nvim_create_augroup('llamafile.progress', {}),
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      local value = args.data.params.value
      if client and client.name == NAME and type(value) == 'table' then
        local message = ('%s: %s'):format(value.title or NAME, value.message or value.kind)
        vim.api.nvim_echo({ { message } }, false, {})
      end
    end,
  })
end

return M
