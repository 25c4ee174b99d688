// A task's attempts from its timeline (GET /api/v1/tasks/{id}/events): for each attempt, how
// long it waited and ran, and why, drawn to scale. Pure: events in, segments and nodes out.

import { formatDuration, h, shortId, timeMs } from "./format.js";

const LIVE = new Set(["pending", "running"]);

// Events in revision order -> [{attempt, phase: "waiting"|"running", from, to, reasons,
// agent, end}], `to` null while it lasts.
export function segmentsOf(events) {
  const segments = [];
  let current = null;
  let attempt = 1;
  let status = null;
  for (const event of events) {
    const changes = event.changes || {};
    const at = timeMs(event.at);
    if (typeof changes.attempt === "number") attempt = changes.attempt;
    if (event.status !== status || (current && current.attempt !== attempt)) {
      if (current) {
        current.to = at;
        current.end = endText(event, changes);
      }
      current = null;
      if (LIVE.has(event.status)) {
        current = {
          attempt,
          phase: event.status === "pending" ? "waiting" : "running",
          from: at, to: null, reasons: [], agent: changes.agent_id || null, end: "",
        };
        segments.push(current);
      }
      status = event.status;
    }
    const reason = changes.waiting_reason;
    if (current && reason && current.reasons.at(-1) !== reason) current.reasons.push(reason);
  }
  return segments;
}

const RETRIED_AFTER = { retried: "agent lost", finished: "failed", timed_out: "timed out" };

// How a segment ended, said by the event that ended it ("" when it simply started running).
function endText(event, changes) {
  const why = changes.error_message ? `: ${changes.error_message}` : "";
  if (event.status === "running") return "";
  if (event.status === "pending") return `${RETRIED_AFTER[event.kind] || event.kind}, retried${why}`;
  return `${event.status.replaceAll("_", " ")}${why}`;
}

export function describe(segment, now) {
  const took = formatDuration((segment.to ?? now) - segment.from);
  const phase = segment.phase === "waiting" ? "waited" : "ran";
  const reasons = segment.reasons.length ? ` (${segment.reasons.map((r) => r.replaceAll("_", " ")).join(" → ")})` : "";
  const agent = segment.agent ? ` on agent ${shortId(segment.agent)}` : "";
  const end = segment.to === null ? ", still going" : segment.end ? ` → ${segment.end}` : "";
  return `attempt ${segment.attempt}: ${phase} ${took}${agent}${reasons}${end}`;
}

// One row per attempt, each segment placed and sized by its share of the whole span.
export function drawAttempts(root, segments, now) {
  if (!segments.length) return root.replaceChildren();
  const start = segments[0].from;
  const span = Math.max(1, Math.max(...segments.map((s) => s.to ?? now)) - start);
  const attempts = [...new Set(segments.map((s) => s.attempt))];
  const rows = attempts.map((n) => {
    const track = h("div", { className: "track" });
    for (const s of segments.filter((x) => x.attempt === n)) {
      const bar = h("span", { className: `segment ${s.phase}`, title: describe(s, now) });
      bar.style.left = `${((s.from - start) / span) * 100}%`;
      bar.style.width = `${Math.max(0.5, (((s.to ?? now) - s.from) / span) * 100)}%`;
      if (s.to === null) bar.classList.add("ongoing");
      track.append(bar);
    }
    return h("div", { className: "attempt-row" }, h("span", { className: "muted", textContent: `#${n}` }), track);
  });
  const list = h("ul", { className: "attempt-notes" },
    ...segments.map((s) => h("li", { textContent: describe(s, now) })));
  root.replaceChildren(...rows, list);
}
