// Teacher review queue: poll the counts (no text) and update them live; offer a reload when items arrive.
(function () {
  "use strict";
  var box = document.getElementById("queue-counts");
  if (!box) { return; }
  var shown = parseInt(box.dataset.total, 10) || 0;
  var text = box.querySelector("[data-text]");
  var reload = box.querySelector("[data-reload]");
  function poll() {
    fetch(box.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        text.textContent = data.text;
        reload.hidden = data.total <= shown;
      })
      .catch(function () { /* offline: try again next time */ });
  }
  setInterval(poll, parseInt(box.dataset.interval, 10) || 15000);
})();

// Material page: the list refreshes itself when an upload's job ends (event from kateder.js) and while
// jobs run (polled, e.g. after a reload or an upload from another tab); near-duplicate titles get a warning.
(function () {
  "use strict";
  var rows = document.getElementById("material-rows");
  if (!rows) { return; }
  var status = document.getElementById("material-status");
  var timer = null;
  var running = parseInt(rows.dataset.active, 10) || 0;

  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function render(documents) {
    while (rows.firstChild) { rows.removeChild(rows.firstChild); }
    if (!documents.length) {
      var empty = document.createElement("tr");
      cell(empty, rows.dataset.empty).colSpan = 5;
      rows.appendChild(empty);
    }
    documents.forEach(function (d) {
      var tr = document.createElement("tr");
      cell(tr, d.title);
      cell(tr, d.filename);
      var state = cell(tr, "");
      var badge = document.createElement("span");
      badge.className = "badge " + d.status;
      badge.textContent = d.status_label;
      state.appendChild(badge);
      if (d.error) {
        var error = document.createElement("span");
        error.className = "muted";
        error.textContent = d.error;
        state.appendChild(document.createTextNode(" "));
        state.appendChild(error);
      }
      cell(tr, String(d.passages));
      cell(tr, String(d.version));
      rows.appendChild(tr);
    });
  }

  function refresh(announce) {
    window.clearTimeout(timer);
    return fetch(rows.dataset.url, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        render(data.documents);
        if (announce || data.active < running) { status.textContent = rows.dataset.updated; }
        running = data.active;
        if (running > 0) { timer = window.setTimeout(function () { refresh(false); }, parseInt(rows.dataset.interval, 10) || 2000); }
      })
      .catch(function () {
        var again = document.getElementById("reload-material");
        if (again) { again.hidden = false; }
      });
  }

  document.addEventListener("kateder:job-finished", function () { refresh(true); });
  if (running > 0) { refresh(false); }

  var input = document.getElementById("files");
  var warnings = document.getElementById("title-warnings");
  if (!input || !warnings || !input.dataset.similarUrl) { return; }
  input.addEventListener("change", function () {
    while (warnings.firstChild) { warnings.removeChild(warnings.firstChild); }
    Array.prototype.forEach.call(input.files, function (file) {
      fetch(input.dataset.similarUrl + "?name=" + encodeURIComponent(file.name),
            {headers: {Accept: "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          data.warnings.forEach(function (text) {
            var p = document.createElement("p");
            p.className = "warning";
            p.textContent = text;
            warnings.appendChild(p);
          });
        })
        .catch(function () { /* a warning only: the upload goes on without it */ });
    });
  });
})();
