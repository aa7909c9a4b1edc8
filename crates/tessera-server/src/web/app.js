// Tessera settings pages: the only script. Copies a secret to the clipboard
// and asks before destructive actions (the confirm pages work without it).
"use strict";

document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) return;
  var status = document.getElementById(button.getAttribute("data-copy") + "-status");
  var done = function (message) {
    if (status) status.textContent = message;
  };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(field.value).then(
      function () { done("Copied."); },
      function () { field.select(); done("Press Ctrl+C (⌘C) to copy."); }
    );
  } else {
    field.select();
    done("Press Ctrl+C (⌘C) to copy.");
  }
});

// A page that shows a secret was the answer to a POST: make reloading it a
// plain GET of the page, which never shows the secret again.
if (document.querySelector("[data-secret-page]") && window.history.replaceState) {
  window.history.replaceState(null, "", window.location.pathname);
}
