// The file manager (/files). Uploads go straight to the chunked API with the session cookie:
// SHA-256 in the browser (hash-wasm, block by block: a file is never read whole), then
// POST /api/files/uploads (the quota check; an open upload of the same path, size and
// checksum is resumed), PUT chunks at offsets, POST .../complete. Chunks are small requests
// whose size follows the measured speed; a failed or stalled chunk is retried with backoff for
// as long as the page is open, from the offset the server says it has. Also here: drag and
// drop of files and folders, the rename and delete dialogs, and the unfinished uploads list.
"use strict";
(function () {
  const app = document.getElementById("files-app");
  if (!app) return;

  const T = JSON.parse(app.dataset.messages || "{}");
  const KIB = 1024;
  const MIB = 1024 * KIB;
  const HASH_BLOCK = 8 * MIB; // read and hashed at a time
  const FIRST_CHUNK = 1 * MIB; // then doubled or halved to take about CHUNK_SECONDS each
  const MIN_CHUNK = 256 * KIB;
  const MAX_CHUNK = 16 * MIB; // never one long request, whatever the server would take
  const CHUNK_SECONDS = 2;
  const STALL_MS = 60000; // no byte sent for this long: abort the chunk and retry it
  const MAX_BACKOFF_S = 30;
  const PARALLEL = 2;
  const SPEED_WINDOW_MS = 5000;

  // -- text ----------------------------------------------------------------------------------

  function fmt(key, values) {
    const text = T[key] || key;
    return text.replace(/%\((\w+)\)[sd]/g, (_m, name) => String((values || {})[name] ?? ""));
  }

  // The platform's sizes: powers of 1024, four significant digits (hakutaku.compute.units).
  function formatSize(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let value = n;
    for (const unit of units) {
      if (Math.abs(value) < 1024 || unit === "PiB") {
        return unit === "B" ? `${Math.trunc(value)} B` : `${Number(value.toPrecision(4))} ${unit}`;
      }
      value /= 1024;
    }
    return `${n} B`;
  }

  function formatTime(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return fmt("seconds", { s });
    if (s < 3600) return fmt("minutes", { m: Math.floor(s / 60), s: s % 60 });
    return fmt("hours", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  }

  // -- talking to /api -----------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code || "";
      // Worth another try: no answer at all, or the server (or a proxy) was busy or failing.
      this.retryable = status === 0 || status === 408 || status === 429 ||
        (status >= 500 && status !== 501 && status !== 507);
    }
  }

  class Cancelled extends Error {}

  function errorOf(status, text, statusText) {
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_e) { body = null; }
    const error = (body && body.error) || {};
    return new ApiError(status, error.message || `${status} ${statusText || ""}`.trim(), error.code);
  }

  async function api(method, url, body) {
    let response;
    let text;
    try {
      const options = { method };
      if (body !== undefined) {
        options.headers = { "content-type": "application/json" };
        options.body = JSON.stringify(body);
      }
      response = await window.portalFetch(url, options);
      text = await response.text();
    } catch (_e) {
      throw new ApiError(0, T.network, "network");
    }
    if (!response.ok) throw errorOf(response.status, text, response.statusText);
    return { status: response.status, data: text ? JSON.parse(text) : null };
  }

  const uploadUrl = (id) => `/api/files/uploads/${encodeURIComponent(id)}`;

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // -- one file's upload ---------------------------------------------------------------------

  const list = document.getElementById("transfer-list");
  const template = document.getElementById("transfer-template");
  const transfers = new Set(); // those not finished
  let everyone = []; // those listed

  function summarize() {
    const done = everyone.filter((t) => t.state === "done").length;
    document.getElementById("transfer-summary").textContent =
      everyone.length > 1 ? fmt("summary", { done, total: everyone.length }) : "";
  }

  document.getElementById("clear-finished").addEventListener("click", () => {
    for (const t of everyone) if (t.final) t.row.remove();
    everyone = everyone.filter((t) => !t.final);
    document.getElementById("transfers").hidden = everyone.length === 0;
    summarize();
  });

  class Transfer {
    constructor(file, area, path, overwrite) {
      this.file = file;
      this.size = file.size;
      this.area = area;
      this.path = path;
      this.overwrite = overwrite;
      this.uploadId = null;
      this.cancelled = false;
      this.final = false;
      this.xhr = null;
      this.sent = 0;
      this.samples = [];
      this.drawn = 0;
      this.row = template.content.firstElementChild.cloneNode(true);
      const name = area === "public" ? fmt("in_public", { path }) : path;
      this.$ = (cls) => this.row.querySelector(cls);
      this.$(".transfer-name").textContent = name;
      this.row.setAttribute("aria-label", path);
      this.$("progress").setAttribute("aria-label", fmt("progress_name", { name: path }));
      const cancel = this.$(".transfer-cancel");
      cancel.textContent = T.cancel;
      cancel.setAttribute("aria-label", fmt("cancel_name", { name: path }));
      cancel.addEventListener("click", () => this.cancel());
      const replace = this.$(".transfer-replace");
      replace.textContent = T.replace;
      replace.setAttribute("aria-label", fmt("replace_name", { name: path }));
      replace.addEventListener("click", () => this.replaceExisting());
      this.set("queued");
      this.draw(true);
      list.prepend(this.row);
      document.getElementById("transfers").hidden = false;
      transfers.add(this);
      everyone.push(this);
      summarize();
    }

    set(state, text) {
      this.state = state;
      this.row.dataset.state = state;
      const shown = text || T[state] || state;
      const label = this.$(".transfer-state");
      if (label.textContent !== shown) label.textContent = shown;
      if (this.drawn) this.draw(true); // speed and time left only while bytes flow
    }

    note(text) {
      this.$(".transfer-note").textContent = text;
    }

    // Where the bytes stand (the server's count plus what the current chunk has sent).
    at(bytes, restart) {
      const now = performance.now();
      if (restart || bytes < this.sent) this.samples = [];
      this.sent = bytes;
      this.samples.push([now, bytes]);
      while (this.samples.length > 2 && now - this.samples[0][0] > SPEED_WINDOW_MS) {
        this.samples.shift();
      }
      this.draw(false);
    }

    speed() {
      if (this.samples.length < 2) return 0;
      const [t0, b0] = this.samples[0];
      const [t1, b1] = this.samples[this.samples.length - 1];
      return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
    }

    draw(force) {
      const now = performance.now();
      if (!force && now - this.drawn < 200 && this.sent < this.size) return;
      this.drawn = now;
      const progress = this.$("progress");
      const percent = this.size ? Math.floor((100 * this.sent) / this.size) : (this.final ? 100 : 0);
      progress.value = percent;
      progress.setAttribute("aria-valuetext", `${percent} %`);
      this.$(".transfer-done").textContent = fmt("progress", {
        done: formatSize(this.sent), total: formatSize(this.size),
      });
      const speed = this.state === "uploading" ? this.speed() : 0;
      this.$(".transfer-speed").textContent = speed > 0 ? fmt("speed", { speed: formatSize(speed) }) : "";
      this.$(".transfer-left").textContent =
        speed > 0 ? fmt("left", { time: formatTime((this.size - this.sent) / speed) }) : "";
    }

    end(state, text) {
      this.final = true;
      this.xhr = null;
      this.set(state, text);
      this.draw(true);
      this.$(".transfer-cancel").hidden = true;
      this.$(".transfer-speed").textContent = "";
      this.$(".transfer-left").textContent = "";
      transfers.delete(this);
      summarize();
    }

    async cancel() {
      if (this.final) return;
      this.cancelled = true;
      if (this.xhr) this.xhr.abort();
      this.end("cancelled");
      if (this.uploadId) {
        try { await api("DELETE", uploadUrl(this.uploadId)); } catch (_e) { /* gone already */ }
        quotaChanged();
      }
    }

    replaceExisting() {
      this.$(".transfer-replace").hidden = true;
      this.$(".transfer-cancel").hidden = false;
      this.overwrite = true;
      this.final = false;
      this.cancelled = false;
      this.note("");
      transfers.add(this);
      this.set("queued");
      enqueue([this], null);
    }
  }

  // A request that is worth retrying is retried, with a growing pause, until it answers or
  // the user cancels: a dropped connection or a restarting server never fails the upload.
  async function patiently(t, step) {
    for (let failures = 0; ; failures++) {
      if (t.cancelled) throw new Cancelled();
      try {
        return await step();
      } catch (e) {
        if (e instanceof Cancelled || t.cancelled) throw new Cancelled();
        if (!(e instanceof ApiError) || !e.retryable) throw e;
        await backoff(t, failures + 1);
      }
    }
  }

  async function backoff(t, failures) {
    const seconds = Math.min(MAX_BACKOFF_S, 2 ** Math.min(failures - 1, 5)) * (0.8 + 0.4 * Math.random());
    const until = Date.now() + seconds * 1000;
    const previous = t.state;
    while (Date.now() < until) {
      if (t.cancelled) throw new Cancelled();
      t.set("retrying", fmt("retrying", { seconds: Math.ceil((until - Date.now()) / 1000) }));
      // Back on line: try at once rather than sit out the pause.
      if (wokenUp) { wokenUp = false; break; }
      await sleep(250);
    }
    t.set(previous === "retrying" ? "uploading" : previous);
  }

  let wokenUp = false;
  window.addEventListener("online", () => { wokenUp = true; });

  function putChunk(t, offset, blob) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      let lastProgress = Date.now();
      let stalled = false;
      const watchdog = setInterval(() => {
        if (Date.now() - lastProgress > STALL_MS) { stalled = true; xhr.abort(); }
      }, 1000);
      const settle = (fn) => { clearInterval(watchdog); t.xhr = null; fn(); };
      xhr.open("PUT", `${uploadUrl(t.uploadId)}?offset=${offset}`);
      xhr.setRequestHeader("content-type", "application/octet-stream");
      xhr.setRequestHeader("X-CSRF-Token", document.body.dataset.csrf || "");
      xhr.upload.onprogress = (e) => { lastProgress = Date.now(); t.at(offset + e.loaded); };
      xhr.onload = () => settle(() => {
        if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText));
        else reject(errorOf(xhr.status, xhr.responseText, xhr.statusText));
      });
      xhr.onerror = () => settle(() => reject(new ApiError(0, T.network, "network")));
      xhr.onabort = () => settle(() => reject(
        stalled && !t.cancelled ? new ApiError(0, T.network, "stalled") : new Cancelled()));
      t.xhr = xhr;
      xhr.send(blob);
    });
  }

  async function serverOffset(t) {
    const answer = await patiently(t, () => api("GET", uploadUrl(t.uploadId)));
    if (answer.data.state !== "open") {
      throw new ApiError(409, answer.data.state === "done" ? T.done : T.failed, "upload_closed");
    }
    return answer.data.received;
  }

  async function sendChunks(t, chunkMax, from) {
    const largest = Math.min(MAX_CHUNK, chunkMax);
    let chunk = Math.min(FIRST_CHUNK, largest);
    let offset = from;
    let failures = 0;
    t.at(offset, true);
    while (offset < t.size) {
      if (t.cancelled) throw new Cancelled();
      const end = Math.min(t.size, offset + chunk);
      const started = performance.now();
      try {
        const answer = await putChunk(t, offset, t.file.slice(offset, end));
        offset = answer.received;
        failures = 0;
        if (t.state !== "uploading") t.set("uploading");
        t.at(offset);
        const seconds = (performance.now() - started) / 1000;
        if (seconds < CHUNK_SECONDS / 2) chunk = Math.min(largest, chunk * 2);
        else if (seconds > CHUNK_SECONDS * 2) chunk = Math.max(MIN_CHUNK, Math.floor(chunk / 2));
      } catch (e) {
        if (e instanceof Cancelled || t.cancelled) throw new Cancelled();
        if (e instanceof ApiError && e.status === 409 && e.code === "offset_mismatch") {
          offset = await serverOffset(t); // sent twice, or by another tab: go on from there
          t.at(offset, true);
          continue;
        }
        if (!(e instanceof ApiError) || !e.retryable) throw e;
        failures += 1;
        chunk = Math.max(MIN_CHUNK, Math.floor(chunk / 2));
        await backoff(t, failures);
        offset = await serverOffset(t);
        t.at(offset, true);
      }
    }
  }

  async function sha256Of(t) {
    const hasher = await window.hashwasm.createSHA256();
    hasher.init();
    t.set("checking", fmt("checking", { percent: "0 %" }));
    for (let offset = 0; offset < t.size; offset += HASH_BLOCK) {
      if (t.cancelled) throw new Cancelled();
      const block = await t.file.slice(offset, offset + HASH_BLOCK).arrayBuffer();
      hasher.update(new Uint8Array(block));
      const done = Math.min(t.size, offset + HASH_BLOCK);
      t.set("checking", fmt("checking", { percent: `${Math.floor((100 * done) / t.size)} %` }));
    }
    return hasher.digest("hex");
  }

  // Before reading a file that the quota (as last seen) cannot hold, or into an area the
  // user may not write, ask the server the same question the upload will: its refusal is
  // shown at once, before any byte is hashed or sent. Only a prediction; the real creation
  // after hashing is where the server decides.
  async function refusedEarly(t, batch) {
    const info = await batch;
    if (info.canWrite && t.area === "home" && info.quota) {
      const open = info.open.find((u) => u.area === t.area && u.path === t.path);
      if (open && open.size === t.size) return; // a resume: its room is reserved already
      const q = info.quota;
      const bytes = q.used_bytes + q.reserved_bytes - (open ? open.size : 0) + t.size;
      const files = q.used_files + q.reserved_files - (open ? 1 : 0) + 1;
      if (bytes <= q.max_bytes && files <= q.max_files) {
        q.reserved_bytes += t.size - (open ? open.size : 0);
        q.reserved_files += open ? 0 : 1;
        return;
      }
    } else if (info.canWrite) {
      return;
    }
    const body = { path: t.path, size: t.size, area: t.area, overwrite: t.overwrite };
    const probe = await patiently(t, () => api("POST", "/api/files/uploads", body));
    // It fits after all (room was freed meanwhile): drop the probe and go on.
    await api("DELETE", uploadUrl(probe.data.id)).catch(() => null);
  }

  async function run(t, batch) {
    try {
      await refusedEarly(t, batch);
      const sha256 = await sha256Of(t);
      t.set("starting");
      const body = { path: t.path, size: t.size, sha256, area: t.area, overwrite: t.overwrite };
      const created = await patiently(t, () => api("POST", "/api/files/uploads", body));
      const upload = created.data;
      t.uploadId = upload.id;
      forgetUnfinished(t.area, t.path);
      if (upload.resumed && upload.received > 0) {
        t.note(fmt("resumed", { done: formatSize(upload.received) }));
      }
      t.set("uploading");
      await sendChunks(t, upload.chunk_size_max, upload.received);
      for (;;) {
        t.set("finishing");
        try {
          await patiently(t, () => api("POST", `${uploadUrl(t.uploadId)}/complete`,
            { sha256, overwrite: t.overwrite }));
          break;
        } catch (e) {
          if (!(e instanceof ApiError) || e.status !== 409) throw e;
          if (e.code === "upload_incomplete") { // the server lost a chunk: send it again
            await sendChunks(t, upload.chunk_size_max, await serverOffset(t));
            continue;
          }
          if (e.code === "upload_closed") { // an earlier try completed it; its answer was lost
            const state = (await api("GET", uploadUrl(t.uploadId))).data.state;
            if (state === "done") break;
          }
          throw e;
        }
      }
      t.at(t.size);
      t.end("done");
      listingChanged();
    } catch (e) {
      if (e instanceof Cancelled || t.cancelled) {
        if (!t.final) t.end("cancelled");
        return;
      }
      const why = e instanceof ApiError ? e.message : String((e && e.message) || e);
      if (e instanceof ApiError && (e.code === "quota_exceeded" || e.status === 403)) {
        t.end("refused", fmt("refused", { why }));
      } else {
        t.end("failed", fmt("failed", { why }));
      }
      if (e instanceof ApiError && e.code === "file_exists" && !t.overwrite) {
        t.$(".transfer-replace").hidden = false;
      }
      quotaChanged();
    }
  }

  // -- the queue -----------------------------------------------------------------------------

  const queue = [];
  let running = 0;

  // What the early quota check needs, asked once for each batch of files picked or dropped.
  async function batchInfo(canWrite) {
    try {
      const [quota, open] = await Promise.all([
        api("GET", "/api/files/quota"), api("GET", "/api/files/uploads"),
      ]);
      return { canWrite, quota: quota.data, open: open.data };
    } catch (_e) {
      return { canWrite, quota: null, open: [] };
    }
  }

  function enqueue(items, batch) {
    const info = batch || batchInfo(true);
    for (const t of items) queue.push([t, info]);
    pump();
  }

  function pump() {
    while (running < PARALLEL && queue.length) {
      const [t, info] = queue.shift();
      if (t.cancelled) continue;
      running += 1;
      run(t, info).finally(() => { running -= 1; pump(); });
    }
  }

  function browser() {
    return document.getElementById("browser");
  }

  function join(folder, name) {
    return folder ? `${folder}/${name}` : name;
  }

  // Files (with their path below the folder shown) to upload into the folder shown.
  function uploadHere(picked) {
    if (!picked.length) return;
    const here = browser();
    const area = here.dataset.area;
    const folder = here.dataset.path;
    const canWrite = here.dataset.canWrite === "true";
    const overwrite = document.getElementById("replace-existing").checked;
    const batch = batchInfo(canWrite);
    enqueue(picked.map(({ file, relative }) =>
      new Transfer(file, area, join(folder, relative), overwrite)), batch);
  }

  // -- unfinished uploads (listed by the server when the page was made) ----------------------

  function forgetUnfinished(area, path) {
    for (const row of document.querySelectorAll("#unfinished tr[data-upload-id]")) {
      if (row.dataset.area === area && row.dataset.path === path) row.remove();
    }
    const section = document.getElementById("unfinished");
    if (section && !section.querySelector("tr[data-upload-id]")) section.remove();
  }

  function resumeFrom(input) {
    const row = input.closest("tr");
    const file = input.files && input.files[0];
    input.value = "";
    if (!file || !row) return;
    const size = Number(row.dataset.size);
    const t = new Transfer(file, row.dataset.area, row.dataset.path, false);
    if (file.size !== size) {
      t.end("failed", fmt("failed", { why: fmt("not_same_file", {
        name: file.name, size: formatSize(file.size), total: formatSize(size),
      }) }));
      return;
    }
    enqueue([t], batchInfo(true));
  }

  // -- refreshing the listing and the quota --------------------------------------------------

  let refreshTimer = null;

  function listingChanged() {
    quotaChanged();
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      const here = browser();
      if (here && window.htmx && !here.querySelector("dialog[open]")) {
        window.htmx.ajax("GET", here.dataset.url, { target: "#browser", swap: "outerHTML" });
      }
    }, 400);
  }

  function quotaChanged() {
    if (window.htmx) window.htmx.trigger(document.body, "hai:quota");
  }

  // -- picking, dropping ---------------------------------------------------------------------

  document.addEventListener("change", (e) => {
    const input = e.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file") return;
    if (input.dataset.resume) { resumeFrom(input); return; }
    if (input.id !== "pick-files" && input.id !== "pick-folder") return;
    const picked = [...input.files].map((file) => ({
      file, relative: file.webkitRelativePath || file.name,
    }));
    input.value = "";
    uploadHere(picked);
  });

  function readEntries(reader) {
    return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
  }

  async function walk(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, relative: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      // readEntries answers in batches (about 100 at a time) until it answers none.
      for (let batch = await readEntries(reader); batch.length; batch = await readEntries(reader)) {
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
      }
    }
  }

  async function dropped(transfer) {
    // Entries must be taken while the drop event runs; they are walked afterwards.
    const entries = [...(transfer.items || [])]
      .filter((item) => item.kind === "file" && item.webkitGetAsEntry)
      .map((item) => item.webkitGetAsEntry())
      .filter(Boolean);
    const files = [...(transfer.files || [])];
    if (!entries.length) return files.map((file) => ({ file, relative: file.name }));
    const out = [];
    for (const entry of entries) await walk(entry, "", out);
    return out;
  }

  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  let dragTimer = null;

  document.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault(); // never let the browser open a file dropped beside the list
    const zone = e.target.closest && e.target.closest("#browser");
    e.dataTransfer.dropEffect = zone ? "copy" : "none";
    const area = browser() && browser().querySelector(".drop-zone");
    if (!area) return;
    area.classList.toggle("dragging", Boolean(zone));
    clearTimeout(dragTimer);
    dragTimer = setTimeout(() => area.classList.remove("dragging"), 200);
  });

  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    const zone = e.target.closest && e.target.closest("#browser");
    const area = browser() && browser().querySelector(".drop-zone");
    if (area) area.classList.remove("dragging");
    if (!zone) return;
    dropped(e.dataTransfer).then(uploadHere);
  });

  // -- dialogs and buttons -------------------------------------------------------------------

  function openRename(button) {
    const dialog = document.getElementById("rename-dialog");
    const form = dialog.querySelector("form");
    form.elements.path.value = button.dataset.path;
    const input = form.elements.new_name;
    input.value = button.dataset.name;
    dialog.showModal();
    input.focus();
    const dot = input.value.lastIndexOf(".");
    input.setSelectionRange(0, dot > 0 ? dot : input.value.length);
  }

  function openDelete(button) {
    const dialog = document.getElementById("delete-dialog");
    const form = dialog.querySelector("form");
    const folder = button.dataset.type === "dir";
    form.elements.path.value = button.dataset.path;
    form.elements.recursive.value = folder ? "true" : "";
    const text = folder ? dialog.dataset.folderText : dialog.dataset.fileText;
    dialog.querySelector("#delete-text").textContent = text.replace("%(name)s", button.dataset.path);
    dialog.showModal();
    dialog.querySelector("button[data-close]").focus();
  }

  document.addEventListener("click", (e) => {
    const target = e.target instanceof Element ? e.target : null;
    if (!target) return;
    const action = target.closest("#browser button[data-action]");
    if (action) {
      if (action.dataset.action === "rename") openRename(action);
      else if (action.dataset.action === "delete") openDelete(action);
      return;
    }
    const close = target.closest("dialog [data-close]");
    if (close) { close.closest("dialog").close(); return; }
    const drop = target.closest("button[data-cancel-upload]");
    if (drop) {
      drop.disabled = true;
      api("DELETE", uploadUrl(drop.dataset.cancelUpload)).catch(() => null).then(() => {
        const row = drop.closest("tr");
        forgetUnfinished(row.dataset.area, row.dataset.path);
        quotaChanged();
      });
    }
  });

  // A refusal (4xx) answered to the browser's forms still shows its message there.
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    const d = e.detail;
    if (d.target && d.target.id === "browser" && d.xhr.status >= 400 && d.xhr.status < 500 &&
        String(d.serverResponse || "").includes('id="browser"')) {
      d.shouldSwap = true;
      d.isError = false;
    }
  });

  document.body.addEventListener("htmx:afterSwap", (e) => {
    const here = browser();
    // outerHTML: the event's target is the element replaced, no longer in the page
    if (!here || !e.detail.target || e.detail.target.id !== "browser") return;
    const writable = here.dataset.canWrite === "true";
    for (const id of ["pick-files", "pick-folder", "replace-existing"]) {
      document.getElementById(id).disabled = !writable;
    }
    const messages = here.querySelector(".browser-messages");
    if (messages && messages.children.length) messages.focus();
  });

  window.addEventListener("beforeunload", (e) => {
    if ([...transfers].some((t) => !t.final)) {
      e.preventDefault();
      e.returnValue = T.leave;
    }
  });
})();
