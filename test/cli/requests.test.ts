// The request bookkeeping on its own: ids, per-backend order, deadlines in
// (deadline, routing) order, the limit, and the memory of completed ids,
// checked against a plain model over many random operations.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OpenRequests, RecentIds } from "../../cli/requests.js";

// Every request with a deadline, in the order they come due.
function drain(r: OpenRequests, now: number): number[] {
  const out: number[] = [];
  for (let s = r.due(now); s >= 0; s = r.due(now)) {
    out.push(s);
    r.close(s);
  }
  return out;
}

describe("OpenRequests", () => {
  it("finds a request by id and by backend, oldest first, and forgets it once closed", () => {
    const r = new OpenRequests(10);
    const a1 = r.open("a", 1, undefined);
    const b2 = r.open("b", 2, undefined);
    const a3 = r.open("a", undefined, 50);
    expect([r.withId(1), r.withId(2), r.withId(3)]).toEqual([a1, b2, -1]);
    expect([r.backendOf(a1), r.backendOf(b2), r.backendOf(a3)]).toEqual(["a", "b", "a"]);
    expect([r.oldest("a"), r.oldest("b"), r.oldest("c")]).toEqual([a1, b2, -1]);
    r.close(a1);
    expect([r.withId(1), r.oldest("a")]).toEqual([-1, a3]);
    expect([r.completed.has(1), r.completed.has(2)]).toEqual([true, false]);
  });

  it("a reused id names the newest request; the older one stays open without an id", () => {
    const r = new OpenRequests(10);
    const first = r.open("a", 5, undefined);
    const second = r.open("b", 5, undefined);
    expect(r.withId(5)).toBe(second);
    r.close(first);
    expect(r.completed.has(5)).toBe(false); // the id was not first's any more
    r.close(second);
    expect(r.completed.has(5)).toBe(true);
  });

  it("deadlines come due in deadline order, ties in the order the requests were opened", () => {
    const r = new OpenRequests(10);
    const s = [r.open("a", 1, 30), r.open("b", 2, 10), r.open("a", 3, 30), r.open("c", 4, 20), r.open("b", 5, 10)];
    expect(r.due(9)).toBe(-1);
    expect(drain(r, 25)).toEqual([s[1], s[4], s[3]]);
    expect(drain(r, 1e9)).toEqual([s[0], s[2]]);
  });

  it("a request closed early leaves the deadline heap at once", () => {
    const r = new OpenRequests(10);
    const early = r.open("a", 1, 100);
    const late = r.open("a", 2, 200);
    r.close(early);
    expect(r.due(150)).toBe(-1);
    expect(drain(r, 200)).toEqual([late]);
  });

  it("closeBackend closes that backend's requests, oldest first, and remembers their ids", () => {
    const r = new OpenRequests(10);
    r.open("a", 1, 10);
    const keep = r.open("b", 2, undefined);
    r.open("a", 3, undefined);
    r.closeBackend("a");
    expect([r.withId(1), r.withId(3), r.oldest("a"), r.due(1e9)]).toEqual([-1, -1, -1, -1]);
    expect([r.completed.has(1), r.completed.has(3)]).toEqual([true, true]);
    expect(r.withId(2)).toBe(keep);
    // The name can come back: a fresh, empty list.
    const again = r.open("a", 7, undefined);
    expect(r.oldest("a")).toBe(again);
  });

  it("is full at its limit and has room again after a close", () => {
    const r = new OpenRequests(3);
    const slots = [r.open("a", 1, undefined), r.open("a", 2, undefined)];
    expect(r.full).toBe(false);
    slots.push(r.open("a", 3, undefined));
    expect(r.full).toBe(true);
    r.close(slots[1]!);
    expect(r.full).toBe(false);
    expect(new OpenRequests(0).full).toBe(true);
  });

  it("holds 32 bytes a slot: five typed arrays and the id index (half full at most)", () => {
    const r = new OpenRequests(1_000_000);
    for (let i = 0; i < 100_000; i++) r.open("a", i, undefined);
    const internals = r as unknown as Record<string, unknown> & { ids: Float64Array; index: { table: Int32Array } };
    const capacity = internals.ids.length;
    expect(capacity).toBeGreaterThanOrEqual(100_000);
    expect(capacity).toBeLessThan(200_000);
    const perSlot = ["ids", "prev", "next", "track", "heapPos"].reduce((n, k) => n + (internals[k] as Int32Array).byteLength, 0) / capacity;
    expect(perSlot).toBe(24);
    expect(internals.index.table.byteLength / capacity).toBe(8);
  });

  it("agrees with a plain model over random operations (growth, reuse, ids up to 2^53-1)", () => {
    const op = fc.oneof(
      fc.record({
        k: fc.constant("open" as const),
        b: fc.constantFrom("a", "b", "c"),
        id: fc.option(fc.oneof(fc.nat(40), fc.constant(2 ** 53 - 1)), { nil: undefined }),
        d: fc.option(fc.nat(50), { nil: undefined }),
      }),
      fc.record({ k: fc.constant("byId" as const), id: fc.nat(40) }),
      fc.record({ k: fc.constant("byBackend" as const), b: fc.constantFrom("a", "b", "c") }),
      fc.record({ k: fc.constant("tick" as const), t: fc.nat(30) }),
      fc.record({ k: fc.constant("drop" as const), b: fc.constantFrom("a", "b", "c") }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const r = new OpenRequests(64);
        type M = { slot: number; b: string; id: number | undefined; at: number | undefined; seq: number };
        let model: M[] = [];
        const done = new Set<number>();
        let now = 0;
        let seq = 0;
        const closeModel = (m: M): void => {
          model = model.filter((x) => x !== m);
          if (m.id !== undefined) done.add(m.id);
        };
        for (const o of ops) {
          if (o.k === "open") {
            if (r.full) continue;
            for (const m of model) if (m.id === o.id) m.id = undefined;
            const at = o.d === undefined ? undefined : now + o.d;
            model.push({ slot: r.open(o.b, o.id, at), b: o.b, id: o.id, at, seq: seq++ });
          } else if (o.k === "byId") {
            const m = model.find((x) => x.id === o.id);
            expect(r.withId(o.id)).toBe(m?.slot ?? -1);
            if (m !== undefined) {
              r.close(m.slot);
              closeModel(m);
            }
          } else if (o.k === "byBackend") {
            const m = model.find((x) => x.b === o.b);
            expect(r.oldest(o.b)).toBe(m?.slot ?? -1);
            if (m !== undefined) {
              r.close(m.slot);
              closeModel(m);
            }
          } else if (o.k === "tick") {
            now += o.t;
            const due = model.filter((m) => m.at !== undefined && m.at <= now).sort((x, y) => x.at! - y.at! || x.seq - y.seq);
            expect(drain(r, now)).toEqual(due.map((m) => m.slot));
            due.forEach(closeModel);
          } else {
            r.closeBackend(o.b);
            model.filter((m) => m.b === o.b).forEach(closeModel);
          }
          for (const m of model) expect(r.backendOf(m.slot)).toBe(m.b);
          for (const id of done) expect(r.completed.has(id)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("RecentIds", () => {
  it("remembers the ids of the last `keep` completions", () => {
    const ids = new RecentIds(3);
    expect(ids.has(1)).toBe(false);
    for (const id of [1, 2, 3, 4]) ids.add(id);
    expect([1, 2, 3, 4].map((id) => ids.has(id))).toEqual([false, true, true, true]);
  });

  it("an id completed again is remembered from its last completion, not its first (defect 6.10)", () => {
    const ids = new RecentIds(3);
    ids.add(7);
    ids.add(8);
    ids.add(7); // completed again
    ids.add(9); // evicts the first completion of 7, not 7 itself
    expect([7, 8, 9].map((id) => ids.has(id))).toEqual([true, true, true]);
    ids.add(10); // evicts 8
    ids.add(11); // evicts the second completion of 7
    expect([7, 8, 9, 10, 11].map((id) => ids.has(id))).toEqual([false, false, true, true, true]);
  });

  it("agrees with a list of the last `keep` completions", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.nat(12), fc.constant(2 ** 53 - 1)), { maxLength: 200 }),
        (keep, adds) => {
          const ids = new RecentIds(keep);
          const last: number[] = [];
          for (const id of adds) {
            ids.add(id);
            last.push(id);
            if (last.length > keep) last.shift();
            for (let probe = 0; probe <= 12; probe++) expect(ids.has(probe)).toBe(last.includes(probe));
            expect(ids.has(2 ** 53 - 1)).toBe(last.includes(2 ** 53 - 1));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
