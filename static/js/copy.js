// Copy buttons (issue 14): on messages, on code blocks in answers, and for a new API token.

import { toolsOf } from "./branches.js";
import { gettext } from "./i18n.js";
//
// Buttons are added by script (a page without JavaScript has no clipboard access anyway)
// and found by delegation, so live messages get them too (decorate() after insertion).

const COPIED_MS = 1500;

/** The clipboard API where allowed (https, localhost), else the old selection trick. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // denied: fall back below
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "copy-scratch";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

function button(label, kind) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `copy-button copy-${kind}`;
  b.dataset.copy = kind;
  b.dataset.label = label;
  b.textContent = label;
  return b;
}

/** What a copy button copies: its code block, its message's text, or a named field. */
function source(b) {
  if (b.dataset.copy === "code") return b.closest(".code-block")?.querySelector("pre")?.textContent ?? "";
  if (b.dataset.copy === "message") {
    return b.closest(".msg-tools")?.previousElementSibling?.querySelector(".msg-body")?.innerText ?? "";
  }
  const field = document.getElementById(b.dataset.copyFrom || "");
  return field ? (field.value ?? field.textContent) : "";
}

/** Add copy buttons inside `root` (a message, or the whole page) where they are missing. */
export function decorate(root = document) {
  // Server-rendered copy buttons (the new API token's) stay hidden until this script can
  // serve them: a click before then would do nothing and say nothing.
  for (const ready of root.querySelectorAll("button[data-copy][hidden]")) ready.hidden = false;
  for (const pre of root.querySelectorAll(".markdown pre")) {
    if (pre.parentElement.classList.contains("code-block")) continue;
    const wrapper = document.createElement("div");
    wrapper.className = "code-block";
    pre.before(wrapper);
    wrapper.append(pre, button(gettext("Copy code"), "code"));
  }
  const messages = root.matches?.(".msg") ? [root] : root.querySelectorAll(".msg");
  for (const article of messages) {
    const body = article.querySelector(".msg-body");
    if (!body || body.hidden || !body.textContent.trim()) continue;
    const tools = toolsOf(article);
    if (!tools.querySelector(".copy-message")) tools.prepend(button(gettext("Copy"), "message"));
  }
}

document.addEventListener("click", async (event) => {
  const b = event.target.closest?.("button[data-copy]");
  if (!b) return;
  const ok = await copyText(source(b));
  b.textContent = ok ? gettext("Copied") : gettext("Copy failed");
  b.dataset.state = ok ? "copied" : "failed";
  setTimeout(() => {
    b.textContent = b.dataset.label;
    delete b.dataset.state;
  }, COPIED_MS);
});

decorate();
