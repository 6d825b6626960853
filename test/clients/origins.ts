// Local origins for the client tests: plain node:http servers on 127.0.0.1
// (ports from the OS) whose behaviour is chosen per request by the query:
//   delay=MS       answer after MS milliseconds
//   status=N       answer with status N
//   reset=1        destroy the socket before any response byte
//   chunks=N&gap=MS  a body of N chunks, MS apart
//   hold=1         answer only when the test calls release()
// Each origin also has a fixed extra delay (a slow origin), counts what it
// saw, and allows CORS so a browser page on another origin may call it.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface Origin {
  url: string;
  /** Requests seen (including resets). */
  seen: number;
  resets: number;
  inFlight: number;
  maxInFlight: number;
  /** Extra milliseconds before every answer. */
  slowMs: number;
  /** Probability (0..1) that a request is reset before any byte, whatever its query. */
  resetRate: number;
  /** Status answered on /health. */
  healthStatus: number;
  /** Ends every held request (hold=1), oldest first, up to `count`. */
  release(count?: number): number;
  held(): number;
  close(): Promise<void>;
}

export async function startOrigin(name: string): Promise<Origin> {
  const holds: Array<() => void> = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (fn: () => void, ms: number): void => {
    if (ms <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const origin: Origin = {
    url: "",
    seen: 0,
    resets: 0,
    inFlight: 0,
    maxInFlight: 0,
    slowMs: 0,
    resetRate: 0,
    healthStatus: 200,
    release(count = Number.POSITIVE_INFINITY) {
      let n = 0;
      while (holds.length > 0 && n < count) {
        holds.shift()!();
        n++;
      }
      return n;
    },
    held: () => holds.length,
    close: () =>
      new Promise<void>((ok) => {
        for (const t of timers) clearTimeout(t);
        for (const h of holds.splice(0)) h();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://x");
    const q = url.searchParams;
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Expose-Headers", "x-origin");
    res.setHeader("x-origin", name);
    if (req.method === "OPTIONS") {
      res.setHeader("Access-Control-Allow-Headers", "*");
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === "/health") {
      res.writeHead(origin.healthStatus).end();
      return;
    }
    origin.seen++;
    if (q.get("reset") === "1" || (origin.resetRate > 0 && Math.random() < origin.resetRate)) {
      origin.resets++;
      req.socket.destroy();
      return;
    }
    origin.inFlight++;
    origin.maxInFlight = Math.max(origin.maxInFlight, origin.inFlight);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      origin.inFlight--;
    };
    res.on("close", finish);
    const answer = (): void => {
      if (res.destroyed) {
        finish();
        return;
      }
      const chunks = Number(q.get("chunks") ?? 0);
      const gap = Number(q.get("gap") ?? 0);
      res.writeHead(Number(q.get("status") ?? 200), { "content-type": "text/plain" });
      if (chunks === 0) {
        res.end(`${name}${url.pathname}${url.search}`);
        return;
      }
      let sent = 0;
      const next = (): void => {
        if (res.destroyed) return;
        res.write(`${name}:${sent}\n`);
        if (++sent === chunks) res.end();
        else later(next, gap);
      };
      next();
    };
    const wait = origin.slowMs + Number(q.get("delay") ?? 0);
    if (q.get("hold") === "1") holds.push(() => later(answer, wait));
    else later(answer, wait);
  };
  const server: Server = createServer((req, res) => {
    // Read (and drop) any request body before answering.
    req.resume();
    handle(req, res);
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("origin has no port");
  origin.url = `http://127.0.0.1:${address.port}`;
  return origin;
}

export async function startOrigins(n: number): Promise<Origin[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => startOrigin(`o${i}`)));
}

/** Resolves once `check()` is true; rejects after `ms`. */
export async function until(check: () => boolean, ms = 5_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 2));
  }
}

/** Counts the /health probes `o` answers (the server reads healthStatus once per probe). */
export function countProbes(o: Origin): { n: number } {
  const count = { n: 0 };
  let status = o.healthStatus;
  Object.defineProperty(o, "healthStatus", {
    get: () => {
      count.n++;
      return status;
    },
    set: (v: number) => {
      status = v;
    },
  });
  return count;
}
