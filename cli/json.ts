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
  readonly keys: string[] = [];
  readonly values: Json[] = [];
  private index: Map<string, number> | undefined;

  get size(): number {
    return this.keys.length;
  }

  get(key: string): Json | undefined {
    const at = this.find(key);
    return at < 0 ? undefined : this.values[at];
  }

  has(key: string): boolean {
    return this.find(key) >= 0;
  }

  set(key: string, value: Json): void {
    const at = this.find(key);
    if (at >= 0) {
      this.values[at] = value;
      return;
    }
    this.keys.push(key);
    this.values.push(value);
    if (this.index !== undefined) this.index.set(key, this.keys.length - 1);
    else if (this.keys.length > SCAN_KEYS) this.index = new Map(this.keys.map((k, i) => [k, i]));
  }

  private find(key: string): number {
    if (this.index !== undefined) return this.index.get(key) ?? -1;
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] === key) return i;
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
    let neg = false;
    if (b[i] === 0x2d) {
      neg = true;
      i++;
    }
    let v = 0;
    let c = b[i]!;
    while (c >= 0x30 && c <= 0x39) {
      v = v * 10 + (c - 0x30);
      c = b[++i]!;
    }
    // Integers of up to 15 digits are exact as accumulated; anything else
    // goes through the platform's correctly rounded conversion.
    if (c !== 0x2e && c !== 0x65 && c !== 0x45 && i - begin <= 15) {
      this.at = i;
      return neg ? -v : v;
    }
    while (
      (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d
    ) c = b[++i]!;
    this.at = i;
    let text = "";
    for (let k = begin; k < i; k++) text += String.fromCharCode(b[k]!);
    return Number(text);
  }

  private string(): string {
    const b = this.bytes;
    const begin = ++this.at; // past the opening quote
    let i = begin;
    let h = 0x811c9dc5;
    let c = b[i]!;
    while (c !== 0x22 && c !== 0x5c && c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      c = b[++i]!;
    }
    if (c === 0x22) {
      this.at = i + 1;
      const len = i - begin;
      if (len > INTERN_MAX_LEN) return ascii(b, begin, i);
      const slot = (h ^ (h >>> 15) ^ len) & (INTERN_SIZE - 1);
      const known = internBytes[slot];
      if (known !== undefined && known.length === len) {
        let k = 0;
        while (k < len && known[k] === b[begin + k]) k++;
        if (k === len) return internText[slot]!;
      }
      const text = ascii(b, begin, i);
      internBytes[slot] = b.slice(begin, i);
      internText[slot] = text;
      return text;
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

function ascii(b: Uint8Array, start: number, end: number): string {
  if (end - start > 64) return lossy.decode(b.subarray(start, end));
  let s = "";
  for (let k = start; k < end; k++) s += String.fromCharCode(b[k]!);
  return s;
}
