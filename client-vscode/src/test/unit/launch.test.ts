import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bundledLaunch, customLaunch, initializationOptions } from "../../common/launch";

describe("bundledLaunch", () => {
  it("runs python -m llamafile_ls with PYTHONPATH and the working directory at bundled/libs", () => {
    const launch = bundledLaunch("/usr/bin/python3", "/ext/bundled/libs", { PATH: "/usr/bin", PYTHONPATH: "/mine", HOME: "/home/me" });
    assert.equal(launch.command, "/usr/bin/python3");
    assert.deepEqual(launch.args, ["-m", "llamafile_ls"]);
    assert.equal(launch.cwd, "/ext/bundled/libs");
    assert.equal(launch.env.PYTHONPATH, "/ext/bundled/libs", "the user's PYTHONPATH must not shadow the bundled server");
    assert.equal(launch.env.PATH, "/usr/bin");
    assert.equal(launch.env.HOME, "/home/me");
  });
});

describe("customLaunch", () => {
  it("runs llamafile.serverCommand as given", () => {
    const launch = customLaunch(["/home/me/.local/bin/llamafile-ls", "--config", "/x.json"], { PYTHONPATH: "/mine" });
    assert.equal(launch.command, "/home/me/.local/bin/llamafile-ls");
    assert.deepEqual(launch.args, ["--config", "/x.json"]);
    assert.equal(launch.cwd, undefined);
    assert.equal(launch.env.PYTHONPATH, "/mine");
  });

  it("refuses an empty command", () => {
    assert.throws(() => customLaunch([], {}), /serverCommand is empty/);
  });
});

describe("initializationOptions", () => {
  it("sends what is set, and that this client shows results and follows llamafile/status", () => {
    const client = { showsResults: true, status: true };
    assert.deepEqual(initializationOptions(undefined, undefined), client);
    assert.deepEqual(initializationOptions("/c.json", ""), { ...client, configPath: "/c.json" });
    assert.deepEqual(initializationOptions("/c.json", "SmolLM2"), { ...client, configPath: "/c.json", model: "SmolLM2" });
  });
});
