// WebSocket (Upgrade) tunnels: the handshake reaches the backend with its
// Connection/Upgrade fields and X-Forwarded-For, bytes flow both ways, and
// the tunnel counts as active on its backend until both sockets close,
// whichever side closes first. A refused backend answers 502.

import { createServer } from "node:http";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { counts, listen, startProxy, type TestProxy, until } from "./helpers.js";

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const x of open.reverse()) await x.close();
  open = [];
});

async function echoUpgradeBackend(): Promise<{ url: string; sockets: Socket[]; heads: string[]; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const heads: string[] = [];
  const server = createServer((_req, res) => res.end("plain"));
  server.on("upgrade", (req, socket: Socket, head: Buffer) => {
    heads.push(JSON.stringify(req.headers));
    sockets.push(socket);
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    if (head.length > 0) socket.write(head);
    socket.on("data", (d) => socket.write(d));
    socket.on("error", () => {});
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    sockets,
    heads,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function handshake(port: number): Promise<{ socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let got = "";
    const onData = (c: Buffer): void => {
      got += c.toString("latin1");
      const end = got.indexOf("\r\n\r\n");
      if (end >= 0) {
        socket.off("data", onData);
        resolve({ socket, head: got.slice(0, end) });
      }
    };
    socket.on("data", onData);
    socket.on("error", reject);
    socket.write(
      "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
  });
}

function echo(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once("data", (d) => resolve(d.toString()));
    socket.write(text);
  });
}

describe("websocket tunnels", () => {
  it("tunnels bytes both ways; each tunnel counts until it closes from either side", async () => {
    const a = await echoUpgradeBackend();
    const b = await echoUpgradeBackend();
    open.push(a, b);
    const p: TestProxy = await startProxy({ backends: [a.url, b.url] });
    open.push(p);
    const t1 = await handshake(p.port);
    expect(t1.head).toMatch(/^HTTP\/1\.1 101 /);
    expect(counts(p.proxy)).toEqual([1, 0]);
    const t2 = await handshake(p.port);
    expect(counts(p.proxy)).toEqual([1, 1]);
    expect(await echo(t1.socket, "hello")).toBe("hello");
    expect(await echo(t2.socket, "world")).toBe("world");
    const seen = JSON.parse(a.heads[0]!);
    expect([seen.upgrade, seen.connection, seen["x-forwarded-for"], seen.host]).toEqual(["websocket", "Upgrade", "127.0.0.1", "h"]);
    // A third tunnel goes to the least loaded after the client closes one.
    t1.socket.destroy();
    await until(() => counts(p.proxy)[0] === 0);
    expect(counts(p.proxy)).toEqual([0, 1]);
    // The backend closing ends the tunnel too.
    b.sockets[0]!.destroy();
    await until(() => counts(p.proxy)[1] === 0);
    await new Promise<void>((resolve) => (t2.socket.destroyed ? resolve() : t2.socket.on("close", () => resolve())));
    expect(counts(p.proxy)).toEqual([0, 0]);
    expect(p.proxy.inFlight).toBe(0);
  });

  it("a refused backend answers 502 on the socket; the count returns to 0", async () => {
    const s = createServer();
    const port = await listen(s);
    await new Promise((r) => s.close(r));
    const p = await startProxy({ backends: [`http://127.0.0.1:${port}`] });
    open.push(p);
    const t = await handshake(p.port);
    expect(t.head).toMatch(/^HTTP\/1\.1 502 /);
    await until(() => counts(p.proxy)[0] === 0 && p.proxy.inFlight === 0);
  });

  it("many tunnels opened and dropped at random leave every count at 0", async () => {
    const a = await echoUpgradeBackend();
    const b = await echoUpgradeBackend();
    open.push(a, b);
    const p = await startProxy({ backends: [a.url, b.url] });
    open.push(p);
    const all = await Promise.all(Array.from({ length: 50 }, () => handshake(p.port)));
    expect(counts(p.proxy).reduce((x, y) => x + y)).toBe(50);
    for (const [i, t] of all.entries()) {
      if (i % 3 === 0) t.socket.destroy();
      else if (i % 3 === 1) t.socket.end();
    }
    for (const s of [...a.sockets, ...b.sockets].filter((_, i) => i % 2 === 0)) s.destroy();
    for (const t of all) t.socket.destroy();
    await until(() => counts(p.proxy).every((c) => c === 0) && p.proxy.inFlight === 0);
  });
});
