// Attachments (issue 14): files for the next message, uploaded at once from the Attach
// button, by dropping them on the chat, or by pasting them into the message box. Each
// becomes a chip (name, size, ×); × deletes the file from the workspace again. Without
// JavaScript the same forms post (Upload, ×). Names are only ever inserted as text, and
// every word shown comes from the server's translated data-* attributes on #attach-form.

const form = document.getElementById("attach-form");
const chips = document.getElementById("attachment-chips");
const words = form ? form.dataset : {};

function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? values[key] : whole));
}

function csrf() {
  return form.querySelector('input[name="csrfmiddlewaretoken"]').value;
}

function sizeText(bytes) {
  if (bytes < 1024) return fill(bytes === 1 ? words.byte : words.bytes, { n: bytes });
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A chip like templates/assistant/_attachment_chip.html renders. */
export function chip(a, { removable = true } = {}) {
  const li = document.createElement("li");
  li.className = "chip";
  li.dataset.attachmentId = a.id;
  const name = document.createElement("span");
  name.className = "chip-name";
  name.title = a.path;
  name.textContent = a.name;
  const size = document.createElement("span");
  size.className = "chip-size";
  size.textContent = sizeText(a.size);
  li.append(name, " ", size);
  if (removable && form) {
    const remove = document.createElement("form");
    remove.method = "post";
    remove.className = "chip-remove";
    remove.action = `${form.action}${a.id}/remove/`;
    remove.dataset.confirm = fill(words.removeConfirm, { name: a.name });
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrfmiddlewaretoken";
    token.value = csrf();
    const button = document.createElement("button");
    button.type = "submit";
    button.className = "chip-button";
    button.textContent = "×";
    button.setAttribute("aria-label", fill(words.removeLabel, { name: a.name }));
    button.title = words.removeTitle;
    remove.append(token, button);
    li.append(" ", remove);
  }
  return li;
}

function status(text, state = "") {
  let line = document.getElementById("attach-status");
  if (!line) {
    line = document.createElement("p");
    line.id = "attach-status";
    line.className = "attach-status";
    line.setAttribute("role", "status");
    chips.after(line);
  }
  line.dataset.state = state;
  line.textContent = text;
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", body, credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": csrf() },
  });
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    answer = { error: { message: response.statusText || String(response.status) } };
  }
  return { ok: response.ok, answer };
}

export async function upload(files) {
  for (const file of files) {
    status(fill(words.uploading, { name: file.name }));
    const body = new FormData();
    body.append("file", file, file.name);
    let result;
    try {
      result = await post(form.action, body);
    } catch (error) {
      result = { ok: false, answer: { error: { message: error.message } } };
    }
    for (const a of result.answer.attachments ?? []) chips.append(chip(a));
    if (!result.ok) {
      status(fill(words.failed, { reason: result.answer.error?.message ?? "" }), "error");
      return;
    }
  }
  status("");
}

async function remove(removeForm) {
  const li = removeForm.closest(".chip");
  const result = await post(removeForm.action, new FormData(removeForm)).catch((error) => (
    { ok: false, answer: { error: { message: error.message } } }));
  if (!result.ok) {
    status(fill(words.failed, { reason: result.answer.error?.message ?? "" }), "error");
    return;
  }
  if (li.closest("#attachment-chips")) {
    li.remove();
  } else {
    li.classList.add("chip-removed");
    const label = document.createElement("span");
    label.className = "chip-state";
    label.textContent = words.removed;
    removeForm.replaceWith(label);
  }
}

/** message.created: the composer's chips now belong to that message. */
export function messageCreated(article, message) {
  const sent = message.attachments ?? [];
  if (!form || !article || !sent.length) return;
  for (const a of sent) chips.querySelector(`[data-attachment-id="${CSS.escape(a.id)}"]`)?.remove();
  if (article.querySelector(".msg-attachments")) return;
  const list = document.createElement("ul");
  list.className = "attachment-chips msg-attachments";
  for (const a of sent) list.append(chip(a));
  article.append(list);
}

if (form) {
  const input = form.querySelector("#attach-input");
  form.querySelector("#attach-submit").hidden = true;
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    await upload(files);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    upload([...input.files]);
  });
  // × on a chip (composer or message): asks, then deletes without leaving the page.
  document.addEventListener("submit", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLFormElement) || !target.classList.contains("chip-remove")) return;
    event.preventDefault();
    event.stopImmediatePropagation(); // forms.js would ask a second time
    if (window.confirm(target.dataset.confirm)) remove(target);
  }, true);
  // Drop files anywhere on the chat; paste them into the message box.
  const zone = document.querySelector(".chat") ?? document.body;
  const composer = document.getElementById("composer");
  const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
  zone.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    composer?.classList.add("dropping");
    if (composer) composer.dataset.drop = words.drop;
  });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) composer?.classList.remove("dropping");
  });
  zone.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    composer?.classList.remove("dropping");
    upload([...event.dataTransfer.files]);
  });
  document.getElementById("composer-input")?.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (!files.length) return; // plain text pastes as usual
    event.preventDefault();
    upload(files);
  });
}
