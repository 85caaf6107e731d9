/**
 * Inline completion (ghost text) goes through the language client's own inlineCompletion
 * feature; this middleware around its requests turns it off with
 * `llamafile.inlineCompletion.enable` (read at each request: no restart) and tells the status
 * bar while a suggestion is being computed. Pure: the caller gives the hooks.
 */

import type { Middleware } from "vscode-languageclient/node";

type InlineCompletionMiddleware = Pick<Middleware, "provideInlineCompletionItems">;

export interface InlineHooks {
  /** Whether inline suggestions are on (the setting, now). */
  enabled: () => boolean;
  /** A suggestion is being computed for this request id. */
  begin: (request: string) => void;
  /** That request is over (answered, empty, cancelled or failed). */
  end: (request: string) => void;
}

export function inlineCompletionMiddleware(hooks: InlineHooks): InlineCompletionMiddleware {
  let count = 0;
  return {
    provideInlineCompletionItems: async (document, position, context, token, next) => {
      if (!hooks.enabled()) {
        return undefined; // off: the server is not even asked
      }
      const request = `inline-${++count}`;
      hooks.begin(request);
      try {
        return await next(document, position, context, token);
      } finally {
        hooks.end(request);
      }
    },
  };
}
