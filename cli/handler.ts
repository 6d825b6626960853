// The message handler: one parsed message in, at most one reply out, no I/O.
// The Balancer owns the backends and checks every value it is given; the
// handler translates: protocol fields to Balancer calls, the Balancer's
// coded errors to protocol error codes. It also owns what only the node
// knows: the clock, and the tracked requests (cli/requests.ts).
//
// Every request is validated whole before anything changes, so a request
// that errs changes no state (docs/PROTOCOL.md, "Errors"). The clock is
// injected: the session sets it (real time, or the manual clock that only
// moves through a `now` field), and deadlines fire when it reaches them.

import { checkActive, checkAlgorithm, checkName, checkWeight } from "../bindings/balancer.js";
import { describe } from "../bindings/errors.js";
import type { BackendEvent, BackendSpec, ErrorCode } from "../bindings/index.js";
import { Balancer, ChoiceLease, LeastconnError, MAX_ACTIVE, UnderflowError } from "../bindings/index.js";
import { type Counts, quote, type Reply, type ReplyBody } from "./format.js";
import { type Json, JsonObject } from "./json.js";
import { OpenRequests } from "./requests.js";

// Maelstrom error codes used by the node.
const [ERR_NOT_SUPPORTED, ERR_TEMPORARILY_UNAVAILABLE, ERR_MALFORMED, ERR_CRASH] = [10, 11, 12, 13];
const [ERR_NO_KEY, ERR_KEY_EXISTS, ERR_PRECONDITION] = [20, 21, 22];

// Each of the Balancer's error codes, mapped on purpose (docs/PROTOCOL.md 5).
const ERROR_CODES: Record<ErrorCode, number> = {
  LC_ERR_INVALID_ARGUMENT: ERR_MALFORMED,
  LC_ERR_UNKNOWN_ALGORITHM: ERR_NOT_SUPPORTED,
  LC_ERR_UNSUPPORTED: ERR_NOT_SUPPORTED,
  LC_ERR_UNKNOWN_BACKEND: ERR_NO_KEY,
  LC_ERR_DUPLICATE_BACKEND: ERR_MALFORMED, // a list with a name twice; add_backend says 21
  LC_ERR_UNDERFLOW: ERR_PRECONDITION,
  LC_ERR_CAPACITY: ERR_TEMPORARILY_UNAVAILABLE,
  LC_ERR_QUEUE_FULL: ERR_TEMPORARILY_UNAVAILABLE,
  LC_ERR_QUEUE_TIMEOUT: ERR_TEMPORARILY_UNAVAILABLE,
  LC_ERR_UNAVAILABLE: ERR_TEMPORARILY_UNAVAILABLE,
};

/** Largest send_requests count. */
const MAX_SEND_COUNT = 1_000_000;
/** Largest send_requests reply, in bytes (the pick list is the bulk of it). */
export const MAX_REPLY_BYTES = 256 << 20;
/** Largest duration_ms (what a timer can hold). */
const MAX_DURATION_MS = 0x7fffffff;
/** Default of `maxOpen`: at 32 bytes each, 32 MB of open tracked requests. */
const DEFAULT_MAX_OPEN = 1_000_000;

const REQUEST_COMPLETE_TYPES = new Set(["request_complete", "http_request_complete", "request_done", "release"]);

class ProtocolError extends Error {
  constructor(
    readonly code: number,
    text: string,
  ) {
    super(text);
  }
}

function fail(code: number, text: string): never {
  throw new ProtocolError(code, text);
}

export interface HandlerOptions {
  /** Lines for standard error (dropped input, ignored messages). */
  diagnostic?: (text: string) => void;
  /** The clock moves only through `now` fields (else the session sets it). */
  manualClock?: boolean;
  /** Most tracked requests open at once (default DEFAULT_MAX_OPEN); past it, error 11. */
  maxOpen?: number;
}

export class Handler {
  private now = 0;
  private readonly clock = (): number => this.now;
  private readonly manual: boolean;
  private readonly diagnose: (text: string) => void;
  private readonly maxOpen: number;
  // A backend that leaves the table takes its open requests with it.
  private readonly onRemoved = (e: BackendEvent): void => this.requests.closeBackend(e.backend);
  private balancer!: Balancer;
  private requests!: OpenRequests;
  private warnedFull = false;

  constructor(options: HandlerOptions = {}) {
    this.manual = options.manualClock ?? false;
    this.diagnose = options.diagnostic ?? (() => {});
    this.maxOpen = options.maxOpen ?? DEFAULT_MAX_OPEN;
    this.use(new Balancer({ clock: this.clock }));
  }

  private use(b: Balancer): void {
    b.addEventListener("removed", this.onRemoved);
    this.balancer = b;
    this.requests = new OpenRequests(this.maxOpen);
    this.warnedFull = false;
  }

  /** Moves the clock forward (never back) and completes requests whose deadline passed. */
  setTime(now: number): void {
    if (now > this.now) this.now = now;
    this.fireDue();
  }

  /** Handles one message; returns its reply, or null when nothing is to be sent. */
  handle(msg: Json): Reply | null {
    if (!(msg instanceof JsonObject)) {
      this.diagnose("message is not a JSON object; ignored it");
      return null;
    }
    const body = msg.get("body");
    if (!(body instanceof JsonObject)) {
      this.diagnose(body === undefined ? "message without a body; ignored it" : "message body is not an object; ignored it");
      return null;
    }
    const src = msg.get("src");
    const dest = msg.get("dest");
    if (typeof src !== "string" || typeof dest !== "string") {
      this.diagnose("message without string src and dest: nowhere to reply; ignored it");
      return null;
    }
    // Arrival time is a fact about every message, whatever becomes of it:
    // the manual clock moves and due deadlines fire before anything else.
    const clockError = this.manual ? this.advance(body) : undefined;
    const type = body.get("type");
    if (type === "http_response" || body.has("in_reply_to")) {
      if (clockError !== undefined) this.diagnose(`${clockError}; the clock did not move`);
      if (type === "http_response") this.backendResponse(src, body);
      else this.diagnose(`ignored a reply (type ${describe(type)}) from ${JSON.stringify(src)}: the node answers requests only`);
      return null;
    }
    const rawId = body.get("msg_id");
    let inReplyTo: number | undefined;
    if (rawId !== undefined) {
      if (!isCount(rawId, Number.MAX_SAFE_INTEGER)) {
        return {
          src: dest,
          dest: src,
          inReplyTo: undefined,
          body: errorBody(ERR_MALFORMED, `msg_id must be an integer from 0 to 2^53-1, got ${describe(rawId)}`),
        };
      }
      inReplyTo = rawId;
    }
    let out: ReplyBody;
    try {
      if (typeof type !== "string") {
        if (type === undefined) this.diagnose(`message from ${JSON.stringify(src)} has no body.type`);
        fail(ERR_MALFORMED, type === undefined ? "body.type is missing" : `body.type must be a string, got ${describe(type)}`);
      }
      if (clockError !== undefined) fail(ERR_MALFORMED, clockError);
      out = this.dispatch(type, body, inReplyTo);
    } catch (err) {
      out = this.errorReply(err, type);
    }
    return { src: dest, dest: src, inReplyTo, body: out };
  }

  /**
   * Refuses a message without handling it (its bytes were not valid UTF-8):
   * an error 12 reply when it is a request with somewhere to reply to.
   */
  refuse(msg: Json, text: string): Reply | null {
    if (!(msg instanceof JsonObject)) return null;
    const body = msg.get("body");
    const src = msg.get("src");
    const dest = msg.get("dest");
    if (!(body instanceof JsonObject) || typeof src !== "string" || typeof dest !== "string") return null;
    if (body.get("type") === "http_response" || body.has("in_reply_to")) return null;
    // An address decoded from bytes that are not UTF-8 names nobody: no reply.
    if (msg.invalidUtf8("src") || msg.invalidUtf8("dest")) return null;
    const id = body.get("msg_id");
    return { src: dest, dest: src, inReplyTo: isCount(id, Number.MAX_SAFE_INTEGER) ? id : undefined, body: errorBody(ERR_MALFORMED, text) };
  }

  private errorReply(err: unknown, type: Json | undefined): ReplyBody {
    if (err instanceof ProtocolError) return errorBody(err.code, err.message);
    if (err instanceof LeastconnError && Object.hasOwn(ERROR_CODES, err.code)) {
      const code = err.code === "LC_ERR_DUPLICATE_BACKEND" && type === "add_backend" ? ERR_KEY_EXISTS : ERROR_CODES[err.code];
      return errorBody(code, err.message);
    }
    // A bug, not bad input: say so on both streams and keep serving.
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.diagnose(`internal error handling ${describe(type)}: ${text}`);
    return errorBody(ERR_CRASH, `internal error: ${text}`);
  }

  // The manual clock: `now` is when the message arrives. It moves the clock
  // (and fires deadlines) even if the request itself then errs, because
  // arrival time is a fact about the message, not an effect of the request.
  // Returns what is wrong with `now`, if anything (the clock then stays).
  private advance(body: JsonObject): string | undefined {
    const now = body.get("now");
    if (now !== undefined) {
      if (!isCount(now, Number.MAX_SAFE_INTEGER) || now < this.now)
        return `now must be an integer from ${this.now} (the clock) to 2^53-1, got ${describe(now)}`;
      this.now = now;
    }
    this.fireDue();
    return undefined;
  }

  private dispatch(type: string, body: JsonObject, id: number | undefined): ReplyBody {
    const b = this.balancer;
    switch (type) {
      case "init":
        return this.init(body);
      case "http_request":
        return this.httpRequest(body, id);
      case "send_requests":
        return this.sendRequests(body);
      case "add_backend":
        b.add(body.get("backend") as string, { weight: body.get("weight") as number | undefined });
        return { type: "add_backend_ok", active: b };
      case "remove_backend":
        b.remove(body.get("backend") as string);
        return { type: "remove_backend_ok", active: b };
      case "backend_down":
        b.markDown(body.get("backend") as string);
        return { type: "backend_down_ok", active: b };
      case "backend_up":
        b.markUp(body.get("backend") as string);
        return { type: "backend_up_ok", active: b };
      case "set_weight":
        return this.setWeight(body);
      case "stats":
        return { type: "stats_ok", algorithm: b.algorithm, backends: b.snapshot() };
      default:
        if (REQUEST_COMPLETE_TYPES.has(type)) return this.requestComplete(body);
        return fail(ERR_NOT_SUPPORTED, `unknown message type ${JSON.stringify(type)}`);
    }
  }

  // ---- init ----

  // Problems are reported in the order of the fields (docs/PROTOCOL.md 4.1):
  // the Balancer checks backends, algorithm and seed in that order; then
  // tie_break, node_id and node_ids here. Nothing is replaced until all pass.
  private init(body: JsonObject): ReplyBody {
    const raw = body.get("backends");
    const tie = body.get("tie_break");
    const next = new Balancer({
      // Objects arrive as JsonObjects; the Balancer checks every name, weight and count.
      backends: Array.isArray(raw)
        ? raw.map((item) =>
            item instanceof JsonObject
              ? ({ name: item.get("name"), weight: item.get("weight"), connections: item.get("connections") } as BackendSpec)
              : (item as string),
          )
        : (raw as undefined),
      algorithm: body.get("algorithm") as string | undefined,
      seed: body.get("seed") as number | undefined,
      tieBreak: tie === "rotate" ? "rotate" : "first",
      clock: this.clock,
    });
    if (tie !== undefined && tie !== "first" && tie !== "rotate") {
      fail(ERR_MALFORMED, `tie_break must be "first" or "rotate", got ${describe(tie)}`);
    }
    const nodeId = body.get("node_id");
    if (nodeId !== undefined && typeof nodeId !== "string") fail(ERR_MALFORMED, `node_id must be a string, got ${describe(nodeId)}`);
    const nodeIds = body.get("node_ids");
    if (nodeIds !== undefined && !(Array.isArray(nodeIds) && nodeIds.every((n) => typeof n === "string"))) {
      fail(ERR_MALFORMED, `node_ids must be an array of strings, got ${describe(nodeIds)}`);
    }
    this.use(next);
    return { type: "init_ok" };
  }

  // ---- routing ----

  private httpRequest(body: JsonObject, id: number | undefined): ReplyBody {
    optionalString(body, "method");
    optionalString(body, "path");
    const algorithm = optionalAlgorithm(body);
    const snapshot = body.get("active_connections");
    if (snapshot !== undefined) {
      if (!(snapshot instanceof JsonObject))
        fail(ERR_MALFORMED, `active_connections must be an object of name: count, got ${describe(snapshot)}`);
      for (let k = 0; k < snapshot.size; k++) {
        const name = snapshot.keyAt(k);
        const count = snapshot.valueAt(k);
        if (name.length === 0) fail(ERR_MALFORMED, "active_connections: a backend name must be a non-empty string");
        // The Balancer's check says what is wrong; the test before it spares building the field name.
        if (!isCount(count, MAX_ACTIVE)) checkActive(count, `active_connections[${JSON.stringify(name)}]`);
      }
    }
    const duration = body.get("duration_ms");
    if (duration !== undefined && !isCount(duration, MAX_DURATION_MS)) {
      fail(ERR_MALFORMED, `duration_ms must be an integer from 0 to ${MAX_DURATION_MS}, got ${describe(duration)}`);
    }
    // Only a request that can be named later (by id or by its deadline) is tracked.
    const tracked = id !== undefined || duration !== undefined;
    if (tracked && this.requests.full) {
      const text = `too many open requests: ${this.maxOpen} are tracked (the --max-open limit); complete some first`;
      // Said on stderr once per init too, for whoever runs the node.
      if (!this.warnedFull) this.diagnose(text);
      this.warnedFull = true;
      fail(ERR_TEMPORARILY_UNAVAILABLE, text);
    }

    const b = this.balancer;
    if (snapshot !== undefined) {
      const snap = snapshot as JsonObject;
      for (let k = 0; k < snap.size; k++) {
        const name = snap.keyAt(k);
        const count = snap.valueAt(k) as number;
        // A draining backend set to 0 leaves the table (and "removed" closes its requests).
        if (b.has(name)) b.setActive(name, count);
        else b.add(name, { connections: count });
      }
    }
    const lease = algorithm === undefined ? b.acquire() : b.acquire({ algorithm });
    if (lease === null) return { type: "http_response", backend: null, active: b };
    const name = lease.backend;
    if (tracked) this.requests.open(name, id, duration === undefined ? undefined : this.now + (duration as number));
    const out: ReplyBody = { type: "http_response", backend: name, active: b };
    if (lease instanceof ChoiceLease) out.choice = choiceOf(lease);
    return out;
  }

  private sendRequests(body: JsonObject): ReplyBody {
    const count = body.get("count");
    if (!isCount(count, MAX_SEND_COUNT) || count === 0) {
      fail(ERR_MALFORMED, `count must be an integer from 1 to ${MAX_SEND_COUNT}, got ${describe(count)}`);
    }
    const algorithm = optionalAlgorithm(body);
    const b = this.balancer;
    // The reply lists every pick: refuse one that could outgrow any buffer.
    let longest = 0;
    let listed = 0;
    b.forEachActive((name) => {
      const size = quote(name).length;
      longest = Math.max(longest, size);
      listed += size + 20;
    });
    if (count * (longest + 2) + listed > MAX_REPLY_BYTES) {
      fail(ERR_MALFORMED, `count ${count} would make a reply over ${MAX_REPLY_BYTES} bytes with these backend names; send fewer`);
    }
    const options = algorithm === undefined ? undefined : { algorithm };
    const picks: string[] = [];
    const tally = new Map<string, number>();
    for (let k = 0; k < count; k++) {
      const lease = b.acquire(options);
      if (lease === null) {
        // Nothing can take traffic; that is known at the first pick, before any change.
        if (k === 0) fail(ERR_PRECONDITION, "no backend can take traffic (none, or all down, draining or weight 0)");
        break;
      }
      const name = lease.backend;
      picks.push(name);
      tally.set(name, (tally.get(name) ?? 0) + 1);
    }
    const distribution: Counts = { forEachActive: (visit) => b.forEachActive((name) => visit(name, tally.get(name) ?? 0)) };
    return { type: "send_requests_ok", picks, distribution };
  }

  // ---- completions ----

  private requestComplete(body: JsonObject): ReplyBody {
    const rid = body.get("request_id");
    const backend = body.get("backend");
    if (rid !== undefined && !isCount(rid, Number.MAX_SAFE_INTEGER)) {
      fail(ERR_MALFORMED, `request_id must be an integer from 0 to 2^53-1, got ${describe(rid)}`);
    }
    if (backend !== undefined) checkName(backend);
    if (rid === undefined && backend === undefined) fail(ERR_MALFORMED, "request_complete needs a backend or a request_id");
    const r = this.requests;
    let name: string;
    let slot: number;
    if (rid !== undefined) {
      slot = r.withId(rid);
      if (slot < 0) {
        if (r.completed.has(rid)) fail(ERR_PRECONDITION, `request ${rid} is already completed`);
        fail(ERR_NO_KEY, `unknown request_id ${rid}`);
      }
      name = r.backendOf(slot);
      if (backend !== undefined && backend !== name) {
        fail(ERR_MALFORMED, `request ${rid} went to ${JSON.stringify(name)}, not ${JSON.stringify(backend)}`);
      }
    } else {
      name = backend as string;
      slot = r.oldest(name); // else an untracked request
    }
    // A request stays open while its backend's count is 0 (a snapshot set it so).
    if (this.balancer.active(name) === 0) throw new UnderflowError(name);
    this.finish(name, slot);
    // A draining backend whose count reached 0 has left the table: not listed.
    return { type: "request_complete_ok", backend: name, active: this.balancer };
  }

  // A backend's http_response ends one of its requests: the one it answers
  // (its in_reply_to), else the oldest tracked, else an untracked one.
  private backendResponse(src: string, body: JsonObject): void {
    const b = this.balancer;
    if (!b.has(src)) {
      this.diagnose(`ignored an http_response from ${JSON.stringify(src)}, which is not a backend`);
      return;
    }
    if (b.active(src) === 0) {
      this.diagnose(`ignored an http_response from ${JSON.stringify(src)}: it has no active connection`);
      return;
    }
    const r = this.requests;
    const answered = body.get("in_reply_to");
    let slot = typeof answered === "number" ? r.withId(answered) : -1;
    if (slot < 0 || r.backendOf(slot) !== src) slot = r.oldest(src);
    this.finish(src, slot);
  }

  // Completes one request on `name`: a tracked one (slot >= 0) or an
  // untracked one. The request is closed before the count goes down, since
  // that can remove a draining backend (and close its other requests).
  private finish(name: string, slot: number): void {
    if (slot >= 0) this.requests.close(slot);
    if (this.balancer.active(name) > 0) this.balancer.release(name);
  }

  /** Completes, silently, every open request whose deadline the clock has reached. */
  fireDue(): void {
    const r = this.requests;
    for (let s = r.due(this.now); s >= 0; s = r.due(this.now)) this.finish(r.backendOf(s), s);
  }

  // ---- membership and health ----

  private setWeight(body: JsonObject): ReplyBody {
    // The fields in order, then the table: a bad weight is reported for any name.
    const name = checkName(body.get("backend"));
    const weight = body.get("weight");
    if (weight === undefined) fail(ERR_MALFORMED, "set_weight needs a weight");
    this.balancer.setWeight(name, checkWeight(weight));
    return { type: "set_weight_ok", active: this.balancer };
  }
}

function choiceOf(lease: ChoiceLease): { sampled: readonly string[]; selected: string; reason: string } {
  const selected = lease.backend;
  const { sampled, sampledActive } = lease;
  let reason: string;
  if (sampled.length < 2) {
    reason = "only one backend can take traffic";
  } else {
    const mine = sampled[0] === selected ? 0 : 1;
    const a = sampledActive[mine]!;
    const other = sampledActive[1 - mine]!;
    reason =
      a < other
        ? `${a} < ${other} connections`
        : a === other
          ? `${a} = ${other} connections, earlier in order`
          : `${a} > ${other} connections, but ${JSON.stringify(sampled[1 - mine])} cannot take more`;
  }
  return { sampled, selected, reason };
}

function errorBody(code: number, text: string): ReplyBody {
  return { type: "error", code, text };
}

function isCount(v: Json | undefined, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

function optionalString(body: JsonObject, field: string): string | undefined {
  const v = body.get(field);
  if (v !== undefined && typeof v !== "string") fail(ERR_MALFORMED, `${field} must be a string, got ${describe(v)}`);
  return v;
}

// Checked (12 for a non-string, 10 for an unknown name) before any change.
function optionalAlgorithm(body: JsonObject): string | undefined {
  const name = body.get("algorithm");
  if (name !== undefined) checkAlgorithm(name);
  return name as string | undefined;
}
