// The node as a process under stress: memory stays bounded whatever the
// input asks for and wherever it comes from, a stderr or stdout that goes
// away or fills up, signals, and the real clock answering queued requests
// while stdin stays open. Peak memory is the process's maxRSS (what
// `/usr/bin/time -f %M` reports), read by a preload at exit: ArrayBuffers
// escape --max-old-space-size, so the JS heap alone would hide them.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

// LC_CLI runs these tests against another build, e.g. one without the fixes.
const cli = process.env.LC_CLI ?? join(import.meta.dirname, "..", "..", "dist", "cli.js");
const dir = mkdtempSync(join(tmpdir(), "leastconn-process-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const preload = join(dir, "rss.mjs");
writeFileSync(
  preload,
  `import { writeFileSync } from "node:fs";
process.on("exit", () => writeFileSync(process.env.LC_RSS_OUT, String(process.resourceUsage().maxRSS)));\n`,
);

const line = (body: Record<string, unknown>): string => JSON.stringify({ src: "c", dest: "lb", body }) + "\n";
const init = line({ type: "init", msg_id: 0, backends: ["a", "b", "c"] });

// A file of init then `n` http_requests, each completed three messages later.
function workload(n: number): string {
  const path = join(dir, "workload.jsonl");
  let text = init;
  for (let k = 1; k <= n; k++) {
    text += line({ type: "http_request", msg_id: 2 * k, path: "/api/data" });
    if (k > 3) text += line({ type: "request_complete", msg_id: 2 * k + 1, request_id: 2 * (k - 3) });
  }
  writeFileSync(path, text);
  return path;
}

interface Run {
  child: ChildProcess;
  /** Starts reading stdout, when `read` was false. */
  read: () => void;
  /** Resolves at exit with the code (or signal), stdout's line count, last line and peak RSS in MB. */
  done: Promise<{ code: number | null; lines: number; last: string; rssMB: number }>;
}

// Runs the node with `stdin` (a file path, or bytes written to a pipe, which
// is then closed unless `end` is false); stdout is read and counted from the
// start unless `read` is false.
function run(stdin: string | Uint8Array, { read = true, end = true, args = [] as string[] } = {}): Run {
  const rssOut = join(dir, `rss-${Math.random()}`);
  const fd = typeof stdin === "string" ? openSync(stdin, "r") : "pipe";
  const child = spawn(process.execPath, ["--import", pathToFileURL(preload).href, cli, ...args], {
    stdio: [fd, "pipe", "pipe"],
    env: { ...process.env, LC_RSS_OUT: rssOut },
  });
  if (typeof fd === "number") closeSync(fd);
  else if (end) child.stdin!.end(stdin);
  else child.stdin!.write(stdin);
  let lines = 0;
  let tail = "";
  const count = (chunk: Buffer): void => {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    tail = (tail + chunk.toString("latin1", Math.max(0, chunk.length - 4096))).slice(-4096);
  };
  const startReading = (): void => void child.stdout?.on("data", count);
  if (read) startReading();
  const done = new Promise<{ code: number | null; lines: number; last: string; rssMB: number }>((resolve) =>
    child.on("close", (code, signal) =>
      resolve({
        code: code ?? (signal as never),
        lines,
        last: tail.trimEnd().split("\n").pop() ?? "",
        rssMB: existsSync(rssOut) ? Number(readFileSync(rssOut, "utf8")) / 1024 : NaN,
      }),
    ),
  );
  return { child, read: startReading, done };
}

describe("bounded memory", () => {
  it("million-pick replies with 240-character names stream out in bounded memory", async () => {
    // Each reply is 244 MB: the node must never hold more than a piece of one.
    const name = "N".repeat(240);
    let input = line({ type: "init", msg_id: 1, backends: [name] });
    for (let k = 0; k < 3; k++) input += line({ type: "send_requests", msg_id: k + 2, count: 1_000_000 });
    input += line({ type: "stats", msg_id: 9 });
    const r = await run(new TextEncoder().encode(input), { args: ["--clock", "manual"] }).done;
    expect(r.code).toBe(0);
    expect(r.lines).toBe(5);
    expect(JSON.parse(r.last).body.backends[name].total_requests).toBe(3_000_000);
    expect(r.rssMB).toBeLessThan(300);
  });

  it("input from a file holds the same bound as input from a pipe", () => {
    // Replies ten times the size of the input, read by a fast reader (wc).
    const backends = Array.from({ length: 50 }, (_, k) => `backend-${k}`);
    let input = line({ type: "init", msg_id: 0, backends });
    for (let k = 1; k <= 100_000; k++) input += line({ type: "http_request", msg_id: k });
    const path = join(dir, "wide.jsonl");
    writeFileSync(path, input);
    const peak = (shell: string): number => {
      const rssOut = join(dir, `rss-${Math.random()}`);
      const node = `"${process.execPath}" --import "${pathToFileURL(preload).href}" "${cli}"`;
      const r = spawnSync("sh", ["-c", shell.replace("NODE", node)], { env: { ...process.env, LC_RSS_OUT: rssOut }, encoding: "utf8" });
      expect(r.stdout.trim()).toBe("100001");
      return Number(readFileSync(rssOut, "utf8")) / 1024;
    };
    const file = peak(`NODE < "${path}" | wc -l`);
    const pipe = peak(`cat "${path}" | NODE | wc -l`);
    expect(file).toBeLessThan(pipe * 1.2);
  });
});

describe("standard streams that go away", () => {
  it("a stderr reader that quits costs diagnostics, never replies", async () => {
    let input = init;
    for (let k = 1; k <= 50_000; k++) input += line({ type: "http_request", msg_id: k }) + "x\n";
    const path = join(dir, "noisy.jsonl");
    writeFileSync(path, input);
    const r = run(path);
    r.child.stderr!.once("data", () => r.child.stderr!.destroy());
    const { code, lines } = await r.done;
    expect([code, lines]).toEqual([0, 50_001]);
  });

  it.skipIf(!existsSync("/proc/self/fdinfo"))("a closed stdout stops the reading at once, exit 0", async () => {
    const path = workload(150_000);
    const fd = openSync(path, "r");
    const child = spawn(process.execPath, [cli], { stdio: [fd, "pipe", "pipe"] });
    child.stdout!.once("data", () => child.stdout!.destroy()); // like `| head -c 80`
    const code = await new Promise((resolve) => child.on("close", resolve));
    // The child shared this descriptor: its offset is how far the node read.
    const pos = Number(/^pos:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]);
    closeSync(fd);
    expect(code).toBe(0);
    expect(pos).toBeLessThan(4 << 20);
    expect(readFileSync(path).length).toBeGreaterThan(6 * (4 << 20));
  });

  it.skipIf(!existsSync("/dev/full"))("a full stdout is one line on stderr and exit 1", () => {
    const out = openSync("/dev/full", "w");
    const r = spawnSync(process.execPath, [cli], {
      input: line({ type: "stats", msg_id: 1 }),
      stdio: ["pipe", out, "pipe"],
      encoding: "utf8",
    });
    closeSync(out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^leastconn: cannot write to standard output: ENOSPC: [^\n]*\n$/);
  });
});

describe("signals", () => {
  // 20,001 replies computed and queued behind a reader that has not read yet;
  // the last input line makes a diagnostic, so its arrival on stderr says
  // that every message before it was handled. Stdin stays open.
  async function queued(): Promise<Run> {
    let input = init;
    for (let k = 1; k <= 20_000; k++) input += line({ type: "http_request", msg_id: k });
    const r = run(new TextEncoder().encode(input + "x\n"), { read: false, end: false });
    await new Promise((resolve) => r.child.stderr!.once("data", resolve));
    return r;
  }

  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("%s delivers every computed reply to a slow reader, then exits %i", async (signal, status) => {
    const r = await queued();
    r.child.kill(signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    r.read();
    const { code, lines } = await r.done;
    expect([code, lines]).toEqual([status, 20_001]);
  });

  it("gives a reader that never reads 2 seconds, then exits anyway", async () => {
    const r = await queued();
    const t0 = Date.now();
    r.child.kill("SIGTERM");
    await new Promise((resolve) => r.child.once("exit", resolve));
    const waited = Date.now() - t0;
    r.read();
    const { code, lines } = await r.done;
    expect(code).toBe(143);
    expect(lines).toBeLessThan(20_001);
    expect(waited).toBeGreaterThanOrEqual(1900);
    expect(waited).toBeLessThan(5000);
  });
});

describe("the real clock and the queue", () => {
  it("answers a queued request when its wait runs out, and serves one when a deadline frees a slot, with stdin still open", async () => {
    const child = spawn(process.execPath, [cli], { stdio: ["pipe", "pipe", "pipe"] });
    const lines: Array<{ at: number; body: { in_reply_to?: number; status?: number; reason?: string } }> = [];
    const start = Date.now();
    let buffered = "";
    child.stdout!.setEncoding("utf8").on("data", (text: string) => {
      buffered += text;
      for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
        lines.push({ at: Date.now() - start, body: JSON.parse(buffered.slice(0, i)).body });
        buffered = buffered.slice(i + 1);
      }
    });
    child.stdin!.write(
      line({ type: "init", msg_id: 1, backends: [{ name: "a", max_connections: 1 }], queue: { timeout_ms: 300 } }) +
        line({ type: "http_request", msg_id: 2, duration_ms: 150 }) +
        line({ type: "http_request", msg_id: 3 }) +
        line({ type: "http_request", msg_id: 4 }),
    );
    // 3 is served when 2's deadline passes (about 150 ms), 4 times out (about 300 ms); no more input comes.
    while (lines.length < 4 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 20));
    child.stdin!.end();
    await new Promise((r) => child.on("exit", r));
    expect(lines.map((l) => [l.body.in_reply_to, l.body.status ?? null, l.body.reason ?? null])).toEqual([
      [1, null, null],
      [2, 200, null],
      [3, 200, null],
      [4, 503, "queue_timeout"],
    ]);
    // Not answered early: the input was written after `start`, so its deadlines are at least this far from it.
    expect(lines[2]!.at).toBeGreaterThanOrEqual(150);
    expect(lines[3]!.at).toBeGreaterThanOrEqual(300);
  });
});
