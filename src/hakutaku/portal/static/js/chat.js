// The chat page. Every model call is the gateway's own POST /v1/chat/completions, sent by this
// browser as the signed-in user (portalFetch adds the CSRF token; the session cookie, which
// JavaScript cannot read, signs it), so it is checked, rate-limited and metered exactly as an
// API key's call. The conversation is kept through /api/chat; nothing is kept in the browser.
//
// Edit and regenerate truncate (the server deletes what followed); Stop aborts the stream and
// keeps the partial answer (finish "stopped").
"use strict";
(function () {
  const root = document.getElementById("chat");
  if (!root) return;
  const R = window.ChatRender;
  const t = root.dataset;
  const labels = { copy: t.tCopy, copied: t.tCopied };
  const $ = (id) => document.getElementById(id);
  const list = $("chat-messages");
  const shared = t.shared || null;
  const CONTEXT_MESSAGES = 50; // the latest messages sent with the system prompt

  const state = {
    id: t.conversation ? Number(t.conversation) : null,
    papers: JSON.parse(t.papers || "[]"), // the attached papers' ids
    streaming: null, // the AbortController of the answer being streamed
    unsaved: null, // the answer being streamed, until it is kept on the server
  };

  // -- messages in the DOM ---------------------------------------------------------------------

  function messageData(li) {
    const d = li.dataset;
    return {
      seq: Number(d.seq),
      role: d.role,
      content: li.querySelector(".msg-body").dataset.raw || "",
      model: d.model || null,
      prompt_tokens: d.promptTokens !== undefined ? Number(d.promptTokens) : null,
      completion_tokens: d.completionTokens !== undefined ? Number(d.completionTokens) : null,
      finish: d.finish || null,
      passages: d.passages ? JSON.parse(d.passages) : null,
    };
  }

  function tokenText(m) {
    const parts = [];
    if (m.completion_tokens !== null && m.completion_tokens !== undefined) {
      parts.push(`${m.completion_tokens} ${t.tTokens}`);
    }
    if (m.prompt_tokens !== null && m.prompt_tokens !== undefined) {
      parts.push(`${t.tContext} ${m.prompt_tokens}`);
    }
    if (m.finish === "stopped") parts.push(t.tStopped);
    if (m.finish === "length") parts.push(t.tLength);
    return parts.join(" · ");
  }

  function button(label, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `secondary outline small ${cls}`;
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  // Fill an <li> from a message record: head, body (rendered), actions.
  function fill(li, m) {
    li.className = `msg msg-${m.role}`;
    const d = li.dataset;
    if (m.seq) d.seq = String(m.seq);
    d.role = m.role;
    for (const [key, value] of [
      ["model", m.model],
      ["promptTokens", m.prompt_tokens],
      ["completionTokens", m.completion_tokens],
      ["finish", m.finish],
    ]) {
      if (value === null || value === undefined) delete d[key];
      else d[key] = String(value);
    }
    let head = li.querySelector(".msg-head");
    if (!head) {
      head = document.createElement("div");
      head.className = "msg-head";
      li.append(head);
    }
    const who = document.createElement("strong");
    who.textContent = m.role === "user" ? t.tYou || "" : t.tAssistant || "";
    const model = document.createElement("span");
    model.className = "msg-model";
    model.textContent = m.model || "";
    const tokens = document.createElement("span");
    tokens.className = "msg-tokens";
    tokens.textContent = tokenText(m);
    head.replaceChildren(who, model, tokens);
    let body = li.querySelector(".msg-body");
    if (!body) {
      body = document.createElement("div");
      body.className = "msg-body";
      li.append(body);
    }
    body.dataset.raw = m.content;
    if (m.role === "assistant") R.render(body, m.content, labels);
    else R.plain(body, m.content);
    showPassages(li, m.passages);
    addActions(li, m);
    return li;
  }

  const translationLabels = {
    toZh: t.tToZh,
    toEn: t.tToEn,
    working: t.tTranslating,
    failed: t.tTranslateFailed,
  };

  // A reader of a shared conversation does not own its papers: they open through the link.
  function pdfPath(paperId) {
    if (shared) return `/api/chat/shared/${encodeURIComponent(shared)}/papers/${paperId}/pdf`;
    return `/api/papers/${paperId}/pdf`;
  }

  // The passages an answer was given, as "file, p. N" links that open the PDF at that page.
  // Their text is set as text (never HTML); the link is built from the ids, not taken as is.
  function showPassages(li, passages) {
    li.querySelector(".msg-passages-box")?.remove();
    if (passages && passages.length) li.dataset.passages = JSON.stringify(passages);
    else {
      delete li.dataset.passages;
      return;
    }
    const box = document.createElement("div");
    box.className = "msg-passages-box";
    const title = document.createElement("small");
    title.textContent = t.tSources;
    const ol = document.createElement("ol");
    ol.className = "msg-passages";
    for (const p of passages) {
      const item = document.createElement("li");
      const a = document.createElement("a");
      a.className = "passage-link";
      a.href = `${pdfPath(Number(p.paper_id))}#page=${Number(p.page)}`;
      a.target = "_blank";
      a.rel = "noopener";
      a.textContent = `${p.file}, ${t.tPage} ${Number(p.page)}`;
      const text = document.createElement("span");
      text.className = "passage-text";
      text.textContent = p.text;
      item.append(a, text);
      ol.append(item);
      if (window.passageTranslation) window.passageTranslation.addButton(text, translationLabels);
    }
    box.append(title, ol);
    li.querySelector(".msg-body").after(box);
  }

  function addActions(li, m) {
    li.querySelector(".msg-actions")?.remove();
    const actions = document.createElement("div");
    actions.className = "msg-actions";
    actions.append(
      button(t.tCopy, "msg-copy", (e) => R.copyText(m.content, e.currentTarget, labels))
    );
    if (!shared && m.role === "user") {
      actions.append(button(t.tEdit, "msg-edit", () => startEdit(li)));
    }
    if (!shared && m.role === "assistant") {
      actions.append(button(t.tRegenerate, "msg-regenerate", () => regenerate(li)));
    }
    li.append(actions);
  }

  // The server sent each message as escaped text in <pre class="msg-text">: render it here.
  function hydrate() {
    for (const li of list.querySelectorAll("li.msg")) {
      const pre = li.querySelector(".msg-text");
      const body = li.querySelector(".msg-body");
      body.dataset.raw = pre ? pre.textContent : body.dataset.raw || "";
      fill(li, messageData(li));
    }
    refreshRegenerate();
  }

  // Regenerate is offered on the last answer only (an earlier one would lose what follows).
  function refreshRegenerate() {
    const items = list.querySelectorAll("li.msg");
    items.forEach((li, i) => {
      const b = li.querySelector(".msg-regenerate");
      if (b) b.hidden = i !== items.length - 1 || state.streaming !== null;
    });
    for (const b of list.querySelectorAll(".msg-edit")) b.hidden = state.streaming !== null;
  }

  function appendMessage(m) {
    const li = document.createElement("li");
    list.append(li);
    fill(li, m);
    refreshRegenerate();
    li.scrollIntoView({ block: "end" });
    return li;
  }

  function removeFrom(seq) {
    for (const li of [...list.querySelectorAll("li.msg")]) {
      if (Number(li.dataset.seq) >= seq) li.remove();
    }
  }

  function messagesInOrder() {
    return [...list.querySelectorAll("li.msg")].map(messageData).filter((m) => m.seq);
  }

  // -- status ------------------------------------------------------------------------------------

  function status(text) {
    const p = $("chat-status");
    if (p) p.textContent = text || "";
  }

  function showError(text) {
    const p = $("chat-error");
    if (!p) return;
    p.textContent = text || "";
    p.hidden = !text;
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await window.portalFetch(path, options);
    const raw = await response.text();
    let value = null;
    try {
      value = raw ? JSON.parse(raw) : null;
    } catch (_e) {
      value = null;
    }
    if (!response.ok) {
      const message = value && value.error ? value.error.message : `${response.status} ${raw}`;
      throw new Error(message);
    }
    return value;
  }

  // -- earlier messages (both pages) ---------------------------------------------------------

  const earlier = $("chat-earlier");
  earlier?.addEventListener("click", async () => {
    const first = list.querySelector("li.msg");
    const before = first ? Number(first.dataset.seq) : null;
    const base = shared
      ? `/api/chat/shared/${encodeURIComponent(shared)}/messages`
      : `/api/chat/conversations/${state.id}/messages`;
    try {
      const page = await api("GET", `${base}?limit=50${before ? `&before=${before}` : ""}`);
      const anchor = list.firstElementChild;
      for (const m of page.data) {
        const li = document.createElement("li");
        list.insertBefore(li, anchor);
        fill(li, m);
      }
      earlier.hidden = !page.has_earlier;
      refreshRegenerate();
    } catch (e) {
      showError(e.message);
    }
  });

  hydrate();
  if (shared) return; // a shared conversation is read-only

  // -- the composer --------------------------------------------------------------------------

  const form = $("chat-form");
  const input = $("chat-input");
  const send = $("chat-send");
  const stop = $("chat-stop");
  const modelSelect = $("chat-model");
  const maxTokens = $("chat-max-tokens");
  const system = $("chat-system");

  function chosenModel() {
    return modelSelect && !modelSelect.disabled ? modelSelect.value : "";
  }

  function showDescription() {
    const option = modelSelect && modelSelect.options[modelSelect.selectedIndex];
    $("chat-model-description").textContent = option ? option.dataset.description || "" : "";
  }

  modelSelect?.addEventListener("change", async () => {
    showDescription();
    if (state.id) {
      try {
        await api("PATCH", `/api/chat/conversations/${state.id}`, { model: chosenModel() });
      } catch (e) {
        showError(e.message);
      }
    }
  });

  $("chat-system-save")?.addEventListener("click", async (event) => {
    try {
      await ensureConversation();
      await api("PATCH", `/api/chat/conversations/${state.id}`, { system_prompt: system.value });
      event.target.textContent = t.tSaved;
    } catch (e) {
      showError(e.message);
    }
  });

  async function ensureConversation() {
    if (state.id) return state.id;
    const c = await api("POST", "/api/chat/conversations", {
      model: chosenModel() || null,
      system_prompt: system ? system.value : "",
    });
    state.id = c.id;
    root.dataset.conversation = String(c.id);
    history.replaceState(null, "", `/chat/${c.id}`);
    $("chat-tools").hidden = false;
    $("chat-export-md").href = `/api/chat/conversations/${c.id}/export?format=markdown`;
    $("chat-export-json").href = `/api/chat/conversations/${c.id}/export?format=json`;
    return c.id;
  }

  function busy(on, controller) {
    state.streaming = on ? controller : null;
    send.disabled = on;
    stop.hidden = !on;
    input.disabled = on;
    refreshRegenerate();
  }

  // The stream of POST /v1/chat/completions: OpenAI's server-sent events.
  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        const data = event
          .split(/\r?\n/)
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (!data) continue;
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }

  // `context`: the attached papers' passages as papers' own system message (from /retrieve).
  function prompt(context) {
    const messages = messagesInOrder()
      .slice(-CONTEXT_MESSAGES)
      .map((m) => ({ role: m.role, content: m.content }));
    const parts = [];
    if (system && system.value.trim()) parts.push(system.value);
    if (context) parts.push(context);
    if (parts.length) messages.unshift({ role: "system", content: parts.join("\n\n") });
    return messages;
  }

  // With papers attached: the passages for the last question, retrieved as the user.
  async function retrieve() {
    if (!state.papers.length) return null;
    const questions = messagesInOrder().filter((m) => m.role === "user");
    if (!questions.length) return null;
    status(t.tRetrieving);
    return api("POST", `/api/chat/conversations/${state.id}/retrieve`, {
      question: questions[questions.length - 1].content,
    });
  }

  // Ask the model for an answer to the conversation as it stands; stream it; keep it.
  async function answer() {
    const model = chosenModel();
    if (!model) {
      showError(t.tNoModel);
      return;
    }
    showError("");
    const controller = new AbortController();
    busy(true, controller);
    const m = {
      role: "assistant",
      content: "",
      model,
      prompt_tokens: null,
      completion_tokens: null,
      finish: null,
      passages: null,
    };
    const li = appendMessage(m);
    state.unsaved = m;
    li.classList.add("streaming");
    const body = li.querySelector(".msg-body");
    let pending = false;
    const paint = () => {
      pending = false;
      R.render(body, m.content, null);
      li.scrollIntoView({ block: "end" });
    };
    status(t.tThinking);
    let failure = null;
    try {
      const found = await retrieve();
      if (found) {
        m.passages = found.passages;
        showPassages(li, m.passages); // shown before (and whatever) the model answers
      }
      status(t.tThinking);
      const max = Number(maxTokens.value);
      const request = {
        model,
        messages: prompt(found && found.context),
        stream: true,
        stream_options: { include_usage: true },
      };
      if (max > 0) request.max_tokens = max;
      const response = await window.portalFetch("/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(request),
        signal: controller.signal,
      });
      if (!response.ok) {
        const raw = await response.text();
        let message = raw;
        try {
          message = JSON.parse(raw).error.message;
        } catch (_e) {
          /* not JSON: show it as it came */
        }
        throw new Error(message);
      }
      status(t.tStreaming);
      for await (const chunk of events(response)) {
        if (chunk.error) throw new Error(chunk.error.message || "error");
        if (chunk.usage) {
          m.prompt_tokens = chunk.usage.prompt_tokens ?? null;
          m.completion_tokens = chunk.usage.completion_tokens ?? null;
        }
        const choice = chunk.choices && chunk.choices[0];
        if (!choice) continue;
        const delta = choice.delta && choice.delta.content;
        if (delta) {
          m.content += delta;
          if (!pending) {
            pending = true;
            requestAnimationFrame(paint);
          }
        }
        if (choice.finish_reason) m.finish = choice.finish_reason;
      }
      if (!m.finish) m.finish = "stop";
    } catch (e) {
      if (e.name === "AbortError") {
        m.finish = "stopped"; // the partial answer is kept as it is
      } else {
        failure = e.message;
        m.finish = "error";
      }
    }
    li.classList.remove("streaming");
    status("");
    if (state.unsaved !== m) return; // the page was left: keepOnLeaving kept what had come
    state.unsaved = null;
    if (failure !== null && !m.content && !m.passages) {
      li.remove(); // nothing came: keep no answer; the question stays, to regenerate
      showError(`${t.tFailed} ${failure}`);
      busy(false, null);
      addRetry();
      return;
    }
    if (failure !== null) showError(`${t.tFailed} ${failure}`);
    try {
      const saved = await api("POST", `/api/chat/conversations/${state.id}/messages`, m);
      fill(li, saved);
    } catch (e) {
      showError(e.message);
    }
    busy(false, null);
    refreshHistory();
  }

  // A question without an answer (the call failed): offer to ask again.
  function addRetry() {
    const last = list.querySelector("li.msg:last-child");
    if (!last || last.dataset.role !== "user") return;
    const actions = last.querySelector(".msg-actions");
    if (actions.querySelector(".msg-regenerate")) return;
    actions.append(button(t.tRegenerate, "msg-regenerate", () => answer()));
  }

  async function submit() {
    const text = input.value;
    if (!text.trim() || state.streaming) return;
    showError("");
    try {
      await ensureConversation();
      const saved = await api("POST", `/api/chat/conversations/${state.id}/messages`, {
        role: "user",
        content: text,
      });
      input.value = "";
      appendMessage(saved);
      if (saved.seq === 1) {
        $("chat-title").textContent = (await conversation()).title;
        refreshHistory(); // a new conversation shows in the sidebar at once, answered or not
      }
    } catch (e) {
      showError(e.message);
      return;
    }
    await answer();
  }

  const conversation = () => api("GET", `/api/chat/conversations/${state.id}`);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  stop.addEventListener("click", () => state.streaming && state.streaming.abort());

  // Leaving the page (closing the tab, reloading, going elsewhere) mid-answer: keep what has
  // come as a stopped answer. A keepalive request outlives the page; a plain one would not.
  function keepOnLeaving() {
    const m = state.unsaved;
    if (!m || state.id === null) return;
    state.unsaved = null;
    if (state.streaming) state.streaming.abort();
    window.portalFetch(`/api/chat/conversations/${state.id}/messages`, {
      method: "POST",
      keepalive: true,
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ ...m, finish: "stopped" }),
    });
  }
  window.addEventListener("pagehide", keepOnLeaving);

  async function regenerate(li) {
    if (state.streaming) return;
    try {
      await api("DELETE", `/api/chat/conversations/${state.id}/messages/${li.dataset.seq}`);
      removeFrom(Number(li.dataset.seq));
    } catch (e) {
      showError(e.message);
      return;
    }
    await answer();
  }

  function startEdit(li) {
    if (state.streaming || li.querySelector(".msg-editor")) return;
    const body = li.querySelector(".msg-body");
    const editor = document.createElement("form");
    editor.className = "msg-editor";
    const area = document.createElement("textarea");
    area.value = body.dataset.raw || "";
    area.rows = Math.min(12, Math.max(2, area.value.split("\n").length));
    area.setAttribute("aria-label", t.tEdit);
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "small";
    save.textContent = t.tSaveResend;
    const cancel = button(t.tCancel, "msg-edit-cancel", () => editor.remove());
    editor.append(area, save, cancel);
    editor.addEventListener("submit", async (event) => {
      event.preventDefault();
      const seq = Number(li.dataset.seq);
      try {
        const saved = await api("PATCH", `/api/chat/conversations/${state.id}/messages/${seq}`, {
          content: area.value,
        });
        removeFrom(seq + 1);
        editor.remove();
        fill(li, saved);
      } catch (e) {
        showError(e.message);
        return;
      }
      await answer();
    });
    body.after(editor);
    area.focus();
  }

  // -- the conversation's tools --------------------------------------------------------------

  $("chat-rename")?.addEventListener("click", () => {
    const f = $("chat-rename-form");
    f.hidden = !f.hidden;
    if (!f.hidden) $("chat-rename-input").focus();
  });
  $("chat-rename-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const c = await api("PATCH", `/api/chat/conversations/${state.id}`, {
        title: $("chat-rename-input").value,
      });
      $("chat-title").textContent = c.title || t.tUntitled;
      event.target.hidden = true;
      refreshHistory();
    } catch (e) {
      showError(e.message);
    }
  });
  $("chat-share")?.addEventListener("click", async () => {
    try {
      const c = await api("PUT", `/api/chat/conversations/${state.id}/share`);
      $("chat-share-url").value = c.share_url;
      $("chat-share-link").hidden = false;
      $("chat-unshare").hidden = false;
      $("chat-share-url").select();
    } catch (e) {
      showError(e.message);
    }
  });
  $("chat-unshare")?.addEventListener("click", async () => {
    try {
      await api("DELETE", `/api/chat/conversations/${state.id}/share`);
      $("chat-share-link").hidden = true;
      $("chat-unshare").hidden = true;
    } catch (e) {
      showError(e.message);
    }
  });
  $("chat-delete")?.addEventListener("click", async () => {
    if (!window.confirm(t.tDeleteConfirm)) return;
    try {
      await api("DELETE", `/api/chat/conversations/${state.id}`);
      window.location.assign("/chat");
    } catch (e) {
      showError(e.message);
    }
  });

  // -- papers attached to the conversation ---------------------------------------------------

  const paperList = $("chat-papers-list");
  let myPapers = [];

  function showAttached() {
    const line = $("chat-papers-attached");
    const names = myPapers.filter((p) => state.papers.includes(p.id)).map((p) => p.title);
    line.textContent = names.length ? `${t.tAttached} ${names.join(", ")}` : "";
    line.hidden = !names.length;
  }

  async function attach() {
    const chosen = [...paperList.querySelectorAll("input:checked")].map((i) => Number(i.value));
    try {
      await ensureConversation();
      const c = await api("PUT", `/api/chat/conversations/${state.id}/papers`, {
        paper_ids: chosen,
      });
      state.papers = c.paper_ids;
      showAttached();
    } catch (e) {
      showError(e.message);
    }
  }

  async function loadPapers() {
    try {
      myPapers = await api("GET", "/api/papers");
    } catch (e) {
      showError(e.message);
      return;
    }
    const items = myPapers.map((p) => {
      const li = document.createElement("li");
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = String(p.id);
      box.checked = state.papers.includes(p.id);
      box.addEventListener("change", attach);
      label.append(box, ` ${p.title} (${p.pages} ${t.tPage})`);
      li.append(label);
      return li;
    });
    paperList.replaceChildren(...items);
    $("chat-papers-empty").hidden = myPapers.length > 0;
    if (state.papers.length) $("chat-papers-box").open = true;
    showAttached();
  }

  // after every deferred script has run: portal.js (window.portalFetch) comes after this one
  document.addEventListener("DOMContentLoaded", loadPapers);

  // -- the history sidebar -------------------------------------------------------------------

  const search = $("chat-search");
  const historyList = $("chat-list");
  const more = $("chat-list-more");
  let searchTimer = null;

  function historyItem(c) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/chat/${c.id}`;
    a.textContent = c.title || t.tUntitled;
    if (c.id === state.id) a.setAttribute("aria-current", "page");
    li.append(a);
    return li;
  }

  async function loadHistory(append) {
    const params = new URLSearchParams({ limit: "30" });
    if (search.value.trim()) params.set("q", search.value.trim());
    if (append && more.dataset.next) params.set("before", more.dataset.next);
    try {
      const page = await api("GET", `/api/chat/conversations?${params}`);
      const items = page.data.map(historyItem);
      if (append) historyList.append(...items);
      else if (items.length) historyList.replaceChildren(...items);
      else {
        const empty = document.createElement("li");
        empty.className = "muted empty";
        empty.textContent = t.tNoMatch;
        historyList.replaceChildren(empty);
      }
      more.dataset.next = page.next || "";
      more.hidden = !page.next;
    } catch (e) {
      showError(e.message);
    }
  }

  function refreshHistory() {
    if (!search.value.trim()) loadHistory(false);
  }

  addRetry(); // a question left without an answer (the call failed, the page was left)

  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadHistory(false), 250);
  });
  more.addEventListener("click", () => loadHistory(true));
})();
