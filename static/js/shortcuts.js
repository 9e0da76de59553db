// Keyboard shortcuts, the `?` overlay, the theme switch and the demo banner's Dismiss
// (issue 14). Loaded on every signed-in page; each part does nothing where its elements
// are missing. The forms work without JavaScript (a post and a reload); here they post
// with fetch and apply the change at once.

const dialog = document.getElementById("shortcuts");

function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function openShortcuts() {
  if (dialog && !dialog.open) dialog.showModal();
}

function newConversation() {
  const form = document.querySelector("form.new-conversation");
  if (form) form.requestSubmit();
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.isComposing) return;
  const mod = event.ctrlKey || event.metaKey;
  if (mod && event.shiftKey && !event.altKey && event.key.toLowerCase() === "o") {
    event.preventDefault();
    newConversation();
    return;
  }
  if (mod && !event.shiftKey && !event.altKey && event.key.toLowerCase() === "k") {
    const box = document.querySelector(".search-input");
    if (box) {
      event.preventDefault();
      box.closest("details")?.setAttribute("open", "");
      box.focus();
      box.select();
    }
    return;
  }
  if (event.key === "Escape") {
    if (dialog?.open) return; // the dialog closes itself
    const stop = document.getElementById("stop-button");
    if (stop && !stop.disabled) {
      event.preventDefault();
      stop.click();
    }
    return;
  }
  if (mod || event.altKey || typing(event.target)) return;
  if (event.key === "?") {
    event.preventDefault();
    openShortcuts();
  } else if (event.key === "/") {
    const box = document.getElementById("composer-input");
    if (box && !box.disabled) {
      event.preventDefault();
      box.focus();
    }
  }
});

const opener = document.getElementById("shortcuts-open");
if (opener) {  // drawn hidden: without this script it would do nothing
  opener.addEventListener("click", openShortcuts);
  opener.hidden = false;
}

// --- preferences posted in the background ------------------------------------------------

async function save(form, name, value) {
  const body = new FormData(form);
  body.set(name, value);
  try {
    // keepalive: a choice made just before leaving the page (a reload, a link) still arrives.
    const response = await fetch(form.action, {
      method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin", keepalive: true,
    });
    return response.ok;
  } catch {
    return false;
  }
}

const themeSwitch = document.getElementById("theme-switch");
themeSwitch?.addEventListener("submit", async (event) => {
  const choice = event.submitter?.value;
  if (!choice) return;
  event.preventDefault();
  if (choice === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = choice;
  for (const option of themeSwitch.querySelectorAll("button[name=theme]")) {
    option.setAttribute("aria-pressed", String(option.value === choice));
  }
  if (!(await save(themeSwitch, "theme", choice))) themeSwitch.dataset.saved = "false";
});

const dismiss = document.getElementById("demo-banner-dismiss");
dismiss?.addEventListener("submit", async (event) => {
  event.preventDefault();
  document.getElementById("demo-banner")?.remove();
  await save(dismiss, "demo_banner", "dismissed");
});

// The language: a normal post and a reload (every text on the page changes), on choosing.
const languageSwitch = document.getElementById("language-switch");
if (languageSwitch) {
  languageSwitch.querySelector(".language-apply").hidden = true;
  languageSwitch.querySelector("select").addEventListener("change", () => languageSwitch.requestSubmit());
}
