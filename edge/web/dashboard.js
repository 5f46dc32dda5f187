"use strict";
// The dashboard: history once, then one server-sent event per decision. Drawn as SVG by hand;
// nothing is fetched but this page's own /api and /events (the CSP allows nothing else).
(() => {
  const SPAN = 300, MAX_POINTS = 2000, W = 800, H = 260, TOP = 14, BOTTOM = 22;
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
    "#db2777"];
  const NS = "http" + "://www.w3.org/2000/svg";  // an XML namespace name, never requested
  const token = new URLSearchParams(location.search).get("token");
  const url = (path) => token === null ? path :
    path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  const $ = (id) => document.getElementById(id);
  const set = (id, text) => { $(id).textContent = text; };
  const points = [], seen = new Set();
  let labels = [], heard = 0;  // audio time heard: the latest decision holds until then

  const clock = (s) => {
    const m = Math.floor(s / 60), r = (s - 60 * m).toFixed(1);
    return `${String(m).padStart(2, "0")}:${r.padStart(4, "0")}`;
  };
  const el = (name, attrs, parent) => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    parent.appendChild(e);
    return e;
  };

  function add(rec) {
    if (typeof rec.t !== "number" || seen.has(rec.t)) return false;
    seen.add(rec.t);
    points.push(rec);
    if (points.length > 1 && rec.t < points[points.length - 2].t) points.sort((a, b) => a.t - b.t);
    const last = points[points.length - 1].t;
    while (points.length > MAX_POINTS || (points.length && points[0].t < last - SPAN)) {
      seen.delete(points.shift().t);
    }
    if (!labels.length && rec.probabilities) labels = Object.keys(rec.probabilities);
    return true;
  }

  function show(rec) {
    set("label", rec.label);
    set("confidence", rec.label === "silence" ? "" : `confidence ${rec.confidence.toFixed(2)}`);
    set("clock", `at ${clock(rec.t)}`);
    set("speech", rec.speech ? "speech" : "no speech");
    if ("speaker" in rec) {  // only with --speaker: the enrolled speaker in use
      document.querySelectorAll(".who").forEach((e) => { e.hidden = false; });
      set("speaker", rec.speaker === null ? "nobody" : rec.speaker);
    }
    $("speech-ratio").value = rec.speech_ratio;
    const d = rec.dropped || {samples: 0, overflows: 0};
    set("dropped", `${d.samples} samples, ${d.overflows} overflows`);
  }

  function draw() {
    const svg = $("chart");
    svg.replaceChildren();
    const plotH = H - TOP - BOTTOM;
    const y = (p) => TOP + plotH * (1 - p);
    for (const p of [0, 0.5, 1]) {
      el("line", {class: "grid", x1: 0, x2: W, y1: y(p), y2: y(p)}, svg);
      el("text", {x: 2, y: y(p) - 2}, svg).textContent = p.toFixed(1);
    }
    // the axis spans what there is, from 30 s up to SPAN: a short recording is not a sliver
    const end = points.length ? Math.max(points[points.length - 1].t, heard) : 0;
    const have = points.length ? end - points[0].t : 0;
    const span = Math.min(SPAN, Math.max(30, Math.ceil(have / 30) * 30));
    const x = (t) => W * (t - (end - span)) / span;
    const step = span > 120 ? 60 : span > 60 ? 20 : 10;
    for (let s = 0; s <= span; s += step) {
      el("text", {x: Math.min(W - 30, x(end - s)), y: H - 6}, svg).textContent =
        s ? (s % 60 ? `-${s} s` : `-${s / 60} min`) : "now";
    }
    set("span", span % 60 ? `${span} seconds` : span === 60 ? "minute" : `${span / 60} minutes`);
    labels.forEach((name, i) => {
      const xy = [];
      let prev = null;
      for (const rec of points) {  // each decision holds until the next: a step line
        const p = (rec.probabilities || {})[name] || 0, px = x(rec.t).toFixed(1);
        if (prev !== null) xy.push(`${px},${y(prev).toFixed(1)}`);
        xy.push(`${px},${y(p).toFixed(1)}`);
        prev = p;
      }
      if (prev !== null && end > points[points.length - 1].t) {
        xy.push(`${x(end).toFixed(1)},${y(prev).toFixed(1)}`);
      }
      if (xy.length) el("polyline", {points: xy.join(" "), stroke: COLORS[i % COLORS.length],
        "data-label": name}, svg);
    });
    svg.dataset.points = String(points.length);
    svg.dataset.latest = String(end);
  }

  function legend() {
    const ul = $("legend");
    ul.replaceChildren();
    labels.forEach((name, i) => {
      const li = document.createElement("li"), sw = document.createElement("i");
      sw.style.background = COLORS[i % COLORS.length];
      li.append(sw, name);
      ul.appendChild(li);
    });
  }

  function facts(info) {
    if (info.labels) labels = info.labels;
    set("device", info.device || "");
    const dl = $("facts");
    dl.replaceChildren();
    for (const [k, v] of Object.entries(info)) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = Array.isArray(v) ? v.join(", ") : typeof v === "object" && v !== null ?
        Object.entries(v).map(([a, b]) => `${a} ${b}`).join(", ") : String(v);
      dl.append(dt, dd);
    }
    legend();
  }

  function state(s) {
    set("decisions", String(s.decisions));
    set("listening", s.listening ? "yes" : `no (${s.stopped_by || "stopped"})`);
    const m = s.mqtt;
    set("mqtt", m ? `${m.connected ? "connected" : "not connected"} to ${m.broker}, ` +
      `${m.sent} sent, ${m.undelivered} not delivered` : "off");
    const c = s.clients;
    set("clients", `${c.streams}/${c.max_streams} streams, ${c.dropped} dropped`);
    const grew = typeof s.heard === "number" && s.heard > heard;
    if (grew) heard = s.heard;
    const added = Boolean(s.decision) && add(s.decision);
    if (added) show(s.decision);
    if (grew || added) draw();
  }

  const get = (path) => fetch(url(path), {cache: "no-store"}).then((r) => {
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    return r.json();
  });

  function connect() {
    const link = $("link");
    const events = new EventSource(url("/events"));
    events.onopen = () => { link.dataset.state = "live"; link.textContent = "live"; };
    events.onerror = () => { link.dataset.state = "lost"; link.textContent = "reconnecting…"; };
    events.onmessage = (e) => {
      const rec = JSON.parse(e.data);
      if (add(rec)) { show(rec); draw(); }
    };
  }

  get("/api/info").then(facts).catch(() => {}).then(() => {
    connect();
    return get(`/api/history?seconds=${SPAN}`);
  }).then((h) => {
    h.decisions.forEach(add);
    if (points.length) show(points[points.length - 1]);
    draw();
  }).catch((err) => set("link", String(err)));
  const poll = () => get("/api/state").then(state).catch(() => {});
  poll();
  setInterval(poll, 3000);
  draw();
})();
