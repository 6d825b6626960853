// The numbers the core and the bindings agree on: backend states, algorithm
// ids, return codes, and the selectors of layout() and sample(). This one
// file is both AssemblyScript (the core imports it) and TypeScript (the
// bindings import it), so it holds plain numeric constants and nothing else:
// no AssemblyScript types, no decorators, no TypeScript-only syntax.

// ---- backend states (setState, the state array) ----
export const STATE_UP = 0;
export const STATE_DOWN = 1;
export const STATE_DRAINING = 2;

// ---- algorithm ids (acquire's first argument) ----
export const ALG_LEAST_CONN = 0;
export const ALG_WEIGHTED_LEAST_CONN = 1;
export const ALG_ROUND_ROBIN = 2;
export const ALG_WEIGHTED_ROUND_ROBIN = 3;
export const ALG_P2C = 4;
export const ALG_RANDOM = 5;

// ---- return codes: 0 is success, an index is >= 0, these are < 0 ----
/** acquire: nothing can take traffic. */
export const NONE = -1;
/** reset, add: memory.grow failed, or the table is at its largest. */
export const ERR_NO_MEMORY = -2;
/** An index, state or algorithm out of range. */
export const ERR_RANGE = -3;

// ---- per-backend arrays, in layout order (layout(which) takes these) ----
// active, weight, state: 4 bytes a slot; total, last, swrr current: 8 bytes.
export const ARR_ACTIVE = 0;
export const ARR_WEIGHT = 1;
export const ARR_STATE = 2;
export const ARR_TOTAL = 3;
export const ARR_LAST = 4;
export const ARR_CURW = 5;
/** How many per-backend arrays there are. */
export const ARRAYS = 6;
/** Arrays below this one have 4-byte slots, the rest 8-byte slots. */
export const ARR_FIRST_WIDE = 3;

// ---- sample(which): the power-of-two-choices samples of the last acquire ----
export const SAMPLE_FIRST = 0;
export const SAMPLE_SECOND = 1;
