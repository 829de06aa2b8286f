// Model output → safe DOM: Markdown (marked), code highlighting (highlight.js), LaTeX (KaTeX),
// then DOMPurify. Safe by construction, in layers:
//  - raw HTML in the Markdown is shown as text (the `html` renderer escapes it);
//  - a link whose address is not http(s), mailto or on this site is shown as its text, and
//    images become links (no <img> from a model: no tracking pixels, no onerror);
//  - KaTeX runs with trust off and throwOnError off: a bad formula is shown escaped;
//  - the result is sanitised by DOMPurify into a DOM fragment (never innerHTML of a string).
"use strict";
(function () {
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
  const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

  function safeUrl(href) {
    if (!href) return null;
    try {
      const url = new URL(href, window.location.href);
      if (!SAFE_PROTOCOLS.has(url.protocol)) return null;
      return url.href;
    } catch (_e) {
      return null;
    }
  }

  function renderMath(tex, display) {
    try {
      return window.katex.renderToString(tex, {
        displayMode: display,
        throwOnError: false, // a formula KaTeX cannot parse is shown as escaped source, in red
        trust: false, // no \href, \url, \includegraphics, \htmlClass ...
        strict: "ignore",
        maxSize: 20,
        maxExpand: 1000,
        output: "htmlAndMathml",
      });
    } catch (_e) {
      return `<code class="math-error">${escapeHtml(tex)}</code>`;
    }
  }

  const inlineMath = {
    name: "inlineMath",
    level: "inline",
    start(src) {
      const i = src.search(/\$|\\\(/);
      return i < 0 ? undefined : i;
    },
    tokenizer(src) {
      const patterns = [
        [/^\$\$((?:\\.|[^\\$])+?)\$\$/, true],
        [/^\$(?![\s$])((?:\\.|[^\\$\n])+?)(?<!\s)\$(?!\d)/, false],
        [/^\\\(((?:\\[^)]|[^\\])+?)\\\)/, false],
      ];
      for (const [pattern, display] of patterns) {
        const m = pattern.exec(src);
        if (m) return { type: "inlineMath", raw: m[0], text: m[1].trim(), display };
      }
      return undefined;
    },
    renderer(token) {
      return renderMath(token.text, token.display);
    },
  };

  const blockMath = {
    name: "blockMath",
    level: "block",
    start(src) {
      const m = /(^|\n)[ \t]*(\$\$|\\\[)/.exec(src);
      return m ? m.index + m[1].length : undefined;
    },
    tokenizer(src) {
      const m =
        /^[ \t]*\$\$([\s\S]+?)\$\$[ \t]*(?:\n|$)/.exec(src) ||
        /^[ \t]*\\\[([\s\S]+?)\\\][ \t]*(?:\n|$)/.exec(src);
      if (m) return { type: "blockMath", raw: m[0], text: m[1].trim() };
      return undefined;
    },
    renderer(token) {
      return `<div class="math-display">${renderMath(token.text, true)}</div>`;
    },
  };

  let markdown = null;

  function parser() {
    if (markdown) return markdown;
    const { Marked } = window.marked;
    markdown = new Marked({ gfm: true, breaks: false });
    markdown.use({
      extensions: [blockMath, inlineMath],
      renderer: {
        html(token) {
          return escapeHtml(token.text);
        },
        code(token) {
          const language = (token.lang || "").trim().split(/\s+/)[0];
          const hljs = window.hljs;
          let body;
          if (language && hljs && hljs.getLanguage(language)) {
            body = hljs.highlight(token.text, { language, ignoreIllegals: true }).value;
          } else {
            body = escapeHtml(token.text);
          }
          const cls = language ? ` language-${escapeHtml(language)}` : "";
          return `<pre class="code"><code class="hljs${cls}">${body}</code></pre>\n`;
        },
        link(token) {
          const href = safeUrl(token.href);
          if (href === null) return escapeHtml(token.raw);
          const text = this.parser.parseInline(token.tokens);
          const title = token.title ? ` title="${escapeHtml(token.title)}"` : "";
          return `<a href="${escapeHtml(href)}"${title}>${text}</a>`;
        },
        image(token) {
          const href = safeUrl(token.href);
          const label = `🖼 ${token.text || token.href}`;
          if (href === null) return escapeHtml(token.raw);
          return `<a href="${escapeHtml(href)}">${escapeHtml(label)}</a>`;
        },
      },
    });
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    });
    return markdown;
  }

  const PURIFY = {
    RETURN_DOM_FRAGMENT: true,
    ALLOW_DATA_ATTR: false,
    ADD_ATTR: ["target"],
    FORBID_TAGS: ["img", "style", "form", "input", "button", "textarea", "select", "iframe"],
    FORBID_ATTR: ["srcset", "action", "formaction"],
  };

  // Markdown text → sanitised fragment. Throws nothing: a failure shows the text as it is.
  function fragment(text) {
    let html;
    try {
      html = parser().parse(text);
    } catch (_e) {
      html = `<pre>${escapeHtml(text)}</pre>`;
    }
    return window.DOMPurify.sanitize(html, PURIFY);
  }

  function addCopyButtons(element, labels) {
    for (const pre of element.querySelectorAll("pre.code")) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy-code secondary outline small";
      button.textContent = labels.copy;
      button.addEventListener("click", () => copyText(pre.textContent, button, labels));
      pre.before(button);
    }
  }

  function copyText(text, button, labels) {
    const done = () => {
      button.textContent = labels.copied;
      setTimeout(() => (button.textContent = labels.copy), 1500);
    };
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => {});
  }

  // Replace `element`'s children with `text` rendered (Markdown for answers).
  function render(element, text, labels) {
    element.replaceChildren(fragment(text));
    if (labels) addCopyButtons(element, labels);
  }

  // A user's own message: plain text, kept as written.
  function plain(element, text) {
    const pre = document.createElement("div");
    pre.className = "msg-plain";
    pre.textContent = text;
    element.replaceChildren(pre);
  }

  window.ChatRender = { render, plain, copyText, escapeHtml, safeUrl };
})();
