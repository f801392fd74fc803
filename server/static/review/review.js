// papertrans review page: translate or open a translation, rate segments, correct them, compare variants (A/B).
// No framework, no CDN: KaTeX is bundled under vendor/. Every write carries an Idempotency-Key that is reused when the
// request is retried after a network failure, so a retry never creates a second row.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = { tid: null, segments: [], current: -1, comparison: null };

function setStatus(text, kind = "info") {
  const el = $("#status");
  el.textContent = text;
  el.dataset.kind = kind;
}

function headers(write) {
  const h = { "content-type": "application/json" };
  const key = $("#api-key").value.trim();
  if (key) h["X-API-Key"] = key;
  if (write) h["Idempotency-Key"] = write;
  return h;
}

function newKey() {
  return (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random().toString(16).slice(2);
}

// fetch JSON; writes retry on network errors with the same Idempotency-Key.
async function api(method, path, body, { write = false } = {}) {
  const key = write ? newKey() : null;
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const res = await fetch(path, {
        method, headers: headers(key), body: body === undefined ? undefined : JSON.stringify(body),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) {
        const err = new Error(data.detail || res.statusText);
        err.code = data.error || `http_${res.status}`;
        err.body = data;
        throw err;
      }
      return data;
    } catch (err) {
      if (err.code) throw err;  // an answer from the server: do not retry
      lastError = err;
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    }
  }
  throw lastError;
}

function renderMath(el, text) {
  el.textContent = text;
  if (window.renderMathInElement) {
    window.renderMathInElement(el, {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "$", right: "$", display: false },
        { left: "\\(", right: "\\)", display: false },
      ],
      throwOnError: false,
      trust: false,  // untrusted text: no \href/\url links, no \htmlClass/\htmlData (the CSP is the second wall)
      maxExpand: 1000,  // macro bombs stop early
    });
  }
}

function showDocument(tid, segments, meta) {
  state.tid = tid;
  state.segments = segments;
  $("#tid").textContent = tid;
  $("#meta").textContent = meta || "";
  const list = $("#segments");
  list.replaceChildren();
  const tpl = $("#segment-tpl");
  segments.forEach((seg, i) => {
    const li = tpl.content.firstElementChild.cloneNode(true);
    li.dataset.index = String(i);
    li.dataset.segmentId = seg.id;
    renderMath($(".source", li), seg.source);
    renderMath($(".target .text", li), seg.translation);
    showBadge($(".badge", li), seg);
    if (seg.status === NEEDS_REVIEW) li.classList.add("needs-review");
    $(".up", li).addEventListener("click", () => rate(i, "up"));
    $(".down", li).addEventListener("click", () => rate(i, "down"));
    $(".edit-btn", li).addEventListener("click", () => startEdit(i));
    $(".ab-btn", li).addEventListener("click", () => compare(i));
    $(".cancel", li).addEventListener("click", () => stopEdit(i));
    $(".use-suggestion", li).addEventListener("click", () => useSuggestion(i));
    $("form.edit", li).addEventListener("submit", (ev) => { ev.preventDefault(); submitCorrection(i); });
    $("textarea", li).addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); submitCorrection(i); }
      if (ev.key === "Escape") { ev.preventDefault(); stopEdit(i); }
    });
    li.addEventListener("click", () => select(i, false));
    list.appendChild(li);
  });
  $("#doc").hidden = false;
  showReviewCount();
  select(0);
  loadSuggestions(tid);
}

// Fuzzy matches (>= 70 %) from the translation memory: shown to the reader beside the translation, never sent to the
// model. Without a stored translation or a memory there is simply nothing to show.
async function loadSuggestions(tid) {
  let res;
  try {
    res = await api("GET", `/translations/${encodeURIComponent(tid)}/suggestions`);
  } catch (err) {
    return;
  }
  if (state.tid !== tid) return;  // another document was opened meanwhile
  state.segments.forEach((seg, i) => {
    const hint = (res.suggestions || {})[seg.id];
    const box = $(".suggestion", item(i));
    seg.suggestion = hint || null;
    box.hidden = !hint;
    if (!hint) return;
    $(".tm-score", box).textContent = `TM ${Math.floor(hint.score * 100)} %`;
    renderMath($(".tm-text", box), hint.target);
    box.title = `${hint.origin === "correction" ? "A reader's correction" : "Imported"} for: ${hint.source}`;
  });
}

function useSuggestion(i) {
  const hint = state.segments[i].suggestion;
  if (!hint) return;
  startEdit(i);
  $("textarea", item(i)).value = hint.target;
}

// needs_review: the server kept the translation (every protected span intact) but a faithfulness check still failed
// after its retries; the badge names the checks (reason codes) so the reader knows what to look for.
const NEEDS_REVIEW = "needs_review";

function showBadge(badge, seg) {
  const reasons = seg.reasons || [];
  badge.dataset.status = seg.status;
  badge.textContent = seg.status === NEEDS_REVIEW ? "needs review" : seg.status;
  if (seg.status === NEEDS_REVIEW && reasons.length) {
    const why = document.createElement("span");
    why.className = "reasons";
    why.textContent = reasons.join(", ");
    badge.appendChild(why);
  }
  badge.title = reasons.length ? reasons.join(", ") : "";
}

function reviewIndices() {
  return state.segments.flatMap((seg, i) => (seg.status === NEEDS_REVIEW ? [i] : []));
}

function showReviewCount() {
  const n = reviewIndices().length;
  $("#review-count").textContent = `(${n})`;
  $("#next-review").hidden = n === 0;
}

// The first needs_review segment after the current one, wrapping around to the top.
function nextReview() {
  const flagged = reviewIndices();
  if (!flagged.length) { setStatus("No segment needs review."); return; }
  const next = flagged.find((i) => i > state.current);
  const target = next === undefined ? flagged[0] : next;
  select(target);
  setStatus(`Needs review: segment ${flagged.indexOf(target) + 1} of ${flagged.length}.`);
}

function item(i) { return $(`#segments > li[data-index="${i}"]`); }

function select(i, focus = true) {
  if (!state.segments.length) return;
  i = Math.max(0, Math.min(state.segments.length - 1, i));
  const old = item(state.current);
  if (old) old.classList.remove("current");
  state.current = i;
  const li = item(i);
  li.classList.add("current");
  if (focus) { li.focus({ preventScroll: true }); li.scrollIntoView({ block: "nearest" }); }
}

function mark(i, text) {
  const done = $(".done", item(i));
  done.textContent = text;
}

async function translate() {
  const markdown = $("#markdown").value;
  if (!markdown.trim()) { setStatus("Paste some Markdown first.", "error"); return; }
  setStatus("Translating…");
  $("#translate").disabled = true;
  try {
    const body = { markdown };
    const adapter = $("#adapter").value.trim();
    if (adapter) body.adapter = adapter;
    const res = await api("POST", "/translate", body);
    showDocument(res.translation_id, res.segments, `${res.model}${res.adapter ? " · " + res.adapter : ""}`);
    setStatus(`Translated ${res.segments.length} segment(s).`, "ok");
  } catch (err) {
    setStatus(`Translate failed: ${err.code || ""} ${err.message}`, "error");
  } finally {
    $("#translate").disabled = false;
  }
}

async function openTranslation() {
  const tid = $("#open-id").value.trim();
  if (!tid) return;
  setStatus("Loading…");
  try {
    const res = await api("GET", `/translations/${encodeURIComponent(tid)}`);
    const segs = res.segments.map((s) => ({
      id: s.segment_id, source: s.source_restored, translation: s.translation, status: s.status, reasons: s.reasons,
    }));
    const adapter = res.adapter ? ` · ${res.adapter}@${res.adapter_version}` : "";
    showDocument(res.id, segs, `${res.model}${adapter}`);
    setStatus(`Opened ${segs.length} segment(s).`, "ok");
  } catch (err) {
    setStatus(`Open failed: ${err.code || ""} ${err.message}`, "error");
  }
}

async function sendFeedback(i, fields, label) {
  const seg = state.segments[i];
  try {
    const res = await api("POST", "/feedback", { translation_id: state.tid, segment_id: seg.id, ...fields },
      { write: true });
    mark(i, label);
    setStatus(`Saved (feedback #${res.id}).`, "ok");
    return true;
  } catch (err) {
    const extra = err.body && (err.body.missing || err.body.extra)
      ? ` missing: ${(err.body.missing || []).join(" ")} extra: ${(err.body.extra || []).join(" ")}` : "";
    setStatus(`Not saved: ${err.code || ""} ${err.message}${extra}`, "error");
    return false;
  }
}

function rate(i, rating) {
  select(i, false);
  return sendFeedback(i, { rating }, rating === "up" ? "👍 saved" : "👎 saved");
}

function startEdit(i) {
  select(i, false);
  const li = item(i);
  const form = $("form.edit", li);
  const ta = $("textarea", form);
  if (form.hidden) ta.value = state.segments[i].translation;
  form.hidden = false;
  ta.focus();
}

function stopEdit(i) {
  const li = item(i);
  $("form.edit", li).hidden = true;
  li.focus();
}

async function submitCorrection(i) {
  const li = item(i);
  const text = $("textarea", li).value;
  if (await sendFeedback(i, { correction: text }, "✎ correction saved")) {
    state.segments[i].translation = text;
    renderMath($(".target .text", li), text);
    stopEdit(i);
  }
}

async function compare(i) {
  select(i, false);
  const seg = state.segments[i];
  setStatus("Preparing two variants…");
  try {
    const res = await api("POST", "/comparisons", { translation_id: state.tid, segment_id: seg.id },
      { write: true });
    state.comparison = { ...res, index: i };
    renderMath($("#ab-source"), res.source || seg.source);
    for (const side of ["a", "b"]) {
      renderMath($(`#ab-${side} .text`), res[side].text);
      $(`#ab-${side} .label`).textContent = "";
      $(`#ab-${side}`).classList.remove("winner");
    }
    document.querySelectorAll("#ab [data-choice]").forEach((b) => { b.disabled = false; });
    $("#ab").hidden = false;
    $("#choose-a").focus();
    setStatus("Pick the better translation (1 / 2 / 3).");
  } catch (err) {
    setStatus(`Comparison failed: ${err.code || ""} ${err.message}`, "error");
  }
}

async function choose(choice) {
  const cmp = state.comparison;
  if (!cmp || $("#ab").hidden) return;
  try {
    const res = await api("POST", `/comparisons/${encodeURIComponent(cmp.id)}/choice`, { choice }, { write: true });
    $("#ab-a .label").textContent = res.a;
    $("#ab-b .label").textContent = res.b;
    if (choice !== "same") $(`#ab-${choice}`).classList.add("winner");
    document.querySelectorAll("#ab [data-choice]").forEach((b) => { b.disabled = true; });
    mark(cmp.index, `A/B: ${choice === "same" ? "same" : choice.toUpperCase() + " better"}`);
    setStatus(`Choice saved: ${choice} (A = ${res.a}, B = ${res.b}).`, "ok");
  } catch (err) {
    setStatus(`Choice not saved: ${err.code || ""} ${err.message}`, "error");
  }
}

function closeModal(id) {
  $(id).hidden = true;
  if (state.current >= 0 && item(state.current)) item(state.current).focus();
}

function onKey(ev) {
  const typing = ev.target.matches("input, textarea");
  if (ev.key === "Escape") {
    if (!$("#ab").hidden) { closeModal("#ab"); return; }
    if (!$("#help").hidden) { closeModal("#help"); return; }
  }
  if (!$("#ab").hidden) {
    const pick = { 1: "a", 2: "same", 3: "b", a: "a", s: "same", b: "b" }[ev.key];
    if (pick && !typing) { ev.preventDefault(); choose(pick); }
    return;
  }
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === "?") { $("#help").hidden = !$("#help").hidden; return; }
  if (!state.segments.length) return;
  const actions = {
    j: () => select(state.current + 1),
    ArrowDown: () => select(state.current + 1),
    k: () => select(state.current - 1),
    ArrowUp: () => select(state.current - 1),
    u: () => rate(state.current, "up"),
    d: () => rate(state.current, "down"),
    e: () => startEdit(state.current),
    c: () => compare(state.current),
    n: () => nextReview(),
  };
  const act = actions[ev.key];
  if (act) { ev.preventDefault(); act(); }
}

function init() {
  const saved = localStorage.getItem("papertrans-api-key");
  if (saved) $("#api-key").value = saved;
  $("#api-key").addEventListener("change", (ev) => localStorage.setItem("papertrans-api-key", ev.target.value));
  $("#translate").addEventListener("click", translate);
  $("#markdown").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); translate(); }
  });
  $("#open").addEventListener("click", openTranslation);
  $("#next-review").addEventListener("click", nextReview);
  $("#open-id").addEventListener("keydown", (ev) => { if (ev.key === "Enter") openTranslation(); });
  document.querySelectorAll("#ab [data-choice]").forEach((b) => b.addEventListener("click", () => choose(b.dataset.choice)));
  $("#ab-close").addEventListener("click", () => closeModal("#ab"));
  $("#help-toggle").addEventListener("click", () => { $("#help").hidden = !$("#help").hidden; });
  $("#help-close").addEventListener("click", () => closeModal("#help"));
  document.addEventListener("keydown", onKey);
  const tid = new URLSearchParams(location.search).get("id");
  if (tid) { $("#open-id").value = tid; openTranslation(); }
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", init);
