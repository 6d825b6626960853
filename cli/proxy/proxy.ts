// The HTTP and WebSocket reverse proxy over a Balancer (`leastconn/proxy`,
// Node only). It owns forwarding: one undici Pool per backend, streaming
// both ways with backpressure, hop-by-hop headers, X-Forwarded-*, retries,
// timeouts, and the exact lifetime of each lease: taken at the pick,
// released exactly once when the response has been sent, when the upstream
// fails, or when the client goes away. A WebSocket (Upgrade) tunnel holds
// its lease until both of its sockets have closed.
//
// It owns no listener: `handler` and `upgrade` mount on any node:http server
// (the CLI in main.ts is one such server).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type Logger, pino } from "pino";
import { Pool } from "undici";
import {
  Balancer,
  type EjectionOptions,
  InvalidArgumentError,
  type Lease,
  type QueueOptions,
  type SlowStartOptions,
} from "../../bindings/index.js";

export interface ProxyBackend {
  /** http://host:port (a path or query is refused). */
  url: string;
  /** Defaults to host:port of the URL. */
  name?: string;
  /** Integer 0..1,000,000, default 1. */
  weight?: number;
  /** Most requests and tunnels at once (1..2^31-1); more wait in the queue. Absent: no limit. */
  maxConnections?: number;
}

export interface ProxyTimeouts {
  /** TCP connect to a backend; 504 when over. Default 5,000. */
  connectMs?: number;
  /** From the request sent to the response's headers; 504 when over. Default 60,000. */
  headersMs?: number;
  /** Longest silence while the response body streams; the client socket is closed when over. Default 60,000. */
  idleMs?: number;
  /** After one side of a tunnel ends, how long the other may still send before both close. Default 1,000. */
  finMs?: number;
}

export interface ProxyOptions {
  backends: ReadonlyArray<string | ProxyBackend>;
  /** Balancer algorithm, default "least-connections". */
  algorithm?: string;
  /** Further attempts on another backend for an idempotent request without a body whose connection failed. Default 1. */
  retries?: number;
  timeouts?: ProxyTimeouts;
  /** Largest number of connections per backend pool (undefined: unlimited). */
  connections?: number;
  /** pino logger; default: JSON lines on stderr at level "info". */
  logger?: Logger;
  /** Log one line per completed request at level "info". Default false. */
  accessLog?: boolean;
  /**
   * Keep the client's X-Forwarded-Proto and X-Forwarded-Host and append this
   * hop's (when a proxy you trust is in front). Default false: they are
   * replaced by this hop's, so no client can make a backend believe another
   * scheme or host. X-Forwarded-For is always appended to.
   */
  trustForwarded?: boolean;
  /** Called once per finished attempt (for metrics). */
  observe?: (backend: string, ok: boolean, seconds: number) => void;
  /** Seed of the balancer's generator (random, power-of-two-choices). */
  seed?: number;
  /**
   * A Balancer to count on instead of a new one (e.g. `attachShared()` in a
   * worker thread, so several threads share one table). Its backends must be
   * exactly the names of `backends`, in order; `algorithm` and `seed` are then its own.
   */
  balancer?: Balancer;
  /** The Balancer's queue for requests that find every backend full (maxConnections): { limit, timeoutMs }. */
  queue?: QueueOptions;
  /** Passive ejection on failures (connect errors, resets, timeouts, 5xx); absent: never. */
  ejection?: EjectionOptions;
  /** Slow start for added backends and ones back up (health checks, ejection's end). */
  slowStart?: SlowStartOptions;
}

export interface LeastconnProxy {
  handler(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  readonly balancer: Balancer;
  /** Adds a backend (ProxyBackend or URL). */
  add(backend: string | ProxyBackend): void;
  /** Drains a backend: no new picks; its pool closes once its last request has finished. */
  remove(name: string): Promise<void>;
  /** The backends in table order (draining ones included): name, url, weight. */
  backends(): Array<{ name: string; url: string; weight: number }>;
  /** Requests and tunnels open now. */
  readonly inFlight: number;
  /** Closes every pool and open tunnel. */
  close(): Promise<void>;
}

interface Backend {
  name: string;
  url: URL;
  origin: string;
  host: string;
  port: number;
  weight: number;
  pool: Pool;
}

// RFC 9110 §7.6.1: connection-specific fields, plus the ones `Connection`
// names. Proxy-Connection is non-standard but still sent by old clients.
const HOP_BY_HOP = new Set(["connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade", "trailer"]);
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
]);
/** undici's refusals of a request it was given: nothing reached a backend. */
/** Largest informational head (1xx) before an upgrade's answer, as node's default header limit. */
const MAX_INFO_HEAD = 16 << 10;
const LOCAL_ERRORS = new Set(["UND_ERR_INVALID_ARG", "UND_ERR_NOT_SUPPORTED"]);
const TIMEOUT_ERRORS = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

function describe(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/** Parses and checks one backend; throws InvalidArgumentError naming the field. */
export function parseBackend(spec: unknown, field = "backends"): { name: string; url: URL; weight: number; maxConnections?: number } {
  const obj: Record<string, unknown> = typeof spec === "string" ? { url: spec } : (spec as Record<string, unknown>);
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new InvalidArgumentError(field, `must be a URL string or {url, name?, weight?}, got ${describe(spec)}`);
  }
  for (const key of Object.keys(obj)) {
    if (key !== "url" && key !== "name" && key !== "weight" && key !== "maxConnections") {
      throw new InvalidArgumentError(`${field}.${key}`, "is not a backend field");
    }
  }
  let url: URL;
  try {
    if (typeof obj.url !== "string") throw new Error();
    url = new URL(obj.url);
  } catch {
    throw new InvalidArgumentError(`${field}.url`, `must be an http:// URL, got ${describe(obj.url)}`);
  }
  if (url.protocol !== "http:") throw new InvalidArgumentError(`${field}.url`, `must be an http:// URL, got ${describe(obj.url)}`);
  if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "" || url.username !== "") {
    throw new InvalidArgumentError(`${field}.url`, `must be http://host:port with no path, query or credentials, got ${describe(obj.url)}`);
  }
  const name = obj.name ?? url.host;
  if (typeof name !== "string" || name.length === 0)
    throw new InvalidArgumentError(`${field}.name`, `must be a non-empty string, got ${describe(name)}`);
  const weight = obj.weight ?? 1;
  if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 0 || weight > 1_000_000) {
    throw new InvalidArgumentError(`${field}.weight`, `must be an integer 0..1000000, got ${describe(weight)}`);
  }
  const max = obj.maxConnections;
  if (max !== undefined && (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > 0x7fffffff)) {
    throw new InvalidArgumentError(`${field}.maxConnections`, `must be an integer 1..2147483647, got ${describe(max)}`);
  }
  return max === undefined ? { name, url, weight } : { name, url, weight, maxConnections: max };
}

function checkCount(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `must be an integer ${min}..${max}, got ${describe(value)}`);
  }
  return value;
}

/** Status, body and log message of a failure before any response byte. */
function failureOf(err: unknown): { status: number; text: string; code: string } {
  const code = (err as { code?: string } | null)?.code ?? "UNKNOWN";
  if (TIMEOUT_ERRORS.has(code)) return { status: 504, text: "Gateway Timeout\n", code };
  return { status: 502, text: "Bad Gateway\n", code };
}

export function createProxy(options: ProxyOptions): LeastconnProxy {
  if (options === null || typeof options !== "object") throw new InvalidArgumentError("options", "must be an object");
  if (!Array.isArray(options.backends)) throw new InvalidArgumentError("backends", "must be an array");
  const retries = checkCount(options.retries ?? 1, "retries", 0, 100);
  const connectMs = checkCount(options.timeouts?.connectMs ?? 5_000, "timeouts.connectMs", 1, 3_600_000);
  const headersMs = checkCount(options.timeouts?.headersMs ?? 60_000, "timeouts.headersMs", 1, 3_600_000);
  const idleMs = checkCount(options.timeouts?.idleMs ?? 60_000, "timeouts.idleMs", 1, 3_600_000);
  const finMs = checkCount(options.timeouts?.finMs ?? 1_000, "timeouts.finMs", 0, 3_600_000);
  const connections = options.connections === undefined ? undefined : checkCount(options.connections, "connections", 1, 1_000_000);
  const log = options.logger ?? pino({ base: undefined }, pino.destination(2));
  const accessLog = options.accessLog === true;
  const trust = options.trustForwarded === true;
  const observe = options.observe;

  const specs = options.backends.map((b, i) => parseBackend(b, `backends[${i}]`));
  const byName = new Map<string, Backend>();
  const makeBackend = (s: { name: string; url: URL; weight: number }): Backend => ({
    name: s.name,
    url: s.url,
    origin: s.url.origin,
    host: s.url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(s.url.port || 80),
    weight: s.weight,
    pool: new Pool(s.url.origin, {
      connections,
      pipelining: 1,
      connect: { timeout: connectMs },
      headersTimeout: headersMs,
      bodyTimeout: idleMs,
      keepAliveTimeout: 4_000,
    }),
  });
  const seen = new Set<string>();
  for (const [i, s] of specs.entries()) {
    if (seen.has(s.name)) throw new InvalidArgumentError(`backends[${i}].name`, `another backend is named ${describe(s.name)}`);
    seen.add(s.name);
  }
  const balancer =
    options.balancer ??
    new Balancer({
      backends: specs.map((s) => ({ name: s.name, weight: s.weight, maxConnections: s.maxConnections })),
      algorithm: options.algorithm,
      seed: options.seed,
      queue: options.queue,
      ejection: options.ejection,
      slowStart: options.slowStart,
    });
  if (options.balancer !== undefined && balancer.names.join("\n") !== specs.map((s) => s.name).join("\n")) {
    throw new InvalidArgumentError("balancer", `its backends ${JSON.stringify(balancer.names)} are not the names of backends`);
  }
  for (const s of specs) byName.set(s.name, makeBackend(s));

  let inFlight = 0;
  const tunnels = new Set<Socket | Duplex>();
  let closed = false;

  // One attempt's outcome, reported once per lease: ok false counts as a
  // backend failure (connect error, reset, timeout, 5xx); null is no outcome
  // (the client left, or the request never reached the backend): it neither
  // ends a run of failures nor gives peak-ewma a latency (observe sees ok).
  function finish(lease: Lease, ok: boolean | null, start: number): void {
    if (lease.released) return;
    lease.release({ ok });
    observe?.(lease.backend, ok !== false, (performance.now() - start) / 1000);
  }

  function refuse(res: ServerResponse, status: number, text: string, extra?: Record<string, string>): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(text), ...extra });
    res.end(text);
  }

  /** One client request, across its attempts; it is also undici's dispatch handler. */
  class Exchange {
    lease: Lease | null = null;
    backend: Backend | null = null;
    abortUpstream: ((err?: Error) => void) | null = null;
    start = 0;
    tries = 0;
    done = false;
    sentHeaders = false;
    resumeUpstream: (() => void) | null = null;
    readonly headers: string[];
    readonly hasBody: boolean;
    readonly t0 = performance.now();
    readonly tried: string[] = [];

    constructor(
      readonly req: IncomingMessage,
      readonly res: ServerResponse,
    ) {
      this.headers = forwardHeaders(req, false, trust);
      this.hasBody = hasBody(req);
      res.on("close", this.onClientClose);
      res.on("drain", this.onDrain);
    }

    waiting: AbortController | null = null;

    attempt(): void {
      const lease = balancer.acquire();
      if (lease === null) this.wait();
      else this.send(lease);
    }

    // Nothing free now: the Balancer's queue (when every backend that could
    // take it is full) or a refusal (none up, queue full, queue timeout): 503.
    wait(): void {
      const ac = new AbortController();
      this.waiting = ac;
      balancer.acquireAsync({ signal: ac.signal }).then(
        (lease) => {
          this.waiting = null;
          if (this.done) lease.release();
          else this.send(lease);
        },
        (err: { code?: string; message?: string }) => {
          this.waiting = null;
          if (this.done) return;
          this.end();
          log.warn({ event: "unavailable", code: err.code, method: this.req.method, url: this.req.url }, err.message ?? "no backend");
          refuse(this.res, 503, "Service Unavailable\n", { "retry-after": "1" });
        },
      );
    }

    send(lease: Lease): void {
      const backend = byName.get(lease.backend)!;
      this.lease = lease;
      this.backend = backend;
      this.start = performance.now();
      this.tries++;
      this.tried.push(backend.name);
      backend.pool.dispatch(
        {
          origin: backend.origin,
          path: this.req.url ?? "/",
          method: this.req.method ?? "GET",
          headers: this.headers,
          body: this.hasBody ? this.req : null,
          // Retries are ours (on another backend), never undici's.
          idempotent: false,
          blocking: false,
          reset: false,
        },
        this,
      );
    }

    onConnect(abort: (err?: Error) => void): void {
      if (this.done) {
        abort();
        return;
      }
      this.abortUpstream = abort;
    }

    onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
      if (this.done) return false;
      if (status < 200) return true; // 1xx other than 101: informational, dropped (as nginx)
      this.resumeUpstream = resume;
      const out: string[] = [];
      const named = connectionTokens(raw);
      let trailer: string[] | null = null;
      let sized = false;
      for (let i = 0; i < raw.length; i += 2) {
        const key = raw[i]!.toString("latin1");
        const lower = key.toLowerCase();
        if (lower === "trailer") (trailer ??= []).push(key, raw[i + 1]!.toString("latin1"));
        if (lower === "transfer-encoding" && raw[i + 1]!.toString("latin1").trim().toLowerCase() !== "chunked") {
          // A coding other than chunked would reach the client undeclared: 502 (as nginx).
          const abort = this.abortUpstream;
          const err = Object.assign(new Error(`transfer coding ${raw[i + 1]} is not forwarded`), { code: "UND_ERR_BAD_CODING" });
          this.onError(err);
          abort?.(err);
          return false;
        }
        if (HOP_BY_HOP.has(lower)) continue;
        if (named?.has(lower)) continue;
        if (lower === "content-length") sized = true;
        out.push(key, raw[i + 1]!.toString("latin1"));
      }
      // Trailer is kept only where node sends the response chunked (it
      // refuses the field otherwise): HTTP/1.1, a body, no Content-Length.
      const chunked = this.req.httpVersion === "1.1" && this.req.method !== "HEAD" && status !== 204 && status !== 304 && !sized;
      if (trailer !== null && chunked) out.push(...trailer);
      if (this.unread() !== undefined) out.push("connection", "close");
      try {
        this.res.writeHead(status, statusText || undefined, out);
      } catch (err) {
        // node refused a head it was given: this proxy's failure, not the backend's.
        log.error({ event: "bad_response_head", backend: this.backend!.name, status, url: this.req.url }, (err as Error).message);
        this.end();
        finish(this.lease!, null, this.start);
        this.abortUpstream?.(err as Error);
        refuse(this.res, 502, "Bad Gateway\n", this.unread());
        return false;
      }
      this.sentHeaders = true;
      this.status = status;
      return true;
    }

    status = 0;

    onData(chunk: Buffer): boolean {
      if (this.done) return false;
      const more = this.res.write(chunk);
      // A client that reads nothing for idleMs is closed (nginx's
      // send_timeout), or a slow reader would hold the lease for ever.
      if (!more && this.sendTimer === null) {
        this.sentMark = this.res.socket?.writableLength ?? 0;
        this.sendTimer = setTimeout(this.onSendTimeout, idleMs);
      }
      return more;
    }

    sendTimer: NodeJS.Timeout | null = null;
    sentMark = 0;
    watched: Duplex | null = null;

    watch(socket: Duplex): void {
      this.watched = socket;
      socket.once("close", this.onClientClose);
    }

    // Progress is the kernel taking a pending write from the socket's buffer
    // since the timer was set (the client read some). The kernel takes them
    // in steps of up to half its send buffer, so a steady reader is cut only
    // if one step takes longer than idleMs (docs/PROXY.md).
    onSendTimeout = (): void => {
      const left = this.res.socket?.writableLength ?? 0;
      if (left < this.sentMark) {
        this.sentMark = left;
        this.sendTimer = setTimeout(this.onSendTimeout, idleMs);
        return;
      }
      log.warn({ event: "client_timeout", backend: this.backend?.name, url: this.req.url }, `the client read nothing for ${idleMs} ms`);
      this.res.destroy();
    };

    onDrain = (): void => {
      if (this.sendTimer !== null) clearTimeout(this.sendTimer);
      this.sendTimer = null;
      this.resumeUpstream?.();
    };

    onComplete(trailers: Array<Buffer | string> | null): void {
      if (this.done) return;
      if (trailers !== null && trailers.length > 0) {
        const t: [string, string][] = [];
        for (let i = 0; i < trailers.length; i += 2) t.push([String(trailers[i]), String(trailers[i + 1])]);
        this.res.addTrailers(t);
      }
      this.res.end();
      this.end();
      finish(this.lease!, this.status < 500, this.start);
      if (accessLog) {
        log.info({
          event: "access",
          method: this.req.method,
          url: this.req.url,
          status: this.status,
          backend: this.backend!.name,
          ms: Math.round(performance.now() - this.t0),
        });
      }
    }

    onError(err: Error): void {
      if (this.done) return;
      const lease = this.lease!;
      const code = (err as { code?: string }).code ?? "UNKNOWN";
      const start = this.start;
      this.abortUpstream = null;
      if (this.sentHeaders && (this.status === 304 || this.status === 204) && code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH") {
        // undici refuses a Content-Length on a 304 (RFC 9110 §8.6 allows it):
        // the answer has no body and is complete.
        this.res.end();
        this.end();
        finish(lease, true, start);
        return;
      }
      if (!this.sentHeaders && LOCAL_ERRORS.has(code)) {
        // undici would not send this request: the request's fault, never retried or the backend's.
        this.end();
        finish(lease, null, start);
        log.warn({ event: "bad_request", code, method: this.req.method, url: this.req.url }, err.message);
        refuse(this.res, 400, "Bad Request\n", this.unread());
        return;
      }
      // A retry takes a backend not tried yet that is free now (nginx's
      // proxy_next_upstream); it never queues, which could only end behind
      // this request's own failed lease. With none, this failure is the answer.
      const next =
        CONNECT_ERRORS.has(code) &&
        !this.sentHeaders &&
        !this.hasBody &&
        IDEMPOTENT.has(this.req.method ?? "") &&
        this.tries <= retries &&
        !closed
          ? balancer._acquireExcept(this.tried)
          : null;
      finish(lease, false, start);
      if (next !== null) {
        log.warn({ event: "retry", backend: lease.backend, code, method: this.req.method, url: this.req.url }, err.message);
        this.send(next);
        return;
      }
      if (this.sentHeaders) {
        // Mid-body: the status is gone; closing is the only honest signal.
        this.end();
        log.error(
          { event: "upstream_error", backend: lease.backend, code, phase: "body", method: this.req.method, url: this.req.url },
          err.message,
        );
        this.res.destroy();
        return;
      }
      const f = failureOf(err);
      this.end();
      log.error(
        {
          event: "upstream_error",
          backend: lease.backend,
          code,
          status: f.status,
          method: this.req.method,
          url: this.req.url,
          tried: this.tried,
        },
        err.message,
      );
      refuse(this.res, f.status, f.text, this.unread());
    }

    // An answer before the whole request body arrived ends the connection:
    // the body being piped upstream, node:http would neither discard its
    // rest nor read the next request, and the keep-alive client would wait.
    unread(): Record<string, string> | undefined {
      return this.hasBody && !this.req.complete ? { connection: "close" } : undefined;
    }

    onClientClose = (): void => {
      if (this.done) return;
      this.waiting?.abort();
      // The client went away before the response was complete.
      this.end();
      if (this.lease !== null) finish(this.lease, null, this.start);
      this.abortUpstream?.(new Error("client closed"));
    };

    onBodySent(): void {}
    onResponseStarted(): void {}

    end(): void {
      if (this.done) return;
      this.done = true;
      inFlight--;
      if (this.sendTimer !== null) clearTimeout(this.sendTimer);
      this.watched?.off("close", this.onClientClose);
      this.res.off("drain", this.onDrain);
    }
  }

  /**
   * Why a request cannot be forwarded, or null: only origin-form targets
   * (absolute-form is for forward proxies, asterisk-form has no backend
   * meaning), at most one Host (RFC 9112 §3.2), and no upgrade with a body
   * (a tunnel forwards bytes as they come: a chunked body would reach the
   * backend unframed). Answered 400 before any pick.
   */
  function unfit(req: IncomingMessage, upgrading: boolean): string | null {
    if (req.url === undefined || req.url.charCodeAt(0) !== 47) return "request target is not a path";
    let hosts = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      if (req.rawHeaders[i]!.length === 4 && req.rawHeaders[i]!.toLowerCase() === "host") hosts++;
    if (hosts > 1) return "more than one Host field";
    const length = req.headers["content-length"];
    const te = req.headers["transfer-encoding"];
    if (upgrading && ((length !== undefined && length !== "0") || te !== undefined)) return "an upgrade with a body";
    return null;
  }

  /** A transfer coding other than chunked (gzip, chunked) would be lost: the body is re-framed on the way. 501, as nginx. */
  function unknownCoding(req: IncomingMessage): boolean {
    const te = req.headers["transfer-encoding"];
    return te !== undefined && te.trim().toLowerCase() !== "chunked";
  }

  // Answers not yet finished on each connection: an upgrade pipelined behind
  // them waits until they are out, so its 101 (or refusal) comes after them
  // on the wire, not in the middle of one.
  interface Unfinished {
    pending: Set<ServerResponse>;
    next: (() => void) | undefined;
  }
  const unfinished = new WeakMap<Duplex, Unfinished>();
  const settled = (u: Unfinished, res: ServerResponse): void => {
    u.pending.delete(res);
    if (u.pending.size !== 0 || u.next === undefined) return;
    const next = u.next;
    u.next = undefined;
    next();
  };

  function handler(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    let u = unfinished.get(socket);
    if (u === undefined) unfinished.set(socket, (u = { pending: new Set(), next: undefined }));
    u.pending.add(res);
    const mine = u;
    res.once("close", () => settled(mine, res));
    const why = unfit(req, false);
    if (why !== null) {
      log.warn({ event: "bad_request", method: req.method, url: req.url }, why);
      refuse(res, 400, "Bad Request\n");
      return;
    }
    if (unknownCoding(req)) {
      log.warn({ event: "bad_request", method: req.method, url: req.url }, "a transfer coding other than chunked");
      refuse(res, 501, "Not Implemented\n", { connection: "close" });
      return;
    }
    if (res.socket !== null || hasBody(req)) {
      inFlight++;
      const x = new Exchange(req, res);
      // Pipelined with a body: it starts now (its body could not wait for its
      // turn without node's requestTimeout cutting the connection, answers
      // before it included); its answer waits for the socket, so it watches
      // the connection itself (a queued response never sees it close).
      if (res.socket === null) x.watch(req.socket);
      x.attempt();
      return;
    }
    // Pipelined without a body behind an earlier response on its connection:
    // it starts when node:http hands it the socket, so such a connection holds
    // one lease at a time (as with nginx and HAProxy) and no answer waits in
    // memory for its turn. A connection closed first destroys the waiting
    // request: dropped.
    const gone = (): void => {
      if (req.socket.destroyed) res.off("socket", go);
    };
    const go = (): void => {
      req.off("close", gone);
      inFlight++;
      new Exchange(req, res).attempt();
    };
    res.once("socket", go);
    req.on("close", gone);
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const u = unfinished.get(socket);
    if (u !== undefined && u.pending.size !== 0) {
      // Nothing is picked until then; a client that leaves first, or a
      // proxy closing, ends it. node:http stopped listening to the socket at
      // the upgrade: an error while it waits must not go unhandled, and the
      // answer being written needs the socket's drain passed on (node did
      // that), or an answer larger than the buffers would stall for good.
      const broken = (): void => void socket.destroy();
      const relay = (): void => {
        for (const res of u.pending) if (res.socket === socket) res.emit("drain");
      };
      socket.on("error", broken);
      socket.on("drain", relay);
      u.next = () => {
        socket.off("error", broken);
        socket.off("drain", relay);
        if (closed) socket.destroy();
        else if (!socket.destroyed) upgradeNow(req, socket, head);
      };
      return;
    }
    upgradeNow(req, socket, head);
  }

  function upgradeNow(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const why = unfit(req, true);
    if (why !== null) {
      log.warn({ event: "bad_request", method: req.method, url: req.url, upgrade: true }, why);
      socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n");
      return;
    }
    const lease = balancer.acquire();
    if (lease === null) {
      log.warn({ event: "unavailable", method: req.method, url: req.url, upgrade: true }, "no backend can take the tunnel");
      socket.end(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 20\r\nConnection: close\r\n\r\nService Unavailable\n",
      );
      return;
    }
    inFlight++;
    const backend = byName.get(lease.backend)!;
    const start = performance.now();
    const upstream = netConnect({ host: backend.host, port: backend.port });
    let connected = false;
    let answered = false; // a byte of the backend's answer has arrived
    let failed = false; // the backend failed the handshake (reported ok: false)
    let left = false; // the client ended or broke the tunnel: nothing to blame the backend for
    let declined = false; // the backend answered without 101: its answer is passed on, no tunnel
    let over = false;
    let socketOpen = true;
    let upstreamOpen = true;
    tunnels.add(socket);
    const timeout = (code: string, ms: number): NodeJS.Timeout =>
      setTimeout(
        () => upstream.destroy(Object.assign(new Error(`${code === "UND_ERR_CONNECT_TIMEOUT" ? "connect" : "headers"} timeout`), { code })),
        ms,
      );
    let timer = timeout("UND_ERR_CONNECT_TIMEOUT", connectMs);
    // The lease ends once, when both sockets have closed.
    const settle = (): void => {
      if (over || socketOpen || upstreamOpen) return;
      over = true;
      tunnels.delete(socket);
      inFlight--;
      // A client that left before the answer is no outcome; a 101 or another answer below 500, a success.
      finish(lease, failed ? false : answered ? true : null, start);
    };
    // Until the backend's first byte, a failure is answered as a request's
    // would be (502, or 504 for the connect and header timeouts); after it,
    // the tunnel is the backend's and closing is the only signal.
    const refuseTunnel = (err: NodeJS.ErrnoException): void => {
      if (answered || failed || left) return;
      failed = true;
      const f = failureOf(err);
      log.error(
        { event: "upstream_error", backend: lease.backend, code: f.code, status: f.status, upgrade: true, url: req.url },
        err.message,
      );
      if (socket.writable) {
        socket.end(`HTTP/1.1 ${f.status} ${f.text.trim()}\r\nContent-Length: ${f.text.length}\r\nConnection: close\r\n\r\n${f.text}`, () =>
          socket.destroy(),
        );
      } else socket.destroy();
    };
    upstream.on("connect", () => {
      connected = true;
      clearTimeout(timer);
      timer = timeout("UND_ERR_HEADERS_TIMEOUT", headersMs);
      upstream.setNoDelay(true);
      let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
      const h = forwardHeaders(req, true, trust);
      for (let i = 0; i < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
      upstream.write(text + "\r\n");
      // Only a 101 makes a tunnel (as with nginx and HAProxy): until then the
      // client's bytes wait, and any other answer is passed on, then both
      // sides close (after finMs of silence), so nothing more the client
      // sends reaches the backend outside HTTP.
      let first: Buffer = Buffer.alloc(0);
      const onFirst = (chunk: Buffer): void => {
        first = first.length === 0 ? chunk : Buffer.concat([first, chunk]);
        let eol = first.indexOf("\r\n");
        // Informational answers before the final one (100 Continue, 103
        // Early Hints) are passed on whole as they come, as HAProxy does; the
        // next status line decides. (Before, a 1xx was taken for the answer:
        // the client got the 101 after it, but no tunnel.)
        while (eol >= 0 && /^HTTP\/1\.[01] 1(?!01)\d\d( |$)/.test(first.toString("latin1", 0, eol))) {
          const end = first.indexOf("\r\n\r\n");
          if (end < 0 && first.length < MAX_INFO_HEAD) return;
          if (end < 0) break; // a head without end: passed on as the answer, declined
          socket.write(first.subarray(0, end + 4));
          first = first.subarray(end + 4);
          eol = first.indexOf("\r\n");
        }
        if (eol < 0 && first.length < 1024) return;
        upstream.off("data", onFirst);
        answered = true;
        clearTimeout(timer);
        const line = first.toString("latin1", 0, eol < 0 ? 64 : eol);
        socket.write(first);
        if (/^HTTP\/1\.[01] 101( |$)/.test(line)) {
          if (head.length > 0) upstream.write(head);
          socket.pipe(upstream);
          upstream.pipe(socket);
          return;
        }
        failed = !/^HTTP\/1\.[01] [1-4]\d\d( |$)/.test(line);
        log.info(
          { event: "upgrade_declined", backend: lease.backend, status: line.slice(9, 12), url: req.url },
          "the backend answered without 101",
        );
        // The answer is piped (backpressure, and the client's end once the
        // backend's); after finMs of the backend's own silence (not silence
        // because the client reads slowly) the backend is let go, and the
        // client gets what is buffered, then the end. A client that takes
        // nothing for idleMs is closed.
        declined = true;
        socket.resume(); // what the client sends now goes nowhere, and its end is seen
        let quiet: NodeJS.Timeout | undefined;
        let mark = -1;
        const hush = (): void => {
          clearTimeout(quiet);
          const slowClient = (socket as Socket).writableNeedDrain;
          quiet = setTimeout(
            () => {
              if (!(socket as Socket).writableNeedDrain) upstream.destroy();
              else if ((socket as Socket).writableLength !== mark) {
                mark = (socket as Socket).writableLength;
                hush();
              } else {
                socket.destroy();
                upstream.destroy();
              }
            },
            slowClient ? idleMs : finMs,
          );
        };
        upstream.on("data", hush);
        upstream.pipe(socket);
        hush();
      };
      upstream.on("data", onFirst);
    });
    upstream.on("error", (err: NodeJS.ErrnoException) => refuseTunnel(err));
    upstream.on("close", () => {
      clearTimeout(timer);
      upstreamOpen = false;
      if (!answered && connected) refuseTunnel(Object.assign(new Error("closed before answering the upgrade"), { code: "UND_ERR_SOCKET" }));
      else if (declined) {
        // Flush the declined answer, then close; a client that reads none of it gets idleMs.
        socket.end();
        setTimeout(() => socket.destroy(), idleMs).unref();
      } else if (connected) socket.destroy();
      settle();
    });
    // node:http's sockets allow half-open connections, so an end from one
    // side (piped on as an end to the other) does not close the tunnel by
    // itself: once either side has ended, the tunnel gets finMs to finish
    // (HAProxy's `timeout client-fin` / `server-fin`), then both close.
    const fin = (): void => {
      setTimeout(() => {
        socket.destroy();
        upstream.destroy();
      }, finMs).unref();
    };
    socket.once("end", () => {
      left = !answered;
      fin();
    });
    upstream.once("end", () => {
      if (answered && !declined) fin();
    });
    socket.on("error", () => {
      left = true;
      upstream.destroy();
    });
    socket.on("close", () => {
      left = true;
      socketOpen = false;
      upstream.destroy();
      settle();
    });
  }

  function add(spec: string | ProxyBackend): void {
    const s = parseBackend(spec, "backend");
    if (byName.has(s.name)) throw new InvalidArgumentError("backend", `a backend named ${describe(s.name)} exists`);
    balancer.add(s.name, { weight: s.weight, maxConnections: s.maxConnections });
    byName.set(s.name, makeBackend(s));
  }

  async function remove(name: string): Promise<void> {
    const b = byName.get(name);
    if (b === undefined) return;
    balancer.remove(name);
    await balancer.drained(name);
    // A re-add under the same name while draining replaced the record.
    if (byName.get(name) === b) byName.delete(name);
    await b.pool.close();
  }

  return {
    handler,
    upgrade,
    balancer,
    add,
    remove,
    backends: () => balancer.snapshot().map((b) => ({ name: b.name, url: byName.get(b.name)!.origin, weight: b.weight })),
    get inFlight() {
      return inFlight;
    },
    async close() {
      closed = true;
      for (const s of tunnels) s.destroy();
      await Promise.all([...byName.values()].map((b) => b.pool.destroy()));
    },
  };
}

/** Whether a request has a body to forward. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return length !== undefined ? length !== "0" : req.headers["transfer-encoding"] !== undefined;
}

/** The tokens a Connection field names, lower-cased (null when there is none). */
function connectionTokens(raw: Buffer[] | string[]): Set<string> | null {
  let set: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toString();
    if (k.length !== 10 || k.toLowerCase() !== "connection") continue;
    for (const t of raw[i + 1]!.toString().split(",")) {
      const tok = t.trim().toLowerCase();
      if (tok !== "") (set ??= new Set()).add(tok);
    }
  }
  return set;
}

/**
 * The request's fields for the upstream: hop-by-hop ones dropped (kept for a
 * tunnel: Connection and Upgrade are its handshake), Expect dropped (this
 * server answered 100-continue itself), X-Forwarded-* appended, Host kept.
 */
function forwardHeaders(req: IncomingMessage, tunnel: boolean, trust: boolean): string[] {
  const raw = req.rawHeaders;
  const named = connectionTokens(raw);
  const out: string[] = [];
  let xff: string | undefined;
  let proto: string | undefined;
  let fhost: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!;
    const lower = key.toLowerCase();
    if (tunnel && (lower === "connection" || lower === "upgrade")) {
      out.push(key, raw[i + 1]!);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || lower === "expect") continue;
    if (named?.has(lower)) continue;
    if (lower === "x-forwarded-for") xff = xff === undefined ? raw[i + 1] : `${xff}, ${raw[i + 1]}`;
    else if (lower === "x-forwarded-proto") {
      if (trust) proto = proto === undefined ? raw[i + 1] : `${proto}, ${raw[i + 1]}`;
    } else if (lower === "x-forwarded-host") {
      if (trust) fhost = fhost === undefined ? raw[i + 1] : `${fhost}, ${raw[i + 1]}`;
    } else out.push(key, raw[i + 1]!);
  }
  const remote = req.socket.remoteAddress ?? "unknown";
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
  out.push("x-forwarded-for", xff === undefined ? remote : `${xff}, ${remote}`);
  out.push("x-forwarded-proto", proto === undefined ? scheme : `${proto}, ${scheme}`);
  const host = req.headers.host;
  if (host !== undefined) out.push("x-forwarded-host", fhost === undefined ? host : `${fhost}, ${host}`);
  else if (fhost !== undefined) out.push("x-forwarded-host", fhost);
  return out;
}

export interface ClientLimits {
  /** Largest request head in bytes (431 beyond). Default 16,384 (node's default; nginx's large_client_header_buffers is 4×8 KiB). */
  maxHeaderSize?: number;
  /** Time to receive a request's whole head (slowloris); 408 beyond. Default 10,000. */
  headersTimeoutMs?: number;
  /** Time to receive a whole request, body included; 408 beyond; 0 = none. Default 300,000. */
  requestTimeoutMs?: number;
  /** Idle keep-alive connections close after this. Default 5,000. */
  keepAliveTimeoutMs?: number;
  /** How often node checks the two timeouts above. Default 1,000. */
  checkIntervalMs?: number;
}

/**
 * A node:http server serving `proxy`, with node's own defences set: malformed
 * requests and conflicting Content-Length/Transfer-Encoding get 400 from the
 * parser (strict mode, never lenient), oversized heads 431, slow heads and
 * slow requests 408.
 */
export function createProxyServer(proxy: Pick<LeastconnProxy, "handler" | "upgrade">, limits: ClientLimits = {}): Server {
  const headersTimeout = checkCount(limits.headersTimeoutMs ?? 10_000, "headersTimeoutMs", 1, 3_600_000);
  const requestTimeout = checkCount(limits.requestTimeoutMs ?? 300_000, "requestTimeoutMs", 0, 86_400_000);
  // node:http would throw a bare RangeError for this.
  if (requestTimeout !== 0 && requestTimeout < headersTimeout) {
    throw new InvalidArgumentError("requestTimeoutMs", `must be 0 or at least headersTimeoutMs (${headersTimeout}), got ${requestTimeout}`);
  }
  const server = createServer(
    {
      maxHeaderSize: checkCount(limits.maxHeaderSize ?? 16_384, "maxHeaderSize", 1_024, 1 << 20),
      headersTimeout,
      requestTimeout,
      keepAliveTimeout: checkCount(limits.keepAliveTimeoutMs ?? 5_000, "keepAliveTimeoutMs", 1, 3_600_000),
      connectionsCheckingInterval: checkCount(limits.checkIntervalMs ?? 1_000, "checkIntervalMs", 1, 60_000),
      insecureHTTPParser: false,
      requireHostHeader: false,
    },
    proxy.handler,
  );
  // No field is dropped silently (node keeps the first 1,000 fields by default);
  // maxHeaderSize bounds the head.
  server.maxHeadersCount = 0;
  server.on("upgrade", proxy.upgrade);
  // CONNECT is for forward proxies: 405, where node would close with no answer.
  server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
    socket.on("error", () => {});
    socket.end(
      "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\nContent-Length: 19\r\nConnection: close\r\n\r\nMethod Not Allowed\n",
    );
  });
  return server;
}
