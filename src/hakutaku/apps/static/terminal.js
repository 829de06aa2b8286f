// The Terminal app's page: xterm.js on a websocket to the session's shell (hakutaku.apps.terminal).
// A dropped connection is retried (1 s, 2 s, … 10 s) while the job lives; the shell is the same,
// and its recent output is replayed after a reset, so the screen is what it was.
(function () {
  "use strict";
  const status = document.getElementById("status");
  const term = new Terminal({ cursorBlink: true, scrollback: 5000, convertEol: false });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();
  let socket = null;
  let retry = 1000;
  let connects = 0;

  function show(state, text) {
    status.dataset.state = state;
    status.dataset.connects = String(connects);
    status.textContent = text;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function connect() {
    const url = new URL("ws", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    socket.onopen = function () {
      connects += 1;
      retry = 1000;
      term.reset();
      show("connected", "connected");
      send({ type: "resize", cols: term.cols, rows: term.rows });
      term.focus();
    };
    socket.onmessage = function (event) {
      term.write(new Uint8Array(event.data));
    };
    socket.onclose = function (event) {
      if (event.code === 1000) {
        show("ended", "the shell has exited; this session is over");
        return;
      }
      show("reconnecting", "connection lost; reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  term.onData(function (data) { send({ type: "input", data: data }); });
  term.onResize(function (size) { send({ type: "resize", cols: size.cols, rows: size.rows }); });
  window.addEventListener("resize", function () { fit.fit(); });
  window.haiTerminal = {
    term: term,
    fit: function () { fit.fit(); },
    reconnect: function () { if (socket) socket.close(4000); },
  };
  connect();
})();
