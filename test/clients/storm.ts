// A runtime-neutral storm of requests through balancedFetch, run unchanged
// by Node (test/clients/fetch.test.ts), Deno (test/runtimes/deno/
// fetch.deno.ts) and Chromium (test/clients/chromium.test.ts). The origins
// speak the query protocol of test/clients/origins.ts: delay=MS, status=N,
// chunks=N&gap=MS. Requests are read whole, cancelled half-way, aborted
// before or during the response, or left unread (the idle timeout must
// release those); every count must end at 0.

/** What a storm needs of a balancedFetch (structural, so dist/ and source builds both fit). */
export interface StormFetch {
  (input: string, init?: RequestInit): Promise<Response>;
  readonly balancer: { snapshot(): ReadonlyArray<{ active: number; total: number }> };
}

export interface StormOptions {
  n: number;
  concurrency: number;
  seed: number;
  /** Give up starting new requests after this long. */
  deadlineMs: number;
  /** How long to wait at the end for unread bodies' idle timeouts. */
  settleMs: number;
}

export interface StormReport {
  started: number;
  ms: number;
  outcome: { read: number; cancelled: number; unread: number; status5xx: number; aborted: number; failed: number };
  /** Per origin, in configuration order. */
  totals: number[];
  actives: number[];
  /** An error text per failure kind seen (first of each). */
  errors: string[];
}

export async function storm(fetch: StormFetch, options: StormOptions): Promise<StormReport> {
  let rng = options.seed >>> 0 || 1;
  const random = (): number => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return (rng >>> 0) / 2 ** 32;
  };
  const outcome = { read: 0, cancelled: 0, unread: 0, status5xx: 0, aborted: 0, failed: 0 };
  const errors = new Set<string>();
  const one = async (): Promise<void> => {
    const r = random();
    const controller = new AbortController();
    const query = r < 0.03 ? "?status=500" : r < 0.12 ? "?chunks=4&gap=1" : "";
    if (r > 0.96) setTimeout(() => controller.abort(), Math.floor(random() * 4));
    try {
      const res = await fetch(`/s${query}`, { signal: controller.signal });
      if (res.status >= 500) outcome.status5xx++;
      const mode = random();
      if (mode < 0.02) {
        outcome.unread++; // left for the idle timeout
      } else if (mode < 0.06 && res.body !== null) {
        const reader = res.body.getReader();
        await reader.read();
        await reader.cancel();
        outcome.cancelled++;
      } else {
        await res.text();
        outcome.read++;
      }
    } catch (err) {
      const e = err as Error;
      if (e.name === "AbortError") outcome.aborted++;
      else {
        outcome.failed++;
        errors.add(`${e.name}: ${e.message}`);
      }
    }
  };
  const t0 = Date.now();
  let started = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (started < options.n && Date.now() - t0 < options.deadlineMs) {
        started++;
        await one();
      }
    }),
  );
  const ms = Date.now() - t0;
  const active = (): number[] => fetch.balancer.snapshot().map((b) => b.active);
  const settleBy = Date.now() + options.settleMs;
  while (active().some((a) => a !== 0) && Date.now() < settleBy) await new Promise((ok) => setTimeout(ok, 10));
  const snap = fetch.balancer.snapshot();
  return { started, ms, outcome, totals: snap.map((b) => b.total), actives: snap.map((b) => b.active), errors: [...errors] };
}

/** What every runtime checks of a storm over fast origins plus one slow one (the last); [] when all holds. */
export function stormProblems(report: StormReport, n: number, slowIndex: number): string[] {
  const problems: string[] = [];
  const { outcome, totals, actives } = report;
  if (report.started !== n) problems.push(`started ${report.started} of ${n} requests before the deadline`);
  const ended = outcome.read + outcome.cancelled + outcome.unread + outcome.aborted + outcome.failed;
  if (ended !== report.started) problems.push(`outcomes add up to ${ended}, not ${report.started}`);
  if (actives.some((a) => a !== 0)) problems.push(`active counts ${actives.join("/")} did not return to 0`);
  if (outcome.unread === 0 || outcome.cancelled === 0 || outcome.aborted === 0)
    problems.push(`a kind of ending never happened: ${JSON.stringify(outcome)}`);
  const sum = totals.reduce((a, b) => a + b, 0);
  // Every request was counted once, but one aborted while it waited in the queue, which never got an origin.
  if (sum < report.started - outcome.aborted) problems.push(`totals ${sum} < requests not aborted ${report.started - outcome.aborted}`);
  const fast = totals.filter((_, i) => i !== slowIndex);
  const minFast = Math.min(...fast);
  const maxFast = Math.max(...fast);
  if ((maxFast - minFast) / maxFast > 0.3) problems.push(`fast origins unevenly loaded: ${totals.join("/")}`);
  if (!(totals[slowIndex]! < minFast / 2)) problems.push(`the slow origin got ${totals[slowIndex]}, not under half of ${minFast}`);
  return problems;
}
