// TC strings written and read by the IAB's own library (@iabtechlabtcf/core), for the
// gateway's decoder tests.
//   node tcf_strings.js encode GVL.json SEED COUNT   random consents, encoded, then decoded
//   node tcf_strings.js decode < strings.json         each string decoded, or its error
//   node tcf_strings.js purposes GVL.json 1,7,8       a string made now, those purposes consented
// Both print JSON: a list of {string, fields} (fields null and error set when the library
// refuses the string). Vendor sets are sorted id lists; dates are milliseconds.
"use strict";
const fs = require("fs");
const { GVL, TCModel, TCString, PurposeRestriction } = require("@iabtechlabtcf/core");

function random(seed) {
  // mulberry32: the same consents for the same seed, on any Node
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ids(vector) {
  const out = [];
  vector.forEach((on, id) => {
    if (on) out.push(id);
  });
  return out;
}

function fields(model, segments) {
  return {
    version: model.version,
    created: model.created.getTime(),
    lastUpdated: model.lastUpdated.getTime(),
    cmpId: model.cmpId,
    cmpVersion: model.cmpVersion,
    consentScreen: model.consentScreen,
    consentLanguage: model.consentLanguage,
    vendorListVersion: model.vendorListVersion,
    policyVersion: model.policyVersion,
    isServiceSpecific: model.isServiceSpecific,
    useNonStandardTexts: model.useNonStandardTexts,
    specialFeatureOptins: ids(model.specialFeatureOptins),
    purposeConsents: ids(model.purposeConsents),
    purposeLegitimateInterests: ids(model.purposeLegitimateInterests),
    purposeOneTreatment: model.purposeOneTreatment,
    publisherCountryCode: model.publisherCountryCode,
    vendorConsents: ids(model.vendorConsents),
    vendorLegitimateInterests: ids(model.vendorLegitimateInterests),
    publisherRestrictions: model.publisherRestrictions.getRestrictions().map((r) => ({
      purposeId: r.purposeId,
      restrictionType: r.restrictionType,
      vendors: model.publisherRestrictions.getVendors(r),
    })),
    segments,
    vendorsDisclosed: ids(model.vendorsDisclosed),
    vendorsAllowed: ids(model.vendorsAllowed),
    publisherConsents: ids(model.publisherConsents),
    publisherLegitimateInterests: ids(model.publisherLegitimateInterests),
    numCustomPurposes: model.numCustomPurposes,
    publisherCustomConsents: ids(model.publisherCustomConsents),
    publisherCustomLegitimateInterests: ids(model.publisherCustomLegitimateInterests),
  };
}

function segmentTypes(string) {
  // the first three bits of each segment after the core: 1 disclosed, 2 allowed, 3 publisher
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  return string.split(".").slice(1).map((s) => alphabet.indexOf(s[0]) >> 3);
}

function decode(string) {
  try {
    return { string, fields: fields(TCString.decode(string), segmentTypes(string)) };
  } catch (error) {
    return { string, fields: null, error: String(error && error.message) };
  }
}

function pick(next, values, chance) {
  return values.filter(() => next() < chance);
}

function range(from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function consent(gvl, next, index) {
  const model = new TCModel(gvl);
  const vendorIds = Object.keys(gvl.vendors).map(Number);
  model.cmpId = 2 + Math.floor(next() * 4000);
  model.cmpVersion = Math.floor(next() * 4096);
  model.consentScreen = Math.floor(next() * 64);
  model.isServiceSpecific = next() < 0.5;
  model.useNonStandardTexts = next() < 0.3;
  model.purposeOneTreatment = next() < 0.2;
  model.publisherCountryCode = String.fromCharCode(65 + Math.floor(next() * 26), 65 + Math.floor(next() * 26));
  const day = Date.UTC(2024, 0, 1) + Math.floor(next() * 1000) * 86400000; // 2024 to 2026-09
  model.created = new Date(day + Math.floor(next() * 86400) * 1000);
  model.lastUpdated = new Date(model.created.getTime() + Math.floor(next() * 8640000) * 100);
  const chance = [0.05, 0.5, 0.95][index % 3]; // sparse, mixed, dense: ranges or bit fields
  model.purposeConsents.set(pick(next, range(1, 11), next()));
  model.purposeLegitimateInterests.set(pick(next, range(2, 11), next()));
  model.specialFeatureOptins.set(pick(next, [1, 2], 0.5));
  if (index % 5 === 0) {
    // long runs: the encoder's range encoding at its best
    const start = Math.floor(next() * 500) + 1;
    model.vendorConsents.set(vendorIds.filter((id) => id >= start && id < start + 400));
  } else {
    model.vendorConsents.set(pick(next, vendorIds, chance));
  }
  model.vendorLegitimateInterests.set(pick(next, vendorIds, chance));
  const restricted = pick(next, vendorIds, index % 4 === 0 ? 0 : 0.1);
  for (const id of restricted) {
    const vendor = gvl.vendors[id];
    for (const purpose of vendor.flexiblePurposes) {
      if (next() < 0.5) {
        model.publisherRestrictions.add(id, new PurposeRestriction(purpose, Math.floor(next() * 3)));
      }
    }
  }
  model.vendorsDisclosed.set(pick(next, vendorIds, [0.1, 0.7, 1][index % 3]));
  model.publisherConsents.set(pick(next, range(1, 11), 0.5));
  model.publisherLegitimateInterests.set(pick(next, range(2, 11), 0.3));
  const custom = Math.floor(next() * 12);
  model.publisherCustomConsents.set(pick(next, range(1, custom), 0.5));
  model.publisherCustomLegitimateInterests.set(pick(next, range(1, custom), 0.5));
  if (custom > 0) model.numCustomPurposes = custom;
  // TCF 2.3: from 2026-03-01 every string carries the disclosed vendors
  const late = model.created.getTime() >= Date.UTC(2026, 2, 1);
  const segments = ["core"];
  if (late || index % 7 !== 0) segments.push("vendorsDisclosed");
  if (index % 2 === 0) segments.push("publisherTC");
  return TCString.encode(model, { segments });
}

function main() {
  const [mode, gvlPath, seed, count] = process.argv.slice(2);
  let out;
  if (mode === "encode") {
    const gvl = new GVL(JSON.parse(fs.readFileSync(gvlPath, "utf8")));
    const next = random(Number(seed));
    out = range(0, Number(count) - 1).map((i) => decode(consent(gvl, next, i)));
  } else if (mode === "purposes") {
    // as a CMP writes it today: every vendor consented, all disclosed (TCF 2.3)
    const gvl = new GVL(JSON.parse(fs.readFileSync(gvlPath, "utf8")));
    const model = new TCModel(gvl);
    model.cmpId = 300;
    model.cmpVersion = 1;
    model.purposeConsents.set(seed ? seed.split(",").map(Number) : []);
    const vendorIds = Object.keys(gvl.vendors).map(Number);
    model.vendorConsents.set(vendorIds);
    model.vendorsDisclosed.set(vendorIds);
    out = [decode(TCString.encode(model, { segments: ["core", "vendorsDisclosed"] }))];
  } else if (mode === "decode") {
    out = JSON.parse(fs.readFileSync(0, "utf8")).map(decode);
  } else {
    throw new Error("usage: tcf_strings.js encode GVL SEED COUNT | purposes GVL IDS | decode < strings.json");
  }
  process.stdout.write(JSON.stringify(out));
}

main();
