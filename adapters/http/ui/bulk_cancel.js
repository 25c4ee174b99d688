// The bar over the tasks table while rows are ticked: how many, and cancel them all.

import { shortId } from "./format.js";

export class BulkCancel {
  constructor(byId, tasksView, api, say) {
    this.bar = byId("bulk");
    this.count = byId("bulk-count");
    this.tasksView = tasksView;
    this.api = api;
    this.say = say;
    byId("bulk-cancel").addEventListener("click", () => this.cancelPicked());
    byId("bulk-clear").addEventListener("click", () => {
      tasksView.clearPicks();
      this.show();
    });
  }

  show() {
    const picked = this.tasksView.picked;
    this.bar.hidden = picked.size === 0;
    this.count.textContent = `${picked.size} selected`;
  }

  // One cancel per task, in turn; a task that finished meanwhile is counted, not an error.
  async cancelPicked() {
    const ids = [...this.tasksView.picked];
    let cancelled = 0;
    for (const taskId of ids) {
      try {
        await this.api.cancel(taskId);
        cancelled += 1;
      } catch (err) {
        if (err.code !== 2002) this.say(`cancel ${shortId(taskId)}: ${err.message}`, false);
      }
    }
    this.tasksView.clearPicks();
    this.show();
    this.say(`cancelled ${cancelled} of ${ids.length} (the others had finished)`, true);
  }
}
