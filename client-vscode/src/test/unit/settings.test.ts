import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";
import { effectiveValue, expandHome, type Inspected, needsRestart, RESTRICTED, resolveSettings } from "../../common/settings";

const HOME = "/home/me";

function inspector(values: Record<string, Inspected<unknown>>) {
  return (key: string): Inspected<unknown> | undefined => values[key];
}

describe("effectiveValue", () => {
  const all: Inspected<string> = { defaultValue: "d", globalValue: "g", workspaceValue: "w", workspaceFolderValue: "f" };

  it("takes the most specific value", () => {
    assert.equal(effectiveValue(all, true, false), "f");
    assert.equal(effectiveValue({ defaultValue: "d", globalValue: "g", workspaceValue: "w" }, true, false), "w");
    assert.equal(effectiveValue({ defaultValue: "d", globalValue: "g" }, true, true), "g");
    assert.equal(effectiveValue({ defaultValue: "d" }, false, true), "d");
  });

  it("ignores workspace values of restricted settings in an untrusted workspace", () => {
    assert.equal(effectiveValue(all, false, true), "g");
    assert.equal(effectiveValue({ defaultValue: "d", workspaceValue: "w" }, false, true), "d");
  });

  it("keeps workspace values of other settings in an untrusted workspace", () => {
    assert.equal(effectiveValue(all, false, false), "f");
  });

  it("is undefined for an unknown setting", () => {
    assert.equal(effectiveValue(undefined, true, false), undefined);
  });
});

describe("expandHome", () => {
  it("expands ~ and ${userHome}", () => {
    assert.equal(expandHome("~", HOME), HOME);
    assert.equal(expandHome("~/models/config.json", HOME), path.join(HOME, "models/config.json"));
    assert.equal(expandHome("${userHome}/x.json", HOME), "/home/me/x.json");
    assert.equal(expandHome("/abs/~x", HOME), "/abs/~x");
    assert.equal(expandHome("~other/x", HOME), "~other/x");
  });
});

describe("resolveSettings", () => {
  it("gives defaults when nothing is set", () => {
    const settings = resolveSettings(
      inspector({
        configPath: { defaultValue: "" },
        python: { defaultValue: "" },
        serverCommand: { defaultValue: [] },
        previewEdits: { defaultValue: false },
      }),
      { trusted: true, home: HOME },
    );
    assert.deepEqual(settings, { configPath: undefined, python: undefined, serverCommand: undefined, previewEdits: false, inlineCompletion: true });
  });

  it("expands paths and resolves a relative configPath against the workspace", () => {
    const settings = resolveSettings(
      inspector({
        configPath: { defaultValue: "", workspaceValue: "conf/models.json" },
        python: { globalValue: "~/venv/bin/python" },
        serverCommand: { globalValue: ["~/bin/llamafile-ls", "--tcp"] },
        previewEdits: { defaultValue: false, globalValue: true },
      }),
      { trusted: true, home: HOME, baseDir: "/work/project" },
    );
    assert.equal(settings.configPath, path.resolve("/work/project", "conf/models.json"));
    assert.equal(settings.python, path.join(HOME, "venv/bin/python"));
    assert.deepEqual(settings.serverCommand, [path.join(HOME, "bin/llamafile-ls"), "--tcp"]);
    assert.equal(settings.previewEdits, true);
  });

  it("does not let an untrusted workspace choose what runs or what config is read", () => {
    const values = {
      configPath: { defaultValue: "", workspaceValue: "/evil/config.json" },
      python: { defaultValue: "", workspaceValue: "./evil-python" },
      serverCommand: { defaultValue: [], workspaceValue: ["./evil"] },
      previewEdits: { defaultValue: false, workspaceValue: true },
    };
    const untrusted = resolveSettings(inspector(values), { trusted: false, home: HOME });
    assert.deepEqual(untrusted, { configPath: undefined, python: undefined, serverCommand: undefined, previewEdits: true, inlineCompletion: true });
    const trusted = resolveSettings(inspector(values), { trusted: true, home: HOME });
    assert.equal(trusted.configPath, "/evil/config.json");
    assert.deepEqual(trusted.serverCommand, ["./evil"]);
  });

  it("turns inline suggestions off only when llamafile.inlineCompletion.enable is false", () => {
    const resolve = (value: Inspected<unknown>) =>
      resolveSettings(inspector({ "inlineCompletion.enable": value }), { trusted: false, home: HOME }).inlineCompletion;
    assert.equal(resolve({ defaultValue: true }), true);
    assert.equal(resolve({ defaultValue: true, globalValue: false }), false);
    assert.equal(resolve({ defaultValue: true, globalValue: false, workspaceValue: true }), true);
  });

  it("ignores a serverCommand that is not a list of strings, and says so", () => {
    const warnings: string[] = [];
    const settings = resolveSettings(inspector({ serverCommand: { globalValue: ["llamafile-ls", 3] } }), {
      trusted: true,
      home: HOME,
      warn: (message) => warnings.push(message),
    });
    assert.equal(settings.serverCommand, undefined);
    assert.match(warnings[0] ?? "", /serverCommand must be a list of strings/);
    const blank = resolveSettings(inspector({ serverCommand: { globalValue: ["  "] } }), { trusted: true, home: HOME });
    assert.equal(blank.serverCommand, undefined);
  });

  it("restricts exactly what package.json declares", async () => {
    const manifest = (await import("node:fs")).readFileSync(path.join(__dirname, "../../../package.json"), "utf8");
    const declared: string[] = JSON.parse(manifest).capabilities.untrustedWorkspaces.restrictedConfigurations;
    assert.deepEqual(
      declared,
      RESTRICTED.map((key) => `llamafile.${key}`),
    );
  });
});

describe("needsRestart", () => {
  const base = { configPath: undefined, python: undefined, serverCommand: undefined, previewEdits: false, inlineCompletion: true };
  it("restarts for what the server is started with, not for previewEdits", () => {
    assert.equal(needsRestart(base, { ...base, previewEdits: true }), false);
    assert.equal(needsRestart(base, { ...base, inlineCompletion: false }), false);
    assert.equal(needsRestart(base, { ...base, configPath: "/x" }), true);
    assert.equal(needsRestart(base, { ...base, python: "/usr/bin/python3" }), true);
    assert.equal(needsRestart(base, { ...base, serverCommand: ["llamafile-ls"] }), true);
    assert.equal(needsRestart({ ...base, serverCommand: ["a"] }, { ...base, serverCommand: ["a"] }), false);
  });
});
