// The jobs pages: the job's output followed live (server-sent events), its details refreshed
// when its state changes, and the job form's command/script switch. No inline scripts (CSP).
"use strict";
(function () {
  const BOTTOM_SLACK = 40; // px: a reader this close to the end keeps following new lines

  function statusKey(state, reason, exitCode) {
    return [state, reason || "", exitCode === null || exitCode === undefined ? "" : String(exitCode)].join("|");
  }

  function detailKey() {
    const detail = document.getElementById("job-detail");
    if (!detail) return "";
    return statusKey(detail.dataset.state, detail.dataset.reason, detail.dataset.exitCode);
  }

  function refreshDetail() {
    const detail = document.getElementById("job-detail");
    if (detail) detail.dispatchEvent(new Event("job-state")); // hx-trigger="job-state"
  }

  function followLog(log) {
    const status = document.getElementById("log-status");
    const empty = document.getElementById("log-empty");
    const say = (text) => { if (status) status.textContent = text; };
    const source = new EventSource(log.dataset.events);
    let received = false;

    source.onmessage = (event) => {
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < BOTTOM_SLACK;
      log.append(document.createTextNode(event.data)); // text, never HTML
      received = true;
      if (atBottom) log.scrollTop = log.scrollHeight;
    };
    source.addEventListener("open", () => {
      if (status && status.dataset.following && source.readyState === EventSource.OPEN) {
        say(status.dataset.following);
      }
    });
    source.addEventListener("skipped", (event) => {
      const note = document.createElement("p");
      note.className = "muted log-skipped";
      const bytes = Number(event.data);
      const size = bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MiB" : Math.ceil(bytes / 1024) + " KiB";
      note.textContent = (status ? status.dataset.skipped : "").replace("{size}", size);
      log.before(note);
    });
    source.addEventListener("state", (event) => {
      let seen;
      try { seen = JSON.parse(event.data); } catch (e) { return; }
      if (!seen) return;
      if (statusKey(seen.state, seen.reason, seen.exit_code) !== detailKey()) refreshDetail();
    });
    source.addEventListener("end", () => {
      source.close(); // ended: no reconnect
      if (status) say(status.dataset.ended);
      if (empty && !received) {
        empty.hidden = false;
        log.hidden = true; // nothing to show: no empty box
      }
      refreshDetail();
    });
    source.onerror = () => {
      // EventSource reconnects by itself, resuming at the last byte it had (Last-Event-ID)
      if (source.readyState === EventSource.CONNECTING && status) say(status.dataset.lost);
    };
  }

  function modeSwitch(form) {
    const radios = form.querySelectorAll('input[name="mode"]');
    const show = () => {
      const chosen = form.querySelector('input[name="mode"]:checked');
      const mode = chosen ? chosen.value : "command";
      form.querySelectorAll("[data-mode-field]").forEach((row) => {
        row.hidden = row.dataset.modeField !== mode;
      });
    };
    radios.forEach((radio) => radio.addEventListener("change", show));
    show();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const log = document.getElementById("job-log");
    if (log && log.dataset.events && window.EventSource) followLog(log);
    const form = document.querySelector("form.job-form");
    if (form) modeSwitch(form);
  });
})();
