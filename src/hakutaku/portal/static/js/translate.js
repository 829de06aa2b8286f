// "Translate" on a cited passage (the papers page and the chat's passages): the chat model
// turns it into the other language (Chinese text into English, any other into Chinese) through
// POST /api/papers/translate, as the user (metered like any model call). The translation is
// set as text, never HTML: it is model output.
"use strict";
(function () {
  const HAN = /[\u3400-\u9fff]/;

  // The language a passage is translated into: the other one.
  function target(text) {
    return HAN.test(text) ? "en" : "zh";
  }

  async function translate(text, to) {
    const response = await window.portalFetch("/api/papers/translate", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      // room for the whole translation: about a token per character of the passage
      body: JSON.stringify({ text, to, max_tokens: Math.min(2048, Math.max(64, text.length)) }),
    });
    const raw = await response.text();
    let value = null;
    try {
      value = JSON.parse(raw);
    } catch (_e) {
      value = null;
    }
    if (!response.ok) throw new Error(value && value.error ? value.error.message : raw);
    return value.text;
  }

  // A button after `textNode` (the element holding the passage's text) that shows the
  // translation under it. `labels`: {toZh, toEn, working, failed}.
  function addButton(textNode, labels) {
    const text = textNode.textContent;
    if (!text.trim()) return;
    const to = target(text);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary outline small passage-translate";
    button.textContent = to === "zh" ? labels.toZh : labels.toEn;
    const out = document.createElement("div");
    out.className = "passage-translation";
    out.lang = to === "zh" ? "zh-CN" : "en";
    out.hidden = true;
    button.addEventListener("click", async () => {
      button.disabled = true;
      out.hidden = false;
      out.classList.remove("error");
      out.textContent = labels.working;
      try {
        out.textContent = await translate(text, to);
      } catch (e) {
        out.classList.add("error");
        out.textContent = `${labels.failed} ${e.message}`;
        button.disabled = false;
      }
    });
    textNode.after(button, out);
  }

  window.passageTranslation = { addButton };

  // The papers page: its cited passages, with the labels its list carries.
  document.addEventListener("DOMContentLoaded", () => {
    const list = document.querySelector("ol.citations[data-t-to-zh]");
    if (!list) return;
    const d = list.dataset;
    const labels = { toZh: d.tToZh, toEn: d.tToEn, working: d.tWorking, failed: d.tFailed };
    for (const quote of list.querySelectorAll("li > blockquote")) addButton(quote, labels);
  });
})();
