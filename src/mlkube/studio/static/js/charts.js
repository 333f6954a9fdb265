// The endpoint page's live charts (uPlot): requests/s, p50/p99 latency and error rate
// per deployment, drawn from the points the studio computed from the gateway's metrics.
"use strict";

const studioCharts = (() => {
  const COLORS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2"];

  function options(width, series) {
    return {
      width, height: 170, legend: { show: true }, cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max || 0, 1) * 1.1] } },
      axes: [{ stroke: "#666", space: 90,
        values: (u, ticks) => ticks.map((t) => new Date(t * 1000).toTimeString().slice(0, 8)) },
        { stroke: "#666", size: 48 }],
      series: [{}].concat(series),
    };
  }

  function create(nodes) {
    let plots = null;
    let names = [];

    function build(deployments) {
      for (const node of Object.values(nodes)) node.replaceChildren();
      const width = Math.max(nodes.rps.clientWidth || 300, 240);
      const line = (label, i, dash) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, dash, spanGaps: true });
      plots = {
        rps: new uPlot(options(width, deployments.map((d, i) => line(d, i))), [[]], nodes.rps),
        latency: new uPlot(options(width, deployments.flatMap((d, i) =>
          [line(d + " p50", i), line(d + " p99", i, [4, 3])])), [[]], nodes.latency),
        errors: new uPlot(options(width, deployments.map((d, i) => line(d, i))), [[]], nodes.errors),
      };
      names = deployments;
    }

    function update(points) {
      const seen = new Set();
      points.forEach((p) => Object.keys(p.deployments).forEach((d) => seen.add(d)));
      const deployments = Array.from(seen).sort();
      if (!plots || deployments.join() !== names.join()) build(deployments);
      const t = points.map((p) => p.t);
      const get = (d, field, scale) => points.map((p) => {
        const v = (p.deployments[d] || {})[field];
        return v === null || v === undefined ? null : v * scale;
      });
      plots.rps.setData([t].concat(names.map((d) => get(d, "rps", 1))));
      plots.latency.setData([t].concat(names.flatMap((d) => [get(d, "p50_ms", 1), get(d, "p99_ms", 1)])));
      plots.errors.setData([t].concat(names.map((d) => get(d, "error_rate", 100))));
    }

    build([]);
    return { update };
  }

  return { create };
})();
