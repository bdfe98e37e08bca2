/* The place-of-origin picker (templates/_macros/region.html) with JavaScript: choosing a province
 * fills the city list, choosing a city fills the county list, from the app's own division table
 * (GET /regions/children?parent=<code>). The "choose" buttons that do this without JavaScript are
 * hidden. The server checks the chosen levels again on saving.
 */
(function () {
  "use strict";

  function levels(picker) {
    return ["origin_province", "origin_city", "origin_county"].map(function (name) {
      return picker.querySelector('select[data-region-level="' + name + '"]');
    });
  }

  function clear(select) {
    while (select.options.length > 1) {  // the first option is the blank "—"
      select.remove(1);
    }
    select.value = "";
  }

  function fill(select, children) {
    children.forEach(function (division) {
      var option = document.createElement("option");
      option.value = division.code;
      option.textContent = division.name;
      select.appendChild(option);
    });
  }

  function load(url, parent, select) {
    select.setAttribute("aria-busy", "true");
    return fetch(url + "?parent=" + encodeURIComponent(parent), {credentials: "same-origin",
                                                                  headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) {
          throw new Error("regions: " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        clear(select);
        fill(select, data.children);
      })
      .finally(function () {
        select.removeAttribute("aria-busy");
      });
  }

  function init(picker) {
    var url = picker.getAttribute("data-region-url");
    var lists = levels(picker);
    if (!url || lists.indexOf(null) !== -1 || !window.fetch) {
      return;  // the buttons stay: the page works as without JavaScript
    }
    picker.querySelectorAll(".region-choose").forEach(function (button) {
      button.hidden = true;
    });
    [0, 1].forEach(function (index) {
      lists[index].addEventListener("change", function () {
        lists.slice(index + 1).forEach(clear);
        if (lists[index].value) {
          load(url, lists[index].value, lists[index + 1]).catch(function () {
            // Offline or signed out: show the buttons again, which work by posting the form.
            picker.querySelectorAll(".region-choose").forEach(function (button) {
              button.hidden = false;
            });
          });
        }
      });
    });
  }

  function start() {
    document.querySelectorAll("fieldset.region-picker").forEach(init);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
