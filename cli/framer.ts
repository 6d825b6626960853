// The framer: cuts a byte stream into JSON objects, one per message, without
// decoding it. A validating tokenizer (the full JSON grammar, byte by byte)
// finds where each top-level object ends, so messages may span lines and
// several may share one; the parser (json.ts) then trusts the grammar.
//
// Bad input never stops the stream. A syntax error ends the current frame
// and the framer resynchronises: at the error byte when nothing but
// whitespace precedes it on its line (the usual case of a truncated message
// followed by the next one), else at the next line. A frame over
// MAX_FRAME_BYTES or nested deeper than MAX_DEPTH is refused without keeping
// its bytes. Runtime-neutral: bytes in, callbacks out, no I/O.

/** Largest message accepted, in bytes (1 MiB). */
export const MAX_FRAME_BYTES = 1 << 20;
/** Deepest nesting accepted; replies never need more than four levels. */
export const MAX_DEPTH = 64;

export interface FrameSink {
  /** A complete, grammatical object: bytes[start, end). Valid only during the call. */
  frame(bytes: Uint8Array, start: number, end: number, line: number): void;
  /**
   * Optional fast path: take a whole object from bytes[start] ('{') if it
   * lies, grammatical and on one line, before `limit`; return the index
   * just past it, or -1 to leave it to the framer. Must accept no more
   * than the framer would (a parser that checks as it parses fits).
   */
  fastFrame?(bytes: Uint8Array, start: number, limit: number, line: number): number;
  /** A line for standard error: what was dropped and why. */
  diagnostic(text: string): void;
}

// Tokenizer states.
const TOP = 0;            // between messages
const GARBAGE = 1;        // skipping to the end of the line
const VALUE = 2;          // a value must follow (after ':' or an array's ',')
const VALUE_OR_END = 3;   // after '['
const KEY_OR_END = 4;     // after '{'
const KEY = 5;            // after an object's ','
const COLON = 6;
const AFTER_VALUE = 7;    // ',' or the container's close
const STRING = 8;
const ESCAPE = 9;
const HEX = 10;           // inside \uXXXX; `hexLeft` digits to go
const MINUS = 11;         // after '-': a digit must follow
const ZERO = 12;          // a leading 0: no more integer digits
const INT = 13;
const FRAC_FIRST = 14;    // after '.': a digit must follow
const FRAC = 15;
const EXP_FIRST = 16;     // after 'e': sign or digit
const EXP_SIGN = 17;      // after the exponent's sign: a digit must follow
const EXP = 18;
const LITERAL = 19;       // inside true/false/null

const BOM = [0xef, 0xbb, 0xbf];
const LIT_TRUE = [0x74, 0x72, 0x75, 0x65];
const LIT_FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const LIT_NULL = [0x6e, 0x75, 0x6c, 0x6c];

// Byte classes for the hot loops: 1 JSON whitespace, 2 hex digit.
const CLASS = new Uint8Array(256);
for (const b of [0x20, 0x09, 0x0a, 0x0d]) CLASS[b] = 1;
for (let b = 0x30; b <= 0x39; b++) CLASS[b] = 2;
for (let b = 0x61; b <= 0x66; b++) CLASS[b] = 2;
for (let b = 0x41; b <= 0x46; b++) CLASS[b] = 2;

function describeByte(b: number): string {
  if (b >= 0x21 && b <= 0x7e) return `"${String.fromCharCode(b)}"`;
  if (b === 0x0a) return "end of line";
  return `byte 0x${b.toString(16).padStart(2, "0")}`;
}

export class Framer {
  private state = TOP;
  private afterString = AFTER_VALUE; // where a closing quote leads (COLON for keys)
  private hexLeft = 0;
  private literal: number[] = LIT_TRUE;
  private litAt = 0;
  // Open containers, 1 for an object, 0 for an array.
  private readonly stack = new Uint8Array(MAX_DEPTH);
  private depth = 0;
  // Bytes of a frame that began in an earlier chunk.
  private pending = new Uint8Array(4096);
  private pendingLen = 0;
  private frameBytes = 0;        // bytes of the current frame before this chunk
  private oversize = false;      // current frame is over the limit: not kept
  private line = 1;              // 1-based line of the byte being read
  private frameLine = 1;
  private lineClean = true;      // only whitespace so far on this line
  private quiet = false;         // a diagnostic already covers the bytes being skipped
  private started = false;       // past a leading byte-order mark, if any
  private bomAt = 0;             // bytes of the byte-order mark matched so far

  constructor(private readonly sink: FrameSink) {}

  /** True between the first byte of a message and its end. */
  get inFrame(): boolean {
    return this.state >= VALUE;
  }

  /** Feeds one chunk; complete frames and diagnostics go to the sink before it returns. */
  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    let state = this.state;
    // A UTF-8 byte-order mark at the very start is not garbage (matched byte
    // by byte, so it may be split across chunks).
    while (!this.started && i < n) {
      if (chunk[i] === BOM[this.bomAt]) {
        i++;
        if (++this.bomAt === BOM.length) this.started = true;
        continue;
      }
      this.started = true;
      if (this.bomAt > 0) {
        this.sink.diagnostic(`line 1: skipped input that is not a JSON object (starts with ${describeByte(BOM[0]!)})`);
        this.quiet = true;
        state = GARBAGE;
      }
    }
    let start = this.state >= VALUE ? 0 : -1; // frame start in this chunk; -1: none
    while (i < n) {
      const b = chunk[i]!;
      let clean = false; // the error byte, if any, is the first non-blank byte of its line
      switch (state) {
        case TOP:
          if (b === 0x7b) {
            // Fast path: a whole single-line frame inside this chunk.
            const limit = Math.min(n, i + MAX_FRAME_BYTES);
            let end: number;
            if (this.sink.fastFrame !== undefined) {
              end = this.sink.fastFrame(chunk, i, limit, this.line);
            } else {
              end = fastObject(chunk, i + 1, limit, 1);
              if (end > 0) this.sink.frame(chunk, i, end, this.line);
            }
            if (end > 0) {
              this.quiet = false;
              this.lineClean = false;
              i = end;
              continue;
            }
            start = i;
            this.frameBytes = 0;
            this.frameLine = this.line;
            this.oversize = false;
            this.quiet = false;
            this.stack[0] = 1;
            this.depth = 1;
            this.lineClean = false;
            state = KEY_OR_END;
          } else if (CLASS[b] === 1) {
            if (b === 0x0a) { this.line++; this.lineClean = true; }
          } else {
            if (!this.quiet) {
              this.sink.diagnostic(`line ${this.line}: skipped input that is not a JSON object (starts with ${describeByte(b)})`);
              this.quiet = true;
            }
            state = GARBAGE;
            continue;
          }
          i++;
          continue;
        case GARBAGE: {
          const nl = chunk.indexOf(0x0a, i);
          if (nl < 0) { i = n; continue; }
          i = nl + 1;
          this.line++;
          this.lineClean = true;
          state = TOP;
          continue;
        }
        case STRING: {
          // Hot loop: plain string bytes.
          while (i < n) {
            const c = chunk[i]!;
            if (c === 0x22 || c === 0x5c || c < 0x20) break;
            i++;
          }
          if (i === n) continue;
          const c = chunk[i]!;
          if (c === 0x22) { state = this.afterString; i++; continue; }
          if (c === 0x5c) { state = ESCAPE; i++; continue; }
          break; // a control byte in a string: error below
        }
        case ESCAPE:
          if (b === 0x75) { state = HEX; this.hexLeft = 4; i++; continue; }
          if (b === 0x22 || b === 0x5c || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74) {
            state = STRING; i++; continue;
          }
          break;
        case HEX:
          if (CLASS[b] === 2) {
            if (--this.hexLeft === 0) state = STRING;
            i++;
            continue;
          }
          break;
        case LITERAL:
          if (b === this.literal[this.litAt]) {
            if (++this.litAt === this.literal.length) state = AFTER_VALUE;
            i++;
            continue;
          }
          break;
        case MINUS:
          if (b === 0x30) { state = ZERO; i++; continue; }
          if (b >= 0x31 && b <= 0x39) { state = INT; i++; continue; }
          break;
        case INT:
          if (b >= 0x30 && b <= 0x39) { i++; continue; }
        // falls through: what may follow an integer's digits
        case ZERO:
          if (b === 0x2e) { state = FRAC_FIRST; i++; continue; }
          if (b === 0x65 || b === 0x45) { state = EXP_FIRST; i++; continue; }
          state = AFTER_VALUE;
          continue;
        case FRAC_FIRST:
          if (b >= 0x30 && b <= 0x39) { state = FRAC; i++; continue; }
          break;
        case FRAC:
          if (b >= 0x30 && b <= 0x39) { i++; continue; }
          if (b === 0x65 || b === 0x45) { state = EXP_FIRST; i++; continue; }
          state = AFTER_VALUE;
          continue;
        case EXP_FIRST:
          if (b === 0x2b || b === 0x2d) { state = EXP_SIGN; i++; continue; }
        // falls through: a digit right after 'e'
        case EXP_SIGN:
          if (b >= 0x30 && b <= 0x39) { state = EXP; i++; continue; }
          break;
        case EXP:
          if (b >= 0x30 && b <= 0x39) { i++; continue; }
          state = AFTER_VALUE;
          continue;
        default: {
          // Structural states: whitespace first.
          if (CLASS[b] === 1) {
            if (b === 0x0a) { this.line++; this.lineClean = true; }
            i++;
            continue;
          }
          clean = this.lineClean;
          this.lineClean = false;
          if (state === AFTER_VALUE) {
            const inObject = this.stack[this.depth - 1] === 1;
            if (b === 0x2c) { state = inObject ? KEY : VALUE; i++; continue; }
            if (b === (inObject ? 0x7d : 0x5d)) {
              i++;
              if (--this.depth === 0) {
                this.emit(chunk, start, i);
                start = -1;
                state = TOP;
              }
              continue;
            }
            break;
          }
          if (state === COLON) {
            if (b === 0x3a) { state = VALUE; i++; continue; }
            break;
          }
          if (state === KEY_OR_END || state === KEY) {
            if (b === 0x22) { state = STRING; this.afterString = COLON; i++; continue; }
            if (b === 0x7d && state === KEY_OR_END) {
              i++;
              if (--this.depth === 0) {
                this.emit(chunk, start, i);
                start = -1;
                state = TOP;
              } else {
                state = AFTER_VALUE;
              }
              continue;
            }
            break;
          }
          // VALUE or VALUE_OR_END
          if (b === 0x5d && state === VALUE_OR_END) {
            i++;
            this.depth--; // an array never closes a frame: frames are objects
            state = AFTER_VALUE;
            continue;
          }
          if (b === 0x22) { state = STRING; this.afterString = AFTER_VALUE; i++; continue; }
          if (b >= 0x30 && b <= 0x39) { state = b === 0x30 ? ZERO : INT; i++; continue; }
          if (b === 0x2d) { state = MINUS; i++; continue; }
          if (b === 0x7b || b === 0x5b) {
            if (this.depth === MAX_DEPTH) {
              state = this.fail(chunk, start, i, clean, `nested deeper than ${MAX_DEPTH} levels`);
              start = -1;
              continue;
            }
            this.stack[this.depth++] = b === 0x7b ? 1 : 0;
            state = b === 0x7b ? KEY_OR_END : VALUE_OR_END;
            i++;
            continue;
          }
          if (b === 0x74 || b === 0x66 || b === 0x6e) {
            this.literal = b === 0x74 ? LIT_TRUE : b === 0x66 ? LIT_FALSE : LIT_NULL;
            this.litAt = 1;
            state = LITERAL;
            i++;
            continue;
          }
          break;
        }
      }
      // Only a syntax error at byte i reaches here.
      state = this.fail(chunk, start, i, clean, `unexpected ${describeByte(chunk[i]!)}`);
      start = -1;
    }
    this.state = state;
    if (state >= VALUE && start >= 0) this.keep(chunk, start, n);
  }

  /** End of input: a message cut short is reported and dropped. */
  end(): void {
    if (this.state >= VALUE) {
      if (!this.oversize) this.sink.diagnostic(`line ${this.frameLine}: input ended inside a message; dropped it`);
      this.pendingLen = 0;
    }
    this.state = TOP;
  }

  // A syntax error at chunk[i]: reports it and returns the state to go on in.
  // The same diagnostics come out however the input is cut into chunks: a
  // frame found over the limit only here is reported as over the limit.
  private fail(chunk: Uint8Array, start: number, i: number, clean: boolean, why: string): number {
    if (!this.oversize) {
      if (this.frameBytes + i - start > MAX_FRAME_BYTES) this.refuse();
      else this.sink.diagnostic(`line ${this.line}: message starting on line ${this.frameLine} is not valid JSON (${why}); skipped it`);
    }
    this.pendingLen = 0;
    this.oversize = false;
    this.depth = 0;
    this.quiet = true;
    if (clean) return TOP; // resynchronise at this byte: it may start the next message
    if (chunk[i] === 0x0a) return TOP; // TOP consumes the newline itself
    return GARBAGE;
  }

  private emit(chunk: Uint8Array, start: number, end: number): void {
    if (this.oversize) {
      this.oversize = false;
      this.pendingLen = 0;
      return;
    }
    if (start > 0 || this.pendingLen === 0) {
      // start > 0: the frame began in this chunk (pending holds nothing of it).
      if (this.frameBytes + end - start > MAX_FRAME_BYTES) return this.refuse();
      this.sink.frame(chunk, start, end, this.frameLine);
      return;
    }
    const total = this.pendingLen + end;
    if (total > MAX_FRAME_BYTES) return this.refuse();
    this.append(chunk, 0, end);
    const bytes = this.pending;
    this.pendingLen = 0;
    this.sink.frame(bytes, 0, total, this.frameLine);
  }

  private refuse(): void {
    this.pendingLen = 0;
    this.sink.diagnostic(`line ${this.frameLine}: message over ${MAX_FRAME_BYTES} bytes refused`);
  }

  // The chunk ended inside a frame: keep its bytes, unless it is over the limit.
  private keep(chunk: Uint8Array, start: number, end: number): void {
    if (this.oversize) return;
    const size = this.pendingLen + end - start;
    if (size > MAX_FRAME_BYTES) {
      this.refuse();
      this.oversize = true;
      return;
    }
    this.append(chunk, start, end);
    this.frameBytes = this.pendingLen;
  }

  private append(chunk: Uint8Array, start: number, end: number): void {
    const need = this.pendingLen + end - start;
    if (need > this.pending.length) {
      let cap = this.pending.length * 2;
      while (cap < need) cap *= 2;
      const grown = new Uint8Array(cap);
      grown.set(this.pending.subarray(0, this.pendingLen));
      this.pending = grown;
    }
    this.pending.set(chunk.subarray(start, end), this.pendingLen);
    this.pendingLen = need;
  }
}

// ---- the fast path ----
// A recursive-descent check of one object that lies wholly in the chunk and
// on one line: the common case, in tight loops with no state to save. It
// accepts exactly what the state machine above accepts, and returns -1
// (leaving the state machine to decide) on anything else: a newline, the
// chunk's end, a syntax error, nesting at the limit.

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function skipBlank(b: Uint8Array, i: number, n: number): number {
  while (i < n) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return i;
    i++;
  }
  return i;
}

// i: just past the opening quote. Returns the index past the closing quote.
function fastString(b: Uint8Array, i: number, n: number): number {
  while (i < n) {
    const c = b[i]!;
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -1;
    if (c === 0x5c) {
      if (i + 1 >= n) return -1;
      const e = b[i + 1]!;
      if (e === 0x75) {
        if (i + 5 >= n) return -1;
        if (CLASS[b[i + 2]!] !== 2 || CLASS[b[i + 3]!] !== 2 || CLASS[b[i + 4]!] !== 2 || CLASS[b[i + 5]!] !== 2) return -1;
        i += 6;
        continue;
      }
      if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2;
        continue;
      }
      return -1;
    }
    i++;
  }
  return -1;
}

function fastNumber(b: Uint8Array, i: number, n: number): number {
  if (b[i] === 0x2d) i++;
  if (i >= n) return -1;
  const c = b[i]!;
  if (c === 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) {
    i++;
    while (i < n && isDigit(b[i]!)) i++;
  } else return -1;
  if (i < n && b[i] === 0x2e) {
    i++;
    if (i >= n || !isDigit(b[i]!)) return -1;
    while (i < n && isDigit(b[i]!)) i++;
  }
  if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    if (i >= n || !isDigit(b[i]!)) return -1;
    while (i < n && isDigit(b[i]!)) i++;
  }
  return i < n ? i : -1;
}

function fastLiteral(b: Uint8Array, i: number, n: number, lit: number[]): number {
  if (i + lit.length > n) return -1;
  for (let k = 1; k < lit.length; k++) if (b[i + k] !== lit[k]) return -1;
  return i + lit.length;
}

// depth: nesting of the container the value is in.
function fastValue(b: Uint8Array, i: number, n: number, depth: number): number {
  i = skipBlank(b, i, n);
  if (i >= n) return -1;
  const c = b[i]!;
  if (c === 0x22) return fastString(b, i + 1, n);
  if (c === 0x7b) return depth >= MAX_DEPTH ? -1 : fastObject(b, i + 1, n, depth + 1);
  if (c === 0x5b) return depth >= MAX_DEPTH ? -1 : fastArray(b, i + 1, n, depth + 1);
  if (c === 0x2d || isDigit(c)) return fastNumber(b, i, n);
  if (c === 0x74) return fastLiteral(b, i, n, LIT_TRUE);
  if (c === 0x66) return fastLiteral(b, i, n, LIT_FALSE);
  if (c === 0x6e) return fastLiteral(b, i, n, LIT_NULL);
  return -1;
}

// i: just past '{'; depth counts this object. Returns the index past '}'.
function fastObject(b: Uint8Array, i: number, n: number, depth: number): number {
  i = skipBlank(b, i, n);
  if (i >= n) return -1;
  if (b[i] === 0x7d) return i + 1;
  for (;;) {
    if (b[i] !== 0x22) return -1;
    i = fastString(b, i + 1, n);
    if (i < 0) return -1;
    i = skipBlank(b, i, n);
    if (i >= n || b[i] !== 0x3a) return -1;
    i = fastValue(b, i + 1, n, depth);
    if (i < 0) return -1;
    i = skipBlank(b, i, n);
    if (i >= n) return -1;
    const c = b[i]!;
    if (c === 0x7d) return i + 1;
    if (c !== 0x2c) return -1;
    i = skipBlank(b, i + 1, n);
    if (i >= n) return -1;
  }
}

function fastArray(b: Uint8Array, i: number, n: number, depth: number): number {
  i = skipBlank(b, i, n);
  if (i >= n) return -1;
  if (b[i] === 0x5d) return i + 1;
  for (;;) {
    i = fastValue(b, i, n, depth);
    if (i < 0) return -1;
    i = skipBlank(b, i, n);
    if (i >= n) return -1;
    const c = b[i]!;
    if (c === 0x5d) return i + 1;
    if (c !== 0x2c) return -1;
    i++;
  }
}
