// The viewer's one script, on every page behind the login. A file, not an inline script: the pages' CSP allows
// scripts from 'self' only.
//
// Keyboard navigation in the viewer's lists: j and k move to the next and previous row, Enter opens it (the
// row's first link has the focus, so Enter is the browser's own). Keys typed into a form field are left alone.
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

// The browser's time zone, kept in the "tz" cookie for the viewer to show times in when the account names no zone
// of its own (web/timezone.py). The viewer never writes to the database, so the browser keeps this itself.
(function () {
  "use strict";

  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  // Zone names are letters, digits and "/_+-": a cookie value as is, no quoting needed.
  if (typeof zone !== "string" || zone.length > 64 || !/^[A-Za-z0-9_+\/-]+$/.test(zone)) {
    return;
  }
  function cookieZone() {
    var found = document.cookie.match(/(?:^|;\s*)tz=([^;]*)/);
    return found ? found[1] : null;
  }
  if (cookieZone() === zone) {
    return;
  }
  var secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = "tz=" + zone + "; Path=/; Max-Age=31536000; SameSite=Lax" + secure;
  // Show this page in the browser's zone too: reload once, when the page was rendered in a zone that did not come
  // from the account and whose clock reads differently now (UTC and Etc/UTC do not), and the cookie took (with
  // cookies off, a reload would change nothing, again and again). Other pages read the cookie from now on.
  var root = document.documentElement;
  var shownOffset = root.getAttribute("data-tz-offset");
  if (
    shownOffset !== null &&
    root.getAttribute("data-tz-source") !== "account" &&
    shownOffset !== String(-new Date().getTimezoneOffset()) &&
    cookieZone() === zone
  ) {
    location.reload();
  }
})();
