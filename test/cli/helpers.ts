/** Runs `cm` in-process with captured output, as a person at a terminal would see it (minus colours). */
import { run } from '../../src/cli/main.ts';

export interface CmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

export async function cm(argv: readonly string[], env: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<CmResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(argv, { stdout, stderr, env, ...(signal ? { signal } : {}) });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** The rows of a table (header first), split on the two-space column gaps. */
export function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/ {2,}/));
}

export function show(r: CmResult): string {
  return `exit ${String(r.code)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
