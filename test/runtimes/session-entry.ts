// >>> THE PLUG: the one place where the protocol transcripts meet the node's
// handler. Every runtime (Node via vitest, Deno directly, Chromium through
// an esbuild bundle of this file) runs the transcripts through exactly this
// export: whole stdin bytes in, whole stdout text out, manual clock.

export { runSession } from "../../cli/session.js";
