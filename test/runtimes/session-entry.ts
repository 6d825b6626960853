// The one place where the protocol transcripts meet the node's handler.
// Every runtime (Node via vitest, Deno directly, Chromium through an esbuild
// bundle of this file) runs the transcripts through exactly this function:
// whole stdin bytes in, whole stdout and stderr text out, with the
// session's manual clock.

import { runSession } from "../../cli/session.js";

export interface TranscriptRun {
  out: string;
  /** Diagnostics, one line each as the binary writes them to standard error. */
  err: string;
}

export function runTranscript(input: Uint8Array): TranscriptRun {
  let err = "";
  const out = runSession(input, { onDiagnostic: (text) => (err += `leastconn: ${text}\n`) });
  return { out, err };
}
