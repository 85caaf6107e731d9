import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Status } from "../../common/contract";
import { isCommandResult, Requests, resultNotice, statusText, statusTooltip } from "../../common/progress";

const status = (request: string, state: Status["state"], extra: Partial<Status> = {}): Status => ({
  request,
  state,
  model: "SmolLM2",
  ...extra,
});

describe("Requests", () => {
  it("follows each request by its id, the latest updated one current", () => {
    const requests = new Requests();
    assert.equal(requests.current(), undefined);
    requests.update(status("a", "waiting"));
    requests.update(status("b", "starting", { detail: "loading model… 3 s" }));
    assert.equal(requests.current()?.request, "b");
    requests.update(status("a", "generating", { tokens: 12 }));
    assert.deepEqual(requests.current(), status("a", "generating", { tokens: 12 }));
    requests.update(status("a", "done", { outcome: "applied" }));
    assert.equal(requests.current()?.request, "b");
    assert.equal(requests.outcome("a"), "applied");
    requests.end("b");
    assert.equal(requests.current(), undefined);
    assert.equal(requests.outcome("b"), undefined);
  });

  it("keeps the server's outcome when the client ends the request after it", () => {
    const requests = new Requests();
    requests.update(status("a", "done", { outcome: "unchanged" }));
    requests.end("a");
    assert.equal(requests.outcome("a"), "unchanged");
  });

  it("does not bring back a request that ended", () => {
    const requests = new Requests();
    requests.update(status("a", "generating", { tokens: 3 }));
    requests.end("a");
    requests.update(status("a", "generating", { tokens: 4 }));
    assert.equal(requests.current(), undefined);
  });

  it("forgets old outcomes, and ends every request when the server stops", () => {
    const requests = new Requests(2);
    for (const id of ["a", "b", "c"]) {
      requests.update(status(id, "done", { outcome: id }));
    }
    assert.equal(requests.outcome("a"), undefined);
    assert.equal(requests.outcome("c"), "c");
    requests.update(status("d", "waiting"));
    requests.update(status("e", "generating", { tokens: 1 }));
    requests.clear();
    assert.equal(requests.current(), undefined);
  });
});

describe("statusText", () => {
  it("shows the model and what its request is doing", () => {
    assert.equal(statusText("SmolLM2", undefined), "$(sparkle) SmolLM2");
    assert.equal(statusText(undefined, undefined), "$(sparkle) Llamafile");
    assert.equal(statusText("SmolLM2", status("a", "waiting")), "$(loading~spin) SmolLM2");
    assert.equal(statusText("SmolLM2", status("a", "generating", { tokens: 7 })), "$(loading~spin) SmolLM2: 7 tokens");
    assert.equal(statusText("M", status("a", "starting", { model: "M", detail: "x" })), "$(loading~spin) M: starting llamafile…");
    assert.equal(statusText("SmolLM2", status("a", "applying")), "$(loading~spin) SmolLM2: applying");
    assert.equal(statusText("Selected", status("a", "generating", { model: "Other", tokens: 2 })), "$(loading~spin) Other: 2 tokens");
  });

  it("shows an inline suggestion being computed when no other request runs", () => {
    assert.equal(statusText("SmolLM2", undefined, true), "$(loading~spin) SmolLM2: completing");
    assert.equal(statusText("SmolLM2", status("a", "done"), true), "$(loading~spin) SmolLM2: completing");
    assert.equal(statusText("SmolLM2", status("a", "generating", { tokens: 7 }), true), "$(loading~spin) SmolLM2: 7 tokens");
    assert.equal(statusTooltip("SmolLM2", undefined, true), "Llamafile model: SmolLM2 (computing an inline suggestion)");
  });

  it("says it in the tooltip too", () => {
    assert.equal(statusTooltip("SmolLM2", undefined), "Llamafile model: SmolLM2 (idle)");
    assert.equal(statusTooltip(undefined, undefined), "Llamafile model: (unknown) (idle)");
    assert.equal(statusTooltip("S", status("a", "generating", { tokens: 5 })), "Llamafile model: SmolLM2 (generating: 5 tokens)");
    assert.equal(statusTooltip("S", status("a", "starting", { detail: "loading model… 3 s" })), "Llamafile model: SmolLM2 (loading model… 3 s)");
    assert.equal(statusTooltip("S", status("a", "waiting")), "Llamafile model: SmolLM2 (waiting for the model)");
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

describe("resultNotice", () => {
  it("shows a failure's reason, as bad as the request's outcome", () => {
    const reason = "no model server answers at http://127.0.0.1:9";
    assert.deepEqual(resultNotice({ applied: false, reason }, "failed"), {
      severity: "error",
      text: `llamafile: ${reason}`,
      actions: ["Open Config", "Show Log"],
    });
    assert.equal(resultNotice({ applied: false, reason }, undefined)?.severity, "error", "refused before it began");
    assert.deepEqual(resultNotice({ applied: false, reason: "the model left the code unchanged" }, "unchanged"), {
      severity: "info",
      text: "llamafile: the model left the code unchanged",
      actions: [],
    });
    assert.deepEqual(resultNotice({ applied: false, reason: "the document changed" }, "not applied")?.actions, ["Show Log"]);
  });

  it("keeps quiet about a success, a cancel, and an answer without a reason", () => {
    assert.equal(resultNotice({ applied: true }, "applied"), undefined);
    assert.equal(resultNotice({ applied: false, reason: "cancelled" }, "cancelled"), undefined);
    assert.equal(resultNotice({ applied: false, uri: "file:///answer.md", text: "…" }, "done"), undefined);
  });
});
