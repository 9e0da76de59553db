// Tool-call cards built from live events, in the same markup as
// templates/assistant/_tool_card.html renders for stored calls.
// Everything a tool or model sent is set with textContent: arguments and results are data.

import { format, gettext } from "./i18n.js";

const STATUS_LABELS = {
  streaming: gettext("Receiving arguments…"), running: gettext("Running…"), ok: gettext("Done"),
  error: gettext("Failed"), pending: gettext("Waiting for approval"),
};
const DECISION_LABELS = { approved: gettext("Approved"), denied: gettext("Denied"), expired: gettext("Expired") };
const WAITING_TEXT = gettext("Waiting for an approver to decide; nothing has run yet.");

/** The model's argument text, indented when it is JSON and verbatim when it is not. */
export function prettyArguments(text) {
  if (typeof text !== "string") return pretty(text);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** A result as text: strings as themselves, anything else as indented JSON. */
export function pretty(value) {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  return JSON.stringify(value, null, 2);
}

function formatDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "";
  return `${Math.round(ms * 10) / 10} ms`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function part(label, className, body) {
  const wrapper = el("div", `tool-part ${className}`.trim());
  wrapper.append(el("span", "tool-part-label", label), body);
  return wrapper;
}

/** A new card for a `tool.call` (or any later event, if the call was never seen). */
export function createCard(call) {
  const card = el("section", "tool-card");
  card.dataset.callId = call.id;
  card.setAttribute("aria-label", format(gettext("Tool call: %(tool)s"), { tool: call.name }));
  const head = el("header", "tool-head");
  const icon = el("span", "tool-icon");
  icon.setAttribute("aria-hidden", "true");
  const edited = el("span", "tool-edited");
  edited.hidden = true;
  head.append(icon, el("code", "tool-name", call.name), el("span", "tool-status"), edited,
    el("span", "tool-duration"));
  const waiting = el("p", "tool-waiting", WAITING_TEXT);
  waiting.hidden = true;
  const error = el("p", "tool-error");
  error.append(el("code", "tool-error-type"), " ", el("span", "tool-error-message"));
  const changes = part(gettext("Changed by the approver"), "tool-part-changes", el("ul", "tool-changes"));
  const result = part(gettext("Result"), "tool-part-result", el("pre", "tool-result"));
  const errorPart = part(gettext("Error"), "tool-part-error", error);
  changes.hidden = true;
  result.hidden = true;
  errorPart.hidden = true;
  card.append(head, waiting, part(gettext("Arguments"), "", el("pre", "tool-args", prettyArguments(call.arguments ?? ""))),
    changes, result, errorPart);
  updateCard(card, call);
  return card;
}

/**
 * An approver changed the arguments before approving (issue 14): show what ran, say who
 * changed it, and list each changed field as before → after. `edited` is the
 * `tool_call.edited` of approval.decided: {by, arguments, changes: [{field, before, after}]}.
 */
export function applyEdit(card, edited) {
  if (!edited || !Array.isArray(edited.changes) || !edited.changes.length) return;
  const q = (selector) => card.querySelector(selector);
  card.dataset.edited = "true";
  q(".tool-args").textContent = prettyArguments(edited.arguments);
  q(".tool-args").previousElementSibling.textContent = gettext("Arguments that ran");
  const badge = q(".tool-edited");
  badge.textContent = edited.by
    ? format(gettext("Edited by the approver %(approver)s"), { approver: edited.by })
    : gettext("Edited by the approver");
  badge.hidden = false;
  const list = q(".tool-changes");
  list.replaceChildren(...edited.changes.map((change) => {
    const item = el("li");
    item.append(el("code", "tool-change-field", change.field ?? ""), ": ",
      el("del", "tool-change-before", change.before ?? gettext("(absent)")), " → ",
      el("ins", "tool-change-after", change.after ?? gettext("(removed)")));
    return item;
  }));
  q(".tool-part-changes").hidden = false;
}

/**
 * Apply a `tool_call` payload (from tool.call, tool.result, approval.requested or
 * approval.decided) to a card. `decision` is given for approval.decided only.
 */
export function updateCard(card, call, decision) {
  const status = call.status || card.dataset.status || "running";
  card.dataset.status = status;
  const q = (selector) => card.querySelector(selector);
  // The complete arguments replace whatever was streamed (issue 16), once.
  if (call.arguments !== undefined && (!q(".tool-args").textContent || "received" in card.dataset)) {
    q(".tool-args").textContent = prettyArguments(call.arguments);
    delete card.dataset.received;
    delete card.dataset.gap;
  }
  const errorType = call.error?.type ?? "";
  if (errorType) card.dataset.errorType = errorType;
  else delete card.dataset.errorType;
  let label = STATUS_LABELS[status] ?? status;
  if (status === "error" && DECISION_LABELS[errorType]) label = DECISION_LABELS[errorType];
  if (decision) {
    card.dataset.decision = decision;
    label = DECISION_LABELS[decision] ?? decision;
    // An approved call runs next: its result arrives as a later tool.result.
    if (decision === "approved") card.dataset.status = "running";
  }
  q(".tool-status").textContent = label;
  if (call.duration_ms !== undefined && status !== "running" && status !== "pending") {
    q(".tool-duration").textContent = formatDuration(call.duration_ms);
  }
  const resultPart = q(".tool-part-result");
  const errorPart = q(".tool-part-error");
  if (status === "ok" && "result" in call) {
    q(".tool-result").textContent = pretty(call.result);
    resultPart.hidden = false;
  }
  // Waiting for approval is not a failure: its "approval_required" error is the reason to wait.
  q(".tool-waiting").hidden = card.dataset.status !== "pending";
  if (status === "pending") {
    delete card.dataset.errorType;
    errorPart.hidden = true;
  } else if (call.error) {
    q(".tool-error-type").textContent = errorType;
    q(".tool-error-message").textContent = call.error.message ?? "";
    errorPart.hidden = false;
  } else if (status === "running" || status === "ok") {
    errorPart.hidden = true;
  }
}

/** Show how far a running call has got (`tool.progress`): "Running… 3/10 · message". */
export function showProgress(card, call) {
  if (card.dataset.status !== "running") return;
  const done = typeof call.progress === "number" ? call.progress : null;
  if (done === null) return;
  const total = typeof call.total === "number" ? `/${call.total}` : "";
  const message = typeof call.message === "string" && call.message ? ` · ${call.message}` : "";
  card.querySelector(".tool-status").textContent = `${STATUS_LABELS.running} ${done}${total}${message}`;
}

// --- streamed arguments (issue 16: tool.call.delta) ------------------------------------------

/** Characters as the server counts them (code points), for the frames' offsets. */
function codePoints(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/**
 * Append a `tool.call.delta` fragment to a card that is still receiving its arguments.
 * `offset` is where the fragment starts in the whole argument text: a fragment that does
 * not continue what the card holds (the socket connected mid-call) is not shown; the
 * complete arguments come with the `tool.call` that follows.
 */
export function appendArguments(card, offset, text) {
  if (!("received" in card.dataset)) {
    if (card.dataset.status !== "streaming") return; // the complete arguments are already shown
    card.dataset.received = "0";
  }
  const received = Number(card.dataset.received);
  if ("gap" in card.dataset || offset > received) {
    card.dataset.gap = "true";
    return;
  }
  const fresh = offset < received ? [...text].slice(received - offset).join("") : text;
  if (!fresh) return;
  card.querySelector(".tool-args").append(document.createTextNode(fresh));
  card.dataset.received = String(received + codePoints(fresh));
}
