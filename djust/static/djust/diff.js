/* djust: rebuild a page's new inner HTML from the last one and a patch.
 *
 * The browser side of djust/diff.py (read its docstring for the format):
 * window.djustDiff.apply(oldText, patch) returns exactly what
 * djust.diff.apply_diff(old, patch) returns, and throws an Error where it
 * raises ValueError. A patch is an array read left to right with a cursor
 * in oldText: a positive integer copies that many UTF-16 code units of
 * oldText, a negative one skips that many, a non-empty string is inserted;
 * what is left of oldText after the last item is dropped. A count past the
 * end of oldText or ending between the two halves of a surrogate pair, a
 * zero, an empty string, or an item of another type makes the patch
 * malformed: the client's last HTML is then not the server's, and the page
 * should ask for a full render.
 *
 * Plain ES2017, no dependencies.
 */
(function () {
  "use strict";

  function fail(message) {
    throw new Error("djustDiff: " + message);
  }

  function isHigh(code) {
    return code >= 0xd800 && code <= 0xdbff;
  }

  function isLow(code) {
    return code >= 0xdc00 && code <= 0xdfff;
  }

  function apply(oldText, patch) {
    if (typeof oldText !== "string") {
      fail("the old text is not a string");
    }
    if (!Array.isArray(patch)) {
      fail("a patch is an array");
    }
    const parts = [];
    let at = 0;
    for (let index = 0; index < patch.length; index++) {
      const op = patch[index];
      if (typeof op === "string") {
        if (op.length === 0) {
          fail("patch item " + index + " is an empty string");
        }
        parts.push(op);
        continue;
      }
      if (typeof op !== "number" || !Number.isSafeInteger(op) || op === 0) {
        fail("patch item " + index + " is not a non-zero integer or a string");
      }
      const end = at + Math.abs(op);
      if (end > oldText.length) {
        fail("patch item " + index + " goes past the end of the old text ("
             + oldText.length + " units)");
      }
      if (end < oldText.length && isHigh(oldText.charCodeAt(end - 1))
          && isLow(oldText.charCodeAt(end))) {
        fail("patch item " + index + " ends inside a character of the old text");
      }
      if (op > 0) {
        parts.push(oldText.slice(at, end));
      }
      at = end;
    }
    return parts.join("");
  }

  window.djustDiff = Object.freeze({apply: apply});
}());
