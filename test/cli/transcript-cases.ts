// The golden transcripts as test/cli's suites name them ("protocol/errors",
// "reference/tie-break"), and the node's output for one of them: stdout from
// runSession() and its diagnostics as the binary prints them on stderr
// (runTranscript, the same function every runtime's suite uses).

import { join } from "node:path";
import { runTranscript } from "../runtimes/session-entry.js";
import { listTranscripts } from "../runtimes/transcripts.js";

export const ROOT = join(import.meta.dirname, "..", "..");

export interface Case {
  /** Folder and name under test/transcripts, e.g. "reference/tie-break". */
  name: string;
  /** Absolute path without the ".in.jsonl" / ".out.jsonl" / ".err.txt" ending. */
  base: string;
}

export const cases: Case[] = listTranscripts(ROOT).map((t) => {
  const rel = t.input.slice(0, -".in.jsonl".length);
  return { name: rel.slice("test/transcripts/".length), base: join(ROOT, rel) };
});

export const diagnostics = runTranscript;
