// The message handler: one parsed message in, at most one reply out, no I/O.
// Owns the node's state around the Balancer: which open request is which
// (by msg_id and per backend, oldest first), the duration_ms deadlines, the
// clock, and the mapping of Balancer errors to protocol error codes.
//
// Every request is validated whole before anything changes, so a request
// that errs changes no state (docs/PROTOCOL.md, "Errors"). The clock is
// injected: the session sets it (real time, or the manual clock that only
// moves through a `now` field), and deadlines fire when it reaches them.

import { Balancer, ChoiceLease, LeastconnError, MAX_ACTIVE, MAX_WEIGHT, algorithmId } from "../bindings/index.js";
import type { BackendSpec, Lease } from "../bindings/index.js";
import { quotedSize, type Reply, type ReplyBody } from "./format.js";
import { JsonObject, type Json } from "./json.js";

/** Maelstrom error codes used by the node. */
export const ERR_CRASH = 13;
export const ERR_NOT_SUPPORTED = 10;
export const ERR_MALFORMED = 12;
export const ERR_NO_KEY = 20;
export const ERR_KEY_EXISTS = 21;
export const ERR_PRECONDITION = 22;

/** Completed request ids remembered, so a second completion gets 22, not 20. */
export const COMPLETED_IDS_KEPT = 65_536;
/** Largest send_requests count. */
export const MAX_SEND_COUNT = 1_000_000;
/** Largest send_requests reply, in bytes (the pick list is the bulk of it). */
export const MAX_REPLY_BYTES = 256 << 20;
/** Largest duration_ms (what a timer can hold). */
export const MAX_DURATION_MS = 0x7fffffff;

const REQUEST_COMPLETE_TYPES = new Set(["request_complete", "http_request_complete", "request_done", "release"]);

class ProtocolError extends Error {
  constructor(readonly code: number, text: string) {
    super(text);
  }
}

function fail(code: number, text: string): never {
  throw new ProtocolError(code, text);
}

// An http_request the node can still complete by its id or its deadline.
class Open {
  done = false;
  prev: Open | null = null;
  next: Open | null = null;
  constructor(public id: number | undefined, readonly lease: Lease, readonly track: Track) {}
}

// The open requests of one backend while it is in the table, oldest first.
class Track {
  head: Open | null = null;
  tail: Open | null = null;
  constructor(readonly name: string) {}

  push(o: Open): void {
    o.prev = this.tail;
    if (this.tail === null) this.head = o;
    else this.tail.next = o;
    this.tail = o;
  }

  unlink(o: Open): void {
    if (o.prev === null) this.head = o.next;
    else o.prev.next = o.next;
    if (o.next === null) this.tail = o.prev;
    else o.next.prev = o.prev;
    o.prev = o.next = null;
  }
}

interface Deadline {
  at: number;
  seq: number;
  open: Open;
}

export interface HandlerOptions {
  /** Lines for standard error (dropped input, ignored messages). */
  diagnostic?: (text: string) => void;
  /** The clock moves only through `now` fields (else the session sets it). */
  manualClock?: boolean;
}

export class Handler {
  private now = 0;
  private readonly clock = (): number => this.now;
  private balancer = new Balancer({ clock: this.clock });
  private readonly manual: boolean;
  private readonly diagnose: (text: string) => void;
  private readonly tracks = new Map<string, Track>();
  // msg_id → its open request. Completed ids live in `recent`: numbers in
  // typed arrays, which cost the garbage collector nothing.
  private readonly byId = new Map<number, Open>();
  private recent = new RecentIds(COMPLETED_IDS_KEPT);
  private readonly heap: Deadline[] = [];
  private seq = 0;

  constructor(options: HandlerOptions = {}) {
    this.manual = options.manualClock ?? false;
    this.diagnose = options.diagnostic ?? (() => {});
  }

  /** The clock's reading, in milliseconds. */
  get time(): number {
    return this.now;
  }

  /** Moves the clock forward (never back) and completes requests whose deadline passed. */
  setTime(now: number): void {
    if (now > this.now) this.now = now;
    this.fireDue();
  }

  /** The earliest pending deadline, or undefined. */
  nextDeadline(): number | undefined {
    return this.heap[0]?.at;
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
    let clockError: unknown;
    if (this.manual) {
      try {
        this.advance(body);
      } catch (err) {
        clockError = err;
      }
    }
    const type = body.get("type");
    if (type === "http_response" || body.has("in_reply_to")) {
      if (clockError instanceof Error) this.diagnose(`${clockError.message}; the clock did not move`);
      if (type === "http_response") this.backendResponse(src, body);
      else this.diagnose(`ignored a reply (type ${describe(type)}) from ${JSON.stringify(src)}: the node answers requests only`);
      return null;
    }
    const rawId = body.get("msg_id");
    let inReplyTo: number | undefined;
    if (rawId !== undefined) {
      if (!isCount(rawId, Number.MAX_SAFE_INTEGER)) {
        return this.reply(dest, src, undefined, errorBody(ERR_MALFORMED, `msg_id must be an integer from 0 to 2^53-1, got ${describe(rawId)}`));
      }
      inReplyTo = rawId;
    }
    let out: ReplyBody;
    try {
      if (typeof type !== "string") {
        if (type === undefined) this.diagnose(`message from ${JSON.stringify(src)} has no body.type`);
        fail(ERR_MALFORMED, type === undefined ? "body.type is missing" : `body.type must be a string, got ${describe(type)}`);
      }
      if (clockError !== undefined) throw clockError;
      out = this.dispatch(type, body, inReplyTo);
    } catch (err) {
      out = this.errorReply(err, type);
    }
    return this.reply(dest, src, inReplyTo, out);
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
    return this.reply(dest, src, isCount(id, Number.MAX_SAFE_INTEGER) ? id : undefined, errorBody(ERR_MALFORMED, text));
  }

  private reply(src: string, dest: string, inReplyTo: number | undefined, body: ReplyBody): Reply {
    return { src, dest, inReplyTo, body };
  }

  private errorReply(err: unknown, type: Json | undefined): ReplyBody {
    if (err instanceof ProtocolError) return errorBody(err.code, err.message);
    if (err instanceof LeastconnError) {
      switch (err.code) {
        case "LC_ERR_UNKNOWN_BACKEND": return errorBody(ERR_NO_KEY, err.message);
        case "LC_ERR_DUPLICATE_BACKEND": return errorBody(type === "add_backend" ? ERR_KEY_EXISTS : ERR_MALFORMED, err.message);
        case "LC_ERR_INVALID_ARGUMENT": return errorBody(ERR_MALFORMED, err.message);
        case "LC_ERR_UNKNOWN_ALGORITHM": return errorBody(ERR_NOT_SUPPORTED, err.message);
        case "LC_ERR_UNDERFLOW": return errorBody(ERR_PRECONDITION, err.message);
        case "LC_ERR_UNSUPPORTED": return errorBody(ERR_NOT_SUPPORTED, err.message);
        default: break;
      }
    }
    // A bug, not bad input: say so on both streams and keep serving.
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.diagnose(`internal error handling ${describe(type)}: ${text}`);
    return errorBody(ERR_CRASH, `internal error: ${text}`);
  }

  // The manual clock: `now` is when the message arrives. It moves the clock
  // (and fires deadlines) even if the request itself then errs, because
  // arrival time is a fact about the message, not an effect of the request.
  private advance(body: JsonObject): void {
    const now = body.get("now");
    if (now !== undefined) {
      if (!isCount(now, Number.MAX_SAFE_INTEGER) || now < this.now) {
        fail(ERR_MALFORMED, `now must be an integer from ${this.now} (the clock) to 2^53-1, got ${describe(now)}`);
      }
      this.now = now;
    }
    this.fireDue();
  }

  private dispatch(type: string, body: JsonObject, id: number | undefined): ReplyBody {
    switch (type) {
      case "init": return this.init(body);
      case "http_request": return this.httpRequest(body, id);
      case "send_requests": return this.sendRequests(body);
      case "add_backend": return this.addBackend(body);
      case "remove_backend":
      case "backend_down":
      case "backend_up":
        return this.membership(type, body);
      case "set_weight": return this.setWeight(body);
      case "stats": return this.stats();
      default:
        if (REQUEST_COMPLETE_TYPES.has(type)) return this.requestComplete(body);
        return fail(ERR_NOT_SUPPORTED, `unknown message type ${JSON.stringify(type)}`);
    }
  }

  // ---- init ----

  private init(body: JsonObject): ReplyBody {
    const raw = body.get("backends");
    let backends: Array<string | BackendSpec> = [];
    if (raw !== undefined) {
      if (!Array.isArray(raw)) fail(ERR_MALFORMED, `backends must be an array of names or {name, weight, connections} objects, got ${describe(raw)}`);
      // Objects arrive as Maps; the Balancer checks every name, weight and
      // count (its duplicate-name error maps to 12 here, see errorReply).
      backends = raw.map((item) =>
        item instanceof JsonObject
          ? ({ name: item.get("name"), weight: item.get("weight"), connections: item.get("connections") } as BackendSpec)
          : (item as string),
      );
    }
    const algorithm = optionalString(body, "algorithm");
    const tie = body.get("tie_break");
    if (tie !== undefined && tie !== "first" && tie !== "rotate") {
      fail(ERR_MALFORMED, `tie_break must be "first" or "rotate", got ${describe(tie)}`);
    }
    const nodeId = body.get("node_id");
    if (nodeId !== undefined && typeof nodeId !== "string") fail(ERR_MALFORMED, `node_id must be a string, got ${describe(nodeId)}`);
    const nodeIds = body.get("node_ids");
    if (nodeIds !== undefined && !(Array.isArray(nodeIds) && nodeIds.every((n) => typeof n === "string"))) {
      fail(ERR_MALFORMED, `node_ids must be an array of strings, got ${describe(nodeIds)}`);
    }
    const seed = body.get("seed");
    // The constructor validates everything else and throws before any state is replaced.
    const next = new Balancer({
      backends,
      algorithm,
      seed: seed === undefined ? undefined : (seed as number),
      tieBreak: tie as "first" | "rotate" | undefined,
      clock: this.clock,
    });
    this.balancer = next;
    this.tracks.clear();
    this.byId.clear();
    this.recent = new RecentIds(COMPLETED_IDS_KEPT);
    this.heap.length = 0;
    return { type: "init_ok" };
  }

  // ---- routing ----

  private httpRequest(body: JsonObject, id: number | undefined): ReplyBody {
    optionalString(body, "method");
    optionalString(body, "path");
    const algorithm = optionalAlgorithm(body);
    const snapshot = body.get("active_connections");
    if (snapshot !== undefined) {
      if (!(snapshot instanceof JsonObject)) fail(ERR_MALFORMED, `active_connections must be an object of name: count, got ${describe(snapshot)}`);
      for (let k = 0; k < snapshot.size; k++) {
        const name = snapshot.keyAt(k);
        const count = snapshot.valueAt(k);
        if (name.length === 0) fail(ERR_MALFORMED, "active_connections: a backend name must be a non-empty string");
        if (!isCount(count, MAX_ACTIVE)) {
          fail(ERR_MALFORMED, `active_connections[${JSON.stringify(name)}] must be an integer from 0 to ${MAX_ACTIVE}, got ${describe(count)}`);
        }
      }
    }
    const duration = body.get("duration_ms");
    if (duration !== undefined && !isCount(duration, MAX_DURATION_MS)) {
      fail(ERR_MALFORMED, `duration_ms must be an integer from 0 to ${MAX_DURATION_MS}, got ${describe(duration)}`);
    }

    const b = this.balancer;
    if (snapshot !== undefined) {
      const snap = snapshot as JsonObject;
      for (let k = 0; k < snap.size; k++) {
        const name = snap.keyAt(k);
        const count = snap.valueAt(k) as number;
        if (b.has(name)) {
          b.setActive(name, count);
          this.syncGone(name); // a draining backend set to 0 leaves the table
        } else {
          b.add(name, { connections: count });
        }
      }
    }
    const lease = algorithm === undefined ? b.acquire() : b.acquire({ algorithm });
    if (lease === null) return { type: "http_response", status: 503, backend: null, active: b.activeCounts() };
    const name = lease.backend;
    // Only a request that can be named later (by id or by its deadline) is tracked.
    if (id !== undefined || duration !== undefined) {
      let track = this.tracks.get(name);
      if (track === undefined) this.tracks.set(name, (track = new Track(name)));
      const open = new Open(id, lease, track);
      track.push(open);
      if (id !== undefined) {
        const older = this.byId.get(id);
        if (older !== undefined) older.id = undefined; // a reused id names the newest request
        this.byId.set(id, open);
      }
      if (duration !== undefined) this.schedule(this.now + (duration as number), open);
    }
    const out: ReplyBody = { type: "http_response", status: 200, backend: name, active: b.activeCounts() };
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
    for (const name of b.names) {
      const size = quotedSize(name);
      longest = Math.max(longest, size);
      listed += size + 20;
    }
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
    return {
      type: "send_requests_ok",
      picks,
      distribution: b.names.map((name) => [name, tally.get(name) ?? 0] as const),
    };
  }

  // ---- completions ----

  private requestComplete(body: JsonObject): ReplyBody {
    const rid = body.get("request_id");
    const backend = body.get("backend");
    if (rid !== undefined && !isCount(rid, Number.MAX_SAFE_INTEGER)) {
      fail(ERR_MALFORMED, `request_id must be an integer from 0 to 2^53-1, got ${describe(rid)}`);
    }
    if (backend !== undefined) checkName(backend, "backend");
    if (rid === undefined && backend === undefined) fail(ERR_MALFORMED, "request_complete needs a backend or a request_id");
    const b = this.balancer;
    let name: string;
    if (rid !== undefined) {
      const open = this.byId.get(rid);
      if (open === undefined) {
        if (this.recent.has(rid)) fail(ERR_PRECONDITION, `request ${rid} is already completed`);
        fail(ERR_NO_KEY, `unknown request_id ${rid}`);
      }
      name = open.track.name;
      if (backend !== undefined && backend !== name) {
        fail(ERR_MALFORMED, `request ${rid} went to ${JSON.stringify(name)}, not ${JSON.stringify(backend)}`);
      }
      if (b.active(name) === 0) fail(ERR_PRECONDITION, `backend ${JSON.stringify(name)} has no active connection to release`);
      this.finish(open);
    } else {
      name = backend as string;
      if (!b.has(name)) fail(ERR_NO_KEY, `unknown backend ${JSON.stringify(name)}`);
      if (b.active(name) === 0) fail(ERR_PRECONDITION, `backend ${JSON.stringify(name)} has no active connection to release`);
      const oldest = this.tracks.get(name)?.head;
      if (oldest != null) this.finish(oldest);
      else b.release(name);
    }
    this.syncGone(name);
    // A draining backend whose count reached 0 has left the table: not listed.
    return { type: "request_complete_ok", backend: name, active: b.activeCounts() };
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
    const answered = body.get("in_reply_to");
    const byId = typeof answered === "number" ? this.byId.get(answered) : undefined;
    const open = byId !== undefined && byId.track.name === src ? byId : this.tracks.get(src)?.head;
    if (open != null) this.finish(open);
    else b.release(src);
    this.syncGone(src);
  }

  private finish(open: Open): void {
    open.done = true;
    open.lease.release();
    open.track.unlink(open);
    this.forget(open);
  }

  private forget(open: Open): void {
    const id = open.id;
    if (id === undefined || this.byId.get(id) !== open) return;
    this.byId.delete(id);
    this.recent.add(id);
  }

  // After anything that can finish a drain: a backend that left the table
  // takes its open requests with it (they count as completed).
  private syncGone(name: string): void {
    if (this.balancer.has(name)) return;
    const track = this.tracks.get(name);
    if (track === undefined) return;
    this.tracks.delete(name);
    for (let o = track.head; o !== null; o = o.next) {
      o.done = true;
      this.forget(o);
    }
  }

  // ---- deadlines (a binary min-heap on (at, seq)) ----

  private schedule(at: number, open: Open): void {
    const h = this.heap;
    const d: Deadline = { at, seq: this.seq++, open };
    let i = h.length;
    h.push(d);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(d, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = d;
  }

  /** Completes, silently, every open request whose deadline the clock has reached. */
  fireDue(): void {
    const h = this.heap;
    while (h.length > 0 && h[0]!.at <= this.now) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= h.length) break;
          const r = l + 1;
          const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
          if (!before(h[c]!, last)) break;
          h[i] = h[c]!;
          i = c;
        }
        h[i] = last;
      }
      if (!top.open.done) {
        const name = top.open.track.name;
        this.finish(top.open);
        this.syncGone(name);
      }
    }
  }

  // ---- membership and health ----

  private addBackend(body: JsonObject): ReplyBody {
    const name = checkName(body.get("backend"), "backend");
    const weight = body.get("weight");
    if (weight !== undefined) checkWeight(weight);
    if (this.balancer.has(name)) fail(ERR_KEY_EXISTS, `backend ${JSON.stringify(name)} already exists`);
    this.balancer.add(name, { weight: weight as number | undefined });
    return { type: "add_backend_ok", active: this.balancer.activeCounts() };
  }

  private membership(type: "remove_backend" | "backend_down" | "backend_up", body: JsonObject): ReplyBody {
    const name = this.existing(body);
    const b = this.balancer;
    if (type === "remove_backend") {
      b.remove(name);
      this.syncGone(name);
      return { type: "remove_backend_ok", active: b.activeCounts() };
    }
    if (type === "backend_down") b.markDown(name);
    else b.markUp(name);
    return { type: `${type}_ok`, active: b.activeCounts() };
  }

  private setWeight(body: JsonObject): ReplyBody {
    const name = checkName(body.get("backend"), "backend");
    const weight = body.get("weight");
    if (weight === undefined) fail(ERR_MALFORMED, "set_weight needs a weight");
    checkWeight(weight);
    if (!this.balancer.has(name)) fail(ERR_NO_KEY, `unknown backend ${JSON.stringify(name)}`);
    this.balancer.setWeight(name, weight as number);
    return { type: "set_weight_ok", active: this.balancer.activeCounts() };
  }

  private existing(body: JsonObject): string {
    const name = checkName(body.get("backend"), "backend");
    if (!this.balancer.has(name)) fail(ERR_NO_KEY, `unknown backend ${JSON.stringify(name)}`);
    return name;
  }

  private stats(): ReplyBody {
    const b = this.balancer;
    return { type: "stats_ok", algorithm: b.algorithm, backends: b.snapshot() };
  }

  /** The node's whole observable state, for tests that check an error changed nothing. */
  fingerprint(): string {
    return JSON.stringify({
      now: this.now,
      algorithm: this.balancer.algorithm,
      backends: this.balancer.snapshot(),
      open: [...this.byId.keys()],
      completed: this.recent.list(),
      tracked: [...this.tracks.values()].map((t) => {
        let n = 0;
        for (let o = t.head; o !== null; o = o.next) n++;
        return [t.name, n];
      }),
      deadlines: this.heap.length,
    });
  }
}

/**
 * The last `keep` ids added, oldest evicted first: a linear-probing hash set
 * over a Float64Array plus a ring of insertion order. Re-adding an id that
 * is present changes nothing.
 */
class RecentIds {
  // Allocated at the first add: a node that never completes by id (and
  // start-up) does not pay for 1.5 MB of tables.
  private table = new Float64Array(0);
  private mask = -1;
  private ring = new Float64Array(0);
  private head = 0;
  private count = 0;

  constructor(private readonly keep: number) {}

  private allocate(): void {
    let size = 4;
    while (size < this.keep * 2) size *= 2;
    this.table = new Float64Array(size).fill(-1);
    this.mask = size - 1;
    this.ring = new Float64Array(this.keep);
  }

  private slot(id: number): number {
    const hi = Math.floor(id / 4294967296);
    return Math.imul((id >>> 0) ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) & this.mask;
  }

  has(id: number): boolean {
    if (this.mask < 0) return false;
    const t = this.table;
    for (let i = this.slot(id); ; i = (i + 1) & this.mask) {
      const v = t[i]!;
      if (v === id) return true;
      if (v === -1) return false;
    }
  }

  add(id: number): void {
    if (this.mask < 0) this.allocate();
    if (this.has(id)) return;
    if (this.count === this.keep) this.remove(this.ring[this.head]!);
    else this.count++;
    const t = this.table;
    let i = this.slot(id);
    while (t[i] !== -1) i = (i + 1) & this.mask;
    t[i] = id;
    this.ring[this.head] = id;
    this.head = this.head + 1 === this.keep ? 0 : this.head + 1;
  }

  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  private remove(id: number): void {
    const t = this.table;
    const mask = this.mask;
    let i = this.slot(id);
    while (t[i] !== id) {
      if (t[i] === -1) return;
      i = (i + 1) & mask;
    }
    for (let j = (i + 1) & mask; t[j] !== -1; j = (j + 1) & mask) {
      const home = this.slot(t[j]!);
      // Move t[j] into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        t[i] = t[j]!;
        i = j;
      }
    }
    t[i] = -1;
  }

  /** The ids held, oldest first. */
  list(): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.count; k++) {
      const at = (this.head - this.count + k + this.keep) % this.keep;
      out.push(this.ring[at]!);
    }
    return out;
  }
}

function before(a: Deadline, b: Deadline): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
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
    reason = a < other ? `${a} < ${other} connections`
      : a === other ? `${a} = ${other} connections, earlier in order`
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

function checkName(v: Json | undefined, field: string): string {
  if (typeof v !== "string" || v.length === 0) fail(ERR_MALFORMED, `${field} must be a non-empty string, got ${describe(v)}`);
  return v;
}

function checkWeight(v: Json): void {
  if (!isCount(v, MAX_WEIGHT)) fail(ERR_MALFORMED, `weight must be an integer from 0 to ${MAX_WEIGHT}, got ${describe(v)}`);
}

function optionalString(body: JsonObject, field: string): string | undefined {
  const v = body.get(field);
  if (v !== undefined && typeof v !== "string") fail(ERR_MALFORMED, `${field} must be a string, got ${describe(v)}`);
  return v;
}

function optionalAlgorithm(body: JsonObject): string | undefined {
  const name = optionalString(body, "algorithm");
  if (name !== undefined) algorithmId(name); // throws the unknown-algorithm error before any change
  return name;
}

function describe(v: Json | undefined): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return v.length > 40 ? JSON.stringify(v.slice(0, 40)) + "..." : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  return Array.isArray(v) ? "an array" : "an object";
}
