// A session of the node: framer → parser → handler → formatter, bytes in and
// reply text out, with no I/O and no runtime API, so Node, Deno and a
// browser run the same code. cli/main.ts drives one Session from stdin;
// runSession() runs a whole input at once with the manual clock, which is
// what the golden transcripts are checked against in every runtime.

import { Output, type Reply, writeReply } from "./format.js";
import { Framer, type FrameSink } from "./framer.js";
import { Handler } from "./handler.js";
import type { JsonObject } from "./json.js";

export interface SessionOptions {
  /** "manual" (default): the clock starts at 0 and moves only through `now` fields; or a real clock, read once per chunk. */
  clock?: "manual" | (() => number);
  /** Receives each line meant for standard error, without "leastconn: " or a newline. */
  onDiagnostic?: (text: string) => void;
  /**
   * Output bytes a push() or resume() may gather (default 4 MiB), give or
   * take one reply; the rest (of the input, of a long send_requests reply)
   * waits for resume(), so no input needs more memory than this.
   */
  maxOutput?: number;
  /** Most tracked requests open at once (the handler's default when absent). */
  maxOpen?: number;
}

// A message waiting its turn, a framer diagnostic that must keep its place
// among the diagnostics of the messages around it, or the rest of a reply.
type HeldFrame = { msg: JsonObject; line: number; invalidUtf8: boolean } | { text: string } | { reply: Reply; from: number };

export class Session implements FrameSink {
  private readonly framer = new Framer(this);
  private readonly handler: Handler;
  private readonly realClock: (() => number) | undefined;
  private readonly onDiagnostic: (text: string) => void;
  private readonly out = new Output();
  private readonly maxOutput: number;
  private held: HeldFrame[] = [];
  private heldAt = 0;
  private line = 0; // where the message being handled began

  constructor(options: SessionOptions = {}) {
    const clock = options.clock ?? "manual";
    this.maxOutput = options.maxOutput ?? 4 << 20;
    this.realClock = clock === "manual" ? undefined : clock;
    this.onDiagnostic = options.onDiagnostic ?? (() => {});
    // The handler does not know where a message was: say which line it began on.
    this.handler = new Handler({
      manualClock: clock === "manual",
      maxOpen: options.maxOpen,
      diagnostic: (text) => this.onDiagnostic(`line ${this.line}: ${text}`),
    });
  }

  /** Handles every message this chunk completes; returns their replies, a line each, in ASCII (the caller's, or to recycle()). */
  push(chunk: Uint8Array): Uint8Array {
    this.tick();
    this.framer.push(chunk);
    return this.out.take();
  }

  /** With a real clock: when resume() should next be called, as the time alone may answer a queued request (undefined: never). */
  get wakeAt(): number | undefined {
    return this.realClock === undefined ? undefined : this.handler.wakeAt;
  }

  /** Messages framed but not yet handled: call resume() (after writing the output) until false. */
  get waiting(): boolean {
    return this.heldAt < this.held.length;
  }

  /** Reads the real clock and handles held messages up to the output limit; returns the replies. */
  resume(): Uint8Array {
    this.tick();
    this.handleHeld();
    return this.out.take();
  }

  // The real clock, read once per chunk; what it makes due (a queued
  // request's timeout) is answered first, or, while messages are held (a
  // reply may be half written), before the next one's reply.
  private tick(): void {
    if (this.realClock === undefined) return;
    this.handler.setTime(this.realClock());
    if (!this.waiting) this.write(null);
  }

  private handleHeld(): void {
    while (this.waiting && this.out.length < this.maxOutput) {
      const f = this.held[this.heldAt]!;
      this.held[this.heldAt++] = undefined as never;
      if ("text" in f) this.onDiagnostic(f.text);
      else if ("reply" in f) this.writeFrom(f.reply, f.from);
      else this.handle(f.msg, f.line, f.invalidUtf8);
    }
    if (!this.waiting) {
      this.held = [];
      this.heldAt = 0;
    }
  }

  /** Hands back output from push() or end() once it is written, for reuse. */
  recycle(output: Uint8Array): void {
    this.out.recycle(output);
  }

  /** End of input: reports a message cut short, answers queued requests; returns any last output. */
  end(): Uint8Array {
    while (this.waiting) this.handleHeld();
    this.framer.end();
    this.handler.close();
    this.write(null);
    return this.out.take();
  }

  /** @internal FrameSink */
  frame(msg: JsonObject, line: number, invalidUtf8: boolean): void {
    // Once the output is full, every later message waits its turn, in order.
    if (this.waiting || this.out.length >= this.maxOutput) this.held.push({ msg, line, invalidUtf8 });
    else this.handle(msg, line, invalidUtf8);
  }

  private handle(msg: JsonObject, line: number, invalidUtf8: boolean): void {
    this.line = line;
    try {
      this.write(invalidUtf8 ? this.handler.refuse(msg) : this.handler.handle(msg));
    } catch (err) {
      // A bug, not bad input: no input may stop the node.
      this.onDiagnostic(`line ${line}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }

  // Writes a message's reply among the handler's replies to queued requests
  // (those its arrival caused first). Only a send_requests reply is written
  // in pieces, and it serves no queued request: nothing follows it.
  private write(reply: Reply | null): void {
    const h = this.handler;
    const extra = h.extra;
    for (let i = 0; i < h.extraBefore; i++) this.writeFrom(extra[i]!, 0);
    if (reply !== null) this.writeFrom(reply, 0);
    for (let i = h.extraBefore; i < extra.length; i++) this.writeFrom(extra[i]!, 0);
    extra.length = 0;
    h.extraBefore = 0;
  }

  private writeFrom(reply: Reply, from: number): void {
    const next = writeReply(this.out, reply, this.maxOutput, from);
    // The rest of the reply waits first in line (all that follows it waits too: the output is full).
    if (next >= 0) this.held.splice(this.heldAt, 0, { reply, from: next });
  }

  /** @internal FrameSink */
  diagnostic(text: string): void {
    if (this.waiting) this.held.push({ text });
    else this.onDiagnostic(text);
  }
}

/** The node's whole stdout for a whole input, with the manual clock: byte for byte what `leastconn --clock manual` prints. */
export function runSession(input: Uint8Array, options: Pick<SessionOptions, "onDiagnostic" | "maxOutput"> = {}): string {
  const session = new Session({ clock: "manual", ...options });
  // Replies are ASCII: every other character is escaped.
  let text = latin1.decode(session.push(input));
  while (session.waiting) text += latin1.decode(session.resume());
  return text + latin1.decode(session.end());
}

const latin1 = new TextDecoder("latin1");
