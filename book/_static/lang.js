// Language switch for the bilingual book: 中文 / English / 双语 (both).
// Loaded in <head>, so the stored choice applies before the page is drawn (no flash).
// The choice lives in localStorage: it holds on every page and on later visits.
// A first visit follows the browser's language. No kernel, no network.
(function () {
  "use strict";
  var KEY = "transformer-book-lang";
  var MODES = [["zh", "中文"], ["en", "English"], ["both", "双语 Both"]];

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function remember(mode) {
    try { window.localStorage.setItem(KEY, mode); } catch (e) { /* private mode: this page only */ }
  }
  function initial() {
    var s = stored();
    if (s === "zh" || s === "en" || s === "both") return s;
    var prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
    return /^zh\b/i.test(prefs[0] || "") ? "zh" : "en";
  }
  function apply(mode) {
    var html = document.documentElement;
    html.setAttribute("data-lang", mode);
    html.setAttribute("lang", mode === "en" ? "en" : "zh-CN");
    var buttons = document.querySelectorAll(".lang-switch button");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].setAttribute("aria-pressed", String(buttons[i].getAttribute("data-mode") === mode));
    }
  }
  function buildSwitch() {
    var box = document.createElement("div");
    box.className = "lang-switch";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "语言 Language");
    MODES.forEach(function (m) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = m[1];
      b.setAttribute("data-mode", m[0]);
      b.addEventListener("click", function () { remember(m[0]); apply(m[0]); });
      box.appendChild(b);
    });
    var slot = document.querySelector(".article-header-buttons") || document.querySelector(".header-article-items__end");
    if (slot) { slot.insertBefore(box, slot.firstChild); } else { box.classList.add("floating"); document.body.appendChild(box); }
  }

  apply(initial());
  // Another tab changed the choice: follow it.
  window.addEventListener("storage", function (e) { if (e.key === KEY && e.newValue) apply(e.newValue); });
  document.addEventListener("DOMContentLoaded", function () { buildSwitch(); apply(document.documentElement.getAttribute("data-lang")); });
})();
