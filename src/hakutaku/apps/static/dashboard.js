// The training dashboard: polls status.json every second, adds a table row per finished
// epoch, redraws the two charts (loss; accuracy and AUC) and shows the ROC once there is one.
"use strict";

const stateLine = document.getElementById("state");
const body = document.querySelector("#epochs tbody");
let lossChart = null;
let scoreChart = null;
let shownRows = 0;
let rocShown = false;
let polls = 0;

function fixed(value, digits) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function chart(target, title, series, data) {
  const opts = {
    title: title,
    width: 460,
    height: 260,
    scales: { x: { time: false } },
    // whole epochs on the x axis
    axes: [{ label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }, {}],
    series: [{ label: "epoch" }].concat(series),
  };
  return new uPlot(opts, data, document.getElementById(target));
}

function draw(epochs) {
  const x = epochs.map((e) => e.epoch + 1);
  const loss = [x, epochs.map((e) => e.train_loss), epochs.map((e) => e.val_loss)];
  const scores = [x, epochs.map((e) => e.val_accuracy), epochs.map((e) => e.val_auc)];
  if (lossChart === null) {
    lossChart = chart("loss-chart", "loss", [
      { label: "train", stroke: "#1f77b4", width: 2 },
      { label: "validation", stroke: "#ff7f0e", width: 2 },
    ], loss);
    scoreChart = chart("score-chart", "validation accuracy and AUC", [
      { label: "accuracy", stroke: "#2ca02c", width: 2 },
      { label: "AUC", stroke: "#d62728", width: 2 },
    ], scores);
  } else {
    lossChart.setData(loss);
    scoreChart.setData(scores);
  }
}

// each row says which poll brought it and how the run stood then: epochs arrive one poll at a
// time while the run goes on (what the page shows live), not all at once at the end
function addRows(epochs, state) {
  for (const e of epochs.slice(shownRows)) {
    const row = document.createElement("tr");
    row.dataset.epoch = String(e.epoch + 1);
    row.dataset.poll = String(polls);
    row.dataset.run = state;
    const cells = [String(e.epoch + 1), fixed(e.train_loss, 4), fixed(e.val_loss, 4),
      fixed(e.val_accuracy, 4), fixed(e.val_auc, 4), fixed(e.lr, 6), fixed(e.seconds, 1)];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
  shownRows = epochs.length;
}

function describe(s) {
  const end = s.job_end;
  if (end && end.exit_code !== 0) {
    return ["failed", `the training job failed (exit code ${end.exit_code}, in ${end.step}): see its log on the job's page`];
  }
  if (!s.exists) return ["waiting", `waiting for the run folder ${s.folder} (the training job may still be queued)…`];
  const total = s.epochs_total === null ? "?" : s.epochs_total;
  const what = s.model ? `${s.model}${s.classes.length ? " (" + s.classes.join(" vs ") + ")" : ""}: ` : "";
  if (s.finished) return ["finished", `${what}finished, ${s.epochs.length} of ${total} epochs`];
  return ["running", `${what}epoch ${s.epochs.length} of ${total} done`];
}

async function poll() {
  try {
    const reply = await fetch("status.json", { cache: "no-store" });
    if (reply.ok) {
      const s = await reply.json();
      polls += 1;
      const [state, text] = describe(s);
      stateLine.dataset.state = state;
      stateLine.textContent = text;
      // metrics.json is rewritten after each epoch: a read caught mid-write has fewer rows
      if (s.epochs.length > shownRows) {
        addRows(s.epochs, state);
        draw(s.epochs);
      }
      if (s.roc && !rocShown) {
        rocShown = true;
        const img = document.createElement("img");
        img.alt = "ROC";
        img.src = "roc.png";
        document.getElementById("roc").appendChild(img);
      }
    } else if (reply.status === 410) {
      // the session ended (a submitted training's dashboard closes a while after its run):
      // what is on the page stays; the run's folder keeps it all
      stateLine.dataset.closed = "true";
      stateLine.textContent += " · this dashboard has closed (its session ended); the run folder keeps the results";
      return;
    } else {
      stateLine.textContent = `the dashboard answered ${reply.status}`;
    }
  } catch (err) {
    stateLine.textContent = "cannot reach the dashboard; retrying…";
  }
  setTimeout(poll, 1000);
}

poll();
