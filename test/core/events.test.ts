// The Balancer's events: "removed" is dispatched synchronously, once, with
// the backend's name, whenever a backend leaves the table, whatever made it
// leave; and never for anything else. "statechange" once for every change
// of a backend's state (from, to, reason), and never when nothing changed.

import { describe, expect, it } from "vitest";
import { BackendEvent, Balancer, StateChangeEvent } from "../../bindings/index.js";

function watch(b: Balancer): string[] {
  const seen: string[] = [];
  b.addEventListener("removed", (e) => {
    // Dispatched once the table no longer has the backend.
    expect(b.has(e.backend)).toBe(false);
    seen.push(e.backend);
  });
  return seen;
}

describe('"removed" event', () => {
  it("is a BackendEvent (an Event) naming the backend, dispatched before remove() returns", () => {
    const b = new Balancer({ backends: ["a", "b"] });
    const events: Event[] = [];
    b.addEventListener("removed", (e) => events.push(e));
    b.remove("a");
    expect(events).toHaveLength(1);
    const e = events[0] as BackendEvent;
    expect(e).toBeInstanceOf(BackendEvent);
    expect(e).toBeInstanceOf(Event);
    expect([e.type, e.backend, e.target]).toEqual(["removed", "a", b]);
  });

  it("comes when a draining backend's count reaches 0: by lease, by release(name), by setActive", () => {
    const b = new Balancer({ backends: ["a", "b", "c"] });
    const seen = watch(b);
    const leases = [b.acquire()!, b.acquire()!, b.acquire()!]; // one on each
    b.setActive("c", 3);
    b.remove("a");
    b.remove("b");
    b.remove("c");
    expect(seen).toEqual([]);
    leases[0]!.release();
    expect(seen).toEqual(["a"]);
    b.release("b");
    expect(seen).toEqual(["a", "b"]);
    b.setActive("c", 0);
    expect(seen).toEqual(["a", "b", "c"]);
    leases[2]!.release(); // its backend is gone: nothing more
    expect(seen).toEqual(["a", "b", "c"]);
  });

  it("does not come for a cancelled removal, a down backend, a new one, or a weight", () => {
    const b = new Balancer({ backends: ["a", "b"] });
    const seen = watch(b);
    const lease = b.acquire()!;
    b.remove("a");
    b.markUp("a"); // cancels the removal
    lease.release();
    b.markDown("b");
    b.add("c");
    b.setWeight("c", 0);
    expect(seen).toEqual([]);
    expect(b.names).toEqual(["a", "b", "c"]);
  });

  it("a name removed, added again and removed again is reported each time", () => {
    const b = new Balancer({ backends: ["a"] });
    const seen = watch(b);
    b.remove("a");
    b.add("a");
    b.remove("a");
    expect(seen).toEqual(["a", "a"]);
  });

  it("removeEventListener stops it; listener objects work too", () => {
    const b = new Balancer({ backends: ["a", "b", "c"] });
    const seen: string[] = [];
    const fn = (e: BackendEvent): void => void seen.push(`fn:${e.backend}`);
    const obj = { handleEvent: (e: BackendEvent): void => void seen.push(`obj:${e.backend}`) };
    b.addEventListener("removed", fn);
    b.addEventListener("removed", obj);
    b.remove("a");
    b.removeEventListener("removed", fn);
    b.remove("b");
    expect(seen).toEqual(["fn:a", "obj:a", "obj:b"]);
  });
});

describe('"statechange" event', () => {
  function log(b: Balancer): string[] {
    const seen: string[] = [];
    b.addEventListener("statechange", (e) => {
      expect(e).toBeInstanceOf(StateChangeEvent);
      expect(e).toBeInstanceOf(BackendEvent);
      // Dispatched once the change is made.
      if (b.has(e.backend)) expect(b.get(e.backend).state).toBe(e.to);
      seen.push(`${e.backend}:${e.from}>${e.to}:${e.reason}${e.until === null ? "" : `@${e.until}`}`);
    });
    return seen;
  }

  it("comes once for every change of state, with from, to and the reason", () => {
    const b = new Balancer({ backends: ["a", "b"] });
    const seen = log(b);
    b.markDown("a");
    b.markUp("a");
    const lease = b.acquire()!;
    b.remove("a");
    b.markUp("a"); // cancels the removal
    b.remove("a");
    lease.release(); // the removal completes: "removed", not a state change
    expect(seen).toEqual([
      "a:up>down:markDown",
      "a:down>up:markUp",
      "a:up>draining:remove",
      "a:draining>up:markUp",
      "a:up>draining:remove",
    ]);
  });

  it("does not come when nothing changes: markUp of an up backend, markDown of a down or draining one, weights, limits, counts", () => {
    const b = new Balancer({ backends: ["a", "b", "c"] });
    b.markDown("b");
    b.setActive("c", 1);
    b.remove("c");
    const seen = log(b);
    b.markUp("a");
    b.markDown("b");
    b.markDown("c");
    b.setWeight("a", 0);
    b.setMaxConnections("a", 2);
    b.setActive("a", 1);
    b.add("d");
    expect(seen).toEqual([]);
  });

  it("ejection and recovery say so, with the end of the ejection on the clock", () => {
    let now = 100;
    const b = new Balancer({ backends: ["a", "b"], clock: () => now, ejection: { consecutiveFailures: 2, baseMs: 1000, maxPercent: 50 } });
    const seen = log(b);
    b.setActive("a", 2);
    b.release("a", { ok: false });
    b.release("a", { ok: false });
    now = 1100;
    b.tick();
    expect(seen).toEqual(["a:up>ejected:ejected@1100", "a:ejected>up:recovered"]);
  });
});
