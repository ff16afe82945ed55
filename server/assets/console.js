// The console without this script works: forms post and the server
// answers. With it, Markdown previews follow the typing (the server's own
// sanitiser renders them, so the preview is what the page will show).
"use strict";
(function () {
  function csrfOf(form) {
    var field = form && form.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  }
  document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
    var target = document.getElementById(area.dataset.preview);
    var timer = null;
    var last = null;
    function render() {
      if (area.value === last) return;
      last = area.value;
      if (!area.value.trim()) { target.innerHTML = ""; return; }
      var body = new URLSearchParams({ csrf: csrfOf(area.form), body: area.value });
      fetch("/admin/preview", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) target.innerHTML = html; })
        .catch(function () {});
    }
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(render, 300);
    });
  });
})();
