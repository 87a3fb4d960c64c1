// Language switch for the bilingual book: 中文 / English / 双语 (both).
// Loaded in <head>, so the stored choice applies before the page is drawn (no flash).
// The choice lives in localStorage: it holds on every page and on later visits.
// A first visit follows the browser's language. No kernel, no network.
(function () {
  "use strict";
  var KEY = "transformer-book-lang";
  // [mode, label, short label for phones]
  var MODES = [["zh", "中文", "中文"], ["en", "English", "EN"], ["both", "双语 Both", "双语"]];

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
  function current() {
    var mode = document.documentElement.getAttribute("data-lang");
    return mode === "zh" || mode === "en" ? mode : "both";
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
      b.setAttribute("data-mode", m[0]);
      b.setAttribute("title", m[1]);
      var long = document.createElement("span"), short = document.createElement("span");
      long.className = "lang-long"; long.textContent = m[1];
      short.className = "lang-short"; short.textContent = m[2];
      b.appendChild(long); b.appendChild(short);
      b.addEventListener("click", function () { remember(m[0]); apply(m[0]); });
      box.appendChild(b);
    });
    var slot = document.querySelector(".article-header-buttons") || document.querySelector(".header-article-items__end");
    if (slot) { slot.insertBefore(box, slot.firstChild); } else { box.classList.add("floating"); document.body.appendChild(box); }
  }

  // Chinese outside the language blocks (headings, the sidebars, glosses in English prose) is
  // tagged lang="zh-Hans", so a page tagged English does not draw it with Japanese letterforms.
  var HAN = /[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+/g;
  var SKIP = /^(SCRIPT|STYLE|PRE|CODE|TEXTAREA|MJX-CONTAINER|SVG|TITLE|svg)$/;
  function tagChinese(root) {
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode: function (node) {
        HAN.lastIndex = 0;
        if (!HAN.test(node.nodeValue)) return NodeFilter.FILTER_REJECT;
        for (var el = node.parentElement; el && el !== document.documentElement; el = el.parentElement) {
          if (SKIP.test(el.tagName) || el.classList.contains("math")) return NodeFilter.FILTER_REJECT;
          var lang = el.getAttribute("lang");
          if (lang) return /^zh/i.test(lang) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
        }
        return NodeFilter.FILTER_ACCEPT;
      }
    });
    var found = [];
    while (walker.nextNode()) found.push(walker.currentNode);
    found.forEach(function (node) {
      var text = node.nodeValue, frag = document.createDocumentFragment(), last = 0, m;
      HAN.lastIndex = 0;
      while ((m = HAN.exec(text))) {
        if (m.index > last) frag.appendChild(document.createTextNode(text.slice(last, m.index)));
        var span = document.createElement("span");
        span.setAttribute("lang", "zh-Hans");
        span.textContent = m[0];
        frag.appendChild(span);
        last = m.index + m[0].length;
      }
      if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
      node.parentNode.replaceChild(frag, node);
    });
  }

  // Search results: the page text the theme shows under each result, without the print-only
  // table of contents ("Contents"), the 中文/EN markers, the language not being read, or TeX
  // delimiters such as \(N\).
  var GREEK = { alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", theta: "θ",
    lambda: "λ", mu: "μ", pi: "π", sigma: "σ", tau: "τ", phi: "φ", omega: "ω", top: "⊤", times: "×",
    cdot: "·", le: "≤", leq: "≤", ge: "≥", geq: "≥", ldots: "…", dots: "…", cdots: "⋯", infty: "∞", to: "→",
    rightarrow: "→", in: "∈", approx: "≈", sum: "∑", sqrt: "√", prod: "∏", log: "log", exp: "exp" };
  function texToText(tex) {
    return tex
      .replace(/^\\\(|\\\)$|^\\\[|\\\]$/g, "")
      .replace(/\\(?:mathrm|text|textrm|mathbf|mathit|operatorname|boldsymbol)\s*\{([^{}]*)\}/g, "$1")
      .replace(/\\sqrt\s*\{([^{}]*)\}/g, "√$1")
      .replace(/\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "$1/$2")
      .replace(/\\([A-Za-z]+)/g, function (all, name) { return GREEK.hasOwnProperty(name) ? GREEK[name] : ""; })
      .replace(/\\[,;:! ]/g, " ")
      .replace(/\\_/g, "_")
      .replace(/[{}]/g, "")
      .replace(/\s+/g, " ")
      .trim();
  }
  function cleanSearchSummaries() {
    if (typeof Search === "undefined" || !Search.htmlToText) return;
    var query = (new URLSearchParams(window.location.search).get("q") || "").toLowerCase();
    var words = query.split(/[^\p{L}\p{N}_]+/u).filter(function (w) { return w; });
    Search.htmlToText = function (htmlString, anchor) {
      var doc = new DOMParser().parseFromString(htmlString, "text/html");
      var drop = [".headerlink", "script", "style", ".bd-header-article", "#jb-print-docs-body", ".onlyprint", ".lang-mark",
        "mjx-assistive-mml"];
      doc.querySelectorAll(drop.join(",")).forEach(function (el) { el.remove(); });
      doc.querySelectorAll(".math").forEach(function (el) { el.textContent = " " + texToText(el.textContent) + " "; });
      var text = function () {
        var block = (anchor && doc.querySelector('[role="main"] ' + anchor)) || doc.querySelector('[role="main"]');
        return block ? block.textContent.replace(/\s+/g, " ") : "";
      };
      var both = text();
      // The language not being read is left out, unless the query is written in that language
      // and only that language holds it.
      var mode = current(), other = { zh: ".lang-en", en: ".lang-zh" }[mode];
      if (!other) return both;
      doc.querySelectorAll(other).forEach(function (el) { el.remove(); });
      var one = text(), lower = one.toLowerCase();
      var foreign = mode === "en" ? /[\u4e00-\u9fff]/.test(query) : !/[\u4e00-\u9fff]/.test(query);
      return foreign && words.length && !words.some(function (w) { return lower.indexOf(w) >= 0; }) ? both : one;
    };
  }

  apply(initial());
  // Another tab changed the choice: follow it.
  window.addEventListener("storage", function (e) { if (e.key === KEY && e.newValue) apply(e.newValue); });
  document.addEventListener("DOMContentLoaded", function () {
    buildSwitch();
    apply(current());
    tagChinese(document.body);
    cleanSearchSummaries();
  });
})();
