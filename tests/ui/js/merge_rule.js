// The task merge rule (merge.js) and the reconnect backoff (live.js), as the page runs them.
(async () => {
  const { compareTasks, mergeTask } = await import("/ui/merge.js");
  const { backoffDelay } = await import("/ui/live.js");
  const at = "2026-01-01T00:00:00.000001+00:00";
  const later = "2026-01-01T00:00:00.000002+00:00";
  const t = (o) => ({ task_id: "x", attempt: 1, progress_percent: null, updated_at: at, ...o });
  const cmp = (a, b) => Math.sign(compareTasks(t(a), t(b)));
  const summary = mergeTask(
    t({ status: "running", parameters: { a: 1 }, result: null }),
    t({ updated_at: later, status: "completed" }),
  );
  return {
    later: cmp({ updated_at: later, status: "pending" }, { status: "completed" }),
    attempt: cmp({ attempt: 2, status: "pending" }, { status: "running" }),
    running: cmp({ status: "running" }, { status: "pending" }),
    terminal: cmp({ status: "failed" }, { status: "running" }),
    progress: cmp({ status: "running", progress_percent: 50 }, { status: "running", progress_percent: 40 }),
    revision: cmp({ revision: 3 }, { updated_at: later, revision: 2 }),
    olderIgnored: mergeTask(t({ updated_at: later, status: "completed" }), t({ status: "running" })),
    summaryKeys: Object.keys(summary).sort(),
    filled: mergeTask(t({ status: "completed" }), t({ status: "completed", result: 7 })).result,
    delays: [0, 1, 2, 3, 4, 5, 6, 12].map((n) => [backoffDelay(n, () => 0), backoffDelay(n, () => 0.999)]),
  };
})
