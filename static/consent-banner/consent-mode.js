/* consent-gateway: Google Consent Mode v2 defaults, before any Google tag runs.
 *
 * Loaded synchronously (no defer) right after <head>, so its "default" command is in the
 * dataLayer before gtag.js or Tag Manager read it. The gateway's tag carries the visitor's
 * state in data-state; the embed snippet's copy has none and defaults to denied, and
 * banner.js sends the update once it has fetched the state.
 *
 * Categories to the seven consent types: analytics -> analytics_storage; marketing ->
 * ad_storage, ad_user_data, ad_personalization; preferences -> functionality_storage,
 * personalization_storage; security_storage is always granted (essential).
 */
(function (w) {
  "use strict";
  function gtag() {
    (w.dataLayer = w.dataLayer || []).push(arguments);
  }
  function types(c) {
    var a = c.analytics ? "granted" : "denied";
    var m = c.marketing ? "granted" : "denied";
    var p = c.preferences ? "granted" : "denied";
    return {
      analytics_storage: a,
      ad_storage: m,
      ad_user_data: m,
      ad_personalization: m,
      functionality_storage: p,
      personalization_storage: p,
      security_storage: "granted"
    };
  }
  try {
    w.gtag = w.gtag || gtag;
    var s = {};
    try {
      s = JSON.parse(document.currentScript.getAttribute("data-state")) || {};
    } catch (e) {
      s = {};
    }
    var gpc = s.gpc || navigator.globalPrivacyControl === true;
    // The regime's defaults, as gateway/consent/jurisdiction.py default_grants() decides them.
    var open = s.regime === "opt-out" || s.regime === "notice";
    var first = types({ preferences: open, analytics: open, marketing: open && !gpc });
    first.wait_for_update = 500;
    gtag("consent", "default", first);
    if (s.decided && s.categories) gtag("consent", "update", types(s.categories));
    // banner.js calls this on every choice.
    w.consentGatewayConsentMode = function (categories) {
      gtag("consent", "update", types(categories));
    };
  } catch (e) {
    /* never break the page; without an update Google tags stay on "denied" */
  }
})(window);
