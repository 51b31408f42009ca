// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form.js-autosubmit");
    if (form) form.requestSubmit();
  });
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form.js-confirm");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);
  document.addEventListener("focusin", function (event) {
    if (event.target.matches("input.copyable")) event.target.select();
  });
  // Autosave feedback: "Saving…" while a request is in flight, the server answers "Saved".
  document.addEventListener("htmx:beforeRequest", function (event) {
    var state = event.target.querySelector && event.target.querySelector(":scope > .save-state");
    if (state) state.textContent = "Saving…";
  });
  document.addEventListener("htmx:sendError", function () {
    var notices = document.getElementById("notices");
    if (notices) notices.innerHTML = '<div class="notice notice-error" role="alert">The server can\'t be reached. Your last change was not saved; it will be sent again when you edit.</div>';
  });
})();
