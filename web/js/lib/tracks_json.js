// The versioned tracks JSON ("levitor-tracks", versions 1 and 2) and the SAM points JSON
// ("levitor-points", version 1), read and written by the rules of the library's parsers
// (levitor/planning/tracks.py, levitor/perception/segmentation.py) and of the schemas in
// levitor/assets/schema/ (copied into ./contract.js). tests/contract/*.json holds the cases both
// runtimes pass. Where the editor differs from the library it says so below: an empty text, an
// empty track and an object without a positive point are states of an editor in use.

import { LIMITS, TRACKS_SCHEMA } from "./contract.js";

export const TRACKS_FORMAT = "levitor-tracks";
export const POINTS_FORMAT = "levitor-points";
export const FORMAT_VERSION = 1;
/** Written when a track has keyframes or an easing; versions 1 and 2 are read. */
export const TIMED_VERSION = 2;
export const TRACKS_VERSIONS = TRACKS_SCHEMA.$defs.document.properties.version.enum;
export const EASINGS = TRACKS_SCHEMA.$defs.easing.enum;
export const MAX_KEYFRAME = TRACKS_SCHEMA.$defs.frame.maximum;

const POINT_KEYS = ["x", "y", "depth", "frame"];
const TRACK_KEYS = ["name", "points", "easing"];
const DOC_KEYS = ["format", "version", "image_size", "tracks"];
const NEEDS = "[x, y, depth] or [x, y, depth, frame]";

/** A text that breaks its format; `kind` names the rule, as the library's FormatError does. */
export class FormatError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = "FormatError";
    this.kind = kind;
  }
}

function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

function show(v) {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function round(v, digits) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** `v` with `digits` significant digits (depths of near objects are small numbers). */
function significant(v, digits) {
  return v === 0 ? 0 : Number(v.toPrecision(digits));
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function unknownKeys(obj, allowed, where) {
  const extra = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (extra.length) throw new FormatError("unknown_key", `${where}: unknown key '${extra[0]}'; the keys are ${allowed.join(", ")}`);
}

function number(v, what) {
  if (!isNum(v)) throw new FormatError("number", `${what} must be a number, got ${show(v)}`);
  return v;
}

function inRange(v, bound, where, what) {
  if (!(v >= bound.min && v <= bound.max)) {
    throw new FormatError(`${what}_range`, `${where} has ${what} ${v}; a ${what} must be in ${bound.describe} (${bound.meaning})`);
  }
  return v;
}

function parseImageSize(v, where) {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length !== 2) throw new FormatError("image_size", `${where} image_size must be [width, height], got ${show(v)}`);
  const side = LIMITS.IMAGE_SIDE;
  v.forEach((n, i) => {
    if (!(Number.isInteger(n) && n >= side.min && n <= side.max)) {
      throw new FormatError("image_size", `${where} image_size ${i ? "height" : "width"} must be an integer in ${side.describe} (${side.meaning}), got ${show(n)}`);
    }
  });
  return [v[0], v[1]];
}

function parseInput(data, what) {
  if (typeof data !== "string") return data;
  const text = data.trim();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FormatError("json", `${what} is not valid JSON (${err.message})`);
  }
}

function parseFrame(v, where) {
  if (!(Number.isInteger(v) && v >= 0 && v <= MAX_KEYFRAME)) {
    throw new FormatError("frame", `${where} has frame ${show(v)}; a frame must be a whole number in [0, ${MAX_KEYFRAME}] (the frame the point is reached at)`);
  }
  return v;
}

/** `[x, y, depth]`, or `[x, y, depth, frame]` for a keyed point. */
function parsePoint(p, where) {
  if (isObject(p)) {
    unknownKeys(p, POINT_KEYS, where);
    if (!("x" in p) || !("y" in p) || !("depth" in p)) {
      throw new FormatError("point_shape", `${where}: a point object needs 'x', 'y' and 'depth' keys, got ${show(p)}`);
    }
    p = "frame" in p ? [p.x, p.y, p.depth, p.frame] : [p.x, p.y, p.depth];
  }
  if (!Array.isArray(p) || (p.length !== 3 && p.length !== 4)) throw new FormatError("point_shape", `${where}: a point must be ${NEEDS}, got ${show(p)}`);
  if (p[2] === null) throw new FormatError("point_shape", `${where}: the point has no depth; give ${NEEDS}`);
  const x = inRange(number(p[0], `${where} x`), LIMITS.TRACK_COORD, where, "coordinate");
  const y = inRange(number(p[1], `${where} y`), LIMITS.TRACK_COORD, where, "coordinate");
  const d = inRange(number(p[2], `${where} depth`), LIMITS.TRACK_DEPTH, where, "depth");
  return p.length === 4 ? [x, y, d, parseFrame(p[3], where)] : [x, y, d];
}

function parseTrack(t, where) {
  const track = {};
  let pts = t;
  if (isObject(t)) {
    if (!("points" in t) && "x" in t && "y" in t) {
      throw new FormatError("track_shape", `${where} is a single {x, y} point; a track is a list of ${NEEDS} points (a KJNodes coord_str goes to the coord_str input, with depths)`);
    }
    unknownKeys(t, TRACK_KEYS, where);
    if (!("points" in t)) throw new FormatError("track_shape", `${where}: a track object needs a 'points' list`);
    const easing = t.easing === undefined ? "linear" : t.easing;
    if (!EASINGS.includes(easing)) throw new FormatError("easing", `${where} has easing ${show(t.easing)}; the easings are ${EASINGS.join(", ")}`);
    if (t.name !== undefined && t.name !== null && typeof t.name !== "string") throw new FormatError("track_shape", `${where}: 'name' must be text, got ${show(t.name)}`);
    if (t.name) track.name = t.name;
    if (easing !== "linear") track.easing = easing;
    pts = t.points;
  }
  if (!Array.isArray(pts)) throw new FormatError("track_shape", `${where} must be a list of ${NEEDS} points, got ${show(pts)}`);
  // Editor: an empty track is kept (the library refuses it: every object needs a point).
  if (pts.length > LIMITS.MAX_TRACK_POINTS) throw new FormatError("too_many_points", `${where} has ${pts.length} points, above the ${LIMITS.MAX_TRACK_POINTS} allowed`);
  track.points = pts.map((p, i) => parsePoint(p, `${where} point ${i}`));
  let prev = -1;
  track.points.forEach((p, j) => {
    if (p.length < 4) return;
    if (prev >= 0 && p[3] <= track.points[prev][3]) {
      throw new FormatError("frame_order", `${where} point ${j} has frame ${p[3]}, not after frame ${track.points[prev][3]} of point ${prev}; keyframes must increase along the track`);
    }
    prev = j;
  });
  return track;
}

/**
 * Parse tracks JSON text (or an already parsed object): the versioned document or a bare list
 * of tracks; a track is a list of points or `{"points", "name", "easing"}`, a point
 * `[x, y, depth]`, `[x, y, depth, frame]` or `{"x", "y", "depth", "frame"}`.
 * Editor states: empty text gives no tracks; an empty track is kept.
 * @returns {{imageSize: number[]|null, tracks: {name?: string, easing?: string, points: number[][]}[]}}
 */
export function parseTracks(data, what = "tracks_json") {
  const obj = parseInput(data, what);
  if (obj === null || obj === undefined) return { imageSize: null, tracks: [] };
  let raw = obj;
  let imageSize = null;
  if (isObject(obj)) {
    unknownKeys(obj, DOC_KEYS, what);
    if (obj.format !== undefined && obj.format !== TRACKS_FORMAT) {
      throw new FormatError("format", `${what}: format is ${show(obj.format)}, expected "${TRACKS_FORMAT}"`);
    }
    if (obj.version !== undefined && !TRACKS_VERSIONS.includes(obj.version)) {
      throw new FormatError("version", `${what}: version ${show(obj.version)} is not supported (this editor reads versions ${TRACKS_VERSIONS.join(", ")}); update the LeviTor nodes`);
    }
    if (!("tracks" in obj)) throw new FormatError("tracks_shape", `${what}: missing the 'tracks' list`);
    imageSize = parseImageSize(obj.image_size, what);
    raw = obj.tracks;
  } else if (!Array.isArray(obj)) {
    throw new FormatError("document", `${what} must be a tracks object or a list of tracks, got ${show(obj)}`);
  }
  if (!Array.isArray(raw)) throw new FormatError("tracks_shape", `${what}: 'tracks' must be a list of tracks, got ${show(raw)}`);
  if (raw.length > LIMITS.MAX_TRACKS) throw new FormatError("too_many_tracks", `${what}: ${raw.length} tracks, above the ${LIMITS.MAX_TRACKS} a plan allows`);
  return { imageSize, tracks: raw.map((t, i) => parseTrack(t, `${what}: track ${i}`)) };
}

/** Whether any track has keyframes or an easing (then the text is version 2). */
export function hasTiming(tracks) {
  return tracks.some((t) => (t.easing && t.easing !== "linear") || t.points.some((p) => p.length > 3 && p[3] !== null && p[3] !== undefined));
}

/**
 * Versioned tracks JSON text. One point per line so the text stays editable by hand.
 * Coordinates keep 2 decimals, depths 4 significant digits; a keyed point is written
 * `[x, y, depth, frame]`, an easing other than linear as the track's "easing".
 */
export function tracksToJson({ imageSize = null, tracks }) {
  const version = hasTiming(tracks) ? TIMED_VERSION : FORMAT_VERSION;
  const lines = ["{", `  "format": "${TRACKS_FORMAT}",`, `  "version": ${version},`];
  if (imageSize) lines.push(`  "image_size": [${Math.round(imageSize[0])}, ${Math.round(imageSize[1])}],`);
  if (!tracks.length) {
    lines.push('  "tracks": []');
  } else {
    lines.push('  "tracks": [');
    tracks.forEach((t, i) => {
      const name = t.name ? `"name": ${JSON.stringify(t.name)}, ` : "";
      const easing = t.easing && t.easing !== "linear" ? `"easing": ${JSON.stringify(t.easing)}, ` : "";
      const pts = t.points.map((p) => {
        const keyed = p.length > 3 && Number.isInteger(p[3]) ? `, ${p[3]}` : "";
        return `[${round(p[0], 2)}, ${round(p[1], 2)}, ${significant(p[2], 4)}${keyed}]`;
      });
      const body = pts.length ? `\n      ${pts.join(",\n      ")}\n    ` : "";
      lines.push(`    {${name}${easing}"points": [${body}]}${i < tracks.length - 1 ? "," : ""}`);
    });
    lines.push("  ]");
  }
  lines.push("}");
  return lines.join("\n");
}

/**
 * The parsed tracks for an image of `imageSize` [width, height]: x and y scaled from the size
 * the text names (if any), as the library does; an image_size that is the image turned 90
 * degrees is a FormatError (the size was written [height, width]).
 */
export function fitTracks(doc, imageSize, what = "tracks_json") {
  const from = doc.imageSize;
  if (!from || !imageSize) return doc.tracks;
  const src = Math.log(from[0] / from[1]);
  const dst = Math.log(imageSize[0] / imageSize[1]);
  if (Math.abs(src - dst) > 0.02 && Math.abs(src + dst) <= 0.02) {
    throw new FormatError("image_size", `${what} image_size is [${from[0]}, ${from[1]}] but the image is ${imageSize[0]}x${imageSize[1]} (width x height): the axes look swapped; image_size is [width, height]`);
  }
  return rescaleTracks(doc.tracks, from, imageSize);
}

/** Scale x and y of every point from one image size to another; depths and frames are unchanged. */
export function rescaleTracks(tracks, fromSize, toSize) {
  if (!fromSize || !toSize || (fromSize[0] === toSize[0] && fromSize[1] === toSize[1])) return tracks;
  const sx = toSize[0] / fromSize[0];
  const sy = toSize[1] / fromSize[1];
  return tracks.map((t) => ({ ...t, points: t.points.map(([x, y, ...rest]) => [x * sx, y * sy, ...rest]) }));
}

// ---- SAM points ---------------------------------------------------------------------------

const PT_KEYS = ["x", "y", "label"];
const PT_DOC_KEYS = ["format", "version", "image_size", "points", "objects"];

function promptPoint(p, where) {
  let x;
  let y;
  let label;
  if (isObject(p)) {
    unknownKeys(p, PT_KEYS, where);
    if (!("x" in p) || !("y" in p)) throw new FormatError("point_shape", `${where}: a point needs 'x' and 'y', got ${show(p)}`);
    ({ x, y } = p);
    label = p.label === undefined ? 1 : p.label;
  } else if (Array.isArray(p) && (p.length === 2 || p.length === 3)) {
    [x, y] = p;
    label = p.length === 3 ? p[2] : 1;
  } else {
    throw new FormatError("point_shape", `${where}: a point must be {'x', 'y', 'label'} or [x, y, label], got ${show(p)}`);
  }
  x = inRange(number(x, `${where} x`), LIMITS.TRACK_COORD, where, "coordinate");
  y = inRange(number(y, `${where} y`), LIMITS.TRACK_COORD, where, "coordinate");
  if (label !== 0 && label !== 1) throw new FormatError("label", `${where}: label must be 1 (positive) or 0 (negative), got ${show(label)}`);
  return { x, y, label };
}

function promptList(list, where) {
  if (!Array.isArray(list)) throw new FormatError("point_list", `${where}: the points must be a list, got ${show(list)}`);
  if (list.length > LIMITS.MAX_PROMPT_POINTS) throw new FormatError("too_many_points", `${where} has ${list.length} points, above the ${LIMITS.MAX_PROMPT_POINTS} allowed`);
  return list.map((p, i) => promptPoint(p, `${where} point ${i}`));
}

/**
 * Parse SAM points JSON: the versioned dict with `points` (one object) or `objects`
 * (`[{"points": [...]}, ...]`, one mask per object), or a KJNodes coord_str taken as positive
 * points (a list of lists is one object per list); a point is `{"x", "y", "label"}`, `[x, y]`
 * or `[x, y, label]`. Editor states (the library refuses them): empty text and no points give no
 * objects; an object may have no positive point yet.
 * @returns {{imageSize: number[]|null, objects: {points: {x: number, y: number, label: number}[]}[]}}
 */
export function parsePoints(data, what = "points_json") {
  const obj = parseInput(data, what);
  let imageSize = null;
  let objects;
  if (obj === null || obj === undefined) {
    objects = [];
  } else if (isObject(obj)) {
    unknownKeys(obj, PT_DOC_KEYS, what);
    if (obj.format !== undefined && obj.format !== POINTS_FORMAT) {
      throw new FormatError("format", `${what}: format is ${show(obj.format)}, expected "${POINTS_FORMAT}"`);
    }
    if (obj.version !== undefined && obj.version !== FORMAT_VERSION) {
      throw new FormatError("version", `${what}: version ${show(obj.version)} is not supported (expected ${FORMAT_VERSION})`);
    }
    imageSize = parseImageSize(obj.image_size, what);
    if (obj.objects !== undefined) {
      if (!Array.isArray(obj.objects)) throw new FormatError("objects_shape", `${what}: 'objects' must be a list, got ${show(obj.objects)}`);
      objects = obj.objects.map((o, k) => {
        if (isObject(o)) unknownKeys(o, ["points"], `${what} object ${k}`);
        return { points: promptList(isObject(o) ? o.points : o, `${what} object ${k}`) };
      });
    } else {
      const pts = promptList(obj.points === undefined ? [] : obj.points, what);
      objects = pts.length ? [{ points: pts }] : [];
    }
  } else if (Array.isArray(obj)) {
    if (obj.length && Array.isArray(obj[0]) && obj[0].length && (Array.isArray(obj[0][0]) || isObject(obj[0][0]))) {
      objects = obj.map((o, k) => ({ points: promptList(o, `${what} object ${k}`) }));
    } else {
      const pts = promptList(obj, what);
      objects = pts.length ? [{ points: pts }] : [];
    }
  } else {
    throw new FormatError("document", `${what} must be levitor-points JSON or a coord_str list, got ${show(obj)}`);
  }
  if (objects.reduce((n, o) => n + o.points.length, 0) > LIMITS.MAX_PROMPT_POINTS) {
    throw new FormatError("too_many_points", `${what} has more than ${LIMITS.MAX_PROMPT_POINTS} points in all`);
  }
  return { imageSize, objects };
}

/**
 * Versioned SAM points JSON text: `points` for one object, `objects` for several.
 * Objects left empty after the last one with points are not written.
 */
export function pointsToJson({ imageSize = null, objects }) {
  let last = objects.length - 1;
  while (last >= 0 && !objects[last].points.length) last--;
  const kept = objects.slice(0, last + 1);
  const fmtPts = (pts, indent) => (pts.length
    ? `[\n${pts.map((p) => `${indent}  {"x": ${round(p.x, 2)}, "y": ${round(p.y, 2)}, "label": ${p.label}}`).join(",\n")}\n${indent}]`
    : "[]");
  const head = `{"format": "${POINTS_FORMAT}", "version": ${FORMAT_VERSION}`;
  const size = imageSize ? `, "image_size": [${Math.round(imageSize[0])}, ${Math.round(imageSize[1])}]` : "";
  if (kept.length <= 1) return `${head}${size},\n "points": ${fmtPts(kept.length ? kept[0].points : [], " ")}}`;
  const objs = kept.map((o) => `  {"points": ${fmtPts(o.points, "  ")}}`);
  return `${head}${size},\n "objects": [\n${objs.join(",\n")}\n ]}`;
}
