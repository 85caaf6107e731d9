/**
 * The arguments of the server's edit commands (`llamafile.edit`, `llamafile.runCommand`), as
 * contract.ts types them: built from a selection, or taken from a code action and completed.
 * Pure.
 */

import { type EditArguments, type Position, type Range, type RunCommandArguments, ServerCommands } from "./contract";

/** A call of one of the two edit commands, its argument typed by the command. */
export type EditCall =
  | { command: typeof ServerCommands.edit; argument: EditArguments }
  | { command: typeof ServerCommands.runCommand; argument: RunCommandArguments };

/**
 * The range to edit: the selection, or the cursor's whole line when nothing is selected.
 * (The server edits whole lines; a selection ending at character 0 leaves that line out.)
 */
export function editRange(selection: Range, lineCount: number, lineLength: (line: number) => number): Range {
  const { start, end } = selection;
  if (start.line !== end.line || start.character !== end.character) {
    // Plain objects: vscode.Position keeps its fields behind getters, which a spread loses.
    return {
      start: { line: start.line, character: start.character },
      end: { line: end.line, character: end.character },
    };
  }
  const line = start.line;
  if (line + 1 < lineCount) {
    return { start: { line, character: 0 }, end: { line: line + 1, character: 0 } };
  }
  // The last line (no line break after it): up to its end.
  return { start: { line, character: 0 }, end: { line, character: lineLength(line) } };
}

export function buildEditCall(uri: string, range: Range, instruction: string, preview: boolean): EditCall {
  const argument: EditArguments = { uri, range, instruction: instruction.trim() };
  if (preview) {
    argument.preview = true;
  }
  return { command: ServerCommands.edit, argument };
}

function isPosition(value: unknown): value is Position {
  const position = value as Partial<Position> | undefined;
  return typeof position === "object" && position !== null && Number.isInteger(position.line) && Number.isInteger(position.character);
}

function isRange(value: unknown): value is Range {
  const range = value as Partial<Range> | undefined;
  return typeof range === "object" && range !== null && isPosition(range.start) && isPosition(range.end);
}

/**
 * The code action's call — `[{uri, range}]` for llamafile.edit, `[{name, uri, range, …}]` for
 * llamafile.runCommand — if that is what `command` and `args` are. What else the server put in
 * the argument (a /fix's diagnostics) stays in it.
 */
export function parseEditCall(command: string, args: readonly unknown[]): EditCall | undefined {
  const first = args[0] as Partial<RunCommandArguments> | undefined;
  if (args.length !== 1 || typeof first !== "object" || first === null) {
    return undefined;
  }
  if (typeof first.uri !== "string" || !isRange(first.range)) {
    return undefined;
  }
  const argument = { ...first, uri: first.uri, range: first.range };
  if (command === ServerCommands.edit) {
    return { command, argument };
  }
  if (command === ServerCommands.runCommand && typeof argument.name === "string") {
    return { command, argument: { ...argument, name: argument.name } };
  }
  return undefined;
}

/** Whether a llamafile.edit call still needs the instruction asked for. */
export function needsInstruction(call: EditCall): boolean {
  return call.command === ServerCommands.edit && (call.argument.instruction ?? "").trim() === "";
}

/** The call with the instruction (llamafile.edit) and the preview setting the user gave. */
export function completeEditCall(call: EditCall, instruction: string | undefined, preview: boolean): EditCall {
  const withPreview = <T extends { preview?: boolean }>(argument: T): T =>
    preview && argument.preview === undefined ? { ...argument, preview: true } : { ...argument };
  if (call.command === ServerCommands.edit) {
    const argument = withPreview(call.argument);
    if (instruction !== undefined) {
      argument.instruction = instruction.trim();
    }
    return { command: call.command, argument };
  }
  return { command: call.command, argument: withPreview(call.argument) };
}

/** "lines 3-7" for a range, 1-based, as the server counts them. */
export function describeLines(range: Range): string {
  const first = range.start.line + 1;
  const last = range.end.character === 0 && range.end.line > range.start.line ? range.end.line : range.end.line + 1;
  return first === last ? `line ${first}` : `lines ${first}-${last}`;
}

/** "editing lines 3-7", "/comment on lines 3-7": what the progress notification and the log call it. */
export function describeCall(call: EditCall): string {
  const lines = describeLines(call.argument.range);
  if (call.command === ServerCommands.edit) {
    return `editing ${lines}`;
  }
  const name = call.argument.name.trim().replace(/^\//, "");
  return `${name === "" ? "command" : `/${name}`} on ${lines}`;
}
