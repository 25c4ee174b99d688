// 10,000 tasks straight into the page's own store and table, then a burst of 1,000 changes,
// timing each render: the views' cost, without the network in the measurement.
(async () => {
  const { TaskStore } = await import("/ui/store.js");
  const { TasksView } = await import("/ui/tasks_view.js");
  const body = document.createElement("tbody");
  const summary = document.createElement("span");
  const empty = document.createElement("p");
  document.body.append(body);
  const store = new TaskStore();
  const view = new TasksView({ body, summary, empty }, store, { onSelect() {}, onCancel() {} });
  const at = (s) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString().replace("Z", "+00:00");
  const task = (i, status, progress, s) => ({
    task_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, status, work_type: "echo",
    agent_type: "demo", agent_id: null, attempt: 1, priority: 3, progress_percent: progress,
    created_at: at(i), updated_at: at(i + s), trace_id: "t",
  });
  for (let i = 0; i < 10000; i++) store.upsert(task(i, "pending", null, 0), "snapshot");
  let t = performance.now();
  view.render(store.takeChanges(), Date.now());
  const first = performance.now() - t;
  const newestRow = body.firstChild;
  for (let i = 0; i < 1000; i++) store.upsert(task(9999 - (i % 400), "running", i % 100, 1 + i), "push");
  t = performance.now();
  view.render(store.takeChanges(), Date.now());
  const burst = performance.now() - t;
  return {
    rows: body.children.length, summary: summary.textContent, first, burst,
    keyed: body.firstChild === newestRow,
    newest: body.firstChild.dataset.taskId, newestStatus: body.firstChild.querySelector(".chip").textContent,
  };
});
