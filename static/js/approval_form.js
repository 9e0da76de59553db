/* The decision page (admin → approval request): a form generated from the tool's JSON
   Schema, validated live before submit, with a diff of what will run; keyboard shortcuts.
   The server validates the edit again (approvals.services); this only saves round trips.
   Loaded as a file: the Content-Security-Policy allows no inline script or style. */
(function () {
  "use strict";
  // Translations from /jsi18n/ (the change form loads it first); English without it.
  const gettext = typeof window.gettext === "function" ? window.gettext : (text) => text;
  const format = (text, values) => text.replace(/%\((\w+)\)s/g, (m, k) => (k in values ? String(values[k]) : m));
  const root = document.querySelector(".toolgate-approval");
  const schemaNode = document.getElementById("toolgate-tool-schema");
  const originalNode = document.getElementById("toolgate-original-arguments");
  const form = document.querySelector("form.toolgate-decide");
  if (!root) return;

  // --- keyboard shortcuts -------------------------------------------------------------
  const typing = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && typing(document.activeElement)) { document.activeElement.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const go = {
      a: () => document.getElementById("toolgate-approve")?.click(),
      e: () => document.querySelector("#toolgate-schema-form [data-path]")?.focus(),
      d: () => document.getElementById("reason")?.focus(),
      n: () => { const next = root.dataset.nextUrl; if (next) window.location.assign(next); },
    }[event.key];
    if (go) { event.preventDefault(); go(); }
  });
  // Enter in the reason denies (the browser would submit with the form's first button: Approve).
  document.getElementById("reason")?.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); document.getElementById("toolgate-deny")?.click(); }
  });
  if (!schemaNode || !originalNode || !form) return;

  const schema = JSON.parse(schemaNode.textContent);
  const original = JSON.parse(originalNode.textContent);
  const holder = document.getElementById("toolgate-schema-form");
  const raw = document.getElementById("edited_arguments");
  const errorsBox = document.getElementById("toolgate-edit-errors");
  const diffBox = document.getElementById("toolgate-edit-diff");
  const submit = document.getElementById("toolgate-approve-edited");
  if (!schema || !holder || !raw) return;

  const resolve = (s) => {
    if (s && s.$ref && s.$ref.startsWith("#/$defs/")) return resolve(schema.$defs[s.$ref.slice(8)]);
    if (s && Array.isArray(s.anyOf)) {  // Optional[X]: the non-null branch, empty means null
      const branch = s.anyOf.find((b) => b.type !== "null");
      if (branch) return { ...resolve(branch), description: s.description, nullable: true };
    }
    return s || {};
  };
  // Keys in the schema's order (then any others, sorted): the diff must not depend on the
  // order the database kept them in (PostgreSQL's jsonb reorders keys, SQLite does not).
  const ordered = (v, s) => {
    s = resolve(s);
    if (Array.isArray(v)) return v.map((item) => ordered(item, s.items));
    if (v === null || typeof v !== "object") return v;
    const known = Object.keys(s.properties || {}).filter((k) => k in v);
    const rest = Object.keys(v).filter((k) => !known.includes(k)).sort();
    return Object.fromEntries([...known, ...rest].map((k) => [k, ordered(v[k], (s.properties || {})[k])]));
  };
  const pretty = (v, s = schema) => JSON.stringify(ordered(v, s), null, 2);
  const el = (tag, attrs = {}, text) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };

  // --- the generated form ------------------------------------------------------------
  const fields = [];  // {path: [...], schema, input, kind}
  function build(container, s, value, path) {
    s = resolve(s);
    for (const [name, propRaw] of Object.entries(s.properties || {})) {
      const prop = resolve(propRaw);
      const here = [...path, name];
      const id = "toolgate-field-" + here.join("-");
      const v = value && typeof value === "object" ? value[name] : undefined;
      if (prop.type === "object" && prop.properties) {
        const set = el("fieldset", { class: "toolgate-nested" });
        set.append(el("legend", {}, name));
        container.append(set);
        build(set, prop, v, here);
        continue;
      }
      const row = el("div", { class: "toolgate-field" });
      const required = (s.required || []).includes(name);
      row.append(el("label", { for: id }, name + (required ? " *" : "")));
      let input, kind, hint = "";
      if (Array.isArray(prop.enum)) {
        kind = "enum";
        input = el("select", { id });
        if (!required) input.append(el("option", { value: "" }, gettext("(none)")));
        prop.enum.forEach((choice, i) => input.append(el("option", { value: String(i) }, String(choice))));
        const index = prop.enum.findIndex((c) => JSON.stringify(c) === JSON.stringify(v));
        input.value = index >= 0 ? String(index) : "";
      } else if (prop.type === "boolean") {
        kind = "boolean";
        input = el("input", { id, type: "checkbox" });
        input.checked = v === true;
      } else if (prop.type === "integer" || prop.type === "number") {
        kind = prop.type;
        input = el("input", { id, type: "number", step: prop.type === "integer" ? "1" : "any" });
        input.value = v === undefined || v === null ? "" : String(v);
      } else if (prop.type === "array" && ["string", "integer", "number"].includes(resolve(prop.items).type)) {
        kind = "lines";
        input = el("textarea", { id, rows: "3", cols: "60" });
        input.value = Array.isArray(v) ? v.join("\n") : "";
        hint = gettext("One per line.");
      } else if (prop.type === "string") {
        kind = "string";
        const long = (prop.maxLength || 0) > 200 || (typeof v === "string" && (v.length > 60 || v.includes("\n")));
        input = long ? el("textarea", { id, rows: "4", cols: "60" }) : el("input", { id, type: "text", size: "60" });
        input.value = v === undefined || v === null ? "" : String(v);
      } else {
        kind = "json";
        input = el("textarea", { id, rows: "4", cols: "60", class: "toolgate-json-input" });
        input.value = v === undefined ? "" : pretty(v, prop);
        hint = gettext("JSON.");
      }
      input.dataset.path = here.join(".");
      row.append(input);
      const help = [prop.description, hint].filter(Boolean).join(" ");
      if (help) row.append(el("p", { class: "help" }, help));
      row.append(el("p", { class: "toolgate-field-error", id: id + "-error", hidden: "" }));
      input.setAttribute("aria-describedby", id + "-error");
      container.append(row);
      fields.push({ path: here, schema: prop, input, kind, required });
      input.addEventListener("input", fromForm);
      input.addEventListener("change", fromForm);
    }
  }

  function readField(f) {
    const text = f.kind === "boolean" ? null : f.input.value;
    if (f.kind === "boolean") return { value: f.input.checked };
    if (text.trim() === "") return { missing: true };
    if (f.kind === "enum") return { value: f.schema.enum[Number(text)] };
    if (f.kind === "integer" || f.kind === "number") return { value: Number(text) };
    if (f.kind === "lines") {
      const itemType = resolve(f.schema.items).type;
      const items = text.split("\n").map((s) => s.trim()).filter((s) => s !== "");
      return { value: itemType === "string" ? items : items.map(Number) };
    }
    if (f.kind === "json") {
      try { return { value: JSON.parse(text) }; } catch (e) { return { error: gettext("is not valid JSON") }; }
    }
    return { value: text };
  }

  function setPath(obj, path, value) {
    let node = obj;
    path.slice(0, -1).forEach((p) => { node = node[p] = node[p] && typeof node[p] === "object" ? node[p] : {}; });
    node[path[path.length - 1]] = value;
  }

  // --- validation (the subset of JSON Schema tool schemas use) --------------------------
  const typeOk = (t, v) => ({
    string: typeof v === "string", boolean: typeof v === "boolean", null: v === null,
    integer: Number.isInteger(v), number: typeof v === "number" && Number.isFinite(v),
    array: Array.isArray(v), object: v !== null && typeof v === "object" && !Array.isArray(v),
  })[t] ?? true;

  function validate(s, v, path, out) {
    s = resolve(s);
    const at = path.join(".") || gettext("(arguments)");
    if (v === null && s.nullable) return out;
    if (s.type && !(Array.isArray(s.type) ? s.type.some((t) => typeOk(t, v)) : typeOk(s.type, v))) {
      out.push({ path: at, problem: format(gettext("must be of type %(types)s"), { types: [].concat(s.type).join(gettext(" or ")) }) });
      return out;
    }
    if (s.enum && !s.enum.some((c) => JSON.stringify(c) === JSON.stringify(v))) {
      out.push({ path: at, problem: format(gettext("must be one of %(choices)s"), { choices: s.enum.map((c) => JSON.stringify(c)).join(", ") }) });
    }
    if (typeof v === "string") {
      if (s.minLength !== undefined && v.length < s.minLength) out.push({ path: at, problem: format(gettext("must have at least %(count)s character(s)"), { count: s.minLength }) });
      if (s.maxLength !== undefined && v.length > s.maxLength) out.push({ path: at, problem: format(gettext("must have at most %(count)s characters"), { count: s.maxLength }) });
      if (s.pattern && !new RegExp(s.pattern, "u").test(v)) out.push({ path: at, problem: format(gettext("must match %(pattern)s"), { pattern: s.pattern }) });
    }
    if (typeof v === "number") {
      if (s.minimum !== undefined && v < s.minimum) out.push({ path: at, problem: format(gettext("must be at least %(limit)s"), { limit: s.minimum }) });
      if (s.maximum !== undefined && v > s.maximum) out.push({ path: at, problem: format(gettext("must be at most %(limit)s"), { limit: s.maximum }) });
      if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) out.push({ path: at, problem: format(gettext("must be more than %(limit)s"), { limit: s.exclusiveMinimum }) });
      if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum) out.push({ path: at, problem: format(gettext("must be less than %(limit)s"), { limit: s.exclusiveMaximum }) });
    }
    if (Array.isArray(v)) {
      if (s.minItems !== undefined && v.length < s.minItems) out.push({ path: at, problem: format(gettext("must have at least %(count)s item(s)"), { count: s.minItems }) });
      if (s.maxItems !== undefined && v.length > s.maxItems) out.push({ path: at, problem: format(gettext("must have at most %(count)s items"), { count: s.maxItems }) });
      if (s.items) v.forEach((item, i) => validate(s.items, item, [...path, String(i)], out));
    }
    if (typeOk("object", v) && (s.properties || s.required)) {
      for (const name of s.required || []) if (!(name in v)) out.push({ path: [...path, name].join("."), problem: gettext("is required") });
      for (const [name, item] of Object.entries(v)) {
        if (s.properties && name in s.properties) validate(s.properties[name], item, [...path, name], out);
        else if (s.additionalProperties === false) out.push({ path: [...path, name].join("."), problem: gettext("is not a parameter of this tool") });
      }
    }
    return out;
  }

  // --- the diff of what will run ---------------------------------------------------------
  function diff(a, b) {
    const x = a.split("\n"), y = b.split("\n");
    const n = x.length, m = y.length;
    const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    const lines = [];
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && x[i] === y[j]) { lines.push(["same", "  " + x[i]]); i++; j++; }
      else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) { lines.push(["add", "+ " + y[j]]); j++; }
      else { lines.push(["del", "- " + x[i]]); i++; }
    }
    return lines;
  }

  function show(edited, problems) {
    errorsBox.replaceChildren(...problems.map((p) => el("li", {}, `${p.path}: ${p.problem}`)));
    errorsBox.hidden = problems.length === 0;
    for (const f of fields) {
      const mine = problems.filter((p) => p.path === f.path.join(".") || p.path.startsWith(f.path.join(".") + "."));
      const box = document.getElementById(f.input.id + "-error");
      box.textContent = mine.map((p) => p.problem).join("; ");
      box.hidden = mine.length === 0;
      f.input.setAttribute("aria-invalid", mine.length ? "true" : "false");
    }
    submit.disabled = problems.length > 0;
    const changes = edited === undefined ? [] : diff(pretty(original), pretty(edited));
    const changed = changes.some(([kind]) => kind !== "same");
    diffBox.replaceChildren(...(changed ? changes.map(([kind, text]) => el("span", { class: `toolgate-diff-${kind}` }, text + "\n"))
      : [el("span", { class: "toolgate-diff-same" }, gettext("No changes: this runs as asked."))]));
  }

  function fromForm() {
    const edited = JSON.parse(JSON.stringify(original));
    const problems = [];
    for (const f of fields) {
      const read = readField(f);
      if (read.error) problems.push({ path: f.path.join("."), problem: read.error });
      else if (read.missing) {
        const parent = f.path.slice(0, -1).reduce((o, p) => (o && o[p]) || undefined, edited);
        if (parent) delete parent[f.path[f.path.length - 1]];
        if (f.schema.nullable) setPath(edited, f.path, null);
      } else setPath(edited, f.path, read.value);
    }
    validate(schema, edited, [], problems);
    raw.value = pretty(edited);
    show(edited, problems);
  }

  function fromRaw() {
    let edited;
    try { edited = JSON.parse(raw.value); } catch (e) { show(undefined, [{ path: gettext("(arguments)"), problem: format(gettext("not valid JSON: %(error)s"), { error: e.message }) }]); return; }
    fields.length = 0;
    holder.replaceChildren();
    build(holder, schema, edited, []);
    show(edited, validate(schema, edited, [], []));
  }

  build(holder, schema, original, []);
  raw.addEventListener("input", fromRaw);
  fromForm();
  form.addEventListener("submit", (event) => {
    if (event.submitter && event.submitter.value === "approve_edited" && submit.disabled) event.preventDefault();
  });
  root.classList.add("toolgate-form-ready");
})();
