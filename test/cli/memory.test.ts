// Memory bounds of the request bookkeeping, measured as what they claim:
// the peak RSS of the node's process (ArrayBuffers escape the JS heap
// limits), each run beside a control run in the same test that differs only
// in what is tracked. Needs `npm run build` (dist/cli.js).

import { type StdioOptions, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const cli = join(root, "dist", "cli.js");
const TIME = "/usr/bin/time";
// Without GNU time, the child reports its own peak at exit.
const REPORT_RSS = 'data:text/javascript,process.on("exit",()=>process.stderr.write("\\n"+process.resourceUsage().maxRSS+"\\n"))';

/**
 * Runs the node on `input`; returns its stdout (when `output`) and peak RSS
 * in bytes. Input comes from a file, read into one reused buffer, and
 * output (unless kept) goes to /dev/null, written at once: no input chunks
 * or queued replies wait for the garbage collector to blur the measure.
 */
function run(input: string, args: string[] = [], output = false): { stdout: string; rss: number } {
  const dir = mkdtempSync(join(tmpdir(), "leastconn-memory-"));
  const file = join(dir, "input.jsonl");
  writeFileSync(file, input);
  const fd = openSync(file, "r");
  const node = [cli, "--clock", "manual", ...args];
  const stdio: StdioOptions = [fd, output ? "pipe" : "ignore", "pipe"];
  const options = { stdio, maxBuffer: 1 << 30, encoding: "latin1" as const };
  const r = existsSync(TIME)
    ? spawnSync(TIME, ["-f", "%M", process.execPath, ...node], options)
    : spawnSync(process.execPath, ["--import", REPORT_RSS, ...node], options);
  closeSync(fd);
  rmSync(dir, { recursive: true });
  expect(r.status, r.stderr).toBe(0);
  const lines = r.stderr.trim().split("\n");
  return { stdout: r.stdout ?? "", rss: Number(lines[lines.length - 1]) * 1024 };
}

const INIT = '{"src":"c","dest":"lb","body":{"type":"init","backends":["a","b","c"]}}\n';
const lines = (n: number, line: (i: number) => string): string => {
  const out: string[] = [INIT];
  for (let i = 1; i <= n; i++) out.push(line(i));
  return out.join("");
};

describe("memory of tracked requests (peak RSS of the node)", () => {
  it("completed requests with a long duration_ms leave nothing behind (defect 6.4)", () => {
    const n = 300_000;
    const body = (i: number, extra: string) =>
      `{"src":"c","dest":"lb","body":{"type":"http_request","msg_id":${i}${extra}}}\n` +
      `{"src":"c","dest":"lb","body":{"type":"request_complete","request_id":${i}}}\n`;
    const deadline = ',"duration_ms":2147483647';
    const withDeadline = run(lines(n, (i) => body(i, deadline)));
    // The control reads as many bytes: a path instead of the deadline.
    const without = run(lines(n, (i) => body(i, `,"path":"${"/".repeat(deadline.length - 10)}"`)));
    // Before the fix each completed request stayed in the deadline heap
    // until its deadline, 24.8 days later: 90 MB more here.
    const extra = withDeadline.rss - without.rss;
    console.log(`duration_ms on ${n} completed requests: ${(extra / 2 ** 20).toFixed(1)} MB more peak RSS`);
    expect(extra).toBeLessThan(8 * 2 ** 20);
  }, 60_000);

  it("open tracked requests cost a few tens of bytes each, and --max-open bounds them (defect 6.5)", () => {
    const n = 500_000;
    const request = (extra: string) => (i: number) =>
      `{"src":"c","dest":"lb","body":{"type":"http_request"${extra ? `,"msg_id":${i}` : ""}}}\n`;
    const tracked = run(lines(n, request("id")));
    const untracked = run(lines(n, request("")));
    const perRequest = (tracked.rss - untracked.rss) / n;
    console.log(`${n} open tracked requests: ${perRequest.toFixed(1)} bytes each of peak RSS`);
    // 32 bytes a slot (test/cli/requests.test.ts), with room to grow (the
    // arrays double) and the old arrays not yet freed when they do: about 50
    // to 60 at the peak. Before: 254.
    expect(perRequest).toBeLessThan(96);

    const limited = run(lines(1_001, request("id")), ["--max-open", "1000"], true);
    const replies = limited.stdout.trim().split("\n");
    expect(replies[1000]).toContain('"status": 200');
    expect(replies[1001]).toBe(
      '{"src": "lb", "dest": "c", "body": {"type": "error", "in_reply_to": 1001, "code": 11, "text": "too many open requests: 1000 are tracked (the --max-open limit); complete some first"}}',
    );
  }, 60_000);

  it("--max-open takes an integer from 0 to 2^31-1, else the node exits 2 with a message", () => {
    for (const bad of ["-1", "1.5", "", "2147483648", "many"]) {
      const r = spawnSync(process.execPath, [cli, `--max-open=${bad}`], { input: "", encoding: "utf8" });
      expect(r.status, bad).toBe(2);
      expect(r.stderr).toContain(`--max-open must be an integer from 0 to 2147483647, got ${JSON.stringify(bad)}`);
    }
    const none = run(
      lines(2, (i) => `{"src":"c","dest":"lb","body":{"type":"http_request","msg_id":${i}}}\n`),
      ["--max-open", "0"],
      true,
    );
    expect(
      none.stdout
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => JSON.parse(l).body.code),
    ).toEqual([11, 11]);
  });
});
