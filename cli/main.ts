// The Node entry of `leastconn`: arguments, stdin/stdout and the real clock.
// Everything else (framing, handling, formatting) is in session.ts and runs
// unchanged in other runtimes. Replies of one input chunk go out in one
// write as soon as the chunk is handled; diagnostics go to stderr.

import { fstatSync, readFileSync, readSync } from "node:fs";
import { parseArgs } from "node:util";
import { Session } from "./session.js";

const USAGE = `Usage: leastconn [options]

The load-balancer node: reads JSON messages on standard input and writes one
reply per line on standard output (protocol: docs/PROTOCOL.md).

Options:
  --clock real|manual  real (default): last_used and duration_ms use the wall
                       clock; manual: the clock starts at 0 and moves only
                       through a "now" field in message bodies
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
        demo: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    return fatalUsage(err instanceof Error ? err.message : String(err));
  }
}

function diagnostic(text: string): void {
  process.stderr.write(`leastconn: ${text}\n`);
}

// A reader that went away is the end of the session, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

function demo(): void {
  const path = new URL("../examples/session.jsonl", import.meta.url);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    diagnostic(`the demo needs ${path.pathname}, which is missing`);
    process.exit(1);
  }
  process.stderr.write(
    "leastconn demo: each request (>) and the node's reply (<), with --clock manual.\n" +
      "Pipe your own messages in with: leastconn < messages.jsonl\n\n",
  );
  const session = new Session({ clock: "manual", onDiagnostic: diagnostic });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let out = "";
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    out += "> " + line + "\n";
    for (const reply of decoder.decode(session.push(encoder.encode(line + "\n"))).split("\n")) {
      if (reply !== "") out += "< " + reply + "\n";
    }
  }
  process.stdout.write(out);
  process.stdout.write(session.end());
}

if (process.argv[2] === "proxy") {
  // A separate bundle (scripts/build.mjs), loaded only for this subcommand.
  const entry = "./proxy-cli.js";
  await ((await import(entry)) as { main(argv: string[]): Promise<never> }).main(process.argv.slice(3));
}
const args = parse();
if (args.help) {
  process.stdout.write(USAGE);
} else if (args.version) {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  process.stdout.write(pkg.version + "\n");
} else if (args.demo) {
  demo();
} else {
  const clock = args.clock ?? "real";
  if (clock !== "real" && clock !== "manual") fatalUsage(`--clock must be "real" or "manual", got ${JSON.stringify(clock)}`);
  // Real time is read once per input chunk; a request's duration_ms deadline
  // is checked whenever input arrives. A completion by deadline prints
  // nothing, so this cannot be told apart from a timer firing, and the
  // process holds no timer that could keep it alive after end of input.
  const session = new Session({ clock: clock === "manual" ? "manual" : Date.now, onDiagnostic: diagnostic });
  if (isRegularFile(0)) void serveFile(session);
  else serveStream(session);
}

// When the reader falls more than MAX_QUEUED bytes behind, stop reading
// until it catches up, so replies never pile up in memory. (Pausing at
// every full pipe would leave the node idle while its reader works.)
const MAX_QUEUED = 4 << 20;

function send(session: Session, out: Uint8Array): void {
  if (out.length > 0) process.stdout.write(out, () => session.recycle(out));
}

// Hands out one input chunk's replies, the part past the session's output
// limit in further writes of at most that size: no single buffer then has to
// hold every reply of a chunk (a chunk of send_requests can ask for gigabytes).
function sendAll(session: Session, out: Uint8Array): void {
  send(session, out);
  while (session.waiting) send(session, session.resume());
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

// Stdin from a pipe or a terminal: a stream, so waiting for input blocks nothing.
function serveStream(session: Session): void {
  const resume = (): void => {
    process.stdin.resume();
  };
  process.stdin.on("data", (chunk: Buffer) => {
    sendAll(session, session.push(chunk));
    if (process.stdout.writableLength > MAX_QUEUED) {
      process.stdin.pause();
      process.stdout.once("drain", resume);
    }
  });
  process.stdin.on("end", () => send(session, session.end()));
}

// Stdin from a regular file (`leastconn < file`): plain reads never block,
// so read it directly into one reused buffer, without a stream's machinery
// or a wait on the thread pool between chunks. (Session copies whatever it
// keeps of a chunk.)
async function serveFile(session: Session): Promise<void> {
  const chunk = new Uint8Array(1 << 16);
  for (;;) {
    const n = readSync(0, chunk, 0, chunk.length, null);
    if (n === 0) break;
    sendAll(session, session.push(chunk.subarray(0, n)));
    if (process.stdout.writableLength > MAX_QUEUED) {
      await new Promise((resolve) => process.stdout.once("drain", resolve));
    }
  }
  send(session, session.end());
}
