// keyplane console: progressive enhancements only. Every page works
// without this file; it adds upload progress, confirmations, and the
// + Alias form's showing of the fields its Type uses.
"use strict";
(function () {
  // + Alias: show the fields of the chosen Type only.
  document.querySelectorAll("select[data-switch]").forEach(function (sel) {
    var group = sel.getAttribute("data-switch");
    function apply() {
      document.querySelectorAll('[data-for="' + group + '"]').forEach(function (el) {
        var on = el.getAttribute("data-types").split(" ").indexOf(sel.value) >= 0;
        el.hidden = !on;
        el.querySelectorAll("input,select").forEach(function (i) { i.disabled = !on; });
      });
    }
    sel.addEventListener("change", apply);
    apply();
  });

  // Forms that ask before they act (token revocation).
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  document.querySelectorAll("[data-select-on-focus]").forEach(function (i) {
    i.addEventListener("focus", function () { i.select(); });
  });

  // Deploy: send the archive (or the folder's files with their paths)
  // with a progress bar, then follow the operation.
  var form = document.querySelector("form[data-progress]");
  if (!form) return;
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var data = new FormData();
    data.append("csrf", form.elements.csrf.value);
    data.append("labels", form.elements.labels.value);
    var zip = form.elements.archive.files;
    var folder = form.elements.folder.files;
    if (zip.length > 0) {
      data.append("archive", zip[0]);
    } else {
      for (var i = 0; i < folder.length; i++) {
        data.append("folder", folder[i]);
        data.append("path", folder[i].webkitRelativePath || folder[i].name);
      }
    }
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    bar.hidden = false;
    status.textContent = "Uploading…";
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.pathname);
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) {
        bar.value = Math.round((100 * ev.loaded) / ev.total);
        status.textContent = "Uploading… " + bar.value + "%";
      }
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 100;
      status.textContent = "Uploaded; starting the deployment…";
    });
    xhr.addEventListener("load", function () {
      if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL && xhr.responseURL !== window.location.href) {
        window.location.assign(xhr.responseURL);
        return;
      }
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var err = doc.getElementById("page-error");
      status.textContent = err ? err.textContent : "The deployment was refused (" + xhr.status + ").";
      status.className = "error";
    });
    xhr.addEventListener("error", function () {
      status.textContent = "The upload failed: the server could not be reached.";
      status.className = "error";
    });
    xhr.send(data);
  });
})();
