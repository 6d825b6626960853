// The threads build's second entry (scripts/build.mjs passes it beside
// index.ts for the threads target only): the thread table's exports, so the
// release build carries none of them. See lock.ts.

export { bindThread, claimThread, initThreads, lockOwner, pauseNextLock, reclaimThread } from "./lock";
