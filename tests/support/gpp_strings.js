// GPP strings written and read by the IAB's own library, @iabgpp/cmpapi (npm registry), for
// tests/support/gpp.py (the tests and benchmarks/bench_gpp.py). Run with NODE_PATH=tests/js/node_modules:
//   node gpp_strings.js generate SEED COUNT   COUNT random usnat/uspv1 choices, encoded by the
//                                             library's GppModel: one JSON line each,
//                                             {"string": ..., "library": <decoded>}
//   node gpp_strings.js decode                a JSON array of strings on stdin: a JSON array
//                                             of what the library decodes ({"error": ...} when
//                                             it refuses)
// The model classes work in Node without a browser window; CmpApi needs one.
"use strict";
const { GppModel, HeaderV1 } = require("@iabgpp/cmpapi");

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NOTICES = [
  "SharingNotice", "SaleOptOutNotice", "SharingOptOutNotice", "TargetedAdvertisingOptOutNotice",
  "SensitiveDataProcessingOptOutNotice", "SensitiveDataLimitUseNotice",
  "SaleOptOut", "SharingOptOut", "TargetedAdvertisingOptOut", "PersonalDataConsents",
  "MspaOptOutOptionMode", "MspaServiceProviderMode",
];

function randomString(random) {
  const pick = (n) => Math.floor(random() * n);
  const model = new GppModel();
  const kind = pick(6); // 0, 1: usnat; 2: uspv1; 3, 4: both; 5: both and sections not read
  if (kind !== 2) {
    const version = 1 + pick(2);
    model.setFieldValue("usnat", "Version", version);
    for (const field of NOTICES) model.setFieldValue("usnat", field, pick(3));
    model.setFieldValue("usnat", "MspaCoveredTransaction", 1 + pick(2));
    const sensitive = Array.from({ length: version === 1 ? 12 : 16 }, () => pick(3));
    model.setFieldValue("usnat", "SensitiveDataProcessing", sensitive);
    const children = Array.from({ length: version === 1 ? 2 : 3 }, () => pick(3));
    model.setFieldValue("usnat", "KnownChildSensitiveDataConsents", children);
    model.setFieldValue("usnat", "GpcSegmentIncluded", pick(2) === 1);
    model.setFieldValue("usnat", "Gpc", pick(2) === 1);
  }
  if (kind >= 2) {
    const choice = () => "YN-"[pick(3)];
    model.setFieldValue("uspv1", "Notice", choice());
    model.setFieldValue("uspv1", "OptOutSale", choice());
    model.setFieldValue("uspv1", "LspaCovered", choice());
  }
  if (kind === 5) {
    model.setFieldValue("usca", "SaleOptOut", 1 + pick(2));
    model.setFieldValue("usco", "SaleOptOut", 1 + pick(2));
  }
  let string = model.encode();
  if (kind === 5 && pick(2) === 1) {
    // A section id no library knows (30), after the others: the header written by the
    // library's own HeaderV1, the section's text arbitrary base64url.
    const [, ...sections] = string.split("~");
    const header = new HeaderV1();
    header.setFieldValue("SectionIds", [...new GppModel(string).getSectionIds(), 30]);
    string = [header.encode(), ...sections, "Zm9vYmFy"].join("~");
  }
  return string;
}

function decode(string) {
  // The library reads a string that does not start with a GPP header ("DB": type 3, version
  // 1) as a TCF v2 TC string, or as nothing when it is empty: not a GPP string either way.
  if (!string.startsWith("DB")) return { error: "not a GPP string" };
  try {
    const model = new GppModel(string);
    const header = string.split("~")[0];
    const result = { sectionIds: new HeaderV1(header).getFieldValue("SectionIds") };
    // Read every field now: the library decodes lazily, and throws on the first read.
    if (model.hasSection("usnat")) {
      result.usnat = model.getSection("usnat");
      result.usnat.GpcSegmentIncluded = model.getFieldValue("usnat", "GpcSegmentIncluded");
    }
    if (model.hasSection("uspv1")) result.uspv1 = model.getSection("uspv1");
    return result;
  } catch (error) {
    return { error: String(error && error.message ? error.message : error) };
  }
}

const [mode, seed, count] = process.argv.slice(2);
if (mode === "generate") {
  const random = mulberry32(Number(seed));
  const lines = [];
  for (let i = 0; i < Number(count); i++) {
    const string = randomString(random);
    lines.push(JSON.stringify({ string, library: decode(string) }));
  }
  process.stdout.write(lines.join("\n") + "\n");
} else if (mode === "decode") {
  let input = "";
  process.stdin.on("data", (chunk) => (input += chunk));
  process.stdin.on("end", () => {
    process.stdout.write(JSON.stringify(JSON.parse(input).map(decode)));
  });
} else {
  process.stderr.write("usage: node gpp_strings.js generate SEED COUNT | decode\n");
  process.exit(2);
}
