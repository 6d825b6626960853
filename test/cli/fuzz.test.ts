// Property tests: random and mutated input thrown at a whole session, the
// path production runs (framer, parser, handler, formatter), in random
// chunks. Over 10,000 inputs reach the framing and the handler; every valid
// request among them must still get exactly the reply it gets alone, and no
// input may throw, hang or change state when it errs.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Handler } from "../../cli/handler.js";
import { runSession, Session } from "../../cli/session.js";
import { fingerprint } from "./helpers.js";

const enc = new TextEncoder();
const NAMES = ["api-1", "api-2", "api-3", "__proto__", "10", "constructor", "é"];
const ALGORITHMS = ["least-connections", "round-robin", "p2c", "random", "weighted_least_connections", "weighted-round-robin", "bogus"];

// Field values: mostly plausible, sometimes of the wrong type or range.
const anyJson = fc.jsonValue({ maxDepth: 2 });
const name = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: anyJson });
const small = fc.oneof({ weight: 8, arbitrary: fc.nat(6) }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: fc.integer() });
const snapshot = fc.dictionary(fc.constantFrom(...NAMES), small, { maxKeys: 4 });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

const requestBody = fc.oneof(
  fc.record({
    type: fc.constant("http_request"),
    algorithm: opt(fc.constantFrom(...ALGORITHMS)),
    active_connections: opt(snapshot),
    duration_ms: opt(small),
    method: opt(fc.constant("GET")),
  }),
  fc.record({
    type: fc.constantFrom("request_complete", "release", "request_done", "http_request_complete"),
    backend: opt(name),
    request_id: opt(small),
  }),
  fc.record({ type: fc.constant("send_requests"), count: opt(small), algorithm: opt(fc.constantFrom(...ALGORITHMS)) }),
  fc.record({
    type: fc.constantFrom("add_backend", "remove_backend", "backend_down", "backend_up", "set_weight"),
    backend: opt(name),
    weight: opt(small),
  }),
  fc.record({ type: fc.constantFrom("stats", "nonsense") }),
  fc.record({
    type: fc.constant("init"),
    backends: opt(fc.array(name, { maxLength: 4 })),
    algorithm: opt(fc.constantFrom(...ALGORITHMS)),
    seed: opt(small),
  }),
);

function withId<T extends object>(body: T, id: number): T & { msg_id: number } {
  return { ...body, msg_id: id };
}

function message(src: string, body: object): string {
  return JSON.stringify({ src, dest: "lb", body });
}

// Junk: random bytes, or a message from "junk" cut, corrupted or padded.
const junk = fc.oneof(
  fc.uint8Array({ maxLength: 48 }),
  fc.tuple(requestBody, fc.nat(), fc.nat(255), fc.constantFrom("cut", "flip", "insert", "nest", "utf8")).map(([body, at, byte, how]) => {
    const bytes = enc.encode(message("junk", withId(body, 1)));
    const i = at % bytes.length;
    switch (how) {
      case "cut":
        return bytes.subarray(0, i);
      case "flip": {
        const b = bytes.slice();
        b[i] = byte;
        return b;
      }
      case "insert":
        return new Uint8Array([...bytes.subarray(0, i), byte, ...bytes.subarray(i)]);
      case "nest":
        return enc.encode(`{"src":"junk","dest":"lb","body":${"[".repeat(40 + (at % 60))}`);
      default:
        return new Uint8Array([...bytes.subarray(0, i), 0xc3, 0x28, ...bytes.subarray(i)]);
    }
  }),
);

// A line that is an error in every state inside a frame, and garbage outside
// one: after it the framer is between messages whatever the junk left.
const GUARD = enc.encode("\n#\n");

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const latin1 = new TextDecoder("latin1");

// A session's stdout lines and stderr lines, the input pushed in pieces cut at `cuts`.
function session(input: Uint8Array, cuts: number[]): { out: string[]; err: string[] } {
  const err: string[] = [];
  const s = new Session({ clock: "manual", onDiagnostic: (t) => err.push(t) });
  let out = "";
  let from = 0;
  for (const c of [...cuts.map((x) => x % (input.length + 1)), input.length].sort((a, b) => a - b)) {
    out += latin1.decode(s.push(input.subarray(from, c)));
    from = c;
  }
  out += latin1.decode(s.end());
  return { out: out.split("\n").slice(0, -1), err };
}

describe("fuzz: framing", () => {
  it("gives the same output however the input is chunked, and answers every valid message after junk", () => {
    let inputs = 0;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.tuple(fc.constant("ok"), requestBody), fc.tuple(fc.constant("junk"), junk)), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (pieces, cuts) => {
          const parts: Uint8Array[] = [];
          const valid: string[] = [];
          pieces.forEach(([kind, p], k) => {
            inputs++;
            if (kind === "ok") {
              valid.push(String(k));
              parts.push(enc.encode(message(`fz${k}`, withId(p as object, k)) + "\n"));
            } else {
              parts.push(p as Uint8Array, GUARD);
            }
          });
          const input = concat(parts);
          const whole = session(input, []);
          expect(session(input, cuts)).toEqual(whole);
          // One reply to each valid message, in order.
          const answered = whole.out.map((l) => /^\{"src": "lb", "dest": "fz(\d+)"/.exec(l)?.[1]).filter((k) => k !== undefined);
          expect(answered).toEqual(valid);
        },
      ),
      { numRuns: 2500 },
    );
    expect(inputs).toBeGreaterThanOrEqual(10_000);
  });

  it("survives arbitrary bytes in arbitrary chunks", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 8 }), (input, cuts) => {
        expect(session(input, cuts)).toEqual(session(input, []));
      }),
      { numRuns: 3000 },
    );
  });
});

describe("fuzz: the message handler", () => {
  it("never throws, replies with well-formed lines, and an error changes no state", () => {
    let inputs = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            { weight: 4, arbitrary: requestBody.map((b) => ({ src: "c", dest: "lb", body: b })) },
            { weight: 1, arbitrary: anyJson },
          ),
          { minLength: 1, maxLength: 12 },
        ),
        (messages) => {
          const s = new Session({ clock: "manual" });
          const h = (s as unknown as { handler: Handler }).handler;
          messages.forEach((m, i) => {
            inputs++;
            const msg = m !== null && typeof m === "object" && "body" in m ? { ...m, body: withId(m.body as object, i) } : m;
            h.catchUp();
            const before = fingerprint(h);
            const out = latin1.decode(s.push(enc.encode(JSON.stringify(msg) + "\n")));
            if (out === "") return;
            // One reply line, as Python's json.dumps would write it: valid JSON, ASCII only.
            expect(out).toMatch(/^[\x20-\x7e]*\n$/);
            const reply = JSON.parse(out);
            if (reply.body.type === "error") {
              expect(reply.body.code, out).not.toBe(13);
              expect(fingerprint(h), out).toBe(before);
            }
          });
        },
      ),
      { numRuns: 2000 },
    );
    expect(inputs).toBeGreaterThanOrEqual(10_000);
  });
});

describe("fuzz: a whole session", () => {
  it("gives every valid request the reply it gets alone, whatever junk surrounds it", () => {
    const unit = fc.tuple(
      fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 }),
      fc.constantFrom(...ALGORITHMS.slice(0, 6)),
      fc.nat(1000),
      fc.array(
        requestBody.filter((b) => b.type !== "init"),
        { maxLength: 8 },
      ),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(unit, fc.array(junk, { maxLength: 3 })), { minLength: 1, maxLength: 4 }), (units) => {
        const parts: Uint8Array[] = [];
        const expected: string[][] = [];
        units.forEach(([[backends, algorithm, seed, bodies], junks], k) => {
          const src = `fz${k}`;
          const lines = [message(src, { type: "init", msg_id: 0, backends, algorithm, seed })];
          bodies.forEach((b, i) => {
            lines.push(message(src, withId(b, i + 1)));
          });
          const bytes = enc.encode(lines.join("\n") + "\n");
          expected.push(
            runSession(bytes)
              .split("\n")
              .filter((l) => l !== ""),
          );
          parts.push(bytes);
          for (const j of junks) parts.push(j, GUARD);
        });
        const out = runSession(concat(parts)).split("\n");
        units.forEach((_, k) => {
          const mine = out.filter((l) => l.startsWith(`{"src": "lb", "dest": "fz${k}", `));
          expect(mine).toEqual(expected[k]);
        });
      }),
      { numRuns: 250 },
    );
  });
});
