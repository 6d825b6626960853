// A session of the node: framer → parser → handler → formatter, bytes in and
// reply text out, with no I/O and no runtime API, so Node, Deno and a
// browser run the same code. cli/main.ts drives one Session from stdin;
// runSession() runs a whole input at once with the manual clock, which is
// what the golden transcripts are checked against in every runtime.

import { Framer, MAX_DEPTH, type FrameSink } from "./framer.js";
import { Output, writeReply } from "./format.js";
import { Handler } from "./handler.js";
import { Parser, type Json } from "./json.js";

export interface SessionOptions {
  /**
   * "manual" (default): the clock starts at 0 and moves only through `now`
   * fields; deadlines fire when it reaches them. A function: a real clock,
   * read once per chunk (the `now` field is then ignored).
   */
  clock?: "manual" | (() => number);
  /** Receives each line meant for standard error, without "leastconn: " or a newline. */
  onDiagnostic?: (text: string) => void;
}

export class Session implements FrameSink {
  private readonly framer = new Framer(this);
  private readonly parser = new Parser();
  private readonly handler: Handler;
  private readonly realClock: (() => number) | undefined;
  private readonly onDiagnostic: (text: string) => void;
  private readonly out = new Output();
  private line = 0; // where the message being handled began

  constructor(options: SessionOptions = {}) {
    const clock = options.clock ?? "manual";
    this.realClock = clock === "manual" ? undefined : clock;
    this.onDiagnostic = options.onDiagnostic ?? (() => {});
    // The handler does not know where a message was: say which line it began on.
    this.handler = new Handler({
      manualClock: clock === "manual",
      diagnostic: (text) => this.onDiagnostic(`line ${this.line}: ${text}`),
    });
  }

  /**
   * Handles every message completed by this chunk; returns their replies,
   * one per line, as ASCII bytes (the caller's to keep, or to recycle()).
   */
  push(chunk: Uint8Array): Uint8Array {
    if (this.realClock !== undefined) this.handler.setTime(this.realClock());
    this.framer.push(chunk);
    return this.out.take();
  }

  /** Hands back output from push() or end() once it is written, for reuse. */
  recycle(output: Uint8Array): void {
    this.out.recycle(output);
  }

  /** End of input: reports a message cut short; returns any last output. */
  end(): Uint8Array {
    this.framer.end();
    return this.out.take();
  }

  /** @internal FrameSink: parse while checking, in one pass. */
  fastFrame(bytes: Uint8Array, start: number, limit: number, line: number): number {
    const msg = this.parser.tryParse(bytes, start, limit, MAX_DEPTH);
    if (msg === undefined) return -1;
    this.handle(msg, line);
    return this.parser.end;
  }

  /** @internal FrameSink */
  frame(bytes: Uint8Array, start: number, end: number, line: number): void {
    let msg: Json;
    try {
      msg = this.parser.parse(bytes, start, end);
    } catch (err) {
      this.onDiagnostic(`line ${line}: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      return;
    }
    this.handle(msg, line);
  }

  private handle(msg: Json, line: number): void {
    let reply;
    this.line = line;
    try {
      if (this.parser.invalidUtf8) {
        this.onDiagnostic(`line ${line}: message is not valid UTF-8; refused it`);
        reply = this.handler.refuse(msg, "message is not valid UTF-8");
      } else {
        reply = this.handler.handle(msg);
      }
    } catch (err) {
      // A bug, not bad input: no input may stop the node.
      this.onDiagnostic(`line ${line}: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      return;
    }
    if (reply !== null) writeReply(this.out, reply);
  }

  /** @internal FrameSink */
  diagnostic(text: string): void {
    this.onDiagnostic(text);
  }
}

/**
 * The node's whole standard output for a whole input, with the manual clock:
 * byte for byte what `leastconn --clock manual` prints for the same bytes.
 */
export function runSession(input: Uint8Array, options: Pick<SessionOptions, "onDiagnostic"> = {}): string {
  const session = new Session({ clock: "manual", onDiagnostic: options.onDiagnostic });
  const head = session.push(input);
  const tail = session.end();
  // Replies are ASCII: every other character is escaped.
  return latin1.decode(head) + latin1.decode(tail);
}

const latin1 = new TextDecoder("latin1");
