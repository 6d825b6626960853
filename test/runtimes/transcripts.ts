// Golden protocol transcripts (test/transcripts/**/NAME.in.jsonl,
// NAME.out.jsonl and, where the node must print diagnostics, NAME.err.txt):
// finding them on disk (node:fs, which Node and Deno both have) and
// comparing a runtime's output with the golden bytes.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

export interface Transcript {
  /** Path of the .in.jsonl from the repository root, with "/" separators. */
  input: string;
  /** Path of the .out.jsonl likewise. */
  output: string;
  /** Path of the .err.txt (expected standard error), or null when there is none. */
  errors: string | null;
}

/**
 * Every transcript under `root`/test/transcripts, sorted by path; none when
 * the folder is missing (the tests then fail on "transcripts exist" alone,
 * not on loading).
 */
export function listTranscripts(root: string): Transcript[] {
  const found: Transcript[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".in.jsonl")) {
        const input = relative(root, path).split("\\").join("/");
        const base = input.slice(0, -".in.jsonl".length);
        found.push({ input, output: `${base}.out.jsonl`, errors: existsSync(join(root, `${base}.err.txt`)) ? `${base}.err.txt` : null });
      }
    }
  };
  const top = join(root, "test", "transcripts");
  if (existsSync(top)) walk(top);
  return found.sort((a, b) => (a.input < b.input ? -1 : a.input > b.input ? 1 : 0));
}

export function readBytes(root: string, path: string): Uint8Array {
  return new Uint8Array(readFileSync(join(root, path)));
}

/**
 * Null when `actual` encodes to exactly `expected`; otherwise where they part
 * (line number and both lines), for the failure message.
 */
export function transcriptDiff(actual: string, expected: Uint8Array): string | null {
  const bytes = new TextEncoder().encode(actual);
  if (bytes.length === expected.length && bytes.every((b, i) => b === expected[i])) return null;
  const want = new TextDecoder().decode(expected).split("\n");
  const got = actual.split("\n");
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    if (want[i] !== got[i]) return `line ${i + 1}:\n  expected ${JSON.stringify(want[i])}\n  actual   ${JSON.stringify(got[i])}`;
  }
  return "the bytes differ (not as text: invalid UTF-8 in the golden file?)";
}

/** Every way a run differs from the golden files of `t`; empty when it matches. */
export function transcriptFailures(root: string, t: Transcript, run: { out: string; err: string }): string[] {
  const failures: string[] = [];
  const out = transcriptDiff(run.out, readBytes(root, t.output));
  if (out !== null) failures.push(`${t.output}: ${out}`);
  if (t.errors !== null) {
    const err = transcriptDiff(run.err, readBytes(root, t.errors));
    if (err !== null) failures.push(`${t.errors}: ${err}`);
  }
  return failures;
}
