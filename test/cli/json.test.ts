// The parser (cli/json.ts), the node's one JSON grammar: what it accepts,
// where it says a text stops being JSON and why, that a value fed in pieces
// is the value fed whole, and which string fields were not UTF-8. Then the
// node's reply when only some of a message's fields are not UTF-8.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { INVALID, type Json, JsonObject, MAX_DEPTH, MORE, Parser } from "../../cli/json.js";
import { runSession } from "../../cli/session.js";
import { parseAll } from "./helpers.js";

const enc = new TextEncoder();
const bytes = (...parts: Array<string | number[]>): Uint8Array =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [...enc.encode(p)] : p)));

// The parser's value as plain JSON (objects lose their key order).
function plain(v: Json): unknown {
  if (v instanceof JsonObject) {
    const o: Record<string, unknown> = {};
    for (const [key, value] of v) Object.defineProperty(o, key, { value: plain(value), enumerable: true });
    return o;
  }
  return Array.isArray(v) ? v.map(plain) : v;
}

function parse(text: string | Uint8Array): Json {
  const b = typeof text === "string" ? enc.encode(text) : text;
  return parseAll(b);
}

// Feeds `b` in pieces cut at `cuts`: what feed() last returned, and the parser.
function feedPieces(b: Uint8Array, cuts: number[]): { result: number; p: Parser } {
  const p = new Parser();
  p.begin(1);
  let from = 0;
  for (const c of [...cuts, b.length]) {
    const result = p.feed(b, from, c);
    if (result !== MORE || c === b.length) return { result, p };
    from = c;
  }
  throw new Error("unreachable");
}

describe("parser", () => {
  it("reads every kind of value", () => {
    expect(plain(parse(' {"a": [1, -0.5e+2, 1E2, 0, true, false, null, "x\\u00e9\\n", {}, []], "b": {"c": "é"}} '))).toEqual({
      a: [1, -50, 100, 0, true, false, null, "xé\n", {}, []],
      b: { c: "é" },
    });
    expect(parse("42")).toBe(42);
    expect(parse('"\\ud83d\\ude00"')).toBe("😀");
  });

  it("keeps a JSON object's textual key order, integer-like keys included", () => {
    const o = parse('{"b":1,"10":2,"__proto__":3,"2":4,"b":5}') as JsonObject;
    expect([...o]).toEqual([
      ["b", 5],
      ["10", 2],
      ["__proto__", 3],
      ["2", 4],
    ]);
    expect(o.get("__proto__")).toBe(3);
    expect(o.get("toString")).toBeUndefined();
  });

  it("keeps first position, last value in large objects too", () => {
    const keys = Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(",");
    const o = parse(`{${keys},"k3":99}`) as JsonObject;
    expect(o.size).toBe(40);
    expect([...o.keys()][3]).toBe("k3");
    expect(o.get("k3")).toBe(99);
  });

  // Input, and the error parse() throws: the reason and the offending byte.
  const errors: Array<[string, string]> = [
    ['{"a":01}', 'unexpected "1" at byte 6'],
    ['{"a":-}', 'unexpected "}" at byte 6'],
    ['{"a":1.}', 'unexpected "}" at byte 7'],
    ['{"a":1e+}', 'unexpected "}" at byte 8'],
    ['{"a":tru}', 'unexpected "}" at byte 8'],
    ['{"a":"\\q"}', 'unexpected "q" at byte 7'],
    ['{"a":"\\u12G4"}', 'unexpected "G" at byte 10'],
    ['{"a":"x\ny"}', "unexpected end of line at byte 7"],
    ['{"a":[1,]}', 'unexpected "]" at byte 8'],
    ['{"a":1,}', 'unexpected "}" at byte 7'],
    ['{"a" 1}', 'unexpected "1" at byte 5'],
    ['{"a":1} x', 'unexpected "x" at byte 8'],
    ['{"a":\u00e9}', "unexpected byte 0xc3 at byte 5"],
    [`${"[".repeat(MAX_DEPTH + 1)}${"]".repeat(MAX_DEPTH + 1)}`, `nested deeper than ${MAX_DEPTH} levels at byte ${MAX_DEPTH}`],
    ['{"a":1', "JSON input ended inside a value"],
    ['"abc', "JSON input ended inside a value"],
    ["1.", "JSON input ended inside a value"],
  ];
  for (const [text, error] of errors) {
    it(`refuses ${JSON.stringify(text)}: ${error}`, () => {
      expect(() => parse(text)).toThrow(new SyntaxError(error));
    });
  }

  it(`accepts ${MAX_DEPTH} levels of nesting`, () => {
    expect(JSON.stringify(plain(parse(`${"[".repeat(MAX_DEPTH)}${"]".repeat(MAX_DEPTH)}`)))).toBe(
      `${"[".repeat(MAX_DEPTH)}${"]".repeat(MAX_DEPTH)}`,
    );
  });

  it("reads a value fed in pieces, cut anywhere, as the value fed whole", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), fc.array(fc.nat(), { maxLength: 6 }), (text, cuts) => {
        const b = enc.encode(`${text} `); // the space ends a number at the top level
        const at = cuts.map((c) => c % (b.length + 1)).sort((x, y) => x - y);
        const { result, p } = feedPieces(b, at);
        expect(result).toBe(b.length - 1);
        expect(plain(p.value)).toEqual(JSON.parse(text));
      }),
      { numRuns: 3000 },
    );
  });

  it("finds the same error at the same byte however the input is cut", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 3 }), fc.nat(), fc.nat(255), fc.array(fc.nat(), { maxLength: 6 }), (text, where, byte, cuts) => {
        const b = enc.encode(`${text} `);
        b[where % b.length] = byte;
        const whole = feedPieces(b, []);
        const at = cuts.map((c) => c % (b.length + 1)).sort((x, y) => x - y);
        const cut = feedPieces(b, at);
        expect(cut.result).toBe(whole.result);
        if (whole.result === INVALID) expect([cut.p.at, cut.p.why, cut.p.clean]).toEqual([whole.p.at, whole.p.why, whole.p.clean]);
        else if (whole.result >= 0) expect(plain(cut.p.value)).toEqual(plain(whole.p.value));
      }),
      { numRuns: 3000 },
    );
  });

  it("marks each string field that was not UTF-8, and only those", () => {
    const p = new Parser();
    const b = bytes('{"a":"x', [0xff], '","b":"\ufffd","c":["', [0xc0], '"],"d":"y', [0xe9], '","d":"z","e":{"f":"', [0x80], '"}}');
    const o = parseAll(b, p) as JsonObject;
    expect(p.invalidUtf8).toBe(true);
    expect(o.get("a")).toBe("x\ufffd");
    expect(o.get("b")).toBe("\ufffd");
    expect(["a", "b", "c", "d", "e"].map((k) => o.invalidUtf8(k))).toEqual([true, false, false, false, false]);
    expect((o.get("e") as JsonObject).invalidUtf8("f")).toBe(true);
    // A genuine U+FFFD, raw or escaped, is not a decoding error.
    const q = parse('{"a":"\ufffd","b":"\\ufffd"}') as JsonObject;
    expect([q.invalidUtf8("a"), q.invalidUtf8("b")]).toEqual([false, false]);
  });
});

describe("invalid UTF-8 in one field", () => {
  const refused = (dest: string, id: number) =>
    `{"src": "lb", "dest": "${dest}", "body": {"type": "error", "in_reply_to": ${id}, "code": 12, "text": "message is not valid UTF-8"}}\n`;

  it("in path, with a genuine U+FFFD in src: error 12 to that src", () => {
    let err = "";
    const out = runSession(
      bytes(
        '{"src":"c\ufffd","dest":"lb","body":{"type":"http_request","msg_id":1,"path":"/a',
        [0xff],
        '"}}\n',
        '{"src":"c\\ufffd","dest":"lb","body":{"type":"http_request","msg_id":2,"path":"/',
        [0xed, 0xa0, 0x80],
        '"}}\n',
        '{"src":"c","dest":"lb\ufffd","body":{"type":"http_request","msg_id":3,"path":"/',
        [0xc3],
        '"}}\n',
      ),
      { onDiagnostic: (t) => (err += t + "\n") },
    );
    expect(out).toBe(
      refused("c\\ufffd", 1) +
        refused("c\\ufffd", 2) +
        '{"src": "lb\\ufffd", "dest": "c", "body": {"type": "error", "in_reply_to": 3, "code": 12, "text": "message is not valid UTF-8"}}\n',
    );
    expect(err).toBe([1, 2, 3].map((l) => `line ${l}: message is not valid UTF-8; refused it\n`).join(""));
  });

  it("in src or dest themselves: still no reply", () => {
    const out = runSession(
      bytes(
        '{"src":"c',
        [0xff],
        '","dest":"lb","body":{"type":"stats","msg_id":1}}\n',
        '{"src":"c","dest":"l',
        [0xfe],
        '","body":{"type":"stats","msg_id":2}}\n',
        '{"src":"c',
        [0xff],
        '","src":"d","dest":"lb","body":{"type":"stats","msg_id":3,"x":"',
        [0xff],
        '"}}\n',
      ),
    );
    // The third message's src is the later, sound "d".
    expect(out).toBe(refused("d", 3));
  });
});
