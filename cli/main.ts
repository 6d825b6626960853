// The Node entry of `leastconn`: arguments, stdin/stdout, signals and the
// real clock. Everything else (framing, handling, formatting) is in
// session.ts and runs unchanged in other runtimes. What the process does on
// a signal, a closed stdout or a full disk is in docs/PROTOCOL.md ("The process").

import { fstatSync, readFileSync, readSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { parseArgs } from "node:util";
import { Session } from "./session.js";

if (process.argv[2] === "proxy") {
  // A separate bundle (scripts/build.mjs), loaded only for this subcommand,
  // before this node sets its own signal and stdout handlers.
  const entry = "./proxy-cli.js";
  await ((await import(entry)) as { main(argv: string[]): Promise<never> }).main(process.argv.slice(3));
}

const USAGE = `Usage: leastconn [options]
       leastconn proxy|simulate ...   (the HTTP proxy and the simulator; each has --help)

The load-balancer node: reads JSON messages on standard input and writes one
reply per line on standard output (protocol: docs/PROTOCOL.md).

Options:
  --clock real|manual  real (default): last_used and duration_ms use the wall
                       clock; manual: the clock starts at 0 and moves only
                       through a "now" field in message bodies
  --max-open N         most requests tracked (by msg_id or duration_ms) at once;
                       past it, http_request gets error 11 (default 1000000)
  --demo               replay the bundled example session (examples/session.jsonl)
  -h, --help           print this help
  -v, --version        print the version

Example:
  echo '{"src":"c","dest":"lb","body":{"type":"init","msg_id":1,"backends":["a","b"]}}' | leastconn
`;

function fatalUsage(message: string): never {
  process.stderr.write(`leastconn: ${message}\nTry 'leastconn --help'.\n`);
  process.exit(2);
}

function parse() {
  try {
    return parseArgs({
      options: {
        clock: { type: "string" },
        "max-open": { type: "string" },
        demo: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    }).values;
  } catch (err) {
    return fatalUsage(err instanceof Error ? err.message : String(err));
  }
}

// Diagnostics are a courtesy: a stderr that fails or whose reader went away
// is dropped, and replies go on.
let stderrOpen = true;
process.stderr.on("error", () => (stderrOpen = false));
function diagnostic(text: string): void {
  if (stderrOpen) process.stderr.write(`leastconn: ${text}\n`);
}

// A reader that went away is the end of the session, not an error; any other
// failure to write replies (a full disk) ends it with one line.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  diagnostic(`cannot write to standard output: ${err.message}`);
  process.exit(1);
});

// Set by SIGTERM or SIGINT: handle no more input, let the replies computed so
// far reach the reader (for at most FLUSH_MS), then exit 128 + the signal's
// number. A second signal exits at once.
let stopping = false;
const FLUSH_MS = 2000;
function stop(signal: NodeJS.Signals): void {
  const code = 128 + osConstants.signals[signal];
  if (stopping) process.exit(code);
  stopping = true;
  process.stdout.end(() => process.exit(code));
  setTimeout(() => process.exit(code), FLUSH_MS);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

function demo(): void {
  const path = new URL("../examples/session.jsonl", import.meta.url);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    diagnostic(`the demo needs ${path.pathname}, which is missing`);
    process.exit(1);
  }
  process.stderr.write(`leastconn demo: each request (>) and the node's reply (<), with --clock manual.
Pipe your own messages in with: leastconn < messages.jsonl\n\n`);
  const session = new Session({ clock: "manual", onDiagnostic: diagnostic });
  let out = "";
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    out += "> " + line + "\n";
    let replies = Buffer.from(session.push(Buffer.from(line + "\n"))).toString("latin1");
    while (session.waiting) replies += Buffer.from(session.resume()).toString("latin1");
    for (const reply of replies.split("\n")) if (reply !== "") out += "< " + reply + "\n";
  }
  process.stdout.write(out);
  process.stdout.write(session.end());
}

// `leastconn simulate` runs a separately built file (dist/simulate.js); a variable keeps esbuild from bundling it here.
const simulate = process.argv[2] === "simulate" ? "./simulate.js" : undefined;
const args = simulate === undefined ? parse() : ({} as ReturnType<typeof parse>);
if (simulate !== undefined) {
  process.exitCode = ((await import(simulate)) as { main(argv: string[]): number }).main(process.argv.slice(3));
} else if (args.help) {
  process.stdout.write(USAGE);
} else if (args.version) {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  process.stdout.write(pkg.version + "\n");
} else if (args.demo) {
  demo();
} else {
  const clock = args.clock ?? "real";
  if (clock !== "real" && clock !== "manual") fatalUsage(`--clock must be "real" or "manual", got ${JSON.stringify(clock)}`);
  // Real time is read, and deadlines checked, once per input chunk: a
  // completion by deadline prints nothing, so no timer is needed for it.
  const maxOpen = args["max-open"] === undefined ? undefined : Number(args["max-open"]);
  if (maxOpen !== undefined && !(/^[0-9]+$/.test(args["max-open"]!) && maxOpen <= 0x7fffffff)) {
    fatalUsage(`--max-open must be an integer from 0 to 2147483647, got ${JSON.stringify(args["max-open"])}`);
  }
  const session = new Session({ clock: clock === "manual" ? "manual" : Date.now, onDiagnostic: diagnostic, maxOpen });
  serve(session, isRegularFile(0) ? fileChunks() : process.stdin).catch((err: Error) => {
    diagnostic(`cannot read standard input: ${err.message}`);
    process.exit(1);
  });
}

// When the reader falls more than MAX_QUEUED bytes behind, stop reading
// until it catches up, so replies never pile up in memory. (Pausing at
// every full pipe would leave the node idle while its reader works.)
const MAX_QUEUED = 4 << 20;

// While requests wait in the queue, the clock alone can answer them: one
// timer, set to the session's wakeAt, resumes it; none once nothing waits.
let wakeTimer: ReturnType<typeof setTimeout> | undefined;

function send(session: Session, out: Uint8Array): void {
  if (out.length > 0 && !stopping) process.stdout.write(out, () => session.recycle(out));
  clearTimeout(wakeTimer);
  const at = session.wakeAt;
  wakeTimer =
    at === undefined || stopping || session.waiting
      ? undefined
      : setTimeout(() => send(session, session.resume()), Math.max(0, at - Date.now()));
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

// Stdin from a regular file (`leastconn < file`): plain reads never block,
// so read it directly into one reused buffer, without a stream's machinery
// or a wait on the thread pool between chunks. (Session copies whatever it
// keeps of a chunk.)
function* fileChunks(): Generator<Uint8Array> {
  const chunk = new Uint8Array(1 << 16);
  for (let n: number; (n = readSync(0, chunk, 0, chunk.length, null)) > 0; ) yield chunk.subarray(0, n);
}

// A chunk's replies go to stdout before the next chunk is read, past the
// session's output limit in pieces, each once the reader is less than
// MAX_QUEUED behind. Between them the event loop runs: write callbacks free
// output buffers, and a closed stdout or a signal is seen.
async function serve(session: Session, input: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
  for await (const chunk of input) {
    if (stopping) return;
    send(session, session.push(chunk));
    for (;;) {
      const queued = process.stdout.writableLength > MAX_QUEUED;
      await new Promise((resolve) => (queued ? process.stdout.once("drain", resolve) : setImmediate(resolve)));
      if (stopping) return;
      if (!session.waiting) break;
      send(session, session.resume());
    }
  }
  send(session, session.end());
}
