// The framer: cuts a byte stream into messages, one JSON object each. The
// parser (json.ts) reads each object as its bytes arrive and says where it
// ends or stops being JSON; the framer counts lines and decides what to skip.
// So messages may span lines and chunks, and several may share a line.
//
// Bad input never stops the stream. A syntax error ends the current frame
// and the framer resynchronises: at the error byte when nothing but
// whitespace precedes it on its line (the usual case of a truncated message
// followed by the next one), else at the next line. A frame over
// MAX_FRAME_BYTES is refused, then only checked to find its end; nesting
// deeper than MAX_DEPTH is a syntax error. Bytes in, callbacks out, no I/O.

import { describeByte, INVALID, type JsonObject, MORE, Parser } from "./json.js";

/** Largest message accepted, in bytes (1 MiB). */
export const MAX_FRAME_BYTES = 1 << 20;

export interface FrameSink {
  /** A complete message that began on `line`; invalidUtf8: some string in it is not UTF-8. */
  frame(msg: JsonObject, line: number, invalidUtf8: boolean): void;
  /** A line for standard error: what was dropped and why. */
  diagnostic(text: string): void;
}

const TOP = 0; // between messages
const GARBAGE = 1; // skipping to the end of the line
const FRAME = 2; // inside a message: the parser reads it

const BOM = [0xef, 0xbb, 0xbf];

export class Framer {
  private readonly parser = new Parser();
  private state = TOP;
  private line = 1; // 1-based line of the byte being read
  private frameLine = 1;
  private frameBytes = 0; // bytes of the current frame read before this piece
  private oversize = false; // current frame is over the limit: checked, not kept
  private quiet = false; // a diagnostic already covers the bytes being skipped
  private bomAt = 0; // bytes of a leading byte-order mark matched so far; -1 once past it

  constructor(private readonly sink: FrameSink) {}

  /** Feeds one chunk; complete frames and diagnostics go to the sink before it returns. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.state === FRAME) {
        i = this.read(chunk, i, n);
        continue;
      }
      if (this.state === GARBAGE) {
        const nl = chunk.indexOf(0x0a, i);
        if (nl < 0) return;
        i = nl + 1;
        this.line++;
        this.state = TOP;
        continue;
      }
      const b = chunk[i]!;
      if (this.bomAt >= 0) {
        // A UTF-8 byte-order mark at the very start is not garbage (matched
        // byte by byte, as it may be split across chunks); part of one is.
        const part = this.bomAt;
        this.bomAt = b === BOM[part] && part < 2 ? part + 1 : -1;
        if (b === BOM[part]) i++;
        else if (part > 0) this.garbage(BOM[0]!);
        if (b === BOM[part] || part > 0) continue;
      }
      if (b === 0x7b) {
        this.frameLine = this.line;
        this.frameBytes = 0;
        this.oversize = false;
        this.quiet = false;
        this.parser.begin(this.line);
        i = this.read(chunk, i, n);
        continue;
      }
      if (b === 0x0a) this.line++;
      else if (b !== 0x20 && b !== 0x09 && b !== 0x0d) {
        this.garbage(b);
        continue;
      }
      i++;
    }
  }

  // Skips to the end of the line, with one diagnostic for a run of such lines.
  private garbage(b: number): void {
    if (!this.quiet) this.sink.diagnostic(`line ${this.line}: skipped input that is not a JSON object (starts with ${describeByte(b)})`);
    this.quiet = true;
    this.state = GARBAGE;
  }

  /** End of input: a message cut short is reported and dropped. */
  end(): void {
    if (this.state === FRAME && !this.oversize) this.sink.diagnostic(`line ${this.frameLine}: input ended inside a message; dropped it`);
    this.state = TOP;
  }

  // Hands the current frame's bytes from chunk[i] to the parser; returns
  // where to go on. The parser reads one byte past the limit before the
  // frame is refused, so that a syntax error there is reported as such, the
  // same however the input is cut into chunks.
  private read(chunk: Uint8Array, i: number, n: number): number {
    const p = this.parser;
    const limit = this.oversize ? n : Math.min(n, i + MAX_FRAME_BYTES + 1 - this.frameBytes);
    const end = p.feed(chunk, i, limit);
    if (end === MORE) {
      this.state = FRAME;
      this.frameBytes += limit - i;
      if (this.frameBytes > MAX_FRAME_BYTES && !this.oversize) {
        this.refuse();
        this.oversize = true;
        p.stopBuilding();
      }
      return limit;
    }
    this.state = TOP;
    this.line = p.line;
    if (end === INVALID) {
      const why = `message starting on line ${this.frameLine} is not valid JSON (${p.why}); skipped it`;
      if (!this.oversize) this.sink.diagnostic(`line ${p.line}: ${why}`);
      this.quiet = true;
      // Go on at the offending byte if it may start the next message (TOP
      // also takes a newline), else at the next line.
      if (!p.clean && chunk[p.at] !== 0x0a) this.state = GARBAGE;
      return p.at;
    }
    if (this.oversize) return end;
    if (this.frameBytes + end - i > MAX_FRAME_BYTES) this.refuse();
    else this.sink.frame(p.value as JsonObject, this.frameLine, p.invalidUtf8);
    return end;
  }

  private refuse(): void {
    this.sink.diagnostic(`line ${this.frameLine}: message over ${MAX_FRAME_BYTES} bytes refused`);
  }
}
