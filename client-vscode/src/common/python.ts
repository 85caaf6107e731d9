/**
 * Finding a Python to run the bundled server with. No `vscode` import: the caller hands
 * in the Python extension's interpreter (if any) and a probe that runs a candidate.
 *
 * Order: the `llamafile.python` setting (used or refused, never skipped), the Python
 * extension's interpreter, then `python3` and `python` on PATH.
 */

import { execFile } from "node:child_process";
import { MIN_PYTHON } from "./constants";

export type CandidateSource = "setting" | "python-extension" | "path";

export interface Candidate {
  executable: string;
  source: CandidateSource;
}

export interface Interpreter {
  /** What the server is started with: the resolved sys.executable. */
  executable: string;
  version: [number, number, number];
  source: CandidateSource;
}

export type ProbeResult = { executable: string; version: [number, number, number] } | { error: string };
export type Probe = (executable: string) => Promise<ProbeResult>;

export function candidates(
  setting: string | undefined,
  pythonExtension: string | undefined,
  platform: NodeJS.Platform = process.platform,
): Candidate[] {
  if (setting !== undefined) {
    return [{ executable: setting, source: "setting" }];
  }
  const found: Candidate[] = [];
  if (pythonExtension !== undefined) {
    found.push({ executable: pythonExtension, source: "python-extension" });
  }
  const onPath = platform === "win32" ? ["python", "python3"] : ["python3", "python"];
  for (const name of onPath) {
    found.push({ executable: name, source: "path" });
  }
  return found;
}

export function isSupported(version: readonly number[]): boolean {
  const [major = 0, minor = 0] = version;
  return major > MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor >= MIN_PYTHON[1]);
}

const WANTED = `Python ${MIN_PYTHON.join(".")} or newer`;

function describe(candidate: Candidate): string {
  switch (candidate.source) {
    case "setting":
      return `llamafile.python (${candidate.executable})`;
    case "python-extension":
      return `the Python extension's interpreter (${candidate.executable})`;
    case "path":
      return `${candidate.executable} on PATH`;
  }
}

export class NoPythonError extends Error {}

/**
 * The first candidate that runs and is new enough. The `llamafile.python` setting is the
 * only candidate when set: a wrong setting is reported, not silently passed over.
 */
export async function findInterpreter(list: Candidate[], probe: Probe, log: (line: string) => void = () => {}): Promise<Interpreter> {
  const problems: string[] = [];
  for (const candidate of list) {
    const result = await probe(candidate.executable);
    if ("error" in result) {
      problems.push(`${describe(candidate)}: ${result.error}`);
      log(`python: ${describe(candidate)} does not run: ${result.error}`);
      continue;
    }
    const version = result.version.join(".");
    if (!isSupported(result.version)) {
      problems.push(`${describe(candidate)} is Python ${version}`);
      log(`python: ${describe(candidate)} is Python ${version}; llamafile-ls needs ${WANTED}`);
      continue;
    }
    log(`python: using ${describe(candidate)}: Python ${version} at ${result.executable}`);
    return { executable: result.executable, version: result.version, source: candidate.source };
  }
  const setting = list.length === 1 && list[0]?.source === "setting";
  const fix = setting
    ? `Point llamafile.python at ${WANTED}, or clear it to use the one on PATH.`
    : `Install ${WANTED}, or set llamafile.python to one (or llamafile.serverCommand to a llamafile-ls you installed).`;
  throw new NoPythonError(`llamafile-ls needs ${WANTED}. ${problems.join("; ")}. ${fix}`);
}

const VERSION_SCRIPT = 'import sys; print("%d.%d.%d" % sys.version_info[:3]); print(sys.executable)';

/** Runs `executable -c …` to learn its version and real path (10 s at most). */
export const probeInterpreter: Probe = (executable) =>
  new Promise((resolve) => {
    execFile(executable, ["-c", VERSION_SCRIPT], { timeout: 10_000, windowsHide: true }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const detail = code === "ENOENT" ? "not found" : (stderr.trim().split("\n").pop() ?? "") || error.message;
        resolve({ error: detail });
        return;
      }
      const [versionLine = "", pathLine = ""] = stdout.trim().split(/\r?\n/);
      const parts = versionLine.split(".").map((part) => Number.parseInt(part, 10));
      if (parts.length !== 3 || parts.some((part) => Number.isNaN(part))) {
        resolve({ error: `unexpected answer to a version check: ${JSON.stringify(stdout.slice(0, 200))}` });
        return;
      }
      resolve({ executable: pathLine.trim() || executable, version: [parts[0]!, parts[1]!, parts[2]!] });
    });
  });
