// One task in full: every field, its parameters, result and output (read over REST, since
// pushed copies may be summaries), and its timeline (every change, by revision).

import {
  clockTime,
  formatDuration,
  formatTimestamp,
  formatValue,
  h,
  isTerminal,
  setText,
  zoneLabel,
} from "./format.js";
import { drawAttempts, segmentsOf } from "./attempts.js";
import { loadTimeline } from "./timeline.js";

const FIELDS = [
  ["Waiting", (t) => waitingText(t)],
  ["Cancel", (t) => (t.cancel_outcome ? t.cancel_outcome.replaceAll("_", " ") : t.cancel_outcome)],
  ["Concurrency", (t) => concurrencyText(t)],
  ["Work type", "work_type"],
  ["Agent type", "agent_type"],
  ["Agent", "agent_id"],
  ["Priority", "priority"],
  ["Attempt", (t) => (t.attempt === undefined ? undefined : `${t.attempt} of ${t.max_attempts ?? "?"}`)],
  ["Progress", (t) => progressText(t)],
  ["Exit code", "exit_code"],
  ["Duration", (t) => (typeof t.duration_ms === "number" ? formatDuration(t.duration_ms) : t.duration_ms)],
  ["Timeout", (t) => (typeof t.timeout_s === "number" ? `${t.timeout_s} s` : t.timeout_s)],
  ["Trace", "trace_id"],
  ["Rerun of", "rerun_of"],
  ["Schedule", "schedule_id"],
  ["Scheduled for", (t) => formatTimestamp(t.scheduled_at)],
  ["Request", "request_id"],
  ["Created", (t) => formatTimestamp(t.created_at)],
  ["Started", (t) => formatTimestamp(t.started_at)],
  ["Updated", (t) => formatTimestamp(t.updated_at)],
  ["Finished", (t) => formatTimestamp(t.finished_at)],
  ["Deadline", (t) => formatTimestamp(t.deadline_at)],
];
// Fields a summary may leave out: their absence means "load the task over REST".
const DETAIL_FIELDS = ["parameters", "result", "output"];

function waitingText(task) {
  if (!task.waiting_reason) return task.waiting_reason;
  const why = task.waiting_reason.replaceAll("_", " ");
  return task.waiting_until ? `${why} until ${formatTimestamp(task.waiting_until)}` : why;
}

// "db-1 · max 1 running · admitted 12:00:03" (null: no key; undefined: not loaded yet).
function concurrencyText(task) {
  if (!task.concurrency_key) return task.concurrency_key;
  const slot = task.admitted_at ? `admitted ${formatTimestamp(task.admitted_at)}` : "not admitted yet";
  return `${task.concurrency_key} · max ${task.concurrency_max_running} running · ${slot}`;
}

function progressText(task) {
  if (task.progress_percent === undefined) return undefined;
  const parts = [];
  if (typeof task.progress_percent === "number") parts.push(`${task.progress_percent}%`);
  if (task.progress_message) parts.push(task.progress_message);
  return parts.length ? parts.join(" · ") : null;
}

// History entries carry the API's ISO time, or (changes seen live) epoch milliseconds.
function stamp(at) {
  return typeof at === "number" ? new Date(at).toISOString() : at;
}

export class DetailView {
  constructor(root, store, { api, schedule, onCancel, onRerun, onClose }) {
    this.root = root;
    this.store = store;
    this.api = api;
    this.schedule = schedule;
    this.taskId = null;
    this.loading = false;
    this.el = (role) => root.querySelector(`[data-role=${role}]`);
    this.fields = new Map(FIELDS.map(([label, field]) => [field, h("dd")]));
    const list = this.el("fields");
    for (const [label, field] of FIELDS) list.append(h("dt", { textContent: label }), this.fields.get(field));
    this.el("close").addEventListener("click", () => onClose());
    this.el("cancel").addEventListener("click", () => onCancel(this.taskId));
    this.el("rerun").addEventListener("click", () => onRerun(this.taskId));
  }

  open(taskId) {
    this.taskId = taskId;
    this.root.hidden = false;
    setText(this.el("task-id"), taskId);
    setText(this.el("cancel-answer"), "");
    setText(this.el("rerun-answer"), "");
    this.show();
    this.load();
  }

  // Shown again as it is (the time zone changed).
  refresh() {
    if (this.taskId) this.show();
  }

  close() {
    this.taskId = null;
    this.root.hidden = true;
  }

  render(changes) {
    if (!this.taskId || !changes.ids.has(this.taskId)) return;
    this.show();
    const task = this.store.get(this.taskId);
    if (task && DETAIL_FIELDS.some((f) => !(f in task))) this.load();
  }

  showRerunAnswer(taskId, text, ok) {
    if (taskId !== this.taskId) return;
    const answer = this.el("rerun-answer");
    setText(answer, text);
    answer.dataset.ok = String(ok);
  }

  showCancelAnswer(taskId, text, ok) {
    if (taskId !== this.taskId) return;
    const answer = this.el("cancel-answer");
    setText(answer, text);
    answer.dataset.ok = String(ok);
  }

  async load() {
    if (this.loading) return;
    const taskId = this.taskId;
    this.loading = true;
    setText(this.el("load"), "loading…");
    try {
      this.store.upsert(await this.api.status(taskId), "rest");
      setText(this.el("load"), "");
    } catch (err) {
      setText(this.el("load"), `could not load the task: ${err.message}`);
    } finally {
      this.loading = false;
      this.schedule();
    }
  }

  show() {
    const task = this.store.get(this.taskId);
    if (!task) return;
    const chip = this.el("chip");
    setText(chip, task.status.replace("_", " "));
    chip.dataset.status = task.status;
    this.el("cancel").hidden = isTerminal(task.status);
    this.el("rerun").hidden = !isTerminal(task.status);
    for (const [, field] of FIELDS) {
      const value = typeof field === "function" ? field(task) : task[field];
      setText(this.fields.get(field), formatValue(value));
    }
    setText(this.el("error"), formatValue(task.error_message));
    for (const field of DETAIL_FIELDS) setText(this.el(field), formatValue(task[field]));
    this.showHistory();
  }

  async showHistory() {
    const taskId = this.taskId;
    const { entries, events, complete } = await loadTimeline(taskId, this.store, this.api);
    if (taskId !== this.taskId) return;
    drawAttempts(this.el("attempts"), segmentsOf(events), Date.now());
    const rows = entries.map((e) =>
      h("tr", {},
        h("td", { className: "mono", textContent: clockTime(e.at), title: formatTimestamp(stamp(e.at)) }),
        h("td", {}, h("span", { className: "chip", dataset: { status: e.status }, textContent: e.status })),
        h("td", { className: "num", textContent: typeof e.progress === "number" ? `${e.progress}%` : "" }),
        h("td", { className: "muted message", textContent: e.source === "push" ? e.message || "" : `(${e.source})` })));
    this.el("history").replaceChildren(...rows);
    setText(this.el("history-zone"), `(${zoneLabel()})`);
    setText(this.el("history-note"), complete ? "" : "changes this page has seen since it opened");
  }
}
