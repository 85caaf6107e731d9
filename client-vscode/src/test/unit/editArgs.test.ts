import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ServerCommands } from "../../common/contract";
import { buildEditCall, completeEditCall, describeCall, describeLines, editRange, needsInstruction, parseEditCall } from "../../common/editArgs";

const at = (line: number, character: number) => ({ line, character });
const lengths = (line: number) => [10, 20, 30][line] ?? 0;

describe("editRange", () => {
  it("sends a selection as it is", () => {
    assert.deepEqual(editRange({ start: at(1, 0), end: at(2, 0) }, 3, lengths), { start: at(1, 0), end: at(2, 0) });
    assert.deepEqual(editRange({ start: at(0, 4), end: at(1, 7) }, 3, lengths), { start: at(0, 4), end: at(1, 7) });
  });

  it("copies the positions into plain objects (vscode.Position keeps them behind getters)", () => {
    class Position {
      constructor(
        private readonly _line: number,
        private readonly _character: number,
      ) {}
      get line() {
        return this._line;
      }
      get character() {
        return this._character;
      }
    }
    const range = editRange({ start: new Position(4, 0), end: new Position(6, 2) }, 10, lengths);
    assert.deepEqual(JSON.parse(JSON.stringify(range)), { start: at(4, 0), end: at(6, 2) });
  });

  it("takes the cursor's whole line when nothing is selected", () => {
    assert.deepEqual(editRange({ start: at(1, 5), end: at(1, 5) }, 3, lengths), { start: at(1, 0), end: at(2, 0) });
  });

  it("ends the last line at its end", () => {
    assert.deepEqual(editRange({ start: at(2, 3), end: at(2, 3) }, 3, lengths), { start: at(2, 0), end: at(2, 30) });
  });
});

describe("describeLines", () => {
  it("counts 1-based lines and leaves out a line the selection ends at the start of", () => {
    assert.equal(describeLines({ start: at(12, 0), end: at(14, 0) }), "lines 13-14");
    assert.equal(describeLines({ start: at(12, 0), end: at(13, 5) }), "lines 13-14");
    assert.equal(describeLines({ start: at(3, 0), end: at(4, 0) }), "line 4");
    assert.equal(describeLines({ start: at(3, 2), end: at(3, 9) }), "line 4");
  });
});

describe("the edit commands' calls", () => {
  const range = { start: at(5, 0), end: at(10, 0) };
  const edit = ServerCommands.edit;
  const run = ServerCommands.runCommand;

  it("are built from a selection", () => {
    assert.deepEqual(buildEditCall("file:///a.py", range, "  use a with statement ", false), {
      command: "llamafile.edit",
      argument: { uri: "file:///a.py", range, instruction: "use a with statement" },
    });
    assert.deepEqual(buildEditCall("file:///a.py", range, "x", true).argument, { uri: "file:///a.py", range, instruction: "x", preview: true });
    assert.equal(describeCall(buildEditCall("file:///a.py", range, "x", false)), "editing lines 6-10");
  });

  it("are taken from a code action and completed", () => {
    const fromServer = parseEditCall(edit, [{ uri: "file:///a.py", range }]);
    assert.ok(fromServer);
    assert.equal(needsInstruction(fromServer), true);
    const completed = completeEditCall(fromServer, " add hints ", true);
    assert.deepEqual(completed, { command: edit, argument: { uri: "file:///a.py", range, instruction: "add hints", preview: true } });
    assert.equal(needsInstruction(completed), false);
    assert.deepEqual(fromServer.argument, { uri: "file:///a.py", range }, "the original argument is left alone");
  });

  it("keep what else the server put in them (a slash command's name, a /fix's diagnostics)", () => {
    const fromServer = parseEditCall(run, [{ name: "fix", uri: "file:///a.py", range, diagnostics: "E1: x" }]);
    assert.ok(fromServer);
    assert.equal(needsInstruction(fromServer), false, "a slash command asks for no instruction");
    assert.deepEqual(completeEditCall(fromServer, undefined, true), {
      command: run,
      argument: { name: "fix", uri: "file:///a.py", range, diagnostics: "E1: x", preview: true },
    });
    assert.equal(describeCall(fromServer), "/fix on lines 6-10");
    assert.equal(describeCall({ command: run, argument: { name: "/types", uri: "u", range } }), "/types on lines 6-10");
  });

  it("are not made up from something else", () => {
    assert.equal(parseEditCall(edit, []), undefined);
    assert.equal(parseEditCall(edit, ["file:///a.py"]), undefined);
    assert.equal(parseEditCall(edit, [{ uri: "file:///a.py" }]), undefined);
    assert.equal(parseEditCall(edit, [{ uri: "file:///a.py", range: { start: at(1, 0) } }]), undefined);
    assert.equal(parseEditCall(edit, [{ uri: "file:///a.py", range }, {}]), undefined);
    assert.equal(parseEditCall(edit, [{ uri: 3, range }]), undefined);
    assert.equal(parseEditCall(run, [{ uri: "file:///a.py", range }]), undefined, "a slash command has a name");
    assert.equal(parseEditCall("llamafile.listModels", [{ uri: "file:///a.py", range }]), undefined);
  });
});
