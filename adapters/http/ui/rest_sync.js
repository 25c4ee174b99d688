// Reads over REST what the live feed cannot give: tasks older than its snapshot (which holds
// the active and the 100 newest), and tasks that finished while the page was not listening.

const BACKFILL_LIMIT = 500; // the API's largest page
const REFRESH_LIMIT = 200;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const ID_PREFIX = /^[0-9a-f-]{1,36}$/;

export class RestSync {
  constructor(api, store, { schedule, say }) {
    this.api = api;
    this.store = store;
    this.schedule = schedule;
    this.say = say;
  }

  // The newest tasks matching the table's filters, so a filtered view is not limited to what
  // the snapshot happened to hold; a search (id prefix, text, time) is answered by the server
  // alone. Returns the tasks found, or null when the query could not be made.
  async backfill({ status, workType, traceId, idPrefix, text, createdAfter }) {
    if (traceId && !UUID.test(traceId)) return null;
    if (idPrefix && !ID_PREFIX.test(idPrefix)) return null;
    const query = {
      limit: BACKFILL_LIMIT,
      status,
      work_type: workType,
      trace_id: traceId,
      id: idPrefix,
      q: text,
      created_after: createdAfter,
    };
    try {
      const page = await this.api.tasks(query);
      page.items.forEach((t) => this.store.upsert(t, "rest"));
      this.schedule();
      return page.items;
    } catch (err) {
      if (err.status !== 401) this.say(`tasks: ${err.message}`, false);
      return null;
    }
  }

  // One by one, so a long outage does not send hundreds of requests at once.
  async refresh(taskIds) {
    for (const taskId of taskIds.slice(0, REFRESH_LIMIT)) {
      try {
        this.store.upsert(await this.api.status(taskId), "rest");
      } catch {
        // A task that cannot be read now stays as it was; the next snapshot tries again.
      }
    }
    this.schedule();
  }
}
