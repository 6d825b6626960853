// The node's bookkeeping of tracked requests: which open http_request is
// which (by msg_id, and per backend oldest first), their duration_ms
// deadlines, and the ids of recently completed ones. No Balancer here: the
// handler releases counts; this module only remembers.
//
// Everything is numbers in typed arrays, indexed by a slot number per open
// request: 32 bytes a request (24 per slot, 8 in the id index), none of it
// seen by the garbage collector, and a hard limit on how many are open.
// A request leaves every structure the moment it completes, deadline heap
// included, so memory follows what is open, not what once was.

const NONE = -1;

/** Open tracked requests, at most `limit` at once. Slots are numbers from open(). */
export class OpenRequests {
  // Per slot. `ids` is -1 for a request without an id, or whose id a newer
  // request took over; `next` doubles as the free list.
  private ids = new Float64Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private track = new Int32Array(0); // index into names/heads/tails
  private heapPos = new Int32Array(0); // position in the deadline heap, or -1
  private free = NONE;
  private used = 0; // slots handed out at least once
  private count = 0;

  // msg_id → slot: linear probing over slot numbers, keys read from `ids`.
  private index = new Int32Array(0);

  // One track per backend with tracked requests: a list, oldest first.
  private readonly trackOf = new Map<string, number>();
  private names: string[] = [];
  private heads: number[] = [];
  private tails: number[] = [];
  private freeTracks: number[] = [];

  // Deadlines: a binary min-heap on (at, seq); seq keeps routing order on ties.
  private heapAt = new Float64Array(0);
  private heapSeq = new Float64Array(0);
  private heapSlot = new Int32Array(0);
  private heapLen = 0;
  private seq = 0;

  /** Ids of the last `COMPLETED_IDS_KEPT` completions. */
  readonly completed = new RecentIds(COMPLETED_IDS_KEPT);

  constructor(readonly limit: number) {}

  /** Requests open now. */
  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.limit;
  }

  /** Tracks a routed request (id and deadline optional); check `full` first. */
  open(backend: string, id: number | undefined, at: number | undefined): number {
    if (this.free === NONE && this.used === this.ids.length) this.grow();
    let s: number;
    if (this.free !== NONE) {
      s = this.free;
      this.free = this.next[s]!;
    } else {
      s = this.used++;
    }
    this.count++;
    let t = this.trackOf.get(backend);
    if (t === undefined) {
      t = this.freeTracks.pop() ?? this.names.length;
      this.names[t] = backend;
      this.heads[t] = this.tails[t] = NONE;
      this.trackOf.set(backend, t);
    }
    // Append to the backend's list.
    this.track[s] = t;
    this.next[s] = NONE;
    this.prev[s] = this.tails[t]!;
    if (this.tails[t] === NONE) this.heads[t] = s;
    else this.next[this.tails[t]!] = s;
    this.tails[t] = s;
    this.ids[s] = NONE;
    if (id !== undefined) {
      const older = this.withId(id);
      if (older !== NONE) this.unindex(older); // a reused id names the newest request
      this.ids[s] = id;
      this.indexAdd(s);
    }
    this.heapPos[s] = NONE;
    if (at !== undefined) this.schedule(s, at);
    return s;
  }

  /** The open request with this msg_id, or -1. */
  withId(id: number): number {
    const ix = this.index;
    if (ix.length === 0) return NONE;
    const mask = ix.length - 1;
    for (let i = hash(id, mask); ; i = (i + 1) & mask) {
      const s = ix[i]!;
      if (s === NONE || this.ids[s] === id) return s;
    }
  }

  /** The oldest open request on `backend`, or -1. */
  oldest(backend: string): number {
    const t = this.trackOf.get(backend);
    return t === undefined ? NONE : this.heads[t]!;
  }

  backendOf(slot: number): string {
    return this.names[this.track[slot]!]!;
  }

  /** Completes an open request: it leaves every structure; its id is remembered as completed. */
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
      this.unindex(s);
      this.completed.add(id);
    }
    this.next[s] = this.free;
    this.free = s;
    this.count--;
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

  /** The open request whose deadline comes first if it is at or before `now`, else -1. */
  due(now: number): number {
    return this.heapLen > 0 && this.heapAt[0]! <= now ? this.heapSlot[0]! : NONE;
  }

  private grow(): void {
    const cap = Math.min(Math.max(16, this.ids.length * 2), Math.max(this.limit, 1));
    const grown = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.ids = grown(this.ids, (n) => new Float64Array(n));
    this.prev = grown(this.prev, (n) => new Int32Array(n));
    this.next = grown(this.next, (n) => new Int32Array(n));
    this.track = grown(this.track, (n) => new Int32Array(n));
    this.heapPos = grown(this.heapPos, (n) => new Int32Array(n));
    // The index stays at most half full; rebuilt at the new size. (Growing
    // happens only with the free list empty: every slot handed out is open.)
    let size = 32;
    while (size < cap * 2) size *= 2;
    if (size > this.index.length) {
      this.index = new Int32Array(size).fill(NONE);
      for (let s = 0; s < this.used; s++) if (this.ids[s] !== NONE) this.indexAdd(s);
    }
  }

  private indexAdd(s: number): void {
    const ix = this.index;
    const mask = ix.length - 1;
    let i = hash(this.ids[s]!, mask);
    while (ix[i] !== NONE) i = (i + 1) & mask;
    ix[i] = s;
  }

  // Takes a request's id out of the index (closed, or its id taken over).
  private unindex(s: number): void {
    const ix = this.index;
    const mask = ix.length - 1;
    let i = hash(this.ids[s]!, mask);
    while (ix[i] !== s) i = (i + 1) & mask;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    for (let j = (i + 1) & mask; ix[j] !== NONE; j = (j + 1) & mask) {
      const home = hash(this.ids[ix[j]!]!, mask);
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        ix[i] = ix[j]!;
        i = j;
      }
    }
    ix[i] = NONE;
    this.ids[s] = NONE;
  }

  private schedule(s: number, at: number): void {
    if (this.heapLen === this.heapAt.length) {
      const cap = Math.max(16, this.heapLen * 2);
      const at2 = new Float64Array(cap);
      const seq2 = new Float64Array(cap);
      const slot2 = new Int32Array(cap);
      at2.set(this.heapAt);
      seq2.set(this.heapSeq);
      slot2.set(this.heapSlot);
      this.heapAt = at2;
      this.heapSeq = seq2;
      this.heapSlot = slot2;
    }
    const i = this.heapLen++;
    this.heapAt[i] = at;
    this.heapSeq[i] = this.seq++;
    this.heapSlot[i] = s;
    this.heapPos[s] = i;
    this.siftUp(i);
  }

  private unschedule(s: number): void {
    const i = this.heapPos[s]!;
    this.heapPos[s] = NONE;
    const last = --this.heapLen;
    if (i === last) return;
    this.move(last, i);
    this.siftDown(this.siftUp(i));
  }

  private before(a: number, b: number): boolean {
    const x = this.heapAt[a]!;
    const y = this.heapAt[b]!;
    return x < y || (x === y && this.heapSeq[a]! < this.heapSeq[b]!);
  }

  private move(from: number, to: number): void {
    this.heapAt[to] = this.heapAt[from]!;
    this.heapSeq[to] = this.heapSeq[from]!;
    const s = this.heapSlot[from]!;
    this.heapSlot[to] = s;
    this.heapPos[s] = to;
  }

  private swap(a: number, b: number): void {
    const at = this.heapAt[a]!;
    const seq = this.heapSeq[a]!;
    const s = this.heapSlot[a]!;
    this.move(b, a);
    this.heapAt[b] = at;
    this.heapSeq[b] = seq;
    this.heapSlot[b] = s;
    this.heapPos[s] = b;
  }

  private siftUp(i: number): number {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
    return i;
  }

  private siftDown(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.heapLen) return;
      const r = l + 1;
      const c = r < this.heapLen && this.before(r, l) ? r : l;
      if (!this.before(c, i)) return;
      this.swap(i, c);
      i = c;
    }
  }
}

/** Completed request ids remembered, so a second completion gets 22, not 20. */
export const COMPLETED_IDS_KEPT = 65_536;

/**
 * The ids of the last `keep` completions: a ring of them in completion
 * order, and a linear-probing hash set from id to its newest place in the
 * ring. An id completed again moves to the newest place, so it is forgotten
 * `keep` completions after its last completion, not its first.
 */
export class RecentIds {
  // Allocated at the first add: a node that never completes by id does not
  // pay for 1.5 MB of tables.
  private keys = new Float64Array(0);
  private places = new Int32Array(0);
  private mask = -1;
  private ring = new Float64Array(0);
  private head = 0; // the next place to write, and the oldest once full
  private count = 0;

  constructor(private readonly keep: number) {}

  has(id: number): boolean {
    return this.find(id) !== NONE;
  }

  add(id: number): void {
    if (this.mask < 0) this.allocate();
    if (this.count === this.keep) {
      // The oldest completion leaves, and takes its id along unless the id
      // completed again since (then its entry points elsewhere).
      const old = this.ring[this.head]!;
      const at = this.find(old);
      if (at !== NONE && this.places[at] === this.head) this.remove(at);
    } else {
      this.count++;
    }
    this.ring[this.head] = id;
    const at = this.find(id);
    if (at !== NONE) {
      this.places[at] = this.head;
    } else {
      let i = hash(id, this.mask);
      while (this.keys[i] !== NONE) i = (i + 1) & this.mask;
      this.keys[i] = id;
      this.places[i] = this.head;
    }
    this.head = this.head + 1 === this.keep ? 0 : this.head + 1;
  }

  private allocate(): void {
    let size = 4;
    while (size < this.keep * 2) size *= 2;
    this.keys = new Float64Array(size).fill(NONE);
    this.places = new Int32Array(size);
    this.mask = size - 1;
    this.ring = new Float64Array(this.keep);
  }

  // Where `id` is in the table, or -1.
  private find(id: number): number {
    if (this.mask < 0) return NONE;
    for (let i = hash(id, this.mask); ; i = (i + 1) & this.mask) {
      const v = this.keys[i]!;
      if (v === id) return i;
      if (v === NONE) return NONE;
    }
  }

  // Backward-shift deletion, as in OpenRequests.
  private remove(i: number): void {
    const t = this.keys;
    const mask = this.mask;
    for (let j = (i + 1) & mask; t[j] !== NONE; j = (j + 1) & mask) {
      const home = hash(t[j]!, mask);
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        t[i] = t[j]!;
        this.places[i] = this.places[j]!;
        i = j;
      }
    }
    t[i] = NONE;
  }
}

// A table position for an id (an integer 0..2^53-1).
function hash(id: number, mask: number): number {
  const hi = Math.floor(id / 4294967296);
  return Math.imul((id >>> 0) ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) & mask;
}
