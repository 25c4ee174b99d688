// The agents table: one keyed row per agent, CPU and memory bars, a ticking heartbeat age.

import { formatAge, h, percent, setBar, setText, shortId, timeMs } from "./format.js";

export class AgentsView {
  constructor({ body, empty, count }, store) {
    this.body = body;
    this.empty = empty;
    this.count = count;
    this.store = store;
    this.rows = new Map();
  }

  render(changed, now) {
    if (!changed) return;
    const agents = this.store.sorted();
    const keep = new Set(agents.map((a) => a.agent_id));
    for (const [agentId, row] of this.rows) {
      if (!keep.has(agentId)) {
        row.tr.remove();
        this.rows.delete(agentId);
      }
    }
    let cursor = this.body.firstChild;
    for (const agent of agents) {
      let row = this.rows.get(agent.agent_id);
      if (!row) {
        row = this.createRow(agent);
        this.rows.set(agent.agent_id, row);
      }
      if (row.tr !== cursor) this.body.insertBefore(row.tr, cursor);
      else cursor = cursor.nextSibling;
      this.update(row, agent, now);
    }
    this.empty.hidden = agents.length > 0;
    const online = agents.filter((a) => a.status !== "offline").length;
    setText(this.count, agents.length ? `${online} of ${agents.length} online` : "");
  }

  tick(now) {
    for (const [agentId, row] of this.rows) {
      setText(row.heartbeat, heartbeatAge(this.store.agents.get(agentId), now));
    }
  }

  createRow(agent) {
    const meter = () => {
      const fill = h("span", { className: "bar-fill" });
      const text = h("span", { className: "bar-text" });
      return { fill, text, td: h("td", { className: "meter" }, h("span", { className: "bar" }, fill), text) };
    };
    const row = {
      type: h("td", { className: "agent-type" }),
      chip: h("span", { className: "chip" }),
      running: h("td", { className: "num" }),
      cpu: meter(),
      memory: meter(),
      heartbeat: h("td", { className: "age num" }),
    };
    const id = h("td", { className: "mono", title: agent.agent_id, textContent: shortId(agent.agent_id) });
    row.tr = h("tr", { dataset: { agentId: agent.agent_id } }, row.type, id,
      h("td", {}, row.chip), row.running, row.cpu.td, row.memory.td, row.heartbeat);
    return row;
  }

  update(row, agent, now) {
    setText(row.type, agent.agent_type);
    setText(row.chip, agent.status);
    if (row.chip.dataset.status !== agent.status) row.chip.dataset.status = agent.status;
    const running = Array.isArray(agent.running_tasks) ? agent.running_tasks.length : 0;
    setText(row.running, `${running} / ${agent.max_concurrency ?? "?"}`);
    const resources = agent.resources || {};
    showMeter(row.cpu, percent(resources.cpu_percent));
    showMeter(row.memory, percent(resources.memory_percent));
    setText(row.heartbeat, heartbeatAge(agent, now));
  }
}

function showMeter(meter, value) {
  setBar(meter.fill, value);
  setText(meter.text, value === null ? "—" : `${Math.round(value)}%`);
}

function heartbeatAge(agent, now) {
  return `${formatAge(now - timeMs(agent.last_heartbeat_at))} ago`;
}
