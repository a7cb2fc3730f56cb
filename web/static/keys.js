// Keyboard navigation in the viewer's lists: j and k move to the next and previous row, Enter opens it (the
// row's first link has the focus, so Enter is the browser's own). Keys typed into a form field are left alone.
// A file, not an inline script: the pages' CSP allows scripts from 'self' only.
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.list tbody tr"));
  }

  function currentIndex(all) {
    var active = document.activeElement;
    var row = active && active.closest ? active.closest("table.list tbody tr") : null;
    return row ? all.indexOf(row) : -1;
  }

  function move(step) {
    var all = rows();
    if (all.length === 0) {
      return;
    }
    var index = Math.max(0, Math.min(all.length - 1, currentIndex(all) + step));
    all.forEach(function (row) { row.classList.remove("selected"); });
    var row = all[index];
    row.classList.add("selected");
    var link = row.querySelector("a[href]");
    if (link) {
      link.focus();
    }
    row.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) {
      return;
    }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(target.tagName))) {
      return;
    }
    if (event.key === "j") {
      move(1);
      event.preventDefault();
    } else if (event.key === "k") {
      move(-1);
      event.preventDefault();
    }
  });
})();
