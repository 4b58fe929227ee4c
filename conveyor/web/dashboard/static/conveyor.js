/* Conveyor dashboard: live updates, action buttons and inline schedule editing. Hand-written, no dependencies.
 *
 * How pages stay live: every page marks its changing part with data-live-region, naming the server-sent
 * events that should refresh it (data-live-on) and the URL of its server-rendered fragment (data-live-src).
 * One EventSource on /api/events feeds all regions; a region re-fetches its fragment at most once per
 * data-live-interval ms (default 1000) and swaps it in, unless the user is typing in it. Progress events
 * move progress bars directly, without a fetch. Buttons with data-action="METHOD /path" call the JSON API
 * with the page's CSRF token and report the outcome in a toast.
 */
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const meta = (name) => {
    const m = $(`meta[name="${name}"]`);
    return m ? m.getAttribute("content") || "" : "";
  };
  const BASE = meta("conveyor-base");
  const CSRF = meta("csrf-token");
  const EVENTS = ["stats", "job", "progress", "schedule", "schedule_changed", "batch", "queue", "retried"];

  // ---------------------------------------------------------------- formatting (mirrors filters.py)
  const THIN = "\u202f";

  function number(n) {
    if (n === null || n === undefined || Number.isNaN(Number(n))) return "—";
    const v = Number(n);
    if (!Number.isInteger(v)) return Math.abs(v) < 100 ? v.toFixed(1) : number(Math.round(v));
    return String(v).replace(/\B(?=(\d{3})+(?!\d))/g, THIN);
  }

  function duration(s, precise) {
    if (precise === undefined) precise = true;
    if (s === null || s === undefined || !Number.isFinite(s)) return "—";
    if (s < 0) return "−" + duration(-s, precise);
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 10 && precise) return s.toFixed(1) + " s";
    if (s < 60) return Math.floor(s) + " s";
    const units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
    let rest = Math.floor(s);
    const parts = [];
    for (const [name, size] of units) {
      if (rest >= size) {
        parts.push(Math.floor(rest / size) + " " + name);
        rest %= size;
      }
      if (parts.length && (parts.length === 2 || !precise)) break;
    }
    return parts.join(" ");
  }

  function reltime(ts) {
    const delta = ts - Date.now() / 1000;
    if (Math.abs(delta) < 5) return "just now";
    const text = duration(Math.abs(delta), false);
    return delta > 0 ? "in " + text : text + " ago";
  }

  function progressWords(p) {
    if (!p) return "no progress reported yet";
    if (p.done === null || p.done === undefined) return p.message || "";
    const text = p.total ? `${number(p.done)} of ${number(p.total)}` : number(p.done);
    return p.message ? `${text} ${p.message}` : text;
  }

  function etaWords(p) {
    if (!p) return "";
    const parts = [];
    if (p.rate) parts.push(number(Number(p.rate)) + "/s");
    if (p.eta !== null && p.eta !== undefined) parts.push("about " + duration(Number(p.eta), false) + " left");
    return parts.join(" · ");
  }

  function refreshTimes(root) {
    for (const el of $$("time[data-ts]", root)) {
      const ts = Number(el.dataset.ts);
      if (!el.dataset.local) {
        el.dataset.local = "1";
        el.title = `${new Date(ts * 1000).toLocaleString()} (your time) · ${el.title}`;
      }
      if (el.dataset.mode === "relative") el.textContent = reltime(ts);
    }
  }

  // ---------------------------------------------------------------- toasts
  function toast(message, kind) {
    const box = $("[data-toasts]");
    if (!box) return;
    const el = document.createElement("div");
    el.className = "toast" + (kind === "error" ? " error" : "");
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.textContent = message;
    box.append(el);
    setTimeout(() => el.remove(), kind === "error" ? 9000 : 4000);
  }

  // ---------------------------------------------------------------- JSON API
  class ApiError extends Error {
    constructor(message, status, field) {
      super(message);
      this.status = status;
      this.field = field;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json", "X-CSRF-Token": CSRF };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(BASE + path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError("The server did not answer: is it still running?", 0, null);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(err.message || `${response.status} ${response.statusText}`, response.status, err.field || null);
    }
    return data;
  }

  // ---------------------------------------------------------------- live regions
  const regions = $$("[data-live-region]").map((el) => ({
    el,
    src: el.dataset.liveSrc,
    on: new Set((el.dataset.liveOn || "").split(/\s+/).filter(Boolean)),
    match: el.dataset.liveMatch ? JSON.parse(el.dataset.liveMatch) : null,
    interval: Number(el.dataset.liveInterval || 1000),
    last: 0,
    timer: null,
    busy: false,
    again: false,
    stale: false,
  }));

  function wants(region, name, data) {
    if (!region.on.has(name)) return false;
    if (region.match && data) {
      for (const [k, v] of Object.entries(region.match)) {
        if (data[k] !== undefined && data[k] !== null && String(data[k]) !== String(v)) return false;
      }
    }
    return true;
  }

  function schedule(region, immediately) {
    if (region.timer && !immediately) return;
    clearTimeout(region.timer);
    const wait = immediately ? 0 : Math.max(0, region.last + region.interval - Date.now());
    region.timer = setTimeout(() => {
      region.timer = null;
      refresh(region);
    }, wait);
  }

  function refreshAll(immediately) {
    regions.forEach((r) => schedule(r, immediately));
  }

  /* Swapping a region while the user types in it would throw their input away: wait until they are done. */
  function editing(region) {
    if ($("[data-editing]", region.el)) return true;
    const a = document.activeElement;
    return Boolean(a && region.el.contains(a) && a.matches("input[type=text], input[type=search], textarea, select"));
  }

  async function refresh(region) {
    if (document.hidden) {
      region.stale = true;
      return;
    }
    if (region.busy) {
      region.again = true;
      return;
    }
    if (editing(region)) {
      region.timer = setTimeout(() => {
        region.timer = null;
        refresh(region);
      }, 1000);
      return;
    }
    region.busy = true;
    region.last = Date.now();
    try {
      const response = await fetch(region.src, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (response.redirected && new URL(response.url).pathname.endsWith("/login")) {
        location.reload(); // the session expired: let the server send us to the login page
        return;
      }
      updateFailedCount(response.headers.get("X-Conveyor-Failed"));
      if (!response.ok) return;
      const html = await response.text();
      if (editing(region)) {
        region.again = true;
      } else {
        swap(region.el, html);
      }
    } catch (e) {
      // A network blip: the next event tries again.
    } finally {
      region.busy = false;
      if (region.again) {
        region.again = false;
        schedule(region);
      }
    }
  }

  function swap(el, html) {
    const open = new Set($$("details[open][id]", el).map((d) => d.id));
    const closed = new Set($$("details[id]:not([open])", el).map((d) => d.id));
    const scroll = $$(".table-wrap", el).map((w) => w.scrollLeft);
    el.innerHTML = html;
    for (const d of $$("details[id]", el)) {
      if (open.has(d.id)) d.open = true;
      else if (closed.has(d.id)) d.open = false;
    }
    $$(".table-wrap", el).forEach((w, i) => {
      if (scroll[i]) w.scrollLeft = scroll[i];
    });
    refreshTimes(el);
  }

  function updateFailedCount(value) {
    const el = $("[data-failed-count]");
    if (!el || value === null) return;
    const n = Number(value);
    el.textContent = number(n);
    el.toggleAttribute("data-zero", !n);
  }

  function patchProgress(id, p) {
    const pct = p && p.percent !== null && p.percent !== undefined ? Number(p.percent) : null;
    for (const bar of $$(`[data-progress-for="${id}"]`)) {
      bar.classList.toggle("indeterminate", pct === null);
      const fill = $(".fill", bar);
      if (fill) fill.style.width = (pct || 0).toFixed(1) + "%";
      if (pct !== null) bar.setAttribute("aria-valuenow", pct.toFixed(1));
    }
    $$(`[data-progress-text-for="${id}"]`).forEach((el) => (el.textContent = progressWords(p)));
    $$(`[data-progress-eta-for="${id}"]`).forEach((el) => (el.textContent = etaWords(p)));
    if (pct !== null) $$(`[data-progress-pct-for="${id}"]`).forEach((el) => (el.textContent = Math.round(pct) + " %"));
  }

  // ---------------------------------------------------------------- the event stream
  function setStatus(state, label) {
    const el = $("[data-live-status]");
    if (!el) return;
    el.dataset.state = state;
    const text = $("[data-live-label]", el);
    if (text) text.textContent = label;
  }

  let source = null;
  let dropped = false;

  function connect() {
    source = new EventSource(BASE + "/api/events");
    source.onopen = () => {
      setStatus("open", "Live");
      if (dropped) refreshAll(true); // events were missed while disconnected
      dropped = false;
    };
    source.onerror = () => {
      dropped = true;
      setStatus("error", "Reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. the server answered an error): try again ourselves, gently.
        source.close();
        setTimeout(connect, 5000);
      }
    };
    for (const name of EVENTS) {
      source.addEventListener(name, (ev) => {
        let data = null;
        try {
          data = JSON.parse(ev.data);
        } catch (e) {
          data = null;
        }
        if (name === "progress" && data) patchProgress(data.id, data.progress);
        for (const r of regions) if (wants(r, name, data)) schedule(r);
      });
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    for (const r of regions) {
      if (r.stale) {
        r.stale = false;
        schedule(r, true);
      }
    }
  });

  // ---------------------------------------------------------------- action buttons
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("[data-action]");
    if (!btn || btn.disabled) return;
    ev.preventDefault();
    if (btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) return;
    const [method, path] = btn.dataset.action.split(" ");
    const body = btn.dataset.body ? JSON.parse(btn.dataset.body) : undefined;
    btn.disabled = true;
    btn.setAttribute("aria-busy", "true");
    try {
      const data = await api(method, path, body);
      if (btn.dataset.then) {
        location.href = BASE + btn.dataset.then;
        return;
      }
      let message = btn.dataset.done || "Done";
      if (data && typeof data.retried === "number") {
        message = data.retried
          ? `${number(data.retried)} job${data.retried === 1 ? "" : "s"} back in the queue`
          : "Nothing to retry";
      }
      toast(message);
      refreshAll(true);
    } catch (e) {
      toast(e.message, "error");
    } finally {
      btn.disabled = false;
      btn.removeAttribute("aria-busy");
    }
  });

  // ---------------------------------------------------------------- schedules: inline edit and on/off
  function editorRow(row) {
    return row && row.nextElementSibling && row.nextElementSibling.matches(".sched-edit") ? row.nextElementSibling : null;
  }

  function openEditor(row, open) {
    const editor = editorRow(row);
    if (!editor) return;
    row.toggleAttribute("data-editing", open);
    const toggle = $("[data-edit-toggle]", row);
    if (toggle) toggle.setAttribute("aria-expanded", String(open));
    const form = $("form", editor);
    if (open) {
      const cron = form.elements.namedItem("cron");
      if (cron) cron.focus();
    } else {
      form.reset();
      clearErrors(form);
    }
  }

  function clearErrors(form) {
    $$("[data-error-for]", form).forEach((el) => (el.textContent = ""));
    $$("[aria-invalid]", form).forEach((el) => el.removeAttribute("aria-invalid"));
  }

  function showError(form, field, message) {
    const slot = $(`[data-error-for="${field}"]`, form) || $('[data-error-for="_form"]', form);
    slot.textContent = message;
    const input = form.elements.namedItem(field);
    if (input && input.setAttribute) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  function changes(form) {
    const body = {};
    for (const name of ["cron", "timezone"]) {
      const el = form.elements.namedItem(name);
      if (el && el.value.trim() !== el.dataset.initial) body[name] = el.value.trim();
    }
    const params = form.elements.namedItem("params");
    if (params && params.value.trim() !== params.dataset.initial) {
      let value;
      try {
        value = JSON.parse(params.value.trim() || "{}");
      } catch (e) {
        throw new ApiError("not valid JSON: " + e.message, 0, "params");
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new ApiError('params must be a JSON object, e.g. {"chunk": 250}', 0, "params");
      }
      const changed = changedParams(JSON.parse(params.dataset.initial || "{}"), value);
      if (Object.keys(changed).length) body.params = changed;
    }
    return body;
  }

  /* Only the params the user changed are sent: an unchanged one stays whatever the code declares (a later
   * deploy that changes it still counts), and a secret shown as "[redacted]" is never sent back. */
  function changedParams(initial, value) {
    const removed = Object.keys(initial).filter((k) => !(k in value));
    if (removed.length) {
      throw new ApiError(
        `removing a param ("${removed[0]}") is not possible here: give it a value, or reset the schedule ` +
          "with conveyor schedule set KEY --reset",
        0,
        "params",
      );
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (!(k in initial) || JSON.stringify(initial[k]) !== JSON.stringify(v)) out[k] = v;
    }
    return out;
  }

  document.addEventListener("click", (ev) => {
    const toggle = ev.target.closest("[data-edit-toggle]");
    if (toggle) {
      const row = toggle.closest("tr");
      openEditor(row, !row.hasAttribute("data-editing"));
      return;
    }
    const cancel = ev.target.closest("[data-edit-cancel]");
    if (cancel) openEditor(cancel.closest("tr").previousElementSibling, false);
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape") return;
    const form = ev.target.closest && ev.target.closest("[data-schedule-form]");
    if (form) openEditor(form.closest("tr").previousElementSibling, false);
  });

  document.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("[data-schedule-form]");
    if (!form) return;
    ev.preventDefault();
    clearErrors(form);
    const key = form.dataset.scheduleForm;
    const row = form.closest("tr").previousElementSibling;
    let body;
    try {
      body = changes(form);
    } catch (e) {
      showError(form, e.field, e.message);
      return;
    }
    if (!Object.keys(body).length) {
      openEditor(row, false);
      return;
    }
    const submit = $("button[type=submit]", form);
    submit.disabled = true;
    try {
      await api("PATCH", "/api/schedules/" + encodeURIComponent(key), body);
      openEditor(row, false);
      toast(`Saved ${key}: the scheduler picks it up within a second`);
      refreshAll(true);
    } catch (e) {
      showError(form, e.field || "_form", e.message);
    } finally {
      submit.disabled = false;
    }
  });

  document.addEventListener("change", async (ev) => {
    const box = ev.target.closest("[data-schedule-toggle]");
    if (!box) return;
    const key = box.dataset.scheduleToggle;
    const enabled = box.checked;
    box.disabled = true;
    try {
      await api("PATCH", "/api/schedules/" + encodeURIComponent(key), { enabled });
      toast(enabled ? `${key} switched on` : `${key} switched off: no new runs until switched on`);
      refreshAll(true);
    } catch (e) {
      box.checked = !enabled;
      toast(e.message, "error");
    } finally {
      box.disabled = false;
    }
  });

  /* "Running for" counts on between page refreshes (the server's figure plus the time since it arrived). */
  function tickElapsed(root) {
    for (const el of $$("[data-elapsed]", root)) {
      if (!el.dataset.since) el.dataset.since = String(Date.now());
      el.textContent = duration(Number(el.dataset.elapsed) + (Date.now() - Number(el.dataset.since)) / 1000);
    }
  }

  // ---------------------------------------------------------------- start
  refreshTimes(document);
  setInterval(() => refreshTimes(document), 10000);
  setInterval(() => tickElapsed(document), 1000);
  if (regions.length) connect();
  else setStatus("idle", "");
})();
