/* consent-gateway banner (static/consent-banner/README.md describes it).
 *
 * Served minified by the gateway, which writes the settings it needs into CONFIG. The
 * visitor's state comes from this script tag's data-state (tags the gateway inserted) or,
 * for the embed snippet on a page not behind the gateway, from GET <api>/state. Fails safe:
 * whatever goes wrong, nothing more is granted than the gateway said, and without a known
 * state nothing at all; gated content stays inert.
 */
(function (w, d) {
  "use strict";
  if (w.consentGateway || !w.fetch || !w.Promise || !w.URL || !d.querySelector) return;

  // {l: languages, v: their version, c: css file, d: default language, p: policy URL, r: reopen}
  var C = "__CONFIG__";
  var CATS = ["essential", "preferences", "analytics", "marketing"];
  var OPTIONAL = CATS.slice(1);
  var GATED = 'script[type="text/plain"][data-consent],iframe[data-consent][data-src],' +
    "img[data-consent],object[data-consent],embed[data-consent]";
  var me = d.currentScript || d.querySelector("script[data-api]");
  var state = { decided: false, categories: {} }; // fail safe: only essential
  var listeners = [];
  var ran = {}; // categories whose gated content ran on this page
  var chain = Promise.resolve(); // gated scripts run one after the other, in page order
  var api, T, root, bar, dlg, reopen, opener, pad, busy, wantOpen, declared, lang;

  function warn(e) {
    if (w.console) console.warn("consent-gateway:", e);
  }
  function gpc() {
    return state.gpc === true || navigator.globalPrivacyControl === true;
  }
  function allows(c) {
    if (c === "essential") return true;
    // A GPC signal the server did not see still refuses marketing until the visitor chooses.
    if (c === "marketing" && gpc() && !state.decided) return false;
    return !!state.categories && state.categories[c] === true;
  }
  function get() {
    var c = {};
    CATS.forEach(function (k) {
      c[k] = allows(k);
    });
    return {
      decided: state.decided === true,
      regime: state.regime || null,
      source: state.source || null,
      gpc: gpc(),
      categories: c
    };
  }
  function summary() {
    var s = get();
    return JSON.stringify([s.decided, s.categories]);
  }

  function emit() {
    var s = get();
    listeners.slice().forEach(function (fn) {
      try {
        fn(s);
      } catch (e) {
        warn(e);
      }
    });
    try {
      d.dispatchEvent(new CustomEvent("consent:change", { detail: s }));
      if (typeof w.consentGatewayConsentMode === "function") {
        w.consentGatewayConsentMode(s.categories);
      }
    } catch (e) {
      warn(e);
    }
  }

  // A state from the gateway: activate what it grants, and reload when something that already
  // ran on this page is withdrawn (a running script cannot be stopped any other way).
  function apply(next) {
    var before = summary();
    if (next && typeof next.categories === "object") state = next;
    for (var k in ran) {
      if (!allows(k)) {
        location.reload();
        return;
      }
    }
    gate(d);
    render();
    if (summary() !== before) emit();
  }

  // Every choice says where it was given (the record of it keeps that): the UI layer
  // ("banner", "preferences", or "api" for the JS API), the page's path, the language shown.
  function send(method, body, layer) {
    if (busy) return Promise.reject(new Error("a choice is being saved"));
    busy = true;
    error("");
    body = body || {};
    body.layer = layer || "api";
    body.path = location.pathname.slice(0, 1024);
    if (lang) body.language = lang;
    var init = {
      method: method,
      credentials: "include",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    };
    return fetch(api + "/state", init)
      .then(function (r) {
        if (!r.ok) throw new Error("the consent API answered " + r.status);
        return r.json();
      })
      .then(
        function (next) {
          busy = false;
          apply(next);
          say(T && T.saved);
          return get();
        },
        function (e) {
          busy = false;
          error(T && T.error);
          throw e;
        }
      );
  }
  function set(choices, layer) {
    choices = choices || {};
    var c = {};
    for (var k in choices) {
      if (CATS.indexOf(k) < 0) return Promise.reject(new Error("unknown category " + k));
    }
    OPTIONAL.forEach(function (k) {
      c[k] = k in choices ? choices[k] === true : allows(k);
    });
    return send("POST", { categories: c }, layer);
  }
  function acceptAll(layer) {
    // With GPC, "all" stops short of marketing: only its own switch turns that on.
    return send("POST", gpc() ? { all: true, gpc: true } : { all: true }, layer);
  }
  function rejectAll(layer) {
    return state.decided ? send("DELETE", null, layer) : send("POST", { all: false }, layer);
  }

  // Gated content: <script type="text/plain" data-consent="analytics" [src]>,
  // <iframe data-consent=... data-src=...>, <img data-consent=... data-src data-srcset>,
  // <embed data-consent=... data-src=...>, <object data-consent=... data-data=...>.
  function needs(el) {
    return (el.getAttribute("data-consent") || "").trim().split(/\s+/);
  }
  function gate(node) {
    var found = [].slice.call(node.querySelectorAll ? node.querySelectorAll(GATED) : []);
    if (node.matches && node.matches(GATED)) found.unshift(node);
    found.forEach(function (el) {
      if (el.cgDone) return;
      if (needs(el).every(allows)) {
        el.cgDone = true;
        activate(el);
      } else if (el.localName === "iframe") {
        hold(el);
      }
    });
  }
  function activate(el) {
    needs(el).forEach(function (k) {
      ran[k] = true;
    });
    if (el.localName === "script") {
      chain = chain
        .then(function () {
          return run(el);
        })
        .catch(warn); // one broken script must not hold back the ones after it
    } else if (el.localName === "iframe") {
      load(el);
    } else {
      move(el, "srcset");
      move(el, "src");
      move(el, "data");
    }
  }
  function move(el, name) {
    var value = el.getAttribute("data-" + name);
    if (value !== null) {
      el.removeAttribute("data-" + name);
      el.setAttribute(name, value);
    }
  }
  function run(el) {
    return new Promise(function (done) {
      var s = d.createElement("script");
      var src = el.getAttribute("src") || el.getAttribute("data-src");
      each(el.attributes, function (a) {
        if (!/^(type|data-type|src|data-src|nonce)$/.test(a.name)) s.setAttribute(a.name, a.value);
      });
      if (el.getAttribute("data-type")) s.type = el.getAttribute("data-type");
      if (el.nonce) s.nonce = el.nonce;
      if (src) {
        s.onload = s.onerror = done;
        if (!el.hasAttribute("async")) s.async = false;
        s.src = src;
      } else {
        s.text = el.text;
      }
      if (el.parentNode) el.parentNode.replaceChild(s, el);
      if (!src || !s.parentNode) done();
    });
  }
  function load(f) {
    if (f.cgHeld) {
      f.removeAttribute("srcdoc");
      if (f.cgSandbox !== undefined) f.setAttribute("sandbox", f.cgSandbox);
    }
    move(f, "src");
  }
  // The click-to-load placeholder lives in the iframe's own box (srcdoc), so it takes the
  // iframe's size and nothing moves when it appears or goes.
  function hold(f) {
    if (f.cgHeld || !T) return;
    f.cgHeld = true;
    if (f.hasAttribute("sandbox")) {
      f.cgSandbox = f.getAttribute("sandbox");
      f.removeAttribute("sandbox"); // the buttons must be reachable from this page
    }
    var missing = needs(f).filter(function (k) {
      return !allows(k);
    });
    var label = missing
      .map(function (k) {
        return T[k] || k;
      })
      .join(", ");
    var host = "";
    try {
      host = new URL(f.getAttribute("data-src"), location.href).hostname;
    } catch (e) {
      host = "?";
    }
    f.addEventListener("load", function () {
      var doc;
      try {
        doc = f.contentDocument;
      } catch (e) {
        return;
      }
      if (!doc || !f.hasAttribute("srcdoc")) return;
      doc.addEventListener("click", function (e) {
        var b = e.target.closest && e.target.closest("[data-a]");
        if (!b) return;
        if (b.getAttribute("data-a") === "load") {
          f.cgDone = true;
          activate(f);
        } else {
          var c = {};
          missing.forEach(function (k) {
            c[k] = true;
          });
          set(c, "banner").catch(warn);
        }
      });
    });
    f.srcdoc =
      '<!doctype html><html lang="' + esc(T.lang) + '" dir="' + esc(T.dir) + '">' +
      '<meta charset="utf-8"><title>' + esc(f.title || host) + "</title>" +
      '<link rel="stylesheet" href="' + esc(cssUrl()) + '">' +
      '<body class="cg cg-ph"><p>' + esc(fill(T.blocked, { host: host, category: label })) +
      '</p><p class="cg-btns"><button type="button" class="cg-btn" data-a="load">' +
      esc(T.load) + '</button><button type="button" class="cg-btn" data-a="allow">' +
      esc(fill(T.allow, { category: label })) + "</button></p>";
  }

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return "&#" + c.charCodeAt(0) + ";";
    });
  }
  function fill(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (m, k) {
      return k in values ? values[k] : m;
    });
  }
  function cssUrl() {
    return api + "/" + C.c;
  }
  function locale(lang) {
    return api + "/locales/" + lang + "." + C.v + ".json";
  }
  function each(list, fn) {
    [].forEach.call(list, fn);
  }

  // The banner: a first layer (region) for an undecided visitor, the preferences dialog,
  // and the "Privacy choices" control that re-opens it.
  function h(tag, props, kids) {
    var el = d.createElement(tag);
    for (var k in props) {
      var v = props[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    (kids || []).forEach(function (kid) {
      if (kid) el.appendChild(typeof kid === "string" ? d.createTextNode(kid) : kid);
    });
    return el;
  }
  function button(action, text) {
    var b = h("button", { type: "button", class: "cg-btn", "data-a": action, text: text });
    if (action === "customize" || action === "open") b.setAttribute("aria-haspopup", "dialog");
    return b;
  }
  function intro(text) {
    var link = C.p ? h("a", { href: C.p, text: T.policy }) : null;
    return h("p", {}, [text + (link ? " " : ""), link]);
  }
  function notes() {
    return [gpc() ? h("p", { class: "cg-gpc", text: T.gpc }) : null,
      h("p", { class: "cg-err", role: "alert" })];
  }
  function category(k) {
    var essential = k === "essential";
    return h("li", { class: "cg-cat" }, [
      h("div", { class: "cg-row" }, [
        h("label", { for: "cg-c-" + k, class: "cg-name", text: T[k] }),
        essential ? h("span", { class: "cg-on", text: T.always_on }) : null,
        h("input", {
          type: "checkbox", role: "switch", id: "cg-c-" + k, class: "cg-sw", "data-c": k,
          "aria-describedby": "cg-d-" + k, checked: essential, disabled: essential
        })
      ]),
      h("p", { id: "cg-d-" + k, text: T[k + "_text"] }),
      h("div", { "data-k": k })
    ]);
  }
  function build() {
    if (!d.body || root) return;
    bar = h("section", { class: "cg-bar", "aria-labelledby": "cg-t" }, [
      h("h2", { id: "cg-t", class: "cg-h", text: T.title }),
      intro(T.text)
    ].concat(notes(), [h("div", { class: "cg-btns" }, [
      button("accept", T.accept), button("reject", T.reject), button("customize", T.customize)
    ])]));
    dlg = h("dialog", { class: "cg-dlg", "aria-labelledby": "cg-dt" }, [
      h("div", { class: "cg-row" }, [
        h("h2", { id: "cg-dt", class: "cg-h", text: T.prefs_title }),
        h("button", { type: "button", class: "cg-x", "data-a": "close", "aria-label": T.close,
          text: "\u00d7" })
      ]),
      intro(T.prefs_text),
      h("ul", { class: "cg-cats" }, CATS.map(category)),
      T.record_id && T.records ? h("p", { class: "cg-rec", hidden: true }, [
        T.record_id + " ", h("code", {}), " ",
        h("a", { href: api + "/records", text: T.records })
      ]) : null
    ].concat(notes(), [h("div", { class: "cg-btns" }, [
      button("save", T.save), button("accept", T.accept), button("reject", T.reject)
    ])]));
    reopen = C.r === false ? null : button("open", T.reopen);
    if (reopen) reopen.className += " cg-reopen";
    root = h("div", { id: "cg", class: "cg", lang: T.lang, dir: T.dir, hidden: true }, [
      bar, reopen, dlg, h("p", { class: "cg-sr", role: "status" })
    ]);
    root.addEventListener("click", onClick);
    dlg.addEventListener("keydown", trap);
    dlg.addEventListener("close", restoreFocus);
    d.addEventListener("focusin", unobscure);
    d.body.insertBefore(root, d.body.firstChild);
    // Shown only once banner.css applies: an unstyled banner would push the page around.
    var link = stylesheet();
    if (getComputedStyle(root).position === "fixed") reveal();
    else link.addEventListener("load", reveal);
  }
  function reveal() {
    if (!root.hidden) return;
    root.hidden = false;
    render();
    gate(d); // placeholders need the texts
    w.addEventListener("resize", function () {
      padding(!bar.hidden);
    });
    if (wantOpen) open();
  }
  function stylesheet() {
    var found = d.querySelector('link[rel="stylesheet"][href$="' + C.c.split("/").pop() + '"]');
    if (found) return found;
    var link = h("link", { rel: "stylesheet", href: cssUrl() });
    d.head.insertBefore(link, d.head.firstChild); // first, so the site's own rules win
    return link;
  }
  function render() {
    if (!root || root.hidden) return;
    bar.hidden = state.decided === true;
    if (reopen) reopen.hidden = !bar.hidden;
    padding(!bar.hidden);
  }
  // WCAG 2.4.11 Focus Not Obscured: while the first layer is shown, focused page elements
  // scroll clear of it (scroll-padding); one it still covers (at the very end of the page,
  // which cannot scroll further) sends the bar, or the re-open control, to the other edge.
  function padding(on) {
    var style = d.documentElement.style;
    var top = bar.classList.contains("cg-top");
    if (on && pad === undefined) pad = [style.scrollPaddingTop, style.scrollPaddingBottom];
    if (pad === undefined) return;
    style.scrollPaddingTop = on && top ? bar.offsetHeight + "px" : pad[0];
    style.scrollPaddingBottom = on && !top ? bar.offsetHeight + "px" : pad[1];
    if (!on) pad = undefined;
  }
  function unobscure(e) {
    var target = e.target;
    if (!root || root.hidden || root.contains(target) || !target.getBoundingClientRect) return;
    requestAnimationFrame(function () {
      var box = bar.hidden ? reopen : bar;
      if (!box || box.hidden) return;
      var t = target.getBoundingClientRect();
      var b = box.getBoundingClientRect();
      if (t.top < b.bottom && t.bottom > b.top && t.left < b.right && t.right > b.left) {
        box.classList.toggle("cg-top");
        padding(!bar.hidden);
      }
    });
  }
  function say(text) {
    if (root && text) root.querySelector(".cg-sr").textContent = text;
  }
  function error(text) {
    if (root) {
      each(root.querySelectorAll(".cg-err"), function (p) {
        p.textContent = text || "";
      });
    }
  }

  function onClick(e) {
    var b = e.target.closest && e.target.closest("[data-a]");
    if (!b) return;
    var action = b.getAttribute("data-a");
    var fromBar = bar.contains(b);
    var layer = fromBar ? "banner" : "preferences";
    var done;
    if (action === "customize" || action === "open") return open();
    if (action === "close") return close();
    if (action === "accept") done = acceptAll(layer);
    else if (action === "reject") done = rejectAll(layer);
    else if (action === "save") {
      var c = {};
      each(dlg.querySelectorAll("input[data-c]:not([disabled])"), function (i) {
        c[i.getAttribute("data-c")] = i.checked;
      });
      done = set(c, layer);
    }
    if (!done) return;
    done.then(function () {
      if (fromBar && reopen) reopen.focus(); // the pressed button is gone
      close();
    }, warn);
  }
  function open() {
    if (!root || root.hidden) {
      wantOpen = true;
      return;
    }
    wantOpen = false;
    if (dlg.hasAttribute("open")) return;
    opener = d.activeElement;
    error("");
    each(dlg.querySelectorAll("input[data-c]:not([disabled])"), function (i) {
      i.checked = allows(i.getAttribute("data-c"));
    });
    declaration();
    consentId();
    if (dlg.showModal) dlg.showModal();
    else dlg.setAttribute("open", "");
    focusable()[0].focus();
  }
  function close() {
    if (!dlg || !dlg.hasAttribute("open")) return;
    if (dlg.close) dlg.close();
    else {
      dlg.removeAttribute("open");
      restoreFocus();
    }
  }
  function restoreFocus() {
    var back = opener && d.contains(opener) && opener.getClientRects().length ? opener : reopen;
    if (back && back.getClientRects().length) back.focus();
  }
  function focusable() {
    return [].filter.call(
      dlg.querySelectorAll("button,a[href],input:not([disabled]),summary"),
      function (el) {
        return el.getClientRects().length > 0;
      }
    );
  }
  // Tab and Shift+Tab wrap around inside the dialog; Escape closes it (the dialog's own
  // "cancel" does that natively; this covers browsers without showModal too).
  function trap(e) {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
      return;
    }
    if (e.key !== "Tab") return;
    var items = focusable();
    var first = items[0];
    var last = items[items.length - 1];
    if (e.shiftKey && d.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && d.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  }
  function declaration() {
    if (declared) return;
    declared = fetch(api + "/declaration", { credentials: "omit" })
      .then(function (r) {
        if (!r.ok) throw new Error("no declaration: " + r.status);
        return r.json();
      })
      .then(function (listed) {
        each(dlg.querySelectorAll("[data-k]"), function (box) {
          var cookies = listed[box.getAttribute("data-k")] || [];
          box.appendChild(cookies.length ? cookieList(cookies) : h("p", { text: T.none }));
        });
      })
      .catch(function (e) {
        declared = null;
        warn(e);
      });
  }
  // The visitor's consent id, which they may quote to the site (and a link to their records):
  // the page's own state leaves it out, so it is asked for when the dialog opens.
  function consentId() {
    if (!dlg.querySelector(".cg-rec")) return;
    json(api + "/state", "include")
      .then(function (s) {
        var p = dlg.querySelector(".cg-rec");
        p.querySelector("code").textContent = s.consent_id || "";
        p.hidden = !s.consent_id;
      })
      .catch(warn);
  }
  function cookieList(cookies) {
    return h("details", { class: "cg-ck" }, [
      h("summary", { text: T.cookies + " (" + cookies.length + ")" }),
      h("ul", {}, cookies.map(function (c) {
        var name = h("dd", {}, [h("code", { text: c.name }), c.domain ? " (" + c.domain + ")" : ""]);
        return h("li", {}, [h("dl", {}, [
          h("dt", { text: T.name }), name,
          h("dt", { text: T.vendor }), h("dd", { text: c.vendor }),
          h("dt", { text: T.purpose }), h("dd", { text: c.purpose }),
          h("dt", { text: T.retention }), h("dd", { text: c.retention })
        ])]);
      }))
    ]);
  }

  function language() {
    var wanted = [d.documentElement.lang].concat(navigator.languages || [navigator.language]);
    for (var i = 0; i < wanted.length; i++) {
      var code = String(wanted[i] || "").toLowerCase().split("-")[0];
      if (C.l.indexOf(code) >= 0) return code;
    }
    return C.d;
  }
  function json(url, credentials) {
    return fetch(url, { credentials: credentials }).then(function (r) {
      if (!r.ok) throw new Error(url + " answered " + r.status);
      return r.json();
    });
  }
  function base() {
    var src = (me && me.src) || location.href;
    var given = me && me.getAttribute("data-api");
    if (given) return new URL(given, src).href.replace(/\/$/, "");
    return src.split(/[?#]/)[0].replace(/\/[^/]*$/, "");
  }

  w.consentGateway = {
    get: get,
    allows: function (c) {
      return allows(String(c));
    },
    open: function () {
      open();
    },
    acceptAll: function () {
      return acceptAll("api");
    },
    rejectAll: function () {
      return rejectAll("api");
    },
    set: function (choices) {
      return set(choices, "api");
    },
    on: function (type, fn) {
      if (type !== "change" || typeof fn !== "function") return function () {};
      listeners.push(fn);
      return function () {
        listeners = listeners.filter(function (x) {
          return x !== fn;
        });
      };
    }
  };

  try {
    api = base();
    var given = me && me.getAttribute("data-state");
    var known = Promise.resolve();
    if (given) {
      try {
        apply(JSON.parse(given));
      } catch (e) {
        warn(e);
      }
    } else {
      // The embed snippet: the state comes from the gateway, with its cookie.
      known = json(api + "/state", "include").then(apply);
    }
    if (w.MutationObserver) {
      new MutationObserver(function (records) {
        records.forEach(function (r) {
          each(r.addedNodes, function (n) {
            if (n.nodeType === 1 && !(root && root.contains(n))) gate(n);
          });
        });
      }).observe(d.documentElement, { childList: true, subtree: true });
    }
    d.addEventListener("click", function (e) {
      var t = e.target.closest && e.target.closest("[data-consent-open]");
      if (t) {
        e.preventDefault();
        open();
      }
    });
    lang = language();
    if (!given && d.head) stylesheet();
    var texts = json(locale(lang), "omit").catch(function () {
      return json(locale(C.d), "omit");
    });
    Promise.all([known, texts])
      .then(function (loaded) {
        T = loaded[1];
        if (d.body) build();
        else d.addEventListener("DOMContentLoaded", build);
      })
      .catch(warn);
  } catch (e) {
    warn(e);
  }
})(window, document);
