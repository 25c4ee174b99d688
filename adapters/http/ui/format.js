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

// Times show in the browser's zone or in UTC, always saying which (the switch in the header).
const ZONE_KEY = "chiffon.timeZone";
let zone = readZone();

function readZone() {
  try {
    return localStorage.getItem(ZONE_KEY) === "utc" ? "utc" : "local";
  } catch {
    return "local";
  }
}

export function timeZone() {
  return zone;
}

// Kept in localStorage once chosen (a display choice, not a secret).
export function setTimeZone(choice) {
  zone = choice === "utc" ? "utc" : "local";
  try {
    localStorage.setItem(ZONE_KEY, zone);
  } catch {
    // storage refused (private mode): the choice lasts for this page
  }
}

// "UTC" or the browser's offset at that instant, like "UTC+05:30" (it changes with DST).
export function zoneLabel(ms = Date.now()) {
  if (zone === "utc") return "UTC";
  const offset = -new Date(ms).getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  return `UTC${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
}

function parts(ms) {
  const d = new Date(ms);
  if (zone === "utc") {
    return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(),
      d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()];
  }
  return [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(),
    d.getSeconds(), d.getMilliseconds()];
}

// The time of day to the millisecond (changes of one task are often milliseconds apart), from
// epoch milliseconds or an ISO 8601 string (the API's timestamps).
export function clockTime(value) {
  const ms = typeof value === "string" ? timeMs(value) : value;
  if (!Number.isFinite(ms)) return "—";
  const [, , , hh, mm, ss, milli] = parts(ms);
  return `${pad(hh)}:${pad(mm)}:${pad(ss)}.${pad(milli, 3)}`;
}

export function formatTimestamp(iso) {
  if (iso === undefined) return "not loaded";
  if (iso === null) return "—";
  const ms = timeMs(iso);
  if (!Number.isFinite(ms)) return String(iso);
  const [year, month, day] = parts(ms);
  return `${year}-${pad(month)}-${pad(day)} ${clockTime(ms)} ${zoneLabel(ms)}`;
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
