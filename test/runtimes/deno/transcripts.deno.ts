// Deno's run of the protocol transcripts: every test/transcripts/**/*.in.jsonl
// through the node's session (test/runtimes/session-entry.ts), compared with
// the .out.jsonl bytes. One test per transcript, plus one that they exist.

import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runSession } from "../session-entry.js";
import { listTranscripts, readBytes, transcriptDiff } from "../transcripts.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const transcripts = listTranscripts(ROOT);

test("transcripts exist", () => {
  assert.ok(transcripts.length > 0);
});

for (const t of transcripts) {
  test(`transcript ${t.input}`, () => {
    assert.equal(transcriptDiff(runSession(readBytes(ROOT, t.input)), readBytes(ROOT, t.output)), null);
  });
}
