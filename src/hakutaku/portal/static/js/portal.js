// The portal's glue: every htmx request (and fetch through portalFetch) carries the
// session's CSRF token; nothing else is kept in the browser.
"use strict";
(function () {
  const csrf = () => document.body && document.body.dataset.csrf;
  document.addEventListener("htmx:configRequest", (event) => {
    const token = csrf();
    if (token) event.detail.headers["X-CSRF-Token"] = token;
  });
  window.portalFetch = (url, options = {}) => {
    const headers = new Headers(options.headers || {});
    const token = csrf();
    if (token) headers.set("X-CSRF-Token", token);
    return fetch(url, { credentials: "same-origin", ...options, headers });
  };
})();
