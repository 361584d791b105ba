// The operator page: log in, watch the board and the warnings change live, act on them.
"use strict";
const state = { me: null, stations: [], warnings: [], publicAlerts: [], selectedWarning: null, selectedStation: null, events: null };
const $ = (id) => document.getElementById(id);
const LEVEL_NAMES = ["<BĐ1", "BĐ1", "BĐ2", "BĐ3"];

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", headers: { "Content-Type": "application/json" }, ...options });
  if (response.status === 401 && path !== "/api/login") { showLogin(); throw new Error("not logged in"); }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw Object.assign(new Error(typeof body.detail === "string" ? body.detail : response.statusText), { status: response.status });
  }
  return response.status === 204 ? null : response.json();
}

function time(ms) {
  return new Date(ms).toLocaleString(language, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function showLogin() {
  if (state.events) { state.events.close(); state.events = null; }
  $("desk").hidden = true; $("logout").hidden = true; $("login-view").hidden = false; $("who").textContent = "";
}

async function login(event) {
  event.preventDefault();
  try {
    await api("/api/login", { method: "POST", body: JSON.stringify({ username: $("username").value.trim(), password: $("password").value }) });
    $("password").value = ""; $("login-error").textContent = "";
    await start();
  } catch (error) {
    $("login-error").textContent = error.status === 429 ? t("login_throttled") : t("login_failed");
  }
}

async function start() {
  state.me = await api("/api/me");
  $("who").textContent = `${state.me.username} (${state.me.role})`;
  $("login-view").hidden = true; $("desk").hidden = false; $("logout").hidden = false;
  await Promise.all([loadBoard(), loadWarnings(), loadGateways(), loadPublicAlerts()]);
  renderWarnings(); renderPublicAlerts();  // each list names stations and warnings the others loaded
  listen();
}

function listen() {
  if (state.events) state.events.close();
  const events = new EventSource("/api/events");
  state.events = events;
  events.onopen = () => { $("live").className = "live on"; $("live").dataset.i18n = "online"; $("live").textContent = t("online"); };
  events.onerror = () => { $("live").className = "live off"; $("live").dataset.i18n = "offline"; $("live").textContent = t("offline"); };
  events.addEventListener("warning", (message) => {
    const change = JSON.parse(message.data);
    upsertWarning(change.warning, true);
    if (state.selectedWarning === change.warning.id) appendAudit(change.audit);
    loadBoard();
    // a new or changed warning at the station on the chart: redraw it, with its mark
    if (change.warning.station === state.selectedStation) selectStation(state.selectedStation).catch(() => null);
    // drafts, approvals and sends are audit entries of the warning: the public list follows them
    if (change.audit.action.startsWith("public_") || ["approved", "published", "sent"].includes(change.audit.action)) loadPublicAlerts();
  });
}

async function loadBoard() {
  const board = await api("/api/stations");
  state.stations = board.stations;
  renderBoard();
}

function renderBoard() {
  const tiles = state.stations.map((station) => {
    const tile = document.createElement("div");
    tile.className = `tile level-${station.alarm_level}`;
    tile.dataset.station = station.station;
    const level = station.readings.find((r) => r.quantity === "water_level");
    const reading = level && level.value !== null ? `${level.value.toFixed(2)} m` : t("no_reading");
    const age = level ? ` · ${t("minutes_ago").replace("{n}", Math.round(level.age_s / 60))}` : "";
    tile.innerHTML = `<div class="name"></div><div class="river"></div><div class="reading"></div><div class="against"></div><div class="age"></div>`;
    tile.querySelector(".name").textContent = `${station.display_name} · ${station.alarm_level ? LEVEL_NAMES[station.alarm_level] : t("below_bd1")}`;
    tile.querySelector(".river").textContent = station.river;
    tile.querySelector(".reading").textContent = reading;
    tile.querySelector(".age").textContent = level ? `${t(`quality_${level.quality}`)}${age}` : "";
    if (station.levels && level && level.value !== null) {
      tile.querySelector(".against").textContent = againstLevels(station.levels, level.value);
      tile.appendChild(levelBar(station.levels, level.value));
    }
    if (station.levels) tile.title = `BĐ1 ${station.levels.bd1_m.toFixed(2)} m · BĐ2 ${station.levels.bd2_m.toFixed(2)} m · BĐ3 ${station.levels.bd3_m.toFixed(2)} m`;
    tile.addEventListener("click", () => selectStation(station.station));
    return tile;
  });
  $("board").replaceChildren(...tiles);
}

function againstLevels(levels, value) {
  // The reading against the highest BĐ it has passed and the next one up, in metres: "BĐ2 +0.22 · BĐ3 −0.28 m".
  const marks = [levels.bd1_m, levels.bd2_m, levels.bd3_m];
  const passed = marks.filter((m) => value >= m).length;
  const signed = (d) => `${d >= 0 ? "+" : "−"}${Math.abs(d).toFixed(2)}`;
  const parts = [];
  if (passed > 0) parts.push(`BĐ${passed} ${signed(value - marks[passed - 1])}`);
  if (passed < 3) parts.push(`BĐ${passed + 1} ${signed(value - marks[passed])}`);
  return `${parts.join(" · ")} m`;
}

function levelBar(levels, value) {
  // The reading against BĐ1/2/3: the bar spans 0 .. BĐ3 + a quarter.
  const top = levels.bd3_m * 1.25;
  const x = (v) => Math.max(0, Math.min(100, (v / top) * 100));
  const svg = svgElement("svg", { viewBox: "0 0 100 10", preserveAspectRatio: "none" });
  svg.appendChild(svgElement("rect", { x: 0, y: 2, width: x(value), height: 6, fill: "#1565c0" }));
  [levels.bd1_m, levels.bd2_m, levels.bd3_m].forEach((level, i) =>
    svg.appendChild(svgElement("rect", { x: x(level), y: 0, width: 0.8, height: 10, fill: LEVEL_COLOURS[i + 1] })));
  return svg;
}

async function loadWarnings() {
  const list = await api("/api/warnings?active=true&limit=200");
  state.warnings = list.warnings;
  renderWarnings();
}

function upsertWarning(warning, flash) {
  state.warnings = state.warnings.filter((w) => w.id !== warning.id);
  if (warning.active) state.warnings.unshift(warning);
  renderWarnings(flash ? warning.id : null);
  renderPublicAlerts();  // a draft is approvable only while its warning is active
}

function renderWarnings(flashId) {
  const canOperate = state.me && state.me.role !== "viewer";
  const names = Object.fromEntries(state.stations.map((s) => [s.station, s.display_name]));
  const rows = state.warnings.map((warning) => {
    const row = document.createElement("tr");
    row.dataset.warning = warning.id;
    const silenced = warning.silenced_until_ms && warning.silenced_until_ms > Date.now();
    row.className = `${silenced ? "silenced" : ""} ${state.selectedWarning === warning.id ? "selected" : ""} ${flashId === warning.id ? "flash" : ""}`;
    const badge = warning.data_warning ? `<span class="badge data">${t("data_warning")}</span>` : `<span class="badge l${warning.level}">${LEVEL_NAMES[warning.level]}</span>`;
    row.innerHTML = `<td class="station"></td><td class="rule"></td><td>${badge}</td><td class="value"></td><td class="state"></td><td class="since"></td><td class="actions"></td>`;
    row.querySelector(".station").textContent = names[warning.station] || warning.station;
    row.querySelector(".rule").textContent = warning.rule;
    row.querySelector(".value").textContent = `${warning.value.toFixed(2)} ${warning.unit}`;
    let stateText = t(`state_${warning.state}`);
    if (warning.acknowledged_by) stateText += ` (${warning.acknowledged_by})`;
    if (silenced) stateText += ` · ${t("silenced_until")} ${time(warning.silenced_until_ms)}`;
    row.querySelector(".state").textContent = stateText;
    row.querySelector(".since").textContent = time(warning.raised_ms);
    if (canOperate) {
      const actions = row.querySelector(".actions");
      if (!warning.acknowledged_by) actions.appendChild(button("acknowledge", () => act(warning.id, "acknowledge", { note: "" })));
      actions.appendChild(button("silence", () => askSilence(warning.id)));
      actions.appendChild(button("resolve", () => askResolve(warning.id)));
    }
    row.addEventListener("click", (event) => { if (event.target.tagName !== "BUTTON") selectWarning(warning); });
    return row;
  });
  $("warnings").querySelector("tbody").replaceChildren(...rows);
  $("no-warnings").hidden = rows.length > 0;
}

function button(key, onClick) {
  const element = document.createElement("button");
  element.type = "button"; element.dataset.i18n = key; element.className = key; element.textContent = t(key);
  element.addEventListener("click", onClick);
  return element;
}

async function act(warningId, action, body) {
  try {
    const warning = await api(`/api/warnings/${warningId}/${action}`, { method: "POST", body: JSON.stringify(body) });
    upsertWarning(warning, false);
    if (state.selectedWarning === warningId) await selectWarning(warning);
  } catch (error) { alert(error.message); }
}

function askSilence(warningId) {
  const dialog = $("silence-dialog");
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue === "ok") act(warningId, "silence", { reason: $("silence-reason").value, duration_min: Number($("silence-minutes").value) });
  };
  dialog.showModal();
}

function askResolve(warningId) {
  // All clear by hand: the API asks for a note saying why (the rules resolve on their own at all clear).
  const dialog = $("resolve-dialog");
  dialog.returnValue = "";
  $("resolve-note").value = "";
  dialog.onclose = () => {
    if (dialog.returnValue === "ok") act(warningId, "resolve", { note: $("resolve-note").value.trim() });
  };
  dialog.showModal();
}

async function selectWarning(warning) {
  state.selectedWarning = warning.id;
  renderWarnings();
  const detail = await api(`/api/warnings/${warning.id}`);
  $("audit").replaceChildren();
  detail.audit.forEach(appendAudit);
  await selectStation(warning.station);
}

function appendAudit(entry) {
  // The pushed entry and the detail fetched after an action may both carry it: show it once.
  if ($("audit").querySelector(`li[data-audit="${entry.id}"]`)) return;
  const item = document.createElement("li");
  item.dataset.audit = entry.id;
  const detail = entry.detail.note || entry.detail.reason || (entry.detail.level !== undefined ? `${LEVEL_NAMES[entry.detail.level]}` : "");
  item.textContent = `${time(entry.at_ms)} — ${t(`act_${entry.action}`)} ${t("by")} ${entry.actor}${detail ? ": " + detail : ""}`;
  $("audit").appendChild(item);
}

async function selectStation(stationId) {
  state.selectedStation = stationId;
  const station = state.stations.find((s) => s.station === stationId);
  $("chart-title").textContent = station ? `— ${station.display_name} (${station.river})` : stationId;
  const series = await api(`/api/stations/${encodeURIComponent(stationId)}/readings?quantity=water_level`);
  drawHydrograph($("chart"), series);
}

async function loadPublicAlerts() {
  state.publicAlerts = await api("/api/public/alerts?limit=50");
  renderPublicAlerts();
}

function renderPublicAlerts() {
  // Drafts wait for an operator's Approve; approved ones for the sending service; sent ones are out.
  const canOperate = state.me && state.me.role !== "viewer";
  const names = Object.fromEntries(state.stations.map((s) => [s.station, s.display_name]));
  const active = new Set(state.warnings.map((w) => w.id));
  const rows = state.publicAlerts.map((alert) => {
    // A draft whose warning was resolved or expired is not approved any more (the API refuses it): no button.
    const lapsed = alert.state === "draft" && !active.has(alert.warning_id);
    const row = document.createElement("tr");
    row.dataset.publicAlert = alert.identifier;
    row.dataset.warning = alert.warning_id;
    row.className = `public-${alert.state} ${state.selectedWarning === alert.warning_id ? "selected" : ""}`;
    row.innerHTML = `<td class="station"></td><td class="rule"></td><td><span class="badge l${alert.level}"></span></td><td class="channels"></td><td class="state"></td><td class="since"></td><td class="actions"></td>`;
    row.querySelector(".station").textContent = names[alert.station] || alert.station;
    row.querySelector(".rule").textContent = alert.rule;
    row.querySelector(".badge").textContent = alert.level ? LEVEL_NAMES[alert.level] : t("below_bd1");
    row.querySelector(".channels").textContent = alert.channels.join(", ");
    let stateText = t(lapsed ? "pub_draft_lapsed" : `pub_${alert.state}`);
    if (alert.approved_by) stateText += ` (${alert.approved_by})`;
    if (alert.msg_type) stateText += ` · ${alert.msg_type}`;
    row.querySelector(".state").textContent = stateText;
    row.querySelector(".since").textContent = time(alert.sent_ms || alert.approved_ms || alert.drafted_ms);
    if (canOperate && alert.state === "draft" && !lapsed) {
      row.querySelector(".actions").appendChild(button("approve", () => approve(alert.warning_id)));
    }
    return row;
  });
  $("public-alerts").querySelector("tbody").replaceChildren(...rows);
  $("no-public-alerts").hidden = rows.length > 0;
}

async function approve(warningId) {
  try {
    await api(`/api/warnings/${warningId}/approve`, { method: "POST" });
    await loadPublicAlerts();
  } catch (error) { alert(error.message); }
}

async function loadGateways() {
  const gateways = await api("/api/gateways?trouble=true");
  const items = gateways.map((gateway) => {
    const item = document.createElement("li");
    item.className = "trouble";
    item.textContent = `${gateway.gateway}: ${gateway.troubles.map((k) => t(k === "offline" ? "offline_gw" : k)).join(", ")}`;
    return item;
  });
  if (!items.length) { const item = document.createElement("li"); item.textContent = t("no_gateway_trouble"); items.push(item); }
  $("gateways").replaceChildren(...items);
}

$("login-form").addEventListener("submit", login);
$("lang").addEventListener("click", async () => {
  switchLanguage();
  renderBoard(); renderWarnings(); renderPublicAlerts();
  if (!state.me) return;
  await loadGateways();
  // the audit and chart in the new language, also for a warning that has left the active list
  if (state.selectedWarning) await selectWarning({ id: state.selectedWarning, station: state.selectedStation });
  else if (state.selectedStation) await selectStation(state.selectedStation);
});
$("logout").addEventListener("click", async () => { await api("/api/logout", { method: "POST" }).catch(() => null); showLogin(); });
translatePage();
start().catch(() => showLogin());
setInterval(() => {
  if (!state.me || $("desk").hidden) return;
  loadBoard().catch(() => null); loadGateways().catch(() => null);
  if (state.selectedStation) selectStation(state.selectedStation).catch(() => null);  // the river goes on
}, 5000);
