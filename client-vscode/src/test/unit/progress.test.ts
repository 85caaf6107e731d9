import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { activityFromMessage, isCommandResult, isQuietReason, ShownMessages, statusText } from "../../common/progress";

describe("activityFromMessage", () => {
  it("reads the server's progress messages", () => {
    assert.deepEqual(activityFromMessage("42 tokens"), { kind: "generating", tokens: 42 });
    assert.deepEqual(activityFromMessage("1 token"), { kind: "generating", tokens: 1 });
    assert.deepEqual(activityFromMessage("Starting llamafile… loading model 12 s"), {
      kind: "starting",
      detail: "Starting llamafile… loading model 12 s",
    });
    assert.equal(activityFromMessage("editing lines 3-7"), undefined);
    assert.equal(activityFromMessage(undefined), undefined);
  });
});

describe("statusText", () => {
  it("shows the model and the state", () => {
    assert.equal(statusText("SmolLM2", { kind: "idle" }), "$(sparkle) SmolLM2");
    assert.equal(statusText(undefined, { kind: "idle" }), "$(sparkle) Llamafile");
    assert.equal(statusText("SmolLM2", { kind: "generating", tokens: 7 }), "$(loading~spin) SmolLM2: 7 tokens");
    assert.equal(statusText("M", { kind: "starting", detail: "x" }), "$(loading~spin) M: starting llamafile…");
  });
});

describe("isCommandResult", () => {
  it("knows the edit commands' answers", () => {
    assert.equal(isCommandResult({ applied: true }), true);
    assert.equal(isCommandResult({ applied: false, reason: "x" }), true);
    assert.equal(isCommandResult(null), false);
    assert.equal(isCommandResult([{ title: "m" }]), false);
  });
});

describe("ShownMessages", () => {
  it("tells whether the server already showed a reason since a moment", () => {
    let now = 1000;
    const shown = new ShownMessages(60_000, () => now);
    shown.record("llamafile: the selected lines changed while the model was answering; nothing was applied");
    assert.equal(shown.shownSince("the selected lines changed while the model was answering; nothing was applied", 1000), true);
    assert.equal(shown.shownSince("the selected lines changed while the model was answering; nothing was applied", 1001), false);
    assert.equal(shown.shownSince("the model left the code unchanged", 0), false);
    now = 100_000;
    shown.record("llamafile: later");
    assert.equal(shown.shownSince("the selected lines changed", 0), false, "old messages are forgotten");
  });

  it("keeps quiet about a cancel", () => {
    assert.equal(isQuietReason("cancelled"), true);
    assert.equal(isQuietReason(undefined), true);
    assert.equal(isQuietReason("the model left the code unchanged"), false);
  });
});
