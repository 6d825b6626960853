// Test-side views of the node: a message body sent straight to a handler,
// a reply as its line of text, and a handler's whole state (read from its
// private fields) for checking that an error changed nothing.

import { Output, type Reply, writeReply } from "../../cli/format.js";
import type { Handler } from "../../cli/handler.js";
import { describeByte, INVALID, type Json, type JsonObject, MORE, Parser } from "../../cli/json.js";

const latin1 = new TextDecoder("latin1");

/** One reply as one line of text, without the newline. */
export function formatReply(r: Reply): string {
  const out = new Output();
  writeReply(out, r);
  return latin1.decode(out.bytes.subarray(0, out.length - 1));
}

interface Internals {
  now: number;
  balancer: { algorithm: string; snapshot(): unknown };
  requests: { completed: { ring: Float64Array; head: number; count: number } };
}

/** Everything the handler holds: clock, backends, open requests (every array), completed ids. */
export function fingerprint(h: Handler): string {
  const x = h as unknown as Internals;
  const { ring, head, count } = x.requests.completed;
  return JSON.stringify(
    {
      now: x.now,
      algorithm: x.balancer.algorithm,
      backends: x.balancer.snapshot(),
      requests: x.requests,
      completed: [head, count, Array.from(ring.subarray(0, count))],
    },
    (key, v) =>
      key === "completed" && v === x.requests.completed
        ? undefined
        : ArrayBuffer.isView(v)
          ? Array.from(v as Float64Array)
          : v instanceof Map
            ? [...v]
            : v,
  );
}

/** Parses all of `bytes` with `p`: one JSON value with optional whitespace around it; throws a SyntaxError on anything else. */
export function parseAll(bytes: Uint8Array, p = new Parser()): Json {
  p.begin(1);
  let at = p.feed(bytes, 0, bytes.length);
  if (at === MORE && p.feed(new Uint8Array([0x20]), 0, 1) >= 0) at = bytes.length; // a number ends with its input
  if (at === INVALID) throw new SyntaxError(`${p.why} at byte ${p.at}`);
  if (at === MORE) throw new SyntaxError("JSON input ended inside a value");
  while (at < bytes.length && [0x20, 0x0a, 0x0d, 0x09].includes(bytes[at]!)) at++;
  if (at < bytes.length) throw new SyntaxError(`unexpected ${describeByte(bytes[at]!)} at byte ${at}`);
  return p.value;
}

/** One message, parsed as the node parses it. */
export function msg(text: string): JsonObject {
  return parseAll(new TextEncoder().encode(text)) as JsonObject;
}

/** Sends `body` from client "c" to `h`; its reply as one line, or "" for none. */
export function send(h: Handler, body: string): string {
  const reply = h.handle(msg(`{"src":"c","dest":"lb","body":${body}}`));
  return reply === null ? "" : formatReply(reply);
}
