// The events a Balancer dispatches ("removed", "statechange") and their map.

import type { BackendState } from "./balancer.js";

/** Dispatched by a Balancer, synchronously; `backend` names the backend concerned. */
export class BackendEvent extends Event {
  constructor(
    type: keyof BalancerEventMap,
    readonly backend: string,
  ) {
    super(type);
  }
}

/** Why a backend's state changed. */
export type StateChangeReason = "markDown" | "markUp" | "remove" | "ejected" | "recovered";

/** "statechange": a backend went from one state to another. */
export class StateChangeEvent extends BackendEvent {
  constructor(
    backend: string,
    readonly from: BackendState,
    readonly to: BackendState,
    readonly reason: StateChangeReason,
    /** For "ejected": when the ejection ends (Balancer clock); otherwise null. */
    readonly until: number | null,
  ) {
    super("statechange", backend);
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
