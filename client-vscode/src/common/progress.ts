/**
 * What the server's requests are doing (its `llamafile/status` notifications) and what a
 * failed command's answer shows the user. Pure.
 */

import type { CommandResult, Status } from "./contract";

/**
 * The requests the server reports on, by their id: the running ones (the latest updated
 * last) and how the last ones ended. A notification that comes after its request ended
 * (the client stopped waiting first) does not bring it back.
 */
export class Requests {
  private readonly running = new Map<string, Status>();
  private readonly ended = new Map<string, string | undefined>();

  constructor(private readonly remember = 50) {}

  update(status: Status): void {
    if (this.ended.has(status.request)) {
      return;
    }
    if (status.state === "done") {
      this.end(status.request, status.outcome);
      return;
    }
    this.running.delete(status.request); // re-inserted: the latest updated is the last
    this.running.set(status.request, status);
  }

  /** The request is over (done, or the client stopped waiting for it). */
  end(request: string, outcome?: string): void {
    this.running.delete(request);
    if (outcome !== undefined || !this.ended.has(request)) {
      this.ended.set(request, outcome);
    }
    for (const old of this.ended.keys()) {
      if (this.ended.size <= this.remember) {
        break;
      }
      this.ended.delete(old);
    }
  }

  /** Every request is over (the server stopped). */
  clear(): void {
    for (const request of [...this.running.keys()]) {
      this.end(request);
    }
  }

  /** The request to show: the one updated last. */
  current(): Status | undefined {
    return [...this.running.values()].at(-1);
  }

  /** How a request ended, as its "done" status said ("applied", "unchanged", "failed", …). */
  outcome(request: string): string | undefined {
    return this.ended.get(request);
  }
}

/**
 * The status bar's text: the model, and what its request is doing; else, while an inline
 * suggestion is being computed (completing), that.
 */
export function statusText(model: string | undefined, status: Status | undefined, completing = false): string {
  const name = status?.model ?? model ?? "Llamafile";
  switch (status?.state) {
    case undefined:
    case "done":
      return completing ? `$(loading~spin) ${name}: completing` : `$(sparkle) ${name}`;
    case "waiting":
      return `$(loading~spin) ${name}`;
    case "starting":
      return `$(loading~spin) ${name}: starting llamafile…`;
    case "generating":
      return `$(loading~spin) ${name}: ${status.tokens ?? 0} tokens`;
    case "applying":
      return `$(loading~spin) ${name}: applying`;
  }
}

/** The status bar's tooltip's first line. */
export function statusTooltip(model: string | undefined, status: Status | undefined, completing = false): string {
  const state =
    status === undefined || status.state === "done"
      ? completing
        ? "computing an inline suggestion"
        : "idle"
      : status.state === "generating"
        ? `generating: ${status.tokens ?? 0} tokens`
        : status.state === "waiting"
          ? "waiting for the model"
          : (status.detail ?? status.state);
  return `Llamafile model: ${status?.model ?? model ?? "(unknown)"} (${state})`;
}

export function isCommandResult(value: unknown): value is CommandResult {
  return typeof value === "object" && value !== null && typeof (value as CommandResult).applied === "boolean";
}

export type Action = "Open Config" | "Show Log";

export interface Notice {
  severity: "error" | "warning" | "info";
  text: string;
  actions: Action[];
}

/**
 * What to show for a command's answer (the client shows failures: the server is told so with
 * initializationOptions.showsResults): nothing when it was applied or cancelled; else its
 * reason, as bad as the request's outcome says. A failure without an outcome (the server
 * refused the request before it began) is an error, about the config or the model server.
 */
export function resultNotice(result: CommandResult, outcome: string | undefined): Notice | undefined {
  if (result.applied || result.reason === undefined || result.reason === "cancelled") {
    return undefined;
  }
  const text = `llamafile: ${result.reason}`;
  switch (outcome) {
    case "unchanged":
      return { severity: "info", text, actions: [] };
    case "not applied":
    case "done":
      return { severity: "warning", text, actions: ["Show Log"] };
    default:
      return { severity: "error", text, actions: ["Open Config", "Show Log"] };
  }
}
