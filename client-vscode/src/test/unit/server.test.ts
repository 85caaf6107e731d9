/**
 * The server command the extension builds, run for real: the bundled server on this
 * machine's Pythons, spoken to over stdio as vscode-languageclient would.
 */

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { createProtocolConnection, StreamMessageReader, StreamMessageWriter } from "vscode-languageserver-protocol/node";
import { type CommandResult, type EditArguments, type ModelInfo, Notifications, ServerCommands, type Status } from "../../common/contract";
import { bundledLaunch, initializationOptions } from "../../common/launch";
import { candidates, findInterpreter, probeInterpreter } from "../../common/python";
import { requireBundle } from "./helpers";

function modelsConfig(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "llamafile-server-"));
  const file = path.join(dir, "config.json");
  const model = { provider: "llamafile", model: "SmolLM2-135M-Instruct", apiBase: "http://127.0.0.1:9" };
  writeFileSync(file, JSON.stringify({ models: [{ title: "first", ...model }, { title: "second", ...model }] }));
  return file;
}

async function session(python: string): Promise<void> {
  const launch = bundledLaunch(python, requireBundle(), process.env);
  const child = spawn(launch.command, launch.args, { cwd: launch.cwd, env: launch.env, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  let shuttingDown = false;
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  // A server that dies answers nothing: fail with its output instead of waiting forever.
  const died = new Promise<never>((_resolve, reject) => {
    child.on("exit", (code) => {
      if (!shuttingDown) {
        reject(new Error(`the server exited with ${code} before it was asked to`));
      }
    });
  });
  const connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const request = <T>(method: string, params?: unknown): Promise<T> =>
    Promise.race([params === undefined ? connection.sendRequest<T>(method) : connection.sendRequest<T>(method, params), died]);
  connection.onRequest("client/registerCapability", () => null);
  connection.onNotification("window/logMessage", () => undefined);
  const shown: string[] = [];
  connection.onNotification("window/showMessage", (params: { message: string }) => void shown.push(params.message));
  const statuses: Status[] = [];
  connection.onNotification(Notifications.status, (status: Status) => void statuses.push(status));
  connection.onNotification("$/progress", () => undefined);
  connection.listen();
  try {
    const result: { serverInfo?: { name: string }; capabilities: { executeCommandProvider?: { commands: string[] } } } =
      await request("initialize", {
        processId: process.pid,
        rootUri: null,
        capabilities: { workspace: { workspaceEdit: { documentChanges: true } }, window: { workDoneProgress: true } },
        initializationOptions: initializationOptions(modelsConfig(), "second"),
      });
    assert.equal(result.serverInfo?.name, "llamafile-ls");
    const commands = result.capabilities.executeCommandProvider?.commands ?? [];
    // The generated contract's command names are the server's.
    assert.deepEqual([...commands].sort(), Object.values(ServerCommands).sort());
    await connection.sendNotification("initialized", {});
    const models: ModelInfo[] = await request("workspace/executeCommand", {
      command: ServerCommands.listModels,
      arguments: [],
    });
    // initializationOptions.model picked the active one.
    assert.deepEqual(
      models.map((m) => [m.title, m.active]),
      [
        ["first", false],
        ["second", true],
      ],
    );
    assert.deepEqual(
      await request("workspace/executeCommand", { command: ServerCommands.selectModel, arguments: [{ title: "first" }] }),
      { title: "first" },
    );
    // An edit that fails (nothing listens on port 9): the reason is in the answer only
    // (showsResults), and the request's llamafile/status notifications end with its outcome.
    const uri = "untitled:contract.py";
    await connection.sendNotification("textDocument/didOpen", {
      textDocument: { uri, languageId: "python", version: 1, text: "def f(x):\n    return x\n" },
    });
    const argument: EditArguments = { uri, range: { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } }, instruction: "add types" };
    const answer: CommandResult = await request("workspace/executeCommand", {
      command: ServerCommands.edit,
      arguments: [argument],
      workDoneToken: "contract-test",
    });
    assert.equal(answer.applied, false);
    assert.match(answer.reason ?? "", /127\.0\.0\.1:9/);
    assert.deepEqual(shown, [], "the server showed the reason itself");
    const mine = statuses.filter((status) => status.request === "contract-test");
    assert.equal(mine[0]?.state, "waiting");
    assert.deepEqual(mine.at(-1), { request: "contract-test", state: "done", model: "first", outcome: "failed" });
    shuttingDown = true;
    await request("shutdown");
    await connection.sendNotification("exit");
    assert.equal(await exited, 0, stderr);
  } catch (error) {
    child.kill();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\nserver stderr:\n${stderr}`, { cause: error });
  } finally {
    connection.dispose();
  }
}

/** A Python 3.10: python3.10 on PATH, or one pyenv installed. */
function python310(): string | undefined {
  const pyenvRoot = process.env.PYENV_ROOT ?? path.join(homedir(), ".pyenv");
  const pyenv = existsSync(path.join(pyenvRoot, "versions"))
    ? readdirSync(path.join(pyenvRoot, "versions"))
        .filter((name) => name.startsWith("3.10"))
        .map((name) => path.join(pyenvRoot, "versions", name, "bin", "python3.10"))
    : [];
  for (const candidate of ["python3.10", ...pyenv]) {
    const run = spawnSync(candidate, ["-c", "import sys; print(sys.version_info[:2] == (3, 10)); print(sys.executable)"], {
      encoding: "utf8",
    });
    const [ok, executable] = run.stdout?.trim().split("\n") ?? [];
    if (run.status === 0 && ok === "True" && executable) {
      return executable;
    }
  }
  return undefined;
}

describe("the bundled server", () => {
  it("starts on the Python the extension finds, and answers as documented", { timeout: 60_000 }, async () => {
    const python = await findInterpreter(candidates(undefined, undefined), probeInterpreter);
    await session(python.executable);
  });

  // pip resolves markers for the Python that bundles: this proves the backports made it in.
  it("runs on Python 3.10, the oldest one supported", { timeout: 60_000 }, async (t) => {
    const python = python310();
    if (python === undefined) {
      t.skip("no Python 3.10 here (python3.10 on PATH, or pyenv's)");
      return;
    }
    await session(python);
  });
});
