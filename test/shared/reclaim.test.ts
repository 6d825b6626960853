// The thread table of a shared table, in one thread: thread ids, reclaim
// exactly once, late releases, detach, and bad input. The kill runs
// (test/runtimes/kill*.test.ts) cover real threads dying mid-call.

import { describe, expect, it } from "vitest";
import {
  attachShared,
  createShared,
  DetachedError,
  InvalidArgumentError,
  LeastconnError,
  LockTimeoutError,
} from "../../bindings/shared.js";

describe("reclaiming a thread of a shared table", () => {
  it("gives a reclaimed thread's leases back exactly once; its late releases do nothing", () => {
    const { balancer } = createShared({ backends: ["a", "b", "c"] });
    const handle = balancer.reserveThread();
    const worker = attachShared(handle);
    expect(worker.thread).toBe(handle.thread);
    const leases = [worker.acquire(), worker.acquire(), worker.acquire({ algorithm: "round-robin" })];
    const mine = balancer.acquire()!;
    expect(balancer.snapshot().map((b) => b.active)).toEqual([2, 1, 1]);
    expect(leases[0]!.release()).toBe(true);
    expect(balancer.reclaim(handle.thread)).toBe(2);
    expect(balancer.reclaim(handle.thread)).toBe(0);
    expect(balancer.snapshot().map((b) => b.active)).toEqual([0, 0, 1]);
    expect(leases[1]!.release()).toBe(false);
    expect(() => worker.acquire()).toThrow(DetachedError);
    expect(balancer.snapshot().map((b) => b.active)).toEqual([0, 0, 1]);
    expect(mine.release()).toBe(true);
    expect(balancer.snapshot().map((b) => b.active)).toEqual([0, 0, 0]);
  });

  it("detach gives back what is still held; a freed id is claimed again with a new generation", () => {
    const { balancer, handle } = createShared({ backends: ["a", "b"], maxThreads: 2 });
    const worker = attachShared(handle);
    worker.acquire();
    worker.acquire();
    expect(worker.detach()).toBe(2);
    expect(worker.detach()).toBe(0);
    expect(balancer.snapshot().map((b) => b.active)).toEqual([0, 0]);
    const again = attachShared(handle);
    expect(again.thread & 0xff).toBe(worker.thread & 0xff);
    expect(again.thread).not.toBe(worker.thread);
    expect(balancer.reclaim(worker.thread)).toBe(0);
    expect(() => attachShared(handle)).toThrow(expect.objectContaining({ code: "LC_ERR_CAPACITY" }));
  });

  it("a detached Balancer's acquire throws DetachedError and leaves no count behind", () => {
    const { balancer, handle } = createShared({ backends: ["a", "b"] });
    const worker = attachShared(handle);
    const lease = worker.acquire()!;
    expect(worker.detach()).toBe(1);
    expect(() => worker.acquire()).toThrow(expect.objectContaining({ code: "LC_ERR_DETACHED" }));
    expect(lease.release()).toBe(false);
    expect(balancer.snapshot().map((b) => b.active)).toEqual([0, 0]);
  });

  it("a detached or reclaimed Balancer can no longer change the table for the other threads", () => {
    const { balancer, handle } = createShared({ backends: ["a", "b"] });
    const worker = attachShared(handle);
    const reclaimed = attachShared(handle);
    balancer.acquire();
    const before = balancer.snapshot();
    worker.detach();
    balancer.reclaim(reclaimed.thread);
    for (const gone of [worker, reclaimed]) {
      expect(() => gone.setActive("a", 9)).toThrow(DetachedError);
      expect(() => gone.setWeight("a", 0)).toThrow(DetachedError);
      expect(() => gone.setMaxConnections("b", 1)).toThrow(DetachedError);
      expect(() => gone.markDown("b")).toThrow(DetachedError);
      expect(() => gone.markUp("b")).toThrow(DetachedError);
      expect(() => gone.release("a")).toThrow(DetachedError);
    }
    expect(balancer.snapshot()).toEqual(before);
    // Both shared-table errors are LeastconnErrors with their codes, as every other.
    const thrown = (() => {
      try {
        worker.acquire();
      } catch (err) {
        return err;
      }
    })();
    expect(thrown).toBeInstanceOf(LeastconnError);
    expect(thrown).toMatchObject({ name: "DetachedError", code: "LC_ERR_DETACHED" });
    expect(new LockTimeoutError()).toBeInstanceOf(LeastconnError);
    expect(new LockTimeoutError()).toMatchObject({ name: "LockTimeoutError", code: "LC_ERR_LOCK_TIMEOUT" });
    // A live one still can.
    balancer.setWeight("a", 3);
    expect(balancer.get("a").weight).toBe(3);
  });

  it("claims go round the thread table: a freed id is the last to be taken again", () => {
    const { balancer } = createShared({ backends: ["a"], maxThreads: 3 });
    const first = balancer.reserveThread().thread;
    expect(balancer.reclaim(first)).toBe(0);
    const second = balancer.reserveThread().thread;
    expect(second & 0xff).toBe(2);
    expect(balancer.reclaim(second)).toBe(0);
    // Slot 0 is the creator's; 1 and 2 were used last, 1 before 2.
    expect(balancer.reserveThread().thread & 0xff).toBe(1);
  });

  it("an untracked release (by name) still counts down, and nothing goes below zero", () => {
    const { balancer } = createShared({ backends: ["a"] });
    balancer.setActive("a", 2);
    balancer.release("a");
    expect(balancer.active("a")).toBe(1);
    const other = attachShared(balancer.handle);
    const lease = other.acquire()!;
    balancer.setActive("a", 0);
    expect(other.reclaim(balancer.thread)).toBe(0);
    // The snapshot took the count to 0: as on a private table, nothing to release.
    expect(lease.release()).toBe(false);
    expect(other.detach()).toBe(0);
    expect(balancer.active("a")).toBe(0);
  });

  it("attaches a thread id once: another Balancer given a held id is refused and changes nothing", () => {
    const { balancer, handle } = createShared({ backends: ["a", "b"] });
    const reserved = balancer.reserveThread();
    const worker = attachShared(reserved);
    const lease = worker.acquire()!;
    const refused = { code: "LC_ERR_INVALID_ARGUMENT", field: "handle" };
    // The worker's id again, and the creator's own.
    expect(() => attachShared(reserved)).toThrow(expect.objectContaining(refused));
    expect(() => attachShared({ ...handle, thread: balancer.thread })).toThrow(expect.objectContaining(refused));
    expect(() => attachShared(reserved)).toThrow(/thread \d+ of the shared table is attached already/);
    // Both still hold their ids: the worker's lease is its own, and a
    // reclaim of the worker gives back exactly that one.
    expect(worker.acquire()!.release()).toBe(true);
    const mine = balancer.acquire()!;
    expect(balancer.snapshot().map((b) => b.active)).toEqual([1, 1]);
    expect(balancer.reclaim(worker.thread)).toBe(1);
    expect(lease.release()).toBe(false);
    expect(mine.release()).toBe(true);
    expect(balancer.snapshot().map((b) => b.active)).toEqual([0, 0]);
    // A handle without an id reserves a new one; a reserved id never attached is reclaimed with 0.
    const other = attachShared(handle);
    expect(other.thread & 0xff).not.toBe(worker.thread & 0xff);
    expect(balancer.reclaim(balancer.reserveThread().thread)).toBe(0);
    other.setWeight("a", 2);
    expect(balancer.get("a").weight).toBe(2);
  });

  it("detach() fails this Balancer's waiters at once; a lease released after it returns false and throws nothing", async () => {
    const { balancer } = createShared({ backends: [{ name: "x", maxConnections: 1 }] });
    const held = balancer.acquire()!;
    const waiter = balancer.acquireAsync({ timeoutMs: 2_000 });
    expect(balancer.detach()).toBe(1);
    await expect(waiter).rejects.toMatchObject({ code: "LC_ERR_DETACHED" });
    expect(held.release()).toBe(false);
    expect(held.released).toBe(true);
  });

  it("a thread reclaimed by another: its release serves no waiter (they fail with DetachedError) and throws nothing", async () => {
    const { balancer, handle } = createShared({ backends: [{ name: "x", maxConnections: 1 }] });
    const worker = attachShared(handle);
    const held = worker.acquire()!;
    const waiter = worker.acquireAsync({ timeoutMs: 2_000 });
    expect(balancer.reclaim(worker.thread)).toBe(1);
    expect(held.release()).toBe(false);
    await expect(waiter).rejects.toMatchObject({ code: "LC_ERR_DETACHED" });
    expect(balancer.snapshot().map((b) => b.active)).toEqual([0]);
  });

  it("a reclaimed thread with waiters: its next change or acquire throws DetachedError and its waiters fail with it", async () => {
    const { balancer, handle } = createShared({ backends: [{ name: "x", maxConnections: 1 }] });
    const worker = attachShared(handle);
    worker.acquire();
    const waiter = worker.acquireAsync({ timeoutMs: 2_000 });
    balancer.reclaim(worker.thread);
    // Before, with a waiter queued acquire() answered null, and acquireAsync() queued one more.
    expect(() => worker.acquire()).toThrow(DetachedError);
    await expect(waiter).rejects.toMatchObject({ code: "LC_ERR_DETACHED" });
    const again = worker.acquireAsync({ timeoutMs: 2_000 });
    await expect(again).rejects.toMatchObject({ code: "LC_ERR_DETACHED" });
    const other = attachShared(handle);
    const second = other.acquire()!;
    const late = other.acquireAsync({ timeoutMs: 2_000 });
    balancer.reclaim(other.thread);
    expect(() => other.setWeight("x", 2)).toThrow(DetachedError);
    await expect(late).rejects.toMatchObject({ code: "LC_ERR_DETACHED" });
    expect(second.release()).toBe(false);
    expect(balancer.snapshot().map((b) => b.active)).toEqual([0]);
  });

  it("a waiter in one Balancer is served when another Balancer on the table frees the slot (within a few polls)", async () => {
    const { balancer: a, handle } = createShared({ backends: [{ name: "x", maxConnections: 1 }] });
    const b = attachShared(handle);
    const held = a.acquire()!;
    const started = Date.now();
    const waiting = b.acquireAsync({ timeoutMs: 2_000 });
    setTimeout(() => held.release(), 50);
    // Before, it waited its whole timeout and got QueueTimeoutError with the slot free.
    const lease = await waiting;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(a.snapshot().map((s) => s.active)).toEqual([1]);
    lease.release();
    expect(a.snapshot().map((s) => s.active)).toEqual([0]);
  });

  it("an ejection another thread ended (its markDown or markUp) is forgotten at its end, not recovered over that state", () => {
    let t = 0;
    const clock = (): number => t;
    const { balancer: a, handle } = createShared({
      backends: ["x", "y", "z"],
      ejection: { consecutiveFailures: 1, baseMs: 100, maxPercent: 100 },
      clock,
    });
    const b = attachShared(handle, { clock });
    const events: string[] = [];
    a.addEventListener("statechange", (e) => events.push(`${e.backend} ${e.from}->${e.to} ${e.reason}`));
    a.acquire()!.release({ ok: false }); // a: x ejected until 100
    a.acquire()!.release({ ok: false }); // a: y ejected until 100
    t = 50;
    b.markDown("x"); // a health check on the other thread
    b.markUp("y");
    t = 100;
    a.tick();
    expect(a.snapshot().map((s) => s.state)).toEqual(["down", "up", "up"]);
    expect(events).toEqual(["x up->ejected ejected", "y up->ejected ejected"]);
  });

  it("refuses bad input", () => {
    expect(() => createShared({ backends: ["a"], maxThreads: 0 })).toThrow(InvalidArgumentError);
    expect(() => createShared({ backends: ["a"], maxThreads: 256 })).toThrow(InvalidArgumentError);
    const { balancer } = createShared({ backends: ["a"] });
    expect(() => balancer.reclaim(-1)).toThrow(InvalidArgumentError);
    expect(() => balancer.reclaim(1.5)).toThrow(InvalidArgumentError);
    const h = balancer.reserveThread();
    balancer.reclaim(h.thread);
    expect(() => attachShared(h)).toThrow(DetachedError);
  });
});
