import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as vscode from "vscode";
import { inlineCompletionMiddleware } from "../../common/inline";

// The middleware passes these through untouched: stand-ins are enough.
const document = {} as vscode.TextDocument;
const position = {} as vscode.Position;
const context = {} as vscode.InlineCompletionContext;
const token = {} as vscode.CancellationToken;
const item = { insertText: "return a + b" } as vscode.InlineCompletionItem;

function setUp(enabled: boolean, answer: () => Promise<vscode.InlineCompletionItem[]>) {
  const events: string[] = [];
  let asked = 0;
  const middleware = inlineCompletionMiddleware({
    enabled: () => enabled,
    begin: (request) => events.push(`begin ${request}`),
    end: (request) => events.push(`end ${request}`),
  });
  const provide = (): Promise<unknown> =>
    Promise.resolve(
      middleware.provideInlineCompletionItems?.(document, position, context, token, () => {
        asked += 1;
        events.push("asked");
        return answer();
      }),
    );
  return { events, provide, asked: () => asked };
}

describe("inlineCompletionMiddleware", () => {
  it("asks the server and shows the request as being computed until it answers", async () => {
    const { events, provide } = setUp(true, async () => [item]);
    assert.deepEqual(await provide(), [item]);
    assert.deepEqual(await provide(), [item]);
    assert.deepEqual(events, ["begin inline-1", "asked", "end inline-1", "begin inline-2", "asked", "end inline-2"]);
  });

  it("ends the request when it fails too", async () => {
    const { events, provide } = setUp(true, () => Promise.reject(new Error("cancelled")));
    await assert.rejects(provide(), /cancelled/);
    assert.deepEqual(events, ["begin inline-1", "asked", "end inline-1"]);
  });

  it("gives nothing and asks nothing when llamafile.inlineCompletion.enable is off", async () => {
    const { events, provide, asked } = setUp(false, async () => [item]);
    assert.equal(await provide(), undefined);
    assert.equal(asked(), 0);
    assert.deepEqual(events, []);
  });
});
