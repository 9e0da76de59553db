// The message box: Enter sends, Shift+Enter adds a line; disabled while a run is active.

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
    if (this.busy || !this.connected || !text.trim()) return;
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
    this.input.disabled = this.busy;
    this.sendButton.disabled = this.busy || !this.connected || !this.input.value.trim();
    this.stopButton.disabled = !this.busy || !this.connected;
  }
}
