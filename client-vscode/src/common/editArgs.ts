/**
 * The argument of the server's `llamafile.edit` command, built from a selection or taken
 * from a code action and completed. Pure.
 */

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface EditArgument {
  uri: string;
  range: Range;
  instruction?: string;
  model?: string;
  preview?: boolean;
  [key: string]: unknown;
}

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

export function buildEditArgument(uri: string, range: Range, instruction: string, preview: boolean): EditArgument {
  const argument: EditArgument = { uri, range, instruction: instruction.trim() };
  if (preview) {
    argument.preview = true;
  }
  return argument;
}

function isPosition(value: unknown): value is Position {
  const position = value as Position | undefined;
  return typeof position === "object" && position !== null && Number.isInteger(position.line) && Number.isInteger(position.character);
}

/** The code action's argument (`[{uri, range}]`) if that is what `args` is. */
export function parseEditArgument(args: readonly unknown[]): EditArgument | undefined {
  const first = args[0] as Partial<EditArgument> | undefined;
  if (args.length !== 1 || typeof first !== "object" || first === null) {
    return undefined;
  }
  if (typeof first.uri !== "string" || typeof first.range !== "object" || first.range === null) {
    return undefined;
  }
  if (!isPosition(first.range.start) || !isPosition(first.range.end)) {
    return undefined;
  }
  return first as EditArgument;
}

export function hasInstruction(argument: EditArgument): boolean {
  return typeof argument.instruction === "string" && argument.instruction.trim() !== "";
}

/** The argument with the instruction (and the preview setting) the user gave. */
export function completeEditArgument(argument: EditArgument, instruction: string | undefined, preview: boolean): EditArgument {
  const completed: EditArgument = { ...argument };
  if (instruction !== undefined) {
    completed.instruction = instruction.trim();
  }
  if (preview && completed.preview === undefined) {
    completed.preview = true;
  }
  return completed;
}

/** "lines 3-7" for a range, 1-based, as the server counts them. */
export function describeLines(range: Range): string {
  const first = range.start.line + 1;
  const last = range.end.character === 0 && range.end.line > range.start.line ? range.end.line : range.end.line + 1;
  return first === last ? `line ${first}` : `lines ${first}-${last}`;
}

/** "/comment" for a llamafile.runCommand argument ({name: "comment", …}). */
export function describeCommand(argument: EditArgument): string {
  return typeof argument.name === "string" && argument.name !== "" ? `/${argument.name}` : "command";
}
