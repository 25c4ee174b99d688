// The tasks table's filters: status, work type and trace are matched in the page as well;
// a search (id prefix, text, created within) is answered by the server alone (GET
// /api/v1/tasks), and the table then shows the tasks it found.

import { ID_PREFIX, UUID } from "./rest_sync.js";

const IDS = ["filter-status", "filter-work-type", "filter-trace", "filter-id", "filter-q", "filter-since"];

// Wires the inputs; returns `apply`, which reads them and asks the server again.
export function bindFilters(byId, tasksView, sync, schedule) {
  const inputs = IDS.map((id) => byId(id));
  const [status, workType, trace, idPrefix, text, since] = inputs;
  let asked = 0; // answers to older searches are dropped
  const apply = async () => {
    const traceId = trace.value.trim().toLowerCase();
    const prefix = idPrefix.value.trim().toLowerCase();
    trace.setAttribute("aria-invalid", String(traceId !== "" && !UUID.test(traceId)));
    idPrefix.setAttribute("aria-invalid", String(prefix !== "" && !ID_PREFIX.test(prefix)));
    const seconds = Number(since.value);
    const search = {
      idPrefix: prefix,
      text: text.value.trim(),
      createdAfter: seconds ? new Date(Date.now() - seconds * 1000).toISOString() : "",
    };
    const searching = Boolean(search.idPrefix || search.text || search.createdAfter);
    const filter = { status: status.value, workType: workType.value, traceId };
    tasksView.setFilter({ ...filter, found: searching ? new Set() : null });
    schedule();
    const mine = ++asked;
    const found = await sync.backfill({ ...filter, ...search });
    if (mine !== asked || !searching) return;
    tasksView.setFilter({ found: new Set((found || []).map((t) => t.task_id)) });
    schedule();
  };
  for (const input of inputs) input.addEventListener("change", apply);
  return apply;
}
