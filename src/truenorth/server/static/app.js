// truenorth's web UI: the overview, a stack (its plan, history, links), a run and its live log,
// and the actions a role allows, all from /api/v1 with a browser session.
//
// Every value from the API is written with textContent, or as an attribute through
// setAttribute on elements made with document.createElement: never innerHTML, never
// eval. Links are built only by route(), which encodes every part into this page's own
// fragment ("#/..."): an API value can never choose a scheme or another origin. The API
// token is typed once into the login form and sent to POST /api/v1/session; the browser
// keeps only an HttpOnly cookie, and changes carry the session's CSRF token.
"use strict";

(function () {
  const API = "/api/v1";
  const PAGE_SIZE = 100;
  const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };
  const KNOWN_BADGES = new Set([
    "synced", "out-of-sync", "pending-approval", "applying", "failed", "unknown",
    "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown",
    "running", "pending", "succeeded", "partial", "interrupted", "cancelled", "skipped", "drift",
    "create", "update", "delete", "replace", "read", "no-op",
  ]);

  const state = { session: null, route: null, events: null, logEvents: null, stack: null, loadSeq: 0 };

  // ---- small helpers ------------------------------------------------------------------

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

  // The one place that makes a link: this page's fragment, every part encoded.
  function route(parts, params) {
    let hash = "#/" + parts.map(function (part) { return encodeURIComponent(String(part)); }).join("/");
    const query = params ? params.toString() : "";
    if (query) hash += "?" + query;
    return hash;
  }

  function link(text, parts, params) {
    const a = el("a", text);
    a.setAttribute("href", route(parts, params));
    return a;
  }

  function stackLink(repository, name, text) {
    return link(text === undefined ? name : text, ["stacks", repository, name]);
  }

  function when(value) {
    if (!value) return "";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function age(value) {
    if (!value) return "";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return "";
    const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
    if (seconds < 60) return seconds + "s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + "h ago";
    return Math.floor(seconds / 86400) + "d ago";
  }

  function duration(start, end) {
    if (!start || !end) return "";
    const ms = new Date(end).getTime() - new Date(start).getTime();
    if (!(ms >= 0)) return "";
    const seconds = Math.round(ms / 1000);
    return seconds < 60 ? seconds + "s" : Math.floor(seconds / 60) + "m " + (seconds % 60) + "s";
  }

  function shortSha(sha) {
    const code = el("code", sha ? String(sha).slice(0, 12) : "—", "sha");
    if (sha) code.setAttribute("title", String(sha));
    return code;
  }

  // A revision with its commit: short SHA, subject, author and age (all text).
  function revision(sha, commit) {
    const box = el("div", null, "revision");
    box.appendChild(shortSha(sha));
    if (commit && commit.subject) box.appendChild(el("span", commit.subject, "sub subject"));
    const who = [commit && commit.author, commit && age(commit.date)].filter(Boolean).join(" · ");
    if (who) box.appendChild(el("span", who, "sub"));
    return box;
  }

  function cell(label, ...children) {
    const td = document.createElement("td");
    td.setAttribute("data-label", label);
    for (const child of children) {
      if (child === null || child === undefined || child === "") continue;
      td.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return td;
  }

  function fact(list, term, ...values) {
    const dt = el("dt", term);
    const dd = el("dd");
    for (const value of values) {
      if (value === null || value === undefined || value === "") continue;
      dd.appendChild(typeof value === "string" ? document.createTextNode(value) : value);
    }
    list.append(dt, dd);
  }

  function json(value) {
    if (value === undefined) return "";
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function say(text, isError) {
    const line = $("message");
    line.replaceChildren();
    if (text) line.appendChild(typeof text === "string" ? document.createTextNode(text) : text);
    line.hidden = !text;
    line.classList.toggle("error", Boolean(isError));
  }

  function may(role) {
    return state.session !== null && ROLE_RANK[state.session.role] >= ROLE_RANK[role];
  }

  // ---- the API ----------------------------------------------------------------------

  class Unauthorized extends Error {}
  class ApiError extends Error {
    constructor(status, detail) {
      super(status + " " + detail);
      this.status = status;
      this.detail = detail;
    }
  }

  async function api(path, options) {
    const method = (options && options.method) || "GET";
    const headers = { Accept: "application/json" };
    let body;
    if (method !== "GET") {
      if (state.session) headers["X-CSRF-Token"] = state.session.csrf_token;
      if (options && options.body !== undefined) {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(options.body);
      }
    }
    const response = await fetch(API + path, {
      method: method, headers: headers, body: body, cache: "no-store", credentials: "same-origin",
    });
    if (response.status === 401 && !(options && options.login)) throw new Unauthorized("not logged in");
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (ignored) {
      // not JSON: keep the status text
    }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : response.statusText;
      throw new ApiError(response.status, detail);
    }
    return data;
  }

  function stackPath(repository, name, tail) {
    return "/stacks/" + encodeURIComponent(name) + (tail || "") + "?repository=" + encodeURIComponent(repository);
  }

  function closeStreams() {
    if (state.events) state.events.close();
    if (state.logEvents) state.logEvents.close();
    state.events = null;
    state.logEvents = null;
  }

  function listen(path, handlers) {
    const source = new EventSource(API + path);
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, function (event) {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch (ignored) {
          return;
        }
        handler(data);
      });
    }
    source.addEventListener("problem", function (event) {
      try {
        say("Could not update: " + JSON.parse(event.data).detail, true);
      } catch (ignored) {
        // malformed: ignore
      }
    });
    return source;
  }

  // ---- session ----------------------------------------------------------------------

  function showLogin(reason) {
    closeStreams();
    state.session = null;
    $("content").hidden = true;
    $("logout").hidden = true;
    $("nav").hidden = true;
    $("who").textContent = "";
    $("login").hidden = false;
    $("token").value = "";
    $("token").focus();
    say(reason || "", Boolean(reason));
  }

  function showSession(session) {
    state.session = session;
    $("login").hidden = true;
    $("content").hidden = false;
    $("logout").hidden = false;
    $("nav").hidden = false;
    $("who").textContent = session.name + " (" + session.role + ")";
  }

  async function login(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    $("token").value = "";
    try {
      showSession(await api("/session", { method: "POST", body: { token: token }, login: true }));
      say("");
      render();
    } catch (error) {
      showLogin(error instanceof ApiError && error.status === 401 ? "The token was refused." : "Could not log in: " + error.message);
    }
  }

  async function logout() {
    try {
      await api("/session", { method: "DELETE" });
    } catch (ignored) {
      // the session may already be gone
    }
    showLogin("Logged out.");
  }

  // ---- routing ----------------------------------------------------------------------

  function parseRoute() {
    const hash = window.location.hash.replace(/^#/, "") || "/";
    const at = hash.indexOf("?");
    const path = at === -1 ? hash : hash.slice(0, at);
    const params = new URLSearchParams(at === -1 ? "" : hash.slice(at + 1));
    let parts;
    try {
      parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch (ignored) {
      parts = [];
    }
    if (parts[0] === "stacks" && parts.length === 3) return { view: "stack", repository: parts[1], name: parts[2] };
    if (parts[0] === "runs" && parts.length === 2 && /^[0-9]{1,12}$/.test(parts[1])) {
      return { view: "run", id: Number(parts[1]) };
    }
    return { view: "overview", params: params };
  }

  function showView(name) {
    for (const view of ["overview", "stack", "run"]) $(view + "-view").hidden = view !== name;
  }

  async function render() {
    closeStreams();
    if (!state.session) return;
    const current = parseRoute();
    state.route = current;
    const seq = ++state.loadSeq;
    showView(current.view);
    try {
      if (current.view === "stack") await renderStack(current, seq);
      else if (current.view === "run") await renderRun(current, seq);
      else await renderOverview(current, seq);
      if (seq === state.loadSeq) say("");
    } catch (error) {
      if (error instanceof Unauthorized) {
        showLogin("Your session ended: log in again.");
        return;
      }
      if (seq === state.loadSeq) say("Could not load: " + error.message, true);
    }
  }

  // ---- overview ---------------------------------------------------------------------

  const FILTERS = ["state", "health", "engine", "repository", "q", "sort"];

  function overviewQuery(params) {
    const query = new URLSearchParams();
    const names = { state: "sync_state", health: "health", engine: "engine", repository: "repository", q: "q", sort: "sort" };
    for (const key of FILTERS) {
      const value = params.get(key);
      if (value) query.set(names[key], value);
    }
    const page = Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1);
    query.set("limit", String(PAGE_SIZE));
    query.set("offset", String((page - 1) * PAGE_SIZE));
    return { query: query, page: page };
  }

  function stackKey(stack) {
    return stack.repository + "\u0000" + stack.name;
  }

  function stackRow(stack) {
    const tr = document.createElement("tr");
    tr.setAttribute("data-key", stackKey(stack));
    const name = cell("Stack", stackLink(stack.repository, stack.name), el("span", stack.repository, "sub"));
    if (stack.error) name.appendChild(el("span", stack.error, "sub error-text"));
    if (stack.source_error) name.appendChild(el("span", "source error", "badge failed"));
    const pending =
      stack.desired_revision && stack.desired_revision !== stack.applied_revision
        ? cell("Pending", revision(stack.desired_revision, stack.desired_commit))
        : cell("Pending", el("span", "—", "muted"));
    const run = stack.last_run;
    const lastRun = run
      ? cell("Last run", link("#" + run.id, ["runs", run.id]), " " + run.kind + " ", badge(run.status),
        el("span", age(run.finished_at || run.started_at), "sub"))
      : cell("Last run", el("span", "none", "muted"));
    tr.append(
      name,
      cell("Engine", stack.engine),
      cell("Sync", badge(stack.sync_state), stack.busy ? el("span", "busy", "sub") : null),
      cell("Health", badge(stack.health)),
      cell("Drift", stack.drift ? badge("drift") : el("span", "no", "muted")),
      cell("Applied", revision(stack.applied_revision, stack.applied_commit)),
      pending,
      lastRun,
    );
    return tr;
  }

  function sourceErrorItem(item) {
    const li = el("li", null, "source-error");
    li.append(el("strong", "Repository " + item.repository + ": "), el("span", item.source_error));
    return li;
  }

  function renderPage(page, params) {
    $("stacks").tBodies[0].replaceChildren(...page.items.map(stackRow));
    $("no-stacks").hidden = page.items.length > 0;
    const broken = Array.isArray(page.source_errors) ? page.source_errors : [];
    $("source-errors").replaceChildren(...broken.map(sourceErrorItem));
    $("source-errors").hidden = broken.length === 0;
    const first = page.total === 0 ? 0 : page.offset + 1;
    const last = page.offset + page.items.length;
    $("range").textContent = first + "–" + last + " of " + page.total;
    const number = Math.floor(page.offset / PAGE_SIZE) + 1;
    pagerLink($("prev"), params, number - 1, number > 1);
    pagerLink($("next"), params, number + 1, last < page.total);
  }

  function pagerLink(anchor, params, number, enabled) {
    const next = new URLSearchParams(params);
    next.set("page", String(number));
    anchor.setAttribute("href", route(["stacks"], next));
    anchor.hidden = !enabled;
  }

  function patchRow(stack) {
    const body = $("stacks").tBodies[0];
    for (const row of body.rows) {
      if (row.getAttribute("data-key") === stackKey(stack)) {
        body.replaceChild(stackRow(stack), row);
        return;
      }
    }
  }

  function renderCounts(counts, params) {
    const box = $("counts");
    const items = [el("span", counts.total + " stacks", "count total")];
    for (const [name, number] of Object.entries(counts.sync_state || {})) {
      if (!number) continue;
      const next = new URLSearchParams();
      next.set("state", name);
      const a = link("", ["stacks"], next);
      a.append(badge(name), " " + number);
      a.className = "count" + (params.get("state") === name ? " active" : "");
      items.push(a);
    }
    box.replaceChildren(...items);
  }

  function fillFilters(params) {
    for (const key of FILTERS) $("filter-" + key).value = params.get(key) || "";
  }

  async function renderOverview(current, seq) {
    const params = current.params;
    fillFilters(params);
    const { query } = overviewQuery(params);
    const [page, counts] = await Promise.all([api("/stacks?" + query.toString()), api("/counts")]);
    if (seq !== state.loadSeq) return;
    renderPage(page, params);
    renderCounts(counts, params);
    state.events = listen("/events?" + query.toString(), {
      page: function (data) { renderPage(data, params); },
      stack: patchRow,
      counts: function (data) { renderCounts(data, params); },
    });
  }

  function applyFilters(event) {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const key of FILTERS) {
      const value = $("filter-" + key).value.trim();
      if (value) params.set(key, value);
    }
    window.location.hash = route(["stacks"], params);
  }

  // ---- plans ------------------------------------------------------------------------

  // Before/after of one change, key by key: only the keys that differ (all on create/delete).
  function beforeAfter(change) {
    const before = change.before;
    const after = change.after;
    const table = el("table", null, "diff-table");
    const head = document.createElement("tr");
    head.append(el("th", "Field"), el("th", "Before"), el("th", "After"));
    table.appendChild(head);
    const objects = before && typeof before === "object" && !Array.isArray(before)
      || after && typeof after === "object" && !Array.isArray(after);
    if (objects) {
      const b = before && typeof before === "object" ? before : {};
      const a = after && typeof after === "object" ? after : {};
      const keys = Array.from(new Set([...Object.keys(b), ...Object.keys(a)])).sort();
      for (const key of keys) {
        const left = json(b[key]);
        const right = json(a[key]);
        if (left === right && before && after) continue;
        const row = document.createElement("tr");
        row.append(el("td", key, "field"), el("td", left, "before"), el("td", right, "after"));
        table.appendChild(row);
      }
    } else if (before !== null && before !== undefined || after !== null && after !== undefined) {
      const row = document.createElement("tr");
      row.append(el("td", "value", "field"), el("td", json(before), "before"), el("td", json(after), "after"));
      table.appendChild(row);
    }
    return table.rows.length > 1 ? table : null;
  }

  function textDiff(text) {
    const pre = el("pre", null, "diff");
    for (const line of String(text).split("\n")) {
      let kind = "";
      if (line.startsWith("+") && !line.startsWith("+++")) kind = "add";
      else if (line.startsWith("-") && !line.startsWith("---")) kind = "del";
      pre.appendChild(el("span", line + "\n", kind));
    }
    return pre;
  }

  function changeItem(change, title) {
    const item = el("div", null, "change");
    const head = el("div", null, "change-head");
    head.append(badge(change.action), " ", el("code", title, "address"));
    if (change.reason) head.appendChild(el("span", " " + change.reason, "muted"));
    item.appendChild(head);
    const table = beforeAfter(change);
    if (table) item.appendChild(table);
    if (change.diff) item.appendChild(textDiff(change.diff));
    return item;
  }

  // Changes as a reader wants them: per host and task (Ansible), else per resource or object.
  function changeList(changes) {
    const box = el("div", null, "changes");
    const shown = (changes || []).filter(function (c) { return c && c.action !== "no-op"; });
    if (shown.length === 0) {
      box.appendChild(el("p", "No changes.", "muted"));
      return box;
    }
    const perHost = shown.some(function (c) { return c.host; });
    if (perHost) {
      const hosts = new Map();
      for (const change of shown) {
        const host = change.host || "(all hosts)";
        if (!hosts.has(host)) hosts.set(host, []);
        hosts.get(host).push(change);
      }
      for (const [host, list] of hosts) {
        const group = el("div", null, "host");
        group.appendChild(el("h4", "Host " + host));
        for (const change of list) group.appendChild(changeItem(change, change.task || change.address));
        box.appendChild(group);
      }
    } else {
      for (const change of shown) box.appendChild(changeItem(change, change.address));
    }
    return box;
  }

  function headline(summary) {
    if (!summary) return "";
    let text = (summary.add || 0) + " to add, " + (summary.change || 0) + " to change, " + (summary.destroy || 0) + " to destroy";
    const extras = [];
    if (summary.unknown) extras.push(summary.unknown + " unknown");
    if (summary.outputs) extras.push(summary.outputs + " output(s) changed");
    if (summary.hosts_changed || summary.hosts_unknown || summary.hosts_unreachable) {
      extras.push("hosts: " + (summary.hosts_changed || 0) + " changed, " + (summary.hosts_unknown || 0) +
        " unknown, " + (summary.hosts_unreachable || 0) + " unreachable");
    }
    if (extras.length) text += " (" + extras.join("; ") + ")";
    return text;
  }

  // ---- a stack ----------------------------------------------------------------------

  async function action(stack, verb, confirmText, body) {
    const reason = await confirmDialog(confirmText, body !== undefined);
    if (reason === null) return;
    const payload = body === undefined ? undefined : Object.assign({}, body, { reason: reason });
    try {
      const accepted = await api(stackPath(stack.repository, stack.name, "/" + verb), {
        method: "POST", body: payload,
      });
      const line = el("span", verb + " accepted: ");
      line.appendChild(link("run #" + accepted.run_id, ["runs", accepted.run_id]));
      window.location.hash = route(["runs", accepted.run_id]);
      say(line);
    } catch (error) {
      if (error instanceof Unauthorized) {
        showLogin("Your session ended: log in again.");
        return;
      }
      say(verb + " refused: " + (error.detail || error.message), true);
    }
  }

  // The confirmation dialog; resolves to the reason typed ("" when none asked), null when cancelled.
  function confirmDialog(text, askReason) {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    $("reason-label").hidden = !askReason;
    $("reason").required = Boolean(askReason);
    $("reason").value = "";
    return new Promise(function (resolve) {
      function done(value) {
        $("confirm-form").removeEventListener("submit", ok);
        $("confirm-cancel").removeEventListener("click", cancel);
        dialog.close();
        resolve(value);
      }
      function ok(event) {
        event.preventDefault();
        const reason = $("reason").value.trim();
        if (askReason && !reason) return;
        done(reason);
      }
      function cancel() {
        done(null);
      }
      $("confirm-form").addEventListener("submit", ok);
      $("confirm-cancel").addEventListener("click", cancel);
      dialog.showModal();
    });
  }

  function actionButton(label, onClick) {
    const button = el("button", label);
    button.setAttribute("type", "button");
    button.addEventListener("click", onClick);
    return button;
  }

  function renderActions(stack) {
    const box = $("actions");
    const buttons = [];
    if (may("operator")) {
      buttons.push(actionButton("Refresh", function () {
        action(stack, "refresh", "Plan " + stack.name + " again now?");
      }));
      if (stack.sync_state === "pending-approval") {
        buttons.push(actionButton("Approve", function () {
          action(stack, "approve", "Apply the pending plan of " + stack.name + "?");
        }));
      } else if (stack.sync_state === "out-of-sync" || stack.sync_state === "failed") {
        buttons.push(actionButton("Sync", function () {
          action(stack, "sync", "Apply the stored plan of " + stack.name + "?");
        }));
      }
    }
    box.replaceChildren(...buttons);
    box.hidden = buttons.length === 0;
  }

  function renderFacts(stack) {
    const facts = $("stack-facts");
    facts.replaceChildren();
    fact(facts, "Repository", stack.repository);
    fact(facts, "Engine", stack.engine);
    fact(facts, "Sync", badge(stack.sync_state), stack.busy ? " (busy)" : "");
    fact(facts, "Health", badge(stack.health));
    fact(facts, "Drift", stack.drift ? badge("drift") : "no");
    fact(facts, "Applied", revision(stack.applied_revision, stack.applied_commit));
    if (stack.desired_revision && stack.desired_revision !== stack.applied_revision) {
      fact(facts, "Pending", revision(stack.desired_revision, stack.desired_commit));
    }
    fact(facts, "Options", [stack.auto_apply ? "auto_apply" : "", stack.self_heal ? "self_heal" : ""].filter(Boolean).join(", ") || "—");
    $("stack-error").textContent = stack.error || "";
    $("stack-error").hidden = !stack.error;
    $("stack-source-error").textContent = stack.source_error ? "Repository source error: " + stack.source_error : "";
    $("stack-source-error").hidden = !stack.source_error;
  }

  // Dependents come with the stack (the server reads them from the whole spec).
  function renderLinks(stack) {
    const box = $("links");
    box.replaceChildren();
    const deps = el("p");
    deps.appendChild(el("strong", "Depends on: "));
    if (stack.depends_on.length === 0) deps.appendChild(el("span", "nothing", "muted"));
    stack.depends_on.forEach(function (name, i) {
      if (i) deps.appendChild(document.createTextNode(", "));
      deps.appendChild(stackLink(stack.repository, name));
    });
    const dependents = stack.dependents || [];
    const users = el("p");
    users.appendChild(el("strong", "Dependents: "));
    if (dependents.length === 0) users.appendChild(el("span", "none", "muted"));
    dependents.forEach(function (name, i) {
      if (i) users.appendChild(document.createTextNode(", "));
      users.appendChild(stackLink(stack.repository, name));
    });
    box.append(deps, users);
  }

  // Inputs and outputs, when the API gives them: a list of objects, or a name -> value map.
  function ioTable(title, value) {
    const rows = Array.isArray(value)
      ? value
      : Object.entries(value).map(function ([name, v]) { return Object.assign({ name: name }, typeof v === "object" && v ? v : { value: v }); });
    if (rows.length === 0) return null;
    const box = el("div", null, "io");
    box.appendChild(el("h3", title));
    const table = el("table");
    for (const row of rows) {
      const tr = document.createElement("tr");
      const source = row.source || row.stack ? [row.stack, row.output].filter(Boolean).join(".") || row.source : "";
      const shown = row.sensitive && (row.value === undefined || row.value === null) ? "(sensitive)" : json(row.value);
      tr.append(el("td", row.name, "field"), el("td", shown, "value"), el("td", source || "", "muted"));
      table.appendChild(tr);
    }
    box.appendChild(table);
    return box;
  }

  function renderIo(stack) {
    const box = $("io");
    const parts = [];
    if (stack.inputs && typeof stack.inputs === "object") parts.push(ioTable("Inputs", stack.inputs));
    if (stack.outputs && typeof stack.outputs === "object") parts.push(ioTable("Outputs", stack.outputs));
    const shown = parts.filter(Boolean);
    box.replaceChildren(...shown);
    box.hidden = shown.length === 0;
  }

  function renderPlan(plan, stack) {
    const box = $("plan");
    box.replaceChildren();
    if (!plan) {
      box.appendChild(el("p", "No plan recorded yet.", "muted"));
      return;
    }
    const pending = stack.pending_plan_run_id === plan.run_id;
    const head = el("p");
    head.append(
      pending ? badge("pending-approval") : badge(plan.status), " ",
      link("run #" + plan.run_id, ["runs", plan.run_id]), " at ", shortSha(plan.revision), " ",
      el("span", headline(plan.summary), "headline"),
    );
    box.appendChild(head);
    if (plan.error) box.appendChild(el("pre", plan.error, "error-text"));
    box.appendChild(changeList(plan.changes));
  }

  function isDrift(run) {
    return run.kind === "drift" && run.status === "succeeded" && run.summary && run.summary.has_changes;
  }

  function historyItem(run, stack, applied) {
    const li = el("li", null, "run " + run.status);
    const head = el("div", null, "run-head");
    head.append(
      link("#" + run.id, ["runs", run.id]), " ",
      el("strong", run.kind === "apply" && run.reason ? "rollback" : run.kind), " ",
      isDrift(run) ? badge("drift") : badge(run.status), " ",
      shortSha(run.revision), " ",
      el("span", age(run.started_at), "muted"),
    );
    const took = duration(run.started_at, run.finished_at);
    if (took) head.appendChild(el("span", " · " + took, "muted"));
    li.appendChild(head);
    const who = [];
    if (run.actor) who.push((run.kind === "apply" ? "approved by " : "by ") + run.actor);
    else who.push("by the controller");
    if (run.reason) who.push("why: " + run.reason);
    li.appendChild(el("div", who.join(" · "), "sub"));
    if (run.error) li.appendChild(el("div", run.error.split("\n")[0], "sub error-text"));
    if (may("admin") && run.kind === "apply" && run.status === "succeeded" && run.revision !== stack.applied_revision &&
      !applied.has(run.revision)) {
      applied.add(run.revision);
      li.appendChild(actionButton("Roll back to " + run.revision.slice(0, 12), function () {
        action(stack, "rollback", "Roll " + stack.name + " back to " + run.revision.slice(0, 12) + "? Say why:",
          { revision: run.revision });
      }));
    }
    return li;
  }

  async function loadStackParts(current, stack, seq) {
    const [plan, runs] = await Promise.all([
      api(stackPath(current.repository, current.name, "/plan")).catch(function (error) {
        if (error instanceof ApiError && error.status === 404) return null;
        throw error;
      }),
      api(stackPath(current.repository, current.name, "/runs") + "&limit=50"),
    ]);
    if (seq !== state.loadSeq) return;
    renderPlan(plan, stack);
    const applied = new Set();
    $("history").replaceChildren(...runs.items.map(function (run) { return historyItem(run, stack, applied); }));
  }

  function showStack(stack) {
    state.stack = stack;
    $("stack-title").textContent = stack.repository + " / " + stack.name;
    renderFacts(stack);
    renderActions(stack);
    renderLinks(stack);
    renderIo(stack);
  }

  async function renderStack(current, seq) {
    const stack = await api(stackPath(current.repository, current.name, ""));
    if (seq !== state.loadSeq) return;
    showStack(stack);
    await loadStackParts(current, stack, seq);
    if (seq !== state.loadSeq) return;
    const query = new URLSearchParams({ stack: current.name, repository: current.repository });
    state.events = listen("/events?" + query.toString(), {
      stack: function (next) {
        const before = state.stack;
        showStack(next);
        const moved = !before || JSON.stringify(before.last_run) !== JSON.stringify(next.last_run) ||
          before.pending_plan_run_id !== next.pending_plan_run_id || before.applied_revision !== next.applied_revision;
        if (moved) loadStackParts(current, next, state.loadSeq).catch(function () { /* shown on next load */ });
      },
    });
  }

  // ---- a run and its log -------------------------------------------------------------

  function renderRunFacts(run) {
    $("run-title").replaceChildren(
      document.createTextNode("Run #" + run.id + " · " + run.kind + " of "),
      stackLink(run.repository, run.stack, run.repository + " / " + run.stack),
    );
    const facts = $("run-facts");
    facts.replaceChildren();
    fact(facts, "Status", isDrift(run) ? badge("drift") : badge(run.status));
    fact(facts, "Revision", shortSha(run.revision));
    fact(facts, "Started", when(run.started_at));
    fact(facts, "Finished", when(run.finished_at), run.finished_at ? " (" + duration(run.started_at, run.finished_at) + ")" : "");
    fact(facts, "Actor", run.actor || "the controller");
    if (run.reason) fact(facts, "Reason", run.reason);
    if (run.summary && Object.keys(run.summary).length) fact(facts, "Summary", headline(run.summary));
    $("run-error").textContent = run.error || "";
    $("run-error").hidden = !run.error;
    $("run-changes").replaceChildren(changeList(run.changes));
  }

  async function renderRun(current, seq) {
    const run = await api("/runs/" + current.id);
    if (seq !== state.loadSeq) return;
    renderRunFacts(run);
    const log = $("log");
    log.replaceChildren();
    $("log-state").textContent = "(following)";
    state.logEvents = listen("/runs/" + current.id + "/log/stream", {
      lines: function (data) {
        const text = data.lines.map(function (line) { return line.line + "\n"; }).join("");
        log.appendChild(document.createTextNode(text));
        log.scrollTop = log.scrollHeight;
      },
      end: function () {
        if (state.logEvents) state.logEvents.close();
        state.logEvents = null;
        $("log-state").textContent = "(run ended)";
        api("/runs/" + current.id).then(function (done) {
          if (seq === state.loadSeq) renderRunFacts(done);
        }).catch(function () { /* kept as shown */ });
      },
    });
  }

  // ---- start ------------------------------------------------------------------------

  async function start() {
    $("login").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("filters").addEventListener("submit", applyFilters);
    window.addEventListener("hashchange", render);
    try {
      showSession(await api("/session"));
      render();
    } catch (error) {
      showLogin(error instanceof Unauthorized ? "" : "Could not reach the server: " + error.message);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
