// The message list: applies protocol events to the DOM, idempotently.
//
// The page is rendered from the database and the socket then replays every event after
// the seq known at render time, so events for things already on the page arrive again
// (a run in progress, or one that finished while the page loaded). Messages are found by
// id and tool calls by call id within the current run, so a replayed event updates what
// is there instead of adding a copy.
//
// Streamed text is only ever added as text nodes. The one HTML insertion is the
// server-rendered, sanitised `html` of an assistant.message (docs/protocol.md).

import { format, gettext } from "./i18n.js";
import { appendArguments, applyEdit, createCard, showProgress, updateCard } from "./toolcard.js";

const NEAR_BOTTOM_PX = 80;

export class Transcript {
  constructor(root) {
    this.root = root;
    this.empty = root.querySelector(".transcript-empty");
    this.turn = null; // the assistant article live tool cards go into
    this.turnClosed = false; // a tool.result was seen: the next tool.call starts a new turn
    this.cards = new Map();
    this.indexCurrentRun();
    // Follow new output while the reader is at the bottom; stay put once they scroll up.
    this.pinned = true;
    this.autoScrollTop = null;
    root.addEventListener("scroll", () => {
      if (this.autoScrollTop !== null && Math.abs(root.scrollTop - this.autoScrollTop) < 2) return; // ours
      this.pinned = this.nearBottom();
    }, { passive: true });
    this.scrollToEnd();
  }

  // --- lookup ------------------------------------------------------------------------------

  message(id) {
    return id ? this.root.querySelector(`[data-message-id="${CSS.escape(id)}"]`) : null;
  }

  /** Index the cards after the last user message: call ids are unique only within a run. */
  indexCurrentRun(from) {
    this.cards.clear();
    const users = this.root.querySelectorAll(".msg-user");
    const start = from ?? users[users.length - 1] ?? null;
    for (const card of this.root.querySelectorAll(".tool-card")) {
      if (!start || start.compareDocumentPosition(card) & Node.DOCUMENT_POSITION_FOLLOWING) {
        this.cards.set(card.dataset.callId, card);
      }
    }
  }

  // --- building blocks ---------------------------------------------------------------------

  append(node) {
    this.root.insertBefore(node, this.empty);
    if (this.empty) this.empty.hidden = true;
  }

  nearBottom() {
    const r = this.root;
    return r.scrollHeight - r.scrollTop - r.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToEnd() {
    this.root.scrollTop = this.root.scrollHeight;
    this.autoScrollTop = this.root.scrollTop;
  }

  /** Called after each event is applied. */
  follow() {
    if (this.pinned) this.scrollToEnd();
  }

  assistantArticle(id) {
    const article = document.createElement("article");
    article.className = "msg msg-assistant";
    article.setAttribute("aria-label", gettext("Assistant"));
    if (id) article.dataset.messageId = id;
    const body = document.createElement("div");
    body.className = "msg-body msg-text";
    body.hidden = true;
    const cards = document.createElement("div");
    cards.className = "tool-cards";
    article.append(body, cards);
    this.append(article);
    return article;
  }

  // --- events ------------------------------------------------------------------------------

  userMessage(message) {
    let article = this.message(message.id);
    if (!article) {
      article = document.createElement("article");
      article.className = "msg msg-user";
      article.dataset.messageId = message.id;
      article.setAttribute("aria-label", gettext("You"));
      const body = document.createElement("div");
      body.className = "msg-body msg-text";
      body.textContent = message.content;
      article.append(body);
      this.append(article);
    }
    this.turn = null;
    this.turnClosed = false;
    this.indexCurrentRun(article);
  }

  delta(messageId, text) {
    let article = this.message(messageId);
    if (!article) article = this.assistantArticle(messageId);
    this.turn = article;
    this.turnClosed = false;
    if (article.dataset.final) return; // already shown in full (replay after a render)
    const body = article.querySelector(".msg-body");
    body.hidden = false;
    article.querySelector(".msg-retry")?.remove();
    article.classList.add("msg-streaming");
    body.append(document.createTextNode(text));
  }

  /** assistant.retry: the turn broke off and is asked again; drop its streamed text. */
  retry(event) {
    const article = this.message(event.message_id);
    if (!article || article.dataset.final) return;
    const body = article.querySelector(".msg-body");
    body.textContent = "";
    body.hidden = true;
    // Calls whose arguments were still arriving belong to the broken attempt: they never run.
    for (const card of article.querySelectorAll('.tool-card[data-status="streaming"]')) {
      this.cards.delete(card.dataset.callId);
      card.remove();
    }
    let note = article.querySelector(".msg-retry");
    if (!note) {
      note = document.createElement("p");
      note.className = "msg-meta msg-retry";
      article.append(note);
    }
    note.textContent = event.fallback
      ? format(gettext("The model is unavailable; answering with %(profile)s instead…"), { profile: event.profile })
      : format(gettext("The answer broke off; retrying (attempt %(attempt)s)…"), { attempt: event.attempt });
  }

  assistantMessage(message) {
    const article = this.message(message.id) ?? this.assistantArticle(message.id);
    article.querySelector(".msg-retry")?.remove();
    // Which profile wrote the answer (issue 14); the words are the page's, translated by the
    // server (data-answered-by* on the transcript), with {label} filled in as text.
    const by = message.answered_by ?? (message.profile ? { ...message.profile, fallback: true } : null);
    if (by && !article.querySelector(".msg-profile")) {
      const label = document.createElement("p");
      label.className = "msg-meta msg-profile";
      label.dataset.profile = by.name;
      const words = by.fallback
        ? this.root.dataset.answeredByFallback || "Answered by {label} (fallback)"
        : this.root.dataset.answeredBy || "Answered by {label}";
      label.textContent = words.replace("{label}", by.label);
      article.append(label);
    }
    const body = article.querySelector(".msg-body");
    body.className = "msg-body markdown";
    body.innerHTML = message.html; // rendered and sanitised by the server (assistant/transcript/rendering.py)
    body.hidden = !message.html;
    article.dataset.final = "true";
    article.classList.remove("msg-streaming");
  }

  card(call) {
    let card = this.cards.get(call.id);
    if (!card) {
      if (!this.turn || this.turnClosed) {
        this.turn = this.assistantArticle(null);
        this.turnClosed = false;
      }
      card = createCard(call);
      this.turn.querySelector(".tool-cards").append(card);
      this.cards.set(call.id, card);
    }
    return card;
  }

  toolCall(call) {
    const card = this.card(call);
    this.turn = card.closest(".msg");
    updateCard(card, call);
  }

  /** Issue 16: the model is still writing this call's arguments (`tool.call.delta`). */
  toolCallDelta(call, offset, text) {
    const known = this.cards.has(call.id);
    const card = this.card({ ...call, status: known ? undefined : "streaming" });
    if (!known) card.dataset.received = "0";
    this.turn = card.closest(".msg");
    appendArguments(card, offset, text);
  }

  toolResult(call) {
    updateCard(this.card(call), call);
    this.turnClosed = true;
  }

  /** A running call's progress (an MCP server's progress notifications). */
  toolProgress(call) {
    const card = this.cards.get(call.id);
    if (card) showProgress(card, call);
  }

  approvalDecided(call, decision) {
    const card = this.card(call);
    updateCard(card, call, decision);
    applyEdit(card, call.edited);
  }

  notice(text, level = "info", runId = "") {
    if (runId && this.root.querySelector(`.notice[data-run-id="${CSS.escape(runId)}"]`)) return;
    const p = document.createElement("p");
    p.className = `notice notice-${level}`;
    if (runId) p.dataset.runId = runId;
    p.textContent = text;
    this.append(p);
  }

  /** How a run ended, once per run (a replayed run.finished finds the rendered notice). */
  runFinished(run) {
    this.endStreaming();
    if (run.status === "failed") this.notice(run.error?.message || gettext("The reply failed."), "error", run.id);
    else if (run.status === "cancelled") this.notice(gettext("Stopped."), "info", run.id);
  }

  /** A streamed turn that will not get its final message (the run failed or was stopped). */
  endStreaming() {
    for (const article of this.root.querySelectorAll(".msg-streaming")) {
      article.classList.remove("msg-streaming");
    }
  }
}
