// Passive ejection: the timeline rules (how long the k-th ejection lasts, how
// many backends may be out at once) and the set of ejected backends with the
// earliest end among them. The Balancer changes states and tells listeners;
// this file decides who is ejected and until when.

import { type CoreTable, STATE_EJECTED, STATE_UP } from "./core.js";
import type { Slot } from "./lease.js";
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

/** The ejected backends. With ejection off (no config) nothing is ever ejected. */
export class Ejections {
  readonly ejected = new Set<Slot>();
  /** The earliest end among them (a lower bound); Infinity when none. */
  nextEjectionEnd = Infinity;

  // Declared, not a parameter property nor a class field: either leaves a declaration in the minified files.
  declare private readonly cfg: EjectionConfig | undefined;

  constructor(cfg: EjectionConfig | undefined) {
    this.cfg = cfg;
  }

  /**
   * One more failure in a row on `slot` at `now`. At the threshold it is
   * ejected unless the cap forbids it (then the run stays, and the next
   * failure asks again): returns when the ejection ends, or undefined.
   */
  failed(slot: Slot, now: number, core: CoreTable, slots: readonly Slot[]): number | undefined {
    slot.run++;
    const cfg = this.cfg;
    if (cfg === undefined || slot.run < cfg.consecutiveFailures || slot.gone) return undefined;
    if (core.state(slot.index) !== STATE_UP || core.weight(slot.index) === 0) return undefined;
    let pool = 0;
    let out = 0;
    for (const s of slots) {
      if (core.weight(s.index) === 0) continue;
      const state = core.state(s.index);
      if (state === STATE_UP) pool++;
      else if (state === STATE_EJECTED) {
        pool++;
        out++;
      }
    }
    if (!mayEject(cfg, out, pool)) return undefined;
    const until = now + ejectionMs(cfg, ++slot.ejections);
    slot.ejectEnd = until;
    this.ejected.add(slot);
    if (until < this.nextEjectionEnd) this.nextEjectionEnd = until;
    return until;
  }

  /** Forgets `slot`'s ejection (it ended, or the backend was marked or removed). */
  leaveEjection(slot: Slot): void {
    this.ejected.delete(slot);
    slot.ejectEnd = null;
    slot.run = 0;
  }

  /** The ejections due at `now`, earliest end first, then table order; nextEjectionEnd becomes the next one after. */
  dueAt(now: number): Slot[] {
    const due: Slot[] = [];
    let next = Infinity;
    for (const slot of this.ejected) {
      const until = slot.ejectEnd!;
      if (until <= now) due.push(slot);
      else if (until < next) next = until;
    }
    this.nextEjectionEnd = next;
    return due.sort((a, b) => a.ejectEnd! - b.ejectEnd! || a.index - b.index);
  }
}
