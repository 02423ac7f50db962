// cmr serve: reload this page when the preview of the filing changes.
// The server sends the preview's version over server-sent events when the page connects and
// after every change of the inputs; a version other than the one this page was rendered at
// reloads it, keeping the scroll position.
(function () {
  "use strict";
  var script = document.currentScript;
  var shown = script ? script.getAttribute("data-version") : null;
  var key = "cmr-serve-scroll:" + location.pathname;
  var saved = sessionStorage.getItem(key);
  if (saved !== null) {
    sessionStorage.removeItem(key);
    window.scrollTo(0, parseInt(saved, 10) || 0);
  }
  var source = new EventSource("/_cmr/events");
  source.addEventListener("version", function (event) {
    if (event.data === shown) {
      return;
    }
    source.close();
    sessionStorage.setItem(key, String(window.scrollY));
    location.reload();
  });
})();
