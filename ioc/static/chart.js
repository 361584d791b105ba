// A hydrograph in plain SVG: each sensor's series, the BĐ1/2/3 lines, and a mark per warning.
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const LEVEL_COLOURS = ["#2e7d32", "#f9a825", "#ef6c00", "#c62828"];

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function drawHydrograph(container, series) {
  const width = 640, height = 240, left = 44, right = 8, top = 8, bottom = 22;
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  const points = Object.values(series.sensors).flat().filter((p) => p[1] !== null);
  const values = points.map((p) => p[1]).concat(series.thresholds_m || []);
  let low = Math.min(...values), high = Math.max(...values);
  if (!isFinite(low)) { low = 0; high = 1; }
  if (high - low < 0.1) { high += 0.05; low -= 0.05; }
  const pad = (high - low) * 0.08;
  low -= pad; high += pad;
  // The time axis spans the data (a station heard from for an hour shows that hour), within the span asked for.
  const times = points.map((p) => p[0]).concat(series.marks.map((m) => m.ts_ms));
  const start = times.length ? Math.max(series.from_ms, Math.min(...times)) : series.from_ms;
  const end = times.length ? Math.min(series.to_ms, Math.max(...times)) : series.to_ms;
  const span = Math.max(end - start, 1);
  const x = (ms) => left + ((ms - start) / span) * (width - left - right);
  const y = (v) => top + (1 - (v - low) / (high - low)) * (height - top - bottom);
  svg.appendChild(svgElement("rect", { x: left, y: top, width: width - left - right, height: height - top - bottom, fill: "#fafbfc", stroke: "#d0d6dc" }));
  if (!points.length) {  // drawn over the frame, not under it
    svg.appendChild(svgElement("text", { x: width / 2, y: height / 2, "text-anchor": "middle", fill: "#6b7785", class: "no-reading" }, t("no_reading")));
  }
  for (let i = 0; i <= 4; i++) {
    const v = low + ((high - low) * i) / 4;
    svg.appendChild(svgElement("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#6b7785" }, v.toFixed(2)));
  }
  (series.thresholds_m || []).forEach((level, index) => {
    svg.appendChild(svgElement("line", { x1: left, x2: width - right, y1: y(level), y2: y(level), stroke: LEVEL_COLOURS[index + 1], "stroke-dasharray": "5 3", class: "threshold" }));
    svg.appendChild(svgElement("text", { x: width - right - 2, y: y(level) - 3, "text-anchor": "end", "font-size": 10, fill: LEVEL_COLOURS[index + 1], stroke: "#fafbfc", "stroke-width": 3, "paint-order": "stroke" }, `BĐ${index + 1} ${level.toFixed(2)} m`));
  });
  for (const sensorPoints of Object.values(series.sensors)) {
    const path = sensorPoints.filter((p) => p[1] !== null).map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    if (path) svg.appendChild(svgElement("path", { d: path, fill: "none", stroke: "#1565c0", "stroke-width": 1.5, class: "series" }));
  }
  for (const mark of series.marks) {
    const at = x(mark.ts_ms), colour = LEVEL_COLOURS[mark.level] || LEVEL_COLOURS[3];
    const line = svgElement("line", { x1: at, x2: at, y1: top, y2: height - bottom, stroke: colour, "stroke-width": 2, class: "mark" });
    line.appendChild(svgElement("title", {}, `${mark.rule} · ${mark.level ? `BĐ${mark.level}` : t("data_warning")} · ${new Date(mark.ts_ms).toLocaleString(language)}`));
    svg.appendChild(line);
    // A warning raised at the latest reading sits on the frame's edge: a flag at its foot says what it is.
    const flag = mark.level ? `BĐ${mark.level}` : t("data_warning");
    const nearRight = at > width - right - 60;
    svg.appendChild(svgElement("text", { x: nearRight ? at - 3 : at + 3, y: height - bottom - 5, "text-anchor": nearRight ? "end" : "start", "font-size": 10, "font-weight": 600, fill: colour, class: "mark-label" }, flag));
  }
  const day = (ms) => new Date(ms).toLocaleString(language, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  svg.appendChild(svgElement("text", { x: left, y: height - 6, "font-size": 10, fill: "#6b7785" }, day(start)));
  svg.appendChild(svgElement("text", { x: width - right, y: height - 6, "text-anchor": "end", "font-size": 10, fill: "#6b7785" }, `${day(end)} (${series.resolution})`));
  container.replaceChildren(svg);
}
