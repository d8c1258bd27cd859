// The versioned tracks JSON ("levitor-tracks", version 1) and the SAM points JSON
// ("levitor-points", version 1), read and written exactly as docs/architecture.md defines them.

export const TRACKS_FORMAT = "levitor-tracks";
export const POINTS_FORMAT = "levitor-points";
export const FORMAT_VERSION = 1;

function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

function round(v, digits) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** `v` with `digits` significant digits (depths of near objects are small numbers). */
function significant(v, digits) {
  return v === 0 ? 0 : Number(v.toPrecision(digits));
}

function parseImageSize(v, where) {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length !== 2 || !v.every((n) => isNum(n) && n > 0)) {
    throw new Error(`${where}: "image_size" must be [width, height] with positive numbers, got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1]];
}

function parseInput(data, what) {
  if (typeof data !== "string") return data;
  const text = data.trim();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} is not valid JSON (${err.message})`);
  }
}

function parsePoint(p, where, defaultDepth) {
  if (Array.isArray(p)) {
    if (p.length === 2 && isNum(p[0]) && isNum(p[1])) return [p[0], p[1], defaultDepth];
    if (p.length === 3 && p.every(isNum)) {
      if (!(p[2] > 0 && p[2] <= 1)) throw new Error(`${where}: depth must be in (0, 1], got ${p[2]}`);
      return [p[0], p[1], p[2]];
    }
  } else if (p && typeof p === "object" && isNum(p.x) && isNum(p.y)) {
    // KJNodes coord_str point.
    return [p.x, p.y, defaultDepth];
  }
  throw new Error(`${where}: a point must be [x, y, depth] with numbers, got ${JSON.stringify(p)}`);
}

function parseTrackPoints(list, where, defaultDepth) {
  if (!Array.isArray(list)) throw new Error(`${where}: "points" must be a list of [x, y, depth]`);
  return list.map((p, i) => parsePoint(p, `${where} point ${i}`, defaultDepth));
}

/**
 * Parse tracks JSON text (or an already parsed object).
 * Accepts the versioned dict, a bare list of point lists, or a KJNodes coord_str
 * (points get `defaultDepth`). Empty text gives no tracks.
 * @returns {{imageSize: number[]|null, tracks: {name?: string, points: number[][]}[]}}
 */
export function parseTracks(data, { defaultDepth = 1.0 } = {}) {
  const obj = parseInput(data, "tracks_json");
  if (obj === null || obj === undefined) return { imageSize: null, tracks: [] };
  if (Array.isArray(obj)) {
    if (obj.length && obj.every((p) => p && !Array.isArray(p) && typeof p === "object")) {
      // One KJNodes spline: a flat list of {x, y}.
      return { imageSize: null, tracks: [{ points: parseTrackPoints(obj, "tracks_json track 0", defaultDepth) }] };
    }
    return {
      imageSize: null,
      tracks: obj.map((t, i) => ({ points: parseTrackPoints(t, `tracks_json track ${i}`, defaultDepth) })),
    };
  }
  if (typeof obj !== "object") throw new Error(`tracks_json must be an object or a list, got ${typeof obj}`);
  if (obj.format !== undefined && obj.format !== TRACKS_FORMAT) {
    throw new Error(`tracks_json: "format" must be "${TRACKS_FORMAT}", got ${JSON.stringify(obj.format)}`);
  }
  if (obj.version !== undefined && obj.version !== FORMAT_VERSION) {
    throw new Error(`tracks_json: unsupported "version" ${JSON.stringify(obj.version)} (this editor reads version ${FORMAT_VERSION})`);
  }
  if (!Array.isArray(obj.tracks)) throw new Error('tracks_json: "tracks" must be a list');
  const imageSize = parseImageSize(obj.image_size, "tracks_json");
  const tracks = obj.tracks.map((t, i) => {
    const where = `tracks_json track ${i}`;
    const pts = Array.isArray(t) ? t : t && t.points;
    const track = { points: parseTrackPoints(pts, where, defaultDepth) };
    if (t && !Array.isArray(t) && typeof t.name === "string" && t.name) track.name = t.name;
    return track;
  });
  return { imageSize, tracks };
}

/**
 * Versioned tracks JSON text. One point per line so the text stays editable by hand.
 * Coordinates keep 2 decimals, depths 4 significant digits.
 */
export function tracksToJson({ imageSize = null, tracks }) {
  const lines = ["{", `  "format": "${TRACKS_FORMAT}",`, `  "version": ${FORMAT_VERSION},`];
  if (imageSize) lines.push(`  "image_size": [${Math.round(imageSize[0])}, ${Math.round(imageSize[1])}],`);
  if (!tracks.length) {
    lines.push('  "tracks": []');
  } else {
    lines.push('  "tracks": [');
    tracks.forEach((t, i) => {
      const name = t.name ? `"name": ${JSON.stringify(t.name)}, ` : "";
      const pts = t.points.map((p) => `[${round(p[0], 2)}, ${round(p[1], 2)}, ${significant(p[2], 4)}]`);
      const body = pts.length ? `\n      ${pts.join(",\n      ")}\n    ` : "";
      lines.push(`    {${name}"points": [${body}]}${i < tracks.length - 1 ? "," : ""}`);
    });
    lines.push("  ]");
  }
  lines.push("}");
  return lines.join("\n");
}

/** Scale x and y of every point from one image size to another; depths are unchanged. */
export function rescaleTracks(tracks, fromSize, toSize) {
  if (!fromSize || !toSize || (fromSize[0] === toSize[0] && fromSize[1] === toSize[1])) return tracks;
  const sx = toSize[0] / fromSize[0];
  const sy = toSize[1] / fromSize[1];
  return tracks.map((t) => ({ ...t, points: t.points.map(([x, y, d]) => [x * sx, y * sy, d]) }));
}

/**
 * Parse SAM points JSON: the versioned dict with `points` (one object) or `objects`
 * (`[{"points": [...]}, ...]`, one mask per object), or a KJNodes coord_str taken as positive
 * points (a list of lists is one object per list).
 * @returns {{imageSize: number[]|null, objects: {points: {x: number, y: number, label: number}[]}[]}}
 */
export function parsePoints(data) {
  const obj = parseInput(data, "points_json");
  if (obj === null || obj === undefined) return { imageSize: null, objects: [] };
  const asPoint = (p, where) => {
    if (p && typeof p === "object" && !Array.isArray(p) && isNum(p.x) && isNum(p.y)) {
      const label = p.label === undefined ? 1 : p.label;
      if (label !== 0 && label !== 1) throw new Error(`${where}: "label" must be 1 (positive) or 0 (negative), got ${JSON.stringify(p.label)}`);
      return { x: p.x, y: p.y, label };
    }
    throw new Error(`${where}: expected {"x": .., "y": .., "label": 0|1}, got ${JSON.stringify(p)}`);
  };
  const asList = (list, where) => {
    if (!Array.isArray(list)) throw new Error(`${where}: "points" must be a list`);
    return list.map((p, i) => asPoint(p, `${where} point ${i}`));
  };
  if (Array.isArray(obj)) {
    if (obj.length && obj.every(Array.isArray)) {
      return { imageSize: null, objects: obj.map((o, k) => ({ points: asList(o, `points_json object ${k}`).map((p) => ({ ...p, label: 1 })) })) };
    }
    const pts = asList(obj, "points_json").map((p) => ({ ...p, label: 1 }));
    return { imageSize: null, objects: pts.length ? [{ points: pts }] : [] };
  }
  if (typeof obj !== "object") throw new Error(`points_json must be an object or a list, got ${typeof obj}`);
  if (obj.format !== undefined && obj.format !== POINTS_FORMAT) {
    throw new Error(`points_json: "format" must be "${POINTS_FORMAT}", got ${JSON.stringify(obj.format)}`);
  }
  if (obj.version !== undefined && obj.version !== FORMAT_VERSION) {
    throw new Error(`points_json: unsupported "version" ${JSON.stringify(obj.version)}`);
  }
  const imageSize = parseImageSize(obj.image_size, "points_json");
  if (obj.objects !== undefined) {
    if (!Array.isArray(obj.objects)) throw new Error('points_json: "objects" must be a list');
    return {
      imageSize,
      objects: obj.objects.map((o, k) => ({ points: asList(Array.isArray(o) ? o : o && o.points, `points_json object ${k}`) })),
    };
  }
  const pts = asList(obj.points === undefined ? [] : obj.points, "points_json");
  return { imageSize, objects: pts.length ? [{ points: pts }] : [] };
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
