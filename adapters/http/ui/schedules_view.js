// The schedules panel: every schedule with its timing, next fire time, last run and runs, and
// its actions (pause / resume, trigger now). A row opens its last runs (GET the schedule);
// each run opens the task's detail. Read every few seconds, at once after an action, and
// soon after any `schedule.*` frame of the live feed.

import { formatTimestamp, h, setText, shortId } from "./format.js";

const REFRESH_MS = 5000;

function timing(s) {
  if (s.cron) return s.timezone && s.timezone !== "UTC" ? `${s.cron} (${s.timezone})` : `${s.cron} UTC`;
  return `every ${formatSeconds(s.interval_s)}`;
}

function formatSeconds(value) {
  if (value >= 3600 && value % 3600 === 0) return `${value / 3600}h`;
  if (value >= 60 && value % 60 === 0) return `${value / 60}m`;
  return `${value}s`;
}

export class SchedulesView {
  // `root` is the panel; `onOpenTask(id)` opens a task's detail; `say(text, ok)` the notice.
  constructor(root, api, { onOpenTask, say }) {
    this.root = root;
    this.api = api;
    this.onOpenTask = onOpenTask;
    this.say = say;
    this.el = (role) => root.querySelector(`[data-role=${role}]`);
    this.rows = new Map();
    this.open = null; // the schedule whose last runs are shown
    this.timer = null;
    this.pending = null;
    this.el("body").addEventListener("click", (event) => this.onClick(event));
  }

  start() {
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
  }

  // Something changed (a schedule.* frame, an action): read again shortly, once.
  soon(delayMs = 300) {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.load();
    }, delayMs);
  }

  async load() {
    if (document.hidden) return;
    try {
      const answer = await this.api.schedules();
      this.draw(answer.items);
      setText(this.el("status"), "");
      if (this.open) await this.loadRuns(this.open);
    } catch (err) {
      setText(this.el("status"), `schedules: ${err.message}`);
    }
  }

  draw(schedules) {
    const keep = new Set(schedules.map((s) => s.schedule_id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.tr.remove();
        row.runs.remove();
        this.rows.delete(id);
      }
    }
    const body = this.el("body");
    for (const s of schedules) {
      let row = this.rows.get(s.schedule_id);
      if (!row) {
        row = this.createRow(s);
        this.rows.set(s.schedule_id, row);
      }
      body.append(row.tr, row.runs); // oldest first, as the API lists them
      this.update(row, s);
    }
    this.el("empty").hidden = schedules.length > 0;
    const paused = schedules.filter((s) => s.paused).length;
    setText(this.el("count"), schedules.length ? `${schedules.length}${paused ? `, ${paused} paused` : ""}` : "");
  }

  createRow(s) {
    const cells = {
      work: h("td", { className: "mono" }),
      when: h("td"),
      next: h("td", { className: "num" }),
      last: h("td"),
      runs: h("td", { className: "num" }),
      state: h("span", { className: "chip" }),
      toggle: h("button", { type: "button", className: "link-button", dataset: { action: "toggle" } }),
      trigger: h("button", { type: "button", className: "link-button", dataset: { action: "trigger" }, textContent: "trigger now" }),
    };
    const tr = h(
      "tr",
      { className: "schedule-row", dataset: { scheduleId: s.schedule_id }, title: "show its last runs" },
      cells.work,
      cells.when,
      cells.next,
      cells.last,
      cells.runs,
      h("td", {}, cells.state),
      h("td", { className: "actions" }, cells.toggle, " ", cells.trigger),
    );
    const runs = h("tr", { className: "schedule-runs", hidden: true }, h("td", { colSpan: 7 }));
    return { tr, runs, cells };
  }

  update(row, s) {
    const c = row.cells;
    setText(c.work, s.note ? `${s.work_type} · ${s.note}` : s.work_type);
    setText(c.when, timing(s));
    setText(c.next, s.paused ? "—" : s.next_fire_at ? formatTimestamp(s.next_fire_at) : "over");
    c.last.replaceChildren(
      s.last_task_id
        ? h("a", { href: "#", className: "mono", dataset: { taskId: s.last_task_id }, textContent: shortId(s.last_task_id) })
        : "—",
      s.last_fired_at ? ` ${formatTimestamp(s.last_fired_at)}` : "",
    );
    setText(c.runs, String(s.runs));
    const state = s.paused ? "paused" : s.next_fire_at ? "active" : "over";
    setText(c.state, state);
    c.state.dataset.status = state;
    setText(c.toggle, s.paused ? "resume" : "pause");
    c.toggle.dataset.action = s.paused ? "resume" : "pause";
  }

  async onClick(event) {
    const link = event.target.closest("a[data-task-id]");
    if (link) {
      event.preventDefault();
      return this.onOpenTask(link.dataset.taskId);
    }
    const tr = event.target.closest("tr[data-schedule-id]");
    if (!tr) return;
    const id = tr.dataset.scheduleId;
    const button = event.target.closest("button[data-action]");
    if (button) return this.act(id, button.dataset.action, button);
    this.open = this.open === id ? null : id;
    for (const [other, row] of this.rows) row.runs.hidden = other !== this.open;
    if (this.open) await this.loadRuns(id);
  }

  async act(id, action, button) {
    button.disabled = true;
    try {
      const answer = await this.api.scheduleAction(id, action);
      const what = action === "trigger" ? `fired task ${shortId(answer.task_id)}` : `${action}d`;
      this.say(`schedule ${shortId(id)}: ${what}`, true);
    } catch (err) {
      this.say(`schedule ${shortId(id)}: ${err.message}`, false);
    } finally {
      button.disabled = false;
      this.soon(0);
    }
  }

  async loadRuns(id) {
    const row = this.rows.get(id);
    if (!row) return;
    const cell = row.runs.firstChild;
    try {
      const detail = await this.api.schedule(id);
      const runs = detail.last_runs.map((t) =>
        h(
          "li",
          {},
          h("a", { href: "#", className: "mono", dataset: { taskId: t.task_id }, textContent: shortId(t.task_id) }),
          " ",
          h("span", { className: "chip", dataset: { status: t.status }, textContent: t.status }),
          ` ${formatTimestamp(t.scheduled_at || t.created_at)}`,
        ),
      );
      const next = detail.upcoming.slice(0, 3).map(formatTimestamp).join(", ");
      cell.replaceChildren(
        runs.length ? h("ul", { className: "runs" }, ...runs) : h("p", { className: "muted", textContent: "No runs yet." }),
        next ? h("p", { className: "muted", textContent: `next: ${next}` }) : "",
      );
    } catch (err) {
      cell.replaceChildren(h("p", { className: "muted", textContent: `last runs: ${err.message}` }));
    }
  }
}
