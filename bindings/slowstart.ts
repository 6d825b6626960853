// Slow start: the ramp a backend's weight is scaled by, as an integer out of
// RAMP_ONE (the core's unit), exact in every runtime; the coarse step at which
// ramping backends are refreshed; and the set of ramping backends (Ramps),
// which the Balancer drives from its clock.

import { type CoreTable, RAMP_ONE } from "./core.js";
import type { Slot } from "./lease.js";
import type { SlowStartConfig } from "./options.js";

/**
 * The ramp `elapsed` ms into the window: RAMP_ONE * (minPercent + (100 -
 * minPercent) * elapsed / windowMs) / 100, rounded down, at least 1;
 * RAMP_ONE (full weight) once the window is over. Integers below 2^53.
 */
export function rampAt(cfg: SlowStartConfig, elapsed: number): number {
  if (elapsed >= cfg.windowMs) return RAMP_ONE;
  const e = Math.max(0, elapsed);
  const num = RAMP_ONE * (cfg.minPercent * cfg.windowMs + (100 - cfg.minPercent) * e);
  return Math.max(1, Math.floor(num / (100 * cfg.windowMs)));
}

/** Ramping backends are refreshed at most once per this many ms: windowMs / 64, at least 1. */
export function rampStep(cfg: SlowStartConfig): number {
  return Math.max(1, Math.floor(cfg.windowMs / 64));
}

/** The weight a ramp leaves (what weighted round-robin uses): 0 stays 0, otherwise at least 1. */
export function effectiveWeight(weight: number, ramp: number): number {
  if (ramp === RAMP_ONE || weight === 0) return weight;
  return Math.max(1, Math.floor((weight * ramp) / RAMP_ONE));
}

/**
 * The backends ramping now, refreshed all at once on the coarse step (at most
 * once per rampStep), so a backend that is not ramping is never touched and
 * a ramping one costs one setRamp per step. With slow start off (no config)
 * nothing ever ramps.
 */
export class Ramps {
  readonly ramping = new Set<Slot>();
  /** When the next step is due (a lower bound); Infinity while nothing ramps. */
  nextRampAt = Infinity;
  // Declared, not parameter properties nor class fields: either leaves a declaration in the minified files.
  declare private readonly rampStepMs: number;
  declare private readonly cfg: SlowStartConfig | undefined;
  declare private readonly core: CoreTable;

  constructor(cfg: SlowStartConfig | undefined, core: CoreTable) {
    this.cfg = cfg;
    this.core = core;
    this.rampStepMs = cfg === undefined ? Infinity : rampStep(cfg);
  }

  /** Starts `slot`'s ramp at `now` (after add(), markUp() from down, the end of an ejection). */
  startRamp(slot: Slot, now: number): void {
    const cfg = this.cfg;
    if (cfg === undefined) return;
    const ramp = rampAt(cfg, 0);
    if (ramp === RAMP_ONE) return;
    slot.rampStart = now;
    this.ramping.add(slot);
    this.core.setRamp(slot.index, ramp);
    if (this.nextRampAt === Infinity) this.nextRampAt = now + this.rampStepMs;
  }

  /** Ends `slot`'s ramp at once (full weight), if it is ramping. */
  stopRamp(slot: Slot): void {
    if (this.ramping.delete(slot) && !slot.gone) this.core.setRamp(slot.index, RAMP_ONE);
  }

  /** The coarse step: every ramping backend to its ramp at `now`. */
  refreshRamps(now: number): void {
    const cfg = this.cfg!;
    for (const slot of this.ramping) {
      const ramp = rampAt(cfg, now - slot.rampStart);
      this.core.setRamp(slot.index, ramp);
      if (ramp === RAMP_ONE) this.ramping.delete(slot);
    }
    this.nextRampAt = this.ramping.size === 0 ? Infinity : now + this.rampStepMs;
  }
}
