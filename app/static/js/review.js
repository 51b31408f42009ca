// The review page's "Use the video's time" button: copies the player's position (m:ss) into the
// comment's time field. Without JavaScript the field is typed by hand.
(function () {
  "use strict";
  document.querySelectorAll("button.js-use-time").forEach(function (button) {
    var video = document.getElementById(button.dataset.video);
    var field = document.getElementById(button.dataset.field);
    if (!video || !field) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var t = Math.floor(video.currentTime || 0);
      field.value = Math.floor(t / 60) + ":" + String(t % 60).padStart(2, "0");
    });
  });
})();
