/* consent-gateway: copies the choice Usercentrics (Browser UI v2) keeps in localStorage into
 * a first-party cookie the gateway reads (consent_source = ["usercentrics"]).
 * Put it on every page after the Usercentrics script. The cookie holds one boolean per
 * Usercentrics category: true when every service in that category is accepted.
 * The gateway enforces the choice from the next request on. */
(function () {
  "use strict";
  var NAME = "uc_consent";
  var DAYS = 365;

  function copy() {
    var ui = window.UC_UI;
    if (!ui || typeof ui.getServicesBaseInfo !== "function") return;
    if (typeof ui.isConsentRequired === "function" && ui.isConsentRequired()) return;
    var categories = {};
    ui.getServicesBaseInfo().forEach(function (service) {
      var slug = service.categorySlug;
      var granted = !!(service.consent && service.consent.status);
      categories[slug] = (slug in categories ? categories[slug] : true) && granted;
    });
    var secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = NAME + "=" + encodeURIComponent(JSON.stringify(categories)) +
      "; Path=/; Max-Age=" + DAYS * 86400 + "; SameSite=Lax" + secure;
  }

  window.addEventListener("UC_UI_INITIALIZED", copy);
  window.addEventListener("UC_UI_CMP_EVENT", function () { setTimeout(copy, 0); });
  window.addEventListener("UC_UI_VIEW_CHANGED", copy);
  copy();
})();
