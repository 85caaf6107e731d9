import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { Commands } from "../../common/constants";
import { ServerCommands } from "../../common/contract";
import { EXTENSION_DIR } from "./helpers";

const manifest = JSON.parse(readFileSync(path.join(EXTENSION_DIR, "package.json"), "utf8"));
const contributed: string[] = manifest.contributes.commands.map((command: { command: string }) => command.command);

describe("package.json", () => {
  it("contributes exactly the commands the extension registers", () => {
    assert.deepEqual([...contributed].sort(), Object.values(Commands).sort());
  });

  it("contributes no command the language client registers for the server", () => {
    // vscode-languageclient registers each server command as a VS Code command of that name.
    for (const name of Object.values(ServerCommands)) {
      assert.ok(!contributed.includes(name), `${name} would clash with the server's command`);
    }
  });

  it("titles the model picker 'Llamafile: Select Model'", () => {
    const choose = manifest.contributes.commands.find((c: { command: string }) => c.command === Commands.chooseModel);
    assert.equal(`${choose.category}: ${choose.title}`, "Llamafile: Select Model");
  });

  it("binds menus and keys to contributed commands only", () => {
    const used = [
      ...manifest.contributes.keybindings.map((k: { command: string }) => k.command),
      ...Object.values(manifest.contributes.menus as Record<string, { command: string }[]>).flatMap((items) => items.map((i) => i.command)),
    ];
    for (const command of used) {
      assert.ok(contributed.includes(command), command);
    }
    const key = manifest.contributes.keybindings.find((k: { command: string }) => k.command === Commands.editSelection);
    assert.equal(key.key, "ctrl+alt+e");
    assert.equal(key.mac, "cmd+alt+e");
    assert.match(key.when, /editorHasSelection/);
  });

  it("validates config.json with the bundled schema", () => {
    const validation = manifest.contributes.jsonValidation[0];
    assert.deepEqual(validation.fileMatch, ["**/.continue/config.json"]);
    assert.ok(existsSync(path.join(EXTENSION_DIR, validation.url)), validation.url);
  });

  it("validates config.yaml with the bundled schema, through the YAML extension's yamlValidation", () => {
    const validation = manifest.contributes.yamlValidation[0];
    assert.deepEqual(validation.fileMatch, ["**/.continue/config.yaml"]);
    assert.ok(existsSync(path.join(EXTENSION_DIR, validation.url)), validation.url);
  });

  it("runs on code-server 4.139's VS Code and pins its dev dependencies", () => {
    // vscode-languageclient 11 needs ^1.91.0; @types/vscode must not be newer than engines.vscode.
    assert.equal(manifest.engines.vscode, "^1.91.0");
    assert.equal(manifest.devDependencies["@types/vscode"], "1.91.0");
    for (const [name, version] of Object.entries({ ...manifest.dependencies, ...manifest.devDependencies })) {
      assert.match(String(version), /^\d+\.\d+\.\d+$/, `${name} is not pinned`);
    }
    assert.equal(manifest.main, "./dist/extension.js");
  });
});

describe("schemas/config.schema.json and schemas/config-yaml.schema.json", () => {
  it("are what `python -m llamafile_ls.schema [--yaml]` generates now", () => {
    const run = spawnSync(process.execPath, [path.join(EXTENSION_DIR, "scripts", "schema.mjs"), "--check"], { encoding: "utf8" });
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  });
});

describe("src/common/contract.ts", () => {
  it("is what scripts/contract.mjs generates from schemas/contract.schema.json now", () => {
    const run = spawnSync(process.execPath, [path.join(EXTENSION_DIR, "scripts", "contract.mjs"), "--check"], { encoding: "utf8" });
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  });
});
