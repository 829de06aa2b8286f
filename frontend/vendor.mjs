// Copies the pinned front-end files the portal serves into src/hakutaku/portal/static/vendor.
// Run by `make install` after `npm ci`; the portal loads nothing from a CDN.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
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
  // the Terminal app's page (hakutaku.apps.terminal serves them from here)
  "xterm.js": "@xterm/xterm/lib/xterm.js",
  "xterm.css": "@xterm/xterm/css/xterm.css",
  "xterm-addon-fit.js": "@xterm/addon-fit/lib/addon-fit.js",
};

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
for (const [name, source] of Object.entries(files)) {
  copyFileSync(join(here, "node_modules", source), join(target, name));
}
console.log(`vendor: ${Object.keys(files).length} files in ${target}`);
