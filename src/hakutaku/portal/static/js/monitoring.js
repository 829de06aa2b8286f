// The monitoring page's charts: samples from /admin/monitoring/series.json drawn with uPlot,
// refetched every 30 s. Each chart keeps a one-line text summary of its latest values next
// to it, for readers who cannot see the canvas.
"use strict";
(function () {
  const REFRESH_MS = 30000;
  const COLOURS = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#ad1457"];
  const root = document.getElementById("charts");
  if (!root || typeof uPlot === "undefined") return;
  const text = root.dataset;
  const charts = {};
  // The x axis always spans the whole window asked for, however few samples it has yet.
  const windowOf = { from: 0, to: 0 };
  const xRange = () => [windowOf.from, windowOf.to];

  function chartWidth(el) {
    return Math.max(280, Math.floor(el.getBoundingClientRect().width) || 520);
  }

  function latest(values) {
    for (let i = values.length - 1; i >= 0; i--) {
      if (values[i] !== null && values[i] !== undefined) return values[i];
    }
    return null;
  }

  function summarise(id, names, ys, unit, empty) {
    const out = document.getElementById("chart-" + id + "-summary");
    if (empty) {
      out.textContent = text.empty;
      return;
    }
    const parts = names.map((name, i) => {
      const value = latest(ys[i]);
      return name + " " + (value === null ? "—" : value + unit);
    });
    out.textContent = text.labelLatest + ": " + parts.join(" · ");
  }

  function draw(id, names, xs, ys, options) {
    const el = document.getElementById("chart-" + id);
    const key = names.join("\u0000");
    const data = [xs, ...ys];
    const existing = charts[id];
    if (existing && existing.key === key) {
      existing.plot.setData(data);
    } else {
      if (existing) existing.plot.destroy();
      el.textContent = "";
      const series = [{}].concat(
        names.map((name, i) => ({
          label: name,
          stroke: COLOURS[i % COLOURS.length],
          width: 2,
          spanGaps: true,
          points: { size: 5 },
        }))
      );
      const plot = new uPlot(
        {
          width: chartWidth(el),
          height: 220,
          series: series,
          scales: { x: { time: true, range: xRange }, y: options.range ? { range: options.range } : {} },
          axes: [{}, { size: 60 }],
        },
        data,
        el
      );
      charts[id] = { plot: plot, key: key };
    }
    summarise(id, names, ys, options.unit || "", xs.length === 0);
  }

  function partitionName(name) {
    return name === "" ? text.labelWhole : name;
  }

  function render(data) {
    windowOf.from = data.now - data.hours * 3600;
    windowOf.to = data.now;
    const cluster = data.cluster;
    const names = Object.keys(cluster.partitions);
    const withCards = names.filter((n) => n !== "");
    draw(
      "util",
      withCards.map(partitionName),
      cluster.t,
      withCards.map((n) => cluster.partitions[n].util),
      { unit: " %", range: [0, 100] }
    );
    draw(
      "queue",
      names.map(partitionName),
      cluster.t,
      names.map((n) => cluster.partitions[n].pending),
      {}
    );
    const g = data.gateway;
    draw("calls", [text.labelCalls], g.t, [g.calls], {});
    draw("errors", [text.labelErrors, text.labelRefused], g.t, [g.errors, g.refused], { unit: " %" });
    draw("latency", [text.labelMean, text.labelP95], g.t, [g.mean_ms, g.p95_ms], { unit: " ms" });
    root.dataset.loaded = "true";
  }

  function load() {
    fetch(root.dataset.series, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then((response) => {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(render)
      .catch(() => {
        document.getElementById("chart-util-summary").textContent = text.failed;
      });
  }

  window.addEventListener("resize", () => {
    for (const id of Object.keys(charts)) {
      const el = document.getElementById("chart-" + id);
      charts[id].plot.setSize({ width: chartWidth(el), height: 220 });
    }
  });
  load();
  setInterval(load, REFRESH_MS);
})();
