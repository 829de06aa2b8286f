// Copies the pinned front-end files the portal serves into src/hakutaku/portal/static/vendor.
// Run by `make install` after `npm ci`; the portal loads nothing from a CDN.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "src", "hakutaku", "portal", "static", "vendor");
const files = {
  "htmx.min.js": "htmx.org/dist/htmx.min.js",
  "htmx-sse.js": "htmx-ext-sse/dist/sse.min.js",
  "pico.min.css": "@picocss/pico/css/pico.min.css",
  "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
  "uPlot.min.css": "uplot/dist/uPlot.min.css",
  // incremental SHA-256 of uploads in the browser (WebAssembly; the files page allows it)
  "hash-wasm-sha256.min.js": "hash-wasm/dist/sha256.umd.min.js",
  // the chat page: Markdown, its sanitiser, code highlighting and LaTeX
  "marked.umd.js": "marked/lib/marked.umd.js",
  "purify.min.js": "dompurify/dist/purify.min.js",
  "highlight.min.js": "@highlightjs/cdn-assets/highlight.min.js",
  "highlight-github.min.css": "@highlightjs/cdn-assets/styles/github.min.css",
  "katex/katex.min.js": "katex/dist/katex.min.js",
  "katex/katex.min.css": "katex/dist/katex.min.css",
  // the Terminal app's page (hakutaku.apps.terminal serves them from here)
  "xterm.js": "@xterm/xterm/lib/xterm.js",
  "xterm.css": "@xterm/xterm/css/xterm.css",
  "xterm-addon-fit.js": "@xterm/addon-fit/lib/addon-fit.js",
};
// KaTeX's fonts, beside its CSS (it names them fonts/…); woff2 is what every browser takes.
const fontDirs = { "katex/fonts": "katex/dist/fonts" };

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
for (const [name, source] of Object.entries(files)) {
  mkdirSync(dirname(join(target, name)), { recursive: true });
  copyFileSync(join(here, "node_modules", source), join(target, name));
}
let fonts = 0;
for (const [name, source] of Object.entries(fontDirs)) {
  mkdirSync(join(target, name), { recursive: true });
  for (const file of readdirSync(join(here, "node_modules", source))) {
    if (!file.endsWith(".woff2")) continue;
    copyFileSync(join(here, "node_modules", source, file), join(target, name, file));
    fonts += 1;
  }
}
console.log(`vendor: ${Object.keys(files).length} files and ${fonts} fonts in ${target}`);
