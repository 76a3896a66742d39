// alert-ledger console: live updates. Written for this project; no libraries.
// - The board (#board[data-live]) listens to /console/live (Server-Sent Events; the
//   browser resumes with Last-Event-ID) and, when the ledger moves, fetches the board
//   again (#board[data-fragment]) and swaps it in. #live shows the connection.
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
    var pending = false, again = false;
    var refresh = function () {
      if (pending) { again = true; return; }
      pending = true;
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
