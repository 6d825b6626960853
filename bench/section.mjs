// Each bench script owns one section of a doc: the text between
// `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`. writeSection replaces
// that text and leaves the rest of the file as it is.

import { readFileSync, writeFileSync } from "node:fs";

/** Replaces the bench:`name` section of the file at `path` (a path or file URL) with `body`. */
export function writeSection(path, name, body) {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const doc = readFileSync(path, "utf8");
  const from = doc.indexOf(open);
  const to = doc.indexOf(close);
  if (from < 0 || to < from) throw new Error(`${path} has no ${open} … ${close} section`);
  writeFileSync(path, `${doc.slice(0, from)}${open}\n${body}\n${doc.slice(to)}`);
}
