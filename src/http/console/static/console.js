// alert-ledger console: live updates. Written for this project; no libraries.
// - The board (#board[data-live]) listens to /console/live (Server-Sent Events; the
//   browser resumes with Last-Event-ID) and, when the ledger moves, fetches the board
//   again (#board[data-fragment], at most twice a second) and swaps it in. #live shows
//   the connection.
// - A running rebuild (#rebuild[data-poll]) is fetched again every second.
(function () {
  "use strict";

  function swap(target, url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (html) { target.innerHTML = html; });
  }

  function liveBoard(board) {
    var indicator = document.getElementById("live");
    var show = function (state, text) {
      if (indicator) { indicator.dataset.state = state; indicator.textContent = text; }
    };
    if (!window.EventSource) { show("off", "live updates need a newer browser"); return; }
    // At most one fetch at a time and one start per REFRESH_MS: frames that arrive in
    // between are folded into the next fetch, so a storm of writes costs the server
    // two renders a second per open board, not one per write.
    var REFRESH_MS = 500;
    var pending = false, again = false, started = 0, timer = null;
    var refresh = function () {
      if (pending) { again = true; return; }
      var wait = started + REFRESH_MS - Date.now();
      if (wait > 0) {
        if (!timer) { timer = setTimeout(function () { timer = null; refresh(); }, wait); }
        return;
      }
      pending = true;
      started = Date.now();
      swap(board, board.dataset.fragment).catch(function () {}).then(function () {
        pending = false;
        if (again) { again = false; refresh(); }
      });
    };
    var source = new EventSource(board.dataset.live);
    source.addEventListener("open", function () { show("live", "live"); });
    source.addEventListener("error", function () { show("reconnecting", "reconnecting…"); });
    source.addEventListener("position", function (e) {
      show("live", "live · position " + e.data);
      // The page was drawn at data-position: nothing to fetch for what it already shows.
      if (Number(e.data) <= Number(board.dataset.position || 0)) { return; }
      board.dataset.position = e.data;
      refresh();
    });
  }

  function pollRebuild(box) {
    var tick = function () {
      swap(box, box.dataset.poll).then(function () {
        var inner = box.querySelector("#rebuild");
        if (inner) { box.replaceWith(inner); box = inner; }
        if (box.dataset.poll) { setTimeout(tick, 1000); }
      }).catch(function () { setTimeout(tick, 3000); });
    };
    setTimeout(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var board = document.querySelector("#board[data-live]");
    if (board) { liveBoard(board); }
    var rebuild = document.querySelector("#rebuild[data-poll]");
    if (rebuild) { pollRebuild(rebuild); }
  });
})();
