// ThreatCast dashboard: plain JavaScript and SVG, no external assets. It polls the API with
// conditional requests (the browser sends If-None-Match; unchanged data costs a 304).
"use strict";

// ?refresh=N polls every N seconds, kept between 1 s and an hour (anything else: 30 s).
const REFRESH_S = Number(new URLSearchParams(location.search).get("refresh"));
const REFRESH_MS = (Number.isFinite(REFRESH_S) && REFRESH_S >= 1 ? Math.min(REFRESH_S, 3600) : 30) * 1000;
// The track record changes only when outcomes or issues do: asked at most every five minutes.
const TRACK_RECORD_MS = Math.max(REFRESH_MS, 300000);
const KEY_ITEM = "threatcast-api-key";
// Viridis stops: ordered in lightness, readable with the common colour-vision deficiencies.
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
const LABELS = { p_event: "probability of an event", p_severe: "probability of a severe month", expected_events: "expected events" };
const state = { target: "p_event", horizon: 1, selected: null, forecasts: null, shapes: null, model: null, series: null, actor: "", trackRecord: { series: null, at: 0 }, countries: {}, shapesOf: {}, served: [], drill: null };
const UNITS = { month: ["month", 6], week: ["week", 8] };

function authorization() {
  const key = sessionStorage.getItem(KEY_ITEM);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function getJSON(url, options = {}) {
  const response = await fetch(url, { cache: "no-cache", ...options, headers: { ...authorization(), ...(options.headers || {}) } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function colour(value, max) {
  const t = max > 0 ? Math.min(Math.max(value / max, 0), 1) : 0;
  return VIRIDIS[Math.min(VIRIDIS.length - 1, Math.floor(t * VIRIDIS.length))];
}

function format(value) {
  return state.target === "expected_events" ? value.toFixed(1) : `${Math.round(value * 100)}%`;
}

// With an actor group chosen, the group's forecast (per-actor forecasts give no p_severe).
function valueOf(row) {
  const source = state.actor && row.actor ? row.actor : row;
  return source[state.target];
}

function actorName() {
  const picker = document.getElementById("actor");
  return state.actor ? ` (${picker.options[picker.selectedIndex].text})` : "";
}

function rings(geometry) {
  return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
}

// A series names its country first (afg-acled-month): the map and actor groups are that country's.
function countryOf(series) {
  return series.split("-")[0].toUpperCase();
}

// A province's districts are their own series (the series' key with -adm2), split from it.
function districtSeries() {
  const key = `${state.series}-adm2`;
  return state.served.includes(key) ? key : null;
}

// The series the map, table and chart show: the districts' while drilled into a province.
function shownSeries() {
  return state.drill ? districtSeries() : state.series;
}

async function loadCountry() {
  const code = countryOf(state.series);
  const country = state.countries[code] || { name: code, boundaries: false, actor_groups: [] };
  const level = state.drill ? "adm2" : "adm1";
  const cached = `${code}-${level}`;
  if (!(cached in state.shapesOf)) state.shapesOf[cached] = country.boundaries ? await getJSON(`/v1/regions.geojson?country=${code}&level=${level}`) : { features: [] };
  const shapes = state.shapesOf[cached];
  state.shapes = state.drill ? { ...shapes, features: shapes.features.filter((f) => f.properties.parent === state.drill) } : shapes;
  const hasMap = state.shapes.features.length > 0;
  const map = document.getElementById("map");
  map.toggleAttribute("hidden", !hasMap);
  document.getElementById("no-map").hidden = hasMap;
  const where = state.drill ? `${state.provinceName}, ${country.name}` : country.name;
  map.setAttribute("aria-label", `Map of ${where}'s ${state.drill ? "districts" : "regions"} coloured by the selected forecast; each is a button`);
  document.getElementById("map-title").textContent = `Risk by ${state.drill ? "district" : "region"}: ${where}`;
  document.getElementById("back").hidden = !state.drill;
  const picker = document.getElementById("actor");
  const groups = country.actor_groups.map((g) => g.group);
  picker.replaceChildren(new Option("All actors", ""), ...country.actor_groups.map((g) => new Option(g.label, g.group)));
  if (!groups.includes(state.actor)) setActor("");
  picker.value = state.actor;
}

function drawMap() {
  const map = document.getElementById("map");
  map.replaceChildren();
  if (!state.shapes || !state.forecasts) return;
  const rows = state.forecasts.data.filter((f) => f.horizon === state.horizon);
  const byRegion = Object.fromEntries(rows.map((r) => [r.region, r]));
  const max = state.target === "expected_events" ? Math.max(1, ...rows.map(valueOf)) : 1;
  let [x0, y0, x1, y1] = [180, 90, -180, -90];
  for (const feature of state.shapes.features)
    for (const polygon of rings(feature.geometry))
      for (const [x, y] of polygon[0]) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const kx = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
  const scale = Math.min(580 / ((x1 - x0) * kx), 500 / (y1 - y0));
  const project = ([x, y]) => `${(10 + (x - x0) * kx * scale).toFixed(1)},${(10 + (y1 - y) * scale).toFixed(1)}`;
  for (const feature of state.shapes.features) {
    const row = byRegion[feature.id];
    const d = rings(feature.geometry).map((polygon) => polygon.map((ring) => "M" + ring.map(project).join("L") + "Z").join("")).join("");
    const label = row ? `${feature.properties.name}: ${LABELS[state.target]} ${format(valueOf(row))} in ${row.period} (${row.risk_level} risk)` : feature.properties.name;
    const path = svg("path", { d, fill: row ? colour(valueOf(row), max) : "#ccc", tabindex: "0", role: "button", "aria-label": label, "data-region": feature.id });
    if (feature.id === state.selected) path.classList.add("selected");
    path.appendChild(svg("title", {}, label));
    path.addEventListener("click", () => select(feature.id));
    path.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(feature.id); } });
    map.appendChild(path);
  }
  const span = (text) => Object.assign(document.createElement("span"), { textContent: text });
  const bar = Object.assign(document.createElement("span"), { className: "bar" });
  bar.style.background = `linear-gradient(to right, ${VIRIDIS.join(",")})`;  // CSSOM: allowed by the CSP
  document.getElementById("legend").replaceChildren(span(state.target === "expected_events" ? "0" : "0%"), bar,
    span(state.target === "expected_events" ? max.toFixed(0) : "100%"), span(`${LABELS[state.target]}${actorName()}, ${state.horizon} month(s) ahead`));
  const body = document.querySelector("#map-table tbody");
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    for (const cell of [r.region_name, r.period, format(valueOf(r)), r.risk_level]) { const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td); }
    return tr;
  }));
}

async function drawChart() {
  const chart = document.getElementById("chart");
  chart.replaceChildren();
  if (!state.selected) return;
  const detail = await getJSON(`/v1/forecasts/${state.selected}?series=${encodeURIComponent(shownSeries())}`);
  const history = detail.history;
  const ahead = detail.data.filter((f) => true).sort((a, b) => a.horizon - b.horizon);
  const periods = [...history.map((h) => h.period), ...ahead.map((f) => f.period)];
  const freq = state.series.split("-").pop();
  const calendar = await getJSON(`/v1/calendar?start=${periods[0]}&end=${periods[periods.length - 1]}&freq=${freq}`);
  const top = Math.max(1, ...history.map((h) => h.events), ...ahead.map((f) => f.events_interval.p90));
  const [left, right, topY, bottom] = [40, 630, 20, 250];
  const x = (i) => left + (i + 0.5) * (right - left) / periods.length;
  const y = (v) => bottom - (v / top) * (bottom - topY);
  const width = (right - left) / periods.length * 0.7;
  chart.appendChild(svg("line", { x1: left, x2: right, y1: bottom, y2: bottom, stroke: "#333" }));
  for (const tick of [0, top / 2, top]) {
    chart.appendChild(svg("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end", "font-size": 10 }, tick.toFixed(0)));
  }
  // A period the source does not cover is marked "no data", never drawn as a quiet one.
  history.forEach((h, i) => chart.appendChild(h.events === null
    ? svg("text", { x: x(i), y: bottom - 4, "text-anchor": "middle", "font-size": 8, fill: "#b00020" }, "?")
    : svg("rect", { x: x(i) - width / 2, y: y(h.events), width, height: bottom - y(h.events), fill: "#6b6b6b" }, undefined)));
  ahead.forEach((f, k) => {
    const i = history.length + k;
    chart.appendChild(svg("rect", { x: x(i) - width / 2, y: y(f.events_interval.p90), width, height: Math.max(1, y(f.events_interval.p10) - y(f.events_interval.p90)), fill: "#35b779", opacity: 0.45 }));
    chart.appendChild(svg("circle", { cx: x(i), cy: y(f.expected_events), r: 4, fill: "#31688e" }));
  });
  calendar.data.forEach((c) => {
    const i = periods.indexOf(c.period);
    const marks = [c.election ? "E" : "", c.ashura ? "A" : "", c.ramadan_days > 0 ? "R" : ""].join("");
    if (i < 0 || !marks) return;
    chart.appendChild(svg("line", { x1: x(i), x2: x(i), y1: topY, y2: bottom, stroke: c.election ? "#b00020" : "#999", "stroke-dasharray": "3,3" }));
    chart.appendChild(svg("text", { x: x(i), y: topY - 4, "text-anchor": "middle", "font-size": 9 }, marks));
  });
  periods.forEach((p, i) => { if (i % 6 === 0) chart.appendChild(svg("text", { x: x(i), y: bottom + 14, "text-anchor": "middle", "font-size": 10 }, p)); });
  const name = state.forecasts.data.find((f) => f.region === state.selected)?.region_name || state.selected;
  document.getElementById("chart-title").textContent = `${name}: observed events and forecasts`;
  const drill = document.getElementById("drill");
  drill.hidden = Boolean(state.drill) || !districtSeries();
  drill.textContent = `Show the districts of ${name}`;
  document.getElementById("chart-desc").textContent =
    `Grey bars: observed events per month to ${detail.data_cutoff}. Green bands: 80% forecast intervals; dots: expected events, ` +
    ahead.map((f) => `${f.period} ${f.expected_events.toFixed(1)} (${f.events_interval.p10.toFixed(0)}-${f.events_interval.p90.toFixed(0)})`).join(", ") +
    ". Marks: E election, A Ashura, R Ramadan.";
  drawChange(ahead.find((f) => f.horizon === state.horizon));
}

// Why the forecast moved since the previous issue, in the drivers' words; the parts add up.
function drawChange(forecast) {
  const list = document.getElementById("change");
  list.replaceChildren();
  const change = forecast?.change;
  if (!change) return;
  const pct = (v) => `${Math.round(v * 100)}%`;
  const signed = (v) => `${v >= 0 ? "+" : "−"}${Math.abs(v * 100).toFixed(1)} points`;
  const head = document.createElement("li");
  head.textContent = `Probability of an event ${pct(change.previous_p_event)} at the ${change.previous_origin} issue → ${pct(forecast.p_event)} now (${signed(change.delta_p_event)}):`;
  list.appendChild(head);
  for (const part of change.contributions) {
    const item = document.createElement("li");
    item.textContent = `${signed(part.delta)}: ${part.label}`;
    list.appendChild(item);
  }
  for (const fact of change.facts) {
    const item = document.createElement("li");
    item.className = "note";
    item.textContent = fact;
    list.appendChild(item);
  }
}

function select(region) {
  state.selected = region;
  drawMap();
  drawChart().catch(report);
}

// Into a province's districts and back: the same map, table and chart, one level down.
function drillInto(province) {
  state.provinceName = state.forecasts.data.find((f) => f.region === province)?.region_name || province;
  state.drill = province;
  state.selected = null;
  document.getElementById("drill").hidden = true;
  refreshOnce();
}

function drillOut() {
  state.selected = state.drill;
  state.drill = null;
  refreshOnce();
}

async function drawAlerts() {
  const list = document.getElementById("alerts");
  const alerts = await getJSON("/v1/alerts?state=firing");
  if (!alerts.count) { list.replaceChildren(Object.assign(document.createElement("li"), { textContent: "No firing alerts." })); return; }
  const key = sessionStorage.getItem(KEY_ITEM);
  list.replaceChildren(...alerts.data.map((a) => {
    const item = document.createElement("li");
    item.append(Object.assign(document.createElement("span"), { className: `sev-${a.severity}`, textContent: a.severity }), " ");
    item.append(`${a.rule_name}: ${a.region} ${a.period} (h=${a.horizon}) ${a.target} ${a.value.toFixed(2)}, since ${a.started_at.slice(0, 16).replace("T", " ")}`);
    if (a.acknowledged_at) item.append(` — acknowledged by ${a.acknowledged_by}${a.ack_comment ? ": " + a.ack_comment : ""}`);
    else if (key) {
      const button = document.createElement("button");
      button.textContent = "Acknowledge";
      button.addEventListener("click", async () => {
        const comment = prompt("Comment", "") ?? "";
        await fetch(`/v1/alerts/${a.id}/acknowledge`, { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` }, body: JSON.stringify({ comment }) });
        drawAlerts().catch(report);
      });
      item.append(" ", button);
    }
    return item;
  }));
}

async function drawModel() {
  const version = state.forecasts?.model_version;
  if (!version || state.model?.version === version) return;
  state.model = await getJSON(`/v1/models/${version}`);
  const pooled = state.model.metrics.models[state.model.metrics.main_model].all;
  const facts = { Version: version, "Data cutoff": state.forecasts.data_cutoff, "Backtest origins": `${state.model.metrics.window.start} to ${state.model.metrics.window.end}`,
    "Brier (pooled)": pooled.brier.toFixed(4), "Brier skill vs climatology": (pooled.brier_skill ?? 0).toFixed(3), "Calibration error": pooled.calibration_error.toFixed(3),
    "Severe-month Brier": pooled.severe_brier.toFixed(4), "80% interval coverage": pooled.coverage_p10_p90.toFixed(2) };
  // Models saved before PIT coverage was scored lack it; whole counts overstate it where p10 is 0.
  if (pooled.pit_coverage_p10_p90 != null) facts["80% interval coverage"] = `${pooled.pit_coverage_p10_p90.toFixed(2)} of PITs (${facts["80% interval coverage"]} of counts)`;
  document.getElementById("model-facts").replaceChildren(...Object.entries(facts).flatMap(([k, v]) =>
    [Object.assign(document.createElement("dt"), { textContent: k }), Object.assign(document.createElement("dd"), { textContent: v })]));
  const plot = document.getElementById("reliability");
  plot.replaceChildren(svg("rect", { x: 30, y: 10, width: 220, height: 220, fill: "none", stroke: "#999" }), svg("line", { x1: 30, y1: 230, x2: 250, y2: 10, stroke: "#999", "stroke-dasharray": "4,3" }));
  for (const bin of state.model.metrics.reliability || []) {
    plot.appendChild(svg("circle", { cx: 30 + bin.forecast * 220, cy: 230 - bin.observed * 220, r: 2 + Math.sqrt(bin.count) / 3, fill: "#31688e", opacity: 0.8 }, undefined));
  }
  plot.appendChild(svg("text", { x: 140, y: 252, "text-anchor": "middle", "font-size": 11 }, "forecast probability"));
  plot.appendChild(svg("text", { x: 12, y: 120, "text-anchor": "middle", "font-size": 11, transform: "rotate(-90 12 120)" }, "observed frequency"));
}

// Old data must not pass for the present: a banner nobody can miss while it is stale.
function drawStaleness(forecasts) {
  const banner = document.getElementById("stale-banner");
  banner.hidden = !forecasts.stale;
  if (!forecasts.stale) return;
  const months = Math.floor(forecasts.data_age_days / 30.4);
  banner.textContent = `Data end ${forecasts.data_cutoff}: these ${forecasts.series} forecasts are ${months} months old, not forecasts of the present. ` +
    "Bring newer data: drop a file in the inbox and run threatcast refresh (or threatcast ingest FILE, then threatcast retrain).";
}

// Keeping score in public: how the issued forecasts did against the simple method they must beat.
async function drawTrackRecord() {
  const asked = state.trackRecord;
  if (asked.series === state.series && Date.now() - asked.at < TRACK_RECORD_MS) return;
  state.trackRecord = { series: state.series, at: Date.now() };
  const record = await getJSON(`/v1/track-record?series=${encodeURIComponent(state.series)}`);
  const summary = document.getElementById("skill-summary");
  const chart = document.getElementById("skill-chart");
  chart.replaceChildren();
  const skill = record.skill.find((s) => s.release === "first" && s.reference === "recent");
  if (!record.months.length || !skill || skill.brier_skill === null) return;
  const pct = (v) => `${v >= 0 ? "+" : ""}${(v * 100).toFixed(1)}%`;
  summary.textContent = `${record.months.length} months scored. Brier skill against the trailing-12 share: ${pct(skill.brier_skill)} ` +
    `(90% interval over months ${pct(skill.interval_low)} to ${pct(skill.interval_high)}); ${record.revised_targets} targets revised since first scored.`;
  const periods = [...new Set(record.rolling_skill.map((r) => r.period))].sort();
  const values = record.rolling_skill.filter((r) => r.skill !== null).map((r) => r.skill);
  const [low, high] = [Math.min(-0.5, ...values), Math.max(0.5, ...values)];
  const [left, right, top, bottom] = [40, 560, 10, 200];
  const x = (p) => left + (periods.length > 1 ? periods.indexOf(p) / (periods.length - 1) : 0.5) * (right - left);
  const y = (v) => bottom - (v - low) / (high - low) * (bottom - top);
  chart.appendChild(svg("line", { x1: left, x2: right, y1: y(0), y2: y(0), stroke: "#333", "stroke-dasharray": "4,3" }));
  chart.appendChild(svg("text", { x: left - 4, y: y(0) + 4, "text-anchor": "end", "font-size": 10 }, "0"));
  const regions = [...new Set(record.rolling_skill.map((r) => r.region))].sort();
  regions.forEach((region, k) => {
    const points = record.rolling_skill.filter((r) => r.region === region && r.skill !== null);
    const colour = VIRIDIS[Math.round(k * (VIRIDIS.length - 1) / Math.max(1, regions.length - 1))];
    chart.appendChild(svg("polyline", { points: points.map((r) => `${x(r.period)},${y(r.skill)}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
    points.forEach((r) => chart.appendChild(svg("circle", { cx: x(r.period), cy: y(r.skill), r: 3, fill: colour })));
    chart.appendChild(svg("text", { x: right + 6, y: 20 + k * 14, "font-size": 10, fill: colour }, region));
  });
}

function report(error) {
  document.getElementById("model-line").textContent = `Could not refresh: ${error.message}`;
}

// One series at a time (a source and a frequency): sources are never added together.
async function loadSeries() {
  const countries = await getJSON("/v1/countries");
  state.countries = Object.fromEntries(countries.data.map((c) => [c.code, c]));
  const listed = await getJSON("/v1/series");
  state.served = listed.data.filter((s) => s.champion).map((s) => s.series);
  // District series are reached from their province (drilling down), not picked on their own.
  const served = listed.data.filter((s) => s.champion && s.series.split("-").length === 3);
  const picker = document.getElementById("series");
  const keys = served.map((s) => s.series);
  if (!state.series) state.series = keys.includes(listed.default_series) ? listed.default_series : keys[0] || listed.default_series;
  const named = (s) => (state.countries[countryOf(s.series)] || { name: countryOf(s.series) }).name;
  picker.replaceChildren(...served.map((s) => new Option(`${named(s)}: ${s.source.toUpperCase()}, ${s.freq}ly (data to ${s.last_period})`, s.series)));
  picker.value = state.series;
}

function fillHorizons() {
  const horizon = document.getElementById("horizon");
  const [unit, max] = UNITS[state.series.split("-").pop()] || UNITS.month;
  horizon.replaceChildren();
  for (let h = 1; h <= max; h++) horizon.add(new Option(`${h} ${unit}${h > 1 ? "s" : ""} ahead`, String(h)));
  state.horizon = Math.min(state.horizon, max);
  horizon.value = String(state.horizon);
}

async function refresh() {
  try {
    await loadSeries();
    fillHorizons();
    if (state.drill && !districtSeries()) state.drill = null;  // its districts are no longer served
    await loadCountry();
    const actor = state.actor ? `&actor=${encodeURIComponent(state.actor)}` : "";
    const asked = `/v1/forecasts?series=${encodeURIComponent(shownSeries())}${state.drill ? `&region=${state.drill}` : ""}`;
    try {
      state.forecasts = await getJSON(`${asked}${actor}`);
    } catch (error) {
      if (!state.actor) throw error;
      // This series' source names no actors (or its model predates per-actor forecasts).
      report(new Error(`${shownSeries()} has no per-actor forecasts; showing all actors`));
      setActor("");
      state.forecasts = await getJSON(asked);
    }
    document.getElementById("model-line").textContent =
      `${state.forecasts.series}: model ${state.forecasts.model_version}, data to ${state.forecasts.data_cutoff}, issued ${state.forecasts.issued_at.slice(0, 16).replace("T", " ")} UTC`;
    drawStaleness(state.forecasts);
    drawMap();
    await Promise.all([drawAlerts(), drawModel(), drawTrackRecord(), state.selected ? drawChart() : null]);
  } catch (error) {
    report(error);
  }
}

function setActor(actor) {
  state.actor = actor;
  document.getElementById("actor").value = actor;
  const severe = document.querySelector('#target option[value="p_severe"]');
  severe.disabled = Boolean(actor);
  if (actor && state.target === "p_severe") {
    state.target = "p_event";
    document.getElementById("target").value = "p_event";
  }
}

async function start() {
  const horizon = document.getElementById("horizon");
  document.getElementById("series").addEventListener("change", (e) => { state.series = e.target.value; state.selected = null; state.drill = null; refreshOnce(); });
  document.getElementById("drill").addEventListener("click", () => drillInto(state.selected));
  document.getElementById("back").addEventListener("click", drillOut);
  document.getElementById("target").addEventListener("change", (e) => { state.target = e.target.value; drawMap(); });
  horizon.addEventListener("change", (e) => { state.horizon = Number(e.target.value); drawMap(); });
  document.getElementById("actor").addEventListener("change", (e) => { setActor(e.target.value); refreshOnce(); });
  const keyInput = document.getElementById("api-key");
  keyInput.value = sessionStorage.getItem(KEY_ITEM) || "";
  keyInput.addEventListener("change", () => { sessionStorage.setItem(KEY_ITEM, keyInput.value); refreshOnce(); });
  await poll();
}

// One refresh at a time: a slow answer delays the next poll instead of stacking requests.
let inFlight = null;
function refreshOnce() {
  if (!inFlight) inFlight = refresh().finally(() => { inFlight = null; });
  return inFlight;
}

async function poll() {
  await refreshOnce();
  setTimeout(poll, REFRESH_MS);
}

start().catch(report);
