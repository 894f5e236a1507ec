// trainctl dashboard: follows the event stream and refreshes what changed, in place.
// One file, no framework, no build step. The server renders every row and section; this
// script only asks it for the fresh HTML of what an event says has changed.
"use strict";

(function () {
  const body = document.body;
  const page = body.dataset.page;
  // Ids of every event this page received, in order: lets a person (or a test) check in the
  // console that a reconnect lost nothing.
  window.trainctlEvents = [];
  const KINDS = ["run.created", "run.state", "step.state", "outcome.decided", "model.promoted"];

  function say(text) {
    const status = document.getElementById("live-status");
    if (status) status.textContent = text;
  }

  // EventSource reconnects by itself after a drop or a "retry:" hint, sending the id of the
  // last event it got (Last-Event-ID): the server then replays what was missed.
  function follow(url, onEvent) {
    const source = new EventSource(url);
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (message) {
        const event = JSON.parse(message.data);
        window.trainctlEvents.push(event.id);
        onEvent(event);
      });
    });
    source.addEventListener("gap", function () {
      // Events this page missed were already pruned: only a reload shows the truth.
      window.location.reload();
    });
    source.onopen = function () { say("Live: this page updates by itself."); };
    source.onerror = function () { say("Connection lost: reconnecting…"); };
    window.addEventListener("pagehide", function () { source.close(); });
    return source;
  }

  function formatDuration(seconds) {
    if (seconds < 60) return seconds.toFixed(1) + " s";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + String(Math.floor(seconds % 60)).padStart(2, "0") + " s";
    return Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
  }

  // Durations of what is still running tick every second.
  function tick() {
    document.querySelectorAll("[data-started]:not([data-ended])").forEach(function (cell) {
      const started = Date.parse(cell.dataset.started);
      if (!Number.isNaN(started)) cell.textContent = formatDuration(Math.max(0, (Date.now() - started) / 1000));
    });
  }
  window.setInterval(tick, 1000);

  function parse(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  // -- the runs list ------------------------------------------------------------------------
  function runsPage() {
    const rows = document.getElementById("runs");
    const live = rows.dataset.live === "1";  // only the newest page takes new runs
    const filters = rows.dataset.filters;
    const waiting = new Map();

    function refresh(runId, created) {
      if (waiting.has(runId)) return;
      waiting.set(runId, window.setTimeout(async function () {
        waiting.delete(runId);
        const answer = await fetch("/ui/runs/" + encodeURIComponent(runId) + "/row?" + filters,
          { credentials: "same-origin" });
        const existing = document.getElementById("run-" + runId);
        if (answer.status === 204) {  // no longer matches the filters
          if (existing) existing.remove();
          return;
        }
        if (!answer.ok) return;
        const row = parse(await answer.text()).firstElementChild;
        if (existing) {
          existing.replaceWith(row);
        } else if (live && created) {
          const empty = rows.querySelector("tr.empty");
          if (empty) empty.remove();
          row.classList.add("arrived");
          rows.prepend(row);
          const count = document.getElementById("run-count");
          if (count) {
            const total = Number(count.dataset.count) + 1;
            count.dataset.count = String(total);
            count.textContent = total.toLocaleString("en") + (total === 1 ? " run" : " runs");
          }
        }
      }, 50));
    }

    follow("/ui/events?kind=run.created&kind=run.state&last_event_id=" + body.dataset.lastEventId,
      function (event) { refresh(event.run_id, event.kind === "run.created"); });
  }

  // -- one run --------------------------------------------------------------------------------
  function runPage() {
    const runId = body.dataset.run;
    const section = document.getElementById("live");
    const logs = new Map();
    let timer = null;

    function refresh() {
      window.clearTimeout(timer);
      timer = window.setTimeout(async function () {
        const answer = await fetch("/ui/runs/" + encodeURIComponent(runId) + "/live", { credentials: "same-origin" });
        if (answer.ok) section.replaceChildren(parse(await answer.text()));
      }, 100);
    }

    // A step's log: fetched from where the page left off, again every second while it runs.
    function followLog(step) {
      const state = logs.get(step);
      if (!state || state.busy) return;
      state.busy = true;
      const url = "/ui/runs/" + encodeURIComponent(runId) + "/log?step=" + encodeURIComponent(step) +
        "&offset=" + state.offset;
      fetch(url, { credentials: "same-origin" }).then(function (answer) {
        return answer.ok ? answer.json() : null;
      }).then(function (chunk) {
        state.busy = false;
        if (!chunk) return;
        if (chunk.text) {
          const atEnd = state.pre.scrollTop + state.pre.clientHeight >= state.pre.scrollHeight - 4;
          state.pre.append(chunk.text);
          if (atEnd) state.pre.scrollTop = state.pre.scrollHeight;
        }
        state.offset = chunk.offset;
        if (!chunk.final) window.setTimeout(function () { followLog(step); }, 1000);
      }, function () { state.busy = false; });
    }

    document.querySelectorAll("pre.log").forEach(function (pre) {
      logs.set(pre.dataset.step, { pre: pre, offset: 0, busy: false });
      followLog(pre.dataset.step);
    });

    follow("/ui/events?run_id=" + encodeURIComponent(runId) + "&last_event_id=" + body.dataset.lastEventId,
      function (event) {
        refresh();
        if (event.kind === "step.state") followLog(event.data.step);
      });
  }

  // -- forms ----------------------------------------------------------------------------------
  // A second click while the first submission is on its way is ignored here; the form's
  // idempotency key makes the server return the same run even if it does get through.
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });

  if (page === "runs") runsPage();
  if (page === "run") runPage();
})();
