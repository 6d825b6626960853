// The node's bookkeeping of tracked requests: which open http_request is
// which (by msg_id, and per backend oldest first), their duration_ms
// deadlines, and the ids of recently completed ones. The handler releases
// the counts; this module only remembers.
//
// Everything is numbers in typed arrays indexed by a slot per open request:
// 24 bytes a slot plus 8 in the id index, unseen by the garbage collector.
// A request leaves every structure the moment it completes and its slot is
// reused, so the arrays grow to the most requests open at once (at most
// `limit`), not with the requests ever made.

const NONE = -1;

/** Open tracked requests, at most `limit` at once, named by slot numbers from open(). */
export class OpenRequests {
  // Per slot: the msg_id (-1: none, or a newer request took it over), the
  // backend's list (prev/next; `next` also chains free slots), the backend
  // (an index into names/heads/tails), the place in the deadline heap.
  private ids = new Float64Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private track = new Int32Array(0);
  private heapPos = new Int32Array(0);
  private free = NONE;
  private used = 0; // slots handed out so far
  /** Open tracked requests. */
  size = 0;
  private readonly index = new IdIndex(this.ids);

  // One list per backend with tracked requests, oldest first.
  private readonly trackOf = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly heads: number[] = [];
  private readonly tails: number[] = [];
  private readonly freeTracks: number[] = [];

  // Deadlines: a binary min-heap on (at, seq); seq keeps routing order on ties.
  private heapAt = new Float64Array(0);
  private heapSeq = new Float64Array(0);
  private heapSlot = new Int32Array(0);
  private heapLen = 0;
  private seq = 0;

  readonly completed = new RecentIds(COMPLETED_IDS_KEPT);

  constructor(private readonly limit: number) {}

  get full(): boolean {
    return this.size >= this.limit;
  }

  /** The first deadline of an open request, or Infinity. */
  get nextDeadline(): number {
    return this.heapLen > 0 ? this.heapAt[0]! : Infinity;
  }

  /** Tracks a routed request (id and deadline optional); check `full` first. */
  open(backend: string, id: number | undefined, at: number | undefined): number {
    if (this.full) throw new RangeError(`more than ${this.limit} open requests`);
    if (this.free === NONE && this.used === this.ids.length) this.grow();
    const s = this.free !== NONE ? this.free : this.used++;
    if (s === this.free) this.free = this.next[s]!;
    this.size++;
    let t = this.trackOf.get(backend);
    if (t === undefined) {
      t = this.freeTracks.pop() ?? this.names.length;
      this.names[t] = backend;
      this.heads[t] = this.tails[t] = NONE;
      this.trackOf.set(backend, t);
    }
    this.track[s] = t;
    this.next[s] = NONE;
    this.prev[s] = this.tails[t]!;
    if (this.tails[t] === NONE) this.heads[t] = s;
    else this.next[this.tails[t]!] = s;
    this.tails[t] = s;
    this.ids[s] = NONE;
    if (id !== undefined) {
      const older = this.index.find(id);
      if (older !== NONE) this.ids[this.index.removeAt(older)] = NONE; // a reused id names the newest request
      this.ids[s] = id;
      this.index.add(s);
    }
    this.heapPos[s] = NONE;
    if (at !== undefined) this.schedule(s, at);
    return s;
  }

  /** The open request with this msg_id, or -1. */
  withId(id: number): number {
    const i = this.index.find(id);
    return i === NONE ? NONE : this.index.table[i]!;
  }

  /** The oldest open request on `backend`, or -1. */
  oldest(backend: string): number {
    const t = this.trackOf.get(backend);
    return t === undefined ? NONE : this.heads[t]!;
  }

  backendOf(slot: number): string {
    return this.names[this.track[slot]!]!;
  }

  /** Completes an open request: it leaves every structure, and its id is remembered as completed. */
  close(s: number): void {
    const t = this.track[s]!;
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p === NONE) this.heads[t] = n;
    else this.next[p] = n;
    if (n === NONE) this.tails[t] = p;
    else this.prev[n] = p;
    if (this.heapPos[s] !== NONE) this.unschedule(s);
    const id = this.ids[s]!;
    if (id !== NONE) {
      this.index.removeAt(this.index.find(id));
      this.completed.add(id);
    }
    this.next[s] = this.free;
    this.free = s;
    this.size--;
  }

  /** A backend left the table: its open requests count as completed, oldest first. */
  closeBackend(backend: string): void {
    const t = this.trackOf.get(backend);
    if (t === undefined) return;
    while (this.heads[t] !== NONE) this.close(this.heads[t]!);
    this.trackOf.delete(backend);
    this.names[t] = "";
    this.freeTracks.push(t);
  }

  /** The open request whose deadline comes first, if the clock (`now`) has reached it; else -1. */
  due(now: number): number {
    return this.heapLen > 0 && this.heapAt[0]! <= now ? this.heapSlot[0]! : NONE;
  }

  // Only with no free slot: every slot handed out is open.
  private grow(): void {
    const cap = Math.min(Math.max(16, this.ids.length * 2), Math.max(this.limit, 1));
    this.ids = copy(this.ids, new Float64Array(cap));
    this.prev = copy(this.prev, new Int32Array(cap));
    this.next = copy(this.next, new Int32Array(cap));
    this.track = copy(this.track, new Int32Array(cap));
    this.heapPos = copy(this.heapPos, new Int32Array(cap));
    this.index.rebuild(this.ids, cap, this.used);
  }

  private schedule(s: number, at: number): void {
    if (this.heapLen === this.heapAt.length) {
      const cap = Math.max(16, this.heapLen * 2);
      this.heapAt = copy(this.heapAt, new Float64Array(cap));
      this.heapSeq = copy(this.heapSeq, new Float64Array(cap));
      this.heapSlot = copy(this.heapSlot, new Int32Array(cap));
    }
    this.sift(this.heapLen++, at, this.seq++, s);
  }

  private unschedule(s: number): void {
    const i = this.heapPos[s]!;
    const last = --this.heapLen;
    if (i < last) this.sift(i, this.heapAt[last]!, this.heapSeq[last]!, this.heapSlot[last]!);
  }

  // Puts the entry (at, seq, s) into the hole at i, moving it up or down
  // until the heap is in order again.
  private sift(i: number, at: number, seq: number, s: number): void {
    const A = this.heapAt;
    const Q = this.heapSeq;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (A[p]! < at || (A[p] === at && Q[p]! < seq)) break;
      this.moveTo(i, p);
      i = p;
    }
    for (;;) {
      let c = 2 * i + 1;
      if (c >= this.heapLen) break;
      if (c + 1 < this.heapLen && (A[c + 1]! < A[c]! || (A[c + 1] === A[c] && Q[c + 1]! < Q[c]!))) c++;
      if (A[c]! > at || (A[c] === at && Q[c]! > seq)) break;
      this.moveTo(i, c);
      i = c;
    }
    A[i] = at;
    Q[i] = seq;
    this.heapSlot[i] = s;
    this.heapPos[s] = i;
  }

  private moveTo(to: number, from: number): void {
    this.heapAt[to] = this.heapAt[from]!;
    this.heapSeq[to] = this.heapSeq[from]!;
    const s = (this.heapSlot[to] = this.heapSlot[from]!);
    this.heapPos[s] = to;
  }
}

/** Completed request ids remembered, so a second completion gets 22, not 20. */
export const COMPLETED_IDS_KEPT = 65_536;

/**
 * The ids of the last `keep` completions: a ring of them in completion
 * order, indexed by id to the id's newest place. An id completed again
 * moves to the newest place, so it is forgotten `keep` completions after
 * its last completion, not its first.
 */
export class RecentIds {
  private ring = new Float64Array(0); // allocated at the first add
  private readonly index = new IdIndex(this.ring);
  private head = 0; // the next place to write; the oldest once full
  private count = 0;

  constructor(private readonly keep: number) {}

  has(id: number): boolean {
    return this.index.find(id) !== NONE;
  }

  add(id: number): void {
    if (this.ring.length === 0) this.index.rebuild((this.ring = new Float64Array(this.keep)), this.keep, 0);
    const index = this.index;
    if (this.count === this.keep) {
      // The oldest completion leaves, and takes its id along unless the id
      // completed again since (its entry then names a newer place).
      const at = index.find(this.ring[this.head]!);
      if (index.table[at] === this.head) index.removeAt(at);
    } else this.count++;
    const at = index.find(id);
    this.ring[this.head] = id;
    if (at === NONE) index.add(this.head);
    else index.table[at] = this.head;
    this.head = this.head + 1 === this.keep ? 0 : this.head + 1;
  }
}

/**
 * From an id (an integer 0..2^53-1) to the place that holds it in `keys`:
 * linear probing over place numbers, at most half full, with backward-shift
 * deletion, which keeps every probe chain unbroken without tombstones.
 */
class IdIndex {
  table = new Int32Array(0);
  private mask = -1;

  constructor(private keys: Float64Array) {}

  /** Sizes the table for `capacity` places over new `keys`; places 0..used-1 with an id are indexed. */
  rebuild(keys: Float64Array, capacity: number, used: number): void {
    this.keys = keys;
    let size = 32;
    while (size < capacity * 2) size *= 2;
    if (size === this.table.length) return;
    this.table = new Int32Array(size).fill(NONE);
    this.mask = size - 1;
    for (let k = 0; k < used; k++) if (keys[k] !== NONE) this.add(k);
  }

  /** Where in the table `id` is, or -1. */
  find(id: number): number {
    const t = this.table;
    if (t.length === 0) return NONE;
    for (let i = this.hash(id); ; i = (i + 1) & this.mask) {
      if (t[i] === NONE) return NONE;
      if (this.keys[t[i]!] === id) return i;
    }
  }

  add(place: number): void {
    let i = this.hash(this.keys[place]!);
    while (this.table[i] !== NONE) i = (i + 1) & this.mask;
    this.table[i] = place;
  }

  /** Empties entry i (from find); returns the place it held. */
  removeAt(i: number): number {
    const t = this.table;
    const place = t[i]!;
    for (let j = (i + 1) & this.mask; t[j] !== NONE; j = (j + 1) & this.mask) {
      const home = this.hash(this.keys[t[j]!]!);
      // Move t[j] into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        t[i] = t[j]!;
        i = j;
      }
    }
    t[i] = NONE;
    return place;
  }

  private hash(id: number): number {
    const hi = Math.floor(id / 4294967296);
    return Math.imul((id >>> 0) ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) & this.mask;
  }
}

function copy<T extends Float64Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
