import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { candidates, findInterpreter, isSupported, NoPythonError, type Probe, probeInterpreter } from "../../common/python";

describe("candidates", () => {
  it("uses only the llamafile.python setting when it is set", () => {
    assert.deepEqual(candidates("/opt/py/bin/python", "/ext/python", "linux"), [{ executable: "/opt/py/bin/python", source: "setting" }]);
  });

  it("tries the Python extension's interpreter, then python3 and python on PATH", () => {
    assert.deepEqual(candidates(undefined, "/venv/bin/python", "linux"), [
      { executable: "/venv/bin/python", source: "python-extension" },
      { executable: "python3", source: "path" },
      { executable: "python", source: "path" },
    ]);
    assert.deepEqual(
      candidates(undefined, undefined, "linux").map((c) => c.executable),
      ["python3", "python"],
    );
    assert.deepEqual(
      candidates(undefined, undefined, "win32").map((c) => c.executable),
      ["python", "python3"],
    );
  });
});

describe("isSupported", () => {
  it("wants 3.10 or newer", () => {
    assert.equal(isSupported([3, 10, 0]), true);
    assert.equal(isSupported([3, 13, 1]), true);
    assert.equal(isSupported([4, 0, 0]), true);
    assert.equal(isSupported([3, 9, 18]), false);
    assert.equal(isSupported([2, 7, 18]), false);
  });
});

function fakeProbe(answers: Record<string, [number, number, number] | string>): Probe & { asked: string[] } {
  const asked: string[] = [];
  const probe = async (executable: string) => {
    asked.push(executable);
    const answer = answers[executable];
    if (answer === undefined) {
      return { error: "not found" };
    }
    return typeof answer === "string" ? { error: answer } : { executable: `/resolved/${executable}`, version: answer };
  };
  return Object.assign(probe, { asked });
}

describe("findInterpreter", () => {
  it("takes the first candidate that runs and is new enough", async () => {
    const probe = fakeProbe({ "/venv/bin/python": [3, 8, 10], python3: [3, 12, 1], python: [3, 11, 0] });
    const found = await findInterpreter(candidates(undefined, "/venv/bin/python", "linux"), probe);
    assert.deepEqual(found, { executable: "/resolved/python3", version: [3, 12, 1], source: "path" });
    assert.deepEqual(probe.asked, ["/venv/bin/python", "python3"]);
  });

  it("prefers the Python extension's interpreter", async () => {
    const probe = fakeProbe({ "/venv/bin/python": [3, 11, 2], python3: [3, 12, 1] });
    const found = await findInterpreter(candidates(undefined, "/venv/bin/python", "linux"), probe);
    assert.equal(found.source, "python-extension");
  });

  it("refuses a too old llamafile.python instead of passing over it", async () => {
    const probe = fakeProbe({ "/old/python": [3, 9, 1], python3: [3, 12, 1] });
    await assert.rejects(findInterpreter(candidates("/old/python", undefined, "linux"), probe), (error: Error) => {
      assert.ok(error instanceof NoPythonError);
      assert.match(error.message, /needs Python 3\.10 or newer/);
      assert.match(error.message, /llamafile\.python \(\/old\/python\) is Python 3\.9\.1/);
      assert.match(error.message, /Point llamafile\.python at/);
      return true;
    });
    assert.deepEqual(probe.asked, ["/old/python"]);
  });

  it("says what it tried when nothing fits", async () => {
    const probe = fakeProbe({ python3: [3, 6, 15] });
    await assert.rejects(findInterpreter(candidates(undefined, undefined, "linux"), probe), (error: Error) => {
      assert.match(error.message, /python3 on PATH is Python 3\.6\.15/);
      assert.match(error.message, /python on PATH: not found/);
      assert.match(error.message, /set llamafile\.python/);
      return true;
    });
  });
});

describe("probeInterpreter (runs real programs)", () => {
  it("reports this machine's python3 with its version and real path", async () => {
    const result = await probeInterpreter("python3");
    assert.ok(!("error" in result), JSON.stringify(result));
    assert.equal(result.version[0], 3);
    assert.ok(result.executable.startsWith("/"), result.executable);
  });

  it("says 'not found' for a program that does not exist", async () => {
    assert.deepEqual(await probeInterpreter("/nonexistent/python3.99"), { error: "not found" });
  });

  it("reads the version a program prints, and refuses nonsense", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llamafile-python-"));
    const old = join(dir, "python-old");
    writeFileSync(old, '#!/bin/sh\necho 3.8.18\necho /opt/python3.8/bin/python3.8\n');
    chmodSync(old, 0o755);
    assert.deepEqual(await probeInterpreter(old), { executable: "/opt/python3.8/bin/python3.8", version: [3, 8, 18] });
    const odd = join(dir, "python-odd");
    writeFileSync(odd, "#!/bin/sh\necho hello\n");
    chmodSync(odd, 0o755);
    const result = await probeInterpreter(odd);
    assert.ok("error" in result && /unexpected answer/.test(result.error), JSON.stringify(result));
    const failing = join(dir, "python-failing");
    writeFileSync(failing, "#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nexit 1\n");
    chmodSync(failing, 0o755);
    assert.deepEqual(await probeInterpreter(failing), { error: "Fatal Python error: init_fs_encoding" });
  });
});
