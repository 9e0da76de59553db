// The message box: Enter sends, Shift+Enter adds a line; disabled while a run is active.

import { format, gettext, pageLanguage } from "./i18n.js";

export class Composer {
  /**
   * @param {HTMLFormElement} form
   * @param {object} handlers
   * @param {(text: string) => boolean} handlers.onSend  sends and marks the run busy; false if it
   *        could not send (the text then stays in the box)
   * @param {() => void} handlers.onStop
   */
  constructor(form, { onSend, onStop }) {
    this.form = form;
    this.input = form.querySelector("textarea");
    this.sendButton = form.querySelector("#send-button");
    this.stopButton = form.querySelector("#stop-button");
    this.status = form.querySelector("#run-status");
    this.count = form.querySelector("#composer-count");
    this.maxChars = Number(this.input.dataset.maxChars) || Infinity;
    this.onSend = onSend;
    this.busy = form.dataset.state === "busy";
    this.connected = false;
    this.refocus = false;

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.render());
    this.stopButton.addEventListener("click", () => onStop());
    this.render();
  }

  submit() {
    const text = this.input.value;
    if (this.busy || !this.connected || !text.trim() || this.overLimit()) return;
    this.refocus = document.activeElement === this.input;
    if (this.onSend(text)) {
      this.pending = text;
      this.input.value = "";
      this.render();
    }
  }

  /** The server refused the message: give the text back so nothing typed is lost. */
  restore() {
    if (this.pending && !this.input.value) this.input.value = this.pending;
    this.pending = null;
  }

  accepted() {
    this.pending = null;
  }

  setBusy(busy, statusText = "") {
    this.busy = busy;
    this.form.dataset.state = busy ? "busy" : "idle";
    this.status.textContent = statusText;
    this.render();
    if (!busy && this.refocus) {
      this.refocus = false;
      this.input.focus();
    }
  }

  setConnected(connected) {
    this.connected = connected;
    this.render();
  }

  render() {
    const over = this.renderCount();
    this.input.disabled = this.busy;
    this.sendButton.disabled = this.busy || !this.connected || !this.input.value.trim() || over;
    this.stopButton.disabled = !this.busy || !this.connected;
  }

  // --- the length limit (issue 14): never cut a paste, never send a shortened message ---

  /** Characters as the server counts them (code points, not UTF-16 units). */
  length() {
    let n = 0;
    for (const _ of this.input.value) n += 1;
    return n;
  }

  overLimit() {
    return this.input.value.length > this.maxChars && this.length() > this.maxChars;
  }

  /** Show the count from 80% of the limit; over it, say by how much. Returns whether over. */
  renderCount() {
    if (!this.count) return false;
    const units = this.input.value.length; // ≥ code points: below 80% in units, below in characters
    const n = units < this.maxChars * 0.8 ? units : this.length();
    const over = n > this.maxChars;
    const fmt = (x) => x.toLocaleString(pageLanguage());
    this.count.hidden = n < this.maxChars * 0.8;
    this.count.dataset.over = over ? "true" : "false";
    const values = { count: fmt(n), limit: fmt(this.maxChars), excess: fmt(n - this.maxChars) };
    this.count.textContent = over
      ? format(gettext("%(count)s / %(limit)s characters: %(excess)s too many. Shorten the message to send it (nothing was cut)."), values)
      : format(gettext("%(count)s / %(limit)s characters"), values);
    if (over) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
    return over;
  }
}
