// The events a Balancer dispatches ("removed", "statechange") and their map.

import type { BackendState } from "./balancer.js";

/** Dispatched by a Balancer, synchronously; `backend` names the backend concerned. */
// Fields are `declare`d and assigned, not parameter properties: ES2022 class
// fields would also be declared in the minified files, for nothing.
export class BackendEvent extends Event {
  declare readonly backend: string;
  constructor(type: keyof BalancerEventMap, backend: string) {
    super(type);
    this.backend = backend;
  }
}

/** Why a backend's state changed. */
export type StateChangeReason = "markDown" | "markUp" | "remove" | "ejected" | "recovered";

/** "statechange": a backend went from one state to another. */
export class StateChangeEvent extends BackendEvent {
  declare readonly from: BackendState;
  declare readonly to: BackendState;
  declare readonly reason: StateChangeReason;
  /** For "ejected": when the ejection ends (Balancer clock); otherwise null. */
  declare readonly until: number | null;
  constructor(backend: string, from: BackendState, to: BackendState, reason: StateChangeReason, until: number | null) {
    super("statechange", backend);
    this.from = from;
    this.to = to;
    this.reason = reason;
    this.until = until;
  }
}

/**
 * The events of a Balancer. "removed": a backend left the table (removed,
 * and drained). "statechange": a backend's state changed (any cause).
 */
export interface BalancerEventMap {
  removed: BackendEvent;
  statechange: StateChangeEvent;
}
