// Follows a run's server-sent events: stage, progress bar, episodes, time left; on the
// result, goes to the result page. A reload replays the run from its first event.
(function () {
  "use strict";
  var section = document.getElementById("progress");
  if (!section || !window.EventSource) { return; }
  var id = section.dataset.run;
  var stage = document.getElementById("stage");
  var bar = document.getElementById("bar");
  var episodes = document.getElementById("episodes");
  var left = document.getElementById("left");
  var log = document.getElementById("log");
  var failure = document.getElementById("failure");
  var cancel = document.getElementById("cancel-form");
  function clock(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }
  log.textContent = "";
  var source = new EventSource("/runs/" + id + "/events");
  function show(event) {
    var data = JSON.parse(event.data);
    stage.textContent = data.label || data.stage;
    var t = data.training;
    if (t) {
      stage.textContent = (data.label || data.stage) + " (" + t.state.toLowerCase() + ")";
      if (t.episodes_total) {
        bar.max = t.episodes_total;
        bar.value = t.episodes_done;
        episodes.textContent = t.episodes_done.toLocaleString("en") + " of " +
          t.episodes_total.toLocaleString("en") + " episodes";
      }
      left.textContent = t.seconds_left == null ? "" : "About " + clock(t.seconds_left) + " left";
    }
    if (data.message && data.stage !== "TRAINING_PROGRESS") {
      var item = document.createElement("li");
      item.textContent = (data.label || data.stage) + ": " + data.message;
      log.appendChild(item);
    }
    return data;
  }
  source.addEventListener("event", show);
  source.addEventListener("result", function (event) {
    show(event);
    source.close();
    window.location.assign("/results/" + id);
  });
  ["failed", "cancelled"].forEach(function (kind) {
    source.addEventListener(kind, function (event) {
      if (!event.data) { return; }  // a dropped connection: EventSource reconnects
      var data = show(event);
      failure.textContent = data.message;
      failure.hidden = false;
      if (cancel) { cancel.hidden = true; }
    });
  });
  source.addEventListener("end", function () { source.close(); });
})();
