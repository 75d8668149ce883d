// Draws the result page's figures (built by the server) with the bundled Plotly.
(function () {
  "use strict";
  var holder = document.getElementById("figures");
  if (!holder || !window.Plotly) { return; }
  var figures = JSON.parse(holder.textContent);
  Object.keys(figures).forEach(function (id) {
    var element = document.getElementById(id);
    if (element) {
      window.Plotly.newPlot(element, figures[id].data, figures[id].layout,
        { responsive: true, displaylogo: false, displayModeBar: false });
    }
  });
})();
