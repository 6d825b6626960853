// The admin side of the proxy: Prometheus metrics (prom-client, names
// starting `leastconn_`), the /backends JSON snapshot and the POST endpoints
// that drain, down and up a backend. The metrics' per-request figures come
// from createProxy's `observe` hook; gauges are read from the Balancer when
// scraped, so the hot path only increments two counters and a histogram.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { LeastconnProxy } from "./proxy.js";

export interface Metrics {
  registry: Registry;
  observe(backend: string, ok: boolean, seconds: number): void;
  /** Counts a backend taken out by health checks or the core's ejection. */
  ejected(backend: string): void;
  /** Binds the gauges to a proxy (after createProxy, which takes `observe`). */
  bind(proxy: LeastconnProxy, extra: (name: string) => Record<string, unknown>): void;
}

const STATES = ["up", "down", "draining", "ejected"] as const;

export function createMetrics(): Metrics {
  const registry = new Registry();
  let proxy: LeastconnProxy | null = null;
  const requests = new Counter({
    name: "leastconn_backend_requests_total",
    help: "Attempts sent to a backend",
    labelNames: ["backend"],
    registers: [registry],
  });
  const failures = new Counter({
    name: "leastconn_backend_failures_total",
    help: "Attempts that failed: connect error, reset, timeout or a 5xx",
    labelNames: ["backend"],
    registers: [registry],
  });
  const ejections = new Counter({
    name: "leastconn_backend_ejections_total",
    help: "Times a backend was taken out of rotation: ejected by the core after consecutive failures, or failed its health checks",
    labelNames: ["backend"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "leastconn_backend_latency_seconds",
    help: "Time from the pick to the end of the response, per attempt",
    labelNames: ["backend"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: "leastconn_backend_active",
    help: "Requests and tunnels counted on a backend now",
    labelNames: ["backend"],
    registers: [registry],
    collect() {
      this.reset();
      if (proxy !== null) proxy.balancer.forEachActive((name, active) => this.set({ backend: name }, active));
    },
  });
  new Gauge({
    name: "leastconn_backend_state",
    help: "1 for the backend's current state, 0 for the others",
    labelNames: ["backend", "state"],
    registers: [registry],
    collect() {
      this.reset();
      if (proxy === null) return;
      for (const b of proxy.balancer.snapshot()) for (const s of STATES) this.set({ backend: b.name, state: s }, b.state === s ? 1 : 0);
    },
  });
  new Gauge({
    name: "leastconn_proxy_in_flight",
    help: "Client requests and tunnels open now",
    registers: [registry],
    collect() {
      this.set(proxy?.inFlight ?? 0);
    },
  });
  return {
    registry,
    observe(backend, ok, seconds) {
      requests.inc({ backend });
      if (!ok) failures.inc({ backend });
      latency.observe({ backend }, seconds);
    },
    ejected(backend) {
      ejections.inc({ backend });
    },
    bind(p) {
      proxy = p;
    },
  };
}

export interface AdminActions {
  drain(name: string): void;
  down(name: string): void;
  up(name: string): void;
  /** Extra per-backend fields for /backends (url, health). */
  describe(name: string): Record<string, unknown>;
  /** A backend an operator's drain took out of the table, which `up` brings back. */
  restorable?(name: string): boolean;
}

const MAX_BODY = 64 * 1024;

function reply(res: ServerResponse, status: number, body: string, type = "application/json"): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The admin listener's server: GET /metrics, GET /backends, POST /backends/NAME/drain|down|up. */
export function createAdminServer(proxy: LeastconnProxy, metrics: Metrics, actions: AdminActions): Server {
  return createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req: IncomingMessage, res: ServerResponse) => {
    // No endpoint takes a body: a small one is read and dropped before the
    // answer, so a client still sending it is not cut off; past 64 KiB the
    // answer is 413 and the connection closes.
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY || res.headersSent) return;
      res.setHeader("connection", "close");
      reply(res, 413, JSON.stringify({ error: "the admin endpoints take no body" }) + "\n");
    });
    req.on("end", () => {
      if (res.headersSent) return;
      try {
        route(req, res);
      } catch (err) {
        // A bug here must cost one 500, never the proxy the admin port serves.
        if (res.headersSent) res.destroy();
        else reply(res, 500, JSON.stringify({ error: (err as Error).message }) + "\n");
      }
    });
  });

  function route(req: IncomingMessage, res: ServerResponse): void {
    // Only origin-form targets ("/path"): an absolute or malformed one is no endpoint.
    let url: URL | null = null;
    try {
      if (req.url?.charCodeAt(0) === 47) url = new URL(req.url, "http://admin");
    } catch {}
    if (url === null) {
      reply(res, 400, JSON.stringify({ error: "the request target must be a path" }) + "\n");
      return;
    }
    const get = req.method === "GET" || req.method === "HEAD";
    if (get && url.pathname === "/metrics") {
      metrics.registry.metrics().then(
        (text) => reply(res, 200, text, metrics.registry.contentType),
        (err: Error) => reply(res, 500, JSON.stringify({ error: err.message })),
      );
      return;
    }
    if (get && url.pathname === "/backends") {
      const list = proxy.balancer.snapshot().map((b) => ({ ...b, ...actions.describe(b.name) }));
      reply(res, 200, JSON.stringify(list) + "\n");
      return;
    }
    const m = /^\/backends\/([^/]+)\/(drain|down|up)$/.exec(url.pathname);
    if (m !== null) {
      if (req.method !== "POST") {
        res.setHeader("allow", "POST");
        reply(res, 405, JSON.stringify({ error: "use POST" }) + "\n");
        return;
      }
      let name: string;
      try {
        name = decodeURIComponent(m[1]!);
      } catch {
        reply(res, 400, JSON.stringify({ error: "bad backend name encoding" }) + "\n");
        return;
      }
      if (!proxy.balancer.has(name) && !(m[2] === "up" && actions.restorable?.(name) === true)) {
        reply(res, 404, JSON.stringify({ error: `no backend named ${JSON.stringify(name)}` }) + "\n");
        return;
      }
      try {
        actions[m[2] as "drain" | "down" | "up"](name);
      } catch (err) {
        reply(res, 409, JSON.stringify({ error: (err as Error).message }) + "\n");
        return;
      }
      // A drained idle backend has left the table at once.
      const body = proxy.balancer.has(name) ? proxy.balancer.get(name) : { name, state: "removed" };
      reply(res, 200, JSON.stringify(body) + "\n");
      return;
    }
    reply(res, 404, JSON.stringify({ error: "not found: GET /metrics, GET /backends, POST /backends/NAME/drain|down|up" }) + "\n");
  }
}
