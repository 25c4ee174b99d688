// Activity over time from GET /api/v1/stats, drawn as small inline SVG charts (no library):
// throughput per interval, queue depth per agent type, run time p50/p95. Read again every
// few seconds while the page is open, so the charts stay live.

import { setText } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 300;
const H = 80;
const REFRESH_MS = 5000;
export const WINDOWS = { "15m": "15s", "1h": "1m", "24h": "15m", "7d": "2h" };

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function line(values, max, className) {
  const step = W / Math.max(1, values.length);
  const points = values
    .map((v, i) => (v === null ? null : `${(i + 0.5) * step},${H - (v / max) * (H - 4)}`))
    .filter((p) => p !== null);
  return svg("polyline", { points: points.join(" "), class: `series ${className}` });
}

export class StatsView {
  constructor(root, api) {
    this.root = root;
    this.api = api;
    this.window = "1h";
    this.timer = null;
    this.pending = null;
    this.el = (role) => root.querySelector(`[data-role=${role}]`);
    this.el("window").addEventListener("change", (event) => {
      this.window = event.target.value;
      this.load();
    });
  }

  start() {
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
  }

  // New tasks arrived: read again shortly (once per second at most), not only on the timer.
  soon() {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.load();
    }, 1000);
  }

  async load() {
    if (document.hidden) return; // a background tab asks nothing; the next tick catches up
    try {
      const stats = await this.api.stats(this.window, WINDOWS[this.window]);
      this.draw(stats);
      setText(this.el("status"), "");
    } catch (err) {
      if (err.status !== 401) setText(this.el("status"), `stats: ${err.message}`);
    }
  }

  draw(stats) {
    const rows = stats.intervals;
    const sum = (key) => rows.reduce((n, r) => n + r[key], 0);
    this.drawThroughput(rows);
    setText(this.el("throughput-legend"),
      `dispatched ${sum("dispatched")} · completed ${sum("completed")} · failed ${sum("failed")}` +
      ` · timed out ${sum("timed_out")} · cancelled ${sum("cancelled")}`);
    this.drawQueue(stats.queue_depth);
    const pending = Object.entries(stats.pending_now).map(([type, n]) => `${type} ${n}`);
    setText(this.el("queue-legend"), pending.length ? `pending now: ${pending.join(" · ")}` : "nothing pending");
    this.drawRunTime(rows);
    const last = [...rows].reverse().find((r) => r.p50_ms !== null);
    setText(this.el("runtime-legend"), last
      ? `p50 ${Math.round(last.p50_ms)} ms · p95 ${Math.round(last.p95_ms)} ms (latest interval with runs)`
      : "no run finished in this window");
  }

  drawThroughput(rows) {
    const chart = this.el("throughput");
    const max = Math.max(1, ...rows.map((r) => Math.max(r.dispatched, r.completed + r.failed + r.timed_out + r.cancelled)));
    const step = W / Math.max(1, rows.length);
    const bars = [];
    rows.forEach((r, i) => {
      let top = H;
      for (const [key, className] of [["completed", "completed"], ["failed", "failed"],
        ["timed_out", "failed"], ["cancelled", "cancelled"]]) {
        if (!r[key]) continue;
        const height = (r[key] / max) * (H - 4);
        top -= height;
        bars.push(svg("rect", { x: i * step + 0.5, y: top, width: Math.max(0.5, step - 1), height, class: `bar ${className}` }));
      }
    });
    chart.replaceChildren(...bars, line(rows.map((r) => r.dispatched), max, "dispatched"));
  }

  drawQueue(depth) {
    const chart = this.el("queue");
    const series = Object.entries(depth);
    const max = Math.max(1, ...series.flatMap(([, levels]) => levels));
    chart.replaceChildren(...series.map(([type, levels], n) => {
      const node = line(levels, max, `type-${n % 5}`);
      node.append(svg("title"));
      node.firstChild.textContent = type;
      return node;
    }));
  }

  drawRunTime(rows) {
    const chart = this.el("runtime");
    const max = Math.max(1, ...rows.map((r) => r.p95_ms ?? 0));
    chart.replaceChildren(line(rows.map((r) => r.p50_ms), max, "p50"), line(rows.map((r) => r.p95_ms), max, "p95"));
  }
}
