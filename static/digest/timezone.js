// On a fresh signup form, preselect the time zone the browser reports; without JavaScript
// the form's default, UTC, stays.
document.addEventListener("DOMContentLoaded", function () {
  var select = document.querySelector("select[data-browser-default]");
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!select || !zone) return;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) { select.value = zone; return; }
  }
});
