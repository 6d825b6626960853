// The message handler: one parsed message in, at most one reply out, no I/O.
// The Balancer owns the backends and checks every value it is given; the
// handler translates protocol fields to Balancer calls, and the Balancer's
// coded errors to protocol error codes. It owns what only the node knows:
// the clock (set by the session, or moved by `now` fields), the tracked
// requests (cli/requests.ts), and where a queued request's later reply goes
// (`extra`). A request is validated whole before anything changes, so one
// that errs changes no state (docs/PROTOCOL.md, "Errors").

import { Balancer, type CancelWait, ChoiceLease, checkActive, checkAlgorithm } from "../bindings/balancer.js";
import { describe, InvalidArgumentError, LeastconnError, QueueFullError, UnderflowError } from "../bindings/errors.js";
import type { BackendEvent, BackendSpec, BalancerOptions, ErrorCode, Lease } from "../bindings/index.js";
import { checkMaxConnections, checkName, checkOk, checkWeight, intIn, invalid, MAX_ACTIVE, normalizeQueue } from "../bindings/options.js";
import { quote, type Reply, type ReplyBody, type Value } from "./format.js";
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
  // Shared tables only, which the node never uses; both say "try again".
  LC_ERR_LOCK_TIMEOUT: ERR_TEMPORARILY_UNAVAILABLE,
  LC_ERR_DETACHED: ERR_TEMPORARILY_UNAVAILABLE,
};

const MAX_SEND_COUNT = 1_000_000;
/** Largest send_requests reply, in bytes (the pick list is the bulk of it). */
export const MAX_REPLY_BYTES = 256 << 20;
const MAX_DURATION_MS = 0x7fffffff; // what a timer can hold
const DEFAULT_MAX_OPEN = 1_000_000; // at 32 bytes each, 32 MB of open tracked requests

// init's resilience settings: each key, and each field inside, is the
// Balancer's option in snake_case (null: not an object). The Balancer checks
// every value; the node only refuses unknown fields.
const INIT_OPTIONS: Record<string, readonly string[] | null> = {
  queue: ["limit", "timeout_ms"],
  ejection: ["consecutive_failures", "base_ms", "max_ms", "max_percent"],
  slow_start: ["window_ms", "min_percent"],
  decay_ms: null,
};
const BACKEND_FIELDS = ["name", "weight", "connections", "max_connections"];
const camel = (s: string): string => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
// The Balancer names options in camelCase; the replies of these types say the protocol's names.
const SNAKE_CASE_ERRORS = new Set(["init", "add_backend", "set_max_connections"]);
const FAILED = { ok: false };
const EMPTY = new JsonObject();
// send_requests' error 22, by whyNot()'s reason.
const NO_TRAFFIC: Record<string, string> = {
  "": "none, or all down, draining or weight 0",
  full: "every backend that is up is at its max_connections",
  ejected: "every backend that could take traffic is ejected",
};

const isString = (v: Json): boolean => typeof v === "string";

/** A request waiting in the Balancer's queue: where its reply goes, and until when it may wait. */
type Queued = { src: string; dest: string; id: number | undefined; duration: number | undefined; until: number; cancel: CancelWait };

// An error the node finds itself, with its protocol code (the Balancer's are LeastconnErrors).
class ProtocolError extends Error {
  code = 0;
}

function fail(code: number, text: string): never {
  throw Object.assign(new ProtocolError(text), { code });
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
  // What init configured, so stats shows its fields only then; queueMs: the queue's timeout_ms (undefined: no queue).
  private shown = { ejection: false, slowStart: false, queue: false };
  private queueMs: number | undefined;
  // Requests waiting in the Balancer's queue, in its order (FIFO: grants and timeouts come from the head).
  private queued: Queued[] = [];
  private queuedHead = 0;
  // Replies to queued requests (served or refused), in order, for the session to write:
  // extra[0..extraBefore) before the handled message's reply (its arrival caused them), the rest after it.
  readonly extra: Reply[] = [];
  extraBefore = 0;

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
    this.catchUp();
  }

  /** While requests are queued: when the clock next answers one (a wait runs out; a deadline or an ejection's end frees a slot). */
  get wakeAt(): number | undefined {
    const head = this.queued[this.queuedHead];
    if (head === undefined) return undefined;
    const first = Math.min(head.until, this.requests.nextDeadline);
    return this.balancer.snapshot().reduce((at, s) => Math.min(at, s.ejectedUntil ?? Infinity), first);
  }

  /** End of input: every queued request is answered (503, reason "end_of_input"). */
  close(): void {
    this.dropQueue("end_of_input");
  }

  /** Handles one message; returns its reply, or null when nothing is to be sent. */
  handle(msg: JsonObject): Reply | null {
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
    // Arrival time moves the manual clock before anything else (advance()).
    const clockError = this.manual ? this.advance(body) : undefined;
    this.extraBefore = this.extra.length;
    const type = body.get("type");
    if (isReply(type, body)) {
      if (clockError !== undefined) this.diagnose(`${clockError}; the clock did not move`);
      if (type === "http_response") this.backendResponse(src, body);
      else this.diagnose(`ignored a reply (type ${describe(type)}) from ${JSON.stringify(src)}: the node answers requests only`);
      return null;
    }
    const id = body.get("msg_id");
    // A bad msg_id is reported first, and cannot be echoed faithfully.
    const idOk = id === undefined || isCount(id, Number.MAX_SAFE_INTEGER);
    let out: ReplyBody | null;
    try {
      if (!idOk) throw invalid("msg_id", "an integer from 0 to 2^53-1", id);
      if (typeof type !== "string") {
        if (type === undefined) this.diagnose(`message from ${JSON.stringify(src)} has no body.type`);
        fail(ERR_MALFORMED, type === undefined ? "body.type is missing" : `body.type must be a string, got ${describe(type)}`);
      }
      if (clockError !== undefined) fail(ERR_MALFORMED, clockError);
      const handler = this.types.get(type) ?? fail(ERR_NOT_SUPPORTED, `unknown message type ${JSON.stringify(type)}`);
      out = handler(body, id as number | undefined, dest, src);
    } catch (err) {
      out = this.errorReply(err, type);
    }
    return out === null ? null : { src: dest, dest: src, inReplyTo: idOk ? (id as number | undefined) : undefined, body: out };
  }

  /** Refuses a message whose bytes are not valid UTF-8: an error 12 reply when it is a request with somewhere to reply to. */
  refuse(msg: JsonObject): Reply | null {
    const text = "message is not valid UTF-8";
    this.diagnose(`${text}; refused it`);
    const body = msg.get("body");
    const src = msg.get("src");
    const dest = msg.get("dest");
    if (!(body instanceof JsonObject) || typeof src !== "string" || typeof dest !== "string" || isReply(body.get("type"), body))
      return null;
    // An address decoded from bytes that are not UTF-8 names nobody: no reply.
    if (msg.invalidUtf8("src") || msg.invalidUtf8("dest")) return null;
    const id = body.get("msg_id");
    return { src: dest, dest: src, inReplyTo: isCount(id, Number.MAX_SAFE_INTEGER) ? id : undefined, body: errorBody(ERR_MALFORMED, text) };
  }

  private errorReply(err: unknown, type: Json | undefined): ReplyBody {
    if (err instanceof ProtocolError) return errorBody(err.code, err.message);
    if (err instanceof LeastconnError && Object.hasOwn(ERROR_CODES, err.code)) {
      const code = err.code === "LC_ERR_DUPLICATE_BACKEND" && type === "add_backend" ? ERR_KEY_EXISTS : ERROR_CODES[err.code];
      if (err instanceof InvalidArgumentError && SNAKE_CASE_ERRORS.has(type as string) && err.message.startsWith(err.field)) {
        return errorBody(code, err.field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) + err.message.slice(err.field.length));
      }
      return errorBody(code, err.message);
    }
    // A bug, not bad input: say so on both streams and keep serving.
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.diagnose(`internal error handling ${describe(type)}: ${text}`);
    return errorBody(ERR_CRASH, `internal error: ${text}`);
  }

  // The manual clock: `now` is when the message arrives, a fact about it, so
  // the clock moves (and deadlines fire) even if the request then errs.
  // Returns what is wrong with `now`, if anything (the clock then stays).
  private advance(body: JsonObject): string | undefined {
    const now = body.get("now") ?? this.now;
    if (!isCount(now, Number.MAX_SAFE_INTEGER) || now < this.now)
      return `now must be an integer from ${this.now} (the clock) to 2^53-1, got ${describe(now)}`;
    this.now = now;
    this.catchUp();
    return undefined;
  }

  // Applies what the clock says now, in this order: the Balancer's own changes, deadlines (completed
  // silently), then queued requests whose wait ran out are refused (so a slot freed then still serves them).
  catchUp(): void {
    this.balancer.tick();
    const r = this.requests;
    for (let s = r.due(this.now); s >= 0; s = r.due(this.now)) this.finish(r.backendOf(s), s);
    for (let q = this.queued[this.queuedHead]; q !== undefined && q.until <= this.now; q = this.queued[this.queuedHead]) {
      const waited = q.cancel();
      this.unqueue();
      // Only a request still waiting is refused: one reply per request.
      if (waited) this.answer(q, null, "queue_timeout");
    }
  }

  // Each request type's handling (src and dest: where its reply goes); request_complete has three other names.
  private readonly types = new Map<string, (body: JsonObject, id: number | undefined, src: string, dest: string) => ReplyBody | null>([
    ["init", (body) => this.init(body)],
    ["http_request", (body, id, src, dest) => this.httpRequest(body, id, src, dest)],
    ["send_requests", (body) => this.sendRequests(body)],
    ["add_backend", (body) => this.member("add_backend", body, (b, name) => b.add(name, renamed(body, ["weight", "max_connections"])))],
    ["remove_backend", (body) => this.member("remove_backend", body, (b, name) => b.remove(name))],
    ["backend_down", (body) => this.member("backend_down", body, (b, name) => b.markDown(name))],
    ["backend_up", (body) => this.member("backend_up", body, (b, name) => b.markUp(name))],
    ["set_weight", (body) => this.setLimit("set_weight", body)],
    ["set_max_connections", (body) => this.setLimit("set_max_connections", body)],
    ["stats", () => this.stats()],
    ...["request_complete", "http_request_complete", "request_done", "release"].map(
      (type) => [type, (body: JsonObject) => this.requestComplete(body)] as const,
    ),
  ]);

  // add_backend, remove_backend, backend_down, backend_up: the Balancer checks the name.
  private member(type: string, body: JsonObject, change: (b: Balancer, name: string) => void): ReplyBody {
    change(this.balancer, body.get("backend") as string);
    return activeBody(`${type}_ok`, this.balancer);
  }

  // Problems are reported in the order of the fields (docs/PROTOCOL.md 4.1):
  // the Balancer checks its options in that order, then the last three are
  // checked here. Nothing is replaced until all pass.
  private init(body: JsonObject): ReplyBody {
    const raw = body.get("backends");
    const options: BalancerOptions = {
      // Objects arrive as JsonObjects; the Balancer checks every name, weight, count and limit.
      backends: Array.isArray(raw)
        ? raw.map((item) => (item instanceof JsonObject ? (renamed(item, BACKEND_FIELDS) as unknown as BackendSpec) : (item as string)))
        : (raw as undefined),
      algorithm: body.get("algorithm") as string | undefined,
      seed: body.get("seed") as number | undefined,
      tieBreak: body.get("tie_break") === "rotate" ? "rotate" : "first",
      clock: this.clock,
    };
    for (const key of Object.keys(INIT_OPTIONS)) {
      // A getter: the Balancer reads each option when it checks it, so an
      // unknown field is reported in the same order as a bad value.
      Object.defineProperty(options, camel(key), { get: () => initOption(body, key) });
    }
    const next = new Balancer(options);
    optional(body, "tie_break", '"first" or "rotate"', (v) => v === "first" || v === "rotate");
    optional(body, "node_id", "a string", isString);
    optional(body, "node_ids", "an array of strings", (v) => Array.isArray(v) && v.every(isString));
    this.dropQueue("reset");
    this.use(next);
    const has = (key: string): boolean => body.get(key) !== undefined;
    this.shown = { ejection: has("ejection"), slowStart: has("slow_start"), queue: has("queue") };
    this.queueMs = has("queue") ? normalizeQueue(initOption(body, "queue") as BalancerOptions["queue"]).timeoutMs : undefined;
    return { type: "init_ok", fields: [] };
  }

  private httpRequest(body: JsonObject, id: number | undefined, src: string, dest: string): ReplyBody | null {
    optional(body, "method", "a string", isString);
    optional(body, "path", "a string", isString);
    const algorithm = optionalAlgorithm(body);
    const snapshot = body.get("active_connections") ?? EMPTY;
    if (!(snapshot instanceof JsonObject)) throw invalid("active_connections", "an object of name: count", snapshot);
    for (const [name, count] of snapshot) {
      if (name.length === 0) fail(ERR_MALFORMED, "active_connections: a backend name must be a non-empty string");
      // The Balancer's check says what is wrong; the test before it spares building the field name.
      if (!isCount(count, MAX_ACTIVE)) checkActive(count, `active_connections[${JSON.stringify(name)}]`);
    }
    const duration = body.get("duration_ms") as number | undefined;
    if (duration !== undefined) intIn(duration, 0, MAX_DURATION_MS, "duration_ms");
    // Only a request that can be named later (by id or by its deadline) is
    // tracked; queued requests count too, since the node must remember them.
    const tracked = id !== undefined || duration !== undefined;
    const room = this.requests.size + this.queued.length - this.queuedHead < this.maxOpen;
    if (tracked && !room) {
      const text = `too many open requests: ${this.maxOpen} are tracked (the --max-open limit); complete some first`;
      // Said on stderr once per init too, for whoever runs the node.
      if (!this.warnedFull) this.diagnose(text);
      this.warnedFull = true;
      fail(ERR_TEMPORARILY_UNAVAILABLE, text);
    }

    const b = this.balancer;
    for (const [name, count] of snapshot as Map<string, number>) {
      // A draining backend set to 0 leaves the table (and "removed" closes its requests).
      if (b.has(name)) b.setActive(name, count);
      else b.add(name, { connections: count });
    }
    let lease: Lease | null = null;
    let reason: string | undefined;
    if (this.queueMs === undefined || !room) {
      lease = b.acquire(algorithm === undefined ? undefined : { algorithm });
      if (lease === null) reason = this.whyNot(this.queueMs === undefined ? "full" : "queue_full");
    } else {
      const q: Queued = { src, dest, id, duration, until: this.now + this.queueMs, cancel: () => false };
      let waiting = false;
      let refused = false; // answered at once with a refusal (its reason may be none: nothing is up)
      q.cancel = b._enqueue(
        {
          grant: (l) => (waiting ? this.answer(q, l) : (lease = l)),
          fail: (err) => {
            refused = true;
            reason = err instanceof QueueFullError ? "queue_full" : this.whyNot("full");
          },
        },
        algorithm,
      );
      if (lease === null && !refused) {
        waiting = true;
        this.queued.push(q);
        return null; // answered when served, refused or dropped
      }
    }
    const got = lease as Lease | null; // set by the waiter
    return got === null ? unavailable(b, reason) : this.routed(got, id, duration, b);
  }

  private routed(lease: Lease, id: number | undefined, duration: number | undefined, active: Value): ReplyBody {
    const name = lease.backend;
    if (id !== undefined || duration !== undefined) this.requests.open(name, id, duration === undefined ? undefined : this.now + duration);
    const fields: Value[] = ["status", 200, "backend", name, "active_connections", active];
    if (lease instanceof ChoiceLease) fields.push("sampled", lease.sampled, "selected", name, "reason", choiceReason(lease));
    return { type: "http_response", fields };
  }

  // Why nothing could take a request, for the 503's reason: `full` when a
  // backend is up (every one that is is at its limit), "ejected" when none
  // is but one is ejected; nothing (the plain 503) when none is either.
  private whyNot(full: string): string | undefined {
    const live = this.balancer.snapshot().filter((s) => s.weight > 0);
    return live.some((s) => s.state === "up") ? full : live.some((s) => s.state === "ejected") ? "ejected" : undefined;
  }

  // A queued request was handed a slot (lease: it was the queue's head) or
  // refused (reason): its reply, with the counts as they are now.
  private answer(q: Queued, lease: Lease | null, reason?: string): void {
    if (lease !== null) this.unqueue();
    // The counts as they are now, for a reply written after later changes.
    const active = new Map<string, number>();
    this.balancer.forEachActive((name, n) => active.set(name, n));
    const body = lease === null ? unavailable(active, reason) : this.routed(lease, q.id, q.duration, active);
    this.extra.push({ src: q.src, dest: q.dest, inReplyTo: q.id, body });
  }

  // The head leaves the queue: the Balancer's queue is FIFO, and its grants
  // and timeouts come from the head. The array is compacted as it goes.
  private unqueue(): void {
    const head = ++this.queuedHead;
    if (head < this.queued.length && (head < 1024 || head * 2 < this.queued.length)) return;
    this.queued = this.queued.slice(head);
    this.queuedHead = 0;
  }

  // A second init or the end of input: every queued request leaves the queue, answered with a 503.
  private dropQueue(reason: string): void {
    for (let i = this.queuedHead; i < this.queued.length; i++) if (this.queued[i]!.cancel()) this.answer(this.queued[i]!, null, reason);
    this.queued = [];
    this.queuedHead = 0;
  }

  private sendRequests(body: JsonObject): ReplyBody {
    const count = intIn(body.get("count"), 1, MAX_SEND_COUNT, "count");
    const algorithm = optionalAlgorithm(body);
    const b = this.balancer;
    // The reply lists every pick: refuse one that could outgrow any buffer.
    const sizes = b.names.map((name) => quote(name).length);
    const longest = sizes.reduce((max, n) => Math.max(max, n), 0);
    if (count * (longest + 2) + sizes.reduce((sum, n) => sum + n + 20, 0) > MAX_REPLY_BYTES) {
      fail(ERR_MALFORMED, `count ${count} would make a reply over ${MAX_REPLY_BYTES} bytes with these backend names; send fewer`);
    }
    const options = algorithm === undefined ? undefined : { algorithm };
    // Nothing can take traffic: refused before any pick, since a failed
    // random, p2c or peak-ewma pick still draws from the seeded generator.
    const now = b.snapshot();
    const free = now.queue.length === 0 && now.some((s) => s.state === "up" && s.weight > 0 && s.active < (s.maxConnections ?? Infinity));
    if (!free) fail(ERR_PRECONDITION, `no backend can take traffic (${NO_TRAFFIC[this.whyNot("full") ?? ""]})`);
    const picks: string[] = [];
    const tally = new Map(b.names.map((name) => [name, 0])); // picks per backend, every backend in order
    for (let k = 0; k < count; k++) {
      const lease = b.acquire(options);
      // The first always succeeds (checked above); a later one stops at the first backend-less pick.
      if (lease === null) break;
      const name = lease.backend;
      picks.push(name);
      tally.set(name, tally.get(name)! + 1);
    }
    return { type: "send_requests_ok", fields: ["backends", picks, "distribution", tally] };
  }

  private requestComplete(body: JsonObject): ReplyBody {
    const rid = body.get("request_id");
    const backend = body.get("backend");
    if (rid !== undefined && !isCount(rid, Number.MAX_SAFE_INTEGER)) throw invalid("request_id", "an integer from 0 to 2^53-1", rid);
    if (backend !== undefined) checkName(backend);
    const ok = outcome(body.get("ok"), body.get("status"));
    if (rid === undefined && backend === undefined) fail(ERR_MALFORMED, "request_complete needs a backend or a request_id");
    const r = this.requests;
    // By id: exactly that request; by backend: its oldest tracked one, else an untracked one (slot -1).
    const slot = rid === undefined ? r.oldest(backend as string) : r.withId(rid);
    if (rid !== undefined && slot < 0) {
      if (r.completed.has(rid)) fail(ERR_PRECONDITION, `request ${rid} is already completed`);
      fail(ERR_NO_KEY, `unknown request_id ${rid}`);
    }
    const name = rid === undefined ? (backend as string) : r.backendOf(slot);
    if (backend !== undefined && backend !== name) {
      fail(ERR_MALFORMED, `request ${rid} went to ${JSON.stringify(name)}, not ${JSON.stringify(backend)}`);
    }
    // A request stays open while its backend's count is 0 (a snapshot set it so).
    if (this.balancer.active(name) === 0) throw new UnderflowError(name);
    this.finish(name, slot, ok);
    // A draining backend whose count reached 0 has left the table: not listed.
    return { type: "request_complete_ok", fields: ["backend", name, "active_connections", this.balancer] };
  }

  // A backend's http_response ends one of its requests: the one it answers
  // (its in_reply_to), else the oldest tracked, else an untracked one.
  private backendResponse(src: string, body: JsonObject): void {
    const b = this.balancer;
    let ok = true;
    let why = !b.has(src) ? ", which is not a backend" : b.active(src) === 0 ? ": it has no active connection" : undefined;
    try {
      if (why === undefined) ok = outcome(undefined, body.get("status"));
    } catch (err) {
      why = `: ${(err as Error).message}`;
    }
    if (why !== undefined) {
      this.diagnose(`ignored an http_response from ${JSON.stringify(src)}${why}`);
      return;
    }
    const r = this.requests;
    const answered = body.get("in_reply_to");
    let slot = typeof answered === "number" ? r.withId(answered) : -1;
    if (slot < 0 || r.backendOf(slot) !== src) slot = r.oldest(src);
    this.finish(src, slot, ok);
  }

  // Completes one request on `name`: a tracked one (slot >= 0) or an
  // untracked one. The request is closed before the count goes down, since
  // that can remove a draining backend (and close its other requests).
  // A failure (ok false) counts towards the backend's ejection.
  private finish(name: string, slot: number, ok = true): void {
    if (slot >= 0) this.requests.close(slot);
    if (this.balancer.active(name) > 0) this.balancer.release(name, ok ? undefined : FAILED);
  }

  // set_weight and set_max_connections (null: no limit). The fields in
  // order, then the table: a bad value is reported for any name.
  private setLimit(type: "set_weight" | "set_max_connections", body: JsonObject): ReplyBody {
    const name = checkName(body.get("backend"));
    const field = type === "set_weight" ? "weight" : "max_connections";
    const value = body.get(field);
    if (value === undefined) fail(ERR_MALFORMED, `${type} needs a ${field}`);
    if (type === "set_weight") this.balancer.setWeight(name, checkWeight(value));
    else this.balancer.setMaxConnections(name, value === null ? undefined : checkMaxConnections(value, field));
    return activeBody(`${type}_ok`, this.balancer);
  }

  // Only what init configured: a backend's limit, the ramp, the failure run and ejection, the queue.
  private stats(): ReplyBody {
    const { ejection, slowStart, queue } = this.shown;
    const snap = this.balancer.snapshot();
    const backends = new Map<string, Value>();
    for (const e of snap) {
      const o = object("active_connections", e.active, "total_requests", e.total, "last_used", e.lastUsed, "weight", e.weight);
      o.set("state", e.state);
      if (e.maxConnections !== null) o.set("max_connections", e.maxConnections);
      if (slowStart) o.set("effective_weight", e.effectiveWeight);
      if (ejection) o.set("failures", e.failures).set("ejected_until", e.ejectedUntil);
      backends.set(e.name, o);
    }
    const fields: Value[] = ["algorithm", this.balancer.algorithm, "backends", backends];
    if (queue) fields.push("queue", object("length", snap.queue.length, "oldest_wait_ms", snap.queue.oldestWaitMs));
    return { type: "stats_ok", fields };
  }
}

// Why power-of-two-choices picked lease.backend, from the counts it compared.
function choiceReason({ backend, sampled, sampledActive }: ChoiceLease): string {
  if (sampled.length < 2) return "only one backend can take traffic";
  const mine = sampled[0] === backend ? 0 : 1;
  const a = sampledActive[mine]!;
  const other = sampledActive[1 - mine]!;
  if (a < other) return `${a} < ${other} connections`;
  if (a === other) return `${a} = ${other} connections, earlier in order`;
  return `${a} > ${other} connections, but ${JSON.stringify(sampled[1 - mine])} cannot take more`;
}

// A 503: nothing could take the request; `reason` when limits or ejection are why.
function unavailable(active: Value, reason: string | undefined): ReplyBody {
  const fields: Value[] = ["status", 503, "backend", null, "active_connections", active];
  if (reason !== undefined) fields.push("reason", reason);
  return { type: "http_response", fields };
}

// An object of a reply from its keys and values in turn.
function object(...kv: Value[]): Map<string, Value> {
  const o = new Map<string, Value>();
  for (let i = 0; i < kv.length; i += 2) o.set(kv[i] as string, kv[i + 1]!);
  return o;
}

function activeBody(type: string, active: Balancer): ReplyBody {
  return { type, fields: ["active_connections", active] };
}

function isReply(type: Json | undefined, body: JsonObject): boolean {
  return type === "http_response" || body.get("in_reply_to") !== undefined;
}

// An optional field the Balancer does not take: absent or passing `ok`, else error 12.
function optional(body: JsonObject, field: string, rule: string, ok: (v: Json) => boolean): void {
  const v = body.get(field);
  if (v !== undefined && !ok(v)) throw invalid(field, rule, v);
}

// One of init's resilience settings as the Balancer's option: an object's
// fields renamed (an unknown one is error 12), anything else as it is.
function initOption(body: JsonObject, key: string): unknown {
  const value = body.get(key);
  const fields = INIT_OPTIONS[key];
  return value instanceof JsonObject && fields ? renamed(value, fields, key) : value;
}

// An object's known fields under the Balancer's names; other fields are
// error 12 when the object is named (`what`), else ignored.
function renamed(o: JsonObject, fields: readonly string[], what?: string): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [field, value] of o) {
    if (fields.includes(field)) out[camel(field)] = value;
    else if (what !== undefined) fail(ERR_MALFORMED, `${what} has no field ${describe(field)}; its fields are ${fields.join(", ")}`);
  }
  return out;
}

// How a request ended: a failure if `ok` is false or `status` is 500 or more (either says so).
function outcome(ok: Json | undefined, status: Json | undefined): boolean {
  const good = checkOk({ ok: ok as boolean | undefined }) as boolean;
  return (status === undefined || intIn(status, 100, 599, "status") < 500) && good;
}

function errorBody(code: number, text: string): ReplyBody {
  return { type: "error", fields: ["code", code, "text", text] };
}

function isCount(v: Json | undefined, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

// Checked (12 for a non-string, 10 for an unknown name) before any change.
function optionalAlgorithm(body: JsonObject): string | undefined {
  const name = body.get("algorithm");
  if (name !== undefined) checkAlgorithm(name);
  return name as string | undefined;
}
