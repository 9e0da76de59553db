// One conversation's WebSocket: reconnects with backoff and resumes from the last seq.
//
// The server replays every event after `?after=<seq>`, so a dropped connection loses
// nothing: reconnecting with the last seq seen fills the gap. Events are deduplicated by
// seq here, so the rest of the page sees each event once, in order.

const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_FORBIDDEN = 4403;
const CLOSE_TOO_MANY = 4429; // this user already holds the most sockets allowed: retrying cannot help
const FINAL_CODES = new Set([CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN, CLOSE_TOO_MANY]);
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 15000;

export class ChatSocket {
  /**
   * @param {object} options
   * @param {string} options.path   e.g. "/ws/conversations/<uuid>/"
   * @param {number} options.after  the last seq already shown
   * @param {(event: object) => void} options.onEvent
   * @param {(state: string, detail?: object) => void} options.onState
   *        "connecting" | "connected" | "reconnecting" | "offline" | "closed"
   */
  constructor({ path, after, onEvent, onState }) {
    this.path = path;
    this.lastSeq = after;
    this.onEvent = onEvent;
    this.onState = onState;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    window.addEventListener("online", () => this.retryNow());
    window.addEventListener("offline", () => this.onState("offline"));
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${this.path}?after=${this.lastSeq}`;
  }

  start() {
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    this.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.onState("connected");
    });
    ws.addEventListener("message", (message) => {
      if (this.ws === ws) this.receive(message.data);
    });
    ws.addEventListener("close", (closed) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (FINAL_CODES.has(closed.code)) {
        this.stopped = true;
        this.onState("closed", { code: closed.code, reason: closed.reason });
        return;
      }
      this.schedule();
    });
  }

  schedule() {
    if (this.stopped || this.timer !== null) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2); // jitter: tabs don't retry in step
    this.attempt += 1;
    this.onState(navigator.onLine === false ? "offline" : "reconnecting", { delay });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  retryNow() {
    if (this.stopped || this.connected) return;
    if (this.ws !== null) return; // a connection attempt is already under way
    this.connect();
  }

  /** Drop the current connection and reconnect (used after the page falls out of sync). */
  reconnect() {
    const old = this.ws;
    this.ws = null;
    if (old) old.close();
    this.attempt = 0;
    this.connect();
  }

  receive(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    if (event === null || typeof event !== "object" || typeof event.type !== "string") return;
    if (typeof event.seq === "number") {
      if (event.type === "sync.required") {
        this.lastSeq = Math.max(this.lastSeq, event.seq);
      } else if (event.seq <= this.lastSeq) {
        return; // seen already (a replay overlapping what was live or rendered)
      } else {
        this.lastSeq = event.seq;
      }
    }
    this.onEvent(event);
  }

  send(frame) {
    if (!this.connected) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}
