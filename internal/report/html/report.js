// Sorting and filtering of the certificates table; everything else in the
// page is static.
(function () {
  "use strict";
  var table = document.getElementById("rows");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var global = document.getElementById("filter");
  var columns = Array.prototype.slice.call(table.querySelectorAll("[data-filter]"));
  var shown = document.getElementById("shown");
  var severity = { ERROR: 0, EXPIRED: 1, CRITICAL: 2, WARNING: 3, OK: 4 };

  function filter() {
    var words = global.value.toLowerCase().split(/\s+/).filter(Boolean);
    var n = 0;
    rows.forEach(function (tr) {
      var text = tr.textContent.toLowerCase();
      var ok = words.every(function (w) { return text.indexOf(w) >= 0; });
      columns.forEach(function (input) {
        var want = input.value.toLowerCase();
        if (!want) { return; }
        var have = (tr.dataset[input.dataset.filter] || "").toLowerCase();
        ok = ok && (input.tagName === "SELECT" ? have === want : have.indexOf(want) >= 0);
      });
      tr.hidden = !ok;
      if (ok) { n++; }
    });
    shown.textContent = n + " of " + rows.length + " rows";
  }

  function value(tr, col, kind) {
    if (kind === "residual") { return Number(tr.dataset.residual); }
    if (kind === "status") { return severity[tr.dataset.status]; }
    return (tr.dataset[col] || "").toLowerCase();
  }

  function sortBy(th) {
    var col = th.dataset.col, kind = th.dataset.sort || "text";
    var dir = th.classList.contains("sorted-asc") ? -1 : 1;
    table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
    th.classList.add(dir > 0 ? "sorted-asc" : "sorted-desc");
    rows.sort(function (a, b) {
      var x = value(a, col, kind), y = value(b, col, kind);
      return x < y ? -dir : x > y ? dir : 0;
    });
    rows.forEach(function (tr) { body.appendChild(tr); });
  }

  global.addEventListener("input", filter);
  columns.forEach(function (input) { input.addEventListener(input.tagName === "SELECT" ? "change" : "input", filter); });
  table.querySelectorAll("th[data-col]").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
  });
})();
