// acquireAsync() and its FIFO queue: hand-off on release (no overtaking, no
// stampede), fairness over 10,000 waiters, the coded rejections (full,
// timeout, unavailable, aborted), and storms of give-ups that must leave no
// count, no waiter and no timer behind (fake timers count them).

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Balancer, type Lease, QueueFullError, type QueueTimeoutError, UnavailableError } from "../../bindings/index.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function full(options: ConstructorParameters<typeof Balancer>[0] = {}): { bal: Balancer; held: Lease[] } {
  let now = 0;
  const bal = new Balancer({
    backends: [
      { name: "a", maxConnections: 1 },
      { name: "b", maxConnections: 2 },
    ],
    clock: () => now++,
    ...options,
  });
  const held = [bal.acquire()!, bal.acquire()!, bal.acquire()!];
  expect(bal.acquire()).toBeNull();
  return { bal, held };
}

const totalActive = (bal: Balancer): number => bal.snapshot().reduce((sum, s) => sum + s.active, 0);

describe("acquireAsync", () => {
  it("resolves at once when a backend is free", async () => {
    const bal = new Balancer({ backends: ["a"] });
    const lease = await bal.acquireAsync();
    expect(lease.backend).toBe("a");
    expect(bal.get("a").active).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a release hands its slot straight to the head of the queue, counted before anyone else can run", async () => {
    const { bal, held } = full();
    const order: string[] = [];
    const p1 = bal.acquireAsync().then((l) => order.push(`1:${l.backend}`));
    const p2 = bal.acquireAsync().then((l) => order.push(`2:${l.backend}`));
    expect(bal.snapshot().queue.length).toBe(2);
    held[0]!.release();
    // Counted synchronously: a synchronous acquire() right after cannot overtake.
    expect(bal.get(held[0]!.backend).active).toBe(held[0]!.backend === "a" ? 1 : 2);
    expect(bal.acquire()).toBeNull();
    expect(bal.snapshot().queue.length).toBe(1);
    held[1]!.release();
    await Promise.all([p1, p2]);
    expect(order).toEqual([`1:${held[0]!.backend}`, `2:${held[1]!.backend}`]);
    expect(bal.snapshot().queue).toEqual({ length: 0, oldestWaitMs: null });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("10,000 waiters are served in arrival order", async () => {
    let now = 0;
    const bal = new Balancer({
      backends: [
        { name: "a", maxConnections: 3 },
        { name: "b", maxConnections: 2 },
      ],
      clock: () => now,
      queue: { limit: 10_000 },
    });
    let held: Lease[] = [bal.acquire()!, bal.acquire()!, bal.acquire()!, bal.acquire()!, bal.acquire()!];
    const served: number[] = [];
    const granted: Lease[] = [];
    const all = Array.from({ length: 10_000 }, (_, k) =>
      bal.acquireAsync().then((l) => {
        served.push(k);
        granted.push(l);
      }),
    );
    expect(bal.snapshot().queue.length).toBe(10_000);
    now = 40;
    expect(bal.snapshot().queue.oldestWaitMs).toBe(40);
    while (served.length < 10_000) {
      const releasing = held;
      held = [];
      for (const l of releasing) l.release();
      await Promise.resolve();
      await Promise.resolve();
      held = granted.splice(0);
      if (held.length === 0 && releasing.length === 0) break;
    }
    await Promise.all(all);
    expect(served).toEqual(Array.from({ length: 10_000 }, (_, k) => k));
    for (const l of held) l.release();
    expect(totalActive(bal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("queue full rejects with QueueFullError (LC_ERR_QUEUE_FULL); limit 0 never waits", async () => {
    const { bal } = full({ queue: { limit: 2 } });
    const waiting = [bal.acquireAsync(), bal.acquireAsync()];
    await expect(bal.acquireAsync()).rejects.toMatchObject({ code: "LC_ERR_QUEUE_FULL", limit: 2 });
    await expect(bal.acquireAsync()).rejects.toBeInstanceOf(QueueFullError);
    const none = full({ queue: { limit: 0 } }).bal;
    await expect(none.acquireAsync()).rejects.toBeInstanceOf(QueueFullError);
    vi.advanceTimersByTime(5000);
    await Promise.allSettled(waiting);
  });

  it("a wait over timeoutMs rejects with QueueTimeoutError (LC_ERR_QUEUE_TIMEOUT): per call, else queue.timeoutMs (default 5,000)", async () => {
    const { bal } = full({ queue: { timeoutMs: 300 } });
    const settled: string[] = [];
    const track = (p: Promise<Lease>, tag: string) =>
      p.then(
        () => settled.push(`${tag} ok`),
        (e: QueueTimeoutError) => settled.push(`${tag} ${e.code} ${e.timeoutMs}`),
      );
    const a = track(bal.acquireAsync({ timeoutMs: 100 }), "a");
    const b = track(bal.acquireAsync(), "b");
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toEqual(["a LC_ERR_QUEUE_TIMEOUT 100"]);
    await vi.advanceTimersByTimeAsync(200);
    await Promise.all([a, b]);
    expect(settled).toEqual(["a LC_ERR_QUEUE_TIMEOUT 100", "b LC_ERR_QUEUE_TIMEOUT 300"]);
    expect(bal.snapshot().queue.length).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    const plain = full().bal;
    const c = plain.acquireAsync().catch((e: QueueTimeoutError) => e.timeoutMs);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await c).toBe(5000);
  });

  it("nothing up with weight > 0 rejects at once with UnavailableError (LC_ERR_UNAVAILABLE)", async () => {
    await expect(new Balancer().acquireAsync()).rejects.toBeInstanceOf(UnavailableError);
    const bal = new Balancer({ backends: ["a", { name: "b", weight: 0 }] });
    bal.markDown("a");
    await expect(bal.acquireAsync()).rejects.toMatchObject({ code: "LC_ERR_UNAVAILABLE" });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an aborted signal rejects with its reason, before or while waiting, and leaves nothing", async () => {
    const { bal, held } = full();
    const early = new AbortController();
    early.abort(new Error("gone before"));
    await expect(bal.acquireAsync({ signal: early.signal })).rejects.toThrow("gone before");
    const late = new AbortController();
    const p = bal.acquireAsync({ signal: late.signal });
    const next = bal.acquireAsync();
    expect(bal.snapshot().queue.length).toBe(2);
    late.abort("stop");
    await expect(p).rejects.toBe("stop");
    expect(bal.snapshot().queue.length).toBe(1);
    held[0]!.release(); // goes to `next`, the aborted one is skipped
    const lease = await next;
    expect(lease.backend).toBe(held[0]!.backend);
    lease.release();
    for (const l of held.slice(1)) l.release();
    expect(totalActive(bal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("abort and timeout storms leave every count at 0, no waiter and no timer", async () => {
    const { bal, held } = full({ queue: { limit: 5000 } });
    const controllers: AbortController[] = [];
    const outcomes = new Map<string, number>();
    const all: Promise<void>[] = [];
    for (let k = 0; k < 3000; k++) {
      const c = new AbortController();
      controllers.push(c);
      const p = bal.acquireAsync({ signal: c.signal, timeoutMs: 10 + (k % 50) });
      all.push(
        p.then(
          (l) => {
            outcomes.set("granted", (outcomes.get("granted") ?? 0) + 1);
            l.release();
          },
          (e) => {
            const key = typeof e === "string" ? e : (e as { code: string }).code;
            outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
          },
        ),
      );
    }
    for (let k = 0; k < 3000; k += 2) controllers[k]!.abort("aborted");
    await vi.advanceTimersByTimeAsync(30);
    held[0]!.release();
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all(all);
    for (const l of held) l.release();
    expect(outcomes.get("aborted")).toBe(1500);
    expect((outcomes.get("LC_ERR_QUEUE_TIMEOUT") ?? 0) + (outcomes.get("granted") ?? 0)).toBe(1500);
    expect(totalActive(bal)).toBe(0);
    expect(bal.snapshot().queue).toEqual({ length: 0, oldestWaitMs: null });
    expect(vi.getTimerCount()).toBe(0);
    // aborting after the fact changes nothing
    for (const c of controllers) c.abort("late");
    expect(totalActive(bal)).toBe(0);
  });

  it("waiters are served when capacity returns by markUp, add, setMaxConnections, setWeight, setActive, or the end of an ejection", async () => {
    let now = 0;
    const bal = new Balancer({
      backends: [{ name: "a", maxConnections: 1 }],
      clock: () => now,
      ejection: { consecutiveFailures: 1, maxPercent: 100 },
    });
    bal.add("down", { maxConnections: 1 });
    bal.markDown("down");
    bal.add("zero", { weight: 0, maxConnections: 1 });
    bal.add("busy", { connections: 1, maxConnections: 1 });
    const first = bal.acquire()!;
    const got: string[] = [];
    const wait = () => bal.acquireAsync({ timeoutMs: 1_000_000 }).then((l) => void got.push(l.backend));
    const ws = [wait(), wait(), wait(), wait(), wait()];
    bal.markUp("down");
    bal.setWeight("zero", 1);
    bal.setActive("busy", 0);
    await Promise.resolve();
    expect(got).toEqual(["down", "zero", "busy"]);
    bal.setMaxConnections("a", 2);
    await Promise.resolve();
    expect(got.slice(3)).toEqual(["a"]);
    // eject every other backend via failures, then only the ejection's end frees one
    expect(bal.snapshot().queue.length).toBe(1);
    first.release({ ok: false }); // a is ejected (cap: 100%, 4 others stay), its slot does not go to the waiter
    expect(bal.get("a").state).toBe("ejected");
    expect(vi.getTimerCount()).toBe(2); // the waiter's timeout and the wake-up
    now = 30_000;
    await vi.advanceTimersByTimeAsync(30_000);
    await Promise.all(ws.slice(0, 5));
    expect(got.slice(4)).toEqual(["a"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("the wake-up follows the earliest ejection end: a later, shorter ejection brings it forward", async () => {
    let now = 0;
    const bal = new Balancer({
      backends: ["a", "b", "c"].map((name) => ({ name, maxConnections: 1 })),
      clock: () => now,
      ejection: { consecutiveFailures: 1, baseMs: 50, maxMs: 10_000, maxPercent: 100 },
    });
    bal.acquire()!.release({ ok: false }); // "a" ejected once (50 ms): its next ejection lasts 100 ms
    now = 1000;
    bal.tick();
    const [la, lb] = [bal.acquire()!, bal.acquire()!, bal.acquire()!];
    let got: string | undefined;
    const w = bal.acquireAsync({ timeoutMs: 80 }).then((l) => {
      got = l.backend;
      return l;
    });
    la!.release({ ok: false }); // "a" out until 1100: the wake-up is armed for 100 ms
    lb!.release({ ok: false }); // "b" out until 1050: the wake-up moves to 50 ms
    now = 1050;
    await vi.advanceTimersByTimeAsync(50);
    expect(got).toBe("b");
    (await w).release();
    expect(bal.snapshot().queue.length).toBe(0);
  });

  it("bad options reject with InvalidArgumentError naming the field", async () => {
    const bal = new Balancer({ backends: ["a"] });
    await expect(bal.acquireAsync({ timeoutMs: -1 })).rejects.toMatchObject({ code: "LC_ERR_INVALID_ARGUMENT", field: "timeoutMs" });
    await expect(bal.acquireAsync({ signal: {} as never })).rejects.toMatchObject({ field: "signal" });
    await expect(bal.acquireAsync("x" as never)).rejects.toMatchObject({ field: "options" });
    await expect(bal.acquireAsync({ algorithm: "nope" })).rejects.toMatchObject({ code: "LC_ERR_UNKNOWN_ALGORITHM" });
    expect(() => new Balancer({ queue: { limit: -1 } })).toThrow(expect.objectContaining({ field: "queue.limit" }));
    expect(() => new Balancer({ queue: { timeoutMs: 2 ** 31 } })).toThrow(expect.objectContaining({ field: "queue.timeoutMs" }));
    expect(bal.get("a").active).toBe(0);
  });
});
