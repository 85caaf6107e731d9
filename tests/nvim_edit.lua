-- Run by tests/test_neovim.py in headless Neovim: the user set-up in editors/neovim/llamafile.lua
-- edits real files through llamafile-ls. Exits 0 when every step worked, else 1 with the reason
-- on stderr. Its parameters come as JSON in $LLAMAFILE_NVIM_TEST:
--   setup: path of llamafile.lua; cmd: the server command; config: config.json; timeout_ms
--   init_model: the model given to setup(); model: the model then picked with :LlamafileModel
--   command = { file, ex, append?, insert_while_streaming? }: open file, run ex (e.g.
--     "2,3LlamafileEdit shout"), write the file; append = { line, text }: text typed at the end
--     of line (1-based) before ex; insert_while_streaming = { line, text }: a line put before
--     line as the model's first tokens come
--   cancel = { file, ex }: open file, run ex, :LlamafileCancel once the model streams, check that
--     the edit was cancelled and the buffer is as it was
--   code_action = { file, first, last, instruction }: the code action on lines first..last
--     (1-based), with vim.ui.input answering instruction, then write the file

local test = vim.json.decode(vim.env.LLAMAFILE_NVIM_TEST)
local timeout = test.timeout_ms or 20000

local progress = {} -- the kinds and messages of the server's $/progress, in order
local done = nil -- the data of the last User LlamafileEditDone

local function check(condition, message)
  if not condition then
    error(message, 2)
  end
end

local function wait(what, condition)
  check(vim.wait(timeout, condition, 20), ('timed out after %d ms waiting for %s'):format(timeout, what))
end

local function type_at_end(bufnr, append)
  local line = vim.api.nvim_buf_get_lines(bufnr, append.line - 1, append.line, true)[1]
  vim.api.nvim_buf_set_text(bufnr, append.line - 1, #line, append.line - 1, #line, { append.text })
end

local function open(file)
  vim.cmd.edit(vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  local client
  wait('llamafile-ls to attach to ' .. file, function()
    client = vim.lsp.get_clients({ bufnr = bufnr, name = 'llamafile' })[1]
    return client ~= nil and client.initialized
  end)
  return bufnr, client
end

local function wait_for_edit(what)
  wait(what .. ' to finish', function()
    return done ~= nil
  end)
  local data = done
  done = nil
  check(data.err == nil, what .. ': ' .. vim.inspect(data.err))
  check(type(data.result) == 'table' and data.result.applied == true, what .. ': ' .. vim.inspect(data.result))
  -- The progress names the model, and its end says how the edit ended.
  wait('the end of the progress', function()
    return #progress > 0 and progress[#progress].kind == 'end'
  end)
  check(progress[1].kind == 'begin' and progress[#progress].message == 'applied', vim.inspect(progress))
  local model = test.model or test.init_model
  check(not model or progress[1].title == 'llamafile: ' .. model, 'progress: ' .. vim.inspect(progress))
  progress = {}
end

local function active_model(client, bufnr)
  local params = { command = 'llamafile.listModels', arguments = { vim.empty_dict() } }
  local reply = client:request_sync('workspace/executeCommand', params, timeout, bufnr)
  check(reply and not reply.err, 'llamafile.listModels: ' .. vim.inspect(reply))
  for _, model in ipairs(reply.result) do
    if model.active then
      return model.title
    end
  end
end

local function main()
  dofile(test.setup).setup({ cmd = test.cmd, config_path = test.config, model = test.init_model })
  vim.api.nvim_create_autocmd('User', {
    pattern = 'LlamafileEditDone',
    callback = function(args)
      done = args.data
    end,
  })
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(args)
      local value = args.data.params.value
      table.insert(progress, { kind = value.kind, title = value.title, message = value.message })
    end,
  })

  if test.command then
    local bufnr, client = open(test.command.file)
    if test.init_model then
      check(active_model(client, bufnr) == test.init_model, 'setup({ model }) was not used')
    end
    if test.model then
      vim.cmd('LlamafileModel ' .. test.model)
      wait(':LlamafileModel ' .. test.model, function()
        return active_model(client, bufnr) == test.model
      end)
    end
    if test.command.append then -- the server learns of it by an incremental didChange
      type_at_end(bufnr, test.command.append)
    end
    local typing = test.command.insert_while_streaming
    if typing then -- a line typed as the model's first tokens come: the edit is for an older text
      vim.api.nvim_create_autocmd('LspProgress', {
        pattern = 'report',
        once = true,
        callback = function()
          vim.api.nvim_buf_set_lines(bufnr, typing.line - 1, typing.line - 1, true, { typing.text })
        end,
      })
    end
    vim.cmd(test.command.ex)
    wait_for_edit(':' .. test.command.ex)
    vim.cmd.write()
  end

  if test.cancel then
    local bufnr = open(test.cancel.file)
    local before = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
    vim.cmd(test.cancel.ex)
    wait('the model to stream', function()
      return #progress > 0 and progress[#progress].kind == 'report'
    end)
    vim.cmd('LlamafileCancel')
    wait('the cancelled edit to end', function()
      return done ~= nil
    end)
    local cancelled = vim.lsp.protocol.ErrorCodes.RequestCancelled
    check(done.err and done.err.code == cancelled, 'the edit was not cancelled: ' .. vim.inspect(done))
    -- The server's word that it stopped: the end of its progress.
    wait('the server to end the progress', function()
      return progress[#progress].kind == 'end'
    end)
    check(progress[#progress].message == 'cancelled', 'progress: ' .. vim.inspect(progress))
    check(vim.deep_equal(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), before), 'the cancelled edit changed the text')
    check(not vim.bo[bufnr].modified, 'the cancelled edit modified the buffer')
  end

  if test.code_action then
    local action = test.code_action
    local bufnr, client = open(action.file)
    -- The server offers the action for a selection, as any LSP client would ask for it.
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) },
      range = { start = { line = action.first - 1, character = 0 }, ['end'] = { line = action.last, character = 0 } },
      context = { diagnostics = {} },
    }
    local replies = vim.lsp.buf_request_sync(bufnr, 'textDocument/codeAction', params, timeout)
    local offered = replies and replies[client.id] and replies[client.id].result or {}
    local titles = vim.tbl_map(function(a)
      return a.title
    end, offered)
    check(vim.list_contains(titles, 'Llamafile: Edit selection…'), 'code actions offered: ' .. vim.inspect(offered))
    -- The user's path: vim.lsp.buf.code_action() on the lines, the instruction typed at the prompt.
    local asked = nil
    vim.ui.input = function(opts, on_confirm)
      asked = opts.prompt
      on_confirm(action.instruction)
    end
    vim.lsp.buf.code_action({
      range = { start = { action.first, 0 }, ['end'] = { action.last, 0 } },
      filter = function(a)
        return a.title == 'Llamafile: Edit selection…'
      end,
      apply = true,
    })
    wait_for_edit('the code action')
    check(asked ~= nil, 'vim.ui.input was not asked for the instruction')
    vim.cmd.write()
  end
end

local ok, err = xpcall(main, debug.traceback)
if ok then
  vim.cmd('qall!')
else
  io.stderr:write('nvim_edit.lua: ' .. tostring(err) .. '\n')
  vim.cmd('cquit 1')
end
