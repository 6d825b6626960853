// The parser: the node's one JSON grammar. It checks every byte as it builds
// values, so the framer (framer.ts) learns where a message ends, or stops
// being JSON, by parsing it. feed() takes a value in as many pieces as the
// input arrives in, keeping between them only the open containers and a
// token cut by the end of a piece: its work is linear however the input is cut.
//
// Objects become JsonObjects, Maps of every key in the order written
// (JSON.parse would move integer-like keys such as "10" to the front, and
// backend names are data). Short ASCII strings (keys, types, names) come
// from an intern table, so the hot path allocates nothing for them. Invalid
// UTF-8 decodes to U+FFFD and sets `invalidUtf8`; the object holding such a
// string says so for its key, as a genuine U+FFFD in the text cannot.

export type Json = null | boolean | number | string | Json[] | JsonObject;

/** Deepest nesting accepted; replies never need more than four levels. */
export const MAX_DEPTH = 64;
/** feed(): the value goes on past this piece; feed the next one. */
export const MORE = -1;
/** feed(): not JSON at byte `at`, for the reason `why`. */
export const INVALID = -2;

/** A JSON object: its keys in the order written (a duplicate keeps its first place and takes its last value, as in Python's json). */
export class JsonObject extends Map<string, Json> {
  // The keys whose string value was decoded from bytes that are not UTF-8 (set only in such rare messages).
  declare lossy?: Set<string>;

  /** True when the value under `key` is a string decoded from bytes that are not UTF-8. */
  invalidUtf8(key: string): boolean {
    return this.lossy?.has(key) ?? false;
  }
}

/** A byte as a diagnostic names it. */
export function describeByte(b: number): string {
  if (b >= 0x21 && b <= 0x7e) return `"${String.fromCharCode(b)}"`;
  if (b === 0x0a) return "end of line";
  return `byte 0x${b.toString(16).padStart(2, "0")}`;
}

// What the next structural byte may be.
const VALUE = 0; // after ':' or an array's ','
const VALUE_OR_END = 1; // after '['
const KEY = 2; // after an object's ','
const KEY_OR_END = 3; // after '{'
const COLON = 4;
const NEXT = 5; // ',' or the container's close

// A token cut by the end of a piece.
const NONE = 0;
const STRING = 1;
const NUMBER = 2;
const LITERAL = 3;

// Scan states inside a string: plain bytes, after '\', then HEX + k after
// "\u" and k hex digits.
const PLAIN = 0;
const ESCAPE = 1;
const HEX = 2;
// Scan states inside a number, by byte class: the next state, or -1 where
// the number ends (in one of NUMBER_ENDS) or is not a number.
const START = 0;
const INT = 3;
// biome-ignore format: a transition table reads best as a grid
const NUMBER_NEXT = new Int8Array([
  //  0  1-9   .   e   +   -  other
      2,  3, -1, -1, -1,  1, -1, // 0 START
      2,  3, -1, -1, -1, -1, -1, // 1 after '-'
     -1, -1,  4,  6, -1, -1, -1, // 2 a leading 0
      3,  3,  4,  6, -1, -1, -1, // 3 INT
      5,  5, -1, -1, -1, -1, -1, // 4 after '.'
      5,  5, -1,  6, -1, -1, -1, // 5 fraction
      8,  8, -1, -1,  7,  7, -1, // 6 after 'e'
      8,  8, -1, -1, -1, -1, -1, // 7 after the exponent's sign
      8,  8, -1, -1, -1, -1, -1, // 8 exponent
]);
const NUMBER_ENDS = (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8);
const NUMBER_CLASS = new Uint8Array(256).fill(6);
for (let c = 0x31; c <= 0x39; c++) NUMBER_CLASS[c] = 1;
NUMBER_CLASS[0x30] = 0;
NUMBER_CLASS[0x2e] = 2;
NUMBER_CLASS[0x65] = NUMBER_CLASS[0x45] = 3;
NUMBER_CLASS[0x2b] = 4;
NUMBER_CLASS[0x2d] = 5;

// Byte classes, 1 for a member: may appear in a string as it is
// (PLAIN_ASCII: and needs no decoding); may follow '\' ("u": four hex digits follow).
const byteClass = (test: (c: number) => boolean): Uint8Array => Uint8Array.from({ length: 256 }, (_, c) => (test(c) ? 1 : 0));
const IN_STRING = byteClass((c) => c >= 0x20 && c !== 0x22 && c !== 0x5c);
const PLAIN_ASCII = byteClass((c) => c < 0x80 && IN_STRING[c] === 1);
const ESCAPABLE = byteClass((c) => '"\\/bfnrtu'.includes(String.fromCharCode(c)));
const HEX_DIGIT = byteClass((c) => /[0-9a-fA-F]/.test(String.fromCharCode(c)));

// true, false and null by their first byte.
const lit = (text: string, value: Json): [Uint8Array, Json] => [new TextEncoder().encode(text), value];
const LITERALS: Record<number, [Uint8Array, Json]> = { 116: lit("true", true), 102: lit("false", false), 110: lit("null", null) };

const SPACE = new Uint8Array([0x20]);
const INTERN_SIZE = 1024; // power of two
const INTERN_MAX_LEN = 32;
const internBytes: Array<Uint8Array | undefined> = new Array(INTERN_SIZE);
const internText: string[] = new Array(INTERN_SIZE);

const lossy = new TextDecoder("utf-8");
const latin1 = new TextDecoder("latin1");
const strict = new TextDecoder("utf-8", { fatal: true });

export class Parser {
  /** The finished value, once feed() has returned an index. */
  value: Json = null;
  /** A string of the value held bytes that are not UTF-8. */
  invalidUtf8 = false;
  /** The line being read: feed() counts the newlines it passes. */
  line = 1;
  /** After INVALID: the offending byte's index, and what is wrong with it. */
  at = 0;
  why = "";
  /** After INVALID: only whitespace precedes the offending byte on its line. */
  clean = false;

  private build = true; // false: check only, for a message already refused
  private expect = VALUE;
  private depth = 0;
  private readonly kinds = new Uint8Array(MAX_DEPTH); // 1 object, 0 array
  private readonly open: Array<JsonObject | Json[]> = [];
  private readonly keys: string[] = []; // per depth, the key awaiting its value
  private text = ""; // the string last read
  private lossy = false; // that string was not UTF-8
  private from = 0; // where this piece began
  private fresh = false; // the last piece ended in whitespace after a newline
  // A token cut by the end of the last piece: which, its scan state, its
  // literal's first byte, and (while building) its bytes so far.
  private tok = NONE;
  private sub = 0;
  private lit = 0;
  private carry = new Uint8Array(256);
  private carryLen = 0;

  /** Starts a new value at `line`. */
  begin(line: number): void {
    this.line = line;
    this.build = true;
    this.expect = VALUE;
    this.depth = 0;
    this.tok = NONE;
    this.invalidUtf8 = false;
    this.lossy = false;
  }

  /** From now on only check the value: it is refused, so drop what was built. */
  stopBuilding(): void {
    this.build = false;
    this.open.length = 0;
    this.carryLen = 0;
  }

  /**
   * Reads the next piece of the value, bytes[i, n). Returns the index just
   * past the value once it is complete (see `value`), MORE when it goes on
   * past n, or INVALID (see `at`, `why`, `clean`).
   */
  feed(b: Uint8Array, i: number, n: number): number {
    this.from = i;
    if (this.tok !== NONE) {
      i = this.resume(b, i, n);
      if (i < 0 || this.depth === 0) return i;
    }
    this.from = i;
    // The hot loop keeps its state in locals, and in the fields only when it stops.
    const { kinds, open, keys, build } = this;
    let expect = this.expect;
    let depth = this.depth;
    for (;;) {
      let c = 0;
      for (;;) {
        if (i >= n) {
          this.expect = expect;
          this.depth = depth;
          this.fresh = this.blankBefore(b, n);
          return MORE;
        }
        c = b[i]!;
        if (c > 0x20) break;
        if (c === 0x0a) this.line++;
        else if (c !== 0x20 && c !== 0x09 && c !== 0x0d) break;
        i++;
      }
      let v: Json;
      if (expect < KEY) {
        // A value, or ']' right after '['.
        if (c === 0x22) {
          const e = this.string(b, i, n);
          if (e < 0) return this.stop(b, i, n, e, STRING, expect, depth);
          v = this.text;
          i = e;
        } else if (c >= 0x30 ? c <= 0x39 : c === 0x2d) {
          const e = this.number(b, i, n, START);
          if (e < 0) return this.stop(b, i, n, e, NUMBER, expect, depth);
          v = numberOf(b, i, e);
          i = e;
        } else if (c === 0x7b || c === 0x5b) {
          if (depth === MAX_DEPTH) return this.fail(b, i, `nested deeper than ${MAX_DEPTH} levels`);
          const isObject = c === 0x7b;
          kinds[depth] = isObject ? 1 : 0;
          if (build) open[depth] = isObject ? new JsonObject() : [];
          depth++;
          expect = isObject ? KEY_OR_END : VALUE_OR_END;
          i++;
          continue;
        } else if (c === 0x5d && expect === VALUE_OR_END) {
          i++;
          v = build ? open[--depth]! : (--depth, null);
        } else if (LITERALS[c] !== undefined) {
          const e = this.literal(b, i + 1, n, c, 1);
          if (e < 0) return this.stop(b, i, n, e, LITERAL, expect, depth, c);
          v = LITERALS[c]![1];
          i = e;
        } else return this.fail(b, i);
      } else if (expect < COLON) {
        // A key, or '}' right after '{'.
        if (c === 0x22) {
          const e = this.string(b, i, n);
          if (e < 0) return this.stop(b, i, n, e, STRING, expect, depth);
          keys[depth - 1] = this.text;
          this.lossy &&= false; // a key is not marked
          // Most keys are followed right away by ':'.
          const colon = e < n && b[e] === 0x3a;
          expect = colon ? VALUE : COLON;
          i = colon ? e + 1 : e;
          continue;
        }
        if (c !== 0x7d || expect !== KEY_OR_END) return this.fail(b, i);
        i++;
        v = build ? open[--depth]! : (--depth, null);
      } else if (expect === COLON) {
        if (c !== 0x3a) return this.fail(b, i);
        expect = VALUE;
        i++;
        continue;
      } else {
        // NEXT: ',' or the container's close.
        const inObject = kinds[depth - 1] === 1;
        if (c === 0x2c) {
          expect = inObject ? KEY : VALUE;
          i++;
          continue;
        }
        if (c !== (inObject ? 0x7d : 0x5d)) return this.fail(b, i);
        i++;
        v = build ? open[--depth]! : (--depth, null);
      }
      // v is complete: the whole value at depth 0, else one for its container.
      if (depth === 0) {
        this.depth = 0;
        this.value = v;
        return i;
      }
      const inObject = kinds[depth - 1] === 1;
      if (build) {
        if (!inObject) (open[depth - 1] as Json[]).push(v);
        else {
          (open[depth - 1] as JsonObject).set(keys[depth - 1]!, v);
          if (this.invalidUtf8) this.mark(open[depth - 1] as JsonObject, keys[depth - 1]!, v);
        }
      }
      // Most values are followed right away by ','.
      const comma = i < n && b[i] === 0x2c;
      expect = !comma ? NEXT : inObject ? KEY : VALUE;
      if (comma) i++;
    }
  }

  // A token from b[start] that the scan left (e): INVALID, or MORE when it
  // runs past the end of this piece.
  private stop(b: Uint8Array, start: number, n: number, e: number, tok: number, expect: number, depth: number, lit = 0): number {
    if (e === INVALID) return e;
    this.expect = expect;
    this.depth = depth;
    this.tok = tok;
    this.lit = lit;
    this.carryLen = 0;
    if (this.build) this.keep(b, start, n);
    this.fresh = false;
    return MORE;
  }

  // Goes on with the token cut by the end of the last piece. Once it is
  // whole, a value being built reads it again from `carry`, like any other.
  private resume(b: Uint8Array, i: number, n: number): number {
    const tok = this.tok;
    const e =
      tok === STRING
        ? this.scanString(b, i, n, this.sub)
        : tok === NUMBER
          ? this.number(b, i, n, this.sub)
          : this.literal(b, i, n, this.lit, this.sub);
    if (e === INVALID) return e;
    if (this.build) this.keep(b, i, e === MORE ? n : e);
    if (e === MORE) return e;
    this.tok = NONE;
    if (this.build) {
      if (tok === NUMBER) this.keep(SPACE, 0, 1); // what ends it
      this.feed(this.carry, 0, this.carryLen);
    } else if (this.depth > 0) {
      this.expect = this.expect === KEY || this.expect === KEY_OR_END ? COLON : NEXT;
    }
    return e;
  }

  // In a message with bytes that are not UTF-8: marks whether v, just set
  // under `key`, is a string decoded from such bytes (the last one decoded),
  // replacing the mark of an earlier duplicate key.
  private mark(o: JsonObject, key: string, v: Json): void {
    o.lossy ??= new Set();
    if (this.lossy && typeof v === "string") o.lossy.add(key);
    else o.lossy.delete(key);
    this.lossy = false;
  }

  private keep(b: Uint8Array, start: number, end: number): void {
    const need = this.carryLen + end - start;
    if (need > this.carry.length) {
      const grown = new Uint8Array(Math.max(need, 2 * this.carry.length));
      grown.set(this.carry.subarray(0, this.carryLen));
      this.carry = grown;
    }
    this.carry.set(b.subarray(start, end), this.carryLen);
    this.carryLen = need;
  }

  private fail(b: Uint8Array, i: number, why = `unexpected ${describeByte(b[i]!)}`): number {
    this.at = i;
    this.why = why;
    this.clean = this.blankBefore(b, i);
    return INVALID;
  }

  // True when only whitespace lies between the last newline and b[i].
  private blankBefore(b: Uint8Array, i: number): boolean {
    while (i > this.from) {
      const c = b[--i]!;
      if (c === 0x0a) return true;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
    }
    return this.fresh;
  }

  // A string from its opening quote at b[i]: its text in `text`, and the
  // index past its closing quote, or MORE, or INVALID. Plain ASCII strings
  // are checked and interned in one pass; others are checked, then decoded.
  private string(b: Uint8Array, i: number, n: number): number {
    const begin = i + 1;
    let j = begin;
    while (j < n && PLAIN_ASCII[b[j]!] === 1) j++;
    if (j < n && b[j] === 0x22) {
      if (this.build) this.text = intern(b, begin, j);
      return j + 1;
    }
    const e = this.scanString(b, j, n, PLAIN);
    if (e < 0 || !this.build) return e;
    // An escape or a byte >= 0x80 follows. The escapes were checked as they
    // were scanned: JSON.parse reads them as the grammar says.
    const bytes = b.subarray(begin, e - 1);
    try {
      this.text = strict.decode(bytes);
    } catch {
      this.invalidUtf8 = this.lossy = true;
      this.text = lossy.decode(bytes);
    }
    if (this.text.includes("\\")) this.text = JSON.parse(`"${this.text}"`);
    return e;
  }

  // Checks string bytes from b[i] in scan state s: the index past the
  // closing quote, or MORE (the state kept in `sub`), or INVALID.
  private scanString(b: Uint8Array, i: number, n: number, s: number): number {
    for (; i < n; i++) {
      const c = b[i]!;
      if (s === PLAIN) {
        while (i < n && IN_STRING[b[i]!] === 1) i++;
        if (i === n) break;
        if (b[i] === 0x22) return i + 1;
        if (b[i] !== 0x5c) return this.fail(b, i); // a control byte
        s = ESCAPE;
      } else if (s === ESCAPE) {
        if (ESCAPABLE[c] !== 1) return this.fail(b, i);
        s = c === 0x75 ? HEX : PLAIN;
      } else {
        if (HEX_DIGIT[c] !== 1) return this.fail(b, i);
        s = s === HEX + 3 ? PLAIN : s + 1;
      }
    }
    this.sub = s;
    return MORE;
  }

  // Checks number bytes from b[i] in scan state s: the index of the first
  // byte past the number, or MORE (the state kept in `sub`), or INVALID.
  private number(b: Uint8Array, i: number, n: number, s: number): number {
    if (s === START && i < n && b[i]! >= 0x31 && b[i]! <= 0x39) {
      // The usual case, a plain integer, without the table.
      i++;
      while (i < n && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
      if (i < n && b[i] !== 0x2e && b[i] !== 0x65 && b[i] !== 0x45) return i;
      s = INT;
    }
    for (; i < n; i++) {
      const next = NUMBER_NEXT[s * 7 + NUMBER_CLASS[b[i]!]!]!;
      if (next < 0) return (NUMBER_ENDS >> s) & 1 ? i : this.fail(b, i);
      s = next;
    }
    this.sub = s;
    return MORE;
  }

  // Checks the literal starting with byte `first` from its k-th byte at b[i].
  private literal(b: Uint8Array, i: number, n: number, first: number, k: number): number {
    const lit = LITERALS[first]![0];
    for (; k < lit.length; k++, i++) {
      if (i >= n) {
        this.sub = k;
        return MORE;
      }
      if (b[i] !== lit[k]) return this.fail(b, i);
    }
    return i;
  }
}

// A plain ASCII string bytes[begin, end): from the intern table when it is
// there, else made and remembered. The slot comes from the length and three
// bytes, not a hash of all of them: the bytes are compared anyway.
function intern(b: Uint8Array, begin: number, end: number): string {
  const len = end - begin;
  if (len > INTERN_MAX_LEN) return ascii(b, begin, end);
  if (len === 0) return "";
  const slot = (len * 0x9e37 + b[begin]! * 0x3b + b[end - 1]! * 0x1f1 + b[begin + (len >> 1)]! * 7) & (INTERN_SIZE - 1);
  const known = internBytes[slot];
  if (known !== undefined && known.length === len) {
    let k = 0;
    while (k < len && known[k] === b[begin + k]) k++;
    if (k === len) return internText[slot]!;
  }
  // The engine's own copy, as used for property names: two such copies
  // compare by identity, so looking up "type" is one pointer comparison.
  const text = Object.keys({ [ascii(b, begin, end)]: 0 })[0]!;
  internBytes[slot] = b.slice(begin, end);
  internText[slot] = text;
  return text;
}

// The value of the number token bytes[begin, end). Integers of up to 15
// digits are exact as accumulated; anything else goes through the
// platform's correctly rounded conversion.
function numberOf(b: Uint8Array, begin: number, end: number): number {
  const neg = b[begin] === 0x2d;
  let v = 0;
  for (let i = neg ? begin + 1 : begin; i < end; i++) {
    const digit = b[i]! - 0x30;
    if (digit < 0 || digit > 9 || end - begin > 15) return Number(ascii(b, begin, end));
    v = v * 10 + digit;
  }
  return neg ? -v : v;
}

function ascii(b: Uint8Array, start: number, end: number): string {
  return latin1.decode(b.subarray(start, end));
}
