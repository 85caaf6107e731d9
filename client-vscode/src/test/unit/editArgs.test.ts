import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  buildEditArgument,
  completeEditArgument,
  describeCommand,
  describeLines,
  editRange,
  hasInstruction,
  parseEditArgument,
} from "../../common/editArgs";

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

describe("the llamafile.edit argument", () => {
  const range = { start: at(5, 0), end: at(10, 0) };

  it("is built from a selection", () => {
    assert.deepEqual(buildEditArgument("file:///a.py", range, "  use a with statement ", false), {
      uri: "file:///a.py",
      range,
      instruction: "use a with statement",
    });
    assert.deepEqual(buildEditArgument("file:///a.py", range, "x", true), { uri: "file:///a.py", range, instruction: "x", preview: true });
  });

  it("is taken from a code action and completed", () => {
    const fromServer = parseEditArgument([{ uri: "file:///a.py", range }]);
    assert.ok(fromServer);
    assert.equal(hasInstruction(fromServer), false);
    const completed = completeEditArgument(fromServer, " add hints ", true);
    assert.deepEqual(completed, { uri: "file:///a.py", range, instruction: "add hints", preview: true });
    assert.equal(hasInstruction(completed), true);
    assert.deepEqual(fromServer, { uri: "file:///a.py", range }, "the original argument is left alone");
  });

  it("keeps what else the server put in it (a slash command's name)", () => {
    const fromServer = parseEditArgument([{ name: "comment", uri: "file:///a.py", range }]);
    assert.ok(fromServer);
    assert.deepEqual(completeEditArgument(fromServer, undefined, false), { name: "comment", uri: "file:///a.py", range });
    assert.equal(describeCommand(fromServer), "/comment");
  });

  it("is not made up from something else", () => {
    assert.equal(parseEditArgument([]), undefined);
    assert.equal(parseEditArgument(["file:///a.py"]), undefined);
    assert.equal(parseEditArgument([{ uri: "file:///a.py" }]), undefined);
    assert.equal(parseEditArgument([{ uri: "file:///a.py", range: { start: at(1, 0) } }]), undefined);
    assert.equal(parseEditArgument([{ uri: "file:///a.py", range }, {}]), undefined);
    assert.equal(parseEditArgument([{ uri: 3, range }]), undefined);
  });
});
