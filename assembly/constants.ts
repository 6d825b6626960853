// The numbers the core and the bindings agree on: backend states, algorithm
// ids, return codes, and the selectors of layout() and sample(). This one
// file is both AssemblyScript (the core imports it) and TypeScript (the
// bindings import it), so it holds plain numeric constants and nothing else:
// no AssemblyScript types, no decorators, no TypeScript-only syntax.

// ---- backend states (setState, the state array) ----
export const STATE_UP = 0;
export const STATE_DOWN = 1;
export const STATE_DRAINING = 2;
/** Taken out by passive ejection (the bindings decide when); not routable, like down. */
export const STATE_EJECTED = 3;

// ---- algorithm ids (acquire's first argument) ----
export const ALG_LEAST_CONN = 0;
export const ALG_WEIGHTED_LEAST_CONN = 1;
export const ALG_ROUND_ROBIN = 2;
export const ALG_WEIGHTED_ROUND_ROBIN = 3;
export const ALG_P2C = 4;
export const ALG_RANDOM = 5;
/** Finagle's peak-EWMA cost times (active + 1), over two samples like ALG_P2C. */
export const ALG_PEAK_EWMA = 6;

// ---- return codes: 0 is success, an index is >= 0, these are < 0 ----
/** acquire: nothing can take traffic. */
export const NONE = -1;
/** reset, add: memory.grow failed, or the table is at its largest. */
export const ERR_NO_MEMORY = -2;
/** An index, state or algorithm out of range. */
export const ERR_RANGE = -3;
/** Threads build: the table's lock stayed held by a live owner for the whole spin bound. */
export const ERR_LOCK_TIMEOUT = -4;
/** Threads build: this instance's thread was detached or reclaimed. */
export const ERR_DETACHED = -5;
/** Threads build (bindThread): the thread id is bound to another instance. */
export const ERR_BOUND = -6;

// ---- per-backend fields (layout(which) takes these) ----
// The fields a pick reads live in one 16-byte hot record per backend: active
// u32 @0, limit u32 @4, weight u32 @8, state u16 @12, ramp u16 @14. What
// only acquire writes is a cold record of the same size in a region of its
// own: total u64 @0, last f64 @8 (so at 100,000 backends the hot records
// are 1.6 MB, not 3.2). The others are arrays of 8-byte slots: swrr current
// (i64), ewma cost and stamp (f64). layout(which) is the byte offset of
// backend 0's field; backend i's is REC_SIZE * i further for a record field
// (hot or cold), 8 * i for an array.
export const ARR_ACTIVE = 0;
export const ARR_WEIGHT = 1;
export const ARR_STATE = 2;
export const ARR_LIMIT = 3;
export const ARR_RAMP = 4;
export const ARR_TOTAL = 5;
export const ARR_LAST = 6;
export const ARR_CURW = 7;
export const ARR_COST = 8;
export const ARR_STAMP = 9;
/** How many field selectors there are. */
export const ARRAYS = 10;
/** Bytes per backend record, hot (ARR_ACTIVE..ARR_RAMP) and cold (ARR_TOTAL, ARR_LAST) alike. */
export const REC_SIZE = 16;

// ---- limits (setLimit) ----
/** The limit of a backend without one: a count that cannot grow (2^32-1). */
export const NO_LIMIT = 4294967295;

// ---- slow start (setRamp) ----
/** A ramp of RAMP_ONE is full weight; 1..RAMP_ONE-1 scale the weight by ramp/RAMP_ONE. */
export const RAMP_ONE = 1024;

// ---- peak-ewma (setDecay, release's rtt) ----
/** The decay time constant of a new table, in ms (setDecay changes it). */
export const DECAY_DEFAULT_MS = 10000;
/** Load of a backend with no cost yet but requests open (Finagle: Long.MaxValue >> 16), plus its count. */
export const EWMA_PENALTY = 140737488355327;

// ---- sample(which): the power-of-two-choices samples of the last acquire ----
export const SAMPLE_FIRST = 0;
export const SAMPLE_SECOND = 1;
