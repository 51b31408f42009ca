// Small progressive enhancements; every page works without them. No inline scripts (CSP).
(function () {
  "use strict";
  // Selects and checkboxes in .js-autosubmit forms apply on change: no "save" buttons.
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form.js-autosubmit");
    if (form) form.requestSubmit();
  });
  // Forms that replace or remove work ask first (hx-confirm does this for htmx buttons).
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);
  document.addEventListener("focusin", function (event) {
    if (event.target.matches("input.copyable")) event.target.select();
  });
  // "Split at cursor": send where the caret is in the scene's text box.
  // Scene edits send the versions the page holds now (typing updates them in place), so the
  // server can tell a stale page from a current one.
  function liveVersion(sceneId) {
    var input = sceneId && document.getElementById("scene-" + sceneId + "-version");
    return input ? input.value : null;
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var data = event.detail.elt.dataset || {};
    if (data.splitFor) {
      var box = document.getElementById(data.splitFor);
      event.detail.parameters.offset = box ? box.selectionStart : "";
    }
    var own = liveVersion(data.scene), neighbour = liveVersion(data.neighbour);
    if (own) event.detail.parameters.version = own;
    if (neighbour) event.detail.parameters.neighbour_version = neighbour;
  });
  // Autosave feedback: "Saving…" while a request is in flight; the server answers "Saved".
  document.addEventListener("htmx:beforeRequest", function (event) {
    var id = event.detail.elt.getAttribute("hx-target");
    var state = id && id.charAt(0) === "#" && document.querySelector(id);
    if (state && state.classList.contains("save-state")) state.textContent = "Saving…";
  });
  document.addEventListener("htmx:sendError", function () {
    var notices = document.getElementById("notices");
    if (notices) notices.innerHTML = '<div class="notice notice-error" role="alert">The server can\'t be reached, so your last change was not saved. It is still on this page; edit again to retry.</div>';
  });
})();
