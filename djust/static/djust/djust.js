/* djust client: sends dj-click / dj-submit / dj-change events to the view's
   own URL and swaps in the new inside of the dj-root element. No dependencies. */
(function () {
  "use strict";
  var root = document.querySelector("[dj-root]");
  if (!root) { return; }
  var stateElement = document.getElementById("djust-state");
  var djust = window.djust = {
    state: stateElement ? JSON.parse(stateElement.textContent) : {},
    pending: 0,
    lastError: null
  };

  function dataParams(element) {
    var params = {};
    Object.keys(element.dataset).forEach(function (key) {
      if (key.indexOf("djust") !== 0) { params[key] = element.dataset[key]; }
    });
    return params;
  }

  function send(event, params) {
    djust.pending += 1;
    root.setAttribute("aria-busy", "true");
    return fetch(window.location.pathname + window.location.search, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": root.getAttribute("data-djust-csrf"),
        "X-Requested-With": "djust"
      },
      body: JSON.stringify({id: root.getAttribute("data-djust-id"), event: event, params: params})
    }).then(function (response) {
      if (!response.ok) {
        return response.text().then(function (text) { throw new Error(text); });
      }
      return response.json();
    }).then(function (data) {
      root.innerHTML = data.html;
      djust.state = data.state;
      djust.stats = data.stats;
      root.dispatchEvent(new CustomEvent("djust:updated", {detail: data, bubbles: true}));
    }).catch(function (error) {
      djust.lastError = String(error.message || error);
      root.dispatchEvent(new CustomEvent("djust:error", {detail: djust.lastError, bubbles: true}));
    }).finally(function () {
      djust.pending -= 1;
      if (djust.pending === 0) { root.removeAttribute("aria-busy"); }
    });
  }

  root.addEventListener("click", function (event) {
    var target = event.target.closest("[dj-click]");
    if (!target || !root.contains(target)) { return; }
    event.preventDefault();
    send(target.getAttribute("dj-click"), dataParams(target));
  });

  root.addEventListener("submit", function (event) {
    var form = event.target.closest("form[dj-submit]");
    if (!form) { return; }
    event.preventDefault();
    var params = {};
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrfmiddlewaretoken") { params[key] = value; }
    });
    send(form.getAttribute("dj-submit"), params);
  });

  root.addEventListener("change", function (event) {
    var target = event.target.closest("[dj-change]");
    if (!target) { return; }
    var params = dataParams(target);
    params.value = target.type === "checkbox" ? target.checked : target.value;
    send(target.getAttribute("dj-change"), params);
  });
})();
