// kraft console: the little the pages need a browser for. No inline scripts (the pages' CSP
// forbids them): this file is the only script.
"use strict";

// A form with data-confirm asks before it is sent (topic deletion, offset resets).
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// A page with data-refresh-s reloads its live fragments (the overview's charts) that often.
document.addEventListener("DOMContentLoaded", function () {
  var seconds = parseInt(document.body.getAttribute("data-refresh-s") || "0", 10);
  if (!seconds) {
    return;
  }
  var parts = document.querySelectorAll("[data-fragment]");
  window.setInterval(function () {
    parts.forEach(function (part) {
      fetch(part.getAttribute("data-fragment"), {credentials: "same-origin"})
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (markup) {
          if (markup !== null) {
            part.innerHTML = markup;  // server-rendered, escaped markup of this console
          }
        })
        .catch(function () { /* a node restarting: the next round tries again */ });
    });
  }, seconds * 1000);
});
