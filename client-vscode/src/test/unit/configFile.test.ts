import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { configFilePath, DEFAULT_CONFIG, ensureConfigFile } from "../../common/configFile";
import { LIBS_DIR, REPO_DIR, requireBundle } from "./helpers";

describe("configFilePath", () => {
  it("follows the server's precedence: setting > $LLAMAFILE_LS_CONFIG > ~/.continue/config.yaml > config.json", () => {
    assert.equal(configFilePath("/set/config.json", { LLAMAFILE_LS_CONFIG: "/env.json" }, "/home/me"), "/set/config.json");
    assert.equal(configFilePath(undefined, { LLAMAFILE_LS_CONFIG: "~/env.json" }, "/home/me"), path.join("/home/me", "env.json"));
    assert.equal(configFilePath(undefined, { LLAMAFILE_LS_CONFIG: " " }, "/home/me", () => false), path.join("/home/me", ".continue", "config.json"));
    assert.equal(configFilePath(undefined, {}, "/home/me", () => false), path.join("/home/me", ".continue", "config.json"));
  });

  it("opens ~/.continue/config.yaml when it is there: it wins over config.json, as in Continue", () => {
    const yaml = path.join("/home/me", ".continue", "config.yaml");
    assert.equal(configFilePath(undefined, {}, "/home/me", (file) => file === yaml), yaml);
    assert.equal(configFilePath("/set/config.json", {}, "/home/me", () => true), "/set/config.json");
  });
});

describe("ensureConfigFile", () => {
  it("creates a missing file (and its folder) with the default, and never overwrites", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "llamafile-config-"));
    const file = path.join(dir, ".continue", "config.json");
    assert.equal(await ensureConfigFile(file), true);
    assert.equal(readFileSync(file, "utf8"), DEFAULT_CONFIG);
    writeFileSync(file, '{"models": []}');
    assert.equal(await ensureConfigFile(file), false);
    assert.equal(readFileSync(file, "utf8"), '{"models": []}');
  });

  it("writes a default that the server reads without a warning (the real parser)", () => {
    requireBundle();
    const script =
      "import json, sys\n" +
      "from llamafile_ls.config import parse_config\n" +
      "config = parse_config(sys.stdin.read(), 'default')\n" +
      "print(json.dumps({'titles': [m.title for m in config.models], 'api': [m.api_base for m in config.models],\n" +
      "                  'warnings': [w.message for w in config.warnings]}))\n";
    const run = spawnSync("python3", ["-c", script], {
      input: DEFAULT_CONFIG,
      encoding: "utf8",
      env: { ...process.env, PYTHONPATH: [path.join(REPO_DIR, "server"), LIBS_DIR].join(path.delimiter), PYTHONDONTWRITEBYTECODE: "1" },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { titles: ["Llamafile"], api: ["http://localhost:8080"], warnings: [] });
  });
});
