// Passive ejection's arithmetic, kept apart from the Balancer's bookkeeping
// so the timeline rules read in one place: how long the k-th ejection lasts,
// and how many backends may be out at once.

import type { EjectionConfig } from "./options.js";

/** Length of a backend's k-th ejection (k >= 1): baseMs * 2^(k-1), at most maxMs. */
export function ejectionMs(cfg: EjectionConfig, k: number): number {
  // 2^31 * 2^31 is still exact in a double; past that the cap has long won.
  return k > 31 ? cfg.maxMs : Math.min(cfg.baseMs * 2 ** (k - 1), cfg.maxMs);
}

/**
 * May one more backend be ejected, with `ejected` out now among `pool`
 * backends up-or-ejected with weight > 0? At most max(1, floor(pool *
 * maxPercent / 100)) at once, and at least one always stays in.
 */
export function mayEject(cfg: EjectionConfig, ejected: number, pool: number): boolean {
  const cap = Math.max(1, Math.floor((pool * cfg.maxPercent) / 100));
  return ejected < cap && ejected + 1 < pool;
}
