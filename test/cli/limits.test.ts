// Output limits and arrival time. A chunk of requests whose replies are huge
// must not need unbounded memory: past the session's output limit the rest
// (of the chunk, or of one long reply) waits for resume(), in order, and the
// bytes are those of an unlimited run. (The binary's peak memory: process.test.ts.)
// A send_requests reply that could outgrow any buffer is refused up front.
// Every message, even one that gets no reply, moves the manual clock.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_REPLY_BYTES } from "../../cli/handler.js";
import { runSession, Session } from "../../cli/session.js";

const root = join(import.meta.dirname, "..", "..");
const enc = (lines: unknown[]): Uint8Array => new TextEncoder().encode(lines.map((l) => JSON.stringify(l) + "\n").join(""));
const msg = (body: Record<string, unknown>, src = "c"): unknown => ({ src, dest: "lb", body });
const latin1 = new TextDecoder("latin1");

describe("output limit", () => {
  const dir = join(root, "test", "transcripts");
  const inputs = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(dir, d.name))
        .filter((f) => f.endsWith(".in.jsonl"))
        .map((f) => join(dir, d.name, f)),
    );

  it("a limit of one byte changes no transcript's output or diagnostics", () => {
    expect(inputs.length).toBeGreaterThan(10);
    for (const file of inputs) {
      const input = readFileSync(file);
      const run = (maxOutput?: number) => {
        let err = "";
        const out = runSession(input, { maxOutput, onDiagnostic: (t) => (err += t + "\n") });
        return { out, err };
      };
      expect(run(1), file).toEqual(run());
    }
  });

  it("holds the rest of a chunk once the limit is passed, and resume() hands it out in order", () => {
    const session = new Session({ clock: "manual", maxOutput: 150 });
    const input = enc([
      msg({ type: "init", msg_id: 1, backends: ["a", "b"] }),
      msg({ type: "http_request", msg_id: 2 }),
      msg({ type: "http_request", msg_id: 3 }),
      msg({ type: "stats", msg_id: 4 }),
    ]);
    const first = latin1.decode(session.push(input));
    expect(
      first
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l).body.in_reply_to),
    ).toEqual([1, 2]);
    expect(session.waiting).toBe(true);
    const second = latin1.decode(session.resume());
    expect(
      second
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l).body.in_reply_to),
    ).toEqual([3]);
    expect(JSON.parse(second).body.backend).toBe("b");
    expect(session.waiting).toBe(true);
    const third = latin1.decode(session.resume());
    expect(JSON.parse(third).body.backends.a.active_connections).toBe(1);
    expect(session.waiting).toBe(false);
    expect(latin1.decode(session.end())).toBe("");
  });

  it("a long send_requests reply comes in pieces of about the limit, the same bytes as in one", () => {
    const input = enc([
      msg({ type: "init", msg_id: 1, backends: ["alpha", "beta"] }),
      msg({ type: "send_requests", msg_id: 2, count: 1000 }),
      msg({ type: "stats", msg_id: 3 }),
    ]);
    const session = new Session({ clock: "manual", maxOutput: 1000 });
    const pieces = [latin1.decode(session.push(input))];
    while (session.waiting) pieces.push(latin1.decode(session.resume()));
    pieces.push(latin1.decode(session.end()));
    // 1000 picks of about 8 bytes: eight or nine pieces, none much over the limit.
    expect(pieces.length).toBeGreaterThanOrEqual(9);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(1000 + 300);
    expect(pieces.join("")).toBe(runSession(input));
    expect(JSON.parse(pieces.join("").split("\n")[1]!).body.backends.length).toBe(1000);
  });
});

describe("send_requests reply size", () => {
  it("a reply that could pass MAX_REPLY_BYTES is error 12 and routes nothing", () => {
    const name = "x".repeat(300);
    expect(1_000_000 * (name.length + 4)).toBeGreaterThan(MAX_REPLY_BYTES);
    const out = runSession(
      enc([
        msg({ type: "init", msg_id: 1, backends: [name, "b"] }),
        msg({ type: "send_requests", msg_id: 2, count: 1_000_000 }),
        msg({ type: "send_requests", msg_id: 3, count: 100 }),
        msg({ type: "stats", msg_id: 4 }),
      ]),
    ).split("\n");
    const refused = JSON.parse(out[1]!).body;
    expect(refused).toMatchObject({ type: "error", in_reply_to: 2, code: 12 });
    expect(refused.text).toContain("send fewer");
    expect(JSON.parse(out[2]!).body.type).toBe("send_requests_ok");
    const stats = JSON.parse(out[3]!).body.backends;
    expect(stats[name].total_requests + stats.b.total_requests).toBe(100);
  });
});

describe("arrival time (manual clock)", () => {
  it("a backend's http_response moves the clock and fires due deadlines before it completes anything", () => {
    const out = runSession(
      enc([
        msg({ type: "init", msg_id: 1, backends: ["a", "b"] }),
        msg({ type: "send_requests", msg_id: 2, count: 2 }),
        msg({ type: "http_request", msg_id: 3, duration_ms: 0 }),
        msg({ type: "http_response", in_reply_to: 777 }, "a"),
        msg({ type: "stats", msg_id: 4 }),
      ]),
    ).split("\n");
    expect(JSON.parse(out[2]!).body.backend).toBe("a");
    const stats = JSON.parse(out[3]!).body.backends;
    expect([stats.a.active_connections, stats.b.active_connections]).toEqual([0, 1]);
  });

  it("messages without a reply or with a bad msg_id still move the clock", () => {
    const out = runSession(
      enc([
        msg({ type: "init", msg_id: 1, backends: ["a"] }),
        msg({ type: "http_response", now: 50 }, "a"),
        msg({ type: "stats", msg_id: -1, now: 100 }),
        msg({ type: "whatever", in_reply_to: 3, now: 200 }),
        msg({ type: "http_request", msg_id: 5 }),
        msg({ type: "stats", msg_id: 6 }),
      ]),
    ).split("\n");
    expect(JSON.parse(out[3]!).body.backends.a.last_used).toBe(200);
  });
});
