// Progressive additions to the server-rendered pages; every page reads fully without them.
// Loaded from our own origin (script-src 'self'): no inline script, no third party.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "en";

  // The deadline in the visitor's own time zone, shown only when it differs from the campaign's.
  document.querySelectorAll("[data-local-time]").forEach(function (wrap) {
    var el = wrap.querySelector("time");
    var when = new Date(el.getAttribute("datetime"));
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (isNaN(when) || !zone || zone === wrap.getAttribute("data-zone")) return;
    el.textContent = new Intl.DateTimeFormat(lang, {
      dateStyle: "long", timeStyle: "short", timeZoneName: "short"
    }).format(when);
    wrap.hidden = false;
  });

  // A live countdown in place of the server's "12 days left".
  var units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  var formats = units.map(function (u) {
    return new Intl.NumberFormat(lang, { style: "unit", unit: u[0], unitDisplay: "narrow" });
  });
  var counters = document.querySelectorAll("[data-countdown]");
  function tick() {
    counters.forEach(function (el) {
      var left = Math.floor((new Date(el.getAttribute("data-countdown")) - Date.now()) / 1000);
      if (isNaN(left)) return;
      if (left <= 0) { el.textContent = el.getAttribute("data-ended"); return; }
      var parts = [];
      units.forEach(function (u, i) {
        var n = Math.floor(left / u[1]);
        left -= n * u[1];
        if (n > 0 || parts.length > 0) parts.push(formats[i].format(n));
      });
      el.textContent = parts.join(" ");
    });
  }
  if (counters.length) { tick(); setInterval(tick, 1000); }

  // Copy-link buttons: hidden without JavaScript, where the address bar does the same.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var status = document.getElementById(button.getAttribute("aria-controls"));
      navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
        status.textContent = button.getAttribute("data-copied");
      }, function () {
        status.textContent = button.getAttribute("data-copy");
      });
    });
  });
})();
