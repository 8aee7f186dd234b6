// Draws report.html's charts with uPlot from the data embedded in the page (profiler/report/html_data.py).
// Marks (stage boundaries, the knee, the capacity, a timeline's events) are vertical lines drawn in
// uPlot's draw hook; bands (an event and its recovery) are shaded spans drawn under them.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);

  function drawMarks(u, marks) {
    var ctx = u.ctx;
    ctx.save();
    ctx.font = Math.round(11 * devicePixelRatio) + "px sans-serif";
    marks.forEach(function (m) {
      var x = u.valToPos(m.x, "x", true);
      if (!isFinite(x)) return;
      ctx.strokeStyle = m.color;
      ctx.fillStyle = m.color;
      ctx.setLineDash([5 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillText(m.label, x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
      if (m.y !== undefined && u.series.length > 1) {
        var y = u.valToPos(m.y, u.series[1].scale, true);
        ctx.beginPath();
        ctx.arc(x, y, 5 * devicePixelRatio, 0, 2 * Math.PI);
        ctx.fill();
      }
    });
    ctx.restore();
  }

  function drawBands(u, bands) {
    var ctx = u.ctx;
    ctx.save();
    ctx.globalAlpha = 0.13;
    bands.forEach(function (b) {
      var x0 = u.valToPos(b.from, "x", true), x1 = u.valToPos(b.to, "x", true);
      if (!isFinite(x0) || !isFinite(x1)) return;
      ctx.fillStyle = b.color;
      ctx.fillRect(x0, u.bbox.top, Math.max(x1 - x0, devicePixelRatio), u.bbox.height);
    });
    ctx.restore();
  }

  function draw(spec, el) {
    var right = spec.series.some(function (s) { return s.axis === "right"; });
    var series = [{ label: spec.xlabel }].concat(spec.series.map(function (s) {
      return {
        label: s.label,
        stroke: s.color,
        width: 2,
        scale: s.axis === "right" ? "y2" : "y",
        dash: s.dash ? [6, 4] : undefined,
        spanGaps: true,
        points: { show: !!s.points, size: 7, fill: s.color }
      };
    }));
    var axes = [{ label: spec.xlabel }, { label: spec.ylabel, scale: "y" }];
    if (right) axes.push({ side: 1, scale: "y2", grid: { show: false } });
    var opts = {
      width: Math.max(320, el.clientWidth),
      height: 260,
      scales: { x: { time: false } },
      series: series,
      axes: axes,
      hooks: { draw: [function (u) { drawBands(u, spec.bands || []); drawMarks(u, spec.marks || []); }] }
    };
    var columns = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    el.setAttribute("data-drawn", "1");
    return new uPlot(opts, columns, el);
  }

  data.charts.forEach(function (spec) {
    var el = document.getElementById("chart-" + spec.id);
    if (el) draw(spec, el);
  });
})();
