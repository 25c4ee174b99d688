// Pure helpers that turn values into text or DOM nodes; no state, no I/O.

export const TERMINAL = new Set(["completed", "failed", "cancelled", "timed_out"]);

export function isTerminal(status) {
  return TERMINAL.has(status);
}

// Why a pending task waits, or how its cancel ended ("no agent", "too late"); "" otherwise.
export function whyText(task) {
  const why = task.waiting_reason || task.cancel_outcome;
  return why ? why.replaceAll("_", " ") : "";
}

export function shortId(id) {
  return typeof id === "string" && id ? id.slice(0, 8) : "—";
}

const ISO = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/;

// Microseconds since the epoch: the API's timestamps carry microseconds, and two changes of
// one task can land in the same millisecond, so Date.parse alone cannot order them.
export function timeKey(iso) {
  if (typeof iso !== "string") return Number.NaN;
  const m = ISO.exec(iso);
  if (!m) return Date.parse(iso) * 1000;
  const micros = Number(((m[2] || "") + "000000").slice(0, 6));
  return Date.parse(m[1] + (m[3] || "Z")) * 1000 + micros;
}

export function timeMs(iso) {
  return typeof iso === "string" ? Date.parse(iso) : Number.NaN;
}

export function formatAge(ms) {
  if (!Number.isFinite(ms)) return "—";
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`;
}

export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return formatAge(ms);
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

// Local time to the millisecond: changes of one task are often milliseconds apart.
export function clockTime(ms) {
  if (!Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function formatTimestamp(iso) {
  if (iso === undefined) return "not loaded";
  if (iso === null) return "—";
  const ms = timeMs(iso);
  if (!Number.isFinite(ms)) return String(iso);
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clockTime(ms)}`;
}

// A field a summary left out is unknown, which is not the same as empty (null).
export function formatValue(value) {
  if (value === undefined) return "not loaded";
  if (value === null || value === "") return "—";
  if (typeof value === "object") return JSON.stringify(value, null, 2);
  return String(value);
}

export function percent(value) {
  return typeof value === "number" && Number.isFinite(value)
    ? Math.max(0, Math.min(100, value))
    : null;
}

// h("td", {className: "x", dataset: {id}}, child, "text"): a tiny element builder. Text goes
// in as text nodes, never as HTML, so nothing the API returns can inject markup.
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// Sets text only when it changed: a cheap guard that keeps rows untouched between changes.
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export function setBar(bar, value) {
  const width = value === null ? "0%" : `${value}%`;
  if (bar.style.width !== width) bar.style.width = width;
}
