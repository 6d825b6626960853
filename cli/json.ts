// The parser: turns one frame (bytes the framer has already checked against
// the JSON grammar) into values. Objects become JsonObjects, which keep
// every key in the order written: JSON.parse would move integer-like keys
// such as "10" to the front and treat "__proto__" specially, and backend
// names are data, not keys.
//
// Strings are decoded straight from the bytes. Short ASCII strings (keys,
// types, backend names) come from a small intern table, so the hot path
// allocates nothing for them. Invalid UTF-8 decodes to U+FFFD and sets
// `invalidUtf8`, so the caller can refuse the message and still reply.

export type Json = null | boolean | number | string | Json[] | JsonObject;

// Past this many keys an object indexes them; below, a scan is cheaper.
const SCAN_KEYS = 8;

/**
 * A JSON object: its keys in the order written (a duplicate keeps its
 * first position and takes its last value, as in Python's json).
 */
export class JsonObject {
  // Keys at even indices, each followed by its value: one array per object,
  // since a message allocates two objects and the garbage adds up.
  private readonly entries: Array<string | Json> = [];
  private index: Map<string, number> | undefined;

  get size(): number {
    return this.entries.length >> 1;
  }

  /** The k-th key in textual order. */
  keyAt(k: number): string {
    return this.entries[2 * k] as string;
  }

  /** The k-th value in textual order. */
  valueAt(k: number): Json {
    return this.entries[2 * k + 1] as Json;
  }

  /** The keys in textual order. */
  get keys(): string[] {
    const out: string[] = [];
    for (let k = 0; k < this.size; k++) out.push(this.keyAt(k));
    return out;
  }

  /** The values in key order. */
  get values(): Json[] {
    const out: Json[] = [];
    for (let k = 0; k < this.size; k++) out.push(this.valueAt(k));
    return out;
  }

  get(key: string): Json | undefined {
    const at = this.find(key);
    return at < 0 ? undefined : (this.entries[at + 1] as Json);
  }

  has(key: string): boolean {
    return this.find(key) >= 0;
  }

  set(key: string, value: Json): void {
    const at = this.find(key);
    if (at >= 0) {
      this.entries[at + 1] = value;
      return;
    }
    const e = this.entries;
    e.push(key, value);
    if (this.index !== undefined) this.index.set(key, e.length - 2);
    else if (e.length > 2 * SCAN_KEYS) {
      this.index = new Map();
      for (let i = 0; i < e.length; i += 2) this.index.set(e[i] as string, i);
    }
  }

  // The index of the key in `entries`, or -1.
  private find(key: string): number {
    if (this.index !== undefined) return this.index.get(key) ?? -1;
    const e = this.entries;
    for (let i = 0; i < e.length; i += 2) if (e[i] === key) return i;
    return -1;
  }
}

const INTERN_SIZE = 1024; // power of two
const INTERN_MAX_LEN = 32;
const internBytes: Array<Uint8Array | undefined> = new Array(INTERN_SIZE);
const internText: string[] = new Array(INTERN_SIZE);

const lossy = new TextDecoder("utf-8");
const strict = new TextDecoder("utf-8", { fatal: true });

export class Parser {
  private bytes: Uint8Array = new Uint8Array(0);
  private at = 0;
  /** The last parse met bytes that are not UTF-8 inside a string. */
  invalidUtf8 = false;

  /** Parses bytes[start, end), one grammatical JSON value. */
  parse(bytes: Uint8Array, start: number, end: number): Json {
    this.bytes = bytes;
    this.at = start;
    this.invalidUtf8 = false;
    const v = this.value();
    if (this.at > end) throw new Error("parser overran its frame");
    return v;
  }

  /** Index just past the value after a successful tryParse(). */
  end = 0;

  /**
   * Parses one object that must lie wholly in bytes[start, limit) on one
   * line, checking the JSON grammar as it goes (the framer's fast path: one
   * pass instead of a check and a parse). Returns undefined, having decided
   * nothing, on anything else: a newline, the limit, a syntax error,
   * nesting past maxDepth. Accepts only what the framer accepts.
   */
  tryParse(bytes: Uint8Array, start: number, limit: number, maxDepth: number): JsonObject | undefined {
    this.bytes = bytes;
    this.invalidUtf8 = false;
    this.limit = limit;
    this.maxDepth = maxDepth;
    const v = this.vObject(start + 1, 1);
    if (v === undefined) return undefined;
    this.end = this.at;
    return v;
  }

  private limit = 0;
  private maxDepth = 0;

  private vBlank(i: number): number {
    const b = this.bytes;
    const n = this.limit;
    while (i < n) {
      const c = b[i]!;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return i;
      i++;
    }
    return i;
  }

  // i: just past '{'. Leaves `at` just past '}'.
  private vObject(i: number, depth: number): JsonObject | undefined {
    const b = this.bytes;
    const n = this.limit;
    const map = new JsonObject();
    i = this.vBlank(i);
    if (i >= n) return undefined;
    if (b[i] === 0x7d) {
      this.at = i + 1;
      return map;
    }
    for (;;) {
      if (b[i] !== 0x22) return undefined;
      this.at = i;
      const key = this.vString();
      if (key === undefined) return undefined;
      i = this.vBlank(this.at);
      if (i >= n || b[i] !== 0x3a) return undefined;
      const v = this.vValue(i + 1, depth);
      if (v === undefined) return undefined;
      map.set(key, v);
      i = this.vBlank(this.at);
      if (i >= n) return undefined;
      const c = b[i]!;
      if (c === 0x7d) {
        this.at = i + 1;
        return map;
      }
      if (c !== 0x2c) return undefined;
      i = this.vBlank(i + 1);
      if (i >= n) return undefined;
    }
  }

  private vArray(i: number, depth: number): Json[] | undefined {
    const b = this.bytes;
    const n = this.limit;
    const list: Json[] = [];
    i = this.vBlank(i);
    if (i >= n) return undefined;
    if (b[i] === 0x5d) {
      this.at = i + 1;
      return list;
    }
    for (;;) {
      const v = this.vValue(i, depth);
      if (v === undefined) return undefined;
      list.push(v);
      i = this.vBlank(this.at);
      if (i >= n) return undefined;
      const c = b[i]!;
      if (c === 0x5d) {
        this.at = i + 1;
        return list;
      }
      if (c !== 0x2c) return undefined;
      i++;
    }
  }

  // depth: nesting of the container the value is in.
  private vValue(i: number, depth: number): Json | undefined {
    const b = this.bytes;
    const n = this.limit;
    i = this.vBlank(i);
    if (i >= n) return undefined;
    const c = b[i]!;
    if (c === 0x22) {
      this.at = i;
      return this.vString();
    }
    if (c === 0x7b) return depth >= this.maxDepth ? undefined : this.vObject(i + 1, depth + 1);
    if (c === 0x5b) return depth >= this.maxDepth ? undefined : this.vArray(i + 1, depth + 1);
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.vNumber(i);
    const lit = c === 0x74 ? LIT_TRUE : c === 0x66 ? LIT_FALSE : c === 0x6e ? LIT_NULL : undefined;
    if (lit === undefined || i + lit.length > n) return undefined;
    for (let k = 1; k < lit.length; k++) if (b[i + k] !== lit[k]) return undefined;
    this.at = i + lit.length;
    return c === 0x74 ? true : c === 0x66 ? false : null;
  }

  private vNumber(i: number): number | undefined {
    const b = this.bytes;
    const n = this.limit;
    const begin = i;
    if (b[i] === 0x2d) i++;
    if (i >= n) return undefined;
    const c = b[i]!;
    if (c === 0x30) i++;
    else if (c >= 0x31 && c <= 0x39) {
      i++;
      while (i < n && isDigit(b[i]!)) i++;
    } else return undefined;
    if (i < n && b[i] === 0x2e) {
      i++;
      if (i >= n || !isDigit(b[i]!)) return undefined;
      while (i < n && isDigit(b[i]!)) i++;
    }
    if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
      i++;
      if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) i++;
      if (i >= n || !isDigit(b[i]!)) return undefined;
      while (i < n && isDigit(b[i]!)) i++;
    }
    if (i >= n) return undefined;
    this.at = i;
    return numberOf(b, begin, i);
  }

  // `at` on the opening quote. Plain ASCII strings are checked, hashed and
  // interned in one pass; others are checked, then decoded.
  private vString(): string | undefined {
    const b = this.bytes;
    const n = this.limit;
    const begin = this.at + 1;
    let i = begin;
    while (i < n && STRING_PLAIN[b[i]!] === 1) i++;
    if (i >= n) return undefined;
    if (b[i] === 0x22) {
      this.at = i + 1;
      return intern(b, begin, i);
    }
    while (i < n) {
      const c = b[i]!;
      if (c === 0x22) return this.string();
      if (c < 0x20) return undefined;
      if (c === 0x5c) {
        if (i + 1 >= n) return undefined;
        const e = b[i + 1]!;
        if (e === 0x75) {
          if (i + 5 >= n) return undefined;
          for (let k = 2; k < 6; k++) if (!isHex(b[i + k]!)) return undefined;
          i += 6;
          continue;
        }
        if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          i += 2;
          continue;
        }
        return undefined;
      }
      i++;
    }
    return undefined;
  }

  private skipBlank(): number {
    const b = this.bytes;
    let i = this.at;
    let c = b[i]!;
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++i]!;
    this.at = i;
    return c;
  }

  private value(): Json {
    const c = this.skipBlank();
    switch (c) {
      case 0x7b: return this.object();
      case 0x5b: return this.array();
      case 0x22: return this.string();
      case 0x74: this.at += 4; return true;
      case 0x66: this.at += 5; return false;
      case 0x6e: this.at += 4; return null;
      default: return this.number();
    }
  }

  private object(): JsonObject {
    const map = new JsonObject();
    this.at++;
    if (this.skipBlank() === 0x7d) {
      this.at++;
      return map;
    }
    for (;;) {
      this.skipBlank();
      const key = this.string();
      this.skipBlank();
      this.at++; // ':'
      map.set(key, this.value());
      if (this.skipBlank() === 0x2c) {
        this.at++;
        continue;
      }
      this.at++; // '}'
      return map;
    }
  }

  private array(): Json[] {
    const list: Json[] = [];
    this.at++;
    if (this.skipBlank() === 0x5d) {
      this.at++;
      return list;
    }
    for (;;) {
      list.push(this.value());
      if (this.skipBlank() === 0x2c) {
        this.at++;
        continue;
      }
      this.at++; // ']'
      return list;
    }
  }

  private number(): number {
    const b = this.bytes;
    const begin = this.at;
    let i = begin;
    let c = b[i]!;
    while ((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) c = b[++i]!;
    this.at = i;
    return numberOf(b, begin, i);
  }

  private string(): string {
    const b = this.bytes;
    const begin = ++this.at; // past the opening quote
    let i = begin;
    let c = b[i]!;
    while (c !== 0x22 && c !== 0x5c && c < 0x80) c = b[++i]!;
    if (c === 0x22) {
      this.at = i + 1;
      return intern(b, begin, i);
    }
    return this.slowString(begin, i);
  }

  // A string with escapes or non-ASCII bytes; `i` is the first such byte.
  private slowString(begin: number, i: number): string {
    const b = this.bytes;
    let out = ascii(b, begin, i);
    for (;;) {
      const c = b[i]!;
      if (c === 0x22) {
        this.at = i + 1;
        return out;
      }
      if (c === 0x5c) {
        const e = b[i + 1]!;
        i += 2;
        switch (e) {
          case 0x62: out += "\b"; break;
          case 0x66: out += "\f"; break;
          case 0x6e: out += "\n"; break;
          case 0x72: out += "\r"; break;
          case 0x74: out += "\t"; break;
          case 0x75:
            out += String.fromCharCode(parseInt(ascii(b, i, i + 4), 16));
            i += 4;
            break;
          default: out += String.fromCharCode(e); // " \ /
        }
        continue;
      }
      // A run of raw bytes up to the next quote or escape.
      let j = i;
      let high = false;
      while (b[j] !== 0x22 && b[j] !== 0x5c) {
        if (b[j]! >= 0x80) high = true;
        j++;
      }
      if (high) {
        const run = b.subarray(i, j);
        try {
          out += strict.decode(run);
        } catch {
          this.invalidUtf8 = true;
          out += lossy.decode(run);
        }
      } else {
        out += ascii(b, i, j);
      }
      i = j;
    }
  }
}

// The engine's own copy of a string, as used for property names: two such
// copies compare by identity, so looking up "type" in a message is one
// pointer comparison instead of a character loop.
function internalized(s: string): string {
  return Object.keys({ [s]: 0 })[0] ?? s;
}

// Bytes that may appear unescaped in a string and need no decoding.
const STRING_PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) STRING_PLAIN[c] = c === 0x22 || c === 0x5c ? 0 : 1;

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
  const text = internalized(ascii(b, begin, end));
  internBytes[slot] = b.slice(begin, end);
  internText[slot] = text;
  return text;
}

// The value of the number token bytes[begin, end). Integers of up to 15
// digits are exact as accumulated; anything else goes through the
// platform's correctly rounded conversion.
function numberOf(b: Uint8Array, begin: number, end: number): number {
  let i = begin;
  const neg = b[i] === 0x2d;
  if (neg) i++;
  if (end - begin <= 15) {
    let v = 0;
    while (i < end) {
      const c = b[i]!;
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      i++;
    }
    if (i === end) return neg ? -v : v;
  }
  let text = "";
  for (let k = begin; k < end; k++) text += String.fromCharCode(b[k]!);
  return Number(text);
}

const LIT_TRUE = [0x74, 0x72, 0x75, 0x65];
const LIT_FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const LIT_NULL = [0x6e, 0x75, 0x6c, 0x6c];

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function ascii(b: Uint8Array, start: number, end: number): string {
  if (end - start > 64) return lossy.decode(b.subarray(start, end));
  let s = "";
  for (let k = start; k < end; k++) s += String.fromCharCode(b[k]!);
  return s;
}
