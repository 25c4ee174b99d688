// The tasks table: newest first, filtered, at most `limit` rows in the DOM. Rows are keyed by
// task_id, kept between renders and updated in place, one render per animation frame.

import {
  formatAge,
  formatDuration,
  h,
  isTerminal,
  percent,
  setBar,
  setText,
  shortId,
  timeMs,
  whyText,
} from "./format.js";

export const ROW_LIMIT = 500;

export function matches(task, filter) {
  if (filter.status && task.status !== filter.status) return false;
  if (filter.workType && task.work_type !== filter.workType) return false;
  if (filter.traceId && task.trace_id !== filter.traceId) return false;
  // A search's matches come from the server (it alone sees parameters, result and error).
  if (filter.found && !filter.found.has(task.task_id)) return false;
  return true;
}

// Age while it runs, how long it took once finished.
export function ageText(task, now) {
  if (isTerminal(task.status)) {
    const took = typeof task.duration_ms === "number"
      ? task.duration_ms
      : timeMs(task.finished_at || task.updated_at) - timeMs(task.created_at);
    return `took ${formatDuration(took)}`;
  }
  return formatAge(now - timeMs(task.created_at));
}

export class TasksView {
  constructor({ body, summary, empty }, store, { onSelect, onCancel, onPick }) {
    this.body = body;
    this.summary = summary;
    this.empty = empty;
    this.store = store;
    // One listener for every row, present and future.
    body.addEventListener("click", (event) => {
      const tr = event.target.closest("tr[data-task-id]");
      if (!tr) return;
      const pick = event.target.closest("[data-action=pick]");
      if (pick) {
        this.pick(tr.dataset.taskId, pick.checked);
        onPick(this.picked);
      } else if (event.target.closest("[data-action=cancel]")) onCancel(tr.dataset.taskId);
      else onSelect(tr.dataset.taskId);
    });
    body.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target.matches("tr[data-task-id]")) {
        onSelect(event.target.dataset.taskId);
      }
    });
    this.filter = { status: "", workType: "", traceId: "", found: null };
    this.filterChanged = true;
    this.rows = new Map(); // task_id -> row, only for the rows in the DOM
    this.selected = null;
    this.picked = new Set(); // rows ticked for a bulk action
  }

  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    this.filterChanged = true;
  }

  pick(taskId, on) {
    if (on) this.picked.add(taskId);
    else this.picked.delete(taskId);
    const row = this.rows.get(taskId);
    if (row) row.pick.checked = on;
  }

  clearPicks() {
    for (const taskId of [...this.picked]) this.pick(taskId, false);
  }

  select(taskId) {
    const before = this.rows.get(this.selected);
    if (before) before.tr.classList.remove("selected");
    this.selected = taskId;
    const after = this.rows.get(taskId);
    if (after) after.tr.classList.add("selected");
  }

  render(changes, now) {
    if (changes.ids.size || changes.added || this.filterChanged) {
      this.filterChanged = false;
      const { visible, total } = this.visible();
      this.reconcile(visible, changes.ids, now);
      this.showSummary(visible.length, total);
    }
  }

  // Once a second: the ages of rows still running.
  tick(now) {
    for (const [taskId, row] of this.rows) {
      const task = this.store.get(taskId);
      if (!isTerminal(task.status)) setText(row.age, ageText(task, now));
    }
  }

  visible() {
    const visible = [];
    let total = 0;
    for (const taskId of this.store.order) {
      const task = this.store.get(taskId);
      if (!matches(task, this.filter)) continue;
      total += 1;
      if (visible.length < ROW_LIMIT) visible.push(task);
    }
    return { visible, total };
  }

  reconcile(visible, changedIds, now) {
    const keep = new Set(visible.map((t) => t.task_id));
    for (const [taskId, row] of this.rows) {
      if (!keep.has(taskId)) {
        row.tr.remove();
        this.rows.delete(taskId);
      }
    }
    let cursor = this.body.firstChild;
    for (const task of visible) {
      let row = this.rows.get(task.task_id);
      if (!row) {
        row = this.createRow(task);
        this.rows.set(task.task_id, row);
        this.update(row, task, now);
      } else if (changedIds.has(task.task_id)) {
        this.update(row, task, now);
      }
      if (row.tr !== cursor) this.body.insertBefore(row.tr, cursor);
      else cursor = cursor.nextSibling;
    }
  }

  createRow(task) {
    const cell = (className) => h("td", { className });
    const row = {
      chip: h("span", { className: "chip" }),
      why: h("span", { className: "why" }),
      bar: h("span", { className: "bar-fill" }),
      progress: h("span", { className: "bar-text" }),
      workType: cell("work-type"),
      agent: cell("agent mono"),
      attempt: cell("num"),
      priority: cell("num"),
      age: cell("age num"),
      cancel: h("button", { type: "button", className: "link-button", textContent: "cancel" }),
      pick: h("input", { type: "checkbox", ariaLabel: "select this task" }),
    };
    row.pick.dataset.action = "pick";
    row.pick.checked = this.picked.has(task.task_id);
    row.cancel.dataset.action = "cancel";
    const status = h("td", { className: "status" }, row.chip, row.why);
    const progress = h("td", { className: "progress" },
      h("span", { className: "bar" }, row.bar), row.progress);
    const id = h("td", { className: "mono", textContent: shortId(task.task_id) });
    const actions = h("td", { className: "actions" }, row.cancel);
    const pick = h("td", { className: "pick" }, row.pick);
    row.tr = h("tr", { dataset: { taskId: task.task_id }, tabIndex: 0 }, pick, status, progress, row.workType,
      row.agent, row.attempt, row.priority, row.age, id, actions);
    if (task.task_id === this.selected) row.tr.classList.add("selected");
    return row;
  }

  update(row, task, now) {
    setText(row.chip, task.status.replace("_", " "));
    if (row.chip.dataset.status !== task.status) row.chip.dataset.status = task.status;
    setText(row.why, whyText(task));
    const value = percent(task.progress_percent);
    setBar(row.bar, isTerminal(task.status) && task.status === "completed" ? 100 : value);
    setText(row.progress, value === null ? "" : `${value}%`);
    setText(row.workType, task.work_type);
    setText(row.agent, task.agent_id ? shortId(task.agent_id) : `→ ${task.agent_type}`);
    row.agent.classList.toggle("muted", !task.agent_id);
    setText(row.attempt, String(task.attempt ?? "—"));
    setText(row.priority, String(task.priority ?? "—"));
    setText(row.age, ageText(task, now));
    row.cancel.hidden = isTerminal(task.status);
  }

  showSummary(shown, total) {
    this.empty.hidden = total > 0;
    const known = this.store.size;
    const filtered = total === known ? "" : ` (${known.toLocaleString()} known)`;
    const text = shown < total
      ? `showing newest ${shown.toLocaleString()} of ${total.toLocaleString()}${filtered}`
      : `${total.toLocaleString()} task${total === 1 ? "" : "s"}${filtered}`;
    setText(this.summary, text);
  }
}
