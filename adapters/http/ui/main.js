// The dashboard's entry point: builds the stores, views and the live feed, and wires them.

import { AgentView } from "./agent_view.js";
import { AgentsView } from "./agents_view.js";
import { BulkCancel } from "./bulk_cancel.js";
import { Api } from "./api.js";
import { ConnectionBadge } from "./connection_badge.js";
import { DetailView } from "./detail_view.js";
import { DispatchForm, newTaskId } from "./dispatch_form.js";
import { shortId } from "./format.js";
import { LiveFeed, socketUrl } from "./live.js";
import { RestSync } from "./rest_sync.js";
import { frameScheduler } from "./scheduler.js";
import { AgentStore, TaskStore } from "./store.js";
import { SchedulesView } from "./schedules_view.js";
import { StatsView } from "./stats_view.js";
import { bindFilters } from "./task_filters.js";
import { TasksView } from "./tasks_view.js";
import { TokenPrompt, TokenStore } from "./token.js";
import { ZoneSwitch } from "./zone_switch.js";

const byId = (id) => document.getElementById(id);

class Dashboard {
  constructor() {
    this.tokens = new TokenStore();
    this.prompt = new TokenPrompt(byId("token-dialog"), this.tokens);
    this.api = new Api(this.tokens, () => this.reauthorize());
    this.tasks = new TaskStore();
    this.agents = new AgentStore();
    this.schedule = frameScheduler(() => this.render());
    this.badge = new ConnectionBadge(byId("conn"));
    this.tasksView = new TasksView(
      { body: byId("tasks-body"), summary: byId("tasks-summary"), empty: byId("tasks-empty") },
      this.tasks,
      {
        onSelect: (id) => this.select(id),
        onCancel: (id) => this.cancel(id),
        onPick: () => this.bulk.show(),
      },
    );
    this.agentsView = new AgentsView(
      { body: byId("agents-body"), empty: byId("agents-empty"), count: byId("agents-count") },
      this.agents,
    );
    this.detail = new DetailView(byId("detail"), this.tasks, {
      api: this.api,
      schedule: this.schedule,
      onCancel: (id) => this.cancel(id),
      onRerun: (id) => this.rerun(id),
      onClose: () => this.select(null),
    });
    this.agentView = new AgentView(byId("agent-detail"), this.agents, {
      api: this.api,
      onOpenTask: (id) => this.select(id),
      onClose: () => this.agentView.close(),
    });
    byId("agents-body").addEventListener("click", (event) => {
      const tr = event.target.closest("tr[data-agent-id]");
      if (!tr) return;
      this.select(null);
      this.agentView.open(tr.dataset.agentId);
    });
    this.sync = new RestSync(this.api, this.tasks, {
      schedule: this.schedule,
      say: (text, ok) => this.say(text, ok),
    });
    this.form = new DispatchForm(byId("dispatch-form"), this.api);
    this.stats = new StatsView(byId("activity"), this.api);
    this.schedules = new SchedulesView(byId("schedules"), this.api, {
      onOpenTask: (id) => this.select(id),
      say: (text, ok) => this.say(text, ok),
    });
    this.zone = new ZoneSwitch(byId("time-zone"), () => this.detail.refresh());
    this.feed = new LiveFeed({
      url: socketUrl(window.location),
      tokens: this.tokens,
      subscriptions: [{ topic: "tasks" }, { topic: "agents" }],
      onFrame: (frame) => this.onFrame(frame),
      onState: (state) => this.onFeedState(state),
    });
    this.wantLive = false;
    this.wasLive = false;
    this.asking = null;
    this.ticked = false;
    this.refreshingWorkTypes = false;
  }

  async start() {
    this.applyFilters = bindFilters(byId, this.tasksView, this.sync, this.schedule);
    this.bulk = new BulkCancel(byId, this.tasksView, this.api, (text, ok) => this.say(text, ok));
    setInterval(() => {
      this.ticked = true;
      this.schedule();
    }, 1000);
    await this.loadWorkTypes();
    this.wantLive = true;
    this.goLive();
  }

  goLive() {
    this.feed.start();
    this.stats.start();
    this.schedules.start();
    this.applyFilters(); // the newest matching tasks over REST too
  }

  render() {
    const now = Date.now();
    const changes = this.tasks.takeChanges();
    if (changes.ids.size) this.stats.soon();
    this.tasksView.render(changes, now);
    const agentsChanged = this.agents.takeChanges();
    this.agentsView.render(agentsChanged, now);
    if (agentsChanged) this.agentView.render();
    this.detail.render(changes);
    if (this.ticked) {
      this.ticked = false;
      this.tasksView.tick(now);
      this.agentsView.tick(now);
    }
  }

  onFrame(frame) {
    if (frame.event === "snapshot") this.onSnapshot(frame);
    else if (frame.event === "task.updated") this.tasks.upsert(frame.data, "push", frame.change);
    else if (frame.event === "agent.updated") this.onAgents([frame.data], false);
    else if (typeof frame.event === "string" && frame.event.startsWith("schedule.")) this.schedules.soon();
    else if ("error_code" in frame) this.onFeedError(frame);
    this.schedule();
  }

  onSnapshot(frame) {
    const sub = frame.subscription || {};
    if (sub.topic === "agents") return this.onAgents(frame.data, true);
    const seen = new Set();
    for (const task of frame.data) {
      this.tasks.upsert(task, "snapshot");
      seen.add(task.task_id);
    }
    // A whole tasks snapshot holds every pending and running task: one the page still shows
    // as unfinished has finished while the page was not listening, so read it again.
    if (sub.topic === "tasks" && !frame.truncated) {
      this.sync.refresh(this.tasks.unfinishedIds().filter((id) => !seen.has(id)));
    }
  }

  onAgents(agents, whole) {
    if (whole) this.agents.replaceAll(agents);
    else agents.forEach((a) => this.agents.upsert(a));
    this.form.setLiveAgentTypes(this.agents.liveTypes());
    const unknown = [...this.agents.capabilities()].some((w) => !this.form.hasWorkType(w));
    if (unknown) this.loadWorkTypes();
  }

  // A subscription that failed (its snapshot could not be read) is worth telling; other
  // protocol errors are not actionable here (e.g. an auth message to a server that no longer
  // needs one answers "unknown action"), so they only go to the console.
  onFeedError(frame) {
    if (frame.subscription) this.say(`live feed: ${frame.error_message}`, false);
    else console.info("live feed:", frame.error_code, frame.error_message);
  }

  onFeedState(state) {
    this.badge.set(state);
    if (state.kind === "unauthorized") this.reauthorize();
    // Back after a drop: the server may have restarted with other routes.
    if (state.kind === "live" && this.wasLive) this.loadWorkTypes();
    if (state.kind === "live") this.wasLive = true;
  }

  // One token prompt for every 401 (REST) or 4010 (live feed); then everything starts again.
  reauthorize() {
    if (this.asking) return this.asking;
    this.feed.stop();
    this.badge.set({ kind: "unauthorized" });
    const reason = this.tokens.get()
      ? "The server refused that token. Enter the API token:"
      : "This server needs an API token (CHIFFON_API_TOKEN):";
    this.tokens.clear();
    this.asking = this.prompt.ask(reason).then(() => {
      this.asking = null;
      if (this.wantLive) {
        this.loadWorkTypes();
        this.goLive();
      }
    });
    return this.asking;
  }

  async loadWorkTypes() {
    if (this.refreshingWorkTypes) return;
    this.refreshingWorkTypes = true;
    try {
      for (;;) {
        try {
          return this.showWorkTypes(await this.api.workTypes());
        } catch (err) {
          if (err.status === 401) await this.reauthorize();
          else if (err.status === 0) await sleep(2000);
          else return this.say(`work types: ${err.message}`, false);
        }
      }
    } finally {
      this.refreshingWorkTypes = false;
    }
  }

  showWorkTypes(routes) {
    this.form.setWorkTypes(routes);
    const select = byId("filter-work-type");
    const chosen = select.value;
    const options = routes.map((r) => new Option(r.work_type, r.work_type));
    select.replaceChildren(new Option("any work type", ""), ...options);
    select.value = chosen;
  }

  select(taskId) {
    if (taskId) this.agentView.close();
    this.tasksView.select(taskId);
    if (taskId) this.detail.open(taskId);
    else this.detail.close();
  }

  async cancel(taskId) {
    const label = `cancel ${shortId(taskId)}`;
    try {
      const answer = await this.api.cancel(taskId);
      this.say(`${label}: ${answer.status}`, true);
      this.detail.showCancelAnswer(taskId, answer.status, true);
    } catch (err) {
      this.say(`${label}: ${err.message}`, false);
      this.detail.showCancelAnswer(taskId, err.message, false);
    }
  }

  async rerun(taskId) {
    try {
      const answer = await this.api.rerun(taskId, newTaskId());
      this.detail.showRerunAnswer(taskId, `rerun as ${shortId(answer.task_id)}`, true);
      this.say(`rerun of ${shortId(taskId)}: task ${shortId(answer.task_id)}`, true);
      this.select(answer.task_id);
    } catch (err) {
      this.detail.showRerunAnswer(taskId, err.message, false);
    }
  }

  say(text, ok) {
    const notice = byId("notice");
    notice.textContent = text;
    notice.dataset.ok = String(ok);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

new Dashboard().start();
