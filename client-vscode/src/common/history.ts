/** Recent instructions, newest first, kept in the extension's global state. */

/** The part of `vscode.Memento` used here. */
export interface Store {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

export class InstructionHistory {
  constructor(
    private readonly store: Store,
    private readonly key: string,
    private readonly limit = 20,
  ) {}

  items(): string[] {
    const stored = this.store.get<unknown>(this.key);
    if (!Array.isArray(stored)) {
      return [];
    }
    return stored.filter((item): item is string => typeof item === "string" && item.trim() !== "").slice(0, this.limit);
  }

  /** Puts an instruction first (once), dropping the oldest beyond the limit. */
  async add(instruction: string): Promise<void> {
    const text = instruction.trim();
    if (text === "") {
      return;
    }
    const rest = this.items().filter((item) => item !== text);
    await this.store.update(this.key, [text, ...rest].slice(0, this.limit));
  }

  async remove(instruction: string): Promise<void> {
    await this.store.update(
      this.key,
      this.items().filter((item) => item !== instruction),
    );
  }
}

export interface PickItem {
  label: string;
  description?: string;
  /** True for the item that stands for what was typed. */
  typed: boolean;
}

/**
 * The quick pick's items for what is typed so far: the typed text first (so Enter takes
 * it), then the history entries that contain it.
 */
export function pickItems(value: string, history: readonly string[]): PickItem[] {
  const typed = value.trim();
  const needle = typed.toLowerCase();
  const matching = history.filter((item) => item.toLowerCase().includes(needle) && item !== typed);
  const items: PickItem[] = [];
  if (typed !== "") {
    items.push({ label: typed, description: history.includes(typed) ? "recent" : "new instruction", typed: true });
  }
  for (const item of matching) {
    items.push({ label: item, description: "recent", typed: false });
  }
  return items;
}

/**
 * What Enter in the quick pick means. The items follow the typed text a moment late (the
 * extension host updates them), so an active history entry that does not contain what is
 * typed is stale: the typed text wins.
 */
export function acceptedInstruction(value: string, active: PickItem | undefined): string | undefined {
  const typed = value.trim();
  if (active !== undefined && (active.typed || typed === "" || active.label.toLowerCase().includes(typed.toLowerCase()))) {
    return active.typed && typed !== "" ? typed : active.label;
  }
  return typed === "" ? undefined : typed;
}
