// Slow start's arithmetic: the ramp a backend's weight is scaled by, as an
// integer out of RAMP_ONE (the core's unit), exact in every runtime, and the
// coarse step at which ramping backends are refreshed.

import { RAMP_ONE } from "./core.js";
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
