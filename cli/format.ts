// The reply formatter: every reply as one line of text, as Python's
// json.dumps defaults write it (the golden transcripts): separators ", " and
// ": ", non-ASCII and control characters as lowercase \uXXXX escapes. The
// handler gives each reply's fields in order (docs/PROTOCOL.md). Replies go
// as ASCII bytes straight into an output buffer, with quoted names and keys
// cached as bytes, since the same few repeat on every reply.

/** Counts per backend in backend order, visited without building a list (a Balancer is one); read at once, as the reply is written. */
export interface Counts {
  forEachActive(visit: (name: string, count: number) => void): void;
}

/** A value in a reply: an integer >= 0, a string, null, a list of names, counts by name, or an object (keys in order). */
export type Value = number | string | null | readonly string[] | Counts | ReadonlyMap<string, Value>;

/** A reply's type, then its other fields in order (after in_reply_to): a key, its value, the next key... */
export type ReplyBody = { type: string; fields: readonly Value[] };
/** inReplyTo: the request's msg_id; absent when the request had none. */
export type Reply = { src: string; dest: string; inReplyTo: number | undefined; body: ReplyBody };

const SPARE_MAX_BYTES = 1 << 20;

/** A growable ASCII output buffer; replies are appended to it. */
export class Output {
  bytes: Uint8Array = new Uint8Array(1 << 16);
  length = 0;

  /** Makes room for `more` bytes; returns the buffer to write into. */
  reserve(more: number): Uint8Array {
    const need = this.length + more;
    if (need > this.bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    return this.bytes;
  }

  /** Appends bytes. */
  put(b: Uint8Array): void {
    const n = b.length;
    const at = this.length;
    const out = at + n <= this.bytes.length ? this.bytes : this.reserve(n);
    // A loop beats TypedArray#set for the short fragments replies are made of.
    if (n <= 24) for (let i = 0; i < n; i++) out[at + i] = b[i]!;
    else out.set(b, at);
    this.length = at + n;
  }

  byte(b: number): void {
    this.reserve(1)[this.length++] = b;
  }

  /** Appends a non-negative integer below 2^53. */
  int(n: number): void {
    let digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
    const out = this.reserve(digits);
    let at = (this.length += digits);
    do {
      const q = Math.floor(n / 10);
      out[--at] = 0x30 + (n - q * 10);
      n = q;
    } while (n >= 1);
  }

  /** Appends a JSON string literal as Python's json.dumps writes it. */
  str(s: string): void {
    this.put(cached(quotedCache, s, "", ""));
  }

  private readonly spare: Uint8Array[] = [];

  /** Takes the bytes written so far, the caller's until recycle() (reused, they spare the GC a large allocation per chunk). */
  take(): Uint8Array {
    const out = this.bytes.subarray(0, this.length);
    this.bytes = this.spare.pop() ?? new Uint8Array(Math.min(this.bytes.length, SPARE_MAX_BYTES));
    this.length = 0;
    return out;
  }

  /** Gives back bytes from take() once they are written out. */
  recycle(taken: Uint8Array): void {
    // One huge reply (send_requests) must not make every later buffer huge.
    const whole = new Uint8Array(taken.buffer, taken.byteOffset, taken.buffer.byteLength - taken.byteOffset);
    if (this.spare.length < 4 && whole.length <= SPARE_MAX_BYTES) this.spare.push(whole);
  }
}

// Each literal fragment once, as bytes.
const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const F_IRT = enc('", "in_reply_to": ');
const F_QUOTE = enc('"');
const F_NULL = enc("null");
const ACTIVE_KEY = ', "active_connections": ';
const F_END = enc("}}\n");
const F_SEP = enc(", ");
// Replies share a few prefixes, `{"src": S, "dest": D, "body": {"type": "T`:
// the last HEADS_KEPT are kept as bytes. The parser hands out the same
// string objects for repeated names, so the lookup is a few identity checks.
const HEADS_KEPT = 8;
const heads: Array<{ src: string; dest: string; type: string; bytes: Uint8Array }> = [];
let headNext = 0;

function headBytes(src: string, dest: string, type: string): Uint8Array {
  for (let i = 0; i < heads.length; i++) {
    const h = heads[i]!;
    if (h.src === src && h.dest === dest && h.type === type) return h.bytes;
  }
  const bytes = enc('{"src": ' + quote(src) + ', "dest": ' + quote(dest) + ', "body": {"type": "' + type);
  heads[headNext] = { src, dest, type, bytes };
  headNext = (headNext + 1) % HEADS_KEPT;
  return bytes;
}

/**
 * Appends one reply and its newline to `out`; returns -1. A list as the
 * first field (send_requests' picks) may come in pieces: past `limit` output
 * bytes it stops before a name and returns that name's index, and a call
 * with it as `from` goes on there (a million picks need not be one buffer).
 */
export function writeReply(out: Output, r: Reply, limit = Infinity, from = 0): number {
  const { type, fields } = r.body;
  if (from === 0) {
    out.put(headBytes(r.src, r.dest, type));
    if (r.inReplyTo === undefined) out.put(F_QUOTE);
    else {
      out.put(F_IRT);
      out.int(r.inReplyTo);
    }
  }
  // The hot path's replies, a routed request and a completion, are one
  // cached fragment (the backend's name between fixed text) and the counts.
  const complete = type === "request_complete_ok";
  if (complete || (fields.length === 6 && fields[1] === 200)) {
    const name = fields.at(-3) as string;
    out.put(
      complete ? cached(completeHead, name, ', "backend": ', ACTIVE_KEY) : cached(okHead, name, ', "status": 200, "backend": ', ACTIVE_KEY),
    );
    value(out, fields.at(-1)!);
  } else {
    for (let k = 0; k < fields.length; k += 2) {
      const v = fields[k + 1]!;
      if (k > 0 || from === 0) out.put(cached(keys, fields[k] as string, ", ", ": "));
      if (k > 0 || !Array.isArray(v)) value(out, v);
      else if ((from = names(out, v, limit, from)) < v.length) return from;
    }
  }
  out.put(F_END);
  return -1;
}

function value(out: Output, v: Value): void {
  if (typeof v === "number") out.int(v);
  else if (typeof v === "string") out.str(v);
  else if (v === null) out.put(F_NULL);
  else if (Array.isArray(v)) names(out, v);
  else {
    objectOut = out;
    objectFirst = true;
    out.byte(0x7b);
    if (v instanceof Map) for (const [key, x] of v as ReadonlyMap<string, Value>) entry(key, x);
    else (v as Counts).forEachActive(entry);
    out.byte(0x7d);
  }
}

// An object's entries (a Map's, or counts by name) go through one
// module-level function, so writing counts allocates nothing, not even a closure.
let objectOut!: Output;
let objectFirst = true;

function entry(key: string, x: Value): void {
  objectOut.put(objectFirst ? cached(firstKeys, key, "", ": ") : cached(keys, key, ", ", ": "));
  value(objectOut, x);
  objectFirst = false; // also after a nested object, which set it for its own entries
}

// Writes list[from…] until `out` holds `limit` bytes (at least one name);
// returns the index of the first name not written.
function names(out: Output, list: readonly string[], limit = Infinity, from = 0): number {
  if (from === 0) out.byte(0x5b);
  // Names too long for the shared cache are quoted once per reply, not once
  // per pick (send_requests repeats them up to a million times).
  let long: Map<string, Uint8Array> | undefined;
  for (let i = from; i < list.length; i++) {
    if (i !== from && out.length >= limit) return i;
    if (i !== 0) out.put(F_SEP);
    const name = list[i]!;
    if (name.length <= QUOTE_CACHE_MAX_LEN) {
      out.str(name);
      continue;
    }
    long ??= new Map();
    let bytes = long.get(name);
    if (bytes === undefined) long.set(name, (bytes = enc(quote(name))));
    out.put(bytes);
  }
  out.byte(0x5d);
  return list.length;
}

// Backend names and envelope addresses repeat on every reply: their quoted
// bytes are cached (bounded, so hostile input cannot grow it without end).
const QUOTE_CACHE_MAX = 4096;
const QUOTE_CACHE_MAX_LEN = 64;
// The same for fragments made of a quoted name between fixed text: a reply
// is then a handful of copies.
const quotedCache = new Map<string, Uint8Array>();
const keys = new Map<string, Uint8Array>();
const okHead = new Map<string, Uint8Array>();
const completeHead = new Map<string, Uint8Array>();
const firstKeys = new Map<string, Uint8Array>();

function cached(cache: Map<string, Uint8Array>, name: string, before: string, after: string): Uint8Array {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const bytes = enc(before + quote(name) + after);
  if (name.length <= QUOTE_CACHE_MAX_LEN) {
    if (cache.size >= QUOTE_CACHE_MAX) cache.clear();
    cache.set(name, bytes);
  }
  return bytes;
}

/** A JSON string literal as Python's json.dumps writes it (ensure_ascii). */
export function quote(s: string): string {
  // JSON.stringify escapes what Python does below 0x20, '"', '\\' and lone
  // surrogates, in the same forms; Python also escapes DEL and all non-ASCII.
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}
