// The Balancer's events: "removed" is dispatched synchronously, once, with
// the backend's name, whenever a backend leaves the table, whatever made it
// leave; and never for anything else.

import { describe, expect, it } from "vitest";
import { BackendEvent, Balancer } from "../../bindings/index.js";

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
