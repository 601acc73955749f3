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
