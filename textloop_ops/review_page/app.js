// textloop review page: plain JavaScript, no build step, no third-party code.
//
// Talks only to the local review server (`/api/reviews...`), sending the reviewer's own bearer
// token, which the server forwards (it holds no credential). The token lives in this tab's
// sessionStorage only: closing the tab signs out. Text from
// the API is always put on the page with textContent, never innerHTML: review texts are user
// input and may contain markup.
"use strict";

(() => {
  const TOKEN_KEY = "textloop.token";
  const DRAFT_PREFIX = "textloop.draft.";
  const MAX_KEYED_OPTIONS = 9;
  const ADVANCE_DELAY_MS = 140; // long enough to see which label was chosen

  const $ = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const state = {
    reviewer: null, // the name in the token, shown to the reviewer (the API verifies the token)
    token: null,
    view: "queue",
    queue: [],
    batch: null, // the task from GET /reviews/{batch_id}
    index: 0, // items.length means "the end card" (summary + submit)
    answers: {}, // item_id -> [labels], or for an entity batch [{begin_offset, end_offset, type}]
    picks: null, // MULTI_LABEL: the working selection of the current item (a Set)
    // Entity batches: the current item's spans being edited ({begin_offset, end_offset, type,
    // score?}; offsets in code points, as the API counts them), the text selected with the
    // mouse and waiting for its type ({begin, end}), and which span has the focus.
    working: null,
    pending: null,
    focused: null,
    busy: false,
    advanceTimer: null,
  };

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(method, path, body) {
    let response;
    try {
      const headers = body ? { "content-type": "application/json" } : {};
      if (state.token) headers.authorization = `Bearer ${state.token}`;
      response = await fetch(`/api${path}`, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
        cache: "no-store",
      });
    } catch (_err) {
      throw new ApiError(0, {
        message: "The review server is not answering. Is `textloop review-page` still running?",
      });
    }
    let data;
    try {
      data = await response.json();
    } catch (_err) {
      data = { message: `${response.status} ${response.statusText}` };
    }
    if (response.status === 401) {
      // Expired or refused: ask for a new token; what was being done can be retried after.
      signOut(data && data.message);
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // ------------------------------------------------------------------ messages

  const TITLES = {
    0: "Cannot reach the review server",
    400: "The API refused these answers",
    401: "Sign in again",
    403: "Your token is not a reviewer's",
    404: "This batch does not exist (any more)",
    409: "This batch is closed",
    413: "Too much at once",
    502: "The review API is unreachable",
  };

  function showError(err, extraFields) {
    const status = err instanceof ApiError ? err.status : -1;
    $("alert-title").textContent = TITLES[status] || `Something went wrong (HTTP ${status})`;
    let message = err.message;
    if (status === 409) {
      message += " It was already answered differently, or its deadline passed. " +
        "Your local draft is kept; return to the queue for other batches.";
    }
    $("alert-message").textContent = message;
    const list = $("alert-fields");
    list.replaceChildren();
    for (const field of (err.body && err.body.errors) || []) {
      const li = el("li");
      li.append(el("code", "", field.field), document.createTextNode(` ${field.message}`));
      const hint = extraFields && extraFields(field.field);
      if (hint) li.append(el("span", "field-hint", ` (${hint})`));
      list.append(li);
    }
    $("alert").hidden = false;
  }

  function clearError() {
    $("alert").hidden = true;
  }

  let toastTimer = null;
  function toast(text) {
    const node = $("toast");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, 4000);
  }

  // ------------------------------------------------------------------ sign-in

  // The claims of a JWT, read only to show whose token this is and when it expires: the API
  // verifies the signature, the page never trusts what it decodes here.
  function tokenClaims(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(Array.from(atob(part),
        (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
      const claims = JSON.parse(json);
      return claims && typeof claims === "object" ? claims : null;
    } catch (_err) {
      return null;
    }
  }

  function askSignIn(message) {
    const dialog = $("signin-dialog");
    $("token-input").value = "";
    $("signin-message").textContent = message || "";
    $("signin-message").hidden = !message;
    if (!dialog.open) dialog.showModal();
    $("token-input").focus();
  }

  // Returns an error message, or null when the token was taken.
  function signIn(token) {
    const claims = tokenClaims(token);
    if (!claims) return "That is not a token (it should look like xxxxx.yyyyy.zzzzz).";
    if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) {
      return "That token has expired: get a new one.";
    }
    state.token = token;
    state.reviewer = claims["cognito:username"] || claims.username || claims.sub || "?";
    sessionStorage.setItem(TOKEN_KEY, token);
    $("reviewer-name").textContent = state.reviewer;
    return null;
  }

  // `textloop review-page --as NAME` hands a token over in the URL's fragment, which the
  // browser never sends anywhere: keep it in this tab and take it out of the address bar.
  function handedToken() {
    const handed = /^#token=([A-Za-z0-9._-]+)$/.exec(location.hash);
    if (!handed) return null;
    history.replaceState(null, "", location.pathname + location.search);
    return handed[1];
  }

  function signOut(message) {
    state.token = null;
    state.reviewer = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("reviewer-name").textContent = "—";
    askSignIn(message);
  }

  // ------------------------------------------------------------------ drafts

  // Answers live in localStorage until the batch is submitted: a reload, a closed tab or a
  // lunch break never loses a hundred answers.
  function saveDraft() {
    if (!state.batch) return;
    localStorage.setItem(
      DRAFT_PREFIX + state.batch.batch_id,
      JSON.stringify({ answers: state.answers, index: state.index }),
    );
  }

  function loadDraft(batchId) {
    try {
      return JSON.parse(localStorage.getItem(DRAFT_PREFIX + batchId)) || null;
    } catch (_err) {
      return null;
    }
  }

  function dropDraft(batchId) {
    localStorage.removeItem(DRAFT_PREFIX + batchId);
  }

  // ------------------------------------------------------------------ helpers

  function relativeTime(iso) {
    if (!iso) return "";
    const minutes = Math.round((Date.parse(iso) - Date.now()) / 60000);
    const abs = Math.abs(minutes);
    const span = abs < 60 ? `${abs} min` : abs < 2880 ? `${Math.round(abs / 60)} h`
      : `${Math.round(abs / 1440)} days`;
    return minutes >= 0 ? `in ${span}` : `${span} ago`;
  }

  const pct = (value) => `${Math.round(Number(value) * 100)}%`;
  const isMulti = () => state.batch && state.batch.mode === "MULTI_LABEL";
  const isEntity = () => state.batch && state.batch.model_type === "ENTITY_RECOGNIZER";
  const entityTypes = () => (state.batch.entity_types || state.batch.options || []);
  const items = () => (state.batch ? state.batch.items : []);
  const current = () => items()[state.index];
  const answeredCount = () => items().filter((i) => state.answers[i.item_id]).length;
  const suggested = (item) => (item && item.suggestion ? item.suggestion.labels || [] : []);

  // ------------------------------------------------------------------ queue view

  async function loadQueue() {
    state.busy = true;
    $("refresh").disabled = true;
    try {
      const data = await api("GET", "/reviews");
      state.queue = data.reviews || [];
      clearError();
    } catch (err) {
      showError(err);
    } finally {
      state.busy = false;
      $("refresh").disabled = false;
    }
    renderQueue();
  }

  function renderSummary() {
    const total = state.queue.reduce((n, b) => n + (b.items || 0), 0);
    const batches = state.queue.length;
    $("summary").textContent = batches
      ? `${batches} batch${batches === 1 ? "" : "es"} pending · ${total} items`
      : "No batches pending";
  }

  function renderQueue() {
    renderSummary();
    const list = $("queue");
    list.replaceChildren();
    $("queue-empty").hidden = state.queue.length > 0;
    state.queue.forEach((batch, position) => {
      const draft = loadDraft(batch.batch_id);
      const done = draft ? Object.keys(draft.answers || {}).length : 0;
      const li = el("li");
      const button = el("button", "queue-item");
      button.type = "button";
      button.dataset.batchId = batch.batch_id;
      const head = el("div", "queue-line");
      head.append(
        el("span", "queue-key", position < 9 ? String(position + 1) : ""),
        el("strong", "queue-id", batch.batch_id),
        el("span", "queue-count", `${batch.items} item${batch.items === 1 ? "" : "s"}`),
      );
      const meta = el(
        "div",
        "queue-meta",
        `iteration ${batch.iteration_id} · created ${relativeTime(batch.created_at)}` +
          ` · due ${relativeTime(batch.deadline)}`,
      );
      const bar = el("div", "bar small");
      const fill = el("div");
      fill.style.width = `${batch.items ? (100 * done) / batch.items : 0}%`;
      bar.append(fill);
      const progress = el("div", "queue-progress", done ? `${done} / ${batch.items} done (draft)`
        : "not started");
      button.append(head, meta, bar, progress);
      button.addEventListener("click", () => openBatch(batch.batch_id));
      li.append(button);
      list.append(li);
    });
  }

  function showView(view) {
    state.view = view;
    $("queue-view").hidden = view !== "queue";
    $("batch-view").hidden = view !== "batch";
  }

  async function backToQueue() {
    clearTimeout(state.advanceTimer);
    saveDraft();
    state.batch = null;
    showView("queue");
    await loadQueue();
    const first = document.querySelector(".queue-item");
    if (first) first.focus();
  }

  // ------------------------------------------------------------------ batch view

  async function openBatch(batchId) {
    if (state.busy) return;
    state.busy = true;
    try {
      const task = await api("GET", `/reviews/${encodeURIComponent(batchId)}`);
      clearError();
      state.batch = task;
      const draft = loadDraft(batchId) || {};
      const known = new Set(task.items.map((i) => i.item_id));
      state.answers = Object.fromEntries(
        Object.entries(draft.answers || {}).filter(([id]) => known.has(id)),
      );
      // Resume at the first unanswered item: that is where the reviewer stopped.
      const firstOpen = task.items.findIndex((i) => !state.answers[i.item_id]);
      state.index = firstOpen === -1 ? task.items.length : firstOpen;
      state.picks = null;
      resetWorking();
      showView("batch");
      renderBatch();
      $("item").focus();
    } catch (err) {
      showError(err);
    } finally {
      state.busy = false;
    }
  }

  function renderLegend() {
    if (isEntity()) {
      renderEntityLegend();
      return;
    }
    const rows = isMulti()
      ? [["1–9", "toggle a label"], ["Enter", "confirm the selected labels"],
        ["a", "accept the suggestion"]]
      : [["a / Enter", "accept the suggestion"], ["1–9", "choose a label"]];
    rows.push(
      ["→ / j", "next item"], ["← / k", "previous item"], ["u", "clear this answer"],
      ["Ctrl+Enter", "submit the batch"], ["Esc", "back to the queue"],
    );
    const legend = $("legend");
    legend.replaceChildren();
    for (const [keys, what] of rows) {
      const dt = el("dt");
      keys.split(" / ").forEach((k, i) => {
        if (i) dt.append(document.createTextNode(" "));
        dt.append(el("kbd", "", k));
      });
      legend.append(dt, el("dd", "", what));
    }
  }

  function renderProgress() {
    const total = items().length;
    const answered = answeredCount();
    const position = Math.min(state.index + 1, total);
    $("progress").textContent = state.index >= total
      ? `${answered} / ${total} answered`
      : `${position} / ${total}`;
    $("progress-bar").style.width = `${total ? (100 * answered) / total : 0}%`;
    $("submit-hint").textContent = answered === total
      ? `All ${total} items answered.`
      : `${answered} of ${total} answered. Unanswered items go back to the pool.`;
    $("submit").disabled = answered === 0 || state.busy;
  }

  function renderBatch() {
    const batch = state.batch;
    $("batch-title").textContent = `Batch ${batch.batch_id}`;
    renderLegend();
    renderProgress();
    const item = current();
    const card = $("item");
    card.classList.toggle("end", !item);
    $("prev").disabled = state.index === 0;
    $("next").disabled = state.index >= items().length;
    if (!item) {
      renderEndCard();
      return;
    }
    const answer = state.answers[item.item_id];
    $("item-text").classList.remove("entity-text");
    if (isEntity()) {
      renderEntityItem(item, answer);
      return;
    }
    if (isMulti() && state.picks === null) {
      state.picks = new Set(answer || suggested(item));
    }
    $("item-position").textContent = `Item ${state.index + 1} of ${items().length}`;
    const status = $("item-status");
    status.textContent = answer ? `Answered: ${answer.join(", ") || "no label"}` : "Not answered";
    status.className = `status ${answer ? "done" : "open"}`;
    $("item-text").textContent = item.text;
    renderSuggestion(item);
    renderOptions(item, answer);
    const accept = $("accept");
    accept.hidden = false;
    if (isMulti()) {
      accept.replaceChildren(document.createTextNode("Confirm labels "), el("kbd", "", "Enter"));
    } else {
      accept.replaceChildren(
        document.createTextNode(item.suggestion ? "Accept suggestion " : "Choose a label "),
        el("kbd", "", "a"),
      );
      accept.disabled = !item.suggestion;
    }
    if (isMulti()) accept.disabled = false;
  }

  function renderSuggestion(item) {
    const box = $("suggestion");
    box.replaceChildren();
    const s = item.suggestion;
    if (!s) {
      box.append(el("span", "muted", "The model made no suggestion for this text."));
      return;
    }
    const labels = s.labels.length ? s.labels.join(", ") : "no label";
    if (s.from === "correction") {
      // An untrusted client's correction: a claim to check, not the model's view.
      box.append(
        el("span", "muted", `Correction from ${s.submitted_by || "a client"} suggests`),
        el("strong", "suggested-label", labels),
        el("span", "muted", "check it against the text"),
      );
      return;
    }
    const confidence = Number(s.confidence);
    const level = confidence >= 0.8 ? "high" : confidence >= 0.5 ? "mid" : "low";
    box.append(
      el("span", "muted", "Model suggests"),
      el("strong", "suggested-label", labels),
      el("span", `confidence ${level}`, `${pct(confidence)} confident`),
    );
  }

  function renderOptions(item, answer) {
    const box = $("options");
    box.replaceChildren();
    box.setAttribute("aria-label", "Labels");
    const scores = (item.suggestion && item.suggestion.scores) || {};
    const chosen = isMulti() ? state.picks : new Set(answer || []);
    const proposed = new Set(suggested(item));
    state.batch.options.forEach((label, i) => {
      const button = el("button", "option");
      button.type = "button";
      button.dataset.label = label;
      button.setAttribute("aria-pressed", String(chosen.has(label)));
      if (proposed.has(label)) button.classList.add("proposed");
      button.append(el("kbd", "", i < MAX_KEYED_OPTIONS ? String(i + 1) : "·"));
      button.append(el("span", "option-label", label));
      if (isMulti()) button.append(el("span", "check", chosen.has(label) ? "✓" : ""));
      if (label in scores) {
        const meter = el("span", "score");
        const fill = el("span");
        fill.style.width = pct(scores[label]);
        meter.append(fill);
        button.append(meter, el("span", "score-text", pct(scores[label])));
      }
      button.addEventListener("click", () => chooseOption(i));
      box.append(button);
    });
  }

  function renderEndCard() {
    const total = items().length;
    const answered = answeredCount();
    $("item-position").textContent = "End of batch";
    const status = $("item-status");
    status.textContent = answered === total ? "Complete" : `${total - answered} unanswered`;
    status.className = `status ${answered === total ? "done" : "open"}`;
    $("item-text").classList.remove("entity-text");
    $("item-text").textContent = answered === total
      ? `All ${total} items are answered. Press Enter to submit the batch.`
      : `${answered} of ${total} items are answered. Press Enter to submit them, or go back ` +
        "to answer the rest.";
    $("suggestion").replaceChildren();
    $("options").replaceChildren();
    const accept = $("accept");
    accept.disabled = answered === 0;
    accept.replaceChildren(document.createTextNode("Submit batch "), el("kbd", "", "Enter"));
  }


  // ------------------------------------------------------------------ entity batches

  // Offsets: the API counts code points (Python string indexes); JavaScript strings count
  // UTF-16 units. Everything here works on arrays of code points, and a selection's UTF-16
  // position is converted once.
  const chars = (text) => Array.from(text);
  const bySpan = (a, b) => a.begin_offset - b.begin_offset || a.end_offset - b.end_offset;
  const plainSpan = (s) => ({ begin_offset: s.begin_offset, end_offset: s.end_offset, type: s.type });
  const overlaps = (a, b) => a.begin_offset < b.end_offset && b.begin_offset < a.end_offset;

  function proposedSpans(item) {
    return ((item.suggestion && item.suggestion.entities) || []).map((s) => ({ ...s }));
  }

  function resetWorking() {
    state.working = null;
    state.pending = null;
    state.focused = null;
  }

  function workingSpans(item) {
    if (state.working === null) {
      const answered = state.answers[item.item_id];
      // What the reviewer answered before, else what the model (or a correction) proposed,
      // with its scores.
      state.working = (answered ? answered.map((s) => ({ ...s })) : proposedSpans(item))
        .sort(bySpan);
    }
    return state.working;
  }

  function typeIndex(type) {
    return entityTypes().indexOf(type);
  }

  function spanLabel(item, span) {
    const text = chars(item.text).slice(span.begin_offset, span.end_offset).join("");
    const score = typeof span.score === "number" ? `, model ${pct(span.score)} confident` : "";
    return `“${text}”: ${span.type}${score}`;
  }

  function renderEntityItem(item, answer) {
    $("item-position").textContent = `Item ${state.index + 1} of ${items().length}`;
    const status = $("item-status");
    status.textContent = answer
      ? `Answered: ${answer.length ? `${answer.length} entit${answer.length === 1 ? "y" : "ies"}`
        : "no entities"}`
      : "Not answered";
    status.className = `status ${answer ? "done" : "open"}`;
    renderEntityText(item);
    renderEntitySuggestion(item);
    renderTypeButtons();
    const accept = $("accept");
    accept.hidden = false;
    accept.disabled = false;
    accept.replaceChildren(document.createTextNode("Confirm entities "), el("kbd", "", "Enter"));
  }

  // The text with its spans as focusable marks. A mark's type and score are drawn by CSS
  // (::after, from data-tag): they are not part of the text, so a selection's offsets are.
  function renderEntityText(item) {
    const box = $("item-text");
    box.replaceChildren();
    box.classList.add("entity-text");
    const text = chars(item.text);
    const spans = workingSpans(item);
    const marks = spans.map((span, index) => ({ span, index }));
    if (state.pending) marks.push({ span: { ...state.pending, pending: true }, index: -1 });
    marks.sort((a, b) => bySpan(a.span, b.span));
    let at = 0;
    for (const { span, index } of marks) {
      if (span.begin_offset > at) box.append(text.slice(at, span.begin_offset).join(""));
      const words = text.slice(span.begin_offset, span.end_offset).join("");
      if (span.pending) {
        const mark = el("mark", "pending", words);
        mark.dataset.tag = `1–${Math.min(entityTypes().length, MAX_KEYED_OPTIONS)}?`;
        box.append(mark);
      } else {
        const mark = el("mark", `entity t${typeIndex(span.type) % 8}`, words);
        mark.tabIndex = 0;
        mark.dataset.index = String(index);
        mark.dataset.type = span.type;
        mark.dataset.tag = typeof span.score === "number"
          ? `${span.type} ${pct(span.score)}` : span.type;
        if (typeof span.score === "number") mark.dataset.score = pct(span.score);
        mark.setAttribute("role", "button");
        mark.setAttribute("aria-label", `${spanLabel(item, span)}. Number keys change its ` +
          "type, Delete removes it.");
        mark.addEventListener("click", () => mark.focus());
        box.append(mark);
      }
      at = span.end_offset;
    }
    if (at < text.length) box.append(text.slice(at).join(""));
  }

  function renderEntitySuggestion(item) {
    const box = $("suggestion");
    box.replaceChildren();
    const s = item.suggestion;
    if (!s) {
      box.append(el("span", "muted", "The model made no suggestion: mark the entities, if any."));
      return;
    }
    const n = (s.entities || []).length;
    const what = n ? `${n} entit${n === 1 ? "y" : "ies"}` : "no entity";
    if (s.from === "correction") {
      box.append(
        el("span", "muted", `Correction from ${s.submitted_by || "a client"} proposes`),
        el("strong", "suggested-label", what),
        el("span", "muted", "check them against the text"),
      );
      return;
    }
    box.append(el("span", "muted", "Model proposes"), el("strong", "suggested-label", what));
    if (typeof s.confidence === "number") {
      const level = s.confidence >= 0.8 ? "high" : s.confidence >= 0.5 ? "mid" : "low";
      box.append(el("span", `confidence ${level}`, `least confident ${pct(s.confidence)}`));
    }
  }

  // The types as buttons too (the mouse path): one applies to the selection or focused span.
  function renderTypeButtons() {
    const box = $("options");
    box.replaceChildren();
    box.setAttribute("aria-label", "Entity types");
    entityTypes().forEach((type, i) => {
      const button = el("button", `option type-option t${i % 8}`);
      button.type = "button";
      button.dataset.label = type;
      button.append(el("kbd", "", i < MAX_KEYED_OPTIONS ? String(i + 1) : "·"));
      button.append(el("span", "option-label", type));
      // Keep the text selection and the focused span: the click applies to them.
      button.addEventListener("mousedown", (event) => event.preventDefault());
      button.addEventListener("click", () => applyType(i));
      box.append(button);
    });
  }

  function renderEntityLegend() {
    const legend = $("legend");
    legend.replaceChildren();
    entityTypes().forEach((type, i) => {
      if (i >= MAX_KEYED_OPTIONS) return;
      const dt = el("dt");
      dt.append(el("kbd", "", String(i + 1)));
      const dd = el("dd");
      dd.append(el("span", `swatch t${i % 8}`), document.createTextNode(type));
      legend.append(dt, dd);
    });
    const rows = [
      ["select", "mark text with the mouse, then 1–9 for its type"],
      ["s", "select a word by keyboard (←/→ move it, Shift+→/← grow or shrink it), then 1–9"],
      ["Tab", "next entity (or click one)"], ["1–9", "change the focused entity's type"],
      ["Delete", "remove the focused entity"], ["Enter", "confirm this text's entities"],
      ["a", "accept the model's entities"], ["→ / j", "next item"], ["← / k", "previous item"],
      ["u", "clear this answer"], ["Ctrl+Enter", "submit the batch"], ["Esc", "back to the queue"],
    ];
    for (const [keys, what] of rows) {
      const dt = el("dt");
      keys.split(" / ").forEach((k, i) => {
        if (i) dt.append(document.createTextNode(" "));
        dt.append(el("kbd", "", k));
      });
      legend.append(dt, el("dd", "", what));
    }
  }

  // Where a selection point lies in the item's text, in code points (null: outside it).
  function textOffset(box, node, offset) {
    if (!box.contains(node)) return null;
    const range = document.createRange();
    range.setStart(box, 0);
    range.setEnd(node, offset);
    return chars(range.toString()).length;
  }

  function onTextSelected() {
    const item = current();
    if (!isEntity() || !item) return;
    const selection = window.getSelection();
    if (!selection || selection.isCollapsed || !selection.rangeCount) return;
    const box = $("item-text");
    const range = selection.getRangeAt(0);
    let begin = textOffset(box, range.startContainer, range.startOffset);
    let end = textOffset(box, range.endContainer, range.endOffset);
    if (begin === null || end === null) return;
    const text = chars(item.text);
    // A drag usually catches a blank at either end: an entity starts and ends on a character.
    while (begin < end && /\s/u.test(text[begin])) begin += 1;
    while (end > begin && /\s/u.test(text[end - 1])) end -= 1;
    if (end <= begin) return;
    const wanted = { begin_offset: begin, end_offset: end };
    const clash = workingSpans(item).find((s) => overlaps(s, wanted));
    if (clash) {
      toast(`That overlaps ${spanLabel(item, clash)}: remove or change that one instead.`);
      return;
    }
    state.pending = wanted;
    renderBatch();
    selection.removeAllRanges();
    $("item").focus();
  }

  // Words, for selecting by keyboard: [begin, end] in code points. A word starts and ends on a
  // letter or digit and may hold . _ ' - inside ("3.13", "X-Ray"), so "Lambda." ends before
  // its full stop.
  function words(text) {
    const joined = text.join("");
    const found = [];
    for (const m of joined.matchAll(/[\p{L}\p{N}](?:[\p{L}\p{N}._'-]*[\p{L}\p{N}])?/gu)) {
      const begin = chars(joined.slice(0, m.index)).length;
      found.push([begin, begin + chars(m[0]).length]);
    }
    return found;
  }

  function freeOf(spans, begin, end) {
    return !spans.some((s) => overlaps(s, { begin_offset: begin, end_offset: end }));
  }

  function announcePending(item) {
    const words = chars(item.text).slice(state.pending.begin_offset, state.pending.end_offset);
    toast(`Selected “${words.join("")}”: press 1–${Math.min(entityTypes().length,
      MAX_KEYED_OPTIONS)} for its type.`);
  }

  // "s": the first word no entity covers, after the focused entity (else from the start).
  function selectByKeyboard() {
    const item = current();
    const spans = workingSpans(item);
    const from = state.focused !== null && spans[state.focused]
      ? spans[state.focused].end_offset : 0;
    const free = words(chars(item.text)).filter(([b, e]) => freeOf(spans, b, e));
    const word = free.find(([b]) => b >= from) || free[0];
    if (!word) {
      toast("Every word of this text is in an entity already.");
      return;
    }
    state.pending = { begin_offset: word[0], end_offset: word[1] };
    renderBatch();
    $("item").focus();
    announcePending(item);
  }

  // ←/→ move the keyboard selection to the previous/next free word; with Shift, → adds the
  // next word and ← drops the last one.
  function movePending(delta, grow) {
    const item = current();
    const spans = workingSpans(item);
    const all = words(chars(item.text));
    const { begin_offset: begin, end_offset: end } = state.pending;
    if (grow && delta > 0) {
      const next = all.find(([b]) => b >= end);
      if (!next || !freeOf(spans, begin, next[1])) {
        toast("An entity or the end of the text is in the way.");
        return;
      }
      state.pending = { begin_offset: begin, end_offset: next[1] };
    } else if (grow) {
      const inside = all.filter(([b, e]) => b >= begin && e <= end);
      if (inside.length < 2) return;
      state.pending = { begin_offset: begin, end_offset: inside[inside.length - 2][1] };
    } else {
      const free = all.filter(([b, e]) => freeOf(spans, b, e));
      const word = delta > 0 ? free.find(([b]) => b >= end)
        : [...free].reverse().find(([, e]) => e <= begin);
      if (!word) return;
      state.pending = { begin_offset: word[0], end_offset: word[1] };
    }
    renderBatch();
    $("item").focus();
    announcePending(item);
  }

  function applyType(i) {
    const item = current();
    const type = entityTypes()[i];
    if (!item || type === undefined) return;
    const spans = workingSpans(item);
    if (state.pending) {
      spans.push({ ...state.pending, type });
      spans.sort(bySpan);
      const added = spans.findIndex((s) => s.begin_offset === state.pending.begin_offset);
      state.pending = null;
      refocus(added);
      return;
    }
    if (state.focused !== null && spans[state.focused]) {
      // The reviewer's type replaces the model's: its score no longer applies.
      spans[state.focused] = plainSpan({ ...spans[state.focused], type });
      refocus(state.focused);
      return;
    }
    toast("Select some text (or focus an entity) first, then press its type's number.");
  }

  function removeFocused() {
    const spans = state.working;
    if (state.focused === null || !spans || !spans[state.focused]) {
      toast("Focus an entity first (Tab, or click it), then Delete removes it.");
      return;
    }
    spans.splice(state.focused, 1);
    refocus(Math.min(state.focused, spans.length - 1));
  }

  // Re-render and put the focus back on span ``index`` (the card when there is none).
  function refocus(index) {
    renderBatch();
    const mark = index >= 0 && document.querySelector(`#item-text mark[data-index="${index}"]`);
    if (mark) mark.focus();
    else {
      state.focused = null;
      $("item").focus();
    }
  }

  // ------------------------------------------------------------------ answering

  function go(delta) {
    clearTimeout(state.advanceTimer);
    const next = Math.max(0, Math.min(items().length, state.index + delta));
    if (next === state.index) return;
    state.index = next;
    state.picks = null;
    resetWorking();
    saveDraft();
    renderBatch();
    $("item").focus();
  }

  function answer(labels, advance = true) {
    const item = current();
    if (!item) return;
    // Entity answers are spans, stored without the model's scores (the API takes none).
    state.answers[item.item_id] = isEntity()
      ? labels.map(plainSpan).sort(bySpan)
      : [...labels];
    resetWorking();
    saveDraft();
    renderBatch();
    if (advance) {
      // A short pause shows the choice before the next text replaces it.
      clearTimeout(state.advanceTimer);
      state.advanceTimer = setTimeout(() => go(1), ADVANCE_DELAY_MS);
    }
  }

  function chooseOption(i) {
    if (isEntity()) {
      applyType(i);
      return;
    }
    const item = current();
    const label = state.batch && state.batch.options[i];
    if (!item || label === undefined) return;
    if (isMulti()) {
      if (state.picks.has(label)) state.picks.delete(label);
      else state.picks.add(label);
      renderBatch();
    } else {
      answer([label]);
    }
  }

  function acceptSuggestion() {
    const item = current();
    if (!item) return;
    if (!item.suggestion) {
      toast(isEntity() ? "No suggestion for this text: mark its entities, then Enter."
        : "No suggestion for this text: choose a label with 1–9.");
      return;
    }
    state.picks = null;
    answer(isEntity() ? proposedSpans(item) : suggested(item));
  }

  function confirm() {
    const item = current();
    if (!item) {
      submit();
      return;
    }
    if (isEntity()) {
      answer(state.working || []);
    } else if (isMulti()) {
      answer([...state.picks].sort());
    } else if (state.answers[item.item_id]) {
      go(1); // already answered: Enter keeps the answer and moves on
    } else {
      acceptSuggestion();
    }
  }

  function clearAnswer() {
    const item = current();
    if (!item) return;
    delete state.answers[item.item_id];
    state.picks = null;
    resetWorking();
    saveDraft();
    renderBatch();
  }

  // ------------------------------------------------------------------ submitting

  async function submit() {
    if (state.busy || !state.batch) return;
    const total = items().length;
    const answered = answeredCount();
    if (answered === 0) {
      toast("Answer at least one item before submitting.");
      return;
    }
    if (answered < total && !(await confirmPartial(total - answered))) return;
    // Sorted by item id: the API reports problems as answers[i] in this order.
    const ordered = items().filter((i) => state.answers[i.item_id])
      .sort((a, b) => (a.item_id < b.item_id ? -1 : a.item_id > b.item_id ? 1 : 0));
    // No reviewer id: the API records the token's person.
    const kind = isEntity() ? "entities" : "labels";
    const body = {
      answers: ordered.map((i) => ({ item_id: i.item_id, [kind]: state.answers[i.item_id] })),
    };
    const batchId = state.batch.batch_id;
    state.busy = true;
    renderProgress();
    $("submit").textContent = "Submitting…";
    try {
      const result = await api("POST", `/reviews/${encodeURIComponent(batchId)}/answers`, body);
      dropDraft(batchId);
      toast(result.duplicate
        ? `Batch ${batchId} was already submitted with these answers.`
        : `Submitted ${result.answered} answer${result.answered === 1 ? "" : "s"} for ${batchId}.`);
      state.busy = false;
      await backToQueue();
    } catch (err) {
      showError(err, (field) => {
        const match = /^answers\[(\d+)\]/.exec(field);
        if (!match || !ordered[Number(match[1])]) return null;
        const item = ordered[Number(match[1])];
        return `item ${items().indexOf(item) + 1}`;
      });
    } finally {
      state.busy = false;
      $("submit").textContent = "Submit batch";
      if (state.batch) renderProgress();
    }
  }

  function confirmPartial(open) {
    const dialog = $("confirm-dialog");
    $("confirm-text").textContent = `${open} item${open === 1 ? " is" : "s are"} not answered ` +
      "yet. They go back to the pool and may be offered again in a later iteration.";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      $("confirm-ok").focus();
    });
  }

  // ------------------------------------------------------------------ keyboard

  function onKey(event) {
    if (document.querySelector("dialog[open]")) return; // the dialog owns the keyboard
    const target = event.target;
    // An input keeps the focus for a moment after its dialog closed (the name dialog moves it
    // on in its "close" event, which comes later): a key pressed right after Enter is the
    // reviewer's next command, not more typing into a field no longer shown.
    const typing = (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement)
      && !target.closest("dialog:not([open])");
    if (typing) return;
    if (event.altKey || event.metaKey) return;
    const key = event.key;

    if (state.view === "queue") {
      if (event.ctrlKey) return;
      if (key === "r") { loadQueue(); event.preventDefault(); return; }
      const buttons = [...document.querySelectorAll(".queue-item")];
      const at = buttons.indexOf(document.activeElement);
      if (/^[1-9]$/.test(key) && buttons[Number(key) - 1]) {
        openBatch(buttons[Number(key) - 1].dataset.batchId);
      } else if ((key === "ArrowDown" || key === "j") && buttons.length) {
        buttons[Math.min(buttons.length - 1, at + 1)].focus();
      } else if ((key === "ArrowUp" || key === "k") && buttons.length) {
        buttons[Math.max(0, at - 1)].focus();
      } else if (key === "Enter" && at === -1 && buttons.length) {
        openBatch(buttons[0].dataset.batchId);
      } else {
        return;
      }
      event.preventDefault();
      return;
    }

    if (event.ctrlKey) {
      if (key === "Enter") { submit(); event.preventDefault(); }
      return;
    }
    if (isEntity() && current()) {
      if (key === "Delete" || key === "Backspace") {
        removeFocused();
        event.preventDefault();
        return;
      }
      if (key === "s") {
        selectByKeyboard();
        event.preventDefault();
        return;
      }
      if (state.pending && (key === "ArrowRight" || key === "ArrowLeft")) {
        movePending(key === "ArrowRight" ? 1 : -1, event.shiftKey);
        event.preventDefault();
        return;
      }
      if (key === "Escape" && state.pending) {
        state.pending = null;
        renderBatch();
        event.preventDefault();
        return;
      }
    }
    // A focused button would also "click" on Enter; handle Enter here, once, instead.
    if (key === "Enter") confirm();
    else if (key === "a") acceptSuggestion();
    else if (/^[1-9]$/.test(key)) chooseOption(Number(key) - 1);
    else if (key === "ArrowRight" || key === "j") go(1);
    else if (key === "ArrowLeft" || key === "k") go(-1);
    else if (key === "u" || key === "Backspace") clearAnswer();
    else if (key === "Escape") backToQueue();
    else return;
    event.preventDefault();
  }

  // ------------------------------------------------------------------ start

  function init() {
    document.addEventListener("keydown", onKey);
    $("refresh").addEventListener("click", loadQueue);
    $("back").addEventListener("click", backToQueue);
    $("prev").addEventListener("click", () => go(-1));
    $("next").addEventListener("click", () => go(1));
    $("accept").addEventListener("click", () => (isMulti() || isEntity() || !current()
      ? confirm() : acceptSuggestion()));
    $("item-text").addEventListener("mouseup", onTextSelected);
    $("item-text").addEventListener("focusin", (event) => {
      const mark = event.target.closest && event.target.closest("mark.entity");
      state.focused = mark ? Number(mark.dataset.index) : null;
    });
    $("item-text").addEventListener("focusout", (event) => {
      const next = event.relatedTarget;
      if (!next || !next.closest || !next.closest("#item-text mark.entity")) state.focused = null;
    });
    $("submit").addEventListener("click", submit);
    $("alert-close").addEventListener("click", clearError);
    $("reviewer").addEventListener("click", () => askSignIn());
    $("signin-form").addEventListener("submit", (event) => {
      const problem = signIn($("token-input").value.trim());
      if (problem) {
        event.preventDefault();
        $("signin-message").textContent = problem;
        $("signin-message").hidden = false;
        return;
      }
      loadQueue();
    });
    // Enter signs in (a token is one long line; Shift+Enter is not needed).
    $("token-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        $("signin-form").requestSubmit();
      }
    });
    // Without a token nothing can be read or submitted: the dialog stays until one is given.
    $("signin-dialog").addEventListener("cancel", (event) => {
      if (!state.token) event.preventDefault();
    });
    $("signin-dialog").addEventListener("close", () => {
      if (state.view === "batch") $("item").focus();
      else { const first = document.querySelector(".queue-item"); if (first) first.focus(); }
    });

    const handed = handedToken();
    const stored = handed || sessionStorage.getItem(TOKEN_KEY);
    const problem = stored ? signIn(stored) : null;
    if (!state.token) askSignIn(problem);
    window.addEventListener("hashchange", () => {
      const token = handedToken();
      if (!token) return;
      const refused = signIn(token);
      if (refused) { askSignIn(refused); return; }
      if ($("signin-dialog").open) $("signin-dialog").close();
      loadQueue();
    });
    showView("queue");
    if (!state.token) return; // signing in loads the queue
    loadQueue().then(() => {
      const first = document.querySelector(".queue-item");
      if (first && !document.querySelector("dialog[open]")) first.focus();
    });
  }

  init();
})();
