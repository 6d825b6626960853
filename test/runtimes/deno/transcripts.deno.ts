// Deno's run of the protocol transcripts: every test/transcripts/**/*.in.jsonl
// through the node's session (test/runtimes/session-entry.ts), compared with
// the .out.jsonl bytes and the .err.txt diagnostics where there is one. One
// test per transcript, plus one that they exist.

import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runTranscript } from "../session-entry.js";
import { listTranscripts, readBytes, transcriptFailures } from "../transcripts.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const transcripts = listTranscripts(ROOT);

test("transcripts exist", () => {
  assert.ok(transcripts.length > 0);
});

for (const t of transcripts) {
  test(`transcript ${t.input}`, () => {
    assert.deepEqual(transcriptFailures(ROOT, t, runTranscript(readBytes(ROOT, t.input))), []);
  });
}
