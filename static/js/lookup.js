/* Notice lookup: type a code as printed on the letter ("LTR 1058", "cp-504", "1058") and go to its page.
   Without JavaScript the form submits to the list of all notices. The index of codes and aliases is
   a small generated script, loaded on first use so pages stay light. */
(function () {
  "use strict";
  var form = document.querySelector("form.lookup");
  if (!form) { return; }
  var input = form.querySelector("input[name=code]");
  var status = form.querySelector(".lookup-status");
  var list = form.querySelector(".lookup-results");
  var root = form.getAttribute("data-root") || "./";
  var waiting = [];
  var FAMILY = { letter: "letter", ltr: "letter", let: "letter", l: "letter" };
  var MAX = 8;

  function fold(text) { return String(text).toLowerCase().replace(/[\s\-_.]+/g, ""); }

  function load(done) {
    if (window.NHC_NOTICES) { done(window.NHC_NOTICES); return; }
    waiting.push(done);
    if (waiting.length > 1) { return; }
    var s = document.createElement("script");
    s.src = form.getAttribute("data-index");
    s.onload = function () { var w = waiting; waiting = []; w.forEach(function (f) { f(window.NHC_NOTICES || []); }); };
    s.onerror = function () { waiting = []; say("The notice index could not be loaded. Use the list of all notices."); };
    document.head.appendChild(s);
  }

  /* Split a folded code into its letters prefix and the rest: "ltr1058" -> ["ltr", "1058"]. */
  function parts(key) { var m = /^([a-z]*)(.*)$/.exec(key); return [m[1], m[2]]; }
  function family(prefix) { return FAMILY[prefix] || prefix; }

  /* exact: the notice the input names; matches: notices it could mean (for partial input). */
  function find(query, notices) {
    var q = fold(query);
    var result = { exact: null, matches: [] };
    if (!q) { return result; }
    var i, j, n, keys;
    for (i = 0; i < notices.length; i++) {
      if (notices[i][3].indexOf(q) !== -1) { result.exact = notices[i]; return result; }
    }
    var qp = parts(q), same = [];
    if (qp[1] && /^\d/.test(qp[1])) {
      for (i = 0; i < notices.length; i++) {
        keys = notices[i][3];
        for (j = 0; j < keys.length; j++) {
          var kp = parts(keys[j]);
          if (kp[1] === qp[1] && (!qp[0] || family(kp[0]) === family(qp[0]))) { same.push(notices[i]); break; }
        }
      }
      if (same.length === 1) { result.exact = same[0]; return result; }
    }
    result.matches = same.slice();
    for (i = 0; i < notices.length && result.matches.length < MAX; i++) {
      n = notices[i];
      if (result.matches.indexOf(n) !== -1) { continue; }
      var hit = fold(n[1]).indexOf(q) !== -1 || (qp[1] && !qp[0] && fold(n[0]).indexOf(qp[1]) !== -1);
      for (j = 0; !hit && j < n[3].length; j++) {
        var k = n[3][j];
        hit = k.indexOf(q) === 0 || (qp[1] && parts(k)[1].indexOf(qp[1]) === 0 && (!qp[0] || family(parts(k)[0]) === family(qp[0])));
      }
      if (hit) { result.matches.push(n); }
    }
    return result;
  }

  function say(text) { status.textContent = text; }

  function clear() {
    list.textContent = "";
    list.hidden = true;
  }

  function show(matches, query) {
    clear();
    if (!matches.length) {
      say("No notice matches \u201c" + query + "\u201d. Check the code on your letter, or see the list of all notices.");
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root + "notices/";
      a.textContent = "List of all notices";
      li.appendChild(a);
      list.appendChild(li);
      list.hidden = false;
      return;
    }
    matches.slice(0, MAX).forEach(function (n) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root + n[2];
      a.textContent = n[1];
      li.appendChild(a);
      list.appendChild(li);
    });
    list.hidden = false;
    say(matches.length === 1 ? "1 matching notice." : Math.min(matches.length, MAX) + " matching notices. Press Tab or the down arrow to choose.");
  }

  function go(n) {
    say("Opening " + n[1] + "\u2026");
    window.location.href = root + n[2];
  }

  form.addEventListener("submit", function (event) {
    var query = input.value.trim();
    if (!query) { return; }
    event.preventDefault();
    load(function (notices) {
      var r = find(query, notices);
      if (r.exact) { go(r.exact); } else { show(r.matches, query); }
    });
  });

  input.addEventListener("input", function () {
    var query = input.value.trim();
    if (fold(query).length < 2) { clear(); say(""); return; }
    load(function (notices) {
      var r = find(query, notices);
      if (r.exact) {
        clear();
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = root + r.exact[2];
        a.textContent = r.exact[1];
        li.appendChild(a);
        list.appendChild(li);
        list.hidden = false;
        say(r.exact[1] + ". Press Enter to open it.");
      } else if (r.matches.length) {
        show(r.matches, query);
      } else {
        clear();
        say("No notice matches \u201c" + query + "\u201d yet.");
      }
    });
  });

  input.addEventListener("focus", function () { load(function () {}); }, { once: true });

  /* Arrow keys move between the input and the suggestions; Escape clears. */
  form.addEventListener("keydown", function (event) {
    var links = Array.prototype.slice.call(list.querySelectorAll("a"));
    var at = links.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && links.length) {
      event.preventDefault();
      links[Math.min(at + 1, links.length - 1)].focus();
    } else if (event.key === "ArrowUp" && at !== -1) {
      event.preventDefault();
      if (at === 0) { input.focus(); } else { links[at - 1].focus(); }
    } else if (event.key === "Escape") {
      clear();
      say("");
      input.focus();
    }
  });

  /* On the list of all notices, a submitted code (?code=...) from the no-JavaScript form is resolved too. */
  var note = document.getElementById("code-query");
  var asked = new URLSearchParams(window.location.search).get("code");
  if (note && asked) {
    input.value = asked;
    load(function (notices) {
      var r = find(asked, notices);
      if (r.exact) { window.location.replace(root + r.exact[2]); return; }
      note.textContent = r.matches.length
        ? "Several notices could match \u201c" + asked + "\u201d; they are listed below the search box. Every notice is in the list on this page."
        : "No notice matches \u201c" + asked + "\u201d. Check the code on your letter; every notice we cover is listed below.";
      note.hidden = false;
      if (r.matches.length) { show(r.matches, asked); }
      note.focus();
    });
  }

  /* Printouts show every FAQ answer, not just the questions. */
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });

  window.NHC_findNotice = find;
}());
