// The header's connection state: "live", "connecting…", "disconnected, reconnecting in Ns".

export class ConnectionBadge {
  constructor(el) {
    this.el = el;
    this.state = { kind: "connecting" };
    this.timer = null;
  }

  set(state) {
    this.state = state;
    clearInterval(this.timer);
    this.timer = null;
    // Only the countdown needs a clock, and only while it counts.
    if (state.kind === "disconnected") this.timer = setInterval(() => this.show(), 250);
    this.show();
  }

  show() {
    const { kind, retryAt } = this.state;
    let text = "connecting…";
    if (kind === "live") text = "live";
    if (kind === "unauthorized") text = "token needed";
    if (kind === "disconnected") {
      const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      text = `disconnected, reconnecting in ${seconds}s`;
    }
    if (this.el.textContent !== text) this.el.textContent = text;
    this.el.dataset.state = kind;
  }
}
