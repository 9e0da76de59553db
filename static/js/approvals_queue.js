// The admin's live approval queue (templates/admin/approvals/approvalrequest/change_list.html).
//
// The socket (/ws/approvals/, approvals/consumers.py) is a doorbell: {"type": "queue.changed",
// "pending": N, "approval_id": id, "change": "added"|"removed", "decidable": bool}; it never
// carries a tool name or an argument. On each ring the page fetches itself — same filters, sort
// and page — with the header X-Toolgate-Live, and swaps in the rows, the counts and the filters:
// the admin rendered and escaped every value, for this user, exactly as a reload would.
//
// The list is also fetched every data-refresh-ms (APPROVALS_QUEUE_REFRESH, 30 s) while the tab
// is visible, so "waiting" and "expires" stay current in the server's own translated words; a
// tab that comes back into view refreshes at once.
//
// On a phone the rows are shown as cards (css/admin.css): each cell gets its column's header as
// data-label, which the stylesheet shows before the value.
//
// The title badge ("(3) Approval queue") counts the pending requests this approver may decide;
// an optional chime (off by default) sounds when one arrives. Both choices are remembered per
// approver in this browser. No user-facing text lives here: the template's translated catalog
// (#toolgate-queue-strings) holds it.
const live = document.getElementById("toolgate-queue-live");
const catalog = document.getElementById("toolgate-queue-strings");
const strings = catalog ? JSON.parse(catalog.textContent) : {};
const badgeBox = document.getElementById("toolgate-queue-badge");
const soundBox = document.getElementById("toolgate-queue-sound");
const baseTitle = document.title;
// The options are drawn hidden: without this script they would change nothing.
badgeBox?.closest("fieldset")?.removeAttribute("hidden");
const LIVE_HEADER = "X-Toolgate-Live";

function say(key, values = {}) {
  return (strings[key] || "").replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
}

// --- remembered options ----------------------------------------------------------------------

function prefKey(name) { return `toolgate.queue.${name}.${live.dataset.userKey || "anonymous"}`; }
function readPref(name, fallback) {
  try { const value = localStorage.getItem(prefKey(name)); return value === null ? fallback : value === "on"; }
  catch { return fallback; }
}
function writePref(name, on) {
  try { localStorage.setItem(prefKey(name), on ? "on" : "off"); } catch { /* private mode: not remembered */ }
}

function updateTitle() {
  const count = Number(live.dataset.decidable || 0);
  document.title = badgeBox && badgeBox.checked && count > 0 ? say("badge", { count, title: baseTitle }) : baseTitle;
}

let audio = null;
function chime() {
  if (!soundBox || !soundBox.checked) return;
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const now = audio.currentTime;
    const tone = audio.createOscillator();
    const volume = audio.createGain();
    tone.type = "sine";
    tone.frequency.setValueAtTime(880, now);
    tone.frequency.setValueAtTime(660, now + 0.12);
    volume.gain.setValueAtTime(0.0001, now);
    volume.gain.exponentialRampToValueAtTime(0.15, now + 0.02);
    volume.gain.exponentialRampToValueAtTime(0.0001, now + 0.3);
    tone.connect(volume).connect(audio.destination);
    tone.start(now);
    tone.stop(now + 0.32);
  } catch { /* no audio output here: the badge and the list still tell */ }
}

// --- swapping in the fresh list --------------------------------------------------------------

function labelCells(root) {
  const table = root.querySelector("#result_list");
  if (!table) return;
  const heads = Array.from(table.querySelectorAll("thead th"), (th) => th.textContent.trim());
  table.querySelectorAll("tbody tr").forEach((row) => {
    Array.from(row.children).forEach((cell, index) => {
      if (heads[index]) cell.dataset.label = heads[index];
    });
  });
}

function rowId(row) {
  const box = row.querySelector("input.action-select");
  if (box) return box.value;
  const link = row.querySelector('a[href*="/change/"]');
  return link ? link.getAttribute("href") : "";
}
function rowIds(root) { return Array.from(root.querySelectorAll("#result_list tbody tr"), rowId); }
function adopt(target, source) {
  const nodes = Array.from(source.childNodes); // a copy: adopting a node takes it out of the live list
  target.replaceChildren(...nodes.map((node) => document.adoptNode(node)));
}

function swapFilters(fresh) {
  const filters = document.getElementById("changelist-filter");
  const incoming = fresh.getElementById("changelist-filter");
  if (!filters || !incoming) return;
  const closed = new Set(Array.from(filters.querySelectorAll("details[data-filter-title]:not([open])"),
    (d) => d.dataset.filterTitle));
  adopt(filters, incoming);
  filters.querySelectorAll("details[data-filter-title]").forEach((d) => { if (closed.has(d.dataset.filterTitle)) d.open = false; });
}

function swap(fresh) {
  const form = document.getElementById("changelist-form");
  const incoming = fresh.getElementById("changelist-form");
  if (!form || !incoming) return { added: 0, removed: 0 };
  const before = new Set(rowIds(form));
  const checked = new Set(Array.from(form.querySelectorAll("input.action-select:checked"), (b) => b.value));
  const action = form.querySelector("select[name=action]");
  const chosen = action ? action.value : "";
  adopt(form, incoming);
  labelCells(form);
  const after = rowIds(form);
  let added = 0;
  form.querySelectorAll("#result_list tbody tr").forEach((row) => {
    if (!before.has(rowId(row))) { row.classList.add("toolgate-new-row"); added += 1; }
  });
  const removed = Array.from(before).filter((id) => !after.includes(id)).length;
  const newAction = form.querySelector("select[name=action]");
  if (newAction && chosen) newAction.value = chosen;
  const boxes = form.querySelectorAll("tr input.action-select");
  if (boxes.length && typeof window.Actions === "function") {
    window.Actions(boxes); // Django's actions.js, bound again to the new checkboxes
    let last = null;
    boxes.forEach((box) => {
      if (checked.has(box.value)) { box.checked = true; box.closest("tr").classList.add("selected"); last = box; }
    });
    if (last) last.dispatchEvent(new Event("change", { bubbles: true })); // recount "n of m selected"
  }
  for (const id of ["toolgate-queue-counts"]) {
    const mine = document.getElementById(id);
    const theirs = fresh.getElementById(id);
    if (mine && theirs) adopt(mine, theirs);
  }
  swapFilters(fresh);
  const freshLive = fresh.getElementById("toolgate-queue-live");
  if (freshLive) live.dataset.decidable = freshLive.dataset.decidable || "0";
  return { added, removed };
}

let connected = false; // the periodic refresh runs only while the socket says we may watch
let inFlight = false;
let again = false;
let timer = null;

function scheduleRefresh() {
  clearTimeout(timer);
  timer = setTimeout(refresh, 150); // a burst of changes costs one fetch
}

async function refresh() {
  if (inFlight) { again = true; return; }
  inFlight = true;
  try {
    const response = await fetch(location.href, {
      headers: { [LIVE_HEADER]: "1" }, cache: "no-store", credentials: "same-origin",
    });
    if (new URL(response.url).pathname !== location.pathname) { live.textContent = say("signed_out"); return; }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const { added, removed } = swap(fresh);
    updateTitle();
    if (added) live.textContent = say(added === 1 ? "arrived_one" : "arrived_other", { count: added });
    else if (removed) live.textContent = say("left");
    document.body.dataset.queueRefreshed = String(Number(document.body.dataset.queueRefreshed || 0) + 1);
  } catch {
    live.textContent = say("refresh_failed");
  } finally {
    inFlight = false;
    if (again) { again = false; scheduleRefresh(); }
  }
}

// --- the socket ------------------------------------------------------------------------------

function connect(delay, first) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${live.dataset.wsPath}`);
  socket.addEventListener("open", () => { live.textContent = say("live"); delay = 500; connected = true; });
  socket.addEventListener("message", (event) => {
    let data;
    try { data = JSON.parse(event.data); } catch { return; }
    if (!data || data.type !== "queue.changed" || typeof data.pending !== "number") return;
    if (data.approval_id === undefined) { // the hello: catch up with what changed since the page was drawn
      const shown = document.getElementById("toolgate-pending-count");
      if (!first || (shown && Number(shown.textContent) !== data.pending)) scheduleRefresh();
      first = false;
      return;
    }
    if (data.change === "added" && data.decidable === true) chime();
    scheduleRefresh();
  });
  socket.addEventListener("close", (event) => {
    connected = false;
    if (event.code === 4401) { live.textContent = say("signed_out"); return; }
    if (event.code === 4403) { live.textContent = say("not_allowed"); return; }
    live.textContent = say("reconnecting");
    setTimeout(() => connect(Math.min(delay * 2, 10000), false), delay);
  });
}

if (live) {
  if (badgeBox) {
    badgeBox.checked = readPref("badge", true);
    badgeBox.addEventListener("change", () => { writePref("badge", badgeBox.checked); updateTitle(); });
  }
  if (soundBox) {
    soundBox.checked = readPref("sound", false);
    soundBox.addEventListener("change", () => { writePref("sound", soundBox.checked); chime(); });
  }
  updateTitle();
  labelCells(document);
  connect(500, true);
  const every = Number(live.dataset.refreshMs || 0);
  if (every > 0) {
    const tick = () => { if (connected && !document.hidden) scheduleRefresh(); };
    setInterval(tick, every);
    document.addEventListener("visibilitychange", tick);
  }
}
