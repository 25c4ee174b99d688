// The Schedules tab: one keyed row per schedule (when, next fire time, its last runs, its
// state) with pause / resume / trigger; kept live by the `schedules` topic's frames.

import { clockTime, formatTimestamp, h, setText, shortId, timeMs } from "./format.js";

const LAST_RUNS = 5;

export class SchedulesView {
  // `api` reads a schedule's last runs and acts; `onOpenTask(id)` opens a run's detail;
  // `say(text, ok)` reports an action's answer; `schedule()` asks for a render.
  constructor({ body, empty, count }, { api, onOpenTask, say, schedule }) {
    this.schedule = schedule;
    this.body = body;
    this.empty = empty;
    this.count = count;
    this.api = api;
    this.onOpenTask = onOpenTask;
    this.say = say;
    this.schedules = new Map(); // schedule_id -> the schedule as last pushed or read
    this.runs = new Map(); // schedule_id -> its last runs, newest first
    this.rows = new Map();
    this.loading = new Set(); // schedules whose last runs are being read
    this.again = new Set(); // ... and read again once that read is back (it may be stale)
    this.dirty = true;
    body.addEventListener("click", (event) => this.onClick(event));
  }

  // The topic's snapshot: every schedule there is.
  replaceAll(schedules) {
    this.schedules = new Map(schedules.map((s) => [s.schedule_id, s]));
    for (const id of [...this.runs.keys()]) if (!this.schedules.has(id)) this.runs.delete(id);
    schedules.forEach((s) => this.loadRuns(s.schedule_id));
    this.dirty = true;
  }

  // One `schedule.updated` frame: a copy older than the one shown changes nothing.
  apply(change, schedule) {
    const id = schedule.schedule_id;
    const shown = this.schedules.get(id);
    if (shown && shown.revision >= schedule.revision) return;
    if (change === "deleted") {
      this.schedules.delete(id);
      this.runs.delete(id);
    } else {
      this.schedules.set(id, schedule);
      if (change === "fired" || change === "triggered" || !shown) this.loadRuns(id);
    }
    this.dirty = true;
  }

  // A task pushed: if it is one of a schedule's runs, its status chip follows it.
  onTask(task) {
    const id = task.schedule_id;
    if (!id || !this.schedules.has(id)) return;
    const runs = this.runs.get(id) || [];
    const at = runs.findIndex((r) => r.task_id === task.task_id);
    if (at < 0) return this.loadRuns(id);
    if ((runs[at].revision ?? 0) >= (task.revision ?? 0)) return;
    runs[at] = task;
    this.dirty = true;
  }

  async loadRuns(id) {
    if (this.loading.has(id)) {
      this.again.add(id);
      return;
    }
    this.loading.add(id);
    try {
      const view = await this.api.schedule(id);
      this.runs.set(id, view.last_runs.slice(0, LAST_RUNS));
      this.dirty = true;
      this.schedule();
    } catch (err) {
      if (err.status !== 404) console.info("schedule runs:", err.message);
    } finally {
      this.loading.delete(id);
      if (this.again.delete(id) && this.schedules.has(id)) this.loadRuns(id);
    }
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    const schedules = [...this.schedules.values()].sort((a, b) =>
      a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0,
    );
    const keep = new Set(schedules.map((s) => s.schedule_id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    }
    let cursor = this.body.firstChild;
    for (const schedule of schedules) {
      let row = this.rows.get(schedule.schedule_id);
      if (!row) {
        row = createRow(schedule);
        this.rows.set(schedule.schedule_id, row);
      }
      if (row.tr !== cursor) this.body.insertBefore(row.tr, cursor);
      else cursor = cursor.nextSibling;
      update(row, schedule, this.runs.get(schedule.schedule_id) || []);
    }
    this.empty.hidden = schedules.length > 0;
    const paused = schedules.filter((s) => s.paused).length;
    setText(this.count, schedules.length ? `${schedules.length}${paused ? `, ${paused} paused` : ""}` : "");
  }

  async onClick(event) {
    const run = event.target.closest("[data-run-id]");
    if (run) return this.onOpenTask(run.dataset.runId);
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const id = button.closest("tr").dataset.scheduleId;
    const action = button.dataset.action;
    button.disabled = true;
    try {
      const answer = await this.api.scheduleAction(id, action);
      if (action === "trigger") this.say(`schedule ${shortId(id)}: triggered task ${shortId(answer.task_id)}`, true);
      else this.apply(action === "pause" ? "paused" : "resumed", answer);
      this.schedule();
    } catch (err) {
      this.say(`schedule ${shortId(id)}: ${err.message}`, false);
    } finally {
      button.disabled = false;
    }
  }
}

function createRow(schedule) {
  const row = {
    note: h("span", { className: "muted schedule-note" }),
    workType: h("td", { className: "work-type" }),
    when: h("td", { className: "when" }),
    next: h("td", { className: "next" }),
    runCount: h("td", { className: "num runs" }),
    lastRuns: h("td", { className: "last-runs" }),
    state: h("span", { className: "chip" }),
    toggle: h("button", { type: "button", className: "secondary" }),
    trigger: h("button", { type: "button", textContent: "Trigger", dataset: { action: "trigger" } }),
  };
  const id = h("td", { className: "mono", title: schedule.schedule_id, textContent: shortId(schedule.schedule_id) }, " ", row.note);
  row.tr = h("tr", { dataset: { scheduleId: schedule.schedule_id } }, id, row.workType, row.when,
    row.next, row.runCount, row.lastRuns, h("td", {}, row.state),
    h("td", { className: "actions" }, row.toggle, " ", row.trigger));
  return row;
}

function update(row, schedule, runs) {
  setText(row.note, schedule.note || "");
  setText(row.workType, schedule.work_type);
  setText(row.when, whenText(schedule));
  setText(row.next, nextText(schedule));
  row.next.title = schedule.next_fire_at ? formatTimestamp(schedule.next_fire_at) : "";
  setText(row.runCount, String(schedule.runs ?? 0));
  const state = schedule.paused ? "paused" : schedule.next_fire_at ? "active" : "over";
  setText(row.state, state);
  if (row.state.dataset.status !== state) row.state.dataset.status = state;
  setText(row.toggle, schedule.paused ? "Resume" : "Pause");
  row.toggle.dataset.action = schedule.paused ? "resume" : "pause";
  const chips = runs.map((run) =>
    h("button", {
      type: "button",
      className: "chip run",
      textContent: run.status,
      title: `task ${run.task_id}, scheduled for ${formatTimestamp(run.scheduled_at)}`,
      dataset: { runId: run.task_id, status: run.status },
    }),
  );
  const text = runs.map((r) => `${r.task_id}:${r.status}`).join(",");
  if (row.lastRuns.dataset.shown !== text) {
    row.lastRuns.replaceChildren(...(chips.length ? chips : [h("span", { className: "muted", textContent: "none yet" })]));
    row.lastRuns.dataset.shown = text;
  }
}

function whenText(schedule) {
  if (schedule.cron) return `cron ${schedule.cron} (${schedule.timezone})`;
  return `every ${schedule.interval_s} s`;
}

// The clock time within the next day, else the date and time (the title has it in full).
function nextText(schedule) {
  if (schedule.paused) return "paused";
  if (!schedule.next_fire_at) return "over";
  const ms = timeMs(schedule.next_fire_at);
  if (ms - Date.now() < 86_400_000) return clockTime(ms);
  return formatTimestamp(schedule.next_fire_at);
}
