/* djust client: sends dj-click / dj-submit / dj-change events to the view's
   own URL and morphs the inside of the dj-root element into the new HTML
   with idiomorph (vendor/idiomorph-0.7.3.js, which this script loads), so
   that focus, caret, scroll, open <details> and typed values survive an
   update. Without idiomorph it replaces the HTML, as it did before. */
(function () {
  "use strict";
  var root = document.querySelector("[dj-root]");
  if (!root) { return; }
  var MORPHER = "vendor/idiomorph-0.7.3.js";
  var KEY_ID = "djust-key:";            // prefix of the ids lent to dj-key elements
  var RENDERED = "__djustRendered";     // what the server last rendered, per element
  var NEXT = "__djustNext";             // the new node an element is being morphed into
  var TEXT_TYPES = /^(text|search|email|url|tel|password|number|date|datetime-local|month|week|time|color|range)$/;
  var script = document.currentScript;
  var stateElement = document.getElementById("djust-state");
  var djust = window.djust = {
    state: stateElement ? JSON.parse(stateElement.textContent) : {},
    pending: 0,
    lastError: null,
    patcher: "loading"                  // then "idiomorph", or "innerHTML" if it failed to load
  };
  var submitted = null;                 // the form whose dj-submit is being answered

  var morpherReady = new Promise(function (resolve) {
    if (window.Idiomorph) { resolve(true); return; }
    if (!script || !script.src) { resolve(false); return; }
    var element = document.createElement("script");
    element.src = new URL(MORPHER, script.src).href;
    element.onload = function () { resolve(Boolean(window.Idiomorph)); };
    element.onerror = function () { resolve(false); };
    (document.head || document.documentElement).appendChild(element);
  }).then(function (loaded) {
    djust.patcher = loaded ? "idiomorph" : "innerHTML";
    if (!loaded) {
      console.warn("djust: " + MORPHER + " did not load; updates replace the HTML " +
                   "(focus, caret, scroll and typed values are lost)");
    }
    return loaded;
  });

  // The state a user can change, as the server rendered it (read from the
  // attributes, which typing, ticking or toggling leave alone, except open).
  function renderedState(element) {
    switch (element.tagName) {
      case "INPUT":
        return {value: element.getAttribute("value") || "", checked: element.hasAttribute("checked")};
      case "TEXTAREA": return {value: element.defaultValue};
      case "OPTION": return {selected: element.hasAttribute("selected")};
      case "DETAILS": return {open: element.hasAttribute("open")};
    }
    return null;
  }

  function remember(tree) {
    var elements = Array.prototype.slice.call(tree.querySelectorAll("input, textarea, option, details"));
    if (tree.matches && tree.matches("input, textarea, option, details")) { elements.push(tree); }
    elements.forEach(function (element) { element[RENDERED] = renderedState(element); });
  }

  function owned(name, element) {
    switch (element.tagName) {
      case "INPUT":
        if (name === "checked") { return element.type === "checkbox" || element.type === "radio"; }
        return name === "value" && TEXT_TYPES.test(element.type);
      case "TEXTAREA": return name === "value";
      case "OPTION": return name === "selected";
      case "DETAILS": return name === "open";
    }
    return false;
  }

  // Whether the element keeps what the user made of it: the focused text
  // field keeps its value; any other value, check, selection or open state
  // the user changed stays until the server renders it differently from last
  // time. The controls of a submitted form take the server's answer.
  function keepsClientState(name, element) {
    if (!owned(name, element)) { return false; }
    if (submitted && submitted.contains(element)) { return false; }
    if (name === "value" && element === document.activeElement) { return true; }
    var before = element[RENDERED], next = element[NEXT];
    if (!before || !next) { return false; }
    return renderedState(next)[name] === before[name];
  }

  var callbacks = {
    beforeNodeMorphed: function (oldNode, newNode) {
      if (oldNode.nodeType === 1) { oldNode[NEXT] = newNode; }
      return true;
    },
    afterNodeMorphed: function (oldNode, newNode) {
      if (oldNode.nodeType !== 1) { return; }
      delete oldNode[NEXT];
      var state = renderedState(newNode);
      if (state) { oldNode[RENDERED] = state; }
    },
    afterNodeAdded: function (node) {
      if (node.nodeType === 1) { remember(node); }
    },
    beforeAttributeUpdated: function (name, element) {
      return !keepsClientState(name, element);
    }
  };

  // idiomorph keeps an element whose id is in both the old and the new HTML;
  // an element with dj-key and no id gets one for the morph, made of its key
  // and those of its keyed ancestors up to the nearest id.
  function lendKeyIds(tree, top) {
    tree.querySelectorAll("[dj-key]:not([id])").forEach(function (element) {
      var parts = [];
      for (var node = element; node && node !== top; node = node.parentElement) {
        if (node.hasAttribute("dj-key")) {
          parts.unshift(node.getAttribute("dj-key"));
        } else if (node.id) {
          parts.unshift("#" + node.id);
          break;
        }
      }
      element.id = KEY_ID + parts.join("/");
    });
  }

  function returnKeyIds() {
    root.querySelectorAll("[dj-key][id^='" + KEY_ID + "']").forEach(function (element) {
      element.removeAttribute("id");
    });
  }

  function patch(html, form) {
    return morpherReady.then(function (loaded) {
      if (!loaded) {
        root.innerHTML = html;
        return;
      }
      var template = document.createElement("template");
      template.innerHTML = html;
      lendKeyIds(root, root);
      lendKeyIds(template.content, null);
      submitted = form || null;
      try {
        window.Idiomorph.morph(root, template.content, {morphStyle: "innerHTML", callbacks: callbacks});
      } catch (error) {
        root.innerHTML = html;
        remember(root);
        throw error;
      } finally {
        submitted = null;
        returnKeyIds();
      }
    });
  }

  function dataParams(element) {
    var params = {};
    Object.keys(element.dataset).forEach(function (key) {
      if (key.indexOf("djust") !== 0) { params[key] = element.dataset[key]; }
    });
    return params;
  }

  function send(event, params, form) {
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
      return patch(data.html, form).then(function () {
        djust.state = data.state;
        djust.stats = data.stats;
        root.dispatchEvent(new CustomEvent("djust:updated", {detail: data, bubbles: true}));
      });
    }).catch(function (error) {
      djust.lastError = String(error.message || error);
      root.dispatchEvent(new CustomEvent("djust:error", {detail: djust.lastError, bubbles: true}));
    }).finally(function () {
      djust.pending -= 1;
      if (djust.pending === 0) { root.removeAttribute("aria-busy"); }
    });
  }

  remember(root);

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
    send(form.getAttribute("dj-submit"), params, form);
  });

  root.addEventListener("change", function (event) {
    var target = event.target.closest("[dj-change]");
    if (!target) { return; }
    var params = dataParams(target);
    params.value = target.type === "checkbox" ? target.checked : target.value;
    send(target.getAttribute("dj-change"), params);
  });
})();
