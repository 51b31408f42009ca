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
  // A checkbox with data-enables="ID" turns that field on and off as it is ticked (forms that save on
  // change stay in place, so this is not left to the server's answer).
  document.addEventListener("change", function (event) {
    var id = event.target.dataset && event.target.dataset.enables;
    var field = id && document.getElementById(id);
    if (field) field.disabled = !event.target.checked;
  });
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
  // ---- Step 1: read the narration, click it to edit; Esc closes, Ctrl+Enter splits at the cursor.
  function openText(id) {
    var box = document.getElementById(id);
    if (!box) return;
    var form = box.closest("form");
    var prose = form.parentElement.querySelector(".prose");
    form.hidden = false;
    if (prose) prose.hidden = true;
    box.focus();
  }
  function closeText(box) {
    var form = box.closest("form");
    var prose = form.parentElement.querySelector(".prose");
    form.hidden = true;
    if (prose) { prose.hidden = false; prose.querySelector(".edit-text").focus(); }
  }
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-edit]");
    if (opener && !event.target.closest(".split-point")) openText(opener.dataset.edit);
  });
  document.addEventListener("keydown", function (event) {
    var box = event.target.closest && event.target.closest(".scene-text textarea");
    if (!box) return;
    if (event.key === "Escape") { event.preventDefault(); closeText(box); }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      box.closest("form").querySelector("[data-split-for]").click();
    }
  });

  // ---- Menus (<details class="menu">): Esc or a click elsewhere closes them.
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }
  document.addEventListener("click", function (event) { closeMenus(event.target.closest("details.menu")); });
  document.addEventListener("keydown", function (event) {
    var menu = event.key === "Escape" && event.target.closest && event.target.closest("details.menu");
    if (menu) { menu.open = false; menu.querySelector("summary").focus(); }
  });

  // ---- Keyboard shortcuts of step 1 (listed in the "?" dialog); never while typing.
  function currentScene() {
    return document.activeElement && document.activeElement.closest &&
      document.activeElement.closest(".scene-list > li.scene");
  }
  function focusScene(scene) {
    if (!scene) return;
    scene.focus();
    scene.scrollIntoView({block: "nearest"});
  }
  function press(scope, name) {
    var button = scope && scope.querySelector('[data-shortcut="' + name + '"]:not([disabled])');
    if (button) button.click();
  }
  document.addEventListener("keydown", function (event) {
    var list = document.querySelector(".scene-list");
    var dialog = document.getElementById("shortcuts");
    var typing = event.target.closest && event.target.closest("input, textarea, select, [contenteditable]");
    if (!list || typing) return;
    var scene = currentScene(), key = event.key;
    var undo = (event.ctrlKey || event.metaKey) && key.toLowerCase() === "z";
    if (key === "?" && dialog) { event.preventDefault(); dialog.open ? dialog.close() : dialog.showModal(); return; }
    if (event.ctrlKey || event.metaKey) {
      if (undo) { event.preventDefault(); press(document, event.shiftKey ? "redo" : "undo"); }
      return;
    }
    if (event.altKey && (key === "ArrowUp" || key === "ArrowDown")) {
      event.preventDefault(); press(scene, key === "ArrowUp" ? "move-up" : "move-down"); return;
    }
    if (event.altKey) return;
    if (key === "j" || key === "k") {
      event.preventDefault();
      var scenes = Array.prototype.slice.call(list.querySelectorAll(":scope > li.scene"));
      var at = scenes.indexOf(scene);
      focusScene(scenes[Math.max(0, Math.min(scenes.length - 1, at < 0 ? 0 : at + (key === "j" ? 1 : -1)))]);
    } else if (key === "m") { press(scene, "merge"); }
    else if ((key === "e" || (key === "Enter" && event.target === scene)) && scene) {
      event.preventDefault();
      openText("text-" + scene.dataset.scene);
    } else if (key === "u") { press(document, "undo"); }
    else if (key === "U") { press(document, "redo"); }
  });
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-shortcuts-open]");
    var dialog = document.getElementById("shortcuts");
    if (opener && dialog) dialog.showModal();
  });
  // After an edit the editor is redrawn: keep the keyboard where the user was.
  document.addEventListener("htmx:afterSwap", function (event) {
    var scene = event.detail.requestConfig && event.detail.requestConfig.elt &&
      event.detail.requestConfig.elt.dataset && event.detail.requestConfig.elt.dataset.scene;
    if (event.detail.target.id === "editor" && scene) focusScene(document.getElementById("scene-" + scene));
  });

  // ---- Storyboard: the strip's scenes are as wide as they last (set here: the CSP allows no
  // inline styles); a card plays its scene; in step 1, cards can be dragged to a new place.
  function sizeStrips(root) {
    (root || document).querySelectorAll("[data-grow]").forEach(function (el) {
      el.style.flexGrow = el.dataset.grow;
      el.style.flexBasis = "0";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { sizeStrips(); });
  document.addEventListener("htmx:load", function (event) { sizeStrips(event.detail.elt); });
  document.addEventListener("click", function (event) {
    var select = event.target.closest(".sb-select");
    if (!select) return;
    var card = select.closest(".sb-card");
    var playing = card.querySelector(".sb-playing");
    document.querySelectorAll(".sb-card .sb-playing").forEach(function (p) { p.remove(); });
    document.querySelectorAll(".sb-select[aria-pressed=true]").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
    if (playing) return;  // a second click stops it
    select.setAttribute("aria-pressed", "true");
    var template = card.querySelector("template.sb-player");
    if (template) {
      var player = document.createElement("div");
      player.className = "sb-playing";
      player.appendChild(template.content.cloneNode(true));
      card.appendChild(player);
    }
    var target = document.getElementById(card.id.replace("sb-", "scene-")) ||
      document.getElementById(card.id.replace("sb-", "scene-card-")) || document.getElementById(card.id.replace("sb-", "asset-"));
    if (target) target.scrollIntoView({block: "nearest", behavior: "smooth"});
  });
  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".sb-cards[data-reorder] .sb-card");
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.scene);
    card.classList.add("dragging");
  });
  document.addEventListener("dragover", function (event) {
    var over = dragged && event.target.closest && event.target.closest(".sb-card");
    if (over && over !== dragged) { event.preventDefault(); over.classList.add("drop-here"); }
  });
  document.addEventListener("dragleave", function (event) {
    var over = event.target.closest && event.target.closest(".sb-card");
    if (over) over.classList.remove("drop-here");
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
  });
  document.addEventListener("drop", function (event) {
    var over = dragged && event.target.closest && event.target.closest(".sb-card");
    if (!over || over === dragged) return;
    event.preventDefault();
    over.classList.remove("drop-here");
    var list = over.closest(".sb-cards");
    var url = list.dataset.reorder.replace("/scenes/0/", "/scenes/" + dragged.dataset.scene + "/");
    var values = {to: over.dataset.position};
    var version = liveVersion(dragged.dataset.scene);
    if (version) values.version = version;
    htmx.ajax("POST", url, {source: list, target: "#editor", values: values});
  });

  // ---- Drop zones around file inputs: a dropped file goes into the input as if it had been
  // picked (the form's own button sends it); the zone names the chosen file.
  function dropzoneOf(event) {
    return !dragged && event.target.closest && event.target.closest("[data-dropzone]");
  }
  document.addEventListener("change", function (event) {
    var zone = event.target.matches && event.target.matches("input[type=file]") && event.target.closest("[data-dropzone]");
    if (!zone) return;
    var files = event.target.files;
    zone.querySelector("[data-dropzone-chosen]").textContent = files && files.length ? "Chosen: " + files[0].name : "No file chosen";
    zone.classList.toggle("has-file", !!(files && files.length));
  });
  document.addEventListener("dragover", function (event) {
    var zone = dropzoneOf(event);
    if (!zone) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("drag-over");
  });
  document.addEventListener("dragleave", function (event) {
    var zone = dropzoneOf(event);
    if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("drag-over");
  });
  document.addEventListener("drop", function (event) {
    var zone = dropzoneOf(event);
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("drag-over");
    var dropped = event.dataTransfer.files;
    if (!dropped || !dropped.length) return;
    var input = zone.querySelector("input[type=file]");
    var one = new DataTransfer();  // the inputs take one file
    one.items.add(dropped[0]);
    input.files = one.files;
    input.dispatchEvent(new Event("change", {bubbles: true}));
    input.focus();
  });
  document.addEventListener("htmx:sendError", function () {
    var notices = document.getElementById("notices");
    if (notices) notices.innerHTML = '<div class="notice notice-error" role="alert">The server can\'t be reached, so your last change was not saved. It is still on this page; edit again to retry.</div>';
  });
})();
