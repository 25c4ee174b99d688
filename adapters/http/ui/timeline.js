// A task's history of changes, for the detail view.
//
// Seam: today the page only knows the task.updated frames it has seen itself (since it was
// opened or since the task appeared). A later issue adds GET /api/v1/tasks/{id}/events?after=REV,
// numbered by the task's `revision`: load it here, merge it with the live entries by revision,
// and return complete: true. Nothing else in the page needs to change.

export async function loadTimeline(taskId, store) {
  return { entries: store.historyOf(taskId), complete: false };
}
