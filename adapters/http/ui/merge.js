// Which copy of a task is newer, and how two copies combine. Pure, so it is easy to test.

import { isTerminal, timeKey } from "./format.js";

const RANK = { pending: 0, running: 1 };

function rank(status) {
  if (status in RANK) return RANK[status];
  return isTerminal(status) ? 2 : -1;
}

function progressOf(task) {
  return typeof task.progress_percent === "number" ? task.progress_percent : -1;
}

// > 0 when `a` is newer than `b`, < 0 when older, 0 when neither says more. A `revision`
// (a later issue numbers every change of a task) decides alone when both copies carry one.
export function compareTasks(a, b) {
  if (typeof a.revision === "number" && typeof b.revision === "number") {
    return a.revision - b.revision;
  }
  const byTime = timeKey(a.updated_at) - timeKey(b.updated_at);
  if (byTime) return byTime;
  const byAttempt = (a.attempt || 0) - (b.attempt || 0);
  if (byAttempt) return byAttempt;
  const byRank = rank(a.status) - rank(b.status);
  if (byRank) return byRank;
  return progressOf(a) - progressOf(b);
}

// Fields a task never changes after dispatch: an older copy may fill them in for a summary.
const FIXED_FIELDS = ["parameters", "trace_id", "request_id", "work_type", "agent_type"];

// Returns the copy to keep, or null when `incoming` adds nothing to `current`.
// A summary (a copy without parameters, result or output) keeps those fields missing,
// never empty: missing means "not known here", and the detail view loads them over REST.
export function mergeTask(current, incoming) {
  if (!current) return { ...incoming };
  const order = compareTasks(incoming, current);
  if (order < 0) return null;
  if (order === 0) return fillMissing(current, incoming);
  const merged = { ...incoming };
  for (const field of FIXED_FIELDS) {
    if (!(field in merged) && field in current) merged[field] = current[field];
  }
  return merged;
}

// The same version seen twice (a summary, then the full task over REST): take what it adds.
function fillMissing(current, incoming) {
  const missing = Object.keys(incoming).filter((k) => !(k in current));
  if (!missing.length) return null;
  const merged = { ...current };
  for (const key of missing) merged[key] = incoming[key];
  return merged;
}
