// One agent's page: what it is, its resources over time (the heartbeats this page has seen,
// bounded), and the tasks it ran (GET /api/v1/tasks?agent=ID) with their counts.

import { formatAge, formatDuration, formatTimestamp, h, isTerminal, setText, shortId, timeMs } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const TASKS = 500; // counted over its newest tasks, one API page
const SHOWN = 20;
const REFRESH_MS = 5000;

export class AgentView {
  constructor(root, agents, { api, onOpenTask, onClose }) {
    this.root = root;
    this.agents = agents;
    this.api = api;
    this.agentId = null;
    this.timer = null;
    this.el = (role) => root.querySelector(`[data-role=${role}]`);
    this.el("close").addEventListener("click", () => onClose());
    this.el("tasks").addEventListener("click", (event) => {
      const tr = event.target.closest("tr[data-task-id]");
      if (tr) onOpenTask(tr.dataset.taskId);
    });
  }

  open(agentId) {
    this.agentId = agentId;
    this.root.hidden = false;
    setText(this.el("agent-id"), agentId);
    this.el("tasks").replaceChildren();
    setText(this.el("counts"), "loading…");
    this.render();
    this.loadTasks();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.loadTasks(), REFRESH_MS);
  }

  close() {
    this.agentId = null;
    this.root.hidden = true;
    clearInterval(this.timer);
  }

  // On every change of the agents (a heartbeat), while open.
  render() {
    const agent = this.agentId && this.agents.agents.get(this.agentId);
    if (!agent) return;
    const chip = this.el("chip");
    setText(chip, agent.status);
    chip.dataset.status = agent.status;
    const running = Array.isArray(agent.running_tasks) ? agent.running_tasks : [];
    const fields = [
      ["Type", agent.agent_type],
      ["Serves", (agent.capabilities || []).join(", ") || "—"],
      ["Running", `${running.length} of ${agent.max_concurrency ?? "?"}${running.length ? `: ${running.map(shortId).join(", ")}` : ""}`],
      ["Heartbeat", `${formatAge(Date.now() - timeMs(agent.last_heartbeat_at))} ago (${formatTimestamp(agent.last_heartbeat_at)})`],
    ];
    this.el("fields").replaceChildren(...fields.flatMap(([k, v]) => [h("dt", { textContent: k }), h("dd", { textContent: v })]));
    this.drawResources(this.agents.samplesOf(this.agentId));
  }

  drawResources(samples) {
    const chart = this.el("resources");
    const line = (key, className) => {
      const points = samples
        .map((s, i) => (typeof s[key] === "number" ? `${(i / Math.max(1, samples.length - 1)) * 300},${80 - (Math.min(100, s[key]) / 100) * 76}` : null))
        .filter((p) => p !== null);
      const node = document.createElementNS(SVG, "polyline");
      node.setAttribute("points", points.join(" "));
      node.setAttribute("class", `series ${className}`);
      return node;
    };
    chart.replaceChildren(line("cpu", "cpu"), line("memory", "memory"));
    const last = samples.at(-1) || {};
    const pct = (v) => (typeof v === "number" ? `${Math.round(v)}%` : "—");
    setText(this.el("resources-legend"),
      `CPU ${pct(last.cpu)} · memory ${pct(last.memory)} · ${samples.length} heartbeats seen by this page`);
  }

  async loadTasks() {
    const agentId = this.agentId;
    try {
      const page = await this.api.tasks({ agent: agentId, limit: TASKS });
      if (agentId !== this.agentId) return;
      this.showTasks(page.items, page.next_cursor !== null);
    } catch (err) {
      setText(this.el("counts"), `could not read its tasks: ${err.message}`);
    }
  }

  showTasks(tasks, more) {
    const count = (status) => tasks.filter((t) => t.status === status).length;
    const of = more ? ` (its newest ${tasks.length})` : "";
    setText(this.el("counts"), `${tasks.length}${more ? "+" : ""} tasks${of}: running ${count("running")} · ` +
      `completed ${count("completed")} · failed ${count("failed")} · timed out ${count("timed_out")} · cancelled ${count("cancelled")}`);
    const rows = tasks.slice(0, SHOWN).map((t) => {
      const took = isTerminal(t.status) && typeof t.duration_ms === "number" ? formatDuration(t.duration_ms) : "";
      return h("tr", { dataset: { taskId: t.task_id }, tabIndex: 0 },
        h("td", { className: "mono", textContent: shortId(t.task_id) }),
        h("td", { textContent: t.work_type }),
        h("td", {}, h("span", { className: "chip", dataset: { status: t.status }, textContent: t.status.replace("_", " ") })),
        h("td", { className: "num", textContent: took }));
    });
    this.el("tasks").replaceChildren(...rows);
  }
}
