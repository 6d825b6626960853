// The reply formatter: the shapes of every reply and their one-line text,
// byte-compatible with the seed's expected output (Python's json.dumps
// defaults): separators ", " and ": ", keys in the protocol's order,
// non-ASCII and control characters as lowercase \uXXXX escapes. Strings are
// written directly, never through JSON.stringify, whose escaping differs.

export type ActiveCounts = ReadonlyArray<readonly [string, number]>;

export interface BackendStats {
  name: string;
  active: number;
  total: number;
  lastUsed: number | null;
  weight: number;
  state: string;
}

export type ReplyBody =
  | { type: "init_ok" }
  | {
      type: "http_response";
      status: 200 | 503;
      backend: string | null;
      active: ActiveCounts;
      /** Power-of-two-choices only: what the choice was made on. */
      choice?: { sampled: readonly string[]; selected: string; reason: string };
    }
  | { type: "request_complete_ok"; backend: string; active: ActiveCounts }
  | { type: "send_requests_ok"; picks: readonly string[]; distribution: ActiveCounts }
  | {
      type: "add_backend_ok" | "remove_backend_ok" | "backend_down_ok" | "backend_up_ok" | "set_weight_ok";
      active: ActiveCounts;
    }
  | { type: "stats_ok"; algorithm: string; backends: readonly BackendStats[] }
  | { type: "error"; code: number; text: string };

export interface Reply {
  src: string;
  dest: string;
  /** The request's msg_id; absent when the request had none. */
  inReplyTo: number | undefined;
  body: ReplyBody;
}

/** One reply as one line, without the newline. */
export function formatReply(r: Reply): string {
  const b = r.body;
  let s = '{"src": ' + quote(r.src) + ', "dest": ' + quote(r.dest) + ', "body": {"type": "' + b.type + '"';
  if (r.inReplyTo !== undefined) s += ', "in_reply_to": ' + r.inReplyTo;
  switch (b.type) {
    case "init_ok":
      break;
    case "http_response":
      s += ', "status": ' + b.status + ', "backend": ' + (b.backend === null ? "null" : quote(b.backend)) +
        ', "active_connections": ' + counts(b.active);
      if (b.choice !== undefined) {
        s += ', "sampled": ' + names(b.choice.sampled) + ', "selected": ' + quote(b.choice.selected) +
          ', "reason": ' + quote(b.choice.reason);
      }
      break;
    case "request_complete_ok":
      s += ', "backend": ' + quote(b.backend) + ', "active_connections": ' + counts(b.active);
      break;
    case "send_requests_ok":
      s += ', "backends": ' + names(b.picks) + ', "distribution": ' + counts(b.distribution);
      break;
    case "stats_ok":
      s += ', "algorithm": ' + quote(b.algorithm) + ', "backends": ' + stats(b.backends);
      break;
    case "error":
      s += ', "code": ' + b.code + ', "text": ' + quote(b.text);
      break;
    default:
      s += ', "active_connections": ' + counts(b.active);
  }
  return s + "}}";
}

function counts(list: ActiveCounts): string {
  if (list.length === 0) return "{}";
  let s = "{";
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    s += (i === 0 ? "" : ", ") + quote(e[0]) + ": " + e[1];
  }
  return s + "}";
}

function names(list: readonly string[]): string {
  if (list.length === 0) return "[]";
  let s = "[" + quote(list[0]!);
  for (let i = 1; i < list.length; i++) s += ", " + quote(list[i]!);
  return s + "]";
}

function stats(list: readonly BackendStats[]): string {
  if (list.length === 0) return "{}";
  let s = "{";
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    s += (i === 0 ? "" : ", ") + quote(e.name) + ': {"active_connections": ' + e.active +
      ', "total_requests": ' + e.total + ', "last_used": ' + (e.lastUsed === null ? "null" : e.lastUsed) +
      ', "weight": ' + e.weight + ', "state": ' + quote(e.state) + "}";
  }
  return s + "}";
}

// Backend names and envelope addresses repeat on every reply: their quoted
// form is cached (bounded, so hostile input cannot grow it without end).
const QUOTE_CACHE_MAX = 4096;
const QUOTE_CACHE_MAX_LEN = 64;
const quoted = new Map<string, string>();

const HEX = "0123456789abcdef";

/** A JSON string literal as Python's json.dumps writes it (ensure_ascii). */
export function quote(s: string): string {
  const hit = quoted.get(s);
  if (hit !== undefined) return hit;
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(from, i);
    from = i + 1;
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += "\\\\"; break;
      case 0x0a: out += "\\n"; break;
      case 0x0d: out += "\\r"; break;
      case 0x09: out += "\\t"; break;
      case 0x08: out += "\\b"; break;
      case 0x0c: out += "\\f"; break;
      default:
        out += "\\u" + HEX[(c >> 12) & 15] + HEX[(c >> 8) & 15] + HEX[(c >> 4) & 15] + HEX[c & 15];
    }
  }
  out += s.slice(from) + '"';
  if (s.length <= QUOTE_CACHE_MAX_LEN) {
    if (quoted.size >= QUOTE_CACHE_MAX) quoted.clear();
    quoted.set(s, out);
  }
  return out;
}
