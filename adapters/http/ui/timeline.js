// A task's history of changes, for the detail view: its timeline from
// GET /api/v1/tasks/{id}/events, every stored change numbered by revision. Entries already
// read are kept per task, so a refresh asks only for the revisions after the last one.

const MAX_ENTRIES = 2000; // a detail view shows the first ones; the API has them all
const cache = new Map(); // task_id -> {entries, events, revision, progress}

export async function loadTimeline(taskId, store, api) {
  const known = cache.get(taskId) || { entries: [], events: [], revision: 0, progress: null };
  try {
    while (known.entries.length < MAX_ENTRIES) {
      const page = await api.events(taskId, known.revision);
      for (const event of page.items) {
        known.entries.push(entryOf(event, known));
        known.events.push(event);
        known.revision = event.revision;
      }
      if (page.next_after === null || page.items.length === 0) break;
    }
  } catch (error) {
    // The server is away: show what this page saw itself, and say so.
    return { entries: store.historyOf(taskId), events: [], complete: false };
  }
  cache.set(taskId, known);
  return { entries: known.entries, events: known.events, complete: true };
}

function entryOf(event, known) {
  const changes = event.changes || {};
  if (typeof changes.progress_percent === "number" || changes.progress_percent === null) {
    known.progress = changes.progress_percent;
  }
  const note = changes.progress_message || changes.error_message || refusedNote(changes.refused);
  return {
    at: event.at,
    status: event.status,
    progress: known.progress,
    message: `#${event.revision} ${event.kind}${note ? `: ${note}` : ""}`,
    source: "push",
  };
}

// A report_refused entry: which agent's report, about which attempt, and why.
function refusedNote(refused) {
  if (!refused) return "";
  return `${refused.report} from agent ${refused.agent_id} (attempt ${refused.attempt}): ${refused.reason}`;
}
