// The model playground: JSON in, JSON out. The browser calls /v1 itself (portalFetch adds the
// CSRF token; the session cookie signs the call), so a playground call is an ordinary gateway
// call: the same checks, the same errors, metered as the user's.
"use strict";
(function () {
  const form = document.getElementById("playground");
  if (!form) return;
  const select = document.getElementById("pg-call");
  const body = document.getElementById("pg-body");
  const status = document.getElementById("pg-status");
  const output = document.getElementById("pg-output");
  const error = document.getElementById("pg-error");
  const curl = document.getElementById("pg-curl");
  const button = form.querySelector("button[type=submit]");
  const text = form.dataset;
  let template = body.value;

  const chosen = () => select.options[select.selectedIndex];

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  function readArguments() {
    const raw = body.value.trim();
    const value = raw ? JSON.parse(raw) : {};
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new TypeError(text.notObject);
    }
    return chosen().dataset.embeddings === "1" ? Object.assign({ model: text.model }, value) : value;
  }

  function updateCurl() {
    if (!curl) return;
    let payload;
    try {
      payload = JSON.stringify(readArguments());
    } catch (_e) {
      payload = "…";
    }
    const quoted = payload.replace(/'/g, "'\\''");
    curl.textContent =
      `curl -s ${text.baseUrl}${chosen().dataset.path} -H "Authorization: Bearer $HAI_API_KEY" ` +
      `-H "Content-Type: application/json" -d '${quoted}'`;
  }

  // An answer as a value: JSON, NDJSON (a generator's stream: one item a line), or text.
  function decode(raw, contentType) {
    const type = (contentType || "").split(";")[0].trim();
    try {
      if (type === "application/x-ndjson") {
        return raw.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
      }
      if (type === "application/json") return JSON.parse(raw);
    } catch (_e) {
      return raw;
    }
    return raw;
  }

  // JSON indented for reading, but a list of plain values (an embedding, a histogram) on one
  // line: 384 numbers one per line would bury the rest of the answer.
  function pretty(value, indent = "") {
    const inner = indent + "  ";
    if (Array.isArray(value)) {
      if (!value.length) return "[]";
      if (value.every((item) => item === null || typeof item !== "object")) {
        return `[${value.map((item) => JSON.stringify(item)).join(", ")}]`;
      }
      return `[\n${value.map((item) => inner + pretty(item, inner)).join(",\n")}\n${indent}]`;
    }
    if (value !== null && typeof value === "object") {
      const keys = Object.keys(value);
      if (!keys.length) return "{}";
      const items = keys.map((k) => `${inner}${JSON.stringify(k)}: ${pretty(value[k], inner)}`);
      return `{\n${items.join(",\n")}\n${indent}}`;
    }
    return JSON.stringify(value);
  }

  // The OpenAI-shaped error of a refusal, or the error frame that ended a stream.
  function errorOf(value) {
    if (value && typeof value === "object" && !Array.isArray(value) && value.error) {
      return value.error;
    }
    if (Array.isArray(value) && value.length) {
      const last = value[value.length - 1];
      if (last && typeof last === "object" && last.__hai_error__) return last.__hai_error__;
    }
    return null;
  }

  select.addEventListener("change", () => {
    // Keep what the user typed; replace only an untouched example.
    if (!body.value.trim() || body.value === template) body.value = chosen().dataset.template;
    template = chosen().dataset.template;
    updateCurl();
  });
  body.addEventListener("input", updateCurl);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    let payload;
    try {
      payload = readArguments();
    } catch (e) {
      showError(e instanceof SyntaxError ? `${text.badJson} ${e.message}` : e.message);
      body.focus();
      return;
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    status.textContent = text.sending;
    output.textContent = "";
    const started = performance.now();
    try {
      const response = await window.portalFetch(chosen().dataset.path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload),
      });
      const raw = await response.text();
      const ms = Math.round(performance.now() - started);
      const value = decode(raw, response.headers.get("content-type"));
      status.textContent = `${response.status} ${response.statusText} · ${ms} ms`;
      const failure = errorOf(value);
      if (!response.ok || failure) {
        showError(failure ? failure.message : raw || `${response.status}`);
      }
      output.textContent = typeof value === "string" ? value : pretty(value);
    } catch (e) {
      status.textContent = "";
      showError(`${text.unreachable} ${e.message}`);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });

  updateCurl();
})();
