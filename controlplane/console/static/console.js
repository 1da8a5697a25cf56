// Fulcrum console: live updates and small conveniences. Every page works
// without this script; with it, the fragments marked data-live refresh
// themselves when the server says (server-sent events) that what they show
// changed. No framework, no build step, no inline script (the CSP forbids
// them).
(function () {
  "use strict";

  var liveState = document.getElementById("live-state");
  var announcer = document.getElementById("announce");

  function setState(state, text) {
    if (!liveState) return;
    liveState.setAttribute("data-state", state);
    liveState.textContent = text;
  }

  function announce(text) {
    if (announcer && text) announcer.textContent = text;
  }

  function loginURL() {
    return "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  // isEditing: the user is typing in a field of the fragment, which a
  // refresh would wipe out; the refresh waits until focus leaves it.
  function isEditing(el) {
    var a = document.activeElement;
    return a && el.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName);
  }

  function announceText(el) {
    var a = el.querySelector("[data-announce]");
    return a ? a.textContent.trim() : "";
  }

  // refresh re-fetches one fragment, one request at a time per fragment.
  function refresh(el) {
    if (el._busy) { el._again = true; return; }
    if (isEditing(el)) { el._pending = true; return; }
    el._busy = true;
    fetch(el.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401) { location.assign(loginURL()); return null; }
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.text();
      })
      .then(function (html) {
        if (html === null) return;
        var before = announceText(el);
        var a = document.activeElement;
        var focusID = a && el.contains(a) ? a.id : "";
        el.innerHTML = html;
        if (focusID) {
          var f = document.getElementById(focusID);
          if (f) f.focus({ preventScroll: true });
        }
        var after = announceText(el);
        if (after && after !== before) announce(after);
      })
      .catch(function () { setState("error", "live updates: a refresh failed"); })
      .then(function () {
        el._busy = false;
        if (el._again) { el._again = false; refresh(el); }
      });
  }

  function live() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  }

  function tokens(el) { return el.getAttribute("data-live").split(/\s+/); }

  function wants(el, ev) {
    return tokens(el).some(function (t) {
      if (t === "pools") return ev.all || (ev.pools || []).length > 0;
      if (t.indexOf("pool:") === 0) return ev.all || (ev.detail || []).indexOf(t.slice(5)) >= 0;
      if (t.indexOf("kind:") === 0) return ev.all || (ev.kinds || []).indexOf(t.slice(5)) >= 0;
      return false;
    });
  }

  document.addEventListener("focusout", function (e) {
    live().forEach(function (el) {
      if (el._pending && el.contains(e.target) && !el.contains(e.relatedTarget)) {
        el._pending = false;
        setTimeout(function () { refresh(el); }, 0);
      }
    });
  });

  var source = null;
  var backoff = 1000;
  // leaving: a form was submitted, so the page is on its way out; a
  // "logout" event (this tab's own sign-out) must not race it.
  var leaving = false;
  document.addEventListener("submit", function () { leaving = true; });

  function connect() {
    var url = document.body.getAttribute("data-events");
    if (!url || !window.EventSource) return;
    setState("connecting", "live updates: connecting");
    source = new EventSource(url);
    source.addEventListener("open", function () {
      backoff = 1000;
      setState("on", "live");
    });
    source.addEventListener("change", function (m) {
      var ev = JSON.parse(m.data);
      live().forEach(function (el) { if (wants(el, ev)) refresh(el); });
    });
    source.addEventListener("metrics", function () {
      live().forEach(function (el) { if (tokens(el).indexOf("metrics") >= 0) refresh(el); });
    });
    source.addEventListener("logout", function () {
      source.close();
      if (!leaving) location.assign(loginURL());
    });
    source.addEventListener("evicted", function () {
      source.close();
      setState("off", "live updates paused: open in too many tabs (reload to resume)");
    });
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) {
        setState("connecting", "live updates: reconnecting");
        return;
      }
      // Refused (signed out, or too many streams): find out which.
      setState("error", "live updates: disconnected");
      fetch(location.href, { credentials: "same-origin", redirect: "manual", cache: "no-store" }).then(function (resp) {
        if (resp.type === "opaqueredirect" || resp.status === 401) { location.assign(loginURL()); return; }
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 60000);
      }, function () {
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 60000);
      });
    });
  }

  // Fragments that poll instead (data-live="poll:SECONDS"): the data
  // planes' status is not part of the store's watch.
  function polls() {
    live().forEach(function (el) {
      tokens(el).forEach(function (t) {
        if (t.indexOf("poll:") === 0) {
          var s = parseInt(t.slice(5), 10);
          if (s > 0) setInterval(function () { if (!document.hidden) refresh(el); }, s * 1000);
        }
      });
    });
  }

  // "Add a member row": a copy of the last row, renumbered.
  function addRows() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-add-row]"), function (btn) {
      btn.hidden = false;
      btn.addEventListener("click", function () {
        var body = document.getElementById(btn.getAttribute("data-add-row")).tBodies[0];
        var last = body.rows[body.rows.length - 1];
        var n = parseInt(last.getAttribute("data-row"), 10) + 1;
        var row = last.cloneNode(true);
        row.setAttribute("data-row", String(n));
        Array.prototype.forEach.call(row.querySelectorAll("input, select"), function (f) {
          f.name = f.name.replace(/\[\d+\]/, "[" + n + "]");
          f.id = f.id.replace(/-\d+-/, "-" + n + "-");
          f.setAttribute("aria-label", f.getAttribute("aria-label").replace(/\d+$/, String(n + 1)));
          f.removeAttribute("aria-invalid");
          f.removeAttribute("aria-describedby");
          if (f.tagName === "INPUT") f.value = ""; else f.selectedIndex = 0;
        });
        Array.prototype.forEach.call(row.querySelectorAll(".field-error"), function (e) { e.remove(); });
        body.appendChild(row);
        row.querySelector("input").focus();
      });
    });
  }

  function focusErrors() {
    var s = document.getElementById("error-summary");
    if (s) s.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    addRows();
    focusErrors();
    polls();
    connect();
  });
  window.addEventListener("pagehide", function () { if (source) source.close(); });
})();
