// The framer on its own: where frames begin and end, how it resynchronises,
// and what it refuses, table-driven with exact frames and diagnostics.
// Frames are shown as compact JSON with their keys in the order written.

import { describe, expect, it } from "vitest";
import { Framer, MAX_FRAME_BYTES } from "../../cli/framer.js";
import { type Json, JsonObject, MAX_DEPTH } from "../../cli/json.js";

const enc = new TextEncoder();
const dec = new TextDecoder("latin1");

function show(v: Json): string {
  if (v instanceof JsonObject) {
    const parts: string[] = [];
    for (const [key, value] of v) parts.push(`${JSON.stringify(key)}:${show(value)}`);
    return `{${parts.join(",")}}`;
  }
  if (Array.isArray(v)) return `[${v.map(show).join(",")}]`;
  return JSON.stringify(v);
}

function run(chunks: Array<string | Uint8Array>): string[] {
  const seen: string[] = [];
  const f = new Framer({
    frame: (msg, line) => seen.push(`${line}:${show(msg)}`),
    diagnostic: (t) => seen.push(`! ${t}`),
  });
  for (const c of chunks) f.push(typeof c === "string" ? enc.encode(c) : c);
  f.end();
  return seen;
}

describe("framer", () => {
  const table: Array<[string, string, string[]]> = [
    ["one per line", '{"a":1}\n{"b":2}\n', ['1:{"a":1}', '2:{"b":2}']],
    ["several on a line, blank lines between", '\n\n{"a":1} {"b":2}{}\n\n', ['3:{"a":1}', '3:{"b":2}', "3:{}"]],
    ["pretty-printed over lines", '{\n"a": [1, {"b": {}}],\n"c": "x"\n}\n{"d":1}', ['1:{"a":[1,{"b":{}}],"c":"x"}', '5:{"d":1}']],
    ["an empty object inside an object", '{"a":{},"b":[]}', ['1:{"a":{},"b":[]}']],
    [
      "escapes and numbers",
      '{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9","n":[-0.5e+10,0,12E-3,true,false,null]}',
      ['1:{"s":"\\"\\\\/\\b\\f\\n\\r\\t\u00e9","n":[-5000000000,0,0.012,true,false,null]}'],
    ],
    [
      "garbage lines are skipped with one diagnostic per run",
      'hello\nworld\n{"a":1}\n',
      ['! line 1: skipped input that is not a JSON object (starts with "h")', '2:{"a":1}'.replace("2:", "3:")],
    ],
    [
      "a truncated message is dropped at the next line's message",
      '{"a":\n{"b":1}\n{"c":2}\n',
      ['! line 3: message starting on line 1 is not valid JSON (unexpected "{"); skipped it', '3:{"c":2}'],
    ],
    [
      "a cut line resynchronises at the next",
      '{"a":1,"b\n{"c":2}\n',
      ["! line 1: message starting on line 1 is not valid JSON (unexpected end of line); skipped it", '2:{"c":2}'],
    ],
    [
      "a leading zero is an error",
      '{"a":01}\n{"b":1}',
      ['! line 1: message starting on line 1 is not valid JSON (unexpected "1"); skipped it', '2:{"b":1}'],
    ],
    ["input that ends inside a message", '{"a":1}\n{"b":', ['1:{"a":1}', "! line 2: input ended inside a message; dropped it"]],
    ["a top-level array is not a message", "[1,2]\n", ['! line 1: skipped input that is not a JSON object (starts with "[")']],
  ];
  for (const [what, input, expected] of table) {
    it(what, () => {
      expect(run([input])).toEqual(expected);
      // Byte by byte gives the same result.
      expect(run([...enc.encode(input)].map((b) => new Uint8Array([b])))).toEqual(expected);
    });
  }

  it("skips a UTF-8 byte-order mark at the start, even split across chunks", () => {
    expect(run([new Uint8Array([0xef]), new Uint8Array([0xbb, 0xbf]), '{"a":1}'])).toEqual(['1:{"a":1}']);
  });

  it(`refuses nesting deeper than ${MAX_DEPTH} and goes on`, () => {
    const ok = `{"a":${"[".repeat(MAX_DEPTH - 1)}${"]".repeat(MAX_DEPTH - 1)}}`;
    const deep = `{"a":${"[".repeat(MAX_DEPTH)}${"]".repeat(MAX_DEPTH)}}`;
    expect(run([`${ok}\n${deep}\n{"b":1}\n`])).toEqual([
      `1:${ok}`,
      `! line 2: message starting on line 2 is not valid JSON (nested deeper than ${MAX_DEPTH} levels); skipped it`,
      '3:{"b":1}',
    ]);
  });

  it("refuses a message over 1 MiB without keeping its bytes, then goes on", () => {
    const big = `{"a":"${"x".repeat(MAX_FRAME_BYTES)}"}`;
    const seen: string[] = [];
    let kept = 0;
    const f = new Framer({
      frame: (msg) => seen.push(show(msg)),
      diagnostic: (t) => seen.push(`! ${t}`),
    });
    const bytes = enc.encode(`${big}\n{"b":1}\n`);
    for (let i = 0; i < bytes.length; i += 65536) {
      f.push(bytes.subarray(i, i + 65536));
      // The bytes kept of the cut string never outgrow the limit.
      kept = Math.max(kept, (f as unknown as { parser: { carry: Uint8Array } }).parser.carry.length);
    }
    f.end();
    expect(seen).toEqual([`! line 1: message over ${MAX_FRAME_BYTES} bytes refused`, '{"b":1}']);
    expect(kept).toBeLessThanOrEqual(2 * MAX_FRAME_BYTES);
  });

  it("accepts a message of exactly 1 MiB", () => {
    const pad = MAX_FRAME_BYTES - '{"a":""}'.length;
    const exact = `{"a":"${"x".repeat(pad)}"}`;
    expect(exact.length).toBe(MAX_FRAME_BYTES);
    expect(run([exact]).map((x) => x.length)).toEqual([MAX_FRAME_BYTES + 2]);
    // One byte more is refused, and so is the same message cut into chunks.
    const over = `{"a":"x${"x".repeat(pad)}"}`;
    const refused = [`! line 1: message over ${MAX_FRAME_BYTES} bytes refused`];
    expect(run([over])).toEqual(refused);
    expect(run([over.slice(0, 65536), over.slice(65536)])).toEqual(refused);
  });

  it("reports a syntax error on the byte just past the limit as a syntax error", () => {
    const pad = MAX_FRAME_BYTES - '{"a":""'.length;
    const text = `{"a":"${"x".repeat(pad)}"x}\n{"b":1}`;
    const expected = ['! line 1: message starting on line 1 is not valid JSON (unexpected "x"); skipped it', '2:{"b":1}'];
    expect(run([text])).toEqual(expected);
    expect(run([text.slice(0, MAX_FRAME_BYTES), text.slice(MAX_FRAME_BYTES)])).toEqual(expected);
  });
});

describe("a session, whole or byte by byte", () => {
  // The parser checks and builds a message in one pass, however its bytes
  // arrive: whole input and byte-by-byte input must give the same output.
  const lines = [
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":1,"x":1.5-}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":2,"x":01}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":3,"x":-}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":4,"x":1e}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":5,"x":"\\u12G4"}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":6,"x":"\\q"}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":7,"x":[1,]}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":8,"x":{"a":1,}}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":9,"x":nul}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":10,"x":{},"y":[],"z":[{}]}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":11,"x":-0.0e-0,"y":"\\ud800\\u00e9"}}',
    '{"src":"c","dest":"lb","body":{"type":"stats","msg_id":12}} {"src":"c","dest":"lb","body":{"type":"stats","msg_id":13}}',
  ];
  it("gives the same replies and diagnostics", async () => {
    const { Session } = await import("../../cli/session.js");
    const input = enc.encode(lines.join("\n") + "\n");
    const runWith = (size: number) => {
      const out: string[] = [];
      const s = new Session({ clock: "manual", onDiagnostic: (t) => out.push(`! ${t}`) });
      for (let i = 0; i < input.length; i += size) out.push(dec.decode(s.push(input.subarray(i, i + size))));
      out.push(dec.decode(s.end()));
      return out.filter((x) => x !== "").join("");
    };
    const whole = runWith(input.length);
    expect(runWith(1)).toBe(whole);
    // Messages 10 to 13 are valid; 1 to 9 are not.
    expect(whole.match(/"in_reply_to": \d+/g)).toEqual(["10", "11", "12", "13"].map((n) => `"in_reply_to": ${n}`));
  });
});
