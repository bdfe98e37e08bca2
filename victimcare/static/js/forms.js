/* Warn before leaving a page whose form holds changes that were not saved (issue 6).
 *
 * Pages work without this script; it only adds the browser's "leave this page?" question.
 * Watched: forms that post, except button-only ones (class "inline": a log-out or accept button),
 * forms with data-unsaved="ignore", and sign-in steps (a password or one-time code: nothing to lose).
 * Search and filter forms (method GET) are never watched. Submitting a form ends its watch, and so
 * does following a link inside it (its Cancel or Back link: leaving is what the user asked for).
 * A form the server has shown again with a message in it (a field's error, the possible duplicates:
 * class "has-error" or role "alert") holds input that was not saved: it counts as changed even
 * before the user types again.
 */
(function () {
  "use strict";

  function watched(form) {
    return (form.getAttribute("method") || "get").toLowerCase() === "post" &&
      !form.classList.contains("inline") &&
      form.getAttribute("data-unsaved") !== "ignore" &&
      !form.querySelector('input[type="password"], input[autocomplete="one-time-code"]');
  }

  function defaultIndex(select) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].defaultSelected) { return i; }
    }
    return select.multiple ? -1 : 0;
  }

  function changed(element) {
    var type = element.type;
    if (type === "hidden" || type === "submit" || type === "button" || type === "reset" || element.disabled) {
      return false;
    }
    if (type === "checkbox" || type === "radio") { return element.checked !== element.defaultChecked; }
    if (type === "file") { return element.files !== null && element.files.length > 0; }
    if (element.tagName === "SELECT") {
      if (element.multiple) {
        return Array.prototype.some.call(element.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      return element.selectedIndex !== defaultIndex(element);
    }
    return typeof element.value === "string" && element.value !== element.defaultValue;
  }

  function unsaved(form) {
    if (!watched(form) || form.hasAttribute("data-submitted")) { return false; }
    return form.querySelector('.has-error, [role="alert"]') !== null ||
      Array.prototype.some.call(form.elements, changed);
  }

  document.addEventListener("submit", function (event) {
    if (!event.defaultPrevented && event.target instanceof HTMLFormElement) {
      event.target.setAttribute("data-submitted", "");
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    var form = link ? link.closest("form") : null;
    if (form && !link.target) { form.setAttribute("data-submitted", ""); }
  });

  // Back from the browser's page cache: the form is on screen again and can be sent again.
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.forms, function (form) { form.removeAttribute("data-submitted"); });
  });

  window.addEventListener("beforeunload", function (event) {
    if (Array.prototype.some.call(document.forms, unsaved)) {
      event.preventDefault();
      event.returnValue = "";  // Chromium before 119 shows the question only with this set
    }
  });
}());
