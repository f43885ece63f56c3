"use strict";
(function () {
  // Thumbnails: one data: URI per file, shared by every card that shows it.
  var thumbs = JSON.parse(document.getElementById("thumbs").textContent);
  document.querySelectorAll("img[data-t]").forEach(function (img) { img.src = thumbs[Number(img.dataset.t)]; });

  var cards = Array.prototype.slice.call(document.querySelectorAll(".card[data-path]"));
  var byPath = new Map();
  cards.forEach(function (card) {
    var list = byPath.get(card.dataset.path) || [];
    list.push(card);
    byPath.set(card.dataset.path, list);
  });

  // Review: path -> {action, label}; only files the user decided on.
  var decisions = new Map();
  function paint(path) {
    var d = decisions.get(path);
    (byPath.get(path) || []).forEach(function (card) {
      var state = d ? d.action : card.dataset.proposed;
      card.classList.remove("state-keep", "state-drop", "state-review", "state-relabel");
      card.classList.add("state-" + state);
      card.classList.toggle("decided", !!d);
      card.dataset.state = state;
      card.querySelectorAll("button[data-act]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b.dataset.act === state));
      });
      var sel = card.querySelector("select.relabel");
      if (sel) { sel.value = d && d.action === "relabel" ? d.label : ""; }
    });
  }
  function count() {
    var n = decisions.size;
    document.getElementById("decision-count").textContent = n ? n + " decision" + (n === 1 ? "" : "s") : "no decisions yet";
  }
  function decide(path, action, label) {
    decisions.set(path, {action: action, label: label || ""});
    paint(path);
    count();
  }
  byPath.forEach(function (_, path) { paint(path); });
  cards.forEach(function (card) {
    card.querySelectorAll("button[data-act]").forEach(function (b) {
      b.addEventListener("click", function () { decide(card.dataset.path, b.dataset.act); });
    });
    var sel = card.querySelector("select.relabel");
    if (sel) {
      sel.addEventListener("change", function () {
        if (sel.value) { decide(card.dataset.path, "relabel", sel.value); }
        else { decisions.delete(card.dataset.path); paint(card.dataset.path); count(); }
      });
    }
  });

  function csvCell(v) { return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
  document.getElementById("download").addEventListener("click", function () {
    var lines = ["path,action,label"];
    decisions.forEach(function (d, path) { lines.push([path, d.action, d.label].map(csvCell).join(",")); });
    var blob = new Blob([lines.join("\n") + "\n"], {type: "text/csv"});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "decisions.csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
  });
  document.getElementById("reset").addEventListener("click", function () {
    var paths = Array.from(decisions.keys());
    decisions.clear();
    paths.forEach(paint);
    count();
  });

  // Filters: path search, class, check. A group shows while any member matches; a section while any card does.
  var search = document.getElementById("search");
  var byClass = document.getElementById("class-filter");
  var byCheck = document.getElementById("check-filter");
  function filter() {
    var q = search.value.trim().toLowerCase(), cls = byClass.value, chk = byCheck.value;
    var shown = 0;
    cards.forEach(function (card) {
      var section = card.closest("details.check");
      var ok = (!q || card.dataset.path.toLowerCase().indexOf(q) >= 0) &&
        (!cls || card.dataset.label === cls) &&
        (!chk || (section !== null && section.dataset.check === chk));
      card.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.querySelectorAll(".group").forEach(function (g) {
      g.hidden = !g.querySelector(".card:not([hidden])");
    });
    var filtering = Boolean(q || cls || chk);
    document.querySelectorAll("details.check").forEach(function (sec) {
      sec.hidden = filtering && sec.querySelector(".card:not([hidden])") === null;
    });
    document.getElementById("shown").textContent = filtering ? shown + " of " + cards.length + " cards" : cards.length + " cards";
  }
  [search, byClass, byCheck].forEach(function (el) { el.addEventListener("input", filter); el.addEventListener("change", filter); });
  document.getElementById("collapse-all").addEventListener("click", function () {
    document.querySelectorAll("details.check").forEach(function (d) { d.open = false; });
  });
  document.getElementById("expand-all").addEventListener("click", function () {
    document.querySelectorAll("details.check").forEach(function (d) { d.open = true; });
  });
  filter();
  document.body.dataset.ready = "1";
})();
