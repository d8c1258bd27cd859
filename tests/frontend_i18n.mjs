// Formats strings with the ComfyUI frontend's own message formatter (vue-i18n, the chunk a
// frontend build ships as assets/vendor-i18n-*.js), exactly as it formats our locale strings.
//
//   node frontend_i18n.mjs ASSETS_DIR MESSAGES.json
//
// MESSAGES.json: a list of strings. Prints one JSON line per string: {out} (the formatted
// text) or {error} (what the formatter threw), plus any warning it printed.

import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [assets, messagesFile] = process.argv.slice(2);
const chunk = readdirSync(assets).find((f) => /^vendor-i18n-.*\.js$/.test(f));
if (!chunk) {
  console.error(`no vendor-i18n-*.js in ${assets}`);
  process.exit(3);
}
// The chunk and what it imports are ES modules named .js: copy them beside a package.json that
// says so (the frontend's folder has none).
const work = mkdtempSync(join(tmpdir(), "levitor-i18n-"));
try {
  writeFileSync(join(work, "package.json"), '{"type": "module"}');
  const todo = [chunk];
  const seen = new Set();
  while (todo.length) {
    const f = todo.pop();
    if (seen.has(f)) continue;
    seen.add(f);
    cpSync(join(assets, f), join(work, f));
    for (const m of readFileSync(join(assets, f), "utf8").matchAll(/from\s*["']\.\/([^"']+)["']/g)) todo.push(m[1]);
  }
  const mod = await import(pathToFileURL(join(work, chunk)).href);
  // The chunk exports createI18n under a minified name: the export that builds an i18n object.
  let createI18n = null;
  for (const v of Object.values(mod)) {
    if (typeof v !== "function") continue;
    try {
      const probe = v({ legacy: false, locale: "en", messages: { en: { k: "x" } } });
      if (probe && probe.global && typeof probe.global.t === "function") {
        createI18n = v;
        break;
      }
    } catch (err) {
      /* not it */
    }
  }
  if (!createI18n) {
    console.error(`no createI18n export in ${chunk}`);
    process.exit(3);
  }
  const messages = JSON.parse(readFileSync(messagesFile, "utf8"));
  const en = Object.fromEntries(messages.map((m, i) => [`k${i}`, m]));
  const i18n = createI18n({ legacy: false, locale: "en", messages: { en }, missingWarn: false, fallbackWarn: false });
  const warn = console.warn;
  messages.forEach((m, i) => {
    const warnings = [];
    console.warn = (...a) => warnings.push(a.map(String).join(" "));
    let row;
    try {
      row = { out: i18n.global.t(`k${i}`) };
    } catch (err) {
      row = { error: String((err && err.message) || err) };
    }
    console.warn = warn;
    process.stdout.write(JSON.stringify({ ...row, warnings }) + "\n");
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
