/*
 * Search scorer for the bilingual book (Sphinx's html_search_scorer; set by book/_ext/bilingual.py).
 * Sphinx's default weights, plus one rule: a page whose title holds the whole query comes first,
 * so 位置编码, "位置 编码" and "positional encoding" all put §3.5 at the top. Spaces are ignored
 * when comparing, since Chinese is written without them.
 */
var Scorer = {
  score: function (result) {
    var score = result[4];
    var query = "";
    try { query = new URLSearchParams(window.location.search).get("q") || ""; } catch (e) { /* no query */ }
    var squeeze = function (s) { return String(s || "").toLowerCase().replace(/\s+/g, ""); };
    var q = squeeze(query);
    var title = squeeze(result[1]);
    if (q.length > 1 && title.indexOf(q) >= 0) score += 30;
    return score;
  },
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: { 0: 15, 1: 5, 2: -5 },
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};
