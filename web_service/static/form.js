// Keeps the time estimate beside the episodes in step with what is typed.
(function () {
  "use strict";
  var estimate = document.getElementById("estimate");
  var episodes = document.getElementById("opt-episodes");
  if (!estimate || !episodes) { return; }
  var perEpisode = parseFloat(estimate.dataset.secondsPerEpisode);
  var measured = parseInt(estimate.dataset.trainings, 10);
  function clock(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }
  function update() {
    var n = parseInt(episodes.value, 10) || 1000;
    estimate.textContent = "A training of " + n.toLocaleString("en") + " episodes should take about " +
      clock(n * perEpisode) + " on this machine" +
      (measured ? " (measured over " + measured + " past training" + (measured === 1 ? "" : "s") + ")" : " (no training measured here yet: a first guess)") +
      ", plus the evaluation.";
  }
  episodes.addEventListener("input", update);
})();
