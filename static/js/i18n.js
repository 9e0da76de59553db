// The scripts' translations: Django's JavaScriptCatalog (/jsi18n/, loaded by base.html before
// any module) defines gettext, ngettext and interpolate. Without it (a page that does not load
// it) the English text is used as it is. `make messages` finds the strings (docs/ui.md).

const catalog = globalThis;

/** The translation of `text`. */
export function gettext(text) {
  return typeof catalog.gettext === "function" ? catalog.gettext(text) : text;
}

/** The singular or plural translation for `count`. */
export function ngettext(singular, plural, count) {
  if (typeof catalog.ngettext === "function") return catalog.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

/** `text` with each %(name)s replaced by values[name]. */
export function format(text, values) {
  return text.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}

/** The page's language (<html lang>), for numbers and dates. */
export function pageLanguage() {
  return document.documentElement.lang || "en";
}
