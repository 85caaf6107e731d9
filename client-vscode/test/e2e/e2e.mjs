// End-to-end test of the Llamafile extension in a real VS Code (code-server) driven by
// Chromium through Playwright, against a real llama-server with SmolLM2.
//
// scripts/e2e.sh sets everything up and runs this with:
//   CODE_SERVER   the code-server launcher (needs NODE24_BIN first on PATH)
//   NODE24_BIN    the directory of Node 24's `node`
//   VSIX          the built extension
//   LLAMA_URL     the running llama-server, e.g. http://127.0.0.1:18091
//   SAMPLE        the sample file to edit (examples/sample.py)
//   ARTIFACTS     where screenshots and logs go
//   CHROMIUM      (optional) the browser, default /usr/bin/chromium
//
// SmolLM2-135M proves the plumbing, not the quality of its code: the checks look at where
// the edit landed, never at what the model wrote.

import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`e2e: ${name} is not set (run scripts/e2e.sh)`);
    process.exit(2);
  }
  return value;
};
const CODE_SERVER = need("CODE_SERVER");
const NODE24_BIN = need("NODE24_BIN");
const VSIX = need("VSIX");
const LLAMA_URL = need("LLAMA_URL");
const SAMPLE = need("SAMPLE");
const ARTIFACTS = need("ARTIFACTS");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const KEEP = process.env.E2E_KEEP === "1";

const STATUS_ITEM = '[id="llamafile-ls.llamafile-ls.llamafile.status"]';
const FAST_MODEL = "SmolLM2";
const ENDLESS_MODEL = "SmolLM2 endless";
const OFFLINE_MODEL = "Offline";
const AUTOCOMPLETE_MODEL = "SmolLM2 autocomplete";

mkdirSync(ARTIFACTS, { recursive: true });
const root = mkdtempSync(join(tmpdir(), "llamafile-e2e-"));
const workspace = join(root, "workspace");
const userData = join(root, "user-data");
const extensions = join(root, "extensions");
const configFile = join(root, "models", "config.json");
const samplePath = join(workspace, "sample.py");
const calcPath = join(workspace, "calc.py"); // the inline completion check's
const CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n";
const testStart = Date.now();
const timings = {};

mkdirSync(ARTIFACTS, { recursive: true });
const logFile = createWriteStream(join(ARTIFACTS, "e2e.log"));

function log(message) {
  const line = `e2e [${((Date.now() - testStart) / 1000).toFixed(1).padStart(5)} s] ${message}`;
  console.log(line);
  logFile.write(`${line}\n`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitFor(what, check, timeoutMs, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) {
        return last;
      }
    } catch (error) {
      last = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last instanceof Error ? ` (${last.message})` : ""}`);
}

// --- the setup: a workspace, the models' config, VS Code's settings, the extension --------

function setUp() {
  mkdirSync(workspace, { recursive: true });
  mkdirSync(join(userData, "User"), { recursive: true });
  mkdirSync(join(root, "models"), { recursive: true });
  copyFileSync(SAMPLE, samplePath);
  writeFileSync(calcPath, CALC);
  const model = {
    provider: "llamafile",
    model: "SmolLM2-135M-Instruct",
    apiBase: LLAMA_URL,
    contextLength: 4096,
  };
  const config = {
    models: [
      { title: FAST_MODEL, ...model, completionOptions: { temperature: 0, maxTokens: 200 } },
      {
        // An answer that would run for 3000 tokens (half a minute here): no end of sequence,
        // no stop string (a custom template has none), so only the cancel can stop it.
        title: ENDLESS_MODEL,
        ...model,
        llamaCppArgs: { ignore_eos: true },
        completionOptions: { temperature: 0, maxTokens: 3000 },
        promptTemplates: {
          edit: "<|im_start|>user\nCount from one to one thousand in words, one number a line.<|im_end|>\n<|im_start|>assistant\n# {{{user_input}}}\n",
        },
      },
      // Nothing listens on port 9: the server's error, shown with actions.
      { title: OFFLINE_MODEL, provider: "llamafile", model: "SmolLM2-135M-Instruct", apiBase: "http://127.0.0.1:9" },
    ],
    // Inline completion's model. SmolLM2 has no FIM tokens (/infill answers 501): the server
    // sends it a raw FIM prompt; any suggestion will do.
    tabAutocompleteModel: { title: AUTOCOMPLETE_MODEL, ...model, completionOptions: { temperature: 0 } },
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  writeSettings({});
  const install = spawnSync(
    CODE_SERVER,
    ["--user-data-dir", userData, "--extensions-dir", extensions, "--install-extension", VSIX],
    { env: codeServerEnv(), encoding: "utf8" },
  );
  if (install.status !== 0 || !/successfully installed/.test(install.stdout)) {
    throw new Error(`code-server --install-extension failed:\n${install.stdout}\n${install.stderr}`);
  }
  log(`installed ${VSIX}`);
}

function writeSettings(extra) {
  const settings = {
    "chat.disableAIFeatures": true,
    "workbench.startupEditor": "none",
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "editor.minimap.enabled": false,
    "files.autoSave": "off",
    "llamafile.configPath": configFile,
    // Logged only at the Llamafile output's log level Trace (vscode-languageclient 10+).
    "llamafile.trace.server": process.env.E2E_TRACE || "messages",
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    // Off until the inline completion check: ghost-text requests would share the one
    // llama-server slot with the edits the other checks time and cancel.
    "llamafile.inlineCompletion.enable": false,
    ...extra,
  };
  writeFileSync(join(userData, "User", "settings.json"), JSON.stringify(settings, null, 2));
}

function codeServerEnv() {
  return {
    ...process.env,
    PATH: `${NODE24_BIN}:${process.env.PATH}`,
    XDG_CONFIG_HOME: join(root, "xdg-config"),
    XDG_DATA_HOME: join(root, "xdg-data"),
  };
}

let codeServer;

async function startCodeServer({ trust = false, logName = "code-server.log" } = {}) {
  const port = await freePort();
  const out = createWriteStream(join(ARTIFACTS, logName));
  const child = spawn(
    CODE_SERVER,
    [
      "--auth", "none",
      "--bind-addr", `127.0.0.1:${port}`,
      "--disable-telemetry",
      "--disable-update-check",
      ...(trust ? [] : ["--disable-workspace-trust"]),
      "--user-data-dir", userData,
      "--extensions-dir", extensions,
    ],
    { env: codeServerEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  codeServer = child;
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const url = `http://127.0.0.1:${port}`;
  await waitFor("code-server's /healthz", async () => (await fetch(`${url}/healthz`)).ok, 60_000, 200);
  log(`code-server is up at ${url}`);
  return url;
}

async function stopCodeServer() {
  const child = codeServer;
  codeServer = undefined;
  if (child === undefined) {
    return;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return; // gone already
  }
  await Promise.race([exited, sleep(10_000)]);
}

// --- the workbench ----------------------------------------------------------------------

let page;
let shot = 0;

async function screenshot(name) {
  shot += 1;
  const file = join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file });
  log(`screenshot ${file}`);
}

async function statusText() {
  return (await page.locator(STATUS_ITEM).innerText()).trim();
}

/** The text of the active editor, line by line (Monaco renders only what is visible: the sample fits). */
async function editorText() {
  return page.evaluate(() => {
    const editor = document.querySelector(".part.editor .editor-group-container.active .monaco-editor .view-lines");
    if (!editor) {
      return null;
    }
    const lines = [...editor.querySelectorAll(".view-line")].map((line) => ({
      top: Number.parseFloat(line.style.top),
      // Spaces render as no-break spaces, and in a selection (renderWhitespace) as dots.
      text: line.textContent.replace(/[\u00a0\u00b7\u2e31]/g, " "),
    }));
    lines.sort((a, b) => a.top - b.top);
    return lines.map((line) => line.text).join("\n");
  });
}

async function activeTabDirty() {
  return page.locator(".tabs-container .tab.active.dirty").count().then((count) => count > 0);
}

async function quickInput() {
  const widget = page.locator(".quick-input-widget");
  await widget.waitFor({ state: "visible", timeout: 10_000 });
  return widget;
}

async function runPaletteCommand(title) {
  await page.keyboard.press("F1");
  const widget = await quickInput();
  await page.keyboard.type(title);
  await widget.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor({ timeout: 10_000 });
  await page.keyboard.press("Enter");
}

async function goToLine(line) {
  await page.keyboard.press("Control+G");
  await quickInput();
  await page.keyboard.type(String(line));
  await page.keyboard.press("Enter");
  await page.locator(".quick-input-widget").waitFor({ state: "hidden", timeout: 5_000 });
}

/** Selects whole lines first..last (1-based): from the start of `first` to the start of last+1. */
async function selectLines(first, last) {
  await goToLine(first);
  await page.keyboard.press("Home");
  await page.keyboard.press("Home"); // the first Home may stop at the indentation
  for (let i = first; i <= last; i += 1) {
    await page.keyboard.press("Shift+ArrowDown");
  }
}

/** Answers the instruction quick pick: checks its title, then types the instruction and Enter. */
async function giveInstruction(expectedTitle, instruction) {
  const widget = await quickInput();
  await waitFor(`the instruction prompt "${expectedTitle}"`, async () => (await widget.innerText()).includes(expectedTitle), 10_000);
  await page.keyboard.type(instruction);
  await widget.locator(".quick-input-list .monaco-list-row", { hasText: instruction }).first().waitFor({ timeout: 5_000 });
  await page.keyboard.press("Enter");
}

/** llamafile.inlineCompletion.enable, set in the Settings editor: it takes effect at once (no restart). */
async function setInlineCompletion(on) {
  const seen = (extensionLog().match(new RegExp(`settings changed: .*"inlineCompletion":${on}`, "g")) ?? []).length;
  await runPaletteCommand("Preferences: Open User Settings");
  const settings = page.locator(".settings-editor");
  await settings.waitFor({ timeout: 10_000 });
  await page.keyboard.press("Control+A"); // the search box may keep an earlier search
  await page.keyboard.type("llamafile.inlineCompletion.enable");
  const checkbox = settings.locator(".setting-item-bool", { hasText: "Inline Completion" }).locator(".setting-value-checkbox").first();
  await checkbox.waitFor({ timeout: 10_000 });
  await checkbox.click();
  await waitFor(`the setting to be ${on}`, async () => (await checkbox.getAttribute("aria-checked")) === String(on), 5_000);
  await waitFor("the extension to see the setting", async () => {
    return (extensionLog().match(new RegExp(`settings changed: .*"inlineCompletion":${on}`, "g")) ?? []).length > seen;
  }, 10_000);
  await page.keyboard.press("Control+W"); // the Settings editor
}

function progressToast() {
  return page.locator(".notifications-toasts .notification-toast", { hasText: "Llamafile: editing" });
}

async function llamaSlots() {
  const answer = await fetch(`${LLAMA_URL}/slots`);
  return answer.json();
}

async function slotsBusy() {
  return (await llamaSlots()).some((slot) => slot.is_processing);
}

/** The extension's output channel logs, one per session, oldest first (the folders are timestamps). */
function extensionLogs() {
  const found = spawnSync("find", [join(userData, "logs"), "-name", "Llamafile.log"], { encoding: "utf8" }).stdout.trim();
  return found ? found.split("\n").sort() : [];
}

/** The current session's extension log. */
function extensionLog() {
  const newest = extensionLogs().at(-1);
  return newest ? readFileSync(newest, "utf8") : "";
}

function diskText() {
  return readFileSync(samplePath, "utf8");
}

// --- the checks -----------------------------------------------------------------------

const results = [];
let failedAlready = false;

async function check(name, body) {
  if (failedAlready) {
    results.push({ name, outcome: "skipped" });
    log(`SKIP ${name} (an earlier check failed)`);
    return;
  }
  const started = Date.now();
  log(`---- ${name}`);
  try {
    await body();
    results.push({ name, outcome: "passed" });
    log(`PASS ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failedAlready = true;
    results.push({ name, outcome: "failed" });
    log(`FAIL ${name}: ${error instanceof Error ? error.stack : error}`);
    await screenshot(`failed-${name.replace(/\W+/g, "-").toLowerCase()}`).catch(() => undefined);
  }
}

function assert(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

const original = readFileSync(SAMPLE, "utf8");
const originalLines = original.split("\n");

async function main() {
  setUp();
  const url = await startCodeServer();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on("pageerror", (error) => log(`page error: ${error.message}`));

    await check("the workbench loads and the extension starts its server", async () => {
      const loading = Date.now();
      await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`);
      await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
      timings["workbench up"] = Date.now() - loading;
      // The status bar names the active model once the server answered llamafile.listModels.
      await waitFor("the Llamafile status bar item to name the model", async () => (await statusText()).includes(FAST_MODEL), 60_000);
      timings["server ready (model in the status bar)"] = Date.now() - loading;
      await screenshot("workbench");
    });

    await check("inline completion: ghost text appears at the cursor and Tab accepts it", async () => {
      // First, on a file of its own: the prompt is the same in every run (temperature 0).
      await setInlineCompletion(true);
      await page.keyboard.press("Control+P");
      await quickInput();
      await page.keyboard.type("calc.py");
      await page.locator(".quick-input-list .monaco-list-row", { hasText: "calc.py" }).first().waitFor({ timeout: 10_000 });
      await page.keyboard.press("Enter");
      await page.locator(".tabs-container .tab.active", { hasText: "calc.py" }).waitFor({ timeout: 10_000 });
      await waitFor("the editor to show calc.py", async () => (await editorText())?.includes("def sub(a, b):"), 10_000);
      await page.locator(".part.editor .monaco-editor .view-lines").first().click();
      await page.keyboard.press("Control+End");
      await page.keyboard.press("Enter");
      await page.keyboard.press("Enter");
      await page.keyboard.type("def mul(a, b):");
      await page.keyboard.press("Escape"); // a word suggestion's widget would take the Enter
      await page.keyboard.press("Enter");
      const ghost = page.locator(".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text");
      const shown = async () => (await ghost.count()) > 0 && (await ghost.allInnerTexts()).join("").trim() !== "";
      let completing = false;
      // SmolLM2 is no code model: at some cursors all it writes is cut by the server's
      // post-processing (no suggestion). Then type on, as a user would, and wait again.
      const typing = [async () => undefined, async () => {
        await page.keyboard.press("Shift+Home"); // whatever indentation VS Code put there
        await page.keyboard.type("    return ");
      }, async () => page.keyboard.type("a")];
      let typedAt = 0;
      for (const [attempt, type] of typing.entries()) {
        await type();
        typedAt = Date.now();
        const found = await waitFor("ghost text at the cursor", async () => {
          completing ||= (await statusText()).includes("completing");
          return shown();
        }, 20_000, 50).then(() => true, () => false);
        if (found) {
          break;
        }
        log(`no ghost text after typing step ${attempt + 1}`);
        assert(attempt < typing.length - 1, "no ghost text at the cursor after three tries of 20 s");
      }
      timings["typed to ghost text shown"] = Date.now() - typedAt;
      const suggestion = (await ghost.allInnerTexts()).join("");
      log(`ghost text: ${JSON.stringify(suggestion)}`);
      await screenshot("inline-ghost-text");
      assert(completing, "the status bar never said a completion was being computed");
      await page.keyboard.press("Tab");
      await waitFor("the ghost text to be accepted", async () => (await ghost.count()) === 0, 10_000);
      await page.keyboard.press("Control+S");
      await waitFor("the file to be saved", async () => !(await activeTabDirty()), 10_000);
      const saved = readFileSync(calcPath, "utf8");
      const body = saved.slice(saved.lastIndexOf("def mul(a, b):\n") + "def mul(a, b):\n".length);
      log(`after Tab, below def mul(a, b): ${JSON.stringify(body)}`);
      assert(body.trim() !== "", "Tab accepted nothing: the line below def mul(a, b): is empty");
      // Monaco splits ghost text into spans and view zones: compare without whitespace.
      const compact = (text) => text.replace(/\s+/g, "");
      assert(compact(body).includes(compact(suggestion)), `the accepted text is not the ghost text ${JSON.stringify(suggestion)}`);
      await screenshot("inline-accepted");
      await page.keyboard.press("Control+W"); // calc.py
      await setInlineCompletion(false); // the other checks time edits on the one llama-server slot
    });

    let openedAt = 0;
    await check("an edit from the command palette lands on the selected lines", async () => {
      await page.keyboard.press("Control+P");
      await quickInput();
      await page.keyboard.type("sample.py");
      await page.locator(".quick-input-list .monaco-list-row", { hasText: "sample.py" }).first().waitFor({ timeout: 10_000 });
      await page.keyboard.press("Enter");
      await page.locator(".tabs-container .tab.active", { hasText: "sample.py" }).waitFor({ timeout: 10_000 });
      await waitFor("the editor to show the file", async () => (await editorText())?.includes("def greet(name):"), 10_000);
      openedAt = Date.now();
      await selectLines(13, 14); // def greet(name): / print("Hello, " + name + "!")
      await screenshot("selection");
      await runPaletteCommand("Llamafile: Edit Selection");
      await giveInstruction("Llamafile: edit lines 13-14", "Use an f-string");
      const askedAt = Date.now();
      await screenshot("instruction-sent");
      await waitFor("the edit to be applied in the editor", async () => {
        const text = await editorText();
        return text !== null && !text.includes('print("Hello, " + name + "!")') && (await activeTabDirty());
      }, 60_000);
      const appliedAt = Date.now();
      timings["open file to first edit applied"] = appliedAt - openedAt;
      timings["instruction given to edit applied"] = appliedAt - askedAt;
      await screenshot("edit-applied");
      await page.keyboard.press("Control+S");
      await waitFor("the file to be saved", async () => !(await activeTabDirty()), 10_000);
      const after = diskText().split("\n");
      log(`the model wrote:\n${after.slice(12, after.length - (originalLines.length - 14)).join("\n")}`);
      assert(diskText() !== original, "the file on disk did not change");
      assert(after.slice(0, 12).join("\n") === originalLines.slice(0, 12).join("\n"), "lines 1-12 changed");
      const tail = originalLines.slice(14);
      assert(after.slice(after.length - tail.length).join("\n") === tail.join("\n"), "the lines after 14 changed");
    });

    await check("Select Model (status bar) switches the model", async () => {
      await page.locator(STATUS_ITEM).click();
      const widget = await quickInput();
      await waitFor("the model list", async () => (await widget.innerText()).includes(ENDLESS_MODEL), 10_000);
      await screenshot("select-model");
      await page.keyboard.type("endless");
      await widget.locator(".quick-input-list .monaco-list-row", { hasText: ENDLESS_MODEL }).first().waitFor({ timeout: 5_000 });
      await page.keyboard.press("Enter");
      await waitFor(`the status bar to show ${ENDLESS_MODEL}`, async () => (await statusText()).includes(ENDLESS_MODEL), 10_000);
    });

    await check("Cancel on the progress notification stops the model and changes nothing", async () => {
      const before = diskText();
      await page.locator(".part.editor .monaco-editor .view-lines").first().click();
      await selectLines(6, 10); // load_settings
      // The keybinding, this time (ctrl+alt+e when the editor has a selection).
      await page.keyboard.press("Control+Alt+E");
      const widget = await quickInput();
      // The first instruction is offered again (the history).
      await waitFor("the recent instruction in the list", async () => (await widget.innerText()).includes("Use an f-string"), 10_000);
      await screenshot("instruction-history");
      await giveInstruction("Llamafile: edit lines 6-10", "Use a with statement");
      const toast = progressToast();
      await toast.waitFor({ timeout: 30_000 });
      const tokens = await waitFor("a token count of 20 or more in the notification", async () => {
        const match = /(\d+) tokens/.exec(await toast.innerText());
        return match && Number(match[1]) >= 20 ? Number(match[1]) : false;
      }, 60_000);
      // The status bar's count comes from the server's llamafile/status notifications.
      const status = await waitFor("a token count in the status bar", async () => {
        const text = await statusText();
        return /[1-9]\d* tokens/.test(text) && text.includes(ENDLESS_MODEL) ? text : false;
      }, 5_000);
      const slots = await llamaSlots();
      assert(slots.some((slot) => slot.is_processing), "llama-server is not generating");
      const decoded = Math.max(...slots.map((slot) => slot.next_token?.[0]?.n_decoded ?? 0));
      log(`generating: ${tokens} tokens in the notification, status bar ${JSON.stringify(status)}, llama-server decoded ${decoded} of up to 3000`);
      await screenshot("generating");
      await toast.hover();
      const cancelledAt = Date.now();
      await toast.getByRole("button", { name: "Cancel" }).click();
      await waitFor("llama-server's slot to be idle", async () => !(await slotsBusy()), 15_000, 50);
      timings["Cancel to llama-server slot idle"] = Date.now() - cancelledAt;
      await toast.waitFor({ state: "hidden", timeout: 10_000 });
      timings["Cancel to notification gone"] = Date.now() - cancelledAt;
      // An edit, had one come, would arrive at once; give it a moment to show that none does.
      await sleep(1500);
      assert(!(await activeTabDirty()), "the editor has unsaved changes after the cancel");
      assert((await editorText())?.includes("f = open(path)"), "the editor's text changed after the cancel");
      assert(diskText() === before, "the file changed after the cancel");
      await waitFor("the status bar to be idle", async () => !/tokens|loading/.test(await statusText()), 5_000);
      await screenshot("cancelled");
    });

    await check("the light bulb's code action asks for the instruction", async () => {
      await page.locator(STATUS_ITEM).click();
      const models = await quickInput();
      await models
        .locator(".quick-input-list .monaco-list-row")
        .filter({ has: page.locator(".label-name", { hasText: new RegExp(`^${FAST_MODEL}$`) }) })
        .first()
        .click();
      await waitFor(`the status bar to show ${FAST_MODEL} again`, async () => {
        const text = await statusText();
        return text.includes(FAST_MODEL) && !text.includes(ENDLESS_MODEL);
      }, 10_000);
      await page.locator(".part.editor .monaco-editor .view-lines").first().click();
      await selectLines(6, 10);
      await page.keyboard.press("Control+.");
      const action = page.locator(".action-widget .monaco-list-row", { hasText: "Llamafile: Edit selection" }).first();
      await action.waitFor({ timeout: 15_000 });
      // The slash commands are offered too, /types among them.
      const types = page.locator(".action-widget .monaco-list-row", { hasText: "Llamafile: Add type annotations to the selected code" });
      await types.first().waitFor({ timeout: 5_000 });
      await screenshot("code-action");
      await action.click();
      // The server's llamafile.edit has no instruction: the middleware asks for it.
      await giveInstruction("Llamafile: edit lines 6-10", "Use a with statement");
      await waitFor("the code action's edit to be applied", async () => {
        const text = await editorText();
        return text !== null && !text.includes("    f = open(path)\n    data = json.load(f)") && (await activeTabDirty());
      }, 60_000);
      await screenshot("code-action-applied");
      // One edit is one undo step.
      await page.keyboard.press("Control+Z");
      await waitFor("undo to restore the file's text", async () => !(await activeTabDirty()), 10_000);
      // The tab is clean a frame before the view shows the restored lines: wait for them too.
      await waitFor("one undo to restore the lines", async () => {
        const text = await editorText();
        if (!text?.includes("    f = open(path)\n    data = json.load(f)")) {
          throw new Error(`lines 6-10 read ${JSON.stringify(text?.split("\n").slice(5, 10))}`); // shown on a time-out
        }
        return true;
      }, 5_000);
    });

    await check("a slash command from the light bulb runs with progress (llamafile.runCommand)", async () => {
      await page.locator(".part.editor .monaco-editor .view-lines").first().click();
      await selectLines(13, 14);
      await page.keyboard.press("Control+.");
      const action = page.locator(".action-widget .monaco-list-row", { hasText: "Llamafile: Comment" }).first();
      await action.waitFor({ timeout: 15_000 });
      await action.click();
      // SmolLM2 may or may not change the code: the check is that the command ran to its end.
      const outcome = await waitFor(
        "the /comment command to finish",
        async () => /llamafile\.runCommand \(\/comment on lines 13-14\): (applied|not applied: .*) \(/.exec(extensionLog())?.[1],
        60_000,
      );
      log(`/comment: ${outcome}`);
      await screenshot("slash-command");
      if (outcome.startsWith("not applied: ")) {
        // The reason is shown once: by the extension, from the answer (the server shows none).
        const reason = outcome.slice("not applied: ".length);
        await sleep(1000);
        const shown = await page.locator(".notifications-toasts .notification-toast", { hasText: reason }).count();
        assert(shown === 1, `"${reason}" is shown ${shown} times`);
      }
      if (outcome === "applied") {
        await page.keyboard.press("Control+Z");
        await waitFor("undo to restore the file's text", async () => !(await activeTabDirty()), 10_000);
      }
    });

    await check("with llamafile.previewEdits the edit waits in the refactor preview", async () => {
      // As a user would: the Settings editor.
      await runPaletteCommand("Preferences: Open User Settings");
      const settings = page.locator(".settings-editor");
      await settings.waitFor({ timeout: 10_000 });
      await page.keyboard.type("llamafile.previewEdits");
      const checkbox = settings
        .locator(".setting-item-bool", { hasText: "Preview Edits" })
        .locator(".setting-value-checkbox")
        .first();
      await checkbox.waitFor({ timeout: 10_000 });
      await checkbox.click();
      await waitFor("the setting to be on", async () => (await checkbox.getAttribute("aria-checked")) === "true", 5_000);
      await screenshot("preview-setting");
      // The Settings editor writes a moment later; then the extension host hears of it.
      const userSettings = join(userData, "User", "settings.json");
      await waitFor("settings.json to have the setting", async () => /"llamafile\.previewEdits": true/.test(readFileSync(userSettings, "utf8")), 10_000);
      await waitFor("the extension to see the setting", async () => /settings changed: .*"previewEdits":true/.test(extensionLog()), 10_000);
      await page.keyboard.press("Control+W"); // close the Settings editor
      await page.locator(".tabs-container .tab.active", { hasText: "sample.py" }).waitFor({ timeout: 10_000 });
      await page.locator(".part.editor .monaco-editor .view-lines").first().click();
      await selectLines(6, 10);
      await runPaletteCommand("Llamafile: Edit Selection");
      await giveInstruction("Llamafile: edit lines 6-10", "Use a with statement");
      const apply = page.locator(".monaco-button", { hasText: /^Apply$/ }).first();
      await apply.waitFor({ timeout: 60_000 });
      await sleep(500);
      assert(!(await activeTabDirty()), "the edit was applied before it was accepted in the preview");
      await screenshot("refactor-preview");
      // Edits that need confirmation come unticked: tick the file, then Apply.
      const tick = page.locator(".panel .monaco-list-row", { hasText: "sample.py" }).locator(".edit-checkbox").first();
      await tick.click();
      await waitFor("the file's edits to be ticked", async () => (await tick.getAttribute("aria-checked")) === "true", 5_000);
      await apply.click();
      await waitFor("the previewed edit to be applied", async () => activeTabDirty(), 15_000);
      await screenshot("preview-applied");
    });

    await check("an error is shown once, with Open Config and Show Log", async () => {
      await page.locator(STATUS_ITEM).click();
      const models = await quickInput();
      await page.keyboard.type(OFFLINE_MODEL);
      await models.locator(".quick-input-list .monaco-list-row", { hasText: OFFLINE_MODEL }).first().waitFor({ timeout: 5_000 });
      await page.keyboard.press("Enter");
      await waitFor(`the status bar to show ${OFFLINE_MODEL}`, async () => (await statusText()).includes(OFFLINE_MODEL), 10_000);
      await page.locator(".part.editor .monaco-editor .view-lines").first().click();
      await selectLines(13, 14);
      await runPaletteCommand("Llamafile: Edit Selection");
      await giveInstruction("Llamafile: edit lines 13-14", "Use an f-string");
      const error = page.locator(".notifications-toasts .notification-toast", { hasText: "no model server answers at http://127.0.0.1:9" });
      await error.first().waitFor({ timeout: 30_000 });
      await sleep(1000);
      assert((await error.count()) === 1, `the error is shown ${await error.count()} times`);
      // Shown by the extension, from the answer's reason: the server left it to the client.
      const output = extensionLog();
      assert(/llamafile\.edit \(editing lines 13-14\): not applied: no model server answers at http:\/\/127\.0\.0\.1:9/.test(output), "the answer had no reason");
      assert(!/the server showed: .*no model server answers/.test(output), "the server showed the reason itself");
      await screenshot("error");
      await error.getByRole("button", { name: "Show Log" }).waitFor({ timeout: 5_000 });
      await error.getByRole("button", { name: "Open Config" }).click();
      await page.locator(".tabs-container .tab.active", { hasText: "config.json" }).waitFor({ timeout: 10_000 });
      await page.keyboard.press("Control+W");
    });

    await check("Open Config opens the models' config file", async () => {
      await runPaletteCommand("Llamafile: Open Config");
      await page.locator(".tabs-container .tab.active", { hasText: "config.json" }).waitFor({ timeout: 10_000 });
      await waitFor("the config in the editor", async () => (await editorText())?.includes(ENDLESS_MODEL), 10_000);
      await screenshot("open-config");
    });

    await check("an untrusted workspace's llamafile.serverCommand runs only once the workspace is trusted", async () => {
      // The workspace asks for a server command that leaves a mark; the user's settings don't.
      const untrusted = join(root, "untrusted");
      const marker = join(root, "workspace-command-ran");
      const libs = join(extensions, "llamafile-ls.llamafile-ls-0.1.0", "bundled", "libs");
      mkdirSync(join(untrusted, ".vscode"), { recursive: true });
      copyFileSync(SAMPLE, join(untrusted, "sample.py"));
      const command = `touch '${marker}' && PYTHONPATH='${libs}' exec python3 -m llamafile_ls`;
      writeFileSync(join(untrusted, ".vscode", "settings.json"), JSON.stringify({ "llamafile.serverCommand": ["/bin/sh", "-c", command] }));
      await page.context().close();
      await stopCodeServer();
      const trustUrl = await startCodeServer({ trust: true, logName: "code-server-trust.log" });
      page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
      await page.goto(`${trustUrl}/?folder=${encodeURIComponent(untrusted)}`);
      await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
      // code-server opens an unknown folder in Restricted Mode (VS Code may ask first: say no).
      const noTrust = page.getByRole("button", { name: /don.t trust/i });
      const restricted = page.locator(".statusbar-item", { hasText: "Restricted Mode" });
      await waitFor("Restricted Mode or the trust prompt", async () => (await restricted.count()) > 0 || (await noTrust.count()) > 0, 30_000);
      if ((await noTrust.count()) > 0) {
        await noTrust.first().click();
      }
      await restricted.first().waitFor({ timeout: 10_000 });
      // Restricted Mode: the extension still works, with the bundled server.
      await waitFor("the extension's server to start", async () => /server started in/.test(extensionLog()), 60_000);
      await waitFor("the status bar to name a model", async () => /SmolLM2|Offline/.test(await statusText()), 30_000);
      assert(/starting the server: \S+ -m llamafile_ls \(PYTHONPATH=/.test(extensionLog()), "the bundled server was not the one started");
      assert(!existsSync(marker), "the untrusted workspace's serverCommand ran");
      await screenshot("restricted-mode");
      // Trusting the workspace restarts the server with the workspace's settings.
      await runPaletteCommand("Workspaces: Manage Workspace Trust");
      const trust = page.getByRole("button", { name: /^Trust( Folder)?$/ }).first();
      await trust.waitFor({ timeout: 10_000 });
      await screenshot("trust-editor");
      await trust.click();
      await waitFor("the workspace's serverCommand to run once trusted", async () => existsSync(marker), 30_000);
      await screenshot("trusted");
    });
  } finally {
    await browser.close().catch(() => undefined);
    await stopCodeServer();
    extensionLogs().forEach((file, index) => copyFileSync(file, join(ARTIFACTS, `llamafile-output-${index + 1}.log`)));
    if (!KEEP) {
      rmSync(root, { recursive: true, force: true });
    }
  }

  for (const [name, ms] of Object.entries(timings)) {
    console.log(`e2e timing: ${name}: ${(ms / 1000).toFixed(2)} s`);
  }
  console.log(`e2e timing: whole test: ${((Date.now() - testStart) / 1000).toFixed(1)} s`);
  const count = (outcome) => results.filter((result) => result.outcome === outcome).length;
  console.log(`e2e: ${count("passed")} passed, ${count("failed")} failed, ${count("skipped")} skipped`);
  return count("failed") === 0 && count("skipped") === 0;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    console.error(`e2e: ${error instanceof Error ? error.stack : error}`);
    process.exit(1);
  },
);
