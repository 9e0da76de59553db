// Visible, announced error messages (the container has role="alert").

import { gettext } from "./i18n.js";

const MAX_ALERTS = 3;

export class Alerts {
  constructor(root) {
    this.root = root;
  }

  show(text, code = "") {
    const item = document.createElement("div");
    item.className = "alert alert-error";
    if (code) item.dataset.code = code;
    const message = document.createElement("p");
    message.textContent = text;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "alert-dismiss";
    dismiss.setAttribute("aria-label", gettext("Dismiss"));
    dismiss.textContent = "×";
    dismiss.addEventListener("click", () => item.remove());
    item.append(message, dismiss);
    this.root.append(item);
    while (this.root.children.length > MAX_ALERTS) this.root.firstElementChild.remove();
  }

  clear(code) {
    for (const item of this.root.querySelectorAll(code ? `[data-code="${CSS.escape(code)}"]` : ".alert")) {
      item.remove();
    }
  }
}
