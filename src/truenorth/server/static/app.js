// truenorth's read-only web UI: stacks, their runs, a run's log, from /api/v1.
//
// Every value from the API is written with textContent or as an attribute through
// setAttribute on elements made with document.createElement: never innerHTML, never
// eval, never a link built from an API value (commit subjects and names come from
// whoever can push to Git). The token lives in sessionStorage only.
"use strict";

(function () {
  const API = "/api/v1";
  const TOKEN_KEY = "truenorth.token";
  const REFRESH_MS = 5000;
  const KNOWN_BADGES = new Set([
    "synced", "out-of-sync", "pending-approval", "applying", "failed", "unknown",
    "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown",
    "running", "succeeded", "partial", "interrupted", "cancelled", "skipped", "drift",
  ]);

  const state = { stack: null, runId: null, logAfter: 0, logFinished: false, timer: null };

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function badge(value) {
    const text = value === undefined || value === null ? "unknown" : String(value);
    const node = el("span", text, "badge");
    if (KNOWN_BADGES.has(text)) node.classList.add(text);
    return node;
  }

  function link(text, onClick) {
    const a = el("a", text);
    a.setAttribute("href", "#");
    a.addEventListener("click", function (event) {
      event.preventDefault();
      onClick();
    });
    return a;
  }

  function when(value) {
    if (!value) return "";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function shortSha(sha) {
    const code = el("code", sha ? String(sha).slice(0, 12) : "—");
    if (sha) code.setAttribute("title", String(sha));
    return code;
  }

  function cell(...children) {
    const td = document.createElement("td");
    for (const child of children) {
      if (child === null || child === undefined) continue;
      td.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return td;
  }

  // ---- messages and token ----------------------------------------------------------

  function say(text, isError) {
    const line = $("message");
    line.textContent = text || "";
    line.hidden = !text;
    line.classList.toggle("error", Boolean(isError));
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function tokenFromFragment() {
    const hash = window.location.hash.replace(/^#/, "");
    if (!hash) return;
    const params = new URLSearchParams(hash);
    const found = params.get("token");
    if (found) sessionStorage.setItem(TOKEN_KEY, found);
    // The fragment never reached the server; keep it out of the history as well.
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  function askForToken(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    stopRefresh();
    $("content").hidden = true;
    $("forget").hidden = true;
    $("login").hidden = false;
    $("token").value = "";
    $("token").focus();
    say(reason || "", Boolean(reason));
  }

  class Unauthorized extends Error {}

  async function api(path) {
    const response = await fetch(API + path, {
      headers: { Authorization: "Bearer " + token(), Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    if (response.status === 401) throw new Unauthorized("token refused");
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const body = await response.json();
        if (body && typeof body.detail === "string") detail = body.detail;
      } catch (ignored) {
        // not JSON: keep the status text
      }
      throw new Error(response.status + " " + detail);
    }
    return response.json();
  }

  // ---- stacks ---------------------------------------------------------------------

  function stackKey(stack) {
    return stack ? stack.repository + "\u0000" + stack.name : "";
  }

  function stackRow(stack) {
    const tr = document.createElement("tr");
    if (stackKey(stack) === stackKey(state.stack)) tr.className = "selected";
    const commit = stack.applied_commit || {};
    const revision = cell(shortSha(stack.applied_revision));
    if (commit.subject) revision.appendChild(el("span", commit.subject, "sub"));
    if (commit.author) revision.appendChild(el("span", commit.author, "sub"));
    const run = stack.last_run;
    const lastRun = run
      ? cell(run.kind + " ", badge(run.status), el("span", when(run.finished_at || run.started_at), "sub"))
      : cell(el("span", "none", "muted"));
    const name = cell(link(stack.name, function () { selectStack(stack); }));
    if (stack.error) name.appendChild(el("span", stack.error, "sub error-text"));
    tr.append(
      cell(stack.repository),
      name,
      cell(stack.engine),
      cell(badge(stack.sync_state), stack.busy ? el("span", "busy", "sub") : null),
      cell(badge(stack.health)),
      cell(stack.drift ? badge("drift") : el("span", "no", "muted")),
      revision,
      lastRun,
    );
    return tr;
  }

  // A repository whose source is in error (a refused truenorth.yaml, Git failing): shown
  // above the stacks, also when it has no stack yet, since nothing of it is applied.
  function sourceErrorItem(item) {
    const li = el("li", null, "source-error");
    li.append(el("strong", "Repository " + item.repository + ": "), el("span", item.source_error));
    return li;
  }

  async function loadStacks() {
    const page = await api("/stacks?limit=500");
    const body = $("stacks").tBodies[0];
    body.replaceChildren(...page.items.map(stackRow));
    $("no-stacks").hidden = page.items.length > 0;
    const broken = Array.isArray(page.source_errors) ? page.source_errors : [];
    $("source-errors").replaceChildren(...broken.map(sourceErrorItem));
    $("source-errors").hidden = broken.length === 0;
  }

  // ---- runs and logs ----------------------------------------------------------------

  function selectStack(stack) {
    state.stack = { repository: stack.repository, name: stack.name };
    state.runId = null;
    $("log-section").hidden = true;
    refresh();
  }

  function runRow(run) {
    const tr = document.createElement("tr");
    if (run.id === state.runId) tr.className = "selected";
    tr.append(
      cell(link("#" + run.id, function () { selectRun(run); })),
      cell(run.kind),
      cell(badge(run.status)),
      cell(shortSha(run.revision)),
      cell(when(run.started_at)),
      cell(when(run.finished_at)),
      cell(run.actor || ""),
    );
    return tr;
  }

  async function loadRuns() {
    if (!state.stack) return;
    const { repository, name } = state.stack;
    const page = await api(
      "/stacks/" + encodeURIComponent(name) + "/runs?limit=50&repository=" + encodeURIComponent(repository),
    );
    $("runs-title").textContent = "Runs of " + repository + "/" + name;
    $("runs").tBodies[0].replaceChildren(...page.items.map(runRow));
    $("runs-section").hidden = false;
  }

  function selectRun(run) {
    if (!Number.isInteger(run.id)) return;
    state.runId = run.id;
    state.logAfter = 0;
    state.logFinished = false;
    $("log").textContent = "";
    $("log-title").textContent = "Log of run #" + run.id + " (" + run.kind + ")";
    $("log-section").hidden = false;
    refresh();
  }

  async function loadLog() {
    if (state.runId === null || state.logFinished) return;
    const runId = state.runId;
    const log = await api("/runs/" + runId + "/log?limit=10000&after=" + state.logAfter);
    if (runId !== state.runId) return;
    const text = log.lines.map(function (line) { return line.line + "\n"; }).join("");
    if (text) $("log").appendChild(document.createTextNode(text));
    state.logAfter = log.next_after;
    state.logFinished = log.finished && log.lines.length === 0;
  }

  // ---- refresh loop -------------------------------------------------------------------

  function stopRefresh() {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
  }

  async function refresh() {
    stopRefresh();
    if (!token()) {
      askForToken("");
      return;
    }
    try {
      await loadStacks();
      await loadRuns();
      await loadLog();
      $("login").hidden = true;
      $("content").hidden = false;
      $("forget").hidden = false;
      $("updated").textContent = "updated " + when(new Date().toISOString());
      say("");
    } catch (error) {
      if (error instanceof Unauthorized) {
        askForToken("The token was refused: enter a valid API token.");
        return;
      }
      say("Could not load: " + (error && error.message ? error.message : String(error)), true);
    }
    state.timer = setTimeout(refresh, REFRESH_MS);
  }

  function start() {
    tokenFromFragment();
    $("login").addEventListener("submit", function (event) {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      refresh();
    });
    $("forget").addEventListener("click", function () {
      askForToken("");
    });
    refresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
