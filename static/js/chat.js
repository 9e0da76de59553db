// The conversation page: wires the socket, the transcript and the composer together.
//
// Configuration comes from a json_script block (no inline script, CSP-friendly). The run
// state follows the protocol's events, so every tab on a conversation shows the same
// thing: idle → (send) sending → (message.created) running ⇄ waiting → (run.finished) idle.

import { Alerts } from "./alerts.js";
import { messageCreated as attachmentsSent } from "./attachments.js";
import { AgainBar, addEditForm } from "./branches.js";
import { decorate } from "./copy.js";
import { Composer } from "./composer.js";
import { format, gettext } from "./i18n.js";
import { ChatSocket } from "./socket.js";
import { Transcript } from "./transcript.js";

const config = JSON.parse(document.getElementById("chat-config").textContent);
const SYNC_KEY = `toolgate.sync.${config.conversationId}`;
const SYNC_MAX_AGE_MS = 60000;
const STATUS_TEXT = {
  idle: "", sending: gettext("Sending…"), running: gettext("Working…"), waiting: gettext("Waiting for approval"),
};
const CONNECTION_TEXT = {
  connecting: gettext("Connecting…"), connected: gettext("Connected"), reconnecting: gettext("Reconnecting…"),
  offline: gettext("Offline"),
};
// Frame errors after which the message was not taken: the text goes back into the box.
const REFUSED = new Set(["bad_frame", "frame_too_large", "unknown_type", "message_too_long", "run_in_progress"]);

const transcript = new Transcript(document.getElementById("transcript"));
const again = new AgainBar(document.getElementById("again"));
// A search result links to one message (#m-<id>): show it, and stop following the end.
const linked = location.hash.startsWith("#m-") ? document.getElementById(location.hash.slice(1)) : null;
if (linked) {
  linked.scrollIntoView({ block: "center" });
  transcript.pinned = false;
}
const alerts = new Alerts(document.getElementById("alerts"));
const connection = document.getElementById("connection");
const heading = document.getElementById("conversation-title");
let runState = config.run ? config.run.status : "idle";
// The last user.message not yet confirmed by message.created: sent again, with the same
// client_id, after a reconnect (the server processes a client_id once, so never twice).
let pendingFrame = null;
let resent = false;

function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Not a secure context (plain http on a LAN address): same format from getRandomValues.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The seq to resume from: the rendered one, or a newer one a sync.required reload left. */
function initialSeq() {
  let after = config.afterSeq;
  try {
    const saved = JSON.parse(sessionStorage.getItem(SYNC_KEY) || "null");
    sessionStorage.removeItem(SYNC_KEY);
    if (saved && Number.isInteger(saved.seq) && Date.now() - saved.at < SYNC_MAX_AGE_MS) {
      after = Math.max(after, saved.seq);
    }
  } catch {
    // storage unavailable (privacy mode): the rendered seq will do
  }
  return after;
}

function setRun(state, statusText) {
  runState = state;
  composer.setBusy(state !== "idle", statusText ?? STATUS_TEXT[state]);
}

function send(text) {
  const frame = { type: "user.message", content: text, client_id: uuid4() };
  if (!socket.send(frame)) {
    alerts.show(gettext("Not connected: the message was not sent. It will be possible again once reconnected."),
      "not_sent");
    return false;
  }
  pendingFrame = frame;
  resent = false;
  setRun("sending");
  return true;
}

/** A message went through: alerts about earlier refused or unsent ones are out of date. */
function clearRefusals() {
  for (const code of [...REFUSED, "not_sent"]) alerts.clear(code);
}

function stop() {
  if (socket.send({ type: "run.cancel" })) composer.status.textContent = gettext("Stopping…");
}

function showTitle(content) {
  if (!heading.dataset.untitled) return;
  const line = content.trim().split("\n", 1)[0].split(/\s+/).join(" ");
  const title = line.length > 60 ? `${line.slice(0, 60).replace(/\s+\S*$/, "")}…` : line;
  if (!title) return;
  heading.textContent = title;
  document.title = `${title} · Toolgate`;
  const current = document.querySelector('.sidebar-list a[aria-current="page"]');
  if (current) current.textContent = title;
  delete heading.dataset.untitled;
}

function busyAgain(statusText) {
  if (runState === "idle" || runState === "waiting" || runState === "sending") setRun("running", statusText);
  else composer.status.textContent = statusText;
}

const handlers = {
  "message.created": (event) => {
    if (event.message.role !== "user") return;
    transcript.userMessage(event.message);
    addEditForm(transcript.message(event.message.id), event.message);
    attachmentsSent(transcript.message(event.message.id), event.message);
    decorate(transcript.message(event.message.id));
    again.userMessage(event.message);
    showTitle(event.message.content);
    clearRefusals();
    pendingFrame = null;
    composer.accepted();
    setRun("running");
  },
  "assistant.delta": (event) => {
    transcript.delta(event.message_id, event.delta);
    busyAgain(gettext("Writing…"));
  },
  "assistant.retry": (event) => {
    transcript.retry(event);
    busyAgain(event.fallback ? gettext("Switching model…") : gettext("Retrying…"));
  },
  "context.trimmed": (event) => {
    transcript.notice(format(gettext("This conversation is longer than the model can read: the %(count)s oldest messages were left out of what it was sent."), { count: event.dropped_messages }), "info");
  },
  "tool.call": (event) => {
    transcript.toolCall(event.tool_call);
    busyAgain(format(gettext("Running %(tool)s…"), { tool: event.tool_call.name }));
  },
  "tool.call.delta": (event) => {
    transcript.toolCallDelta(event.tool_call, event.offset, event.delta);
    busyAgain(format(gettext("Preparing %(tool)s…"), { tool: event.tool_call.name }));
  },
  "tool.result": (event) => {
    transcript.toolResult(event.tool_call);
    if (event.tool_call.status !== "pending") busyAgain(gettext("Working…"));
  },
  "tool.progress": (event) => transcript.toolProgress(event.tool_call),
  "approval.requested": (event) => transcript.toolResult(event.tool_call),
  "approval.decided": (event) => transcript.approvalDecided(event.tool_call, event.decision),
  "run.waiting": () => setRun("waiting"),
  "assistant.message": (event) => {
    transcript.assistantMessage(event.message);
    decorate(transcript.message(event.message.id)); // copy buttons (issue 14)
  },
  "run.finished": (event) => {
    transcript.runFinished(event.run);
    setRun("idle");
    again.finished(event.run);
  },
  "error": (event) => {
    if (event.code === "duplicate_message" && resent) {
      resent = false; // our resend after a reconnect: the first one had arrived after all
      return;
    }
    alerts.show(event.message, event.code);
    if (typeof event.seq === "number") return; // a run failed: its run.finished follows
    pendingFrame = null;
    if (REFUSED.has(event.code)) composer.restore();
    if (event.code === "run_in_progress") setRun("running");
    else if (event.code === "no_active_run" || (REFUSED.has(event.code) && runState === "sending")) {
      setRun("idle");
    }
  },
  "sync.required": (event) => {
    try {
      sessionStorage.setItem(SYNC_KEY, JSON.stringify({ seq: event.seq, at: Date.now() }));
    } catch {
      // without storage the reload resumes from the rendered seq, which is still correct
    }
    location.reload();
  },
};

// Why the server closed the socket for good (docs/protocol.md); the socket does not retry.
const CLOSED_TEXT = {
  4401: [gettext("Signed out"), gettext("You are signed out. Reload the page to sign in again.")],
  4403: [gettext("No access"), gettext("This conversation is not available to you.")],
  4429: [gettext("Too many tabs"),
    gettext("You have too many chat tabs or windows open. Close some of them, then reload this page.")],
};

function onState(state, detail) {
  if (state === "closed") {
    const [label, text] = CLOSED_TEXT[detail?.code] ?? CLOSED_TEXT[4403];
    connection.dataset.state = "offline";
    connection.querySelector(".connection-text").textContent = label;
    alerts.show(text, "closed");
  } else {
    connection.dataset.state = state;
    connection.querySelector(".connection-text").textContent = CONNECTION_TEXT[state] ?? state;
  }
  composer.setConnected(state === "connected");
  if (state === "connected" && config.autoSend && runState === "idle") {
    // A branch just made (edit, regenerate, retry): send its message once. Its client_id
    // is fixed now, so a resend after a reconnect is not run twice.
    const text = config.autoSend;
    config.autoSend = null;
    composer.input.value = text;
    composer.submit();
  }
  if (state === "connected" && pendingFrame && runState === "sending") {
    resent = true;
    socket.send(pendingFrame);
  }
}

const composer = new Composer(document.getElementById("composer"), { onSend: send, onStop: stop });
if (runState !== "idle") setRun(runState);
const socket = new ChatSocket({
  path: `/ws/conversations/${config.conversationId}/`,
  after: initialSeq(),
  onEvent: (event) => {
    handlers[event.type]?.(event);
    transcript.follow();
  },
  onState,
});
socket.start();

// Phones: the conversation list starts folded so the chat gets the screen.
const sidebar = document.getElementById("sidebar-panel");
if (sidebar && window.matchMedia("(max-width: 52rem)").matches) sidebar.open = false;
