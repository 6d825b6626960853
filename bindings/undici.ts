// leastconn/undici (Node only): an undici Dispatcher over one Pool per
// origin that picks the origin with the fewest requests in flight, counted
// exactly by the leastconn core. A drop-in for undici's BalancedPool
// (addUpstream/removeUpstream), usable with undici.request, undici.fetch
// (`{ dispatcher }`) and setGlobalDispatcher.
//
// A request holds a lease on its origin from dispatch until its response has
// ended (onComplete), errored (onError, which is also how aborts arrive) or
// been upgraded (the socket then belongs to the caller); the lease is
// released exactly once. A request that fails before any response byte, with
// an idempotent method and a body that can be sent again, is retried
// (`retries`, default 1) on another origin: the failed one is left out of
// the retry's pick (when no other is free, the retry queues).
//
// When every origin is at its maxConnections, a request waits in the
// Balancer's queue (acquireAsync) and is dispatched when handed a slot; the
// caller can abort it while it waits. As with BalancedPool, close() lets the
// requests waiting there be served first; destroy() fails them. Each lease
// ends with its outcome, release({ ok }): false for a 5xx or a connection
// error. undici's argument errors (a bad header, method, path, ...) are the
// caller's and a closed dispatcher's its own: neither is retried or held
// against the origin.
//
// Internally everything speaks undici's legacy handler interface (onConnect,
// onHeaders, ...), which is what Pool, undici.request and fetch use; a
// caller's new-style handler (onRequestStart, ...) is adapted at the edge.

import { Dispatcher, errors, Pool, util } from "undici";
import type { Balancer, Lease } from "./balancer.js";
import { InvalidArgumentError } from "./errors.js";
import { type BalancingOptions, checkOrigin, type OriginSpec, originBalancer } from "./fetch.js";
import { type HealthCheckOptions, HealthChecks } from "./health.js";

export type { BalancingOptions, OriginSpec } from "./fetch.js";
export type { HealthCheckOptions } from "./health.js";

export interface LeastConnDispatcherOptions extends Pool.Options, BalancingOptions {
  /** Retries on another origin before any response byte (idempotent methods, replayable bodies). Default 1; 0 turns it off. */
  retries?: number;
  /** Methods retried; default GET, HEAD, OPTIONS, PUT, DELETE, TRACE. */
  retryMethods?: readonly string[];
  /** Optional active health checks (probes go straight to each origin's Pool). */
  healthCheck?: HealthCheckOptions;
}

type Handler = Dispatcher.DispatchHandler;
type LegacyAbort = (err?: Error) => void;

const IDEMPOTENT = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"];
const BALANCER_KEYS = new Set([
  "algorithm",
  "seed",
  "tieBreak",
  "maxConnections",
  "queue",
  "ejection",
  "slowStart",
  "decayMs",
  "retries",
  "retryMethods",
  "healthCheck",
]);

function replayable(body: unknown): boolean {
  return body == null || typeof body === "string" || body instanceof Uint8Array;
}

/** Errors that are no origin's doing: undici refused the arguments, or this dispatcher is closed. */
const NOT_THE_ORIGIN = new Set(["UND_ERR_INVALID_ARG", "UND_ERR_NOT_SUPPORTED", "UND_ERR_CLOSED", "UND_ERR_DESTROYED"]);

/** Least-connections across origins, each behind its own undici Pool. */
export class LeastConnDispatcher extends Dispatcher {
  /** The Balancer counting the origins (snapshot(), markDown(), ...). */
  readonly balancer: Balancer;
  private readonly pools = new Map<string, Pool>();
  private readonly poolOptions: Pool.Options;
  private readonly retries: number;
  private readonly retryMethods: Set<string>;
  private readonly health: HealthChecks | undefined;
  private closing = false;
  private destroyed = false;
  /** @internal Requests waiting in the Balancer's queue, each by the controller that gives up its wait. */
  readonly _waiting = new Set<AbortController>();
  /** Resolves once no request waits in the Balancer's queue (set by close()). */
  private waited: Promise<void> | undefined;
  private onWaited: (() => void) | undefined;

  constructor(origins: ReadonlyArray<string | URL | OriginSpec>, options: LeastConnDispatcherOptions = {}) {
    super();
    if (!Array.isArray(origins)) throw new InvalidArgumentError("origins", "must be an array");
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError("options", "must be an object");
    const poolOptions: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(options)) if (!BALANCER_KEYS.has(k)) poolOptions[k] = v;
    this.poolOptions = poolOptions as Pool.Options;
    const retries = options.retries ?? 1;
    if (!Number.isInteger(retries) || retries < 0)
      throw new InvalidArgumentError("retries", `must be an integer >= 0, got ${String(retries)}`);
    this.retries = retries;
    this.retryMethods = new Set((options.retryMethods ?? IDEMPOTENT).map((m) => m.toUpperCase()));
    // Origins given here start at full weight (slow start is for later arrivals).
    this.balancer = originBalancer(origins, options);
    if (options.healthCheck !== undefined) {
      this.health = new HealthChecks(this.balancer, options.healthCheck, async (origin, path, signal) => {
        const pool = this.pools.get(origin);
        if (pool === undefined) return false;
        const res = await pool.request({ path, method: "GET", signal });
        await res.body.dump();
        return res.statusCode >= 200 && res.statusCode < 400;
      });
    }
    for (const name of this.balancer.names) this.open(name);
  }

  /** Origins taking traffic or draining, in order. */
  get upstreams(): string[] {
    return this.balancer.names;
  }

  /** The Pool of one origin. */
  getUpstream(origin: string | URL): Pool | undefined {
    return this.pools.get(checkOrigin(String(origin)));
  }

  /** Adds an origin (or takes back one being removed). */
  addUpstream(origin: string | URL, options?: { weight?: number; maxConnections?: number }): this {
    const name = checkOrigin(String(origin));
    if (!this.balancer.has(name)) this.balancer.add(name, options);
    // Being removed: take it back (its Pool is still open), and probe it again below.
    else if (this.balancer.get(name).state === "draining") this.balancer.markUp(name);
    this.open(name);
    return this;
  }

  /** The Pool and the health checks of an origin the Balancer has. */
  private open(name: string): void {
    if (!this.pools.has(name)) {
      const pool = new Pool(name, this.poolOptions);
      // Forward the Pool's events as BalancedPool does, this dispatcher first in `targets`.
      const emit = this.emit.bind(this) as (event: string, ...args: unknown[]) => boolean;
      for (const event of ["connect", "disconnect", "connectionError", "drain"]) {
        (pool.on as (e: string, f: (...a: unknown[]) => void) => Pool).call(pool, event, (o, targets, err) =>
          emit(event, o, [this, ...((targets as Dispatcher[] | undefined) ?? [])], err),
        );
      }
      this.pools.set(name, pool);
    }
    this.health?.add(name);
  }

  /** Drains an origin: no new requests; its Pool closes once its requests are done. */
  removeUpstream(origin: string | URL): this {
    const name = checkOrigin(String(origin));
    if (!this.balancer.has(name)) return this;
    this.health?.delete(name);
    this.balancer.remove(name);
    void this.balancer.drained(name).then(() => {
      // Taken back (addUpstream) before it drained: a later removal closes it.
      if (this.balancer.has(name)) return;
      const pool = this.pools.get(name);
      this.pools.delete(name);
      return pool?.close();
    });
    return this;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Handler): boolean {
    const legacy = typeof handler.onRequestStart === "function" ? unwrap(handler) : handler;
    try {
      if (this.closing) throw this.destroyed ? new errors.ClientDestroyedError() : new errors.ClientClosedError();
      const method = (opts.method ?? "GET").toUpperCase();
      const retries = this.retryMethods.has(method) && replayable(opts.body) ? this.retries : 0;
      return new Attempts(this, opts, legacy, retries).start();
    } catch (err) {
      if (typeof legacy.onError !== "function") throw err;
      legacy.onError(err as Error);
      return false;
    }
  }

  /** @internal The Pool for a lease's origin. */
  _pool(origin: string): Pool {
    return this.pools.get(origin)!;
  }

  /** @internal A request left the Balancer's queue (handed a slot, timed out or aborted). */
  _left(waiting: AbortController): void {
    this._waiting.delete(waiting);
    if (this._waiting.size === 0) this.onWaited?.();
  }

  /** New requests fail with ClientClosedError; those waiting for a slot are served, then the Pools close (each once its requests end). */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | undefined {
    this.closing = true;
    this.health?.close();
    this.waited ??= new Promise<void>((resolve) => {
      this.onWaited = resolve;
      if (this._waiting.size === 0) resolve();
    });
    const done = this.waited.then(() => Promise.all([...this.pools.values()].map((p) => p.close()))).then(() => {});
    if (callback === undefined) return done;
    void done.then(callback);
    return undefined;
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | undefined {
    const err = typeof a === "function" ? null : (a ?? null);
    const callback = typeof a === "function" ? a : b;
    this.closing = true;
    this.destroyed = true;
    this.health?.close();
    // Requests waiting for a slot fail now, as a Pool's queued requests do.
    for (const waiting of this._waiting) waiting.abort(err ?? new errors.ClientDestroyedError());
    const done = Promise.all([...this.pools.values()].map((p) => p.destroy(err))).then(() => {});
    if (callback === undefined) return done;
    void done.then(callback);
    return undefined;
  }
}

/** One request across its attempts: the caller's handler sees one request. */
class Attempts implements Handler {
  private lease: Lease | undefined;
  private abortAttempt: LegacyAbort | undefined;
  private connected = false; // the caller's onConnect has run
  private aborted: Error | undefined;
  private started = false; // a response byte has arrived
  private ok = true; // false after a 5xx status

  constructor(
    private readonly owner: LeastConnDispatcher,
    private readonly opts: Dispatcher.DispatchOptions,
    private readonly handler: Handler,
    private retriesLeft: number,
  ) {}

  start(except?: string): boolean {
    const b = this.owner.balancer;
    const lease = except === undefined ? b.acquire() : b._acquireExcept([except]);
    if (lease !== null) return this.send(lease);
    // Every origin full (or none up): wait in the Balancer's queue. The
    // caller gets its abort now, so it can give up the wait.
    const waiting = new AbortController();
    this.owner._waiting.add(waiting);
    this.abortAttempt = (err) => waiting.abort(err);
    this.onConnect((err) => waiting.abort(err));
    this.owner.balancer.acquireAsync({ signal: waiting.signal }).then(
      (granted) => {
        // Out of the queue first: close() closes the Pools a tick later, after this dispatch.
        this.owner._left(waiting);
        if (this.aborted !== undefined) {
          granted.release();
          this.fail(this.aborted);
        } else {
          this.send(granted);
        }
      },
      (err: Error) => {
        this.owner._left(waiting);
        this.fail(this.aborted ?? err);
      },
    );
    return true;
  }

  private send(lease: Lease): boolean {
    this.lease = lease;
    this.abortAttempt = undefined;
    return this.owner._pool(lease.backend).dispatch(this.opts, this);
  }

  private end(ok: boolean | null): void {
    const lease = this.lease;
    this.lease = undefined;
    lease?.release({ ok });
  }

  private fail(err: Error): void {
    if (this.handler.onError === undefined) throw err;
    this.handler.onError(err);
  }

  onConnect(abort: LegacyAbort, context?: unknown): void {
    this.abortAttempt = abort;
    if (this.aborted !== undefined) {
      abort(this.aborted);
      return;
    }
    if (this.connected) return;
    this.connected = true;
    const onConnect = this.handler.onConnect as ((abort: LegacyAbort, context?: unknown) => void) | undefined;
    onConnect?.call(
      this.handler,
      (err?: Error) => {
        this.aborted ??= err ?? new Error("aborted");
        this.abortAttempt?.(this.aborted);
      },
      context,
    );
  }

  onResponseStarted(): void {
    this.started = true;
    this.handler.onResponseStarted?.();
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    this.started = true;
    // Only a 5xx is the origin's failure (a status past 599 is an odd answer, but an answer).
    this.ok = statusCode < 500 || statusCode > 599;
    return this.handler.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  onData(chunk: Buffer): boolean {
    return this.handler.onData?.(chunk) ?? true;
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.handler.onBodySent?.(chunkSize, totalBytesSent);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: import("node:stream").Duplex): void {
    this.started = true;
    this.end(true);
    this.handler.onUpgrade?.(statusCode, headers, socket);
  }

  onComplete(trailers: string[] | null): void {
    this.end(this.ok);
    this.handler.onComplete?.(trailers);
  }

  onError(err: Error): void {
    // An abort, or an error that is not the origin's doing, is neither retried nor a failure.
    const notOrigin = this.aborted !== undefined || NOT_THE_ORIGIN.has((err as { code?: string }).code!);
    if (!this.started && !notOrigin && this.retriesLeft > 0) {
      this.retriesLeft--;
      this.abortAttempt = undefined;
      // The retry picks among the other origins (the failed one is left out
      // of the pick); when none is free now, it queues like any request.
      const failed = this.lease;
      this.lease = undefined;
      this.start(failed?.backend);
      failed?.release({ ok: false });
      return;
    }
    this.end(notOrigin ? null : false);
    this.fail(err);
  }
}

/** A caller's new-style handler (onRequestStart, ...) seen through the legacy interface. */
function unwrap(handler: Handler): Handler {
  let controller: Controller | undefined;
  return {
    onConnect(abort) {
      controller = new Controller(abort);
      handler.onRequestStart?.(controller, undefined);
    },
    onResponseStarted() {
      handler.onResponseStarted?.();
    },
    onHeaders(statusCode, rawHeaders, resume, statusMessage) {
      controller!.resumeFn = resume;
      handler.onResponseStart?.(controller!, statusCode, util.parseHeaders(rawHeaders), statusMessage);
      return !controller!.paused;
    },
    onData(chunk) {
      handler.onResponseData?.(controller!, chunk);
      return !controller!.paused;
    },
    onComplete(trailers) {
      handler.onResponseEnd?.(controller!, util.parseHeaders(trailers ?? []));
    },
    onUpgrade(statusCode, rawHeaders, socket) {
      handler.onRequestUpgrade?.(controller!, statusCode, util.parseHeaders(rawHeaders ?? []), socket);
    },
    onError(err) {
      handler.onResponseError?.(controller ?? new Controller(() => {}), err);
    },
  };
}

class Controller implements Dispatcher.DispatchController {
  paused = false;
  aborted = false;
  reason: Error | null = null;
  resumeFn: (() => void) | undefined;
  constructor(private readonly abortFn: LegacyAbort) {}
  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.abortFn(reason);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumeFn?.();
  }
}
