// "Copy" buttons beside read-only fields such as a new invite link. Without a clipboard
// (plain HTTP, old browsers) the buttons stay hidden and the field selects itself on focus.
(function () {
  "use strict";
  if (!navigator.clipboard) return;
  document.querySelectorAll("button.js-copy").forEach(function (button) { button.hidden = false; });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.js-copy");
    if (!button) return;
    var field = document.getElementById(button.dataset.copy);
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = "Copied";
    }, function () {
      field.select();
    });
  });
})();
