// The discrete-event model: backends of c servers (FIFO queue or processor
// sharing), open-loop Poisson or closed-loop arrivals, and K real Balancers
// on a manual clock choosing every backend. No I/O: the caller gets plain
// results (and optional progress callbacks). Time is integer microseconds;
// every random draw comes from seeded generators, one stream per purpose, so
// every algorithm sees the same arrivals and the same request sizes
// (common random numbers) and a run is the same in every runtime.

import { algorithmId, algorithmName } from "../algorithms.js";
import { Balancer, type CancelWait, type Lease, type StateChangeEvent } from "../balancer.js";
import { Histogram } from "./histogram.js";
import { exp, ln, Rng } from "./random.js";
import { type ModelConfig, normalize, type SimConfig, serviceMeanUs } from "./spec.js";

export interface BackendResult {
  name: string;
  /** Requests routed to it. */
  requests: number;
  /** Its fraction of the routed requests. */
  share: number;
  /** Busy server-time over c × the simulated duration. */
  utilization: number;
  /** Most requests waiting beyond its c servers at once. */
  max_queue: number;
}

export interface AlgorithmResult {
  algorithm: string;
  requests: number;
  completed: number;
  mean_ms: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  /** Requests no balancer could place (acquire() returned null): answered 503. */
  shed: number;
  /** Requests sent to a backend inside one of its failure windows (released with { ok: false }). */
  failed: number;
  /** Of the shed requests, those that waited in the Balancer's queue until the timeout. */
  timeouts: number;
  /** Times a balancer ejected a backend (the "statechange" events to "ejected"). */
  ejections: number;
  /** Simulated time from 0 to the last completion. */
  duration_ms: number;
  backends: BackendResult[];
  /** FNV-1a over every routing decision and every latency, in order, as 8 hex digits. */
  digest: string;
  /** Latency quantiles for charts (when asked): [q, ms] pairs. */
  quantiles?: Array<[number, number]>;
  /** Requests in each backend over time (when asked): time in ms and one count per backend. */
  load?: { t: number[]; n: number[][] };
}

export interface Progress {
  algorithm: string;
  /** Index of the algorithm in the configuration. */
  index: number;
  /** Requests sent so far in this algorithm's run. */
  sent: number;
  /** Requests in each backend now (waiting or in service). */
  inSystem: number[];
  /** Simulated time now, in ms. */
  nowMs: number;
}

export interface RunOptions {
  /** Called about every `progressEvery` requests sent. */
  onProgress?: (p: Progress) => void;
  progressEvery?: number;
  /** Record quantiles and load samples for charts. */
  detail?: boolean;
  /** Load samples per run when `detail` (default 200). */
  samples?: number;
}

const FNV_PRIME = 16777619;
// Generator streams, one per purpose.
const STREAM_ARRIVALS = 1;
const STREAM_SERVICE = 2;
const STREAM_ROUTE = 3;
const QUANTILES = [
  0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99,
  0.995, 0.999, 0.9999, 1,
];

/** Runs every algorithm of the configuration, in order. */
export function simulate(config: SimConfig, options: RunOptions = {}): AlgorithmResult[] {
  const model = normalize(config);
  return model.algorithms.map((name, index) => runOne(model, name, index, options));
}

// Event kinds in the heap.
const EV_DEPART = 0; // FIFO: payload = request id
const EV_PS = 1; // processor sharing: payload = backend
const EV_SEND = 2; // closed loop: payload = client
const EV_TIMEOUT = 3; // a request's wait in the Balancer's queue ends: payload = request id
// A queued request's states.
const DECIDING = 0;
const QUEUED = 1;
const SETTLED = 2;

/** A binary min-heap of events on typed arrays, ordered by (time, insertion). */
class EventHeap {
  time = new Float64Array(64);
  seq = new Float64Array(64);
  kind = new Int32Array(64);
  data = new Int32Array(64);
  size = 0;
  private counter = 0;

  push(time: number, kind: number, data: number): number {
    if (this.size === this.time.length) this.grow();
    const seq = this.counter++;
    let i = this.size++;
    const { time: t, seq: s, kind: k, data: d } = this;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p]! < time || (t[p] === time && s[p]! < seq)) break;
      t[i] = t[p]!;
      s[i] = s[p]!;
      k[i] = k[p]!;
      d[i] = d[p]!;
      i = p;
    }
    t[i] = time;
    s[i] = seq;
    k[i] = kind;
    d[i] = data;
    return seq;
  }

  /** Removes the top; read its fields first (time[0], kind[0], ...). */
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const { time: t, seq: s, kind: k, data: d } = this;
    const time = t[n]!;
    const seq = s[n]!;
    const kind = k[n]!;
    const data = d[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && (t[c + 1]! < t[c]! || (t[c + 1] === t[c] && s[c + 1]! < s[c]!))) c++;
      if (time < t[c]! || (time === t[c] && seq < s[c]!)) break;
      t[i] = t[c]!;
      s[i] = s[c]!;
      k[i] = k[c]!;
      d[i] = d[c]!;
      i = c;
    }
    t[i] = time;
    s[i] = seq;
    k[i] = kind;
    d[i] = data;
  }

  private grow(): void {
    const n = this.time.length * 2;
    const t = new Float64Array(n);
    t.set(this.time);
    this.time = t;
    const s = new Float64Array(n);
    s.set(this.seq);
    this.seq = s;
    const k = new Int32Array(n);
    k.set(this.kind);
    this.kind = k;
    const d = new Int32Array(n);
    d.set(this.data);
    this.data = d;
  }
}

/** A growable FIFO of numbers. */
class NumQueue {
  private buf = new Float64Array(16);
  private head = 0;
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      for (let i = 0; i < this.length; i++) next[i] = this.buf[(this.head + i) & (this.buf.length - 1)]!;
      this.buf = next;
      this.head = 0;
    }
    this.buf[(this.head + this.length++) & (this.buf.length - 1)] = v;
  }
  peek(): number {
    return this.buf[this.head]!;
  }
  shift(): number {
    const v = this.buf[this.head]!;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.length--;
    return v;
  }
}

/**
 * The stale view of one balancer: every change of a count reaches the
 * balancer's table `staleUs` after it happens (through setActive), so each
 * pick sees the counts as they were then. The delay is constant, so changes
 * fall due in the order they were made: a FIFO suffices.
 */
class StaleView {
  private readonly due = new NumQueue();
  private readonly change = new NumQueue();
  constructor(
    private readonly lb: Balancer,
    private readonly names: string[],
  ) {}
  add(when: number, b: number, delta: 1 | -1): void {
    this.due.push(when);
    this.change.push(delta > 0 ? b + 1 : -(b + 1));
  }
  catchUp(now: number): void {
    while (this.due.length > 0 && this.due.peek() <= now) {
      this.due.shift();
      const c = this.change.shift();
      const name = this.names[Math.abs(c) - 1]!;
      this.lb.setActive(name, this.lb.active(name) + (c > 0 ? 1 : -1));
    }
  }
}

function fnv(h: number, word: number): number {
  return Math.imul(h ^ word, FNV_PRIME) >>> 0;
}

function runOne(m: ModelConfig, algorithm: string, index: number, options: RunOptions): AlgorithmResult {
  const B = m.backends;
  const c = m.servers;
  const K = m.balancers;
  const ps = m.discipline === "ps";
  const N = m.requests;
  const names = Array.from({ length: B }, (_, i) => `b${i}`);
  const indexOf = new Map(names.map((n, i) => [n, i]));
  const factor = new Float64Array(B).fill(1);
  for (const s of m.slow) factor[s.index]! *= s.factor;
  const failures = m.failures.map((f) => ({ index: f.index, start: f.startMs * 1000, end: f.endMs * 1000 }));
  const failing = (b: number, t: number): boolean => failures.some((f) => f.index === b && t >= f.start && t < f.end);
  const staleUs = Math.round(m.staleMs * 1000);

  let now = 0;
  const clock = (): number => now / 1000;
  const backends = names.map((name) => ({ name, maxConnections: m.maxConnections }));
  let ejections = 0;
  const lbs = Array.from({ length: K }, (_, k) => {
    const lb = new Balancer({
      backends,
      algorithm,
      seed: (m.seed + k) % Number.MAX_SAFE_INTEGER,
      clock,
      tieBreak: m.tieBreak,
      ejection: m.ejection,
      slowStart: m.slowStart,
      decayMs: m.decayMs,
      // The queue's own timer is wall time; the model times waits out itself (EV_TIMEOUT) and never hits it.
      queue: m.queue === undefined ? undefined : { limit: m.queue.limit, timeoutMs: 0x7fffffff },
    });
    if (m.ejection !== undefined) {
      lb.addEventListener("statechange", (event) => {
        if ((event as StateChangeEvent).to === "ejected") ejections++;
      });
    }
    return lb;
  });
  const queueing = m.queue !== undefined;
  const timeoutUs = queueing ? m.queue!.timeoutMs * 1000 : 0;
  const views = staleUs > 0 ? lbs.map((lb) => new StaleView(lb, names)) : null;

  const arrivals = new Rng(m.seed, STREAM_ARRIVALS);
  const sizes = new Rng(m.seed, STREAM_SERVICE);
  const route = new Rng(m.seed, STREAM_ROUTE);
  const svc = m.service;
  const lnMu = svc.kind === "lognormal" ? ln(svc.meanUs) - (svc.sigma * svc.sigma) / 2 : 0;
  const drawService = (): number => {
    switch (svc.kind) {
      case "exp":
        return Math.round(sizes.exponential(svc.meanUs));
      case "fixed":
        return svc.meanUs;
      case "lognormal":
        return Math.round(exp(lnMu + svc.sigma * sizes.normal()));
      case "bimodal":
        return sizes.uniform() < svc.slowFraction ? svc.slowUs : svc.fastUs;
    }
  };
  // Open loop: the arrival rate that makes the given fraction of every server's capacity busy.
  let capacity = 0; // requests per microsecond
  for (let b = 0; b < B; b++) capacity += c / (serviceMeanUs(svc) * factor[b]!);
  const meanGap = m.clients === 0 ? 1 / (m.utilization * capacity) : 0;
  const thinkUs = m.thinkMs * 1000;

  // Requests in flight, in a pool of reused ids.
  let cap = 1024;
  let reqArrival = new Float64Array(cap);
  let reqService = new Float64Array(cap);
  let reqBackend = new Int32Array(cap);
  let reqBalancer = new Int32Array(cap);
  let reqClient = new Int32Array(cap);
  const leases: Array<Lease | null> = [];
  // Requests waiting in a Balancer's queue: how to take each out, and its timeout event.
  const cancels: Array<CancelWait | null> = [];
  let timeoutSeq = new Float64Array(cap);
  const free: number[] = [];
  let nextId = 0;
  const alloc = (): number => {
    if (free.length > 0) return free.pop()!;
    if (nextId === cap) {
      cap *= 2;
      const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
        const next = make(cap);
        next.set(a);
        return next;
      };
      reqArrival = grow(reqArrival, (n) => new Float64Array(n));
      reqService = grow(reqService, (n) => new Float64Array(n));
      reqBackend = grow(reqBackend, (n) => new Int32Array(n));
      reqBalancer = grow(reqBalancer, (n) => new Int32Array(n));
      reqClient = grow(reqClient, (n) => new Int32Array(n));
      timeoutSeq = grow(timeoutSeq, (n) => new Float64Array(n));
    }
    leases.push(null);
    cancels.push(null);
    return nextId++;
  };

  const inSystem = new Int32Array(B);
  const area = new Float64Array(B); // server-microseconds busy
  const last = new Float64Array(B);
  const maxQueue = new Int32Array(B);
  const routed = new Float64Array(B);
  const queues = ps ? [] : names.map(() => new NumQueue());
  const psJobs: number[][] = ps ? names.map(() => []) : [];
  const psFinish: number[][] = ps ? names.map(() => []) : [];
  const psV = new Float64Array(B);
  const psLast = new Float64Array(B);
  const psSeq = new Float64Array(B).fill(-1);

  const heap = new EventHeap();
  const hist = new Histogram();
  let digest = 0x811c9dc5;
  let sent = 0;
  let shed = 0;
  let failed = 0;
  let timeouts = 0;
  let completedAt = 0;

  const detail = options.detail === true;
  const samples = options.samples ?? 200;
  const estimate = m.clients === 0 ? N * meanGap : (N / m.clients) * (thinkUs + serviceMeanUs(svc));
  const sampleEvery = Math.max(1, Math.ceil(estimate / samples));
  let nextSample = 0;
  const loadT: number[] = [];
  const loadN: number[][] = names.map(() => []);
  const progressEvery = options.progressEvery ?? 65536;
  const onProgress = options.onProgress;

  const touch = (b: number): void => {
    area[b]! += Math.min(inSystem[b]!, c) * (now - last[b]!);
    last[b] = now;
  };
  const psAdvance = (b: number): void => {
    const n = psJobs[b]!.length;
    if (n > 0) psV[b]! += ((now - psLast[b]!) * Math.min(n, c)) / n;
    psLast[b] = now;
  };
  const psReschedule = (b: number): void => {
    const finish = psFinish[b]!;
    const n = finish.length;
    if (n === 0) {
      psSeq[b] = -1;
      return;
    }
    let f = finish[0]!;
    for (let i = 1; i < n; i++) if (finish[i]! < f) f = finish[i]!;
    const dt = Math.max(0, Math.ceil(((f - psV[b]!) * n) / Math.min(n, c)));
    psSeq[b] = heap.push(now + dt, EV_PS, b);
  };
  const afterReply = (client: number): void => {
    if (m.clients > 0 && sent < N) heap.push(now + Math.round(arrivals.exponential(thinkUs)), EV_SEND, client);
  };
  // The lease is released last: a release can hand a slot to a queued request at once.
  const finishRequest = (id: number, ok: boolean): void => {
    const b = reqBackend[id]!;
    const k = reqBalancer[id]!;
    const lease = leases[id]!;
    leases[id] = null;
    if (ok) {
      const latency = now - reqArrival[id]!;
      hist.record(latency);
      digest = fnv(fnv(digest, latency | 0), Math.floor(latency / 4294967296));
      completedAt = now;
    }
    free.push(id);
    afterReply(reqClient[id]!);
    if (views !== null) views[k]!.add(now + staleUs, b, -1);
    else if (ok) lease.release();
    else lease.release({ ok: false });
  };
  const shedRequest = (id: number): void => {
    shed++;
    digest = fnv(digest, 0xffffffff);
    free.push(id);
    afterReply(reqClient[id]!);
  };

  const arrive = (client: number): void => {
    sent++;
    const id = alloc();
    reqArrival[id] = now;
    reqClient[id] = client;
    reqService[id] = drawService();
    const k = K > 1 ? route.below(K) : 0;
    reqBalancer[id] = k;
    const lb = lbs[k]!;
    if (views !== null) views[k]!.catchUp(now);
    if (queueing) {
      let state = DECIDING;
      const cancel = lb._enqueue({
        grant: (lease) => {
          if (state === QUEUED) {
            timeoutSeq[id] = -1;
            cancels[id] = null;
          }
          state = SETTLED;
          place(id, lease as Lease);
        },
        fail: () => {
          state = SETTLED;
          shedRequest(id);
        },
      });
      if (state === DECIDING) {
        // Neither granted nor refused at once: it waits, until a release grants it or its timeout.
        state = QUEUED;
        cancels[id] = cancel;
        timeoutSeq[id] = heap.push(now + timeoutUs, EV_TIMEOUT, id);
      }
    } else {
      const lease = lb.acquire();
      if (lease === null) shedRequest(id);
      else place(id, lease);
    }
    if (sent % progressEvery === 0 && onProgress !== undefined) {
      onProgress({ algorithm: algorithmName(algorithmId(algorithm)), index, sent, inSystem: Array.from(inSystem), nowMs: now / 1000 });
    }
  };

  // A request gets its backend: now, or later from the queue.
  const place = (id: number, lease: Lease): void => {
    const k = reqBalancer[id]!;
    const lb = lbs[k]!;
    const base = reqService[id]!;
    const b = indexOf.get(lease.backend)!;
    reqBackend[id] = b;
    routed[b]!++;
    digest = fnv(digest, b);
    if (views !== null) {
      // The pick itself becomes visible only after the delay, like every other change.
      lb.setActive(lease.backend, lb.active(lease.backend) - 1);
      views[k]!.add(now + staleUs, b, 1);
    } else {
      leases[id] = lease;
    }
    if (failures.length > 0 && failing(b, now)) {
      failed++;
      finishRequest(id, false);
      return;
    }
    const service = factor[b] === 1 ? base : Math.round(base * factor[b]!);
    reqService[id] = service;
    touch(b);
    const n = ++inSystem[b]!;
    if (n - c > maxQueue[b]!) maxQueue[b] = n - c;
    if (ps) {
      psAdvance(b);
      psJobs[b]!.push(id);
      psFinish[b]!.push(psV[b]! + service);
      psReschedule(b);
    } else if (n <= c) {
      heap.push(now + service, EV_DEPART, id);
    } else {
      queues[b]!.push(id);
    }
  };

  const sample = (until: number): void => {
    while (nextSample <= until && loadT.length < samples * 4) {
      loadT.push(nextSample / 1000);
      for (let b = 0; b < B; b++) loadN[b]!.push(inSystem[b]!);
      nextSample += sampleEvery;
    }
  };

  if (m.clients > 0) {
    for (let client = 0; client < m.clients && client < N; client++) heap.push(Math.round(arrivals.exponential(thinkUs)), EV_SEND, client);
  }
  let nextArrival = m.clients === 0 ? Math.round(arrivals.exponential(meanGap)) : Number.POSITIVE_INFINITY;

  for (;;) {
    const openDue = sent < N && nextArrival < Number.POSITIVE_INFINITY;
    if (heap.size === 0 && !openDue) break;
    // At equal times, completions come before a new arrival.
    if (openDue && (heap.size === 0 || nextArrival < heap.time[0]!)) {
      if (detail) sample(nextArrival);
      now = nextArrival;
      arrive(-1);
      nextArrival = sent < N ? now + Math.round(arrivals.exponential(meanGap)) : Number.POSITIVE_INFINITY;
      continue;
    }
    const time = heap.time[0]!;
    const kind = heap.kind[0]!;
    const data = heap.data[0]!;
    const seq = heap.seq[0]!;
    heap.pop();
    if (detail) sample(time);
    now = time;
    if (kind === EV_DEPART) {
      const b = reqBackend[data]!;
      touch(b);
      inSystem[b]!--;
      if (queues[b]!.length > 0) {
        const next = queues[b]!.shift();
        heap.push(now + reqService[next]!, EV_DEPART, next);
      }
      finishRequest(data, true);
    } else if (kind === EV_PS) {
      const b = data;
      if (seq !== psSeq[b]) continue;
      psAdvance(b);
      const finish = psFinish[b]!;
      const jobs = psJobs[b]!;
      let j = 0;
      for (let i = 1; i < finish.length; i++) if (finish[i]! < finish[j]!) j = i;
      const id = jobs[j]!;
      if (finish[j]! > psV[b]!) psV[b] = finish[j]!;
      jobs.splice(j, 1);
      finish.splice(j, 1);
      touch(b);
      inSystem[b]!--;
      psReschedule(b);
      finishRequest(id, true);
    } else if (kind === EV_TIMEOUT) {
      if (seq !== timeoutSeq[data]) continue;
      timeoutSeq[data] = -1;
      const cancel = cancels[data]!;
      cancels[data] = null;
      if (cancel()) {
        timeouts++;
        shedRequest(data);
      }
    } else {
      if (sent < N) arrive(data);
    }
  }

  const duration = completedAt;
  let totalRouted = 0;
  for (let b = 0; b < B; b++) totalRouted += routed[b]!;
  for (let b = 0; b < B; b++) touch(b);
  const ms = (us: number): number => Math.round(us) / 1000;
  const result: AlgorithmResult = {
    algorithm: algorithmName(algorithmId(algorithm)),
    requests: N,
    completed: hist.count,
    mean_ms: ms(hist.mean()),
    p50_ms: ms(hist.quantile(0.5)),
    p99_ms: ms(hist.quantile(0.99)),
    p999_ms: ms(hist.quantile(0.999)),
    max_ms: ms(hist.max),
    shed,
    failed,
    timeouts,
    ejections,
    duration_ms: ms(duration),
    backends: names.map((name, b) => ({
      name,
      requests: routed[b]!,
      share: totalRouted === 0 ? 0 : routed[b]! / totalRouted,
      utilization: duration === 0 ? 0 : area[b]! / (c * duration),
      max_queue: maxQueue[b]!,
    })),
    digest: digest.toString(16).padStart(8, "0"),
  };
  if (detail) {
    result.quantiles = QUANTILES.map((q) => [q, ms(hist.quantile(q))]);
    result.load = { t: loadT, n: loadN };
  }
  return result;
}
