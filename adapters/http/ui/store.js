// What the page knows: tasks and agents by id, kept current from snapshots, pushes and REST
// reads. Changes are collected here and taken once per animation frame by the views.

import { isTerminal, timeKey } from "./format.js";
import { mergeTask } from "./merge.js";

const HISTORY_LIMIT = 100;
// The page's memory stays bounded however long it stays open: past this, the oldest tasks
// are forgotten (the table shows at most the newest 500 anyway; REST still has them all).
const TASK_LIMIT = 20000;

// Newest first by (created_at, task_id), as the API lists them.
function newerFirst(a, b) {
  const byTime = timeKey(b.created_at) - timeKey(a.created_at);
  if (byTime) return byTime;
  return a.task_id < b.task_id ? 1 : a.task_id > b.task_id ? -1 : 0;
}

export class TaskStore {
  constructor() {
    this.tasks = new Map();
    this.order = []; // every known task, newest first; a task's place never changes
    this.history = new Map(); // task_id -> [{at, status, progress, source}]
    this.dirty = new Set();
    this.added = false;
  }

  get size() {
    return this.tasks.size;
  }

  get(taskId) {
    return this.tasks.get(taskId);
  }

  // Keeps the newer copy (see merge.js); `source` is "push", "snapshot" or "rest"; `change`
  // is what a pushed frame says happened (its timeline kind).
  upsert(task, source, change) {
    if (!task || typeof task.task_id !== "string") return false;
    const current = this.tasks.get(task.task_id);
    if (source === "push") this.record(task, source, change);
    const merged = mergeTask(current, task);
    if (!merged) return false;
    this.tasks.set(task.task_id, merged);
    this.dirty.add(task.task_id);
    if (!current) {
      if (source !== "push") this.record(task, source);
      this.insert(merged); // last: past the limit it may forget this very task
    }
    return true;
  }

  // The task.updated frames seen for a task (and where the page first saw it).
  historyOf(taskId) {
    return this.history.get(taskId) || [];
  }

  // Pending or running tasks: after a fresh snapshot, those it lacks have moved on.
  unfinishedIds() {
    return [...this.tasks.values()].filter((t) => !isTerminal(t.status)).map((t) => t.task_id);
  }

  takeChanges() {
    const changes = { ids: this.dirty, added: this.added };
    this.dirty = new Set();
    this.added = false;
    return changes;
  }

  insert(task) {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newerFirst(this.tasks.get(this.order[mid]), task) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.order.splice(lo, 0, task.task_id);
    this.added = true;
    while (this.order.length > TASK_LIMIT) this.forget(this.order.pop());
  }

  forget(taskId) {
    this.tasks.delete(taskId);
    this.history.delete(taskId);
    this.dirty.delete(taskId);
  }

  record(task, source, change) {
    const entries = this.history.get(task.task_id) || [];
    const said = task.progress_message;
    entries.push({
      at: Date.now(),
      status: task.status,
      progress: task.progress_percent,
      message: change ? `${change}${said ? `: ${said}` : ""}` : said,
      source,
    });
    if (entries.length > HISTORY_LIMIT) entries.splice(0, entries.length - HISTORY_LIMIT);
    this.history.set(task.task_id, entries);
  }
}

const SAMPLE_LIMIT = 720; // heartbeats kept per agent: an hour at 5 s, 6 min at 0.5 s

export class AgentStore {
  constructor() {
    this.agents = new Map();
    this.samples = new Map(); // agent_id -> [{at, cpu, memory}], one per heartbeat seen
    this.dirty = false;
  }

  // Frames of one connection arrive in order, so the last word about an agent wins.
  upsert(agent) {
    if (!agent || typeof agent.agent_id !== "string") return;
    this.agents.set(agent.agent_id, agent);
    this.sample(agent);
    this.dirty = true;
  }

  // An agents snapshot is every agent there is.
  replaceAll(agents) {
    this.agents = new Map(agents.map((a) => [a.agent_id, a]));
    for (const agentId of [...this.samples.keys()]) {
      if (!this.agents.has(agentId)) this.samples.delete(agentId);
    }
    agents.forEach((a) => this.sample(a));
    this.dirty = true;
  }

  samplesOf(agentId) {
    return this.samples.get(agentId) || [];
  }

  // Resources over time come from heartbeats: the server keeps only the last one.
  sample(agent) {
    const list = this.samples.get(agent.agent_id) || [];
    const at = agent.last_heartbeat_at;
    if (list.length && list.at(-1).at === at) return;
    const r = agent.resources || {};
    list.push({ at, cpu: r.cpu_percent, memory: r.memory_percent });
    if (list.length > SAMPLE_LIMIT) list.splice(0, list.length - SAMPLE_LIMIT);
    this.samples.set(agent.agent_id, list);
  }

  sorted() {
    const key = (a) => `${a.agent_type}\u0000${a.agent_id}`;
    return [...this.agents.values()].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  }

  // Agent types with an agent not offline: work routed there will be run.
  liveTypes() {
    return new Set([...this.agents.values()].filter((a) => a.status !== "offline").map((a) => a.agent_type));
  }

  capabilities() {
    return new Set([...this.agents.values()].flatMap((a) => a.capabilities || []));
  }

  takeChanges() {
    const changed = this.dirty;
    this.dirty = false;
    return changed;
  }
}
