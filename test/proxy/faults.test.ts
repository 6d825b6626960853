// Faults a hunt found at the edges of the proxy's request lifetime, each
// with the exact answer a client gets and every count back at 0 after:
// pipelined requests on a connection the client closes, retries that must
// not go back to a backend already tried (nor queue behind their own failed
// lease), WebSocket upgrades a backend never answers or drops, and an early
// answer to an upload the backend did not read.

import { createServer as createHttpServer } from "node:http";
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { backend, counts, get, listen, startProxy, type TestBackend, type TestProxy, until } from "./helpers.js";

let open: Array<TestBackend | TestProxy | { close(): Promise<void> }> = [];
afterEach(async () => {
  for (const x of open.reverse()) await x.close();
  open = [];
});

async function deadUrl(): Promise<string> {
  const s = createHttpServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

/** A TCP backend that runs `onSocket` on each connection (no HTTP). */
async function tcpBackend(onSocket: (s: Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const b = {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  open.push(b);
  return b;
}

/** A raw client connection: what has arrived so far, and whether it closed. */
function client(port: number): { socket: Socket; text: () => string; closed: () => boolean } {
  const socket = connect(port, "127.0.0.1");
  let got = "";
  let isClosed = false;
  socket.on("data", (c) => {
    got += c.toString("latin1");
  });
  socket.on("close", () => {
    isClosed = true;
  });
  socket.on("error", () => {});
  open.push({ close: async () => void socket.destroy() });
  return { socket, text: () => got, closed: () => isClosed };
}

const UPGRADE = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";

describe("proxy faults", () => {
  it("pipelined requests are served one at a time, in order, on their connection", async () => {
    let now = 0;
    let most = 0;
    const b = await backend((req, res) => {
      most = Math.max(most, ++now);
      setTimeout(() => {
        now--;
        res.end(req.url);
      }, 30);
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const c = client(p.port);
    c.socket.write("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    await until(() => (c.text().match(/HTTP\/1\.1 200/g) ?? []).length === 3);
    expect(c.text().match(/\r\n\r\n\/[abc]/g)).toEqual(["\r\n\r\n/a", "\r\n\r\n/b", "\r\n\r\n/c"]);
    expect(most).toBe(1);
    await until(() => p.proxy.inFlight === 0);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("a client that closes with a slow and an endless request pipelined leaves no count and no upstream stream", async () => {
    const streams = new Set<string>();
    const b = await backend((req, res) => {
      if (req.url === "/slow") {
        setTimeout(() => res.end("slow"), 300);
        return;
      }
      streams.add("open");
      res.writeHead(200);
      const t = setInterval(() => res.write("x"), 10);
      res.on("close", () => {
        clearInterval(t);
        streams.delete("open");
      });
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const c = client(p.port);
    c.socket.write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
    await new Promise((r) => setTimeout(r, 100));
    c.socket.destroy();
    await until(() => p.proxy.inFlight === 0 && counts(p.proxy)[0] === 0, 2_000);
    await new Promise((r) => setTimeout(r, 400)); // past /slow's answer: nothing starts after the client left
    expect([p.proxy.inFlight, counts(p.proxy), streams.size]).toEqual([0, [0], 0]);
  });

  it("a retry goes to a backend not tried yet, even when the tried one looks less busy", async () => {
    const held: Array<() => void> = [];
    const live = await backend((req, res) => {
      if (req.url === "/hold") held.push(() => res.end("held"));
      else res.end("ok");
    });
    open.push(live);
    const p = await startProxy({ backends: [await deadUrl(), live.url] });
    open.push(p);
    // Three requests busy on the live backend: least-connections' first pick
    // is the dead one (0 < 3), and after it fails it still looks idler (1 < 3).
    const busy = [get(p.port, "/hold"), get(p.port, "/hold"), get(p.port, "/hold")];
    await until(() => held.length === 3);
    const r = await get(p.port, "/x");
    expect([r.status, r.body.toString()]).toEqual([200, "ok"]);
    for (const f of held) f();
    expect((await Promise.all(busy)).map((x) => x.status)).toEqual([200, 200, 200]);
    expect(counts(p.proxy)).toEqual([0, 0]);
  });

  it("with maxConnections, a failed attempt with no other backend answers 502 at once instead of queueing behind itself", async () => {
    const p = await startProxy({
      backends: [{ url: await deadUrl(), maxConnections: 1 }],
      queue: { limit: 10, timeoutMs: 3_000 },
    });
    open.push(p);
    const t0 = performance.now();
    const r = await get(p.port);
    expect([r.status, r.body.toString()]).toEqual([502, "Bad Gateway\n"]);
    expect(performance.now() - t0).toBeLessThan(2_500); // the queue's timeout (3 s) would give 503
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("a WebSocket upgrade the backend never answers gets 504 after headersMs, and its count ends", async () => {
    const b = await tcpBackend(() => {});
    const p = await startProxy({ backends: [b.url], timeouts: { headersMs: 200 } });
    open.push(p);
    const c = client(p.port);
    c.socket.write(UPGRADE);
    await until(() => c.closed(), 3_000);
    expect(c.text()).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    await until(() => p.proxy.inFlight === 0);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("a WebSocket upgrade the backend closes or resets before answering gets 502, reported as a failure", async () => {
    for (const drop of [(s: Socket) => s.destroy(), (s: Socket) => s.resetAndDestroy(), (s: Socket) => s.end()]) {
      const b = await tcpBackend((s) => s.once("data", () => drop(s)));
      const seen: boolean[] = [];
      const p = await startProxy({ backends: [b.url], observe: (_name, ok) => seen.push(ok) });
      open.push(p);
      const c = client(p.port);
      c.socket.write(UPGRADE);
      await until(() => c.closed(), 3_000);
      expect(c.text()).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
      await until(() => p.proxy.inFlight === 0);
      expect([counts(p.proxy), seen]).toEqual([[0], [false]]);
    }
  });

  it("a client that leaves a tunnel before the backend answers does not count against the backend", async () => {
    const b = await tcpBackend(() => {});
    const seen: boolean[] = [];
    const p = await startProxy({ backends: [b.url], observe: (_name, ok) => seen.push(ok) });
    open.push(p);
    const c = client(p.port);
    c.socket.write(UPGRADE);
    await new Promise((r) => setTimeout(r, 100));
    c.socket.destroy();
    await until(() => p.proxy.inFlight === 0);
    expect([counts(p.proxy), seen]).toEqual([[0], [true]]);
  });

  it("an early answer to an upload the backend did not read closes the connection instead of stalling the next request", async () => {
    const b = await backend((_req, res) => {
      res.writeHead(413, { "content-length": 2 });
      res.end("no");
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const size = 4 << 20;
    const c = client(p.port);
    c.socket.write(`POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
    c.socket.write(Buffer.alloc(size, 97), () => {});
    await until(() => /\r\n\r\nno/.test(c.text()), 5_000);
    expect(c.text()).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(c.text().toLowerCase()).toContain("\r\nconnection: close\r\n");
    await until(() => c.closed(), 5_000);
    await until(() => p.proxy.inFlight === 0);
    expect(counts(p.proxy)).toEqual([0]);
    // The connection after it works as usual.
    const next = await get(p.port, "/");
    expect(next.status).toBe(413);
  });
});
