// The usage charts (uPlot): each .chart reads its series from /api/usage/daily or /monthly
// (data-source; the session cookie signs the GET) and draws one line per model or resource.
// The numbers are also in the tables under the charts, rendered by the server.
"use strict";
(function () {
  const COLOURS = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#ad1457"];
  const loads = new Map(); // one request per URL: the two daily charts share theirs

  function fetchSeries(url) {
    if (!loads.has(url)) {
      loads.set(
        url,
        fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(
          async (response) => {
            const body = await response.json().catch(() => null);
            if (!response.ok) {
              const message = body && body.error ? body.error.message : `${response.status}`;
              throw new Error(message);
            }
            return body;
          },
        ),
      );
    }
    return loads.get(url);
  }

  // rows -> the x labels and one y series per name, zeros where a day/month had nothing
  function tabulate(kind, rows, labels) {
    const index = new Map(labels.map((label, i) => [label, i]));
    const series = new Map();
    for (const row of rows) {
      const x = index.get(kind === "hours" ? row.period : row.day);
      if (x === undefined) continue;
      if (kind === "hours" && row.unit !== "hour") continue;
      const name = kind === "hours" ? row.resource : row.model;
      if (!series.has(name)) series.set(name, new Array(labels.length).fill(0));
      const value =
        kind === "calls"
          ? row.calls
          : kind === "tokens"
            ? row.prompt_tokens + row.completion_tokens
            : Number(row.quantity);
      series.get(name)[x] += value;
    }
    return series;
  }

  function shortLabel(kind, label) {
    return kind === "hours" ? label : label.slice(5); // 2025-03-07 -> 03-07
  }

  function chartWidth(el) {
    return Math.max(280, el.clientWidth || el.parentElement.clientWidth || 600);
  }

  // The hours table under the chart, from the same rows (newest month first).
  function fillTable(kind, rows) {
    const table = document.querySelector(`table[data-series-of="${kind}"]`);
    if (!table) return;
    const body = table.querySelector("tbody");
    const shown = rows.filter((row) => row.unit === "hour").reverse();
    for (const row of shown) {
      const tr = document.createElement("tr");
      const month = document.createElement("td");
      month.textContent = row.period;
      const resource = document.createElement("td");
      const code = document.createElement("code");
      code.textContent = row.resource;
      resource.append(code);
      const hours = document.createElement("td");
      hours.className = "num";
      hours.textContent = row.quantity;
      tr.append(month, resource, hours);
      body.append(tr);
    }
    table.hidden = shown.length === 0;
    const empty = document.querySelector(`[data-series-empty="${kind}"]`);
    if (empty) empty.hidden = shown.length > 0;
  }

  async function draw(el) {
    const kind = el.dataset.kind;
    const labels = (kind === "hours" ? el.dataset.months : el.dataset.days).split(",").filter(Boolean);
    let rows;
    try {
      rows = await fetchSeries(el.dataset.source);
    } catch (e) {
      el.dataset.state = "failed";
      el.textContent = `${el.dataset.failed} ${e.message}`;
      return;
    }
    if (kind === "hours") fillTable(kind, rows);
    const series = tabulate(kind, rows, labels);
    const total = [...series.values()].reduce((sum, ys) => sum + ys.reduce((a, b) => a + b, 0), 0);
    el.dataset.total = String(Math.round(total * 1e6) / 1e6);
    if (!series.size || total === 0) {
      el.dataset.state = "empty";
      el.classList.add("empty");
      el.textContent = el.dataset.empty;
      return;
    }
    const names = [...series.keys()].sort();
    const xs = labels.map((_l, i) => i);
    const options = {
      width: chartWidth(el),
      height: 240,
      legend: { live: false },
      scales: { x: { time: false, range: [-0.5, Math.max(labels.length - 0.5, 0.5)] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        {
          incrs: [1, 2, 3, 5, 7, 10, 14],
          values: (_u, splits) => splits.map((i) => (Number.isInteger(i) && labels[i] ? shortLabel(kind, labels[i]) : "")),
        },
        // a few significant digits: 0.00056 card-hours must not read "0"
        { label: el.dataset.unit, size: 64, values: (_u, splits) => splits.map((v) => (v == null ? "" : String(Number(v.toPrecision(3))))) },
      ],
      series: [
        { label: kind === "hours" ? "month" : "day", value: (_u, i) => (i == null || labels[i] == null ? "—" : labels[i]) },
        ...names.map((name, i) => ({
          label: name,
          stroke: COLOURS[i % COLOURS.length],
          width: 2,
          points: { show: true, size: 6 },
        })),
      ],
    };
    el.textContent = "";
    const plot = new window.uPlot(options, [xs, ...names.map((name) => series.get(name))], el);
    el.dataset.state = "drawn";
    el.dataset.series = names.join(",");
    window.addEventListener("resize", () => plot.setSize({ width: chartWidth(el), height: 240 }));
  }

  document.querySelectorAll(".chart[data-source]").forEach((el) => {
    if (!window.uPlot) {
      el.dataset.state = "failed";
      return;
    }
    draw(el);
  });
})();
