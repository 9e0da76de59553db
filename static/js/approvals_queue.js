// Live pending counter on the admin's approval queue page: a read-only socket that sends
// {"type": "queue.changed", "pending": N} whenever a request arrives or is decided.
import { format, gettext, ngettext } from "./i18n.js";

const live = document.getElementById("toolgate-queue-live");
const counter = document.getElementById("toolgate-pending-count");

function connect(delay) {
  if (!live) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${live.dataset.wsPath}`);
  socket.addEventListener("open", () => { live.textContent = gettext("Live: new requests appear as they arrive."); delay = 500; });
  socket.addEventListener("message", (event) => {
    let data;
    try { data = JSON.parse(event.data); } catch { return; }
    if (data.type !== "queue.changed" || typeof data.pending !== "number") return;
    const before = counter ? Number(counter.textContent) : data.pending;
    if (counter) counter.textContent = String(data.pending);
    if (data.pending > before) {
      live.textContent = format(ngettext("%(count)s pending — a new request arrived; reload to see it.",
        "%(count)s pending — new requests arrived; reload to see them.", data.pending), { count: data.pending });
    }
    const title = gettext("Approval queue");
    document.title = data.pending ? `(${data.pending}) ${title}` : title;
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4401 || event.code === 4403) { live.textContent = ""; return; }
    live.textContent = gettext("Reconnecting…");
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  });
}

connect(500);
