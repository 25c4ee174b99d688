// The live feed: one WebSocket to /api/v1/ws that authenticates (first message), subscribes,
// hands every frame on, and reconnects with capped exponential backoff when it drops.

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;

// 0.5 s, 1 s, 2 s ... capped at 10 s, each drawn from the upper half of its step ("equal
// jitter"): many pages reconnecting after a restart do not all knock at the same instant.
export function backoffDelay(attempt, random = Math.random) {
  const cap = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** attempt);
  return Math.max(MIN_DELAY_MS, cap / 2 + (random() * cap) / 2);
}

export function socketUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/ws`;
}

export class LiveFeed {
  // onState receives {kind: "connecting" | "live" | "disconnected" | "unauthorized", retryAt?}.
  constructor({ url, tokens, subscriptions, onFrame, onState }) {
    this.url = url;
    this.tokens = tokens;
    this.subscriptions = subscriptions;
    this.onFrame = onFrame;
    this.onState = onState;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.running = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000, "page stopped listening");
  }

  connect() {
    this.onState({ kind: "connecting" });
    const socket = new WebSocket(this.url);
    this.socket = socket;
    let live = false;
    socket.onopen = () => {
      const token = this.tokens.get();
      // A browser cannot set headers on a WebSocket: the token goes in the first message.
      if (token) socket.send(JSON.stringify({ action: "auth", token }));
      for (const sub of this.subscriptions) socket.send(JSON.stringify({ action: "subscribe", ...sub }));
    };
    socket.onmessage = (message) => {
      if (socket !== this.socket) return;
      const frame = parse(message.data);
      if (!frame) return;
      if (frame.error_code === 4010) return this.unauthorized();
      if (frame.event === "snapshot" && !live) {
        live = true;
        this.attempt = 0;
        this.onState({ kind: "live" });
      }
      this.onFrame(frame);
    };
    socket.onclose = () => {
      if (socket === this.socket) this.retry();
    };
  }

  retry() {
    this.socket = null;
    if (!this.running) return;
    const delay = backoffDelay(this.attempt++);
    this.onState({ kind: "disconnected", retryAt: Date.now() + delay });
    this.timer = setTimeout(() => this.running && this.connect(), delay);
  }

  unauthorized() {
    this.stop();
    this.onState({ kind: "unauthorized" });
  }
}

function parse(text) {
  try {
    const frame = JSON.parse(text);
    return frame && typeof frame === "object" ? frame : null;
  } catch {
    return null;
  }
}
