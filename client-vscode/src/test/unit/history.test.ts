import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { acceptedInstruction, InstructionHistory, pickItems, type Store } from "../../common/history";

function memoryStore(initial?: unknown): Store & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  if (initial !== undefined) {
    data.set("h", initial);
  }
  return {
    data,
    get: <T>(key: string) => data.get(key) as T | undefined,
    update: async (key: string, value: unknown) => {
      data.set(key, value);
    },
  };
}

describe("InstructionHistory", () => {
  it("keeps instructions newest first, once each, trimmed", async () => {
    const history = new InstructionHistory(memoryStore(), "h");
    assert.deepEqual(history.items(), []);
    await history.add("add type hints");
    await history.add("  use a with statement ");
    await history.add("add type hints");
    await history.add("   ");
    assert.deepEqual(history.items(), ["add type hints", "use a with statement"]);
  });

  it("drops the oldest beyond the limit", async () => {
    const history = new InstructionHistory(memoryStore(), "h", 3);
    for (const text of ["a", "b", "c", "d"]) {
      await history.add(text);
    }
    assert.deepEqual(history.items(), ["d", "c", "b"]);
  });

  it("removes an entry", async () => {
    const history = new InstructionHistory(memoryStore(["a", "b"]), "h");
    await history.remove("a");
    assert.deepEqual(history.items(), ["b"]);
  });

  it("survives a corrupt stored value", () => {
    assert.deepEqual(new InstructionHistory(memoryStore("oops"), "h").items(), []);
    assert.deepEqual(new InstructionHistory(memoryStore(["ok", 3, null, ""]), "h").items(), ["ok"]);
  });
});

describe("pickItems", () => {
  const history = ["add type hints", "use a with statement", "Add a docstring"];

  it("lists the history when nothing is typed", () => {
    assert.deepEqual(
      pickItems("", history).map((item) => item.label),
      history,
    );
    assert.ok(pickItems("", history).every((item) => !item.typed));
  });

  it("puts what is typed first, then the matching history", () => {
    const items = pickItems("add", history);
    assert.deepEqual(
      items.map((item) => [item.label, item.typed]),
      [
        ["add", true],
        ["add type hints", false],
        ["Add a docstring", false],
      ],
    );
    assert.equal(items[0]?.description, "new instruction");
  });

  it("does not repeat a typed instruction that is in the history", () => {
    const items = pickItems("add type hints", history);
    assert.deepEqual(
      items.map((item) => item.label),
      ["add type hints"],
    );
    assert.equal(items[0]?.description, "recent");
  });
});

describe("acceptedInstruction", () => {
  const typed = (label: string) => ({ label, typed: true });
  const recent = (label: string) => ({ label, typed: false });

  it("takes the typed text", () => {
    assert.equal(acceptedInstruction("make it async", typed("make it async")), "make it async");
    assert.equal(acceptedInstruction("make it async", undefined), "make it async");
  });

  it("takes a history entry picked with nothing typed, or matching what is typed", () => {
    assert.equal(acceptedInstruction("", recent("add type hints")), "add type hints");
    assert.equal(acceptedInstruction("type", recent("add type hints")), "add type hints");
  });

  it("takes the typed text over a stale active entry", () => {
    // The items lag behind typing: "add type hints" was active before "rename x" was typed.
    assert.equal(acceptedInstruction("rename x", recent("add type hints")), "rename x");
    assert.equal(acceptedInstruction("rename x to y", typed("rename x")), "rename x to y");
  });

  it("gives nothing for nothing", () => {
    assert.equal(acceptedInstruction("   ", undefined), undefined);
  });
});
