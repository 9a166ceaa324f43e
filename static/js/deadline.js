/* Deadline calculator: the date printed on the letter + N calendar days; a last day on a Saturday,
   Sunday or legal holiday moves to the next business day (IRC 7503). The holiday table is made at
   build time (site_src/deadlines.py, which holds the same rule and the tests). */
(function () {
  "use strict";
  var box = document.getElementById("calc");
  if (!box) { return; }
  var dateInput = document.getElementById("calc-date");
  var abroad = document.getElementById("calc-abroad");
  var out = document.getElementById("calc-out");
  var ics = document.getElementById("calc-ics");
  var table = window.NHC_HOLIDAYS || { first: 0, last: 0, days: {} };
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"];
  var WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  var DAY = 86400000;
  var icsUrl = null;

  /* Dates are whole days held as UTC midnight, so daylight-saving changes never shift a count. */
  function parse(text) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
    if (!m) { return null; }
    var d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    return d.getUTCMonth() === +m[2] - 1 ? d : null;
  }
  function iso(d) { return d.toISOString().slice(0, 10); }
  function addDays(d, n) { return new Date(d.getTime() + n * DAY); }
  function long(d) {
    return WEEKDAYS[d.getUTCDay()] + ", " + MONTHS[d.getUTCMonth()] + " " + d.getUTCDate() + ", " + d.getUTCFullYear();
  }
  function today() {
    var now = new Date();
    return new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate()));
  }
  function whyClosed(d) {
    var wd = d.getUTCDay();
    if (wd === 6) { return "Saturday"; }
    if (wd === 0) { return "Sunday"; }
    return table.days[iso(d)] || "";
  }
  function lastDay(notice, days) {
    var counted = addDays(notice, days);
    var day = counted;
    while (whyClosed(day)) { day = addDays(day, 1); }
    return { counted: counted, last: day, reason: whyClosed(counted) };
  }

  function para(text, cls) {
    var p = document.createElement("p");
    if (cls) { p.className = cls; }
    p.textContent = text;
    out.appendChild(p);
    return p;
  }

  function icsText(day) {
    function esc(t) { return t.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,").replace(/\n/g, "\\n"); }
    var code = box.getAttribute("data-code");
    var stamp = iso(day).replace(/-/g, "");
    var end = iso(addDays(day, 1)).replace(/-/g, "");
    return ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Notice Help Center//Deadline//EN", "CALSCALE:GREGORIAN",
      "BEGIN:VEVENT",
      "UID:" + code.toLowerCase().replace(/[^a-z0-9]/g, "") + "-" + stamp + "@notice-help-center",
      "DTSTAMP:" + stamp + "T000000Z",
      "DTSTART;VALUE=DATE:" + stamp,
      "DTEND;VALUE=DATE:" + end,
      "SUMMARY:" + esc("IRS " + code + " deadline"),
      "DESCRIPTION:" + esc(box.getAttribute("data-action")),
      "URL:" + box.getAttribute("data-url"),
      "END:VEVENT", "END:VCALENDAR"].join("\r\n") + "\r\n";
  }

  function update() {
    out.textContent = "";
    out.removeAttribute("data-last-day");
    ics.hidden = true;
    var notice = parse(dateInput.value);
    if (!notice) {
      if (dateInput.value) { para("Enter the full date printed on the letter."); }
      return;
    }
    var useAbroad = abroad && abroad.checked;
    var days = +box.getAttribute(useAbroad ? "data-days-abroad" : "data-days");
    var r = lastDay(notice, days);
    out.setAttribute("data-last-day", iso(r.last));
    var main = para("", "calc-last");
    var strong = document.createElement("strong");
    strong.textContent = "Your last day: " + long(r.last) + ".";
    main.appendChild(strong);
    if (r.reason) {
      var what = r.reason === "Saturday" || r.reason === "Sunday" ? "" : ", a legal holiday (" + r.reason + ")";
      para("Day " + days + " is " + long(r.counted) + what +
        ", so the deadline moves to the next business day (IRC 7503).", "calc-moved");
    }
    var year = r.counted.getUTCFullYear();
    if (year < table.first || year > table.last) {
      para("Our holiday list covers " + table.first + "\u2013" + table.last +
        " only; check whether your last day is a legal holiday.", "calc-warn");
    }
    var left = Math.round((r.last - today()) / DAY);
    var when;
    if (left > 1) { when = "You have " + left + " days left."; }
    else if (left === 1) { when = "You have 1 day left: the deadline is tomorrow."; }
    else if (left === 0) { when = "Today is the last day. Act today."; }
    else {
      when = "The deadline passed " + (-left === 1 ? "1 day" : -left + " days") + " ago." +
        (box.getAttribute("data-late") ? " See the late option above." : " Act now; see what happens if you miss it above.");
    }
    para(when, left < 0 ? "calc-late" : "calc-left").setAttribute("data-days-left", String(left));
    if (icsUrl) { URL.revokeObjectURL(icsUrl); }
    icsUrl = URL.createObjectURL(new Blob([icsText(r.last)], { type: "text/calendar" }));
    ics.href = icsUrl;
    ics.setAttribute("download", box.getAttribute("data-code").toLowerCase().replace(/[^a-z0-9]+/g, "-") + "-deadline.ics");
    ics.hidden = false;
  }

  dateInput.addEventListener("input", update);
  dateInput.addEventListener("change", update);
  if (abroad) { abroad.addEventListener("change", update); }
  box.hidden = false;
  window.NHC_lastDay = function (text, days) {
    var r = lastDay(parse(text), days);
    return { counted: iso(r.counted), last: iso(r.last), reason: r.reason };
  };
}());
