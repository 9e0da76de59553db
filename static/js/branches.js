// Edit and resend, regenerate, retry (issue 14): each makes a branch, server-side
// (assistant/transcript/branches.py). The forms work without JavaScript; this module only
// keeps them in step with live events, and sends a new branch's first message.

import { gettext } from "./i18n.js";

/** Give a live user message the same Edit form the server renders for stored ones. */
export function addEditForm(article, message) {
  const tools = toolsOf(article);
  if (tools.querySelector(".msg-edit")) return;
  const template = document.getElementById("edit-template");
  if (!template) return;
  const form = template.content.firstElementChild.cloneNode(true);
  form.querySelector('input[name="message"]').value = message.id;
  const box = form.querySelector("textarea");
  box.id = `edit-${message.id}`;
  box.value = message.content;
  form.querySelector("label").htmlFor = box.id;
  tools.append(form);
}

/**
 * The row of controls under a message (`.msg-tools`, a sibling, so the message's own text
 * stays only its text), made if missing. Shared with copy.js.
 */
export function toolsOf(article) {
  const next = article.nextElementSibling;
  if (next?.classList.contains("msg-tools")) return next;
  const tools = document.createElement("div");
  tools.className = `msg-tools ${article.classList.contains("msg-user") ? "msg-tools-user" : "msg-tools-assistant"}`;
  article.after(tools);
  return tools;
}

/** The Regenerate / Retry bar under the transcript: hidden while a run is active. */
export class AgainBar {
  constructor(form) {
    this.form = form;
    this.input = form?.querySelector('input[name="message"]');
    this.button = form?.querySelector("#again-button");
  }

  userMessage(message) {
    if (!this.form) return;
    this.input.value = message.id;
    this.form.hidden = true;
  }

  busy() {
    if (this.form) this.form.hidden = true;
  }

  finished(run) {
    if (!this.form || !this.input.value) return;
    this.button.textContent = run.status === "failed" ? gettext("Retry") : gettext("Regenerate");
    this.form.hidden = false;
  }
}
