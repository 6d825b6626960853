// leastconn/fetch: a fetch-compatible function that spreads requests over
// several origins by least connections. Web-standard APIs only (fetch,
// Request, Response, ReadableStream, AbortSignal, URL), so the same file runs
// in browsers, Deno and Node's global fetch.
//
// A request counts on its origin (holds a lease) from the pick until its
// response body has been read to the end, cancelled or has errored, or until
// its signal aborts. A body nobody reads would hold its lease for ever, so
// `bodyIdleTimeoutMs` (default 30,000) bounds it: a body not read for that
// long after the headers (or after the last chunk read, a read waiting on
// the origin not counting) is cancelled and its lease released; later reads
// fail with a TimeoutError. 0 turns the timeout off: then only reading,
// cancelling or aborting ends the lease. (A FinalizationRegistry backstop was
// tried and dropped: Chromium collects the JS stream object handed to
// `new Response()` while its body is still being read, so the backstop
// released leases of bodies in use.)
//
// Picks go through the Balancer's queue (acquireAsync): when every origin is
// at its maxConnections, a request waits for a freed slot. Each lease ends
// with its outcome, release({ ok }): ok is false for a 5xx, a network error
// or a body that broke off, so ejection (when configured) sees failures.

import { Balancer, type Lease } from "./balancer.js";
import { InvalidArgumentError } from "./errors.js";
import { checkInt, type HealthCheckOptions, HealthChecks, unrefTimer } from "./health.js";
import type { EjectionOptions, QueueOptions, SlowStartOptions } from "./options.js";

export type { HealthCheckOptions } from "./health.js";

export interface OriginSpec {
  /** "http://host:port" (scheme, host and port only). */
  origin: string;
  /** Integer 0..1,000,000; default 1 (used by the weighted algorithms). */
  weight?: number;
  /** Most requests in flight on this origin; default the options' maxConnections. */
  maxConnections?: number;
}

/** The Balancer's options both clients pass through (see docs/CORE.md). */
export interface BalancingOptions {
  /** Any of the Balancer's algorithms; default "least-connections". */
  algorithm?: string;
  /** Seed of the core's generator (p2c, random, peak-ewma). */
  seed?: number;
  tieBreak?: "first" | "rotate";
  /** Most requests in flight per origin; absent: no limit. More wait in the queue. */
  maxConnections?: number;
  /** The wait queue when every origin is full; default { limit: 1024, timeoutMs: 5000 }. */
  queue?: QueueOptions;
  /** Passive ejection of failing origins (errors and 5xx count); absent: never. */
  ejection?: EjectionOptions;
  /** Slow start of origins coming back; absent: none. */
  slowStart?: SlowStartOptions;
  /** Peak-ewma's decay time constant, ms. */
  decayMs?: number;
}

/** The BalancingOptions passed to the Balancer as they are (maxConnections goes to each origin). */
const PASSED = ["algorithm", "seed", "tieBreak", "queue", "ejection", "slowStart", "decayMs"] as const;

/** A Balancer over `origins` (checked and normalised), with `options`. */
export function originBalancer(origins: ReadonlyArray<string | URL | OriginSpec>, options: BalancingOptions): Balancer {
  if (!Array.isArray(origins) || origins.length === 0) throw new InvalidArgumentError("origins", "must be a non-empty array");
  const backends = origins.map((o, i) =>
    typeof o === "object" && !(o instanceof URL)
      ? {
          name: checkOrigin(o?.origin, `origins[${i}].origin`),
          weight: o.weight,
          maxConnections: o.maxConnections ?? options.maxConnections,
        }
      : { name: checkOrigin(o, `origins[${i}]`), maxConnections: options.maxConnections },
  );
  const picked: Record<string, unknown> = { backends };
  for (const key of PASSED) picked[key] = options[key];
  return new Balancer(picked);
}

export interface BalancedFetchOptions extends BalancingOptions {
  origins: ReadonlyArray<string | OriginSpec>;
  /**
   * Retries on another origin of a request that failed before any response
   * (a network error), for idempotent methods with a replayable body. Default 1; 0 turns it off.
   */
  retries?: number;
  /** Methods retried; default GET, HEAD, OPTIONS, PUT, DELETE, TRACE. */
  retryMethods?: readonly string[];
  /** See the header comment; default 30,000; 0 turns the timeout off. */
  bodyIdleTimeoutMs?: number;
  /** Optional active health checks. */
  healthCheck?: HealthCheckOptions;
  /** The fetch to send with; default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** What balancedFetch returns: fetch's signature, plus the Balancer and a close(). */
export interface BalancedFetch {
  (input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** The Balancer counting the origins (snapshot(), markDown(), ...). */
  readonly balancer: Balancer;
  /** Stops the health checks (requests keep working). */
  close(): void;
}

const IDEMPOTENT = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"];
// Statuses whose Response may not carry a body.
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Checks and normalises one origin; throws InvalidArgumentError naming it. */
export function checkOrigin(value: unknown, field = "origin"): string {
  const text = String(value);
  const url = URL.canParse(text) ? new URL(text) : undefined;
  // Nothing but scheme, host and port: no path, query, fragment or user.
  if (url === undefined || !/^https?:$/.test(url.protocol) || url.href !== `${url.origin}/`) {
    throw new InvalidArgumentError(field, `must be an http(s) origin, got ${text}`);
  }
  return url.origin;
}

/** A tracked body's lease and idle timer. */
interface Tracked {
  lease: Lease;
  /** The outcome reported when the body ends well: false for a 5xx. */
  ok: boolean;
  finished: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

function finish(t: Tracked, ok = t.ok): boolean {
  if (t.finished) return false;
  t.finished = true;
  t.lease.release({ ok });
  clearTimeout(t.timer);
  t.timer = undefined;
  return true;
}

/** A fetch over `origins`, balanced by the leastconn core. */
export function balancedFetch(options: BalancedFetchOptions): BalancedFetch {
  if (typeof options !== "object" || options === null) throw new InvalidArgumentError("options", "must be an object");
  const balancer = originBalancer(options.origins, options);
  const retries = checkInt(options.retries, "retries", 0, 1);
  const retryMethods = new Set((options.retryMethods ?? IDEMPOTENT).map((m) => m.toUpperCase()));
  const idleMs = checkInt(options.bodyIdleTimeoutMs, "bodyIdleTimeoutMs", 0, 30_000);
  const send = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (typeof send !== "function") throw new InvalidArgumentError("fetch", "must be a function");

  let health: HealthChecks | undefined;
  if (options.healthCheck !== undefined) {
    health = new HealthChecks(balancer, options.healthCheck, async (origin, path, signal) => {
      const res = await send(origin + path, { signal, cache: "no-store" });
      await res.body?.cancel();
      return res.status >= 200 && res.status < 400;
    });
    for (const name of balancer.names) health.add(name);
  }

  const balanced = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    let path: string;
    let request: Request | undefined;
    if (typeof input === "string" || input instanceof URL) {
      const text = String(input);
      // An absolute URL names its own server: it is fetched as it is, unbalanced.
      if (URL.canParse(text)) return send(input, init);
      path = text.startsWith("/") ? text : `/${text}`;
    } else {
      // A Request always carries an absolute URL: its path and query go to the picked origin.
      request = input;
      const url = new URL(input.url);
      path = url.pathname + url.search + url.hash;
    }
    const signal = init?.signal ?? request?.signal ?? undefined;
    signal?.throwIfAborted();
    const method = (init?.method ?? request?.method ?? "GET").toUpperCase();
    const b = init?.body;
    // Only a body fetch sends again unchanged is replayable: none, a string (or what becomes
    // one), bytes, a Blob, form data. Never a stream, an async iterable or a Request's body.
    const again =
      !b || typeof b !== "object" || ArrayBuffer.isView(b) || [ArrayBuffer, Blob, URLSearchParams, FormData].some((c) => b instanceof c);
    // fetch() begins with new Request(input, init): done here first, a caller's mistake (a bad
    // method or header, a GET with a body, a stream without duplex) throws before any pick, so
    // no origin is blamed or retried. The body is a stand-in: the real one could be used up.
    // (A Request given as init was checked when made; spread, it would lose its getters.)
    if (init && !(init instanceof Request))
      new Request("http://x", { ...init, body: b && (again ? "" : new ReadableStream()), signal: null });
    const replayable = request?.body == null && again;
    let attemptsLeft = replayable && retryMethods.has(method) ? retries : 0;
    let failed: Lease | undefined;
    for (;;) {
      // A retry picks among the other origins (the failed one is left out of
      // the pick); when none is free now, it queues like any request.
      let lease = failed === undefined ? null : balancer._acquireExcept([failed.backend]);
      failed?.release({ ok: false });
      // Waits in the Balancer's queue while every origin is full.
      lease ??= await balancer.acquireAsync({ signal });
      const url = lease.backend + path;
      try {
        const response = await send(request === undefined ? url : new Request(url, request), init);
        return track(response, lease, signal, idleMs);
      } catch (err) {
        if (attemptsLeft > 0 && !signal?.aborted) {
          attemptsLeft--;
          failed = lease;
          continue;
        }
        // An abort says nothing about the origin: no outcome.
        lease.release({ ok: signal?.aborted ? null : false });
        throw err;
      }
    }
  };
  return Object.assign(balanced, {
    balancer,
    close: () => health?.close(),
  });
}

/** Returns `response` with its body wrapped so the lease ends with the body. */
function track(response: Response, lease: Lease, signal: AbortSignal | undefined, idleMs: number): Response {
  const { body: upstream, status } = response;
  // Only a 5xx is the origin's failure (not 600..999, which Node's fetch also hands on).
  const ok = status < 500 || status > 599;
  if (upstream === null || NULL_BODY.has(status)) {
    lease.release({ ok });
    return response;
  }
  const t: Tracked = { lease, ok, finished: false, timer: undefined };
  const reader = upstream.getReader();
  let lastRead = Date.now();
  let reading = false;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const end = (ok?: boolean): void => {
    if (!finish(t, ok)) return;
    signal?.removeEventListener("abort", onAbort);
  };
  const fail = (reason: unknown): void => {
    end();
    controller?.error(reason);
    reader.cancel(reason).catch(() => {});
  };
  const onAbort = (): void => fail(signal?.reason);
  const idle = (): void => {
    t.timer = undefined;
    if (t.finished) return;
    // A read waiting on the origin is not idleness.
    const wait = reading ? idleMs : lastRead + idleMs - Date.now();
    if (wait > 0) {
      t.timer = setTimeout(idle, wait);
      unrefTimer(t.timer);
      return;
    }
    fail(new DOMException(`leastconn: body idle for ${idleMs} ms`, "TimeoutError"));
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      async pull(c) {
        reading = true;
        try {
          const { done, value } = await reader.read();
          if (t.finished) return;
          if (done) {
            end();
            c.close();
          } else {
            c.enqueue(value);
          }
        } catch (err) {
          if (t.finished) return;
          end(false); // the body broke off: the origin failed
          c.error(err);
        } finally {
          reading = false;
          lastRead = Date.now();
        }
      },
      cancel(reason) {
        end();
        return reader.cancel(reason);
      },
      // No read-ahead: with the default of 1, the stream's own first pull() would wait on the
      // origin as if the caller were reading, and an unread body would never go idle.
    },
    { highWaterMark: 0 },
  );
  signal?.addEventListener("abort", onAbort, { once: true });
  if (idleMs > 0) {
    t.timer = setTimeout(idle, idleMs);
    unrefTimer(t.timer);
  }
  // Node's fetch hands on any status an origin sends (to 999) and any reason phrase, where
  // new Response() throws for a status past 599 or a phrase that is not a byte string. The
  // answer is returned all the same: built with what new Response() takes, showing the
  // original's values as its own (a clone() reads the built ones: no phrase, 200 past 599).
  const out = new Response(body, { status: status > 599 ? 200 : status, headers: response.headers });
  for (const k of ["status", "statusText", "ok", "url", "redirected", "type"] as const)
    Object.defineProperty(out, k, { value: response[k] });
  return out;
}
