/* Full-text search with Pagefind (its index is built by `python build.py` into pagefind/).
   Results are drawn as plain links and text; only Pagefind's <mark> highlights are kept. */
(function () {
  "use strict";
  var form = document.querySelector("form.site-search");
  if (!form) { return; }
  var input = document.getElementById("search-q");
  var status = document.getElementById("search-status");
  var results = document.getElementById("search-results");
  var root = new URL(form.getAttribute("data-root") || "../", window.location.href);
  var nojs = document.getElementById("search-nojs");
  var api = null;
  var latest = 0;
  if (nojs) { nojs.hidden = true; }

  function pagefind() {
    if (!api) {
      api = import(new URL("pagefind/pagefind.js", root).href).then(function (pf) {
        return Promise.resolve(pf.options({ baseUrl: root.pathname })).then(function () { return pf; });
      });
    }
    return api;
  }

  /* Copy an excerpt keeping only its text and <mark> elements. */
  function excerpt(html, into) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    tpl.content.childNodes.forEach(function (node) {
      if (node.nodeType === 3) { into.appendChild(document.createTextNode(node.textContent)); }
      else if (node.nodeName === "MARK") {
        var m = document.createElement("mark");
        m.textContent = node.textContent;
        into.appendChild(m);
      } else { into.appendChild(document.createTextNode(node.textContent || "")); }
    });
  }

  function run(query) {
    var ticket = ++latest;
    results.textContent = "";
    if (!query) { status.textContent = ""; return; }
    status.textContent = "Searching\u2026";
    pagefind().then(function (pf) { return pf.search(query); }).then(function (found) {
      if (ticket !== latest) { return null; }
      return Promise.all(found.results.slice(0, 10).map(function (r) { return r.data(); }));
    }).then(function (items) {
      if (!items || ticket !== latest) { return; }
      items.forEach(function (item) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = item.url;
        a.textContent = (item.meta && item.meta.title) || item.url;
        var p = document.createElement("p");
        excerpt(item.excerpt || "", p);
        li.appendChild(a);
        li.appendChild(p);
        results.appendChild(li);
      });
      status.textContent = items.length
        ? items.length + (items.length === 1 ? " page" : " pages") + " found for \u201c" + query + "\u201d."
        : "Nothing found for \u201c" + query + "\u201d. Try fewer words, or look up the notice code.";
    }).catch(function () {
      status.textContent = "Search is not available here (it needs the site to be served over http). Use the notice lookup instead.";
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var query = input.value.trim();
    var url = new URL(window.location.href);
    url.searchParams.set("q", query);
    window.history.replaceState(null, "", url.href);
    run(query);
  });

  var first = new URLSearchParams(window.location.search).get("q");
  if (first) {
    input.value = first;
    run(first.trim());
  }
}());
