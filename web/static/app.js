// sekisho: the only script of the pages. It shows the copy buttons (hidden
// without JavaScript) and copies their data-copy text to the clipboard.
// Every page works without it.
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(button) {
    var text = button.getAttribute("data-copy") || "";
    var done = button.getAttribute("data-copied");
    var label = button.textContent;
    var write = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text)
      : fallbackCopy(text);
    write.then(function () {
      if (done) {
        button.textContent = done;
        button.classList.add("is-done");
        window.setTimeout(function () {
          button.textContent = label;
          button.classList.remove("is-done");
        }, 2000);
      }
    }, function () { /* the text stays on the page to copy by hand */ });
  }

  document.querySelectorAll(".js-copy").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { copy(button); });
  });
})();
