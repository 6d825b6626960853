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

/**
 * Makes `b` answer every upgrade with a 101 (then an echo, when `echo`),
 * keeping the sockets so the test's cleanup closes them (node:http's close
 * does not see upgraded sockets). Returns how many upgrades it took.
 */
function acceptUpgrades(b: TestBackend, echo: boolean): () => number {
  const sockets: Socket[] = [];
  b.server.on("upgrade", (_req, s: Socket) => {
    sockets.push(s);
    s.on("error", () => {});
    s.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    if (echo) s.on("data", (c) => s.write(c));
  });
  open.push({
    close: async () => {
      for (const s of sockets) s.destroy();
    },
  });
  return () => sockets.length;
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

  it("a pipelined request with a body starts at once: node's requestTimeout does not cut the connection while it waits its turn", async () => {
    const b = await backend((req, res) => {
      if (req.url === "/slow") setTimeout(() => res.end("slow"), 600);
      else req.resume().on("end", () => res.end("posted"));
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] }, { headersTimeoutMs: 100, requestTimeoutMs: 300, checkIntervalMs: 50 });
    open.push(p);
    const c = client(p.port);
    const size = 1 << 20;
    c.socket.write(`GET /slow HTTP/1.1\r\nHost: h\r\n\r\nPOST /up HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
    c.socket.write(Buffer.alloc(size, 120));
    await until(() => /\r\n\r\nposted/.test(c.text()), 5_000);
    expect(c.text().match(/HTTP\/1\.1 \d+/g)).toEqual(["HTTP/1.1 200", "HTTP/1.1 200"]);
    expect(c.text().indexOf("slow")).toBeLessThan(c.text().indexOf("posted"));
    await until(() => p.proxy.inFlight === 0);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("a client that closes with a pipelined upload waiting for its turn leaves no count", async () => {
    const b = await backend((req, res) => {
      if (req.url === "/slow") setTimeout(() => res.end("slow"), 300);
      else req.resume(); // the upload is never answered: only the client's leaving can end it
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const c = client(p.port);
    c.socket.write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\nPOST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody");
    await until(() => b.hits === 2);
    c.socket.destroy();
    await until(() => p.proxy.inFlight === 0, 2_000);
    await new Promise((r) => setTimeout(r, 400));
    expect([p.proxy.inFlight, counts(p.proxy)]).toEqual([0, [0]]);
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

describe("proxy faults: HTTP semantics", () => {
  it("an upgrade the backend declines (h2c, answered 200) is passed on and closed; nothing more from the client reaches the backend", async () => {
    let seen = "";
    const b = await tcpBackend((s) => {
      s.on("data", (c) => {
        seen += c.toString("latin1");
        if (seen.includes("\r\n\r\n")) s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      });
    });
    const p = await startProxy({ backends: [b.url], timeouts: { finMs: 100 } });
    open.push(p);
    const c = client(p.port);
    c.socket.write(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    );
    await until(() => c.text().endsWith("ok"));
    c.socket.write("GET /second HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n");
    await until(() => c.closed(), 3_000);
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(seen).not.toContain("/second");
    await until(() => p.proxy.inFlight === 0);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("informational answers (100, 103) before a 101 are passed on, and the tunnel still opens", async () => {
    const b = await tcpBackend((s) => {
      let head = "";
      const onHead = (c: Buffer): void => {
        head += c.toString("latin1");
        if (!head.includes("\r\n\r\n")) return;
        s.off("data", onHead);
        // In pieces, the second 1xx split across writes.
        s.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early");
        setTimeout(() => {
          s.write(" Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
          s.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
          s.on("data", (c) => s.write(c)); // the tunnel: an echo
        }, 20);
      };
      s.on("data", onHead);
    });
    const p = await startProxy({ backends: [b.url], timeouts: { finMs: 100 } });
    open.push(p);
    const c = client(p.port);
    c.socket.write("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    await until(() => c.text().includes("101 Switching Protocols\r\n") && c.text().endsWith("\r\n\r\n"));
    expect(c.text()).toMatch(
      /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 103 Early Hints\r\nLink: <\/a\.css>; rel=preload\r\n\r\nHTTP\/1\.1 101 /,
    );
    c.socket.write("through the tunnel");
    await until(() => c.text().endsWith("through the tunnel"));
    expect(counts(p.proxy)).toEqual([1]);
    c.socket.end();
    await until(() => p.proxy.inFlight === 0, 3_000);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("an upgrade pipelined behind a slow request waits for its answer: the 101 comes after it on the wire", async () => {
    const b = await backend((req, res) => setTimeout(() => res.end(`answer to ${req.url}`), 400));
    open.push(b);
    const upgrades = acceptUpgrades(b, true);
    const p = await startProxy({ backends: [b.url], timeouts: { finMs: 100 } });
    open.push(p);
    const c = client(p.port);
    c.socket.write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    await new Promise((r) => setTimeout(r, 100));
    // Nothing picked for the upgrade while the answer before it is pending.
    expect([upgrades(), counts(p.proxy)]).toEqual([0, [1]]);
    await until(() => c.text().includes("101 Switching Protocols\r\n") && c.text().endsWith("\r\n\r\n"));
    const text = c.text();
    expect(text.indexOf("answer to /slow")).toBeGreaterThan(0);
    expect(text.indexOf("answer to /slow")).toBeLessThan(text.indexOf("HTTP/1.1 101 "));
    c.socket.write("through the tunnel");
    await until(() => c.text().endsWith("through the tunnel"));
    c.socket.end();
    await until(() => p.proxy.inFlight === 0, 3_000);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("an upgrade pipelined behind a large answer gets it whole, then its 101 (the socket's drain is passed on while it waits)", async () => {
    const size = 4 << 20;
    const b = await backend((_req, res) => {
      res.setHeader("content-length", size);
      res.end(Buffer.alloc(size, 97));
    });
    open.push(b);
    acceptUpgrades(b, true);
    const p = await startProxy({ backends: [b.url], timeouts: { idleMs: 5_000, finMs: 100 } });
    open.push(p);
    const c = connect(p.port, "127.0.0.1");
    open.push({ close: async () => void c.destroy() });
    c.on("error", () => {});
    let got = Buffer.alloc(0);
    c.pause(); // reads only later, as a slow client would: the answer fills the buffers first
    c.write("GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    await new Promise((r) => setTimeout(r, 300));
    c.on("data", (d: Buffer) => {
      got = Buffer.concat([got, d]);
    });
    c.resume();
    await until(() => got.includes("HTTP/1.1 101 "), 5_000);
    const at = got.indexOf("HTTP/1.1 101 ");
    expect(at).toBeGreaterThan(size);
    c.write("echo me");
    await until(() => got.subarray(at).includes("echo me"));
    c.end();
    await until(() => p.proxy.inFlight === 0, 3_000);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("a proxy closed while a pipelined upgrade waits opens no tunnel for it", async () => {
    const b = await backend((_req, res) => setTimeout(() => res.end("late"), 300));
    open.push(b);
    let upgrades = 0;
    b.server.on("upgrade", (_req, s: Socket) => {
      upgrades++;
      s.destroy();
    });
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const c = client(p.port);
    c.socket.write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    await new Promise((r) => setTimeout(r, 100));
    await p.proxy.close();
    await new Promise((r) => setTimeout(r, 500));
    expect([upgrades, p.proxy.inFlight, counts(p.proxy)]).toEqual([0, 0, [0]]);
  });

  it("an upgrade pipelined behind a request whose client leaves first leaves no count", async () => {
    const b = await backend((_req, res) => setTimeout(() => res.end("late"), 300));
    open.push(b);
    acceptUpgrades(b, false);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    const c = client(p.port);
    c.socket.write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    await new Promise((r) => setTimeout(r, 50));
    // The paused socket learns the client left only by writing (the late
    // answer, then maybe a 101), so the upgrade may still be tried: what is
    // checked is that nothing is kept.
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 400));
    await until(() => p.proxy.inFlight === 0, 3_000);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("a declined upgrade's whole answer reaches a slow client before the connection closes", async () => {
    const size = 4 << 20;
    const b = await tcpBackend((s) => {
      s.once("data", () => {
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
        s.end(Buffer.alloc(size, 120));
      });
    });
    const p = await startProxy({ backends: [b.url], timeouts: { finMs: 100 } });
    open.push(p);
    const c = connect(p.port, "127.0.0.1");
    open.push({ close: async () => void c.destroy() });
    c.on("error", () => {});
    c.pause();
    c.write("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
    let got = 0;
    const reader = setInterval(() => {
      for (let n = 0, chunk: Buffer | null; n < 256 << 10 && (chunk = c.read()) !== null; n += chunk.length) got += chunk.length;
    }, 100);
    await new Promise<void>((resolve) => c.on("close", () => resolve()));
    clearInterval(reader);
    expect(got).toBeGreaterThan(size);
    await until(() => p.proxy.inFlight === 0);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("an upgrade with a body, or with a target that is not a path, or a request with two Host fields gets 400 before any pick", async () => {
    const b = await backend((_req, res) => res.end("ok"));
    open.push(b);
    const seen: boolean[] = [];
    const p = await startProxy({ backends: [b.url], observe: (_n, ok) => seen.push(ok) });
    open.push(p);
    const requests = [
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello",
      "GET http://evil/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ];
    for (const text of requests) {
      const c = client(p.port);
      c.socket.write(text);
      await until(() => c.closed() || /\r\n\r\nBad Request\n/.test(c.text()), 3_000);
      expect(c.text(), text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    }
    expect([b.hits, seen, counts(p.proxy)]).toEqual([0, [], [0]]);
  });

  it("a Trailer field on a response that is not sent chunked is dropped, not a dead connection", async () => {
    const b = await tcpBackend((s) => {
      s.on("data", () => s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTrailer: x-checksum\r\n\r\nok"));
    });
    const seen: boolean[] = [];
    const p = await startProxy({ backends: [b.url], observe: (_n, ok) => seen.push(ok) });
    open.push(p);
    for (const version of ["1.1", "1.0"]) {
      const c = client(p.port);
      c.socket.write(`GET / HTTP/${version}\r\nHost: h\r\nConnection: close\r\n\r\n`);
      await until(() => c.closed(), 3_000);
      expect(c.text(), version).toMatch(/^HTTP\/1\.[01] 200 OK\r\n[\s\S]*\r\n\r\nok$/);
      expect(c.text().toLowerCase()).not.toContain("trailer:");
    }
    expect([seen, counts(p.proxy)]).toEqual([[true, true], [0]]);
  });

  it("a 304 with a Content-Length (RFC 9110 allows it) reaches the client as a 304, and the connection stays usable", async () => {
    const b = await tcpBackend((s) => {
      s.on("data", () => s.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 12\r\n\r\n'));
    });
    const seen: boolean[] = [];
    const p = await startProxy({ backends: [b.url], observe: (_n, ok) => seen.push(ok) });
    open.push(p);
    const c = client(p.port);
    c.socket.write('GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: "x"\r\n\r\n');
    await until(() => /\r\n\r\n$/.test(c.text()));
    c.socket.write('GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: "x"\r\n\r\n');
    await until(() => (c.text().match(/304 Not Modified/g) ?? []).length === 2);
    expect(c.closed()).toBe(false);
    await until(() => p.proxy.inFlight === 0);
    expect([seen, counts(p.proxy)]).toEqual([[true, true], [0]]);
  });

  it("a client that reads slowly but steadily is not cut by idleMs", async () => {
    const size = 2 << 20;
    const b = await backend((_req, res) => {
      res.writeHead(200, { "content-length": size });
      res.end(Buffer.alloc(size, 120));
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url], timeouts: { idleMs: 2_000 } });
    open.push(p);
    const c = connect(p.port, "127.0.0.1");
    open.push({ close: async () => void c.destroy() });
    let got = 0;
    c.pause();
    c.write("GET /big HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    // 64 KiB every 100 ms: 640 KiB/s, far slower than the backend.
    const reader = setInterval(() => {
      for (let n = 0, chunk: Buffer | null; n < 64 << 10 && (chunk = c.read()) !== null; n += chunk.length) got += chunk.length;
    }, 100);
    const closed = new Promise<void>((resolve) => c.on("close", () => resolve()));
    c.on("error", () => {});
    await closed;
    clearInterval(reader);
    expect(got).toBeGreaterThan(size);
    await until(() => p.proxy.inFlight === 0);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("a client that stops reading is closed after idleMs, and the lease ends", async () => {
    const b = await backend((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 << 10, 120);
      let n = 0;
      const more = (): void => {
        while (n < 256 && res.write(chunk)) n++;
        if (n < 256) res.once("drain", more);
        else res.end();
      };
      more();
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url], timeouts: { idleMs: 300 } });
    open.push(p);
    const c = client(p.port);
    c.socket.pause(); // reads nothing: 16 MiB cannot all fit in the socket buffers
    c.socket.write("GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
    await until(() => p.proxy.inFlight === 1);
    await until(() => p.proxy.inFlight === 0, 5_000);
    c.socket.resume(); // what it finds: part of the body, then the end
    await until(() => c.closed());
    expect(c.text().length).toBeLessThan(16 << 20);
    expect(counts(p.proxy)).toEqual([0]);
  });

  it("transfer codings other than chunked: 501 for a request, 502 for a response; CONNECT gets 405; 1,200 fields (node keeps 1,000 by default) all reach the backend", async () => {
    let fields = 0;
    const b = await tcpBackend((s) => {
      let got = "";
      s.on("data", (c) => {
        got += c.toString("latin1");
        if (!got.includes("\r\n\r\n")) return;
        fields = got
          .split("\r\n\r\n")[0]!
          .split("\r\n")
          .filter((l) => l.startsWith("x-n")).length;
        if (got.startsWith("GET /gzip")) s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n");
        else s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        got = "";
      });
    });
    const seen: boolean[] = [];
    const p = await startProxy({ backends: [b.url], observe: (_n, ok) => seen.push(ok) });
    open.push(p);
    const ask = async (text: string): Promise<string> => {
      const c = client(p.port);
      c.socket.write(text);
      await until(() => c.closed(), 3_000);
      return c.text();
    };
    expect(
      await ask("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n2\r\nzz\r\n0\r\n\r\n"),
    ).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n/);
    expect(seen).toEqual([]);
    expect(await ask("GET /gzip HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(await ask("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")).toMatch(
      /^HTTP\/1\.1 405 Method Not Allowed\r\n/,
    );
    let head = "GET /many HTTP/1.1\r\nHost: h\r\nConnection: close\r\n";
    for (let i = 0; i < 1_200; i++) head += `x-n${i}: 1\r\n`;
    expect(await ask(`${head}\r\n`)).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(fields).toBe(1_200);
    expect([seen, counts(p.proxy)]).toEqual([[false, true], [0]]);
  });
});

describe("proxy faults: outcomes", () => {
  it("a client that gives up is no outcome: a backend's run of failures goes on", async () => {
    const b = await backend((req, res) => {
      if (req.url === "/fail") {
        res.statusCode = 503;
        res.end();
      } // anything else: never answered
    });
    open.push(b);
    const p = await startProxy({ backends: [b.url] });
    open.push(p);
    expect((await get(p.port, "/fail")).status).toBe(503);
    expect(p.proxy.balancer.snapshot()[0]!.failures).toBe(1);
    const c = client(p.port);
    c.socket.write("GET /hang HTTP/1.1\r\nHost: h\r\n\r\n");
    await until(() => b.hits === 2);
    c.socket.destroy();
    await until(() => p.proxy.inFlight === 0);
    expect(p.proxy.balancer.snapshot()[0]).toMatchObject({ active: 0, failures: 1 });
  });
});
