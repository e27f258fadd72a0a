/* djust client: sends dj-click / dj-submit / dj-change ... events to the
   view over its WebSocket (data-djust-ws, served by djust.consumers) or,
   when the socket is not connected, as a JSON POST to the page's own URL;
   and morphs the inside of the dj-root element into the new HTML with
   idiomorph (vendor/idiomorph-0.7.3.js, which this script loads), so that
   focus, caret, scroll, open <details> and typed values survive an update.
   Without idiomorph it replaces the HTML. Over the socket the server sends a
   diff against the HTML it sent last (applied by diff.js) and may push a
   render at any time; a dropped socket reconnects by itself, and events go
   over HTTP meanwhile. */
(function () {
  "use strict";
  var root = document.querySelector("[dj-root]");
  if (!root) { return; }
  var MORPHER = "vendor/idiomorph-0.7.3.js";
  var DIFFER = "diff.js";
  var KEY_ID = "djust-key:";            // prefix of the ids lent to dj-key elements
  var RENDERED = "__djustRendered";     // what the server last rendered, per element
  var NEXT = "__djustNext";             // the new node an element is being morphed into
  var VALUE_PREFIX = "dj-value-";       // dj-value-foo="x" -> params.foo = "x"
  var LOADING = "dj-loading";           // class of a trigger and the root while busy
  var SAVED = "__djustDisabledWith";    // a dj-disable-with element's text and disabled
  var THROTTLED = "__djustThrottled";   // when a dj-throttle element last sent
  var DEFAULT_DEBOUNCE = "150";         // ms a dj-input waits without dj-debounce / dj-throttle
  var TEXT_TYPES = /^(text|search|email|url|tel|password|number|date|datetime-local|month|week|time|color|range)$/;
  var script = document.currentScript;
  var stateElement = document.getElementById("djust-state");
  var djust = window.djust = {
    state: stateElement ? JSON.parse(stateElement.textContent) : {},
    pending: 0,
    lastError: null,
    patcher: "loading",                 // then "idiomorph", or "innerHTML" if it failed to load
    transport: "http",                  // "connecting", then "websocket" while joined
    socket: null,
    received: {renders: 0, diffs: 0, pushes: 0, bytes: 0}
  };
  var submitted = null;                 // the form whose dj-submit is being answered

  // Loads a script beside this one; resolves whether ``ready()`` holds.
  function load(file, ready) {
    return new Promise(function (resolve) {
      if (ready()) { resolve(true); return; }
      if (!script || !script.src) { resolve(false); return; }
      var element = document.createElement("script");
      element.src = new URL(file, script.src).href;
      element.onload = function () { resolve(Boolean(ready())); };
      element.onerror = function () { resolve(false); };
      (document.head || document.documentElement).appendChild(element);
    });
  }

  var differReady = load(DIFFER, function () { return Boolean(window.djustDiff); });
  var morpherReady = load(MORPHER, function () { return Boolean(window.Idiomorph); }).then(function (loaded) {
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

  // -- parameters ----------------------------------------------------
  // data-lease-id="7" -> leaseId: "7" (the dataset's camelCase), then
  // dj-value-lease-id="7" -> lease_id: "7" (hyphens become underscores, so
  // the name is a Python parameter name); dj-value-* wins over data-*.
  function dataParams(element) {
    var params = {};
    Object.keys(element.dataset).forEach(function (key) {
      if (key.indexOf("djust") !== 0) { params[key] = element.dataset[key]; }
    });
    return valueParams(element, params);
  }

  function valueParams(element, params) {
    params = params || {};
    Array.prototype.forEach.call(element.attributes, function (attribute) {
      if (attribute.name.indexOf(VALUE_PREFIX) === 0 && attribute.name.length > VALUE_PREFIX.length) {
        params[attribute.name.slice(VALUE_PREFIX.length).replace(/-/g, "_")] = attribute.value;
      }
    });
    return params;
  }

  function hasValue(element) {
    return element.tagName === "INPUT" || element.tagName === "TEXTAREA" || element.tagName === "SELECT";
  }

  function valueOf(element) {
    return element.type === "checkbox" ? element.checked : element.value;
  }

  function withValue(element) {
    var params = dataParams(element);
    if (hasValue(element)) { params.value = valueOf(element); }
    return params;
  }

  // -- loading states ------------------------------------------------------
  // Each event from its trigger until its answer is applied (or fails): the
  // trigger and the root get aria-busy="true" and the class dj-loading, the
  // root also dj-loading-<event>; a trigger (or a form's submit button) with
  // dj-disable-with is disabled and shows that text.
  var busy = [];                        // one record per event queued or in flight

  function paint(record) {
    record.elements.forEach(function (element) {
      element.classList.add(LOADING);
      element.setAttribute("aria-busy", "true");
      var text = element.getAttribute("dj-disable-with");
      if (text !== null) {
        if (!element[SAVED]) { element[SAVED] = {text: element.textContent, disabled: element.disabled}; }
        element.textContent = text;
        element.disabled = true;
      }
    });
    root.classList.add(LOADING, LOADING + "-" + record.event);
    root.setAttribute("aria-busy", "true");
  }

  function unpaint(record) {
    busy.splice(busy.indexOf(record), 1);
    record.elements.forEach(function (element) {
      if (busy.some(function (other) { return other.elements.indexOf(element) >= 0; })) { return; }
      element.classList.remove(LOADING);
      if (!element.classList.length) { element.removeAttribute("class"); }
      element.removeAttribute("aria-busy");
      var saved = element[SAVED];
      if (saved) {
        delete element[SAVED];
        element.textContent = saved.text;
        element.disabled = saved.disabled;
      }
    });
    if (!busy.some(function (other) { return other.event === record.event; })) {
      root.classList.remove(LOADING + "-" + record.event);
    }
    if (!busy.length) {
      root.classList.remove(LOADING);
      root.removeAttribute("aria-busy");
    }
  }

  // -- sending -------------------------------------------------------------
  // One event at a time, in order: the server restores the state the last
  // answer left, so an event waits for the answer to the one before it.
  var queue = Promise.resolve();

  function fail(event, status, message) {
    djust.lastError = message;
    console.warn("djust: event " + JSON.stringify(event) + " failed" +
                 (status ? " (" + status + ")" : "") + ": " + message);
    root.dispatchEvent(new CustomEvent("djust:error", {
      detail: {event: event, status: status, message: message}, bubbles: true
    }));
  }

  // -- applying a render ----------------------------------------------------
  // Renders apply one after another in the order they arrive, whether they
  // answer an event or were pushed.
  var applying = Promise.resolve();
  var lastHtml = null;                  // the inner HTML last received: the base of diffs

  function htmlOf(data) {
    if (data.diff === undefined) { return data.html; }
    try {
      if (lastHtml === null || !window.djustDiff) { throw new Error("a diff without its base"); }
      var html = window.djustDiff.apply(lastHtml, data.diff);
      djust.received.diffs += 1;
      return html;
    } catch (error) {
      // The page no longer holds what the server diffs against: a new
      // socket's rejoin sends the whole HTML again.
      if (djust.socket) { djust.socket.close(); }
      throw error;
    }
  }

  // The browser state: whole over HTTP; over the socket its JSON text, then
  // diffs of that text, or nothing when it did not change.
  var lastStateText = null;

  function stateOf(data) {
    if (data.state !== undefined) { return data.state; }
    if (data.stext !== undefined) {
      lastStateText = data.stext;
    } else if (data.sdiff !== undefined) {
      try {
        lastStateText = window.djustDiff.apply(lastStateText, data.sdiff);
      } catch (error) {
        if (djust.socket) { djust.socket.close(); }
        throw error;
      }
    } else {
      return djust.state;
    }
    return JSON.parse(lastStateText);
  }

  function apply(data, form, before) {
    var run = applying.then(function () {
      if (before) { before(); }
      var html = htmlOf(data);
      var state = stateOf(data);
      lastHtml = html;
      djust.received.renders += 1;
      return patch(html, form).then(function () {
        busy.forEach(paint);            // the morph took the server's attributes
        djust.state = state;
        djust.stats = data.stats;
        root.dispatchEvent(new CustomEvent("djust:updated", {detail: data, bubbles: true}));
      });
    });
    applying = run.catch(function () {});
    return run;
  }

  // -- HTTP ------------------------------------------------------------------
  function post(record, params, form) {
    var status = 0;
    return fetch(window.location.pathname + window.location.search, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": root.getAttribute("data-djust-csrf"),
        "X-Requested-With": "djust"
      },
      body: JSON.stringify({id: root.getAttribute("data-djust-id"), event: record.event, params: params})
    }).then(function (response) {
      status = response.status;
      if (!response.ok) {
        // A refusal's body is its plain-text message; a server error's may
        // be a whole HTML page, which only its status line stands for.
        var plain = /^text\/plain/.test(response.headers.get("Content-Type") || "");
        return response.text().then(function (text) {
          throw new Error(plain && text ? text : "HTTP " + status + " " + response.statusText);
        });
      }
      return response.json();
    }).then(function (data) {
      return apply(data, form, function () { unpaint(record); });
    }).catch(function (error) {
      if (busy.indexOf(record) >= 0) { unpaint(record); }
      fail(record.event, status, String((error && error.message) || error));
    });
  }

  // -- the WebSocket ---------------------------------------------------------
  var SOCKET_URL = root.getAttribute("data-djust-ws");
  var joined = false;                   // the server attached this socket to the view
  var everJoined = false;               // so a new socket is a rejoin
  var refused = false;                  // the server refused the page: no more tries
  var leaving = false;
  var attempts = 0;
  var nextRef = 1;
  var replies = {};                     // ref -> {resolve, reject}

  function socketError(status, message) {
    var error = new Error(message);
    error.status = status;
    return error;
  }

  function connect() {
    if (leaving || refused) { return; }
    var url = new URL(SOCKET_URL, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    var socket;
    try {
      socket = new WebSocket(url.href);
    } catch (error) {
      lost(null);
      return;
    }
    djust.socket = socket;
    if (!everJoined) { djust.transport = "connecting"; }
    socket.onopen = function () {
      socket.send(JSON.stringify({
        t: "join", path: window.location.pathname + window.location.search,
        id: root.getAttribute("data-djust-id"), csrf: root.getAttribute("data-djust-csrf"),
        diff: Boolean(window.djustDiff), rejoin: everJoined
      }));
    };
    socket.onmessage = function (message) {
      if (djust.socket !== socket) { return; }
      djust.received.bytes += message.data.length;
      receive(JSON.parse(message.data));
    };
    socket.onclose = function () {
      if (djust.socket === socket) { lost(socket); }
    };
  }

  function receive(data) {
    if (data.t === "joined") {
      joined = everJoined = true;
      attempts = 0;
      djust.transport = "websocket";
      root.dispatchEvent(new CustomEvent("djust:connected", {bubbles: true}));
      return;
    }
    var waiting = data.ref != null ? replies[data.ref] : null;
    if (waiting) { delete replies[data.ref]; }
    if (data.t === "render") {
      if (waiting) { waiting.resolve(data); return; }
      djust.received.pushes += 1;
      apply(data).catch(function (error) { fail("push", 0, String(error.message || error)); });
    } else if (data.t === "error") {
      if (waiting) { waiting.reject(socketError(data.status, data.message)); return; }
      if (!joined) {                    // the join was refused: stay on HTTP
        refused = true;
        var socket = djust.socket;
        djust.socket = null;
        djust.transport = "http";
        if (socket) { socket.close(); }
      }
      fail(joined ? "push" : "join", data.status, data.message);
    }
  }

  function lost(socket) {
    joined = false;
    djust.socket = null;
    djust.transport = "http";
    Object.keys(replies).forEach(function (ref) {
      replies[ref].reject(socketError(0, "the connection closed before the answer came"));
      delete replies[ref];
    });
    if (socket) { socket.onclose = socket.onmessage = null; }
    if (leaving || refused) { return; }
    // 0.25 s, 0.5 s, 1 s ... at most 10 s between attempts.
    var wait = Math.min(10000, 250 * Math.pow(2, attempts));
    attempts += 1;
    setTimeout(connect, wait);
  }

  function viaSocket(record, params, form) {
    var ref = nextRef++;
    var answered = new Promise(function (resolve, reject) {
      replies[ref] = {resolve: resolve, reject: reject};
    });
    djust.socket.send(JSON.stringify({t: "event", ref: ref, event: record.event, params: params}));
    return answered.then(function (data) {
      return apply(data, form, function () { unpaint(record); });
    }).catch(function (error) {
      if (busy.indexOf(record) >= 0) { unpaint(record); }
      fail(record.event, error.status || 0, String((error && error.message) || error));
    });
  }

  function deliver(record, params, form) {
    var socket = djust.socket;
    if (joined && socket && socket.readyState === 1) { return viaSocket(record, params, form); }
    return post(record, params, form);
  }

  window.addEventListener("pagehide", function () { leaving = true; });
  // A page restored from the back/forward cache lost its socket: rejoin.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted || !SOCKET_URL || !window.WebSocket) { return; }
    leaving = false;
    if (!djust.socket) { attempts = 0; connect(); }
  });
  if (SOCKET_URL && window.WebSocket) {
    differReady.then(connect);
  }

  function send(event, params, elements, form) {
    var record = {event: event, elements: (elements || []).filter(Boolean)};
    busy.push(record);
    paint(record);
    djust.pending += 1;
    var sent = queue.then(function () {
      return deliver(record, params, form);
    }).catch(function (error) {      // a listener of djust:updated / djust:error threw
      console.warn("djust: " + error);
    }).finally(function () {
      djust.pending -= 1;
    });
    queue = sent;
    return sent;
  }

  // -- dj-debounce / dj-throttle -------------------------------------------
  // dj-debounce="300": the event is sent 300 ms after the last input, with
  // the value then; "blur": when the field loses focus. dj-throttle="500":
  // at once, then at most once per 500 ms, the last value at the end.
  // dj-input waits DEFAULT_DEBOUNCE ms unless told otherwise. Any other event
  // (a click, a submit, a key) sends the waiting ones first.
  var waiting = [];                     // {element, fire, timer}

  function flush() {
    waiting.splice(0).forEach(function (entry) {
      clearTimeout(entry.timer);
      entry.fire();
    });
  }

  function forget(element) {
    waiting = waiting.filter(function (entry) {
      if (entry.element !== element) { return true; }
      clearTimeout(entry.timer);
      return false;
    });
  }

  function limited(element, defaultDebounce, fire) {
    var throttle = element.getAttribute("dj-throttle");
    var debounce = element.getAttribute("dj-debounce");
    if (throttle !== null && debounce === null) {
      var now = Date.now(), last = element[THROTTLED] || 0, ms = parseInt(throttle, 10) || 0;
      if (now - last >= ms && !waiting.some(function (entry) { return entry.element === element; })) {
        element[THROTTLED] = now;
        fire();
        return;
      }
      if (waiting.some(function (entry) { return entry.element === element; })) {
        waiting.forEach(function (entry) { if (entry.element === element) { entry.fire = fire; } });
        return;
      }
      var entry = {element: element, fire: fire};
      entry.timer = setTimeout(function () {
        waiting.splice(waiting.indexOf(entry), 1);
        element[THROTTLED] = Date.now();
        entry.fire();
      }, Math.max(0, ms - (now - last)));
      waiting.push(entry);
      return;
    }
    if (debounce === null) { debounce = defaultDebounce; }
    forget(element);
    if (debounce === "blur") {
      waiting.push({element: element, fire: fire, timer: null});
      return;
    }
    var wait = parseInt(debounce, 10) || 0;
    if (wait <= 0) { fire(); return; }
    var later = {element: element, fire: fire};
    later.timer = setTimeout(function () {
      waiting.splice(waiting.indexOf(later), 1);
      fire();
    }, wait);
    waiting.push(later);
  }

  // The event's name and the element it is on, if it is in the root.
  function trigger(event, attribute) {
    var target = event.target && event.target.closest ? event.target.closest("[" + attribute + "]") : null;
    return target && root.contains(target) ? target : null;
  }

  function keyMatches(element, key) {
    var filter = element.getAttribute("dj-key-filter");
    if (filter === null || !filter.trim()) { return true; }
    return filter.trim().split(/\s+/).some(function (wanted) {
      return wanted.toLowerCase() === String(key).toLowerCase() ||
             (wanted === "Space" && key === " ");
    });
  }

  function keyParams(element, event) {
    var params = dataParams(element);
    params.key = event.key;
    if (hasValue(element)) { params.value = valueOf(element); }
    return params;
  }

  remember(root);

  root.addEventListener("click", function (event) {
    var target = trigger(event, "dj-click");
    if (!target) { return; }
    event.preventDefault();
    flush();
    send(target.getAttribute("dj-click"), dataParams(target), [target]);
  });

  root.addEventListener("submit", function (event) {
    var form = event.target.closest("form[dj-submit]");
    if (!form) { return; }
    event.preventDefault();
    flush();
    var params = valueParams(form);     // not its data-*, as before
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrfmiddlewaretoken") { params[key] = value; }
    });
    var submitter = event.submitter && event.submitter.hasAttribute("dj-disable-with") ? event.submitter : null;
    send(form.getAttribute("dj-submit"), params, [form, submitter], form);
  });

  root.addEventListener("change", function (event) {
    var target = trigger(event, "dj-change");
    if (!target) { return; }
    var params = dataParams(target);
    params.value = valueOf(target);
    flush();
    send(target.getAttribute("dj-change"), params, [target]);
  });

  root.addEventListener("input", function (event) {
    var target = event.target;
    if (!target.hasAttribute || !target.hasAttribute("dj-input")) { return; }
    limited(target, DEFAULT_DEBOUNCE, function () {
      send(target.getAttribute("dj-input"), withValue(target), [target]);
    });
  });

  root.addEventListener("keydown", function (event) {
    if (event.isComposing) { return; }
    var target = trigger(event, "dj-keydown");
    if (!target || !keyMatches(target, event.key)) { return; }
    var params = keyParams(target, event);
    limited(target, "0", function () {
      flush();
      send(target.getAttribute("dj-keydown"), params, [target]);
    });
  });

  window.addEventListener("keydown", function (event) {
    if (event.isComposing) { return; }
    root.querySelectorAll("[dj-window-keydown]").forEach(function (element) {
      if (!keyMatches(element, event.key)) { return; }
      var params = keyParams(element, event);
      flush();
      send(element.getAttribute("dj-window-keydown"), params, [element]);
    });
  });

  // focus and blur do not bubble; focusin and focusout do. Only the element
  // that has the attribute itself counts, not its descendants.
  root.addEventListener("focusin", function (event) {
    var target = event.target;
    if (!target.hasAttribute || !target.hasAttribute("dj-focus")) { return; }
    flush();
    send(target.getAttribute("dj-focus"), withValue(target), [target]);
  });

  root.addEventListener("focusout", function (event) {
    var target = event.target;
    if (!target.hasAttribute) { return; }
    flush();                            // dj-debounce="blur" among them
    if (target.hasAttribute("dj-blur")) {
      send(target.getAttribute("dj-blur"), withValue(target), [target]);
    }
  });
})();
