/** What the server's work-done progress messages mean for the status bar. Pure. */

export type Activity =
  | { kind: "idle" }
  | { kind: "waiting" }
  | { kind: "starting"; detail: string }
  | { kind: "generating"; tokens: number };

/**
 * The server reports "Starting llamafile… loading model N s" while it starts a llamafile,
 * then "N tokens" while the model streams.
 */
export function activityFromMessage(message: string | undefined): Activity | undefined {
  if (message === undefined) {
    return undefined;
  }
  const tokens = /^(\d+) tokens?\b/.exec(message.trim());
  if (tokens) {
    return { kind: "generating", tokens: Number.parseInt(tokens[1]!, 10) };
  }
  if (/^starting llamafile/i.test(message.trim())) {
    return { kind: "starting", detail: message.trim() };
  }
  return undefined;
}

export function statusText(model: string | undefined, activity: Activity): string {
  const name = model ?? "Llamafile";
  switch (activity.kind) {
    case "idle":
      return `$(sparkle) ${name}`;
    case "waiting":
      return `$(loading~spin) ${name}`;
    case "starting":
      return `$(loading~spin) ${name}: starting llamafile…`;
    case "generating":
      return `$(loading~spin) ${name}: ${activity.tokens} tokens`;
  }
}

/** The outcome of `llamafile.edit` / `llamafile.runCommand`, as the server answers it. */
export interface CommandResult {
  applied: boolean;
  reason?: string;
}

export function isCommandResult(value: unknown): value is CommandResult {
  return typeof value === "object" && value !== null && typeof (value as CommandResult).applied === "boolean";
}

/**
 * Messages the server showed (window/showMessage) recently, so that a failed edit's reason,
 * which the server usually shows itself, is not shown a second time.
 */
export class ShownMessages {
  private readonly shown: { text: string; at: number }[] = [];

  constructor(
    private readonly keepMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  record(text: string): void {
    const at = this.now();
    this.shown.push({ text, at });
    while (this.shown.length > 0 && at - this.shown[0]!.at > this.keepMs) {
      this.shown.shift();
    }
  }

  /** Whether a message carrying this reason was shown since `since`. */
  shownSince(reason: string, since: number): boolean {
    const needle = reason.trim();
    return this.shown.some((entry) => entry.at >= since && entry.text.includes(needle));
  }
}

/** Reasons that need no message: the user did it, or progress said it already. */
export function isQuietReason(reason: string | undefined): boolean {
  return reason === undefined || reason === "cancelled";
}
